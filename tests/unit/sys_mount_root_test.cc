// Root tests of the sys adapters against real kernel objects: tmpfs, loop devices, ext4,
// squashfs and erofs images, bind mounts and overlays. Every mount and loop device lives
// below a /tmp/fwtest-sys.XXXXXX workspace that TearDown() empties even after a failure.

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "firmwared/base/fd.h"
#include "firmwared/sys/credentials.h"
#include "firmwared/sys/hash_copy.h"
#include "firmwared/sys/image_format.h"
#include "firmwared/sys/loop_device.h"
#include "firmwared/sys/mount.h"

namespace fw::sys {
namespace {

using namespace std::chrono_literals;

bool must_run() {
  const char* v = ::getenv("FW_TESTS_MUST_RUN");
  return v != nullptr && std::string(v) == "1";
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Returns the errno of opening `path` with `flags`, 0 on success.
int open_errno(const std::string& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC, 0644));
  return fd.valid() ? 0 : errno;
}

bool mounted(const std::string& path) {
  auto r = is_mount_point(path);
  return r.ok() && *r;
}

// "/dev/loop3" -> "/sys/block/loop3/loop/backing_file", present only while bound.
std::string backing_file_attr(const std::string& dev) {
  return "/sys/block/" + dev.substr(dev.rfind('/') + 1) + "/loop/backing_file";
}

// Autoclear runs when the last opener goes; allow for it to lag a little behind.
bool wait_gone(const std::string& path, std::chrono::microseconds* took = nullptr) {
  auto start = std::chrono::steady_clock::now();
  while (exists(path)) {
    if (std::chrono::steady_clock::now() - start > 3s) return false;
    std::this_thread::sleep_for(1ms);
  }
  if (took) {
    *took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  start);
  }
  return true;
}

class RootTest : public ::testing::Test {
 protected:
  // Skips (or, with FW_TESTS_MUST_RUN=1, fails) unless root; a fatal failure in SetUp()
  // keeps the test body from running.
  void SetUp() override {
    if (::geteuid() != 0) {
      if (must_run()) FAIL() << "this test needs root and FW_TESTS_MUST_RUN=1 forbids skipping";
      GTEST_SKIP() << "needs root";
    }
    std::string tmpl = "/tmp/fwtest-sys.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    ws_ = tmpl;
  }

  // The safety net: whatever a failed assertion left mounted or attached goes here.
  void TearDown() override {
    if (ws_.empty()) return;
    EXPECT_TRUE(unmount_all_below(ws_).ok());
    if (auto loops = loop_devices_backed_below(ws_); loops.ok()) {
      for (const auto& [dev, file] : *loops) EXPECT_TRUE(detach_loop(dev).ok()) << dev;
    }
    auto left = mount_points_below(ws_);
    ASSERT_TRUE(left.ok() && left->empty()) << "mounts left below " << ws_;
    std::error_code ec;
    std::filesystem::remove_all(ws_, ec);
  }

  std::string path(const std::string& name) const { return ws_ + "/" + name; }
  std::string mkdir(const std::string& name) {
    std::string p = path(name);
    EXPECT_EQ(::mkdir(p.c_str(), 0755), 0) << p;
    return p;
  }
  void write(const std::string& name, const std::string& content) {
    std::ofstream(path(name), std::ios::binary) << content;
  }
  Mount mount_tmpfs(const std::string& dir, const std::string& options = "size=4m") {
    EXPECT_EQ(::mount("fwtest", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()), 0)
        << dir << ": " << std::strerror(errno);
    return Mount(dir);
  }
  // A small firmware tree and an image of it made by the real tool.
  std::string make_image(ImageFormat format) {
    if (!exists(path("content"))) {
      mkdir("content");
      mkdir("content/etc");
      write("content/hello.txt", "hello\n");
      write("content/etc/hostname", "firmware\n");
    }
    std::string image = path(std::string("fw.") + format_name(format));
    std::string content = path("content");
    std::string cmd;
    switch (format) {
      case ImageFormat::kSquashfs:
        cmd = "mksquashfs '" + content + "' '" + image + "' -noappend -quiet";
        break;
      case ImageFormat::kErofs:
        cmd = "mkfs.erofs '" + image + "' '" + content + "'";
        break;
      default:
        cmd = std::string("mke2fs -q -F -t ") + format_name(format) + " -d '" + content + "' '" +
              image + "' 4M";
    }
    EXPECT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
    return image;
  }

