fw_unit_test(sys_image_format_test SOURCES sys_image_format_test.cc LIBS fw_sys)
fw_unit_test(sys_hash_copy_test SOURCES sys_hash_copy_test.cc LIBS fw_sys)

# Root tests: real mounts and loop devices. Each skips when not root, unless
# FW_TESTS_MUST_RUN=1 turns the skip into a failure.
add_executable(sys_mount_root_test sys_mount_root_test.cc)
target_link_libraries(sys_mount_root_test PRIVATE fw_sys GTest::gtest GTest::gtest_main
  fw_warnings)
gtest_discover_tests(sys_mount_root_test PROPERTIES LABELS root DISCOVERY_TIMEOUT 60
  TEST_PREFIX "sys_mount_root_test.")
