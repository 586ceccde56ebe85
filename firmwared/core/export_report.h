#pragma once
// The one line firmwared-archive (the EXPORT helper, firmwared/archive/) writes on its
// report descriptor when it ends, read by the daemon (host/archive_helper.h):
//
//   ok ENTRIES WHITEOUTS SKIPPED BYTES      the archive is complete (ExportStat's fields)
//   error ERRNO MESSAGE                     it is not: an errno value (1..4095) and the
//                                           sentence, escaped as helper_wire::escape does
//
// Fields are separated by one space; the line ends with a newline.

#include <string>
#include <string_view>

#include "firmwared/base/result.h"
#include "firmwared/core/export_stat.h"

namespace fw::core {

// The line, newline included, of a finished export: "ok ..." or "error ...".
std::string format_export_report(const Result<ExportStat>& result);

// The export's outcome from `text`, everything the helper wrote on its report descriptor:
// the counts of an "ok" line, the Error of an "error" line, or EPROTO naming what is wrong
// when `text` is not exactly one such line.
Result<ExportStat> parse_export_report(std::string_view text);

}  // namespace fw::core
