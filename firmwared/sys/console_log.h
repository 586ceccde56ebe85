#pragma once
// An instance's console log: the raw bytes PID 1 wrote (console.log, readable with cat) and a
// sidecar index (console.log.idx) holding, for each line, where it starts and when the
// monitor read it. Both rotate together to console.log.1 / console.log.1.idx, so the disk
// use stays bounded (docs/workspace.md).
//
// Index file: a 24-byte header, then 16-byte records, all little endian (x86-64/arm64):
//   header: "FWCLIDX1" | u64 inode of the log file it indexes | u64 base
//   record: u32 offset in the log file | u32 run (bit 31: run separator) | i64 CLOCK_REALTIME ns
// `base` is the position of the file's first byte in the instance's whole console history:
// offsets handed to clients (LOGS) are base + offset, so they stay valid across rotations.
// The inode ties an index to its log: a reader that finds them mismatched caught a rotation
// half done and looks again.
//
// A separator line "-- run N started 2026-12-05T04:12:33Z --" is written to the log at each
// start (so `cat` shows it too); its record has the separator bit, so a reader tells it
// from firmware output that happens to read the same.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

inline constexpr const char* kConsoleLog = "console.log";
inline constexpr const char* kConsoleLogOld = "console.log.1";
inline constexpr const char* kConsoleIndex = "console.log.idx";
inline constexpr const char* kConsoleIndexOld = "console.log.1.idx";
inline constexpr size_t kIndexHeaderBytes = 24;
inline constexpr size_t kIndexRecordBytes = 16;
inline constexpr uint32_t kSeparatorBit = 0x80000000u;
// The rotation threshold may not exceed this (record offsets are 32-bit, files reach 2x).
inline constexpr uint64_t kConsoleLogMaxLimit = uint64_t{1} << 30;

struct LineRecord {
  uint64_t offset = 0;  // absolute (base + offset in file) once read by read_console_log
  int64_t time_ns = 0;  // CLOCK_REALTIME
  uint32_t run = 0;     // 1 for the first start of the instance
  bool separator = false;
  bool operator==(const LineRecord&) const = default;
};

std::string encode_index_header(uint64_t inode, uint64_t base);
// False when `bytes` (kIndexHeaderBytes) is not an index header.
bool decode_index_header(std::string_view bytes, uint64_t* inode, uint64_t* base);
// Offsets are relative to the file here (the record stores 32 bits).
std::string encode_record(const LineRecord& r);
LineRecord decode_record(std::string_view bytes);

// The separator line for run `run` started at `time_ns`, newline included.
std::string run_separator(uint32_t run, int64_t time_ns);

// "2026-12-05T04:12:33.123456789Z" (nanoseconds with `nanos`, else seconds).
std::string format_utc(int64_t time_ns, bool nanos);
// Parses --since: an ISO 8601 UTC time (2026-12-05T04:12:33Z, fraction and the Z optional,
// a space for the T accepted, or a date alone), or a duration before `now_ns` ("30s", "10m",
// "2h", "1d", bare digits are seconds). Errors: EINVAL naming the text.
Result<int64_t> parse_since(std::string_view text, int64_t now_ns);

// The monitor's side: appends PID 1's output to console.log and a record per line to the
// index, rotating both once console.log holds `max` bytes (or the index twice that) and a line
// ends (at 2 x `max` even within a line). Write errors are ignored: the console must flow
// regardless.
class ConsoleLogWriter {
 public:
  // Opens (creating) the log and index under `dir_fd`, which must outlive the writer.
  // EINVAL when `max` is 0 or above kConsoleLogMaxLimit; open(2) errors.
  static Result<ConsoleLogWriter> open(int dir_fd, uint64_t max);
  // Writes the separator of the next run (ending an unfinished line first); returns its number.
  uint32_t start_run(int64_t time_ns);
  void write(const char* data, size_t n, int64_t time_ns) { append(data, n, time_ns, false); }
  uint32_t run() const { return run_; }

 private:
  void append(const char* data, size_t n, int64_t time_ns, bool separator);
  void rotate();
  void write_header();

  int dir_fd_ = -1;
  uint64_t max_ = 0;
  Fd log_, index_;
  uint64_t size_ = 0;        // of console.log
  uint64_t index_size_ = 0;  // of console.log.idx
  uint64_t base_ = 0;
  bool at_line_start_ = true;
  uint32_t run_ = 0;
};

// What a reader gets: at most kChunkBytes of the history from an absolute offset.
struct ConsoleChunk {
  std::string data;
  uint64_t start = 0;             // absolute offset of data's first byte
  uint64_t offset = 0;            // where the next read continues (start + data.size())
  uint64_t first = 0;             // earliest offset still kept
  uint64_t end = 0;               // where the history ends now
  bool rotated = false;           // the requested offset was past the end: read from `first`
  bool truncated = false;         // the requested offset was rotated away: read from `first`
  std::vector<LineRecord> lines;  // records of the lines starting in data (absolute)
};

inline constexpr uint64_t kChunkBytes = 64 * 1024;
inline constexpr size_t kChunkLines = 4096;

// Reads the history kept in directory `dir` (console.log.1 then console.log) from `offset`;
// without one, the tail: the last kChunkBytes, from the first line start in them. A chunk
// never spans the two files, ends after a newline when a line ends in it (so a chunk holds
// whole lines unless one is longer than a chunk or still being written), holds at most
// kChunkLines line starts, and never ends inside a UTF-8 sequence. Missing files read as
// empty. Errors: those of open(2)/pread(2), naming the path.
Result<ConsoleChunk> read_console_log(const std::string& dir, std::optional<uint64_t> offset);

}  // namespace fw::sys
