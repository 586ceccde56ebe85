#include "firmwared/sys/monitor_wire.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string_view>

namespace fw::sys::wire {

namespace {

constexpr char kPts[] = "PTS";
constexpr char kNsReady[] = "NS_READY";
constexpr char kSandbox[] = "SANDBOX";
constexpr char kStarted[] = "STARTED";
constexpr char kOom[] = "OOM";
constexpr char kError[] = "ERROR";
constexpr char kExited[] = "EXITED";
constexpr char kGo[] = "GO";
constexpr char kAck[] = "ACK";
constexpr char kRun[] = "RUN";

}  // namespace

std::string pts_line(const std::string& inner, const std::string& outer) {
  return std::string(kPts) + " " + inner + " " + outer + "\n";
}

std::string ns_ready_line() { return std::string(kNsReady) + "\n"; }

std::string sandbox_line(int64_t dev_us, int64_t pivot_us, int64_t init_us) {
  return std::string(kSandbox) + " " + std::to_string(dev_us < 0 ? 0 : dev_us) + " " +
         std::to_string(pivot_us < 0 ? 0 : pivot_us) + " " +
         std::to_string(init_us < 0 ? 0 : init_us) + "\n";
}

std::string started_line(int64_t pid) {
  return std::string(kStarted) + " " + std::to_string(pid) + "\n";
}

std::string oom_line(uint64_t kills) {
  return std::string(kOom) + " " + std::to_string(kills) + "\n";
}

std::string error_line(const Error& error) {
  std::string message = error.message;
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  return std::string(kError) + " " + std::to_string(error.code) + " " + message + "\n";
}

std::string exited_line(int status) {
  return std::string(kExited) + " " + std::to_string(status) + "\n";
}

std::optional<StatusLine> parse_status(const std::string& line) {
  // Split by hand, not with an istringstream: the static monitor links this file, and
  // iostreams would bring the locale machinery into it. Words are separated by blanks.
  std::string_view rest(line);
  auto word = [&rest]() {
    const size_t begin = std::min(rest.find_first_not_of(" \t"), rest.size());
    rest.remove_prefix(begin);
    const size_t end = std::min(rest.find_first_of(" \t"), rest.size());
    std::string_view w = rest.substr(0, end);
    rest.remove_prefix(end);
    return w;
  };
  auto number = [&word](auto* out) {
    const std::string_view w = word();
    const auto r = std::from_chars(w.data(), w.data() + w.size(), *out);
    return r.ec == std::errc() && r.ptr == w.data() + w.size();
  };
  const std::string_view kind = word();
  StatusLine s;
  if (kind == kPts) {
    s.kind = StatusLine::Kind::kPts;
    s.inner = word();
    s.outer = word();
    if (s.outer.empty()) return std::nullopt;
  } else if (kind == kNsReady) {
    s.kind = StatusLine::Kind::kNsReady;
  } else if (kind == kSandbox) {
    s.kind = StatusLine::Kind::kSandbox;
    if (!number(&s.number) || !number(&s.pivot_us) || !number(&s.init_us) || s.number < 0 ||
        s.pivot_us < 0 || s.init_us < 0) {
      return std::nullopt;
    }
  } else if (kind == kStarted || kind == kOom || kind == kExited) {
    s.kind = kind == kStarted ? StatusLine::Kind::kStarted
             : kind == kOom   ? StatusLine::Kind::kOom
                              : StatusLine::Kind::kExited;
    if (!number(&s.number)) return std::nullopt;
  } else if (kind == kError) {
    s.kind = StatusLine::Kind::kError;
    s.error.code = EIO;
    const std::string_view before = rest;
    if (!number(&s.error.code)) {
      s.error.code = EIO;
      rest = before;
    }
    if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
    s.error.message = rest;
  } else {
    return std::nullopt;
  }
  return s;
}

std::string control_line(Control control) {
  switch (control) {
    case Control::kGo:
      return std::string(kGo) + "\n";
    case Control::kAck:
      return std::string(kAck) + "\n";
    case Control::kRun:
      return std::string(kRun) + "\n";
  }
  return "\n";
}

std::optional<Control> parse_control(const std::string& line) {
  if (line == kGo) return Control::kGo;
  if (line == kAck) return Control::kAck;
  if (line == kRun) return Control::kRun;
  return std::nullopt;
}

std::optional<std::string> take_line(std::string& buffer) {
  const size_t nl = buffer.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string line = buffer.substr(0, nl);
  buffer.erase(0, nl + 1);
  return line;
}

std::optional<std::string> read_line(int fd) {
  std::string line;
  for (;;) {
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) return std::nullopt;
    if (c == '\n') return line;
    line += c;
  }
}

fw::Status write_line(int fd, const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("writing a line to the monitor's pipe");
    done += static_cast<size_t>(n);
  }
  return {};
}

std::string format_cgroup_arg(const CgroupArg& cgroup) { return cgroup.kind + ":" + cgroup.dir; }

Result<CgroupArg> parse_cgroup_arg(const std::string& text) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || text.size() < colon + 2 ||
      text[colon + 1] != '/') {
    return make_error(EINVAL, "bad --cgroup " + text + ": expected KIND:/DIR");
  }
  return CgroupArg{text.substr(0, colon), text.substr(colon + 1)};
}

}  // namespace fw::sys::wire
