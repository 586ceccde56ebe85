#pragma once
// libarchive, mapped only when `fwctl cp` needs it. Every other verb starts without it:
// libarchive pulls in a dozen libraries (ICU, libxml2, the compressors), and mapping and
// relocating them was most of a short fwctl's run time (~5 ms of ~7 ms), paid by every
// script that calls fwctl in a loop and every CI job that starts a fleet at once.
//
// The table's types are the header's own (decltype), so a call through it is checked by the
// compiler exactly as a direct call would be.

#include <archive.h>
#include <archive_entry.h>

#include <string>

namespace fwctl {

#define FWCTL_LIBARCHIVE_FUNCTIONS(X) \
  X(error_string)                     \
  X(read_new)                         \
  X(read_free)                        \
  X(read_support_format_tar)          \
  X(read_open_fd)                     \
  X(read_next_header)                 \
  X(read_next_header2)                \
  X(read_data)                        \
  X(read_data_block)                  \
  X(read_disk_new)                    \
  X(read_disk_open)                   \
  X(read_disk_descend)                \
  X(read_disk_set_symlink_physical)   \
  X(write_new)                        \
  X(write_free)                       \
  X(write_set_format_gnutar)          \
  X(write_set_bytes_in_last_block)    \
  X(write_open_fd)                    \
  X(write_header)                     \
  X(write_data)                       \
  X(write_data_block)                 \
  X(write_finish_entry)               \
  X(write_close)                      \
  X(write_disk_new)                   \
  X(write_disk_set_options)           \
  X(entry_new)                        \
  X(entry_free)                       \
  X(entry_pathname)                   \
  X(entry_set_pathname)               \
  X(entry_hardlink)                   \
  X(entry_set_hardlink)               \
  X(entry_filetype)                   \
  X(entry_set_uname)                  \
  X(entry_set_gname)

// libarchive's functions that fwctl cp calls: `la.read_new()` is `archive_read_new()`.
struct Libarchive {
#define FWCTL_LIBARCHIVE_MEMBER(name) decltype(&::archive_##name) name = nullptr;
  FWCTL_LIBARCHIVE_FUNCTIONS(FWCTL_LIBARCHIVE_MEMBER)
#undef FWCTL_LIBARCHIVE_MEMBER
};

// Maps libarchive (its soname, found when fwctl was built) on the first call and returns
// its table; later calls return the same one. On failure, nullptr and *error says what is
// missing (the library, or one of its functions) in a sentence for the user.
const Libarchive* load_libarchive(std::string* error);

}  // namespace fwctl
