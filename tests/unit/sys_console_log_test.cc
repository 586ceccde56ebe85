// The console log and its line index (sys/console_log.h): the record format, the writer's
// records and rotation, the reader's paging across the two generations, and the time
// parsing of fwctl logs --since.

#include "firmwared/sys/console_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fw::sys {
namespace {

constexpr int64_t kT0 = 1796444953000000000;  // 2026-12-05T04:29:13Z

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/console_log_test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
    fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  ~TempDir() {
    ::close(fd_);
    std::filesystem::remove_all(path_);
  }
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  std::string read(const std::string& name) const {
    std::ifstream in(path_ + "/" + name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  bool exists(const std::string& name) const { return std::filesystem::exists(path_ + "/" + name); }

 private:
  std::string path_;
  int fd_ = -1;
};

// Everything the reader gives from `offset` on, paging as fwctl does.
struct History {
  std::string data;
  std::vector<LineRecord> lines;
  bool truncated = false;
  uint64_t first = 0;
};
History read_all(const std::string& dir, uint64_t offset = 0) {
  History h;
  for (int i = 0; i < 100000; ++i) {
    auto c = read_console_log(dir, offset);
    EXPECT_TRUE(c.ok());
    if (!c.ok()) break;
    if (i == 0) {
      h.truncated = c->truncated;
      h.first = c->first;
    }
    EXPECT_EQ(c->start + c->data.size(), c->offset);
    h.data += c->data;
    h.lines.insert(h.lines.end(), c->lines.begin(), c->lines.end());
    if (c->data.empty()) break;
    offset = c->offset;
  }
  return h;
}

std::string numbered_lines(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += "line " + std::to_string(i) + "\r\n";
  return s;
}

TEST(ConsoleLogFormat, RecordRoundTripKeepsTheSeparatorBitApartFromTheRun) {
  const LineRecord r{123456, kT0 + 789, 7, true};
  const std::string b = encode_record(r);
  ASSERT_EQ(b.size(), kIndexRecordBytes);
  EXPECT_EQ(decode_record(b), r);
  const LineRecord plain{0, -1, 0x7FFFFFFF, false};
  EXPECT_EQ(decode_record(encode_record(plain)), plain);
}

TEST(ConsoleLogFormat, HeaderRoundTripAndForeignBytesRefused) {
  uint64_t ino = 0, base = 0;
  const std::string h = encode_index_header(42, uint64_t{1} << 40);
  ASSERT_EQ(h.size(), kIndexHeaderBytes);
  ASSERT_TRUE(decode_index_header(h, &ino, &base));
  EXPECT_EQ(ino, 42u);
  EXPECT_EQ(base, uint64_t{1} << 40);
  EXPECT_FALSE(decode_index_header(std::string(24, 'x'), &ino, &base));
  EXPECT_FALSE(decode_index_header("FWCLIDX1", &ino, &base));
}

TEST(ConsoleLogTime, FormatsUtcWithAndWithoutNanoseconds) {
  EXPECT_EQ(format_utc(kT0 + 5, true), "2026-12-05T04:29:13.000000005Z");
  EXPECT_EQ(format_utc(kT0 + 999999999, false), "2026-12-05T04:29:13Z");
  EXPECT_EQ(format_utc(0, false), "1970-01-01T00:00:00Z");
  EXPECT_EQ(run_separator(3, kT0), "-- run 3 started 2026-12-05T04:29:13Z --\n");
}

TEST(ConsoleLogTime, SinceTakesIsoTimes) {
  EXPECT_EQ(*parse_since("2026-12-05T04:29:13Z", 0), kT0);
  EXPECT_EQ(*parse_since("2026-12-05T04:29:13", 0), kT0);
  EXPECT_EQ(*parse_since("2026-12-05 04:29:13Z", 0), kT0);
  EXPECT_EQ(*parse_since("2026-12-05T04:29:13.25Z", 0), kT0 + 250000000);
  EXPECT_EQ(*parse_since("2026-12-05T04:29Z", 0), kT0 - 13000000000);
  EXPECT_EQ(*parse_since("2026-12-05", 0), kT0 - (4 * 3600 + 29 * 60 + 13) * 1000000000LL);
  // The round trip of what --timestamps prints.
  EXPECT_EQ(*parse_since(format_utc(kT0 + 123456789, true), 0), kT0 + 123456789);
}

TEST(ConsoleLogTime, SinceTakesDurationsBeforeNow) {
  const int64_t now = kT0;
  EXPECT_EQ(*parse_since("30s", now), now - 30000000000);
  EXPECT_EQ(*parse_since("10m", now), now - 600000000000);
  EXPECT_EQ(*parse_since("2h", now), now - 7200000000000);
  EXPECT_EQ(*parse_since("1d", now), now - 86400000000000);
  EXPECT_EQ(*parse_since("1h30m", now), now - 5400000000000);
  EXPECT_EQ(*parse_since("90", now), now - 90000000000);
  EXPECT_EQ(*parse_since("0s", now), now);
}

TEST(ConsoleLogTime, SinceRefusesWhatIsNeitherAndNamesIt) {
  for (const char* bad :
       {"", "soon", "10x", "m", "-5m", "1h30", "2026-13-05", "2026-12-05T25:00",
        "2026-12-05T04:29:13+01:00", "2026-12-05T04:29:13.Z", "99999999999999999999s"}) {
    auto r = parse_since(bad, kT0);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, EINVAL) << bad;
    EXPECT_NE(r.error().message.find("'" + std::string(bad) + "'"), std::string::npos) << bad;
  }
}

TEST(ConsoleLogWriter, RefusesASizeOfZeroOrAboveTheLimit) {
  TempDir d;
  EXPECT_EQ(ConsoleLogWriter::open(d.fd(), 0).error().code, EINVAL);
  EXPECT_EQ(ConsoleLogWriter::open(d.fd(), kConsoleLogMaxLimit + 1).error().code, EINVAL);
}

TEST(ConsoleLogWriter, RecordsOneRecordPerLineStartWithTheTimeOfItsWrite) {
  TempDir d;
  auto w = ConsoleLogWriter::open(d.fd(), 1 << 20);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->start_run(kT0), 1u);
  const std::string sep = run_separator(1, kT0);
  w->write("ab\ncd", 5, kT0 + 1);
  w->write("e\n\nf", 4, kT0 + 2);  // "cde" was begun at +1; "" and "f" start at +2
  EXPECT_EQ(d.read("console.log"), sep + "ab\ncde\n\nf");
  auto h = read_all(d.path());
  EXPECT_EQ(h.data, sep + "ab\ncde\n\nf");
  const uint64_t s = sep.size();
  const std::vector<LineRecord> want = {{0, kT0, 1, true},
                                        {s, kT0 + 1, 1, false},
                                        {s + 3, kT0 + 1, 1, false},
                                        {s + 7, kT0 + 2, 1, false},
                                        {s + 8, kT0 + 2, 1, false}};
  EXPECT_EQ(h.lines, want);
}

