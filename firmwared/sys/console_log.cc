#include "firmwared/sys/console_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace fw::sys {

namespace {

constexpr char kMagic[] = "FWCLIDX1";

void put64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t get(std::string_view b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  }
  return v;
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the UTF-8 sequence that `c` starts (0: `c` starts none).
size_t sequence_length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 0;
}

// Bytes at the end of `s` that begin a UTF-8 sequence `s` does not complete.
size_t incomplete_tail(std::string_view s) {
  for (size_t back = 1; back <= 4 && back <= s.size(); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if (is_continuation(c)) continue;
    return sequence_length(c) > back ? back : 0;
  }
  return 0;
}

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t w = ::write(fd, s.data(), s.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // ENOSPC and friends: the console flows on without its log
    s.remove_prefix(static_cast<size_t>(w));
  }
}

Result<std::string> pread_exact(int fd, uint64_t at, size_t n, const std::string& path) {
  std::string buf(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf.data() + got, n - got, static_cast<off_t>(at + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error("reading '" + path + "'");
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  buf.resize(got);
  return buf;
}

// One log file and its index as a reader sees them.
struct Generation {
  enum class State { kNone, kIndexed, kLegacy, kBroken } state = State::kNone;
  Fd log, index;
  std::string path, index_path;
  uint64_t size = 0, base = 0, records = 0;
  bool present() const { return state == State::kIndexed || state == State::kLegacy; }
  uint64_t end() const { return base + size; }
};

Result<Generation> open_generation(const std::string& dir, const char* log, const char* index) {
  Generation g;
  g.path = dir + "/" + log;
  g.index_path = dir + "/" + index;
  g.log.reset(::open(g.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!g.log && errno != ENOENT) return errno_error("opening '" + g.path + "'");
  g.index.reset(::open(g.index_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!g.index && errno != ENOENT) return errno_error("opening '" + g.index_path + "'");
  if (!g.log) {
    g.state = g.index ? Generation::State::kBroken : Generation::State::kNone;
    return g;
  }
  struct stat st {};
  if (::fstat(g.log.get(), &st) != 0) return errno_error("fstat '" + g.path + "'");
  g.size = static_cast<uint64_t>(st.st_size);
  if (!g.index) {
    g.state = Generation::State::kLegacy;
    return g;
  }
  struct stat ist {};
  if (::fstat(g.index.get(), &ist) != 0) return errno_error("fstat '" + g.index_path + "'");
  FW_ASSIGN_OR_RETURN(std::string header,
                      pread_exact(g.index.get(), 0, kIndexHeaderBytes, g.index_path));
  uint64_t inode = 0;
  if (header.size() != kIndexHeaderBytes || !decode_index_header(header, &inode, &g.base) ||
      inode != static_cast<uint64_t>(st.st_ino)) {
    g.state = Generation::State::kBroken;  // a rotation half done, or foreign
    return g;
  }
  g.records = (static_cast<uint64_t>(ist.st_size) - kIndexHeaderBytes) / kIndexRecordBytes;
  g.state = Generation::State::kIndexed;
  return g;
}

// Both generations as one consistent moment of the monitor's rotation: retried while a
// rotation is seen half done (its renames and creations are separate syscalls, done within
// microseconds). A state that stays inconsistent (a log removed by hand) is read as it is
// after kHistoryAttempts ms, which the daemon's loop can afford.
constexpr int kHistoryAttempts = 20;
Result<std::pair<Generation, Generation>> open_history(const std::string& dir) {
  using S = Generation::State;
  for (int attempt = 0;; ++attempt) {
    FW_ASSIGN_OR_RETURN(Generation old, open_generation(dir, kConsoleLogOld, kConsoleIndexOld));
    FW_ASSIGN_OR_RETURN(Generation cur, open_generation(dir, kConsoleLog, kConsoleIndex));
    bool ok = old.state != S::kBroken && cur.state != S::kBroken &&
              !(old.state == S::kIndexed && cur.state == S::kLegacy);
    if (ok && old.state == S::kIndexed && cur.state == S::kIndexed) ok = cur.base == old.end();
    if (ok || attempt >= kHistoryAttempts) {
      // Still inconsistent: a log whose index is not its own reads without line times.
      for (Generation* g : {&old, &cur}) {
        if (g->state == S::kBroken && g->log) g->state = S::kLegacy;
      }
      // Logs written before the index existed: the old file precedes the current one.
      if (cur.state != S::kIndexed) cur.base = old.present() ? old.end() : 0;
      if (old.state != S::kIndexed) old.base = cur.base >= old.size ? cur.base - old.size : 0;
      return std::make_pair(std::move(old), std::move(cur));
    }
    const timespec pause{0, 1000000};
    ::nanosleep(&pause, nullptr);
  }
}

// The records of `g` whose file offsets lie in [from, to), at most `limit`, absolute.
Result<std::vector<LineRecord>> records_between(const Generation& g, uint64_t from, uint64_t to,
                                                size_t limit) {
  std::vector<LineRecord> out;
  if (g.state != Generation::State::kIndexed || g.records == 0) return out;
  auto offset_at = [&](uint64_t i) -> Result<uint64_t> {
    FW_ASSIGN_OR_RETURN(std::string b,
                        pread_exact(g.index.get(), kIndexHeaderBytes + i * kIndexRecordBytes,
                                    kIndexRecordBytes, g.index_path));
    if (b.size() != kIndexRecordBytes) return uint64_t{UINT64_MAX};
    return decode_record(b).offset;
  };
  uint64_t lo = 0, hi = g.records;  // first record with offset >= from
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    FW_ASSIGN_OR_RETURN(uint64_t o, offset_at(mid));
    if (o < from) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const uint64_t n = std::min<uint64_t>(g.records - lo, limit);
  FW_ASSIGN_OR_RETURN(std::string b,
                      pread_exact(g.index.get(), kIndexHeaderBytes + lo * kIndexRecordBytes,
                                  n * kIndexRecordBytes, g.index_path));
  for (size_t at = 0; at + kIndexRecordBytes <= b.size(); at += kIndexRecordBytes) {
    LineRecord r = decode_record(std::string_view(b).substr(at, kIndexRecordBytes));
    if (r.offset >= to) break;
    r.offset += g.base;
    out.push_back(r);
  }
  return out;
}

bool parse_digits(std::string_view s, size_t n, int* out) {
  if (s.size() < n) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// "2026-12-05", "2026-12-05T04:12", "2026-12-05 04:12:33.5Z": UTC, nanoseconds.
std::optional<int64_t> parse_iso(std::string_view s) {
  tm t{};
  int year = 0, month = 0, day = 0;
  if (!parse_digits(s, 4, &year) || s.size() < 10 || s[4] != '-' ||
      !parse_digits(s.substr(5), 2, &month) || s[7] != '-' || !parse_digits(s.substr(8), 2, &day))
    return std::nullopt;
  s.remove_prefix(10);
  int hour = 0, minute = 0, second = 0;
  int64_t frac = 0;
  if (!s.empty() && (s[0] == 'T' || s[0] == ' ')) {
    if (!parse_digits(s.substr(1), 2, &hour) || s.size() < 6 || s[3] != ':' ||
        !parse_digits(s.substr(4), 2, &minute))
      return std::nullopt;
    s.remove_prefix(6);
    if (!s.empty() && s[0] == ':') {
      if (!parse_digits(s.substr(1), 2, &second)) return std::nullopt;
      s.remove_prefix(3);
      if (!s.empty() && s[0] == '.') {
        size_t i = 1;
        int64_t scale = 100000000;
        for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, scale /= 10) {
          frac += (s[i] - '0') * scale;
        }
        if (i == 1) return std::nullopt;
        s.remove_prefix(i);
      }
    }
  }
  if (s == "Z") s.remove_prefix(1);
  if (!s.empty() || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60)
    return std::nullopt;
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  t.tm_mday = day;
  t.tm_hour = hour;
  t.tm_min = minute;
  t.tm_sec = second;
  const time_t secs = ::timegm(&t);
  return static_cast<int64_t>(secs) * 1000000000 + frac;
}

// "30s", "10m", "2h", "1d", "1h30m", "90": nanoseconds.
std::optional<int64_t> parse_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t total = 0;
  while (!s.empty()) {
    int64_t n = 0;
    size_t i = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (n > 100000000) return std::nullopt;  // beyond any log's age: refuse, not wrap
      n = n * 10 + (s[i] - '0');
    }
    if (i == 0) return std::nullopt;
    int64_t unit = 1;
    if (i < s.size()) {
      switch (s[i]) {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        default:
          return std::nullopt;
      }
      ++i;
    } else if (total != 0) {
      return std::nullopt;  // "1h30": a unit is needed after the first
    }
    total += n * unit;
    s.remove_prefix(i);
  }
  return total * 1000000000;
}

}  // namespace

std::string encode_index_header(uint64_t inode, uint64_t base) {
  std::string out(kMagic, 8);
  put64(out, inode);
  put64(out, base);
  return out;
}

bool decode_index_header(std::string_view b, uint64_t* inode, uint64_t* base) {
  if (b.size() < kIndexHeaderBytes || b.substr(0, 8) != std::string_view(kMagic, 8)) return false;
  *inode = get(b, 8, 8);
  *base = get(b, 16, 8);
  return true;
}

std::string encode_record(const LineRecord& r) {
  std::string out;
  put32(out, static_cast<uint32_t>(r.offset));
  put32(out, (r.run & ~kSeparatorBit) | (r.separator ? kSeparatorBit : 0));
  put64(out, static_cast<uint64_t>(r.time_ns));
  return out;
}

LineRecord decode_record(std::string_view b) {
  LineRecord r;
  r.offset = get(b, 0, 4);
  const auto run = static_cast<uint32_t>(get(b, 4, 4));
  r.run = run & ~kSeparatorBit;
  r.separator = (run & kSeparatorBit) != 0;
  r.time_ns = static_cast<int64_t>(get(b, 8, 8));
  return r;
}

std::string format_utc(int64_t time_ns, bool nanos) {
  int64_t secs = time_ns / 1000000000, ns = time_ns % 1000000000;
  if (ns < 0) {
    ns += 1000000000;
    --secs;
  }
  const auto t = static_cast<time_t>(secs);
  tm parts{};
  ::gmtime_r(&t, &parts);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &parts);
  std::string out(buf, n);
  if (nanos) {
    std::snprintf(buf, sizeof(buf), ".%09lld", static_cast<long long>(ns));
    out += buf;
  }
  return out + "Z";
}

