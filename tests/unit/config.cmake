fw_unit_test(config_test SOURCES config_test.cc LIBS fw_config)
# The tests compute the expected shipped-file defaults from the same locations.
target_compile_definitions(config_test PRIVATE
  FW_SOURCE_DIR="${PROJECT_SOURCE_DIR}" FW_BINARY_DIR="${PROJECT_BINARY_DIR}"
  FW_INSTALL_FULL_SBINDIR="${CMAKE_INSTALL_FULL_SBINDIR}"
  FW_INSTALL_FULL_DATADIR="${CMAKE_INSTALL_FULL_DATADIR}"
  FW_INSTALL_FULL_LIBEXECDIR="${CMAKE_INSTALL_FULL_LIBEXECDIR}")
