#pragma once
// Filesystem image detection from superblock magic only (never from the file name), for the
// formats a firmware image may have: ext2/ext3/ext4, squashfs (v4) and erofs.

#include <cstdint>
#include <string>

#include "firmwared/base/result.h"

namespace fw::sys {

enum class ImageFormat { kExt2, kExt3, kExt4, kSquashfs, kErofs };

// "ext2", "ext3", "ext4", "squashfs", "erofs": also the filesystem type for mount(2).
const char* format_name(ImageFormat format);

struct ImageInfo {
  ImageFormat format = ImageFormat::kExt2;
  // Canonical 8-4-4-4-12 lowercase; "" when the filesystem has none (squashfs) or it is nil.
  std::string uuid;
  // The size the superblock claims the filesystem spans, in bytes.
  uint64_t fs_bytes = 0;
};

// Probes the regular file open on `fd` (read with pread: the file offset is left alone, so
// the same fd can then be copied). `name` is how messages name the file; when empty, the
// path the kernel reports for the fd is used. Errors (EINVAL unless noted), naming the file:
//   "'x' is empty"; "'x' is a <directory|fifo|socket|...>, not an image file";
//   "'x' is not a known filesystem image (ext2/3/4, squashfs, erofs)" (also for an ext
//   external journal, an unsupported squashfs version or an inconsistent superblock);
//   "'x' is truncated: its superblock describes N bytes but the file has M";
//   EIO and friends from fstat/pread.
Result<ImageInfo> probe_image(int fd, const std::string& name = {});

// Opens `path` (following symlinks, O_NONBLOCK so a fifo or device never blocks) and probes
// it. Adds the open errors: ENOENT, ELOOP (symlink loop), EACCES, ...; a socket is EINVAL.
Result<ImageInfo> probe_image_path(const std::string& path);

}  // namespace fw::sys
