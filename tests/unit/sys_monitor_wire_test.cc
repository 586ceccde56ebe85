// The daemon ↔ monitor vocabulary (sys/monitor_wire.h): every line round-trips, malformed
// lines are refused, lines are split only at '\n', and --cgroup KIND:DIR is checked.
#include "firmwared/sys/monitor_wire.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "firmwared/base/fd.h"

namespace fw::sys::wire {
namespace {

StatusLine parsed(std::string line) {
  EXPECT_EQ(line.back(), '\n');
  line.pop_back();
  auto s = parse_status(line);
  EXPECT_TRUE(s.has_value()) << line;
  return s.value_or(StatusLine{});
}

TEST(MonitorWire, StatusLinesRoundTrip) {
  StatusLine s = parsed(pts_line("/dev/pts/3", "/dev/pts/4"));
  EXPECT_EQ(s.kind, StatusLine::Kind::kPts);
  EXPECT_EQ(s.inner, "/dev/pts/3");
  EXPECT_EQ(s.outer, "/dev/pts/4");
  EXPECT_EQ(parsed(ns_ready_line()).kind, StatusLine::Kind::kNsReady);
  s = parsed(sandbox_line(1234, 56, 789));
  EXPECT_EQ(s.kind, StatusLine::Kind::kSandbox);
  EXPECT_EQ(s.number, 1234);
  EXPECT_EQ(s.pivot_us, 56);
  EXPECT_EQ(s.init_us, 789);
  EXPECT_EQ(sandbox_line(-3, 7, 8), "SANDBOX 0 7 8\n");  // a clock step never reads as an error
  s = parsed(started_line(4242));
  EXPECT_EQ(s.kind, StatusLine::Kind::kStarted);
  EXPECT_EQ(s.number, 4242);
  s = parsed(oom_line(7));
  EXPECT_EQ(s.kind, StatusLine::Kind::kOom);
  EXPECT_EQ(s.number, 7);
  s = parsed(exited_line(137));
  EXPECT_EQ(s.kind, StatusLine::Kind::kExited);
  EXPECT_EQ(s.number, 137);
}

TEST(MonitorWire, AnErrorIsOneLineWithItsErrno) {
  const std::string line = error_line(make_error(ENOENT, "mounting proc:\nno such\nthing"));
  EXPECT_EQ(line, "ERROR 2 mounting proc: no such thing\n");
  StatusLine s = parsed(line);
  EXPECT_EQ(s.kind, StatusLine::Kind::kError);
  EXPECT_EQ(s.error.code, ENOENT);
  EXPECT_EQ(s.error.message, "mounting proc: no such thing");
}

TEST(MonitorWire, MalformedStatusLinesAreRefused) {
  for (const char* bad : {"", "HELLO", "PTS /dev/pts/1", "STARTED", "STARTED x", "OOM", "EXITED",
                          "started 12", "SANDBOX", "SANDBOX 12", "SANDBOX x 1", "SANDBOX -1 2",
                          "SANDBOX 1 2", "SANDBOX 1 2 -3", "SANDBOX 1 2 x"}) {
    EXPECT_FALSE(parse_status(bad).has_value()) << bad;
  }
}

TEST(MonitorWire, ControlWords) {
  EXPECT_EQ(control_line(Control::kGo), "GO\n");
  EXPECT_EQ(control_line(Control::kAck), "ACK\n");
  EXPECT_EQ(parse_control("GO"), Control::kGo);
  EXPECT_EQ(parse_control("ACK"), Control::kAck);
  EXPECT_EQ(control_line(Control::kRun), "RUN\n");
  EXPECT_EQ(parse_control("RUN"), Control::kRun);
  EXPECT_FALSE(parse_control("run").has_value());
  EXPECT_FALSE(parse_control("").has_value());
  EXPECT_FALSE(parse_control("GO ").has_value());
}

TEST(MonitorWire, TakeLineSplitsOnlyCompleteLines) {
  std::string buffer = "NS_READY\nSTART";
  EXPECT_EQ(take_line(buffer), "NS_READY");
  EXPECT_FALSE(take_line(buffer).has_value());
  buffer += "ED 12\n";
  EXPECT_EQ(take_line(buffer), "STARTED 12");
  EXPECT_TRUE(buffer.empty());
}

TEST(MonitorWire, ReadLineStopsAtTheNewlineAndWriteLineWritesWhole) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd r(p[0]), w(p[1]);
  ASSERT_TRUE(write_line(w.get(), control_line(Control::kGo) + "ACK\npartial").ok());
  EXPECT_EQ(read_line(r.get()), "GO");
  EXPECT_EQ(read_line(r.get()), "ACK");
  w.reset();
  EXPECT_FALSE(read_line(r.get()).has_value());  // EOF before a '\n'
}

TEST(MonitorWire, CgroupArgument) {
  auto c = parse_cgroup_arg("cpu,cpuacct:/sys/fs/cgroup/cpu,cpuacct/firmwared/x");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->kind, "cpu,cpuacct");
  EXPECT_EQ(c->dir, "/sys/fs/cgroup/cpu,cpuacct/firmwared/x");
  EXPECT_FALSE(c->unified());
  EXPECT_EQ(format_cgroup_arg(*c), "cpu,cpuacct:/sys/fs/cgroup/cpu,cpuacct/firmwared/x");
  auto u = parse_cgroup_arg("unified:/sys/fs/cgroup/firmwared/x");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->unified());
  for (const char* bad : {"", "unified", ":/x", "unified:", "unified:relative"}) {
    auto r = parse_cgroup_arg(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_EQ(r.error().message, std::string("bad --cgroup ") + bad + ": expected KIND:/DIR");
  }
}

}  // namespace
}  // namespace fw::sys::wire
