// The lines between firmwared and a serving net helper (base/helper_wire.h): escaping,
// request and answer round trips, and every malformed line refused with a sentence.

#include "firmwared/base/helper_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace hw = fw::helper_wire;

std::string strip_newline(std::string s) {
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.back(), '\n');
  s.pop_back();
  return s;
}

TEST(HelperWireEscape, EscapesSeparatorsControlsPercentAndEmpty) {
  EXPECT_EQ(hw::escape("fwi0"), "fwi0");
  EXPECT_EQ(hw::escape("tcp:22 udp:53"), "tcp:22%20udp:53");
  EXPECT_EQ(hw::escape("a\nb\tc%d\x7f"), "a%0Ab%09c%25d%7F");
  EXPECT_EQ(hw::escape(std::string("x\0y", 3)), "x%00y");
  EXPECT_EQ(hw::escape(""), "%");
  EXPECT_EQ(hw::escape("é"), "é");  // bytes above 0x7f pass as they are
}

TEST(HelperWireEscape, UnescapeIsTheInverse) {
  const std::vector<std::string> fields = {
      "", "%", " ", "a b", "100%", std::string("\0\n\r\x7f ", 5), "/run/a dir/netns"};
  for (const std::string& s : fields) {
    auto back = hw::unescape(hw::escape(s));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, s);
  }
}

TEST(HelperWireEscape, RefusesBadEscapesAndRawSpecialBytes) {
  EXPECT_EQ(hw::unescape("a%2").error().message, "truncated %XX escape");
  EXPECT_EQ(hw::unescape("a%zz").error().message,
            "bad escape '%zz' (expected % and two upper-case hex digits)");
  EXPECT_EQ(hw::unescape("%0a").error().message,
            "bad escape '%0a' (expected % and two upper-case hex digits)");
  EXPECT_EQ(hw::unescape("a\tb").error().message, "byte 9 should have been escaped");
  EXPECT_EQ(hw::unescape("a%").error().code, EPROTO);
}

TEST(HelperWireRequest, RoundTrip) {
  const hw::Request r{42,
                      "firmwared:0123456789abcdef",
                      {"filter", "--table", "firmwared_x", "--access", "tcp:22 udp:53"}};
  const std::string line = hw::format_request(r);
  EXPECT_EQ(line,
            "42 firmwared:0123456789abcdef filter --table firmwared_x --access "
            "tcp:22%20udp:53\n");
  auto back = hw::parse_request(strip_newline(line));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->id, 42u);
  EXPECT_EQ(back->owner, r.owner);
  EXPECT_EQ(back->args, r.args);
}

TEST(HelperWireRequest, NoOwnerIsAnEmptyField) {
  EXPECT_EQ(hw::format_request({1, "", {"--version"}}), "1 % --version\n");
  auto back = hw::parse_request("1 % --version");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->owner, "");
}

TEST(HelperWireRequest, MalformedLinesAreRefusedWithASentence) {
  auto msg = [](std::string_view line) {
    auto r = hw::parse_request(line);
    EXPECT_FALSE(r.ok()) << line;
    if (r.ok()) return std::string();
    EXPECT_EQ(r.error().code, EPROTO);
    return r.error().message;
  };
  EXPECT_EQ(msg(""), "empty line");
  EXPECT_EQ(msg("1 %"), "a request is 'ID OWNER ACTION [ARG...]', got 2 field(s)");
  EXPECT_EQ(msg("1  % clean"), "empty field (doubled space?)");
  EXPECT_EQ(msg("1 % clean "), "empty field (doubled space?)");
  EXPECT_EQ(msg("0 % clean"), "request id '0' is not a number from 1 to 9223372036854775807");
  EXPECT_EQ(msg("01 % clean"), "request id '01' is not a number from 1 to 9223372036854775807");
  EXPECT_EQ(msg("x % clean"), "request id 'x' is not a number from 1 to 9223372036854775807");
  EXPECT_EQ(msg("1 % clean --host-if a%G0"),
            "argument 3: bad escape '%G0' (expected % and two upper-case hex digits)");
}

TEST(HelperWireRequest, LeadingIdOfAMalformedLine) {
  EXPECT_EQ(hw::leading_id("17 % clean --x a%"), 17u);
  EXPECT_EQ(hw::leading_id("17"), 17u);
  EXPECT_EQ(hw::leading_id("garbage"), 0u);
  EXPECT_EQ(hw::leading_id(""), 0u);
}

TEST(HelperWireAnswer, RoundTrip) {
  const hw::Answer a{9, 1, "net_hook: create: interface fwi0 already exists: File exists"};
  const std::string line = hw::format_answer(a);
  EXPECT_EQ(line,
            "9 1 net_hook:%20create:%20interface%20fwi0%20already%20exists:%20File%20exists\n");
  auto back = hw::parse_answer(strip_newline(line));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->id, 9u);
  EXPECT_EQ(back->status, 1);
  EXPECT_EQ(back->output, a.output);
  EXPECT_EQ(hw::format_answer({3, 0, ""}), "3 0 %\n");
}

TEST(HelperWireAnswer, MalformedAnswersAreRefused) {
  EXPECT_EQ(hw::parse_answer("1 0").error().message,
            "an answer is 'ID STATUS OUTPUT', got 2 field(s)");
  EXPECT_EQ(hw::parse_answer("1 0 % x").error().message,
            "an answer is 'ID STATUS OUTPUT', got 4 field(s)");
  EXPECT_EQ(hw::parse_answer("1 256 %").error().message,
            "exit status '256' is not a number from 0 to 255");
  EXPECT_EQ(hw::parse_answer("1 -1 %").error().message,
            "exit status '-1' is not a number from 0 to 255");
  EXPECT_EQ(hw::parse_answer("1 0 a%").error().message, "the output: truncated %XX escape");
  // Id 0 is the helper's answer to a line it could not read an id from.
  EXPECT_TRUE(hw::parse_answer("0 2 %").ok());
}

TEST(HelperWireBanner, OnlyThisProtocolVersion) {
  EXPECT_TRUE(hw::is_banner("net_hook serve 1 0.1.0"));
  EXPECT_TRUE(hw::is_banner("net_hook serve 1"));
  EXPECT_FALSE(hw::is_banner("net_hook serve 12 0.1.0"));
  EXPECT_FALSE(hw::is_banner("net_hook serve 2 0.1.0"));
  EXPECT_FALSE(hw::is_banner("usage: net_hook create ..."));
  EXPECT_FALSE(hw::is_banner(""));
}

}  // namespace
