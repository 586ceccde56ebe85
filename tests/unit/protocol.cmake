# Protocol codec and command table (firmwared/protocol), schemas/*.json and their samples.
fw_unit_test(protocol_test SOURCES protocol_test.cc LIBS fw_protocol)

# Prints a sample of every message, built by the real codec; validate_schemas.py checks
# them against schemas/ (and that hand-written invalid messages are rejected).
add_executable(protocol_samples protocol_samples.cc)
target_link_libraries(protocol_samples PRIVATE fw_protocol fw_warnings)
add_test(NAME protocol_schemas
  COMMAND sh -c "$<TARGET_FILE:protocol_samples> | /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/validate_schemas.py ${PROJECT_SOURCE_DIR}/schemas")
set_tests_properties(protocol_schemas PROPERTIES LABELS unit)
# fwctl's rendering (fwctl/format.cc) against the typed replies.
fw_unit_test(fwctl_format_test SOURCES fwctl_format_test.cc ${PROJECT_SOURCE_DIR}/fwctl/format.cc
             LIBS fw_protocol fw_base)
