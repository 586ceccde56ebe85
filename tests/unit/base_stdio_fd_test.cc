// classify_stdio_fd: which descriptors may become an EXEC command's stdio ( items
// 2 and 7). No root needed.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "firmwared/base/fd.h"
#include "firmwared/base/stdio_fd.h"

namespace fw {
namespace {

TEST(StdioFd, AnonymousPipeEndsCross) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd r(p[0]), w(p[1]);
  EXPECT_EQ(classify_stdio_fd(r.get()), StdioKind::kPipe);
  EXPECT_EQ(classify_stdio_fd(w.get()), StdioKind::kPipe);
  EXPECT_TRUE(stdio_may_cross(StdioKind::kPipe));
}

TEST(StdioFd, NullZeroAndFullCross) {
  for (const char* path : {"/dev/null", "/dev/zero", "/dev/full"}) {
    Fd fd(::open(path, O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd) << path;
    EXPECT_EQ(classify_stdio_fd(fd.get()), StdioKind::kNullDevice) << path;
  }
  EXPECT_TRUE(stdio_may_cross(StdioKind::kNullDevice));
}

TEST(StdioFd, NamedFifoIsRefused) {
  char dir[] = "/tmp/stdio_fd_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string fifo = std::string(dir) + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // O_RDWR on a FIFO does not block on Linux (fifo(7)).
  Fd fd(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));
  ::unlink(fifo.c_str());
  ::rmdir(dir);
  ASSERT_TRUE(fd);
  EXPECT_EQ(classify_stdio_fd(fd.get()), StdioKind::kNamedFifo);
  EXPECT_FALSE(stdio_may_cross(StdioKind::kNamedFifo));
}

TEST(StdioFd, DirectoryIsRefused) {
  Fd fd(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  EXPECT_EQ(classify_stdio_fd(fd.get()), StdioKind::kDirectory);
  EXPECT_FALSE(stdio_may_cross(StdioKind::kDirectory));
  EXPECT_STREQ(describe(StdioKind::kDirectory), "a directory");
}

TEST(StdioFd, RegularFilesAndMemfdsAreRefused) {
  Fd file(::open("/etc/passwd", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file);
  EXPECT_EQ(classify_stdio_fd(file.get()), StdioKind::kRegularFile);
  Fd mem(::memfd_create("stdio_fd_test", MFD_CLOEXEC));
  ASSERT_TRUE(mem);
  EXPECT_EQ(classify_stdio_fd(mem.get()), StdioKind::kRegularFile);
  EXPECT_FALSE(stdio_may_cross(StdioKind::kRegularFile));
}

TEST(StdioFd, PtyBothSidesAreRefused) {
  Fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master);
  ASSERT_EQ(::grantpt(master.get()), 0);
  ASSERT_EQ(::unlockpt(master.get()), 0);
  Fd slave(::open(::ptsname(master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(slave);
  EXPECT_EQ(classify_stdio_fd(master.get()), StdioKind::kTerminal);
  EXPECT_EQ(classify_stdio_fd(slave.get()), StdioKind::kTerminal);
  EXPECT_FALSE(stdio_may_cross(StdioKind::kTerminal));
}

TEST(StdioFd, SocketpairIsRefused) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  EXPECT_EQ(classify_stdio_fd(a.get()), StdioKind::kSocket);
  EXPECT_FALSE(stdio_may_cross(StdioKind::kSocket));
}

TEST(StdioFd, OPathIsRefusedWhateverItNames) {
  for (const char* path : {"/", "/dev/null", "/etc/passwd"}) {
    Fd fd(::open(path, O_PATH | O_CLOEXEC));
    ASSERT_TRUE(fd) << path;
    EXPECT_EQ(classify_stdio_fd(fd.get()), StdioKind::kPath) << path;
  }
  EXPECT_FALSE(stdio_may_cross(StdioKind::kPath));
}

TEST(StdioFd, OtherCharDevicesAndAnonymousInodesAreRefused) {
  Fd random(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(random);
  EXPECT_EQ(classify_stdio_fd(random.get()), StdioKind::kCharDevice);
  Fd ev(::eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(ev);
  EXPECT_FALSE(stdio_may_cross(classify_stdio_fd(ev.get())));
}

TEST(StdioFd, ClosedDescriptor) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  ::close(p[0]);
  ::close(p[1]);
  EXPECT_EQ(classify_stdio_fd(p[0]), StdioKind::kClosed);
  EXPECT_FALSE(stdio_may_cross(StdioKind::kClosed));
}

}  // namespace
}  // namespace fw
