#include "firmwared/host/process_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

#include "firmwared/base/fd.h"
#include "firmwared/base/log.h"
#include "firmwared/sys/process.h"

namespace fw::host {

namespace {

struct Child {
  event* out_event = nullptr;
  event* exit_event = nullptr;
  event* timer = nullptr;
  Fd out, pidfd;
  std::string output;
  bool timed_out = false;
  std::function<void(ProcessOutcome)> done;

  ~Child() {
    for (event* e : {out_event, exit_event, timer}) {
      if (e != nullptr) event_free(e);
    }
  }

  void drain() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(out.get(), buf, sizeof(buf));
      if (n <= 0) break;
      if (output.size() < 65536) output.append(buf, static_cast<size_t>(n));
    }
  }
};

void out_cb(evutil_socket_t, short, void* ctx) noexcept { static_cast<Child*>(ctx)->drain(); }

void timer_cb(evutil_socket_t, short, void* ctx) noexcept {
  auto* c = static_cast<Child*>(ctx);
  c->timed_out = true;
  (void)sys::pidfd_send_signal(c->pidfd.get(), SIGKILL);
}

void exit_cb(evutil_socket_t, short, void* ctx) noexcept {
  std::unique_ptr<Child> c(static_cast<Child*>(ctx));
  c->drain();
  siginfo_t info{};
  ProcessOutcome o;
  if (::waitid(static_cast<idtype_t>(3) /* P_PIDFD */, static_cast<id_t>(c->pidfd.get()), &info,
               WEXITED) == 0) {
    o.exit_status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  } else {
    o.exit_status = 255;
  }
  while (!c->output.empty() && c->output.back() == '\n') c->output.pop_back();
  o.output = std::move(c->output);
  o.timed_out = c->timed_out;
  try {
    c->done(std::move(o));
  } catch (const std::exception& e) {
    log::error(std::string("helper completion threw: ") + e.what());
  }
}

}  // namespace

Status ProcessRunner::run(const std::vector<std::string>& argv_in, int timeout_ms,
                          std::function<void(ProcessOutcome)> done) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return errno_error("creating a pipe");
  Fd out_r(p[0]), out_w(p[1]);
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
  const int w = out_w.get();
  const pid_t pid = ::fork();  // only async-signal-safe calls in the child
  if (pid < 0) return errno_error("forking " + args[0]);
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(w, 1);
    ::dup2(w, 2);
    ::close_range(3, ~0U, 0);
    ::execve(argv[0], argv.data(), envp);
    ::_exit(127);
  }
  out_w.reset();
  auto c = std::make_unique<Child>();
  auto pidfd = sys::pidfd_open(pid);
  if (!pidfd.ok()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return pidfd.error();
  }
  c->pidfd = std::move(*pidfd);
  c->out = std::move(out_r);
  c->done = std::move(done);
  Child* raw = c.get();
  raw->out_event = event_new(base_, raw->out.get(), EV_READ | EV_PERSIST, out_cb, raw);
  raw->exit_event = event_new(base_, raw->pidfd.get(), EV_READ, exit_cb, raw);
  raw->timer = evtimer_new(base_, timer_cb, raw);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  if (raw->out_event == nullptr || raw->exit_event == nullptr || raw->timer == nullptr ||
      event_add(raw->out_event, nullptr) != 0 || event_add(raw->exit_event, nullptr) != 0 ||
      evtimer_add(raw->timer, &tv) != 0) {
    (void)sys::pidfd_send_signal(raw->pidfd.get(), SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return make_error(ENOMEM, "watching " + args[0]);
  }
  c.release();  // owned by exit_cb from now on
  return {};
}

}  // namespace fw::host
