// fwctl's text rendering of typed replies stays fdc's: numbers in decimal, null as "", times
// as ctime(3) in local time, GET_CONFIG booleans as y/n.
#include "fwctl/format.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

#include "firmwared/base/strings.h"

namespace fwctl {
namespace {

using fw::protocol::Json;
using fw::protocol::Message;

Message reply(const std::string& answer, Json body) {
  Message m;
  m.name = answer;
  m.body = std::move(body);
  return m;
}

TEST(FwctlFormat, ShowPrintsTypedValuesAsFdcText) {
  ::setenv("TZ", "Europe/Paris", 1);
  ::tzset();
  const Json props = Json::array({
      {{"name", "name"}, {"value", "brave_turing"}},
      {{"name", "id"}, {"value", 0}},
      {{"name", "exit_status"}, {"value", nullptr}},
      {{"name", "time"}, {"value", "2026-12-05T04:29:53Z"}, {"epoch", 1796444993}},
  });
  EXPECT_EQ(format_reply(reply("SHOW", {{"properties", props}})),
            "name: brave_turing\nid: 0\nexit_status: \ntime: Sat Dec  5 05:29:53 2026");
  EXPECT_EQ(fw::ctime_string(1796444993), "Sat Dec  5 05:29:53 2026");
}

TEST(FwctlFormat, GetPropertyAndGetConfig) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  EXPECT_EQ(format_reply(reply("GET_PROPERTY", {{"value", 42}})), "42");
  EXPECT_EQ(format_reply(reply("GET_PROPERTY", {{"value", nullptr}})), "");
  EXPECT_EQ(format_reply(
                reply("GET_PROPERTY", {{"value", "2026-12-05T04:29:53Z"}, {"epoch", 1796444993}})),
            "Sat Dec  5 04:29:53 2026");
  EXPECT_EQ(format_reply(reply("GET_PROPERTY", {{"value", "plop"}})), "plop");
  EXPECT_EQ(format_reply(reply("GET_CONFIG", {{"value", false}})), "n");
  EXPECT_EQ(format_reply(reply("GET_CONFIG", {{"value", true}})), "y");
  EXPECT_EQ(format_reply(reply("GET_CONFIG", {{"value", 300}})), "300");
  EXPECT_EQ(format_reply(reply("GET_CONFIG", {{"value", "eth0"}})), "eth0");
  // Older daemons sent text: it still prints as is.
  EXPECT_EQ(format_reply(reply("GET_PROPERTY", {{"value", "Sat Dec  5 04:29:53 2026"}})),
            "Sat Dec  5 04:29:53 2026");
}

}  // namespace
}  // namespace fwctl
