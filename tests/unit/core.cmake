fw_unit_test(core_names_test SOURCES core_names_test.cc LIBS fw_core)
fw_unit_test(core_identifiers_test SOURCES core_identifiers_test.cc LIBS fw_core)
fw_unit_test(core_properties_test SOURCES core_properties_test.cc LIBS fw_core)
fw_unit_test(core_firmwares_test SOURCES core_firmwares_test.cc LIBS fw_core)
