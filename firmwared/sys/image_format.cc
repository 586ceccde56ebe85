#include "firmwared/sys/image_format.h"

#include <endian.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "firmwared/base/fd.h"
#include "firmwared/base/strings.h"

namespace fw::sys {
namespace {

// Everything we look at lies in the first 2 KiB: the squashfs superblock at 0 (96 bytes),
// the ext superblock at 1024 (1024 bytes) and the erofs superblock at 1024 (128 bytes).
constexpr size_t kHeaderBytes = 2048;
using Header = std::array<unsigned char, kHeaderBytes>;

uint16_t le16(const Header& h, size_t off) {
  uint16_t v;
  std::memcpy(&v, &h[off], sizeof v);
  return le16toh(v);
}
uint32_t le32(const Header& h, size_t off) {
  uint32_t v;
  std::memcpy(&v, &h[off], sizeof v);
  return le32toh(v);
}
uint64_t le64(const Header& h, size_t off) {
  uint64_t v;
  std::memcpy(&v, &h[off], sizeof v);
  return le64toh(v);
}

// 16 raw bytes -> "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; "" for the nil UUID, which blkid
// does not report either.
std::string format_uuid(const Header& h, size_t off) {
  bool nil = true;
  for (size_t i = 0; i < 16; ++i) nil = nil && h[off + i] == 0;
  if (nil) return "";
  std::string out;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += to_hex(&h[off + i], 1);
  }
  return out;
}

std::string quoted(const std::string& name) { return "'" + name + "'"; }

Error unknown(const std::string& name, const std::string& why = {}) {
  return make_error(EINVAL, quoted(name) +
                                " is not a known filesystem image (ext2/3/4, squashfs, erofs)" +
                                (why.empty() ? "" : ": " + why));
}

const char* type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "directory";
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  if (S_ISLNK(mode)) return "symbolic link";
  return "special file";
}

Error not_regular(const std::string& name, mode_t mode) {
  return make_error(EINVAL, quoted(name) + " is a " + type_name(mode) + ", not an image file");
}

std::string fd_name(int fd) {
  std::array<char, 4096> buf{};
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : "fd " + std::to_string(fd);
}

// Reads up to kHeaderBytes from offset 0; the rest of `h` stays zero.
Status read_header(int fd, const std::string& name, Header& h) {
  size_t done = 0;
  while (done < h.size()) {
    ssize_t n = ::pread(fd, h.data() + done, h.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading the superblock of " + quoted(name));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return {};
}

// ext2/3/4 (see e2fsprogs lib/ext2fs/ext2_fs.h): superblock at 1024, s_magic 0xEF53 at 56.
// Like blkid, a filesystem using any feature ext3 does not know is ext4, else a journal
// makes it ext3.
constexpr size_t kExtSb = 1024;
constexpr uint32_t kExtCompatHasJournal = 0x4;
constexpr uint32_t kExtIncompatJournalDev = 0x8;
constexpr uint32_t kExtIncompat64Bit = 0x80;
constexpr uint32_t kExt3Incompat = 0x2 /*filetype*/ | 0x4 /*recover*/ | 0x10 /*meta_bg*/;
constexpr uint32_t kExt3RoCompat = 0x1 /*sparse_super*/ | 0x2 /*large_file*/ | 0x4 /*btree*/;

bool is_ext(const Header& h) { return le16(h, kExtSb + 56) == 0xEF53; }

Result<ImageInfo> parse_ext(const Header& h, const std::string& name) {
  uint32_t log_block = le32(h, kExtSb + 24);
  uint32_t rev = le32(h, kExtSb + 76);
  // Feature words exist from revision 1 (EXT2_DYNAMIC_REV) on; revision 0 is plain ext2.
  uint32_t compat = rev >= 1 ? le32(h, kExtSb + 92) : 0;
  uint32_t incompat = rev >= 1 ? le32(h, kExtSb + 96) : 0;
  uint32_t ro_compat = rev >= 1 ? le32(h, kExtSb + 100) : 0;
  if (incompat & kExtIncompatJournalDev) return unknown(name, "it is an ext external journal");
  uint64_t blocks = le32(h, kExtSb + 4);
  if (incompat & kExtIncompat64Bit) blocks |= uint64_t{le32(h, kExtSb + 0x150)} << 32;
  // Block sizes are 1 KiB << s_log_block_size, at most 64 KiB.
  if (log_block > 6 || blocks == 0) return unknown(name, "its ext superblock is inconsistent");

  ImageInfo info;
  if ((incompat & ~kExt3Incompat) != 0 || (ro_compat & ~kExt3RoCompat) != 0) {
    info.format = ImageFormat::kExt4;
  } else {
    info.format = (compat & kExtCompatHasJournal) ? ImageFormat::kExt3 : ImageFormat::kExt2;
  }
  info.uuid = format_uuid(h, kExtSb + 104);
  info.fs_bytes = blocks << (10 + log_block);
  return info;
}

// squashfs 4 (see fs/squashfs/squashfs_fs.h): "hsqs" at 0, s_major at 28, bytes_used at 40.
// Versions before 4 (also big-endian "sqsh") are not supported by Linux any more.
bool is_squashfs(const Header& h) {
  return std::memcmp(h.data(), "hsqs", 4) == 0 || std::memcmp(h.data(), "sqsh", 4) == 0;
}

Result<ImageInfo> parse_squashfs(const Header& h, const std::string& name) {
  if (std::memcmp(h.data(), "sqsh", 4) == 0) {
    return unknown(name, "big-endian squashfs (version < 4) is not supported by Linux");
  }
  uint16_t major = le16(h, 28);
  if (major != 4) {
    return unknown(
        name, "squashfs version " + std::to_string(major) + " is not supported by Linux (only 4)");
  }
  uint64_t bytes_used = le64(h, 40);
  if (bytes_used < 96) return unknown(name, "its squashfs superblock is inconsistent");
  return ImageInfo{ImageFormat::kSquashfs, "", bytes_used};
}

// erofs (see fs/erofs/erofs_fs.h): superblock at 1024, magic 0xE0F5E1E2, blkszbits at 12,
// blocks_lo at 36 (bits 32..47 in rb.blocks_hi at 14 with the 48BIT feature), uuid at 48,
// feature_incompat at 80. Checked before ext: its uuid covers the ext magic's offset.
constexpr size_t kErofsSb = 1024;
constexpr uint32_t kErofsIncompat48Bit = 0x80;

bool is_erofs(const Header& h) { return le32(h, kErofsSb) == 0xE0F5E1E2; }

Result<ImageInfo> parse_erofs(const Header& h, const std::string& name) {
  unsigned bits = h[kErofsSb + 12];
  uint64_t blocks = le32(h, kErofsSb + 36);
  if (le32(h, kErofsSb + 80) & kErofsIncompat48Bit) {
    blocks |= uint64_t{le16(h, kErofsSb + 14)} << 32;
  }
  // Same bounds as the kernel's own check of a file-backed erofs image.
  if (bits < 9 || bits > 30 || blocks == 0 || blocks > (UINT64_MAX >> bits)) {
    return unknown(name, "its erofs superblock is inconsistent");
  }
  return ImageInfo{ImageFormat::kErofs, format_uuid(h, kErofsSb + 48), blocks << bits};
}

}  // namespace

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kExt2:
      return "ext2";
    case ImageFormat::kExt3:
      return "ext3";
    case ImageFormat::kExt4:
      return "ext4";
    case ImageFormat::kSquashfs:
      return "squashfs";
    case ImageFormat::kErofs:
      return "erofs";
  }
  return "unknown";
}

