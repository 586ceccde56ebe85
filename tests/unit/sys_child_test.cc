// sys::Child: fork/exec, exit statuses, descriptor mapping, and the destructor that kills
// and reaps a child nobody waited for.
#include "firmwared/sys/child.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace fw::sys {
namespace {

const std::vector<std::string> kEnv = {"PATH=/usr/bin:/bin"};

bool pid_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

TEST(Child, ExecReportsTheExitCode) {
  auto c = Child::exec({{"/bin/sh", "-c", "exit 3"}, kEnv, {}}, "a shell");
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto e = c->wait();
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_FALSE(e->signaled);
  EXPECT_EQ(e->status(), 3);
  EXPECT_FALSE(*c);  // reaped: empty
}

TEST(Child, AMissingProgramExits127) {
  auto c = Child::exec({{"/nonexistent/program"}, kEnv, {}}, "nothing");
  ASSERT_TRUE(c.ok());
  auto e = c->wait();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->status(), 127);
}

TEST(Child, SignalIsReportedAs128PlusSignal) {
  auto c = Child::exec({{"/bin/sleep", "60"}, kEnv, {}}, "sleep");
  ASSERT_TRUE(c.ok());
  auto running = c->try_wait();
  ASSERT_TRUE(running.ok());
  EXPECT_FALSE(running->has_value());
  ASSERT_TRUE(c->signal(SIGTERM).ok());
  auto e = c->wait();
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->signaled);
  EXPECT_EQ(e->value, SIGTERM);
  EXPECT_EQ(e->status(), 128 + SIGTERM);
}

TEST(Child, DestructorKillsAndReaps) {
  pid_t pid = -1;
  {
    auto c = Child::exec({{"/bin/sleep", "60"}, kEnv, {}}, "sleep");
    ASSERT_TRUE(c.ok());
    pid = c->pid();
    ASSERT_TRUE(pid_exists(pid));
  }
  // Reaped, not a zombie: waitpid has nothing left and the pid is gone.
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_FALSE(pid_exists(pid));
}

TEST(Child, ReleasedChildIsLeftToTheCaller) {
  auto c = Child::exec({{"/bin/sleep", "60"}, kEnv, {}}, "sleep");
  ASSERT_TRUE(c.ok());
  const pid_t pid = c->pid();
  Fd pidfd = c->release();
  c = Result<Child>(Child());  // destroying the released object touches nothing
  EXPECT_TRUE(pid_exists(pid));
  ::kill(pid, SIGKILL);
  int st = 0;
  EXPECT_EQ(::waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(st));
}

TEST(Child, MapsDescriptorsAndClosesTheRest) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd r(p[0]), w(p[1]);
  const int high = ::fcntl(w.get(), F_DUPFD_CLOEXEC, 100);
  ASSERT_GE(high, 100);
  Fd w_high(high);
  w.reset();
  // fd 3 is the pipe; nothing else above 2 stays open (ls /proc/self/fd lists 0-3 and the
  // directory ls itself opens).
  auto c = Child::exec(
      {{"/bin/sh", "-c", "echo hello >&3; ls /proc/self/fd | wc -l >&3"}, kEnv, {{high, 3}}},
      "a shell");
  ASSERT_TRUE(c.ok()) << c.error().message;
  w_high.reset();
  auto e = c->wait();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->status(), 0);
  char buf[64] = {};
  const ssize_t n = ::read(r.get(), buf, sizeof(buf) - 1);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "hello\n5\n");
}

TEST(Child, RefusesASourceBelowATarget) {
  auto c = Child::exec({{"/bin/true"}, kEnv, {{3, 4}}}, "true");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, EINVAL);
}

TEST(Child, FdAboveDuplicatesHighAndCloseOnExec) {
  auto fd = fd_above(1, 20, "stdout");
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  EXPECT_GE(fd->get(), 20);
  EXPECT_NE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_GE(::fcntl(1, F_GETFD), 0);  // the original stays open
  auto bad = fd_above(-1, 20, "nothing");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, EBADF);
  EXPECT_EQ(bad.error().message.rfind("duplicating nothing", 0), 0u);
}

TEST(Child, ForkRunsTheBody) {
  auto c = Child::fork("a body", [] { return 42; });
  ASSERT_TRUE(c.ok());
  auto e = c->wait();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->status(), 42);
}

}  // namespace
}  // namespace fw::sys
