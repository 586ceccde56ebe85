// fuzz_overlay_reader: the overlay diff reader (core/overlay_tree.cc, core/diff.cc) on
// trees built from the input (overlay_ops.h) in a private directory below /dev/shm (else
// /tmp), emptied after every input:
//   - compute_diff() of the whole tree; every entry well formed, the totals matching;
//   - with kFlagPathFilter, the diff limited to one of those paths: a subset of the whole;
//   - open_file_pair() and unified_diff() of the files the diff lists (bounded);
//   - with kFlagExport, export_changes() into a memfd.
// Errors are values here (a vanished entry, an unreadable one): they are not findings;
// crashes, sanitizer reports, escaping exceptions and leaked descriptors are.
// FUZZ_OVERLAY_STRICT=1 also aborts on a diff error, to look at which trees fail;
// FUZZ_OVERLAY_PRINT=1 prints each input's diff (to check what a seed builds).

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "firmwared/core/diff.h"
#include "firmwared/core/export.h"
#include "firmwared/core/unified_diff.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/overlay_ops.h"

namespace {

namespace fs = std::filesystem;
using fw::core::DiffEntry;
using fw::core::DiffStatus;

std::string g_base;  // the private directory; upper/ and lower/ are made in it per input
bool g_strict = false;
bool g_print = false;

void remove_base() {
  std::error_code ec;
  if (!g_base.empty()) fs::remove_all(g_base, ec);
}

// A file next to upper/ and lower/: the reader must never see it (or a diff entry would
// name something outside the layers, as a redirect to ".." could make it).
constexpr const char* kSentinel = "SENTINEL-outside-the-layers";

void check_entry(const DiffEntry& d) {
  FUZZ_CHECK(d.path.find(kSentinel) == std::string::npos &&
                 d.renamed_from.find(kSentinel) == std::string::npos,
             "the reader stays inside the layers");
  FUZZ_CHECK(!d.path.empty() && d.path[0] == '/', "diff paths are absolute");
  FUZZ_CHECK(d.path.find("//") == std::string::npos, "diff paths are normalized");
  switch (d.status) {
    case DiffStatus::kAdded:
      FUZZ_CHECK(d.after && !d.before, "A has only an after side");
      break;
    case DiffStatus::kDeleted:
      FUZZ_CHECK(d.before && !d.after, "D has only a before side");
      break;
    case DiffStatus::kModified:
      FUZZ_CHECK(d.before && d.after && d.changes != 0, "M has both sides and a change");
      FUZZ_CHECK(d.before->type == d.after->type, "M keeps the type");
      break;
    case DiffStatus::kTypeChanged:
      FUZZ_CHECK(d.before && d.after && d.before->type != d.after->type, "T changes the type");
      break;
  }
}

std::string read_all(const fw::Fd& fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while (out.size() < (1 << 16) && (n = ::read(fd.get(), buf, sizeof(buf))) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void check_file_pairs(const std::vector<DiffEntry>& entries, const std::string& upper,
                      const std::string& lower, const std::string& prefix) {
  int budget = 8;
  for (const DiffEntry& d : entries) {
    const bool file = (d.after && d.after->type == fw::core::FileType::kFile) ||
                      (d.before && d.before->type == fw::core::FileType::kFile);
    if (!file || budget-- == 0) continue;
    auto pair = fw::core::open_file_pair(upper, lower, d.path, prefix);
    if (!pair.ok()) continue;
    const std::string a = pair->before_data ? read_all(pair->before_data) : "";
    const std::string b = pair->after_data ? read_all(pair->after_data) : "";
    const std::string text = fw::core::unified_diff(a, b, "a" + d.path, "b" + d.path);
    FUZZ_CHECK(text.empty() == (a == b), "a unified diff is empty exactly for equal texts");
    (void)fw::core::looks_binary(b);
  }
}

// The diff limited to one of the paths: each entry must be one of the whole diff's.
void check_filtered(const std::vector<DiffEntry>& whole, const std::string& upper,
                    const std::string& lower, const std::string& prefix, uint8_t pick) {
  if (whole.empty()) return;
  std::map<std::string, DiffStatus> all;
  for (const auto& d : whole) all.emplace(d.path, d.status);
  fw::core::DiffOptions o;
  o.xattr_prefix = prefix;
  o.paths.push_back(whole[pick % whole.size()].path);
  std::vector<DiffEntry> part;
  auto stat =
      fw::core::compute_diff(upper, lower, o, [&](DiffEntry&& d) { part.push_back(std::move(d)); });
  FUZZ_CHECK(stat.ok(), "a filtered diff succeeds when the whole one did");
  for (const auto& d : part) {
    auto it = all.find(d.path);
    FUZZ_CHECK(it != all.end() && it->second == d.status,
               "a filtered diff is a subset of the whole diff");
  }
}

void run(const uint8_t* data, size_t size, const std::string& upper, const std::string& lower) {
  const fw::fuzz::BuiltTree t = fw::fuzz::build_tree(data, size, upper, lower);
  fw::core::DiffOptions o;
  o.xattr_prefix = t.prefix;
  std::vector<DiffEntry> entries;
  auto stat = fw::core::compute_diff(upper, lower, o,
                                     [&](DiffEntry&& d) { entries.push_back(std::move(d)); });
  if (!stat.ok()) {
    if (g_strict) {
      std::fprintf(stderr, "diff failed: %s\n", stat.error().message.c_str());
      std::abort();
    }
    return;
  }
  FUZZ_CHECK(stat->entries() == entries.size(), "the totals count the entries");
  if (g_print) {
    for (const auto& d : entries) {
      std::fprintf(stderr, "%c %s%s%s\n", fw::core::status_letter(d.status), d.path.c_str(),
                   d.renamed_from.empty() ? "" : " from ", d.renamed_from.c_str());
    }
    std::fprintf(stderr, "(%u ops, copied up unchanged: %lu)\n",
                 static_cast<unsigned>(t.operations),
                 static_cast<unsigned long>(stat->copied_up_unchanged));
  }
  for (const auto& d : entries) check_entry(d);
  check_file_pairs(entries, upper, lower, t.prefix);
  if (t.flags & fw::fuzz::kFlagPathFilter) {
    check_filtered(entries, upper, lower, t.prefix, size > 0 ? data[size - 1] : 0);
  }
  if (t.flags & fw::fuzz::kFlagExport) {
    const fw::Fd out(::memfd_create("fuzz-export", MFD_CLOEXEC));
    FUZZ_CHECK(out.valid(), "memfd_create");
    (void)fw::core::export_changes(upper, lower, out.get(), t.prefix);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* strict = std::getenv("FUZZ_OVERLAY_STRICT");
  g_strict = strict != nullptr && std::string(strict) == "1";
  const char* print = std::getenv("FUZZ_OVERLAY_PRINT");
  g_print = print != nullptr && std::string(print) == "1";
  const char* parent = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string t = std::string(parent) + "/fw-fuzz-overlay.XXXXXX";
  if (::mkdtemp(t.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  g_base = t;
  std::atexit(remove_base);
  const fw::Fd sentinel(
      ::open((g_base + "/" + kSentinel).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The lowest free descriptor before and after: any fd the reader leaks moves it.
  const int probe = ::dup(2);
  ::close(probe);
  const std::string upper = g_base + "/upper", lower = g_base + "/lower";
  ::mkdir(upper.c_str(), 0755);
  ::mkdir(lower.c_str(), 0755);
  run(data, size, upper, lower);
  std::error_code ec;
  fs::remove_all(upper, ec);
  fs::remove_all(lower, ec);
  FUZZ_CHECK(!ec, "the tree is removed");
  const int after = ::dup(2);
  ::close(after);
  FUZZ_CHECK(after == probe, "no descriptor leaked");
  return 0;
}
