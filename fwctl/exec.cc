#include "fwctl/exec.h"

#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

namespace fwctl {

namespace {

constexpr int kExecDaemonError = 125;

const char* kUsage =
    "fwctl: usage: fwctl exec [-t] [-e NAME=VALUE]... [-w DIR] ID -- CMD [ARGS...]\n";

// Restores the terminal's mode on every way out.
struct RawTerminal {
  termios saved{};
  bool active = false;
  void enter() {
    if (::isatty(0) != 1 || ::tcgetattr(0, &saved) != 0) return;
    termios raw = saved;
    ::cfmakeraw(&raw);
    if (::tcsetattr(0, TCSANOW, &raw) == 0) active = true;
  }
  void restore() {
    if (active) ::tcsetattr(0, TCSANOW, &saved);
    active = false;
  }
  ~RawTerminal() { restore(); }
};

}  // namespace

int run_exec(Context& ctx, const std::vector<std::string>& args) {
  std::vector<std::string> wire;
  bool tty = false;
  size_t i = 0;
  std::vector<std::string> opts;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-t" || a == "--tty") {
      tty = true;
      opts.push_back("--tty");
    } else if ((a == "-e" || a == "--env") && i + 1 < args.size()) {
      opts.push_back("--env");
      opts.push_back(args[++i]);
    } else if ((a == "-w" || a == "--workdir") && i + 1 < args.size()) {
      opts.push_back("--workdir");
      opts.push_back(args[++i]);
    } else {
      break;
    }
  }
  if (i >= args.size() || args[i] == "--") {
    std::cerr << kUsage;
    return kExecDaemonError;
  }
  wire.push_back(args[i++]);  // ID
  if (i < args.size() && args[i] == "--") ++i;
  if (i >= args.size()) {
    std::cerr << kUsage;
    return kExecDaemonError;
  }
  wire.insert(wire.end(), opts.begin(), opts.end());
  wire.push_back("--");
  wire.insert(wire.end(), args.begin() + static_cast<long>(i), args.end());

  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) {
    std::cerr << "fwctl: " << client.error().message << std::endl;
    return kExecDaemonError;
  }
  fw::protocol::Request req;
  req.command = "EXEC";
  req.args = wire;
  RawTerminal term;
  if (tty) term.enter();
  // While the command runs, ^C and friends belong to it (raw mode) or to us (no tty): we
  // ignore them and let the command's fate decide our exit status.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGQUIT, SIG_IGN);
  Deadline deadline;
  if (ctx.timeout_explicit && ctx.timeout > 0) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<int64_t>(ctx.timeout * 1000));
  }
  auto reply = client->call_with_fds(req, {0, 1, 2}, deadline);
  term.restore();  // before printing anything
  if (!reply.ok()) {
    std::cerr << "fwctl: " << reply.error().message << std::endl;
    return kExecDaemonError;
  }
  if (ctx.json) std::cout << reply->body.dump() << std::endl;
  if (reply->is_error()) {
    if (!ctx.json) std::cerr << "firmwared error: " << reply->error().message << std::endl;
    return kExecDaemonError;
  }
  return fw::protocol::field_or(reply->body, "exit_status", kExecDaemonError);
}

}  // namespace fwctl
