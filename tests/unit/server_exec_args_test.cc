// parse_exec_args: EXEC's options, including --winsize (fwctl relays its
// terminal, so the pty's size travels as an option instead of being read from it).
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace fw::server