Result<int64_t> parse_since(std::string_view text, int64_t now_ns) {
  if (auto t = parse_iso(text)) return *t;
  if (auto d = parse_duration(text)) return now_ns - *d;
  return make_error(EINVAL, "'" + std::string(text) +
                                "' is not a time: give an ISO 8601 UTC time like "
                                "2026-12-05T04:12:33Z or a duration like 30s, 10m, 2h, 1d");
}

std::string run_separator(uint32_t run, int64_t time_ns) {
  return "-- run " + std::to_string(run) + " started " + format_utc(time_ns, false) + " --\n";
}

Result<ConsoleLogWriter> ConsoleLogWriter::open(int dir_fd, uint64_t max) {
  if (max == 0 || max > kConsoleLogMaxLimit) {
    return make_error(EINVAL, "console log size " + std::to_string(max) + " is not within 1.." +
                                  std::to_string(kConsoleLogMaxLimit));
  }
  ConsoleLogWriter w;
  w.dir_fd_ = dir_fd;
  w.max_ = max;
  w.log_.reset(
      ::openat(dir_fd, kConsoleLog, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!w.log_) return errno_error("opening console.log");
  struct stat st {};
  if (::fstat(w.log_.get(), &st) != 0) return errno_error("fstat console.log");
  w.size_ = static_cast<uint64_t>(st.st_size);
  if (w.size_ > 0) {
    char last = '\n';
    if (::pread(w.log_.get(), &last, 1, static_cast<off_t>(w.size_ - 1)) == 1) {
      w.at_line_start_ = last == '\n';
    }
  }
  // The run number and base come from the indexes (the old one when the current has no
  // record yet); a log without an index (written before indexes existed) gets one.
  auto last_run = [&](int fd, uint64_t ino, uint64_t* base) -> std::optional<uint32_t> {
    struct stat ist {};
    char header[kIndexHeaderBytes];
    uint64_t inode = 0;
    if (fd < 0 || ::fstat(fd, &ist) != 0 ||
        ::pread(fd, header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header)) ||
        !decode_index_header(std::string_view(header, sizeof(header)), &inode, base) ||
        (ino != 0 && inode != ino)) {
      return std::nullopt;
    }
    const uint64_t n = (static_cast<uint64_t>(ist.st_size) - kIndexHeaderBytes) / kIndexRecordBytes;
    char rec[kIndexRecordBytes];
    if (n == 0) return 0;
    if (::pread(fd, rec, sizeof(rec),
                static_cast<off_t>(kIndexHeaderBytes + (n - 1) * kIndexRecordBytes)) !=
        static_cast<ssize_t>(sizeof(rec))) {
      return 0;
    }
    return decode_record(std::string_view(rec, sizeof(rec))).run;
  };
  Fd old_index(::openat(dir_fd, kConsoleIndexOld, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  Fd old_log(::openat(dir_fd, kConsoleLogOld, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat ost {};
  const bool has_old = old_log && ::fstat(old_log.get(), &ost) == 0;
  uint64_t old_base = 0;
  const auto old_run = has_old
                           ? last_run(old_index.get(), static_cast<uint64_t>(ost.st_ino), &old_base)
                           : std::nullopt;
  w.index_.reset(::openat(dir_fd, kConsoleIndex, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
  auto run = last_run(w.index_.get(), static_cast<uint64_t>(st.st_ino), &w.base_);
  if (!run) {
    w.base_ = has_old ? (old_run ? old_base : 0) + static_cast<uint64_t>(ost.st_size) : 0;
    w.index_.reset(::openat(dir_fd, kConsoleIndex,
                            O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (!w.index_) return errno_error("opening console.log.idx");
    w.write_header();
    run = 0;
  }
  struct stat ist {};
  if (::fstat(w.index_.get(), &ist) == 0) w.index_size_ = static_cast<uint64_t>(ist.st_size);
  w.run_ = *run != 0 ? *run : old_run.value_or(0);
  return w;
}

void ConsoleLogWriter::write_header() {
  struct stat st {};
  if (!log_ || ::fstat(log_.get(), &st) != 0 || !index_) return;
  write_all(index_.get(), encode_index_header(static_cast<uint64_t>(st.st_ino), base_));
  index_size_ = kIndexHeaderBytes;
}

uint32_t ConsoleLogWriter::start_run(int64_t time_ns) {
  if (!at_line_start_) append("\n", 1, time_ns, false);
  ++run_;
  const std::string line = run_separator(run_, time_ns);
  append(line.data(), line.size(), time_ns, true);
  return run_;
}

void ConsoleLogWriter::rotate() {
  // Renamed, then recreated log first: a reader finding the index missing or naming another
  // inode knows a rotation is under way (read_console_log looks again).
  ::renameat(dir_fd_, kConsoleLog, dir_fd_, kConsoleLogOld);
  ::renameat(dir_fd_, kConsoleIndex, dir_fd_, kConsoleIndexOld);
  base_ += size_;
  size_ = 0;
  log_.reset(::openat(dir_fd_, kConsoleLog,
                      O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  index_.reset(::openat(dir_fd_, kConsoleIndex,
                        O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  write_header();
}

void ConsoleLogWriter::append(const char* data, size_t n, int64_t time_ns, bool separator) {
  while (n > 0) {
    // Rotate at a line's end once past max_ (or the index past twice max_: lines of fewer
    // than 8 bytes), within a line only at twice max_.
    if ((at_line_start_ && (size_ >= max_ || index_size_ >= 2 * max_)) || size_ >= 2 * max_) {
      rotate();
    }
    if (!log_) return;
    std::string records;
    uint64_t pos = size_;
    bool line_start = at_line_start_;
    size_t take = 0;
    while (take < n) {
      if (line_start) {
        if ((pos >= max_ || index_size_ + records.size() >= 2 * max_) && take > 0) break;
        records += encode_record({pos, time_ns, run_, separator});
      }
      const void* nl = std::memchr(data + take, '\n', n - take);
      size_t len = nl != nullptr
                       ? static_cast<size_t>(static_cast<const char*>(nl) - data) + 1 - take
                       : n - take;
      line_start = nl != nullptr;
      if (len > 2 * max_ - pos) {
        len = static_cast<size_t>(2 * max_ - pos);
        line_start = false;
      }
      take += len;
      pos += len;
      if (pos >= 2 * max_) break;
    }
    // The records first: a reader may see a line's record before the line, never the
    // line without its record.
    if (index_) write_all(index_.get(), records);
    index_size_ += records.size();
    write_all(log_.get(), std::string_view(data, take));
    size_ += take;
    at_line_start_ = line_start;
    data += take;
    n -= take;
  }
}

Result<ConsoleChunk> read_console_log(const std::string& dir, std::optional<uint64_t> offset) {
  FW_ASSIGN_OR_RETURN(auto history, open_history(dir));
  auto& [old, cur] = history;
  ConsoleChunk c;
  c.first = old.present() && old.size > 0 ? old.base : cur.base;
  const uint64_t end = cur.present() ? cur.end() : old.present() ? old.end() : 0;
  c.end = end;
  bool align = false;
  uint64_t start = 0;
  if (!offset) {
    // The tail, from the current file (the old one when the current is still empty).
    const Generation& g = cur.present() && cur.size > 0 ? cur : old;
    start = g.size > kChunkBytes ? g.end() - kChunkBytes : g.base;
    align = g.size > 0;
  } else if (*offset > end) {
    c.rotated = true;
    start = c.first;
  } else if (*offset < c.first) {
    c.truncated = true;
    start = c.first;
  } else {
    start = *offset;
  }
  const Generation& g = old.present() && start < old.end() ? old : cur;
  if (!g.present()) {
    c.start = c.offset = std::min(start, end);
    return c;
  }
  const uint64_t pos = start - g.base;
  const uint64_t len = std::min(kChunkBytes, g.size - pos);
  FW_ASSIGN_OR_RETURN(std::string buf, pread_exact(g.log.get(), pos, len, g.path));
  // The tail keeps its last kChunkLines lines, so that its offset is the end.
  FW_ASSIGN_OR_RETURN(
      c.lines, records_between(g, pos, pos + buf.size(), align ? SIZE_MAX : kChunkLines + 1));
  size_t skip = 0;
  if (align) {
    if (c.lines.size() > kChunkLines) c.lines.erase(c.lines.begin(), c.lines.end() - kChunkLines);
    if (!c.lines.empty()) {
      skip = static_cast<size_t>(c.lines.front().offset - start);
    } else if (start > g.base) {
      while (skip < 3 && skip < buf.size() &&
             is_continuation(static_cast<unsigned char>(buf[skip]))) {
        ++skip;
      }
    }
  }
  size_t keep = buf.size();
  if (c.lines.size() > kChunkLines) {
    keep = static_cast<size_t>(c.lines[kChunkLines].offset - start);
    c.lines.resize(kChunkLines);
  } else if (pos + buf.size() < g.size && !buf.empty() && buf.back() != '\n') {
    // Cut by the chunk size: end after the last whole line when there is one.
    const size_t nl = buf.rfind('\n');
    if (nl != std::string::npos && nl + 1 > skip) keep = nl + 1;
  }
  buf.resize(keep);
  // A sequence cut by the end of the chunk waits for the next one, unless the file is
  // complete (an old generation cut within a line at twice the threshold).
  const bool complete = &g == &old && pos + keep == g.size;
  if (!complete && (buf.empty() || buf.back() != '\n')) {
    keep -= incomplete_tail(std::string_view(buf).substr(skip));
    buf.resize(keep);
  }
  while (!c.lines.empty() && c.lines.back().offset >= start + keep) c.lines.pop_back();
  c.start = start + skip;
  c.data = buf.substr(skip);
  c.offset = start + keep;
  return c;
}

}  // namespace fw::sys