Result<ImageInfo> probe_image(int fd, const std::string& name_or_empty) {
  const std::string name = name_or_empty.empty() ? fd_name(fd) : name_or_empty;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("inspecting " + quoted(name));
  if (!S_ISREG(st.st_mode)) return not_regular(name, st.st_mode);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size == 0) return make_error(EINVAL, quoted(name) + " is empty");

  Header h{};
  FW_TRY(read_header(fd, name, h));
  // Each format's fields must lie inside the file before they mean anything.
  Result<ImageInfo> info = unknown(name);
  uint64_t header_end = 0;
  if (size >= 4 && is_squashfs(h)) {
    header_end = 96;
    info = parse_squashfs(h, name);
  } else if (size >= kErofsSb + 4 && is_erofs(h)) {
    header_end = kErofsSb + 128;
    info = parse_erofs(h, name);
  } else if (size >= kExtSb + 58 && is_ext(h)) {
    header_end = kExtSb + 0x154;
    info = parse_ext(h, name);
  }
  if (header_end != 0 && size < header_end) {
    return make_error(EINVAL, quoted(name) + " is truncated: the file has " + std::to_string(size) +
                                  " bytes, not even a whole superblock");
  }
  if (info.ok() && info->fs_bytes > size) {
    return make_error(EINVAL, quoted(name) + " is truncated: its superblock describes " +
                                  std::to_string(info->fs_bytes) + " bytes but the file has " +
                                  std::to_string(size));
  }
  return info;
}

Result<ImageInfo> probe_image_path(const std::string& path) {
  // O_NONBLOCK: opening a fifo for reading would otherwise wait for a writer (fifo(7));
  // O_NOCTTY: a terminal must not become our controlling tty. probe_image then rejects
  // anything that is not a regular file from fstat, before reading.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) {
    int err = errno;
    struct stat st {};
    // open(2) of a unix socket fails with ENXIO; say what the file is instead.
    if (err == ENXIO && ::stat(path.c_str(), &st) == 0) return not_regular(path, st.st_mode);
    return errno_error(err, "opening image " + quoted(path));
  }
  return probe_image(fd.get(), path);
}

}  // namespace fw::sys
