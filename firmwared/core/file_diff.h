#pragma once
// DIFF_FILE's use case (docs/diff.md): the content diff of one file of an instance against
// its firmware, as a plain value (the server turns it into the reply).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/core/diff.h"

namespace fw::core {

// Largest file read for a text diff, and most diff text given back.
inline constexpr uint64_t kContentDiffMaxFile = 8 * 1024 * 1024;
inline constexpr size_t kContentDiffMaxText = 896 * 1024;

struct FileDiff {
  std::optional<DiffStatus> status;  // none: the file does not differ
  std::optional<FileType> old_type;  // the firmware's entry, if any
  std::optional<FileType> type;      // the merged tree's entry, if any
  bool binary = false;               // either side looks binary
  std::string diff;                  // unified diff of two text files ("" otherwise)
  std::string summary;               // one line when there is no text diff to show, or beside it
  bool truncated = false;            // `diff` was cut at kContentDiffMaxText (at a line end)
};

// The names of an M entry's DiffChange bits, in order: "content", "mode", "owner",
// "xattrs".
std::vector<std::string> change_names(unsigned changes);

// Diffs `path` (normalized) of the overlay `upper` over `lower`. Errors: those of
// compute_diff and open_file_pair (ENOENT when the path is in neither tree, EISDIR for a
// directory), wrapped with `instance` (its name).
Result<FileDiff> diff_file(const std::string& upper, const std::string& lower,
                           const std::string& path, const std::string& instance);

}  // namespace fw::core
