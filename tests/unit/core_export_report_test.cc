// The report line firmwared-archive writes for the daemon (core/export_report.h).
#include "firmwared/core/export_report.h"

#include <gtest/gtest.h>

namespace fw::core {
namespace {

TEST(ExportReport, CountsRoundTrip) {
  ExportStat s{12, 3, 1, 10240};
  const std::string line = format_export_report(s);
  EXPECT_EQ(line, "ok 12 3 1 10240\n");
  auto back = parse_export_report(line);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->entries, 12u);
  EXPECT_EQ(back->whiteouts, 3u);
  EXPECT_EQ(back->skipped, 1u);
  EXPECT_EQ(back->bytes, 10240u);
  EXPECT_TRUE(parse_export_report("ok 0 0 0 18446744073709551615\n").ok());
}

TEST(ExportReport, ErrorsKeepTheirErrnoAndSentence) {
  const std::string line =
      format_export_report(make_error(ENOSPC, "writing the data of 'a b%\n': No space"));
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line, whatever the message holds
  auto back = parse_export_report(line);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().code, ENOSPC);
  EXPECT_EQ(back.error().message, "writing the data of 'a b%\n': No space");
  // An errno the wire cannot carry becomes EIO.
  auto odd = parse_export_report(format_export_report(make_error(0, "no errno")));
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.error().code, EIO);
  EXPECT_EQ(odd.error().message, "no errno");
}

TEST(ExportReport, MalformedReportsAreEprotoNamingTheText) {
  for (const char* bad : {"", "ok 1 2 3 4", "ok 1 2 3\n", "ok 1 2 3 4 5\n", "ok 1 2 x 4\n",
                          "ok -1 2 3 4\n", "ok 01 2 3 4\n", "ok 1 2 3 18446744073709551616\n",
                          "ok  1 2 3\n", "error 0 x\n", "error 4096 x\n", "error 5\n",
                          "error 5 a b\n", "error 5 %zz\n", "fine\n", "ok 1 2 3 4\nok 1 2 3 4\n"}) {
    auto r = parse_export_report(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, EPROTO) << bad;
    EXPECT_NE(r.error().message.find("archive helper's report"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace fw::core
