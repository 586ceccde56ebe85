#include "firmwared/host/process_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <memory>

#include "firmwared/base/fd.h"
#include "firmwared/base/log.h"
#include "firmwared/host/event.h"
#include "firmwared/sys/child.h"

namespace fw::host {

namespace {

constexpr size_t kOutputMax = 65536;

// One running helper: its output pipe, pidfd and deadline watched on the loop. Owned by
// exit_cb once started; destroying it before kills and reaps the helper.
struct Helper {
  sys::Child child;
  Fd out;
  Event out_event, exit_event, timer;
  std::string output;
  bool timed_out = false;
  std::function<void(ProcessOutcome)> done;
  std::set<void*>* live = nullptr;  // the runner's registry, left at exit_cb

  void drain() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(out.get(), buf, sizeof(buf));
      if (n <= 0) break;
      if (output.size() < kOutputMax) output.append(buf, static_cast<size_t>(n));
    }
  }
};

void out_cb(evutil_socket_t, short, void* ctx) noexcept { static_cast<Helper*>(ctx)->drain(); }

void timer_cb(evutil_socket_t, short, void* ctx) noexcept {
  auto* h = static_cast<Helper*>(ctx);
  h->timed_out = true;
  (void)h->child.signal(SIGKILL);
}

void exit_cb(evutil_socket_t, short, void* ctx) noexcept {
  std::unique_ptr<Helper> h(static_cast<Helper*>(ctx));
  h->live->erase(h.get());
  h->drain();
  ProcessOutcome o;
  auto e = h->child.wait();  // it has exited: reaped at once
  o.exit_status = e.ok() ? e->status() : 255;
  while (!h->output.empty() && h->output.back() == '\n') h->output.pop_back();
  o.output = std::move(h->output);
  o.timed_out = h->timed_out;
  try {
    h->done(std::move(o));
  } catch (const std::exception& ex) {
    log::error(std::string("helper completion threw: ") + ex.what());
  }
}

// Watches the helper's output, exit and deadline.
Status watch(event_base* base, Helper* h, int timeout_ms) {
  FW_ASSIGN_OR_RETURN(
      h->out_event, Event::make(base, h->out.get(), EV_READ | EV_PERSIST, out_cb, h, "its output"));
  FW_ASSIGN_OR_RETURN(h->exit_event,
                      Event::make(base, h->child.pidfd(), EV_READ, exit_cb, h, "its pidfd"));
  FW_ASSIGN_OR_RETURN(h->timer, Event::timer(base, false, timer_cb, h, "its deadline"));
  const timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  FW_TRY(h->out_event.add());
  FW_TRY(h->exit_event.add());
  return h->timer.add(&tv);
}

}  // namespace

Status ProcessRunner::run(const std::vector<std::string>& argv, int timeout_ms,
                          std::function<void(ProcessOutcome)> done,
                          const std::vector<std::string>& env) {
  if (argv.empty()) return make_error(EINVAL, "running a helper: no program");
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return errno_error("creating a pipe");
  Fd out_r(p[0]), out_w0(p[1]);
  // The source above the targets 1 and 2 (ExecSpec).
  FW_ASSIGN_OR_RETURN(Fd out_w, sys::fd_above(out_w0.get(), STDERR_FILENO + 1, "a pipe"));
  out_w0.reset();
  auto h = std::make_unique<Helper>();
  std::vector<std::string> environment = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  environment.insert(environment.end(), env.begin(), env.end());
  FW_ASSIGN_OR_RETURN(
      h->child,
      sys::Child::exec(
          {argv, environment, {{out_w.get(), STDOUT_FILENO}, {out_w.get(), STDERR_FILENO}}},
          argv[0]));
  out_w.reset();
  h->out = std::move(out_r);
  h->done = std::move(done);
  // A failure here destroys `h`: the helper is killed and reaped.
  FW_TRY_CTX(watch(base_, h.get(), timeout_ms), "watching " + argv[0]);
  h->live = &live_;
  live_.insert(h.get());
  h.release();  // owned by exit_cb from now on (or by the runner's destructor)
  return {};
}

ProcessRunner::~ProcessRunner() {
  for (void* p : live_) {
    auto* h = static_cast<Helper*>(p);
    (void)h->child.release();  // not killed: it finishes what it was asked to do
    delete h;
  }
}

}  // namespace fw::host
