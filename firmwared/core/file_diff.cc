#include "firmwared/core/file_diff.h"

#include <unistd.h>

#include "firmwared/base/strings.h"
#include "firmwared/core/unified_diff.h"

namespace fw::core {

namespace {

// Reads at most `limit` bytes of `fd`.
Result<std::string> read_all(int fd, uint64_t limit) {
  std::string s;
  char buf[64 * 1024];
  while (s.size() < limit) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading a file");
    if (n == 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  return s;
}

std::string size_change(uint64_t a, uint64_t b) {
  return "(" + std::to_string(a) + " → " + std::to_string(b) + " bytes)";
}

// The summary of a pair where one side is neither a regular file nor absent.
std::string special_summary(const EntryInfo* b, const EntryInfo* a) {
  if (b && a && b->type != a->type) {
    return std::string("Type changed: ") + overlay::type_name(b->type) + " → " +
           overlay::type_name(a->type);
  }
  if ((a ? a : b)->type == FileType::kSymlink) {
    return "Symbolic link: " + (b ? "'" + b->target + "'" : std::string("none")) + " → " +
           (a ? "'" + a->target + "'" : std::string("none"));
  }
  return std::string("Not a regular file (") + overlay::type_name((a ? a : b)->type) + ")";
}

}  // namespace

std::vector<std::string> change_names(unsigned changes) {
  std::vector<std::string> out;
  if (changes & kChangeContent) out.push_back("content");
  if (changes & kChangeMode) out.push_back("mode");
  if (changes & kChangeOwner) out.push_back("owner");
  if (changes & kChangeXattrs) out.push_back("xattrs");
  return out;
}

Result<FileDiff> diff_file(const std::string& upper, const std::string& lower,
                           const std::string& path, const std::string& instance) {
  std::optional<DiffEntry> entry;
  DiffOptions o;
  o.paths = {path};
  auto stat = compute_diff(upper, lower, o, [&](DiffEntry&& e) {
    if (e.path == path) entry = std::move(e);
  });
  if (!stat.ok()) return stat.error().wrap("diff of " + path + " in instance " + instance);
  auto pair = open_file_pair(upper, lower, path);
  if (!pair.ok()) return pair.error().wrap("instance " + instance);
  FileDiff d;
  if (entry) d.status = entry->status;
  if (pair->before) d.old_type = pair->before->type;
  if (pair->after) d.type = pair->after->type;
  const uint64_t old_size = pair->before ? pair->before->size : 0;
  const uint64_t new_size = pair->after ? pair->after->size : 0;
  const auto file_or_none = [](const std::optional<EntryInfo>& i) {
    return !i || i->type == FileType::kFile;
  };
  if (!file_or_none(pair->before) || !file_or_none(pair->after)) {
    d.summary = special_summary(pair->before ? &*pair->before : nullptr,
                                pair->after ? &*pair->after : nullptr);
    return d;
  }
  if (old_size > kContentDiffMaxFile || new_size > kContentDiffMaxFile) {
    d.summary = "Files differ " + size_change(old_size, new_size) +
                ": too large for a content diff (limit " +
                std::to_string(kContentDiffMaxFile / (1024 * 1024)) + " MiB)";
    return d;
  }
  std::string a, b;
  if (pair->before_data.valid()) {
    FW_ASSIGN_OR_RETURN(b, read_all(pair->before_data.get(), kContentDiffMaxFile));
  }
  if (pair->after_data.valid()) {
    FW_ASSIGN_OR_RETURN(a, read_all(pair->after_data.get(), kContentDiffMaxFile));
  }
  d.binary = looks_binary(a) || looks_binary(b);
  if (d.binary && a != b) {
    d.summary = "Binary files differ " + size_change(old_size, new_size);
  } else if (!d.binary) {
    d.diff = unified_diff(b, a, pair->before ? "a" + path : "/dev/null",
                          pair->after ? "b" + path : "/dev/null");
  }
  if (d.diff.size() > kContentDiffMaxText) {
    d.diff.resize(d.diff.rfind('\n', kContentDiffMaxText) + 1);
    d.truncated = true;
  }
  if (a == b && entry && entry->status == DiffStatus::kModified) {
    d.summary = "Content unchanged; changed: " + join(change_names(entry->changes), ", ");
  }
  return d;
}

}  // namespace fw::core
