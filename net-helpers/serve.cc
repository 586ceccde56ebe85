#include "net-helpers/serve.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "firmwared/base/version.h"
#include "net-helpers/actions.h"
#include "net-helpers/args.h"
#include "net-helpers/nft.h"

namespace fw::net {

namespace {

// A request line is at most a few hundred bytes; anything longer is malformed.
constexpr size_t kMaxLine = 65536;

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

helper_wire::Answer run(const helper_wire::Request& request) {
  helper_wire::Answer a{request.id, 0, ""};
  auto cmd = parse_args(request.args);
  if (!cmd) {
    a.status = 2;
    a.output = "net_hook: " + one_line(cmd.error().message);
    return a;
  }
  switch (cmd->kind) {
    case Command::Kind::kHelp:
      a.output = std::string(kHelpText) + kUsageText;
      return a;
    case Command::Kind::kVersion:
      a.output = std::string("net_hook (firmwared) ") + FIRMWARED_VERSION;
      return a;
    case Command::Kind::kServe:
      a.status = 2;
      a.output = "net_hook: serve is not a request (the helper is serving already)";
      return a;
    case Command::Kind::kRun:
      break;
  }
  cmd->options.owner = request.owner;
  std::string rollback_notes;
  if (const Status st = run_action(cmd->options, &rollback_notes); !st) {
    a.status = 1;
    a.output = std::string("net_hook: ") + action_name(cmd->options.action) + ": " +
               one_line(st.error().message + rollback_notes);
  }
  return a;
}

}  // namespace

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

helper_wire::Answer answer_line(const std::string& line) {
  auto request = helper_wire::parse_request(line);
  if (!request) {
    return {helper_wire::leading_id(line), 2,
            "net_hook: serve: malformed request: " + one_line(request.error().message)};
  }
  return run(*request);
}

int serve(int in, int out) {
  keep_table_contents();
  // A client gone (firmwared exiting) still gets the requests it wrote done, unanswered.
  ::signal(SIGPIPE, SIG_IGN);
  bool answering = true;
  auto answer = [&answering, out](const helper_wire::Answer& a) {
    answering = answering && write_all(out, helper_wire::format_answer(a));
  };
  if (!write_all(out, std::string(helper_wire::kBannerPrefix) + " " + FIRMWARED_VERSION + "\n")) {
    return 1;
  }
  std::string buffer;
  bool overlong = false;  // discarding the rest of a line past kMaxLine
  char chunk[16384];
  for (;;) {
    const ssize_t n = ::read(in, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 && answering ? 0 : 1;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (overlong) {
        overlong = false;
        continue;
      }
      answer(answer_line(buffer.substr(start, nl - start)));
    }
    buffer.erase(0, start);
    if (buffer.size() > kMaxLine && !overlong) {
      const helper_wire::Answer a{
          helper_wire::leading_id(buffer), 2,
          "net_hook: serve: malformed request: longer than " + std::to_string(kMaxLine) + " bytes"};
      answer(a);
      overlong = true;
      buffer.clear();
    } else if (overlong) {
      buffer.clear();
    }
  }
}

}  // namespace fw::net
