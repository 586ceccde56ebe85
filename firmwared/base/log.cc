#include "firmwared/base/log.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <string>

#include "firmwared/base/systemd_protocol.h"

namespace fw::log {
namespace {
std::atomic<int> g_max_level{static_cast<int>(Level::kInfo)};
std::atomic<bool> g_journal{false};
std::string g_identifier;  // set once by use_journal(), before other threads log

void write_stderr(Level level, std::string_view message) {
  std::string prefix = "<" + std::to_string(static_cast<int>(level)) + ">";
  // One writev so lines from several threads do not interleave.
  iovec iov[3] = {{prefix.data(), prefix.size()},
                  {const_cast<char*>(message.data()), message.size()},
                  {const_cast<char*>("\n"), 1}};
  ssize_t r = ::writev(2, iov, 3);
  (void)r;
}

// The native protocol takes "KEY=value" items; a value may hold newlines (the journal
// stores it as binary-safe data), so a multi-line message stays one entry. No CODE_FILE/
// CODE_LINE: they would name this logger, not the caller.
bool write_journal(Level level, std::string_view message, const Fields& fields) {
  std::vector<std::string> items;
  items.reserve(3 + fields.size());
  items.push_back("PRIORITY=" + std::to_string(static_cast<int>(level)));
  items.push_back("MESSAGE=" + std::string(message));
  items.push_back("SYSLOG_IDENTIFIER=" + g_identifier);
  for (const Field& f : fields) items.push_back(std::string(f.key) + "=" + f.value);
  return systemd::send_journal(items) >= 0;
}

void add(Fields& out, const char* key, std::string_view value) {
  if (!value.empty()) out.push_back({key, std::string(value)});
}

}  // namespace

Fields instance(std::string_view name, std::string_view sha1) {
  Fields f;
  add(f, kInstance, sha1);
  add(f, kInstanceName, name);
  return f;
}

Fields firmware(std::string_view name, std::string_view sha1) {
  Fields f;
  add(f, kFirmware, sha1);
  add(f, kFirmwareName, name);
  return f;
}

Fields operator+(Fields a, const Fields& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void set_max_level(Level level) { g_max_level = static_cast<int>(level); }
Level max_level() { return static_cast<Level>(g_max_level.load()); }

bool parse_journal_stream(std::string_view text, dev_t* dev, ino_t* ino) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return false;
  unsigned long long d = 0, i = 0;
  const char* end = text.data() + colon;
  auto r1 = std::from_chars(text.data(), end, d);
  if (r1.ec != std::errc() || r1.ptr != end) return false;
  const char* end2 = text.data() + text.size();
  auto r2 = std::from_chars(end + 1, end2, i);
  if (r2.ec != std::errc() || r2.ptr != end2) return false;
  *dev = static_cast<dev_t>(d);
  *ino = static_cast<ino_t>(i);
  return true;
}

bool fd_is_journal(int fd, const char* journal_stream) {
  if (journal_stream == nullptr) return false;
  dev_t dev = 0;
  ino_t ino = 0;
  if (!parse_journal_stream(journal_stream, &dev, &ino)) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

bool stderr_is_journal() { return fd_is_journal(2, std::getenv("JOURNAL_STREAM")); }

void use_journal(std::string identifier) {
  g_identifier = std::move(identifier);
  g_journal = true;
}

bool using_journal() { return g_journal.load(); }

void write(Level level, std::string_view message, const Fields& fields) {
  if (static_cast<int>(level) > g_max_level.load()) return;
  if (g_journal.load() && write_journal(level, message, fields)) return;
  write_stderr(level, message);
}

}  // namespace fw::log
