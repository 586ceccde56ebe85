#include "net-helpers/serve.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <vector>

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

// A request line read: the answer already known (a malformed line, help, version), or the
// action to run.
struct Parsed {
  helper_wire::Answer answer;
  std::optional<Options> run;
};

Parsed parse(const std::string& line) {
  Parsed p;
  auto request = helper_wire::parse_request(line);
  if (!request) {
    p.answer = {helper_wire::leading_id(line), 2,
                "net_hook: serve: malformed request: " + one_line(request.error().message)};
    return p;
  }
  p.answer.id = request->id;
  auto cmd = parse_args(request->args);
  if (!cmd) {
    p.answer.status = 2;
    p.answer.output = "net_hook: " + one_line(cmd.error().message);
    return p;
  }
  switch (cmd->kind) {
    case Command::Kind::kHelp:
      p.answer.output = std::string(kHelpText) + kUsageText;
      return p;
    case Command::Kind::kVersion:
      p.answer.output = std::string("net_hook (firmwared) ") + FIRMWARED_VERSION;
      return p;
    case Command::Kind::kServe:
      p.answer.status = 2;
      p.answer.output = "net_hook: serve is not a request (the helper is serving already)";
      return p;
    case Command::Kind::kRun:
      break;
  }
  cmd->options.owner = request->owner;
  p.run = std::move(cmd->options);
  return p;
}

// The answer to an action that ran with status `st`.
helper_wire::Answer answered(uint64_t id, const Options& o, const Status& st,
                             const std::string& rollback_notes) {
  if (st) return {id, 0, ""};
  return {id, 1,
          std::string("net_hook: ") + action_name(o.action) + ": " +
              one_line(st.error().message + rollback_notes)};
}

helper_wire::Answer run(const Parsed& p) {
  if (!p.run) return p.answer;
  std::string rollback_notes;
  const Status st = run_action(*p.run, &rollback_notes);
  return answered(p.answer.id, *p.run, st, rollback_notes);
}

bool is_clean(const Parsed& p) { return p.run && p.run->action == Action::kClean; }

// Answers `lines` in order; consecutive `clean`s (the veth deletions after many instances
// died at once) are done together (clean_all).
template <typename AnswerFn>
void answer_lines(const std::vector<std::string>& lines, AnswerFn&& answer) {
  for (size_t i = 0; i < lines.size();) {
    Parsed p = parse(lines[i++]);
    if (!is_clean(p)) {
      answer(run(p));
      continue;
    }
    std::vector<Parsed> batch;
    batch.push_back(std::move(p));
    while (i < lines.size()) {
      Parsed q = parse(lines[i]);
      if (!is_clean(q)) break;
      batch.push_back(std::move(q));
      ++i;
    }
    std::vector<Options> cleans;
    for (const auto& b : batch) cleans.push_back(*b.run);
    const std::vector<Status> done = clean_all(cleans);
    for (size_t k = 0; k < batch.size(); ++k) {
      answer(answered(batch[k].answer.id, *batch[k].run, done[k], ""));
    }
  }
}

}  // namespace

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

helper_wire::Answer answer_line(const std::string& line) { return run(parse(line)); }

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
    std::vector<std::string> lines;
    for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (overlong) {
        overlong = false;
        continue;
      }
      lines.push_back(buffer.substr(start, nl - start));
    }
    buffer.erase(0, start);
    answer_lines(lines, answer);
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
