#pragma once
// Loop devices: LoopDevice owns one attached /dev/loopN; free functions find and detach
// loop devices left behind by a previous run (crash cleanup).

#include <string>
#include <utility>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

// Owns an attached loop device (and an open fd on it). Move-only. Every device is attached
// with LO_FLAGS_AUTOCLEAR, so the kernel detaches it when its last user (a mount) goes.
class LoopDevice {
 public:
  // Attaches a free loop device to `image` (opened read-only when `read_only`, and then
  // flagged LO_FLAGS_READ_ONLY). Uses LOOP_CONFIGURE (Linux >= 5.8), else LOOP_SET_FD +
  // LOOP_SET_STATUS64; retries a bounded number of times when another process takes the
  // free device first. Errors name the image and the device: ENOENT/EACCES (image or
  // /dev/loop-control), ENOSPC/ENODEV (no free device can be made), EBUSY (lost the race
  // every time), EINVAL, ...
  static Result<LoopDevice> attach(const std::string& image, bool read_only);

  LoopDevice(LoopDevice&& other) noexcept;
  LoopDevice& operator=(LoopDevice&& other) noexcept;
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;
  // Detaches the device (LOOP_CLR_FD) unless released; best effort, noexcept.
  ~LoopDevice();

  // "/dev/loopN".
  const std::string& path() const { return path_; }
  // Commits: closes our fd without detaching. Autoclear detaches the device once its last
  // user is gone, i.e. at once if nothing (no mount) holds it.
  void release() noexcept;

 private:
  LoopDevice(std::string path, Fd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  void reset() noexcept;

  std::string path_;
  Fd fd_;
};

// Returns (device, backing file) for every bound loop device whose backing file is `dir` or
// lies below it, sorted by device path, from /sys/block/loop*/loop/backing_file. A backing
// file deleted since is reported without the kernel's " (deleted)" suffix. No loop driver
// means an empty list. Errors: reading /sys/block (EACCES, ...).
Result<std::vector<std::pair<std::string, std::string>>> loop_devices_backed_below(
    const std::string& dir);

// Detaches the loop device `dev` ("/dev/loopN"). A device already detached, or whose node
// is gone, counts as success. A device still in use (mounted) is only marked autoclear by
// the kernel (loop_clr_fd() in drivers/block/loop.c) and goes with its last user. Errors:
// EACCES, EIO, ...
Status detach_loop(const std::string& dev);

}  // namespace fw::sys