  std::string ws_;
};

TEST_F(RootTest, CopyIntoAFullFilesystemFailsWithEnospcAndRemovesTheCopy) {
  std::string small = mkdir("small");
  {
    Mount tmpfs = mount_tmpfs(small, "size=1m");
    std::mt19937_64 rng(1);
    std::string data(3 << 20, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    write("src", data);
    Fd src(::open(path("src").c_str(), O_RDONLY | O_CLOEXEC));
    Fd dst_dir(::open(small.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto r = copy_with_sha1(src.get(), dst_dir.get(), "image.tmp", nullptr);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOSPC) << r.error().message;
    EXPECT_NE(r.error().message.find(small + "/image.tmp"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("writing at byte "), std::string::npos) << r.error().message;
    EXPECT_FALSE(exists(small + "/image.tmp"));
    EXPECT_TRUE(std::filesystem::is_empty(small));
  }
  EXPECT_FALSE(mounted(small));
}

class LoopMount : public RootTest, public ::testing::WithParamInterface<ImageFormat> {};

TEST_P(LoopMount, MountsReadOnlyAndAutoclearsTheLoopDeviceOnUnmount) {
  const ImageFormat format = GetParam();
  if (format == ImageFormat::kErofs && std::system("command -v mkfs.erofs >/dev/null") != 0) {
    GTEST_SKIP() << "mkfs.erofs is not installed";
  }
  std::string image = make_image(format);
  auto info = probe_image_path(image);
  ASSERT_TRUE(info.ok()) << info.error().message;
  ASSERT_EQ(info->format, format);
  std::string mnt = mkdir("ro");

  auto m = mount_image_readonly(image, mnt, info->format);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->path(), mnt);
  EXPECT_EQ(read_all(mnt + "/hello.txt"), "hello\n");
  EXPECT_EQ(read_all(mnt + "/etc/hostname"), "firmware\n");
  EXPECT_EQ(open_errno(mnt + "/hello.txt", O_WRONLY), EROFS);
  EXPECT_EQ(open_errno(mnt + "/new", O_WRONLY | O_CREAT), EROFS);
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(mnt.c_str(), &vfs), 0);
  EXPECT_EQ(vfs.f_flag & (ST_RDONLY | ST_NOSUID | ST_NODEV), ST_RDONLY | ST_NOSUID | ST_NODEV);

  auto loops = loop_devices_backed_below(ws_);
  ASSERT_TRUE(loops.ok()) << loops.error().message;
  ASSERT_EQ(loops->size(), 1u);
  const auto [dev, backing] = loops->front();
  EXPECT_EQ(backing, image);
  EXPECT_EQ(read_all("/sys/block/" + dev.substr(5) + "/ro"), "1\n");

  ASSERT_TRUE(unmount(mnt).ok());
  EXPECT_FALSE(mounted(mnt));
  std::chrono::microseconds took{};
  EXPECT_TRUE(wait_gone(backing_file_attr(dev), &took)) << dev << " is still attached";
  std::cout << "[ info ] " << format_name(format) << ": " << dev << " autocleared " << took.count()
            << " us after umount returned\n";
  m->release();  // already unmounted
}

INSTANTIATE_TEST_SUITE_P(Formats, LoopMount,
                         ::testing::Values(ImageFormat::kExt2, ImageFormat::kExt3,
                                           ImageFormat::kExt4, ImageFormat::kSquashfs,
                                           ImageFormat::kErofs),
                         [](const auto& p) { return std::string(format_name(p.param)); });

TEST_F(RootTest, MountedImageOwnerUnmountsAndTheLoopDeviceFollows) {
  std::string image = make_image(ImageFormat::kSquashfs);
  std::string mnt = mkdir("ro");
  std::string dev;
  {
    auto m = mount_image_readonly(image, mnt, ImageFormat::kSquashfs);
    ASSERT_TRUE(m.ok()) << m.error().message;
    auto loops = loop_devices_backed_below(ws_);
    ASSERT_TRUE(loops.ok() && loops->size() == 1u);
    dev = loops->front().first;
  }
  EXPECT_FALSE(mounted(mnt));
  EXPECT_TRUE(wait_gone(backing_file_attr(dev))) << dev << " is still attached";
}

TEST_F(RootTest, MountingAnImageAsTheWrongTypeFailsAndDetachesTheLoopDevice) {
  std::string image = make_image(ImageFormat::kSquashfs);
  std::string mnt = mkdir("ro");
  auto m = mount_image_readonly(image, mnt, ImageFormat::kExt4);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find(image), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("/dev/loop"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find(mnt), std::string::npos) << m.error().message;
  EXPECT_FALSE(mounted(mnt));
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto loops = loop_devices_backed_below(ws_);
    ASSERT_TRUE(loops.ok());
    if (loops->empty()) break;
    ASSERT_LT(std::chrono::steady_clock::now() - start, 3s) << loops->front().first << " is left";
    std::this_thread::sleep_for(1ms);
  }
}

