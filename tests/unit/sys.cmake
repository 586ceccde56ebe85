fw_unit_test(sys_image_format_test SOURCES sys_image_format_test.cc LIBS fw_sys)
fw_unit_test(sys_init_kind_test SOURCES sys_init_kind_test.cc LIBS fw_sys)
fw_unit_test(sys_hash_copy_test SOURCES sys_hash_copy_test.cc LIBS fw_sys)
fw_unit_test(sys_monitor_lock_test SOURCES sys_monitor_lock_test.cc LIBS fw_sys)
fw_unit_test(sys_cgroup_test SOURCES sys_cgroup_test.cc LIBS fw_sys)
fw_unit_test(sys_cgroup_placement_test SOURCES sys_cgroup_placement_test.cc LIBS fw_sys)
fw_unit_test(sys_privileges_test SOURCES sys_privileges_test.cc LIBS fw_sys)
fw_unit_test(sys_child_test SOURCES sys_child_test.cc LIBS fw_sys)
fw_unit_test(sys_atomic_output_test SOURCES sys_atomic_output_test.cc LIBS fw_sys)
fw_unit_test(sys_monitor_wire_test SOURCES sys_monitor_wire_test.cc LIBS fw_sys)
fw_unit_test(sys_netns_pin_test SOURCES sys_netns_pin_test.cc LIBS fw_sys)

# Root tests: real mounts and loop devices. Each skips when not root, unless
# FW_TESTS_MUST_RUN=1 turns the skip into a failure.
add_executable(sys_mount_root_test sys_mount_root_test.cc)
target_link_libraries(sys_mount_root_test PRIVATE fw_sys GTest::gtest GTest::gtest_main
  fw_warnings)
gtest_discover_tests(sys_mount_root_test PROPERTIES LABELS root DISCOVERY_TIMEOUT 60
  TEST_PREFIX "sys_mount_root_test.")

# Root: capabilities and a seccomp filter applied in a forked child.
add_executable(sys_confinement_test sys_confinement_test.cc)
target_link_libraries(sys_confinement_test PRIVATE fw_sys GTest::gtest GTest::gtest_main
  fw_warnings)
gtest_discover_tests(sys_confinement_test PROPERTIES LABELS root DISCOVERY_TIMEOUT 60
  TEST_PREFIX "sys_confinement_test.")

# The AppArmor template compiled by apparmor_parser -Q -K (no kernel support needed).
fw_unit_test(apparmor_profile_test SOURCES apparmor_profile_test.cc LIBS fw_sys)
target_compile_definitions(apparmor_profile_test PRIVATE FW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# Root: instance cgroups on the host's real hierarchies (limits, OOM, device policy).
add_executable(sys_cgroup_root_test sys_cgroup_root_test.cc)
target_link_libraries(sys_cgroup_root_test PRIVATE fw_sys GTest::gtest GTest::gtest_main
  fw_warnings)
gtest_discover_tests(sys_cgroup_root_test PROPERTIES LABELS root DISCOVERY_TIMEOUT 60
  TEST_PREFIX "sys_cgroup_root_test.")
fw_unit_test(sys_exec_control_test SOURCES sys_exec_control_test.cc LIBS fw_sys)
fw_unit_test(sys_console_log_test SOURCES sys_console_log_test.cc LIBS fw_sys)
