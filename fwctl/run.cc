#include "fwctl/run.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <regex>

#include "firmwared/base/fd.h"
#include "fwctl/exec.h"
#include "fwctl/prepare.h"
#include "fwctl/wait.h"

namespace fwctl {

namespace {

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

// One request on a new connection; the reply, or nullopt after printing why not.
std::optional<fw::protocol::Message> call(Context& ctx, const std::string& command,
                                          const std::vector<std::string>& args, bool quiet) {
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) {
    if (!quiet) std::cerr << "fwctl: " << client.error().message << std::endl;
    return std::nullopt;
  }
  fw::protocol::Request req;
  req.command = command;
  req.args = args;
  auto reply = client->call(req, std::nullopt);
  if (!reply.ok()) {
    if (!quiet) std::cerr << "fwctl: " << reply.error().message << std::endl;
    return std::nullopt;
  }
  if (reply->is_error()) {
    if (!quiet) std::cerr << "firmwared error: " << reply->error().message << std::endl;
    return std::nullopt;
  }
  return std::move(*reply);
}

// --rm: kills (when started) and drops the instance. False when the drop failed.
bool remove_instance(Context& ctx, const std::string& id) {
  (void)call(ctx, "KILL", {id}, true);  // an instance that is not started: nothing to kill
  if (!call(ctx, "DROP", {"instances", id}, false)) {
    std::cerr << "fwctl: run: instance " << id << " could not be dropped\n";
    return false;
  }
  return true;
}

// The child: START (with the console wait), then EXEC CMD or, with --rm and no CMD, wait
// until PID 1 has exited. Writes one byte to `started` once the instance is started and
// its console matched. Its exit status is the run's.
[[noreturn]] void child(Context ctx, const RunOptions& o, const std::string& id, int started) {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGHUP, SIG_DFL);
  Args start_args;
  if (o.wait_console) start_args.add("wait-console", *o.wait_console);
  if (o.wait_console && o.timeout) start_args.add("timeout", *o.timeout);
  start_args.add_operand(id);
  // START's "started" line is not ours to print: stdout is CMD's or the instance name's.
  std::cout.flush();
  const int saved = ::dup(1);
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved < 0 || null < 0 || ::dup2(null, 1) < 0) _exit(kExitError);
  Context quiet = ctx;
  quiet.json = false;
  int rc = run_start(quiet, start_args);
  std::cout.flush();
  ::dup2(saved, 1);
  ::close(saved);
  ::close(null);
  if (rc != kExitOk) _exit(rc);
  const char byte = 1;
  if (::write(started, &byte, 1) != 1) _exit(kExitError);
  ::close(started);
  if (!o.command.empty()) {
    Args exec_args;
    exec_args.add_operand(id);
    exec_args.set_separator();
    for (const auto& w : o.command) exec_args.add_command(w);
    rc = run_exec(ctx, exec_args);
  } else if (o.rm) {
    Args wait_args;
    wait_args.add_operand(id);
    wait_args.add("state", "ready");
    rc = run_wait(quiet, wait_args);
  }
  std::cout.flush();
  std::cerr.flush();
  _exit(rc);
}

bool valid_seconds(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  return !s.empty() && errno == 0 && end != nullptr && *end == '\0' && v >= 0;
}

}  // namespace

int run_run(Context& ctx, const RunOptions& o) {
  if (o.timeout && !o.wait_console) {
    std::cerr << "fwctl: run: --timeout goes with --wait-console\n";
    return kExitError;
  }
  if (o.timeout && !valid_seconds(*o.timeout)) {
    std::cerr << "fwctl: run: --timeout '" << *o.timeout << "' is not a number of seconds\n";
    return kExitError;
  }
  if (o.wait_console) {
    try {
      std::regex re(*o.wait_console, std::regex::extended);
    } catch (const std::regex_error& e) {
      std::cerr << "fwctl: run: --wait-console '" << *o.wait_console
                << "' is not a regex: " << e.what() << "\n";
      return kExitError;
    }
  }
  // From here on an interruption must not leave the instance behind (with --rm): the
  // signals are caught before PREPARE and looked at once it has answered.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  // The name and labels are checked by the daemon before anything is made: a clash
  // leaves nothing to clean up.
  auto prepared =
      call(ctx, "PREPARE", prepare_request_args("instances", o.firmware, o.name, o.labels), false);
  if (!prepared) return kExitError;
  const std::string id = fw::protocol::field_or(prepared->body, "name", "");
  if (id.empty()) {
    std::cerr << "fwctl: run: PREPARE gave no instance name\n";
    return kExitError;
  }
  // Without CMD the name is the output, at once: a script learns it even if START fails.
  if (o.command.empty()) {
    if (ctx.json) {
      std::cout << prepared->body.dump() << std::endl;
    } else {
      std::cout << id << std::endl;
    }
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    std::cerr << "fwctl: run: creating a pipe: " << std::strerror(errno) << "\n";
    if (o.rm) remove_instance(ctx, id);
    return kExitError;
  }
  fw::Fd started_r(p[0]), started_w(p[1]);
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = g_signal != 0 ? -1 : ::fork();
  if (pid == 0) {
    started_r.reset();
    child(ctx, o, id, started_w.release());
  }
  started_w.reset();
  int status = 0;
  bool killed = false;
  if (pid < 0 && g_signal == 0) {
    std::cerr << "fwctl: run: fork: " << std::strerror(errno) << "\n";
    if (o.rm) remove_instance(ctx, id);
    return kExitError;
  }
  bool started = false;
  while (pid > 0) {
    if (g_signal != 0 && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    // Learn when the instance is started (to print its name) while waiting for the child.
    pollfd pfd{started_r.get(), POLLIN, 0};
    if (started_r && ::poll(&pfd, 1, 100) > 0) {
      char byte = 0;
      started = ::read(started_r.get(), &byte, 1) == 1;
      started_r.reset();
    } else if (!started_r) {
      ::poll(nullptr, 0, 100);
    }
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      status = kExitError << 8;
      break;
    }
  }
  if (started_r) {  // the child wrote its byte and exited between two looks
    char byte = 0;
    started = ::read(started_r.get(), &byte, 1) == 1;
  }
  int rc;
  if (g_signal != 0) {
    rc = 128 + g_signal;
  } else if (WIFEXITED(status)) {
    rc = WEXITSTATUS(status);
  } else {
    rc = 128 + WTERMSIG(status);
  }
  if (o.rm) {
    if (!remove_instance(ctx, id) && rc == kExitOk) rc = kExitError;
  } else if (!o.command.empty() || !started) {
    // Without CMD the name was printed already; with it, this is where a script finds it.
    std::cerr << "fwctl: run: instance " << id << " is left " << (started ? "running" : "as is")
              << " (fwctl kill " << id << "; fwctl drop instances " << id << ")\n";
  }
  return rc;
}

int run_run_verb(Context& ctx, const Args& args) {
  RunOptions o;
  const std::vector<std::string>& words = args.operands();
  o.firmware = words[0];
  if (words.size() > 1 && !args.has_command_separator()) {
    std::cerr << "fwctl: run: CMD goes after '--' (" << words[1] << ")\n";
    return kExitError;
  }
  o.command.assign(words.begin() + 1, words.end());
  if (args.has_command_separator() && o.command.empty()) {
    std::cerr << "fwctl: run: missing the command after '--'\n";
    return kExitError;
  }
  o.rm = args.has("rm");
  o.name = args.value("name");
  o.labels = args.values("label");
  o.wait_console = args.value("wait-console");
  o.timeout = args.value("timeout");
  return run_run(ctx, o);
}

}  // namespace fwctl
