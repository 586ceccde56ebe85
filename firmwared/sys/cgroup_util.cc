#include "firmwared/sys/cgroup_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>

#include "firmwared/base/fd.h"

namespace fw::sys {

namespace {

Result<std::optional<uint64_t>> parse_u64(std::string_view s, const std::string& what) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return make_error(EINVAL, what + " holds no number ('" + std::string(s.substr(0, 32)) + "')");
  }
  return std::optional<uint64_t>(v);
}

}  // namespace

Result<std::string> read_text(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("opening " + path);
  std::string text;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading " + path);
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
  }
}

Status write_text(const std::string& path, const std::string& text) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return errno_error("opening " + path);
  ssize_t n;
  do {
    n = ::write(fd.get(), text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(text.size())) {
    return errno_error(n < 0 ? errno : EIO, "writing '" + text + "' to " + path);
  }
  return {};
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n' && text[j] != '\t') ++j;
    if (j > i) out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

Result<std::optional<uint64_t>> read_u64(const std::string& path) {
  auto text = read_text(path);
  if (!text.ok()) {
    if (text.error().code == ENOENT) return std::optional<uint64_t>();
    return text.error();
  }
  return parse_u64(*text, path);
}

Result<std::optional<uint64_t>> read_keyed(const std::string& path, std::string_view key) {
  auto text = read_text(path);
  if (!text.ok()) {
    if (text.error().code == ENOENT) return std::optional<uint64_t>();
    return text.error();
  }
  const std::vector<std::string> w = words(*text);
  for (size_t i = 0; i + 1 < w.size(); i += 2) {
    if (w[i] == key) return parse_u64(w[i + 1], path + " '" + std::string(key) + "'");
  }
  return std::optional<uint64_t>();
}

}  // namespace fw::sys
