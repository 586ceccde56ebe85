#include "fwctl/libarchive.h"

#include <dlfcn.h>

#include <mutex>

#ifndef FWCTL_LIBARCHIVE_SONAME
#define FWCTL_LIBARCHIVE_SONAME "libarchive.so.13"
#endif

namespace fwctl {

namespace {

// Fills `la` from `handle`; the name of the first function missing, or "".
std::string resolve(void* handle, Libarchive& la) {
#define FWCTL_LIBARCHIVE_RESOLVE(name)                                              \
  la.name = reinterpret_cast<decltype(la.name)>(::dlsym(handle, "archive_" #name)); \
  if (la.name == nullptr) return "archive_" #name;
  FWCTL_LIBARCHIVE_FUNCTIONS(FWCTL_LIBARCHIVE_RESOLVE)
#undef FWCTL_LIBARCHIVE_RESOLVE
  return "";
}

}  // namespace

const Libarchive* load_libarchive(std::string* error) {
  static std::once_flag once;
  static Libarchive table;
  static const Libarchive* loaded = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    // Never unloaded: the table lives as long as the process.
    void* handle = ::dlopen(FWCTL_LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      failure = std::string("cannot load libarchive (" FWCTL_LIBARCHIVE_SONAME
                            "), which fwctl cp needs: ") +
                (why != nullptr ? why : "unknown error");
      return;
    }
    if (const std::string missing = resolve(handle, table); !missing.empty()) {
      failure = std::string(FWCTL_LIBARCHIVE_SONAME " has no ") + missing +
                ", which fwctl cp needs (a libarchive older than the one fwctl was built with?)";
      return;
    }
    loaded = &table;
  });
  if (loaded == nullptr && error != nullptr) *error = failure;
  return loaded;
}

}  // namespace fwctl
