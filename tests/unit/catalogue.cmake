fw_unit_test(catalogue_test SOURCES catalogue_test.cc LIBS fw_catalogue)
