#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "firmwared/base/defer.h"
#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/base/strings.h"

namespace fw {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return make_error(EINVAL, "value " + std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> quarter(int x) {
  FW_ASSIGN_OR_RETURN(int h, half(x));
  FW_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

Status check_even(int x) {
  FW_TRY_CTX(half(x), "checking " + std::to_string(x));
  return {};
}

TEST(Result, PropagatesErrorsWithErrnoAndContext) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_EQ(r.error().message, "value 3 is odd");
  EXPECT_EQ(r.error().name(), "EINVAL");
  auto s = check_even(5);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "checking 5: value 5 is odd");
}

TEST(Result, ErrnoErrorNamesTheStep) {
  errno = ENOENT;
  Error e = errno_error("opening '/nope'");
  EXPECT_EQ(e.code, ENOENT);
  EXPECT_EQ(e.message, "opening '/nope': No such file or directory");
}

TEST(Fd, ClosesOnDestructionAndMoves) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    Fd a(raw);
    Fd b(std::move(a));
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), raw);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(Defer, RunsAtScopeExit) {
  int n = 0;
  {
    DEFER { ++n; };
    EXPECT_EQ(n, 0);
  }
  EXPECT_EQ(n, 1);
}

TEST(Strings, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x9a\x81"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

TEST(Strings, CaseAndJoin) {
  EXPECT_EQ(to_upper("ping"), "PING");
  EXPECT_EQ(to_lower("PiNg"), "ping");
  EXPECT_EQ(join({"a", "b", "c"}, " "), "a b c");
  EXPECT_EQ(join({}, " "), "");
}

TEST(Strings, ToHexWritesTwoLowercaseDigitsPerByte) {
  const unsigned char bytes[] = {0x00, 0x0f, 0xa9, 0xff};
  EXPECT_EQ(to_hex(bytes, sizeof bytes), "000fa9ff");
  EXPECT_EQ(to_hex(bytes, 0), "");
}

TEST(Strings, PrintableEscapesWhatAMessageCannotCarry) {
  EXPECT_EQ(printable("plain", 80), "plain");
  EXPECT_EQ(printable("caf\xc3\xa9", 80), "caf\xc3\xa9");
  EXPECT_EQ(printable("a\tb\n\x7f", 80), "a\\x09b\\x0a\\x7f");
  EXPECT_EQ(printable("caf\xc3", 80), "caf\\xc3");
  EXPECT_EQ(printable(std::string(81, 'x'), 80), std::string(80, 'x') + "...");
  EXPECT_EQ(printable(std::string(80, 'x'), 80), std::string(80, 'x'));
  // The cut backs off to a character boundary instead of splitting "é".
  EXPECT_EQ(printable("abc\xc3\xa9z", 4), "abc...");
  EXPECT_EQ(printable("abcdef", 3), "abc...");
}

TEST(Strings, QuoteCutsClientTextTo64Bytes) {
  EXPECT_EQ(quote("brave_turing"), "'brave_turing'");
  EXPECT_EQ(quote(""), "''");
  EXPECT_EQ(quote(std::string(64, 'a')), "'" + std::string(64, 'a') + "'");
  EXPECT_EQ(quote(std::string(500 * 1024, 'a')), "'" + std::string(64, 'a') + "...'");
  EXPECT_EQ(quote("a\nb"), "'a\\x0ab'");
}

TEST(Strings, QuotePathKeepsAnyRealPathWholeAndCutsTheRest) {
  const std::string long_path = "/" + std::string(4095, 'p');  // PATH_MAX bytes
  EXPECT_EQ(quote_path(long_path), "'" + long_path + "'");
  EXPECT_EQ(quote_path(long_path + "x"), "'" + long_path.substr(0, 64) + "...'");
  EXPECT_EQ(quote_path(std::string(500 * 1024, 'a')), "'" + std::string(64, 'a') + "...'");
  EXPECT_EQ(quote_path("/tmp/a\tb"), "'/tmp/a\\x09b'");
}

}  // namespace
}  // namespace fw