TEST_F(RootTest, ExtImageWithAnUnrecoveredJournalMountsWithoutReplayingIt) {
  // A journal flagged for recovery cannot be replayed on a read-only device: plain mount
  // fails with EROFS, and mount_image_readonly retries with noload.
  std::string image = make_image(ImageFormat::kExt4);
  std::string cmd = "debugfs -w -R 'feature needs_recovery' '" + image + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::string mnt = mkdir("ro");
  auto m = mount_image_readonly(image, mnt, ImageFormat::kExt4);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(read_all(mnt + "/hello.txt"), "hello\n");
  EXPECT_EQ(open_errno(mnt + "/new", O_WRONLY | O_CREAT), EROFS);
}

TEST_F(RootTest, LoopDeviceDestructorDetachesUnlessReleased) {
  std::string image = make_image(ImageFormat::kExt4);
  std::string dev;
  {
    auto loop = LoopDevice::attach(image, /*read_only=*/false);
    ASSERT_TRUE(loop.ok()) << loop.error().message;
    dev = loop->path();
    EXPECT_EQ(read_all(backing_file_attr(dev)), image + "\n");
    EXPECT_EQ(read_all("/sys/block/" + dev.substr(5) + "/ro"), "0\n");
    EXPECT_EQ(read_all("/sys/block/" + dev.substr(5) + "/loop/autoclear"), "1\n");
    LoopDevice moved = std::move(*loop);  // the moved-from owner must not detach
    EXPECT_EQ(moved.path(), dev);
    EXPECT_TRUE(exists(backing_file_attr(dev)));
  }
  EXPECT_TRUE(wait_gone(backing_file_attr(dev))) << dev << " is still attached";

  // Released with no user left: autoclear detaches it as soon as our fd closes.
  auto loop = LoopDevice::attach(image, /*read_only=*/true);
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  dev = loop->path();
  EXPECT_EQ(read_all("/sys/block/" + dev.substr(5) + "/ro"), "1\n");
  loop->release();
  EXPECT_TRUE(wait_gone(backing_file_attr(dev))) << dev << " is still attached";
}

TEST_F(RootTest, ConcurrentAttachesRaceForFreeDevicesAndAllSucceed) {
  // Threads asking LOOP_CTL_GET_FREE at once are handed the same device; the losers get
  // EBUSY from LOOP_CONFIGURE and must retry with another one.
  std::string image = make_image(ImageFormat::kSquashfs);
  constexpr int kThreads = 8;
  std::vector<std::optional<Result<LoopDevice>>> results(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready < kThreads) std::this_thread::yield();
      results[i].emplace(LoopDevice::attach(image, true));
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> devices;
  for (auto& r : results) {
    ASSERT_TRUE(r.has_value() && r->ok()) << (r->ok() ? "" : r->error().message);
    devices.insert((*r)->path());
  }
  EXPECT_EQ(devices.size(), static_cast<size_t>(kThreads));
  results.clear();  // detaches all
  for (const auto& dev : devices) EXPECT_TRUE(wait_gone(backing_file_attr(dev))) << dev;
}

TEST_F(RootTest, AttachReportsAMissingImage) {
  auto loop = LoopDevice::attach(path("missing.img"), true);
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().code, ENOENT);
  EXPECT_NE(loop.error().message.find(path("missing.img")), std::string::npos);
  auto dir = LoopDevice::attach(ws_, true);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().code, EINVAL);
  EXPECT_NE(dir.error().message.find("neither a regular file nor a block device"),
            std::string::npos)
      << dir.error().message;
}