TEST(ConsoleLogWriter, ANewRunEndsAnUnfinishedLineAndCountsOn) {
  TempDir d;
  {
    auto w = ConsoleLogWriter::open(d.fd(), 1 << 20);
    w->start_run(kT0);
    w->write("no newline", 10, kT0);
  }
  auto w = ConsoleLogWriter::open(d.fd(), 1 << 20);  // the next start's monitor
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->start_run(kT0 + 5), 2u);
  EXPECT_EQ(d.read("console.log"),
            run_separator(1, kT0) + "no newline\n" + run_separator(2, kT0 + 5));
  auto h = read_all(d.path());
  ASSERT_EQ(h.lines.size(), 3u);
  EXPECT_TRUE(h.lines[2].separator);
  EXPECT_EQ(h.lines[2].run, 2u);
}

TEST(ConsoleLogWriter, AGivenLogWithoutIndexIsKeptAndIndexedFromThere) {
  TempDir d;
  std::ofstream(d.path() + "/console.log") << "old line\n";
  auto w = ConsoleLogWriter::open(d.fd(), 1 << 20);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->start_run(kT0), 1u);
  auto h = read_all(d.path());
  EXPECT_EQ(h.data, "old line\n" + run_separator(1, kT0));
  ASSERT_EQ(h.lines.size(), 1u);
  EXPECT_EQ(h.lines[0].offset, 9u);
}

TEST(ConsoleLogWriter, RotatesAtALineEndAndTheReaderReadsAcrossInOrder) {
  TempDir d;
  auto w = ConsoleLogWriter::open(d.fd(), 4096);
  ASSERT_TRUE(w.ok());
  w->start_run(kT0);
  const std::string text = numbered_lines(1, 600);  // ~6.5 KB: one rotation
  for (size_t at = 0; at < text.size(); at += 100) {
    const std::string piece = text.substr(at, 100);  // pieces cut lines anywhere
    w->write(piece.data(), piece.size(), kT0 + static_cast<int64_t>(at));
  }
  ASSERT_TRUE(d.exists("console.log.1"));
  ASSERT_TRUE(d.exists("console.log.1.idx"));
  const std::string old = d.read("console.log.1");
  EXPECT_EQ(old.back(), '\n');  // rotated after a newline
  EXPECT_GE(old.size(), 4096u);
  auto h = read_all(d.path());
  EXPECT_FALSE(h.truncated);
  EXPECT_EQ(h.data, run_separator(1, kT0) + text);
  ASSERT_EQ(h.lines.size(), 601u);
  for (size_t i = 1; i < h.lines.size(); ++i) {
    EXPECT_EQ(h.data.compare(h.lines[i].offset, 5, "line "), 0) << i;
    EXPECT_LE(h.lines[i - 1].time_ns, h.lines[i].time_ns);
  }
}

