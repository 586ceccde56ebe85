#pragma once
// What an EXPORT wrote (core/export.h writes it, core/export_report.h carries it from the
// firmwared-archive helper to the daemon).

#include <cstdint>

namespace fw::core {

struct ExportStat {
  uint64_t entries = 0;    // entries written, markers included
  uint64_t whiteouts = 0;  // ".wh." markers written (changes only), opaque markers included
  uint64_t skipped = 0;    // entries a tar cannot hold (sockets)
  uint64_t bytes = 0;      // size of the archive written
};

}  // namespace fw::core
