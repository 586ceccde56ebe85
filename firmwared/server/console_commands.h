#pragma once
// CONSOLE and LOGS: attach a client to an instance's console through
// the daemon, and read the instance's console log.

#include <cstdint>
#include <optional>
#include <string>

#include "firmwared/base/result.h"
#include "firmwared/core/instances.h"
#include "firmwared/server/dispatcher.h"

namespace fw::server {

// Most bytes of console.log one LOGS reply carries.
inline constexpr uint64_t kLogChunkBytes = 64 * 1024;
// How often CONSOLE requests waiting for their instance to start look at it.
inline constexpr int kConsolePollMs = 100;

// Registers CONSOLE and LOGS. `instances` must outlive the dispatcher's use of them.
void register_console_commands(Dispatcher& dispatcher, core::Instances& instances);

struct LogChunk {
  std::string data;      // raw bytes (the codec replaces invalid UTF-8 when encoding)
  uint64_t offset = 0;   // where the next read continues
  bool rotated = false;  // the requested offset was past the end: read again from 0
};

// Reads at most kLogChunkBytes of the log at `path` from `offset`; without an offset, the
// last kLogChunkBytes (starting on a character boundary). An offset past the end means the
// log was rotated: reading restarts at 0 with rotated set. A UTF-8 sequence cut by the end
// of the chunk is left for the next read. A missing file reads as empty. Errors: those of
// open(2)/pread(2), naming the path.
Result<LogChunk> read_log_chunk(const std::string& path, std::optional<uint64_t> offset);

}  // namespace fw::server