TEST(ConsoleLogWriter, KeepsTwoGenerationsAndTheReaderSaysWhatIsGone) {
  TempDir d;
  auto w = ConsoleLogWriter::open(d.fd(), 4096);
  w->start_run(kT0);
  const std::string text = numbered_lines(1, 3000);  // ~35 KB: many rotations
  w->write(text.data(), text.size(), kT0);
  EXPECT_FALSE(d.exists("console.log.2"));
  struct stat a {
  }, b{};
  ASSERT_EQ(::stat((d.path() + "/console.log").c_str(), &a), 0);
  ASSERT_EQ(::stat((d.path() + "/console.log.1").c_str(), &b), 0);
  EXPECT_LT(a.st_size + b.st_size, 2 * 4096 + 64);
  ASSERT_EQ(::stat((d.path() + "/console.log.idx").c_str(), &a), 0);
  ASSERT_EQ(::stat((d.path() + "/console.log.1.idx").c_str(), &b), 0);
  EXPECT_LT(a.st_size + b.st_size, 2 * 2 * 4096 + 64);
  auto h = read_all(d.path());
  EXPECT_TRUE(h.truncated);
  EXPECT_GT(h.first, 0u);
  // What is kept is the end of the history, from a line start.
  EXPECT_EQ(h.data.substr(0, 5), "line ");
  EXPECT_EQ(text.substr(text.size() - h.data.size()), h.data);
  EXPECT_EQ(h.lines.front().offset, h.first);
}

TEST(ConsoleLogWriter, ALineLongerThanTwiceTheThresholdIsCutThere) {
  TempDir d;
  auto w = ConsoleLogWriter::open(d.fd(), 4096);
  w->start_run(kT0);
  const std::string big(10000, 'x');
  w->write(big.data(), big.size(), kT0);
  struct stat st {};
  ASSERT_EQ(::stat((d.path() + "/console.log.1").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 2 * 4096);
  auto h = read_all(d.path());
  EXPECT_FALSE(h.truncated);
  EXPECT_EQ(h.data, run_separator(1, kT0) + big);
}

TEST(ConsoleLogReader, ChunksEndAfterANewlineAndHoldAtMostTheLineCap) {
  TempDir d;
  auto w = ConsoleLogWriter::open(d.fd(), 1 << 20);
  w->start_run(kT0);
  const std::string text = numbered_lines(1, 20000);  // ~230 KB
  w->write(text.data(), text.size(), kT0);
  auto c = read_console_log(d.path(), 0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data.back(), '\n');
  EXPECT_LE(c->data.size(), kChunkBytes);
  EXPECT_LE(c->lines.size(), kChunkLines);
  auto h = read_all(d.path());
  EXPECT_EQ(h.data, run_separator(1, kT0) + text);
  EXPECT_EQ(h.lines.size(), 20001u);
  // Lines of one byte: the line cap ends the chunk.
  TempDir e;
  auto v = ConsoleLogWriter::open(e.fd(), 1 << 20);
  const std::string empties(10000, '\n');
  v->write(empties.data(), empties.size(), kT0);
  auto c2 = read_console_log(e.path(), 0);
  EXPECT_EQ(c2->lines.size(), kChunkLines);
  EXPECT_EQ(c2->data.size(), kChunkLines);
}

TEST(ConsoleLogReader, WithoutOffsetTheTailFromALineStartEndingAtTheEnd) {
  TempDir d;
  auto w = ConsoleLogWriter::open(d.fd(), 1 << 20);
  w->start_run(kT0);
  const std::string text = numbered_lines(1, 20000);
  w->write(text.data(), text.size(), kT0);
  auto c = read_console_log(d.path(), std::nullopt);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->offset, c->end);
  EXPECT_EQ(c->data.substr(0, 5), "line ");
  EXPECT_EQ(c->lines.front().offset, c->start);
  EXPECT_EQ(text.substr(text.size() - c->data.size()), c->data);
}

TEST(ConsoleLogReader, PastTheEndIsRotatedAndAMissingLogIsEmpty) {
  TempDir d;
  auto empty = read_console_log(d.path(), 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->data.empty());
  EXPECT_EQ(empty->offset, 0u);
  auto w = ConsoleLogWriter::open(d.fd(), 1 << 20);
  w->write("abc\n", 4, kT0);
  auto c = read_console_log(d.path(), 100);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->rotated);
  EXPECT_EQ(c->data, "abc\n");
}

TEST(ConsoleLogReader, AnIndexWithoutItsLogIsReadAsItIsAfterAFewAttempts) {
  TempDir d;
  auto w = ConsoleLogWriter::open(d.fd(), 1 << 20);
  w->write("abc\n", 4, kT0);
  ASSERT_EQ(::unlink((d.path() + "/console.log").c_str()), 0);  // removed by hand
  auto c = read_console_log(d.path(), 0);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->data.empty());
}

TEST(ConsoleLogReader, AnIndexOfAnotherLogIsNotBelieved) {
  TempDir d;
  auto w = ConsoleLogWriter::open(d.fd(), 1 << 20);
  w->write("abc\n", 4, kT0);
  // The log replaced behind the index's back: its inode differs, its lines get no times.
  std::filesystem::copy_file(d.path() + "/console.log", d.path() + "/copy");
  std::filesystem::rename(d.path() + "/copy", d.path() + "/console.log");
  auto c = read_console_log(d.path(), 0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data, "abc\n");
  EXPECT_TRUE(c->lines.empty());
}

}  // namespace
}  // namespace fw::sys