TEST_F(RootTest, CrashCleanupFindsDetachesAndUnmounts) {
  // What a previous daemon left: a mounted image (loop released), and a bare attached
  // loop device whose owner never ran its destructor.
  std::string image = make_image(ImageFormat::kExt4);
  std::string mnt = mkdir("ro");
  auto m = mount_image_readonly(image, mnt, ImageFormat::kExt4);
  ASSERT_TRUE(m.ok()) << m.error().message;
  m->release();
  std::filesystem::copy_file(image, path("second.img"));
  auto bare = LoopDevice::attach(path("second.img"), true);
  ASSERT_TRUE(bare.ok()) << bare.error().message;
  std::string bare_dev = bare->path();
  Fd keep(::open(bare_dev.c_str(), O_RDONLY | O_CLOEXEC));  // stands for the dead daemon
  bare->release();

  auto loops = loop_devices_backed_below(ws_ + "/");  // a trailing slash is fine
  ASSERT_TRUE(loops.ok()) << loops.error().message;
  ASSERT_EQ(loops->size(), 2u);
  for (const auto& [dev, file] : *loops) {
    EXPECT_TRUE(file == image || file == path("second.img")) << file;
    EXPECT_TRUE(detach_loop(dev).ok()) << dev;
  }
  keep.reset();
  EXPECT_TRUE(wait_gone(backing_file_attr(bare_dev)));
  // The mounted one is only marked autoclear; it goes with the mount.
  ASSERT_TRUE(unmount_all_below(ws_).ok());
  EXPECT_FALSE(mounted(mnt));
  for (const auto& [dev, file] : *loops) EXPECT_TRUE(wait_gone(backing_file_attr(dev))) << dev;
  auto left = loop_devices_backed_below(ws_);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
  // Already detached is success.
  EXPECT_TRUE(detach_loop(bare_dev).ok());
  EXPECT_TRUE(detach_loop("/dev/loop-fwtest-none").ok());
}

TEST_F(RootTest, BindReadonlyIsReadOnlyOnlyOnTheDestination) {
  std::string src = mkdir("src");
  std::string dst = mkdir("dst");
  write("src/file", "data");
  {
    auto m = bind_readonly(src, dst);
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_TRUE(mounted(dst));  // a bind within one filesystem: same st_dev as its parent
    EXPECT_EQ(read_all(dst + "/file"), "data");
    EXPECT_EQ(open_errno(dst + "/file", O_WRONLY), EROFS);
    EXPECT_EQ(open_errno(dst + "/new", O_WRONLY | O_CREAT), EROFS);
    struct statvfs vfs {};
    ASSERT_EQ(::statvfs(dst.c_str(), &vfs), 0);
    EXPECT_EQ(vfs.f_flag & (ST_RDONLY | ST_NOSUID | ST_NODEV), ST_RDONLY | ST_NOSUID | ST_NODEV);
    EXPECT_EQ(open_errno(src + "/file", O_WRONLY), 0);
    write("src/later", "seen");
    EXPECT_EQ(read_all(dst + "/later"), "seen");
  }
  EXPECT_FALSE(mounted(dst));
}

TEST_F(RootTest, BindReadonlyOfAMissingSourceFails) {
  std::string dst = mkdir("dst");
  auto m = bind_readonly(path("missing"), dst);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ENOENT);
  EXPECT_NE(m.error().message.find(path("missing")), std::string::npos);
  EXPECT_FALSE(mounted(dst));
}

TEST_F(RootTest, OverlayStacksLowersTopFirstAndWritesToUpper) {
  mkdir("top");
  mkdir("bottom");
  std::string upper = mkdir("upper");
  std::string work = mkdir("work");
  std::string dst = mkdir("union");
  write("top/a", "from top");
  write("bottom/b", "from bottom");
  write("top/same", "top wins");
  write("bottom/same", "bottom loses");
  {
    auto m = mount_overlay({path("top"), path("bottom")}, upper, work, dst);
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(read_all(dst + "/a"), "from top");
    EXPECT_EQ(read_all(dst + "/b"), "from bottom");
    EXPECT_EQ(read_all(dst + "/same"), "top wins");
    std::ofstream(dst + "/c") << "new";
    std::ofstream(dst + "/b", std::ios::trunc) << "changed";
    EXPECT_EQ(read_all(upper + "/c"), "new");
    EXPECT_EQ(read_all(upper + "/b"), "changed");
    EXPECT_EQ(read_all(path("bottom/b")), "from bottom");
  }
  EXPECT_FALSE(mounted(dst));
}

