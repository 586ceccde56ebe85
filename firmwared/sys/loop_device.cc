#include "firmwared/sys/loop_device.h"

#include "firmwared/base/paths.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace fw::sys {
namespace {

// LOOP_CTL_GET_FREE only names a device that is free *now*; another process (losetup,
// udisks, a parallel PREPARE) may bind it before we do, and we then get EBUSY. A few
// retries make that race invisible without looping forever on a broken system.
constexpr int kAttempts = 16;

// Binds `backing` to the loop device open on `loop`, autoclear, read-only if asked.
Status configure(int loop, int backing, const std::string& image, bool read_only) {
  loop_config cfg{};
  cfg.fd = static_cast<__u32>(backing);
  cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
  // lo_file_name is informational (losetup -l shows it); truncated to LO_NAME_SIZE - 1.
  std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), image.c_str(), LO_NAME_SIZE - 1);
  // LOOP_CONFIGURE (Linux 5.8) binds and configures in one step, so no one ever sees the
  // device bound but not yet autoclear.
  if (::ioctl(loop, LOOP_CONFIGURE, &cfg) == 0) return {};
  // Older kernels answer an unknown loop ioctl with EINVAL (lo_ioctl's default case), or
  // ENOTTY through some compat paths: fall back to the two-step setup.
  if (errno != EINVAL && errno != ENOTTY) return errno_error("LOOP_CONFIGURE");
  if (::ioctl(loop, LOOP_SET_FD, backing) != 0) return errno_error("LOOP_SET_FD");
  // LOOP_SET_STATUS64 cannot set LO_FLAGS_READ_ONLY: the device is read-only because the
  // backing fd is (loop_set_fd() checks FMODE_WRITE), so only ask for autoclear here.
  loop_info64 info = cfg.info;
  info.lo_flags = LO_FLAGS_AUTOCLEAR;
  if (::ioctl(loop, LOOP_SET_STATUS64, &info) != 0) {
    Error err = errno_error("LOOP_SET_STATUS64");
    ::ioctl(loop, LOOP_CLR_FD, 0);
    return err;
  }
  return {};
}

// "loop12" -> 12, anything else (loop-control is not in /sys/block, but be strict) -> -1.
long loop_number(const char* name) {
  if (std::strncmp(name, "loop", 4) != 0 || name[4] == '\0') return -1;
  char* end = nullptr;
  long n = std::strtol(name + 4, &end, 10);
  return *end == '\0' && n >= 0 ? n : -1;
}

}  // namespace

Result<LoopDevice> LoopDevice::attach(const std::string& image, bool read_only) {
  const std::string what = "attaching a loop device to '" + image + "'";
  Fd backing(::open(image.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!backing.valid()) return errno_error(what + ": opening the image");
  // loop_validate_file() takes only regular files and block devices; its EINVAL would be
  // indistinguishable from "LOOP_CONFIGURE unknown" below, so say it first.
  struct stat st {};
  if (::fstat(backing.get(), &st) != 0) return errno_error(what + ": inspecting the image");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return make_error(EINVAL, what + ": it is neither a regular file nor a block device");
  }
  Fd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!control.valid()) return errno_error(what + ": opening /dev/loop-control");

  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return errno_error(what + ": finding a free loop device");
    std::string dev = "/dev/loop" + std::to_string(n);
    // A read-only device is opened read-only too: loop_configure() then forces
    // LO_FLAGS_READ_ONLY anyway, and with CONFIG_BLK_DEV_WRITE_MOUNTED=n (Linux >= 6.8) a
    // writable opener would make the later mount fail with EBUSY.
    Fd loop(::open(dev.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!loop.valid()) return errno_error(what + ": opening '" + dev + "'");
    Status configured = configure(loop.get(), backing.get(), image, read_only);
    if (configured.ok()) return LoopDevice(dev, std::move(loop));
    if (configured.error().code != EBUSY)
      return configured.error().wrap(what + ": configuring '" + dev + "'");
  }
  return make_error(EBUSY, what + ": another process took the free loop device " +
                               std::to_string(kAttempts) + " times in a row");
}

LoopDevice::LoopDevice(LoopDevice&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::move(other.fd_)) {}

LoopDevice& LoopDevice::operator=(LoopDevice&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::move(other.path_);
    fd_ = std::move(other.fd_);
  }
  return *this;
}

LoopDevice::~LoopDevice() { reset(); }

void LoopDevice::release() noexcept { fd_.reset(); }

void LoopDevice::reset() noexcept {
  if (!fd_.valid()) return;
  // While others hold the device this only sets autoclear (loop_clr_fd()); either way it is
  // detached once the last fd, ours, is closed. Errors (ENXIO: already unbound) are moot.
  ::ioctl(fd_.get(), LOOP_CLR_FD, 0);
  fd_.reset();
}

Result<std::vector<std::pair<std::string, std::string>>> loop_devices_backed_below(
    const std::string& dir) {
  const std::string root = canonical_dir(dir);
  struct CloseDir {
    void operator()(DIR* d) const { ::closedir(d); }
  };
  std::unique_ptr<DIR, CloseDir> block(::opendir("/sys/block"));
  if (!block) return errno_error("listing /sys/block to find loop devices");
  std::vector<std::pair<long, std::pair<std::string, std::string>>> found;
  while (const dirent* entry = ::readdir(block.get())) {
    long n = loop_number(entry->d_name);
    if (n < 0) continue;
    // loop/backing_file exists only while the device is bound.
    auto backing =
        read_small_file("/sys/block/" + std::string(entry->d_name) + "/loop/backing_file");
    if (!backing.ok()) continue;
    std::string file = std::move(*backing);
    if (!file.empty() && file.back() == '\n') file.pop_back();
    // d_path() appends " (deleted)" to an unlinked file; it is still ours to clean up.
    constexpr std::string_view kDeleted = " (deleted)";
    if (file.ends_with(kDeleted)) file.resize(file.size() - kDeleted.size());
    if (is_below(file, root)) found.push_back({n, {"/dev/" + std::string(entry->d_name), file}});
  }
  std::sort(found.begin(), found.end());
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

Status detach_loop(const std::string& dev) {
  Fd fd(::open(dev.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    // The node (or, ENXIO, its driver) is gone: so is the binding.
    if (errno == ENOENT || errno == ENXIO) return {};
    return errno_error("detaching loop device '" + dev + "': opening it");
  }
  // LOOP_CLR_FD on an unbound device fails with ENXIO: already detached.
  if (::ioctl(fd.get(), LOOP_CLR_FD, 0) != 0 && errno != ENXIO) {
    return errno_error("detaching loop device '" + dev + "'");
  }
  return {};
}

}  // namespace fw::sys
