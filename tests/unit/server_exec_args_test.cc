// parse_exec_args: EXEC's options, including --winsize (fwctl relays its
// terminal, so the pty's size travels as an option instead of being read from it).
#include <gtest/gtest.h>

#include <csignal>

#include "firmwared/server/exec_commands.h"

namespace fw::server {
namespace {

TEST(ExecArgs, ParsesOptionsAndCommand) {
  auto o = parse_exec_args({"i", "--tty", "--winsize", "33x77", "--env", "A=1", "--workdir", "/etc",
                            "--", "sh", "-c", "true"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->id, "i");
  EXPECT_TRUE(o->command.tty);
  EXPECT_EQ(o->command.rows, 33);
  EXPECT_EQ(o->command.cols, 77);
  EXPECT_EQ(o->command.env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(o->command.workdir, "/etc");
  EXPECT_EQ(o->command.argv, (std::vector<std::string>{"sh", "-c", "true"}));
}

TEST(ExecArgs, WinsizeDefaultsToUnset) {
  auto o = parse_exec_args({"i", "--", "true"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->command.rows, 0);
  EXPECT_EQ(o->command.cols, 0);
}

TEST(ExecArgs, RefusesBadWinsize) {
  for (const char* bad : {"", "33", "x77", "33x", "0x77", "33x0", "65536x1", "3a3x7", "-1x5",
                          "33x77x1", "123456x1"}) {
    auto o = parse_exec_args({"i", "--winsize", bad, "--", "true"});
    ASSERT_FALSE(o.ok()) << bad;
    EXPECT_EQ(o.error().code, EINVAL) << bad;
    EXPECT_NE(o.error().message.find("ROWSxCOLS"), std::string::npos) << bad;
  }
  EXPECT_TRUE(parse_exec_args({"i", "--winsize", "65535x1", "--", "true"}).ok());
}

TEST(ExecSignalArgs, TakesNamesAndNumbers) {
  for (const char* text : {"INT", "SIGINT", "int", "2"}) {
    auto a = parse_exec_signal_args({"7", text});
    ASSERT_TRUE(a.ok()) << text << ": " << a.error().message;
    EXPECT_EQ(a->seq, 7u);
    EXPECT_EQ(a->signal, SIGINT);
  }
  auto rt = parse_exec_signal_args({"1", "RTMIN+3"});
  ASSERT_TRUE(rt.ok());
  EXPECT_EQ(rt->signal, SIGRTMIN + 3);
  // The client's own command: KILL and STOP are its to send.
  EXPECT_EQ(parse_exec_signal_args({"1", "KILL"})->signal, SIGKILL);
  EXPECT_EQ(parse_exec_signal_args({"1", "WINCH"})->signal, SIGWINCH);
}

TEST(ExecSignalArgs, RefusesBadSignalsAndSeqs) {
  for (const char* bad : {"0", "65", "-1", "NOPE", "", "SIG"}) {
    auto a = parse_exec_signal_args({"1", bad});
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.error().code, EINVAL);
    EXPECT_NE(a.error().message.find("EXEC_SIGNAL"), std::string::npos) << a.error().message;
  }
  for (const char* bad : {"0", "-3", "x", "", "1x", "99999999999999999999999"}) {
    auto a = parse_exec_signal_args({bad, "INT"});
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.error().code, EINVAL);
    EXPECT_NE(a.error().message.find("seq"), std::string::npos) << a.error().message;
  }
  EXPECT_FALSE(parse_exec_signal_args({"1"}).ok());
}

TEST(ExecResizeArgs, TakesRowsAndColumns) {
  auto a = parse_exec_resize_args({"12", "40x100"});
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->seq, 12u);
  EXPECT_EQ(a->rows, 40);
  EXPECT_EQ(a->cols, 100);
  for (const char* bad : {"0x10", "10x0", "10", "x", "65536x1", "10x10x10", "-1x5"}) {
    auto b = parse_exec_resize_args({"12", bad});
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_NE(b.error().message.find("ROWSxCOLS"), std::string::npos) << b.error().message;
  }
}

}  // namespace
}  // namespace fw::server