TEST_F(RootTest, OverlayEscapesColonsCommasAndBackslashes) {
  mkdir("low:er,1\\x");
  mkdir("low,2");
  std::string upper = mkdir("up:per,\\");
  std::string work = mkdir("wo,rk:");
  std::string dst = mkdir("uni:on");
  write("low:er,1\\x/a", "a");
  write("low,2/b", "b");
  auto m = mount_overlay({path("low:er,1\\x"), path("low,2")}, upper, work, dst);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(read_all(dst + "/a"), "a");
  EXPECT_EQ(read_all(dst + "/b"), "b");
  std::ofstream(dst + "/c") << "c";
  EXPECT_EQ(read_all(upper + "/c"), "c");
}

TEST_F(RootTest, OverlayRefusesOptionsLongerThanAPage) {
  std::string dst = mkdir("union");
  std::vector<std::string> lowers(40, path(std::string(150, 'l')));
  auto m = mount_overlay(lowers, mkdir("upper"), mkdir("work"), dst);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, EINVAL);
  EXPECT_NE(m.error().message.find("more than"), std::string::npos) << m.error().message;
  auto none = mount_overlay({}, path("upper"), path("work"), dst);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, EINVAL);
  EXPECT_FALSE(mounted(dst));
}

TEST_F(RootTest, MountPointsBelowAreDeepestFirstAndUnescaped) {
  std::string top = mkdir("a b");
  std::string sibling = mkdir("a bc");
  Mount m1 = mount_tmpfs(top);
  ASSERT_EQ(::mkdir((top + "/c").c_str(), 0755), 0);
  Mount m2 = mount_tmpfs(top + "/c");
  Mount m3 = mount_tmpfs(top + "/c");  // stacked on the same path
  ASSERT_EQ(::mkdir((top + "/c/t\tb\\s").c_str(), 0755), 0);
  Mount m4 = mount_tmpfs(top + "/c/t\tb\\s");
  Mount m5 = mount_tmpfs(sibling);

  auto points = mount_points_below(top);
  ASSERT_TRUE(points.ok()) << points.error().message;
  EXPECT_EQ(*points, (std::vector<std::string>{top + "/c/t\tb\\s", top + "/c", top + "/c", top}));
  ASSERT_EQ(::symlink("a b", path("link").c_str()), 0);
  auto via_link = mount_points_below(path("link") + "/");
  ASSERT_TRUE(via_link.ok());
  EXPECT_EQ(*via_link, *points);

  ASSERT_TRUE(unmount_all_below(top).ok());
  auto after = mount_points_below(top);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
  EXPECT_TRUE(mounted(sibling));
  for (Mount* m : {&m1, &m2, &m3, &m4}) m->release();  // already gone
}

TEST_F(RootTest, MountOwnerUnmountsMovesAndReleases) {
  std::string a = mkdir("a");
  {
    Mount m = mount_tmpfs(a);
    EXPECT_TRUE(mounted(a));
    Mount moved = std::move(m);
    EXPECT_EQ(m.path(), "");
    EXPECT_EQ(moved.path(), a);
    EXPECT_TRUE(mounted(a));
  }
  EXPECT_FALSE(mounted(a));
  {
    Mount m = mount_tmpfs(a);
    m.release();
  }
  EXPECT_TRUE(mounted(a));
  EXPECT_TRUE(unmount(a).ok());
  EXPECT_FALSE(mounted(a));
}

TEST_F(RootTest, UnmountOfWhatIsNotMountedSucceeds) {
  std::string plain = mkdir("plain");
  EXPECT_TRUE(unmount(plain).ok());
  EXPECT_TRUE(unmount(path("missing")).ok());
  ASSERT_EQ(::symlink(plain.c_str(), path("link").c_str()), 0);
  EXPECT_TRUE(unmount(path("link")).ok());
  auto missing = is_mount_point(path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);
}

