#include "fwctl/exec.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "fwctl/stdio_relay.h"

namespace fwctl {

namespace {

constexpr int kExecDaemonError = 125;

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

// Waits for EXEC's reply while relaying our stdio: hands the descriptors over when the
// daemon asks (SEND_FDS), copies bytes until the reply comes, then drains the outputs so
// nothing the command wrote is lost before we print anything.
fw::Result<fw::protocol::Message> exec_and_relay(Client& client, fw::protocol::Request req,
                                                 StdioRelay& relay, Deadline deadline) {
  auto seq = client.send_request(std::move(req));
  if (!seq.ok()) {
    // The daemon may have refused us before reading the request: its answer is waiting.
    if (seq.error().code == EPIPE || seq.error().code == ECONNRESET) {
      auto refusal = client.read_message(std::chrono::steady_clock::now());
      if (refusal.ok() && refusal->is_error()) return refusal;
    }
    return seq.error();
  }
  bool handed = false;
  for (;;) {
    std::vector<pollfd> fds{{client.fd(), POLLIN, 0}};
    if (handed) relay.add_pollfds(fds);
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      timeout_ms = left.count() > 0 ? static_cast<int>(left.count()) : 0;
    }
    const int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fw::errno_error("waiting for firmwared");
    }
    if (n == 0) return fw::make_error(ETIMEDOUT, "no answer from firmwared in time");
    if (handed) relay.handle(fds);
    if (fds[0].revents == 0) continue;
    FW_ASSIGN_OR_RETURN(auto messages, client.read_some());
    for (auto& m : messages) {
      if (m.kind == fw::protocol::Message::Kind::kEvent) {
        if (m.name != "SEND_FDS" || fw::protocol::field_or(m.body, "seq", uint64_t{0}) != *seq ||
            handed)
          continue;
        FW_TRY(client.send_fds(relay.handed()));
        relay.handed_over();
        handed = true;
      } else if (m.seq == *seq || m.seq == 0) {
        // The command exited: what it wrote is in the pipes by now.
        if (handed) relay.drain();
        return std::move(m);
      }
    }
  }
}

}  // namespace

// The parser checked the ID and the command (fwctl/verbs.cc declares exec).
int run_exec(Context& ctx, const Args& args) {
  std::vector<std::string> wire;
  const bool tty = args.has("tty");
  std::vector<std::string> opts;
  if (tty) opts.push_back("--tty");
  for (const auto& e : args.values("env")) {
    opts.push_back("--env");
    opts.push_back(e);
  }
  if (auto w = args.value("workdir")) {
    opts.push_back("--workdir");
    opts.push_back(*w);
  }
  wire.push_back(args.operands()[0]);  // ID
  winsize ws{};
  if (auto size = args.value("winsize")) {
    opts.push_back("--winsize");
    opts.push_back(*size);
  } else if (tty && (::ioctl(0, TIOCGWINSZ, &ws) == 0 || ::ioctl(1, TIOCGWINSZ, &ws) == 0) &&
             ws.ws_row != 0 && ws.ws_col != 0) {
    opts.push_back("--winsize");
    opts.push_back(std::to_string(ws.ws_row) + "x" + std::to_string(ws.ws_col));
  }
  wire.insert(wire.end(), opts.begin(), opts.end());
  wire.push_back("--");
  wire.insert(wire.end(), args.command().begin(), args.command().end());

  // Before anything is sent: a directory as stdin is a mistake (or an attack) we name.
  auto relay = StdioRelay::create();
  if (!relay.ok()) {
    std::cerr << "fwctl: " << relay.error().message << std::endl;
    return kExecDaemonError;
  }
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
  std::signal(SIGPIPE, SIG_IGN);  // a closed reader is an EPIPE the relay handles
  Deadline deadline;
  if (ctx.timeout_explicit && ctx.timeout > 0) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<int64_t>(ctx.timeout * 1000));
  }
  auto reply = exec_and_relay(*client, req, *relay, deadline);
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