TEST_F(RootTest, UnmountOfABusyMountDetachesIt) {
  std::string busy = mkdir("busy");
  Mount m = mount_tmpfs(busy);
  m.release();
  Fd cwd_like(::open(busy.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  Fd file(::open((busy + "/open").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(file.valid());
  ASSERT_TRUE(unmount(busy).ok());
  EXPECT_FALSE(mounted(busy));
  EXPECT_EQ(::write(file.get(), "x", 1), 1);  // still usable through the open fd
}

// ---- directory firmwares mounted from one symlink-free descriptor ----------------

TEST_F(RootTest, OpenDirNoSymlinksRefusesASymlinkAnywhereInThePath) {
  mkdir("real");
  mkdir("real/sub");
  ASSERT_EQ(::symlink("real", path("link").c_str()), 0);
  ASSERT_EQ(::symlink("/", path("root").c_str()), 0);
  EXPECT_TRUE(open_dir_no_symlinks(path("real/sub")).ok());
  for (const char* p : {"link", "link/sub", "root"}) {
    auto fd = open_dir_no_symlinks(path(p));
    ASSERT_FALSE(fd.ok()) << p;
    EXPECT_EQ(fd.error().code, ELOOP) << p;
    EXPECT_NE(fd.error().message.find("is a symbolic link now"), std::string::npos)
        << fd.error().message;
  }
}

TEST_F(RootTest, RefuseHostDirsRefusesRootAndAncestorsOfStateDirs) {
  mkdir("fw");
  mkdir("state");
  mkdir("state/mount_points");
  const std::vector<std::string> state = {path("state/mount_points"), path("missing")};
  Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  auto s = refuse_host_dirs(root.get(), "directory '/'", state);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EINVAL);
  EXPECT_EQ(s.error().message, "refusing directory '/': it is the host's root directory");
  for (const char* holder : {"", "state", "state/mount_points"}) {
    Fd d(::open(path(holder).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    auto h = refuse_host_dirs(d.get(), "it", state);
    ASSERT_FALSE(h.ok()) << holder;
    EXPECT_NE(h.error().message.find("holds the daemon's state directory"), std::string::npos);
  }
  Fd fw(::open(path("fw").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  EXPECT_TRUE(refuse_host_dirs(fw.get(), "fw", state).ok());
}

TEST_F(RootTest, BindFdMountsTheOpenedDirectoryEvenAfterItsPathIsSwapped) {
  mkdir("fw");
  write("fw/marker", "x");
  mkdir("target");
  auto fd = open_dir_no_symlinks(path("fw"));
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  // The path now names the host's root: what was opened is still what gets mounted.
  ASSERT_EQ(::rename(path("fw").c_str(), path("fw.moved").c_str()), 0);
  ASSERT_EQ(::symlink("/", path("fw").c_str()), 0);
  auto m = bind_fd_readonly(fd->get(), "fw", path("target"));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(exists(path("target/marker")));
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(path("target").c_str(), &vfs), 0);
  EXPECT_TRUE(vfs.f_flag & ST_RDONLY);
  EXPECT_TRUE(vfs.f_flag & ST_NOSUID);
  EXPECT_TRUE(vfs.f_flag & ST_NODEV);
}

TEST_F(RootTest, AsClientSwitchesThisThreadsFilesystemIdentityAndRestoresIt) {
  write("root-only", "secret");
  ASSERT_EQ(::chmod(path("root-only").c_str(), 0600), 0);
  ASSERT_EQ(::chmod(ws_.c_str(), 0755), 0);
  const ClientCredentials nobody{65534, 65534, {}};
  // A thread started before the switch (a new thread copies its creator's credentials):
  // it keeps root's rights while this one acts as the client.
  std::promise<void> switched;
  std::promise<bool> other_opened;
  std::thread other([&] {
    switched.get_future().wait();
    Fd g(::open(path("root-only").c_str(), O_RDONLY | O_CLOEXEC));
    other_opened.set_value(g.valid());
  });
  {
    AsClient as(nobody);
    Fd f(::open(path("root-only").c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_FALSE(f.valid());
    EXPECT_EQ(errno, EACCES);
    switched.set_value();
    EXPECT_TRUE(other_opened.get_future().get()) << "setfsuid is per thread";
  }
  other.join();
  Fd f(::open(path("root-only").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(f.valid()) << "root's rights are back";
}

}  // namespace
}  // namespace fw::sys
