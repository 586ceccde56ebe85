#include "firmwared/host/net_helper.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "firmwared/base/helper_wire.h"
#include "firmwared/base/log.h"
#include "firmwared/base/strings.h"

namespace fw::host {

namespace {

void read_cb(evutil_socket_t, short, void* ctx) noexcept {
  static_cast<NetHelper*>(ctx)->on_readable();
}
void write_cb(evutil_socket_t, short, void* ctx) noexcept {
  static_cast<NetHelper*>(ctx)->on_writable();
}
void exit_cb(evutil_socket_t, short, void* ctx) noexcept {
  static_cast<NetHelper*>(ctx)->on_exit();
}
void timer_cb(evutil_socket_t, short, void* ctx) noexcept {
  static_cast<NetHelper*>(ctx)->on_deadline();
}

timeval ms_to_tv(int ms) { return {ms / 1000, (ms % 1000) * 1000}; }

// A line from the helper, shortened and made printable for a log message.
std::string shown(const std::string& line) {
  return quote(line.size() > 80 ? line.substr(0, 80) + "..." : line);
}

constexpr size_t kMaxAnswerLine = 1 << 20;

}  // namespace

HelperMode decide_mode(const std::optional<std::string>& first_line, bool timed_out,
                       std::string* why) {
  if (first_line && helper_wire::is_banner(*first_line)) return HelperMode::kServe;
  if (first_line) {
    *why = "its first line " + shown(*first_line) + " is not '" +
           std::string(helper_wire::kBannerPrefix) + " VERSION'";
  } else if (timed_out) {
    *why = "it wrote nothing within " + std::to_string(kServeProbeMs) + " ms";
  } else {
    *why = "it ended without a banner";
  }
  return HelperMode::kExec;
}

NetHelper::NetHelper(event_base* base, ProcessRunner& runner, std::string program, std::string name)
    : base_(base), runner_(runner), program_(std::move(program)), name_(std::move(name)) {}

NetHelper::~NetHelper() {
  if (!proc_ || !proc_->banner_seen) return;  // a probe is killed and reaped (sys::Child)
  // The daemon is exiting: the requests already written (a veth deletion, say) are still
  // done. The helper gets the ones not yet sent, then end of file, and exits by itself.
  const int flags = ::fcntl(proc_->sock.get(), F_GETFL);
  if (flags >= 0) (void)::fcntl(proc_->sock.get(), F_SETFL, flags & ~O_NONBLOCK);
  for (size_t done = 0; done < proc_->out.size();) {
    const ssize_t n =
        ::send(proc_->sock.get(), proc_->out.data() + done, proc_->out.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  (void)::shutdown(proc_->sock.get(), SHUT_WR);
  (void)proc_->child.release();
}

void NetHelper::call(std::vector<std::string> args, const std::string& owner, int timeout_ms,
                     std::function<void(ProcessOutcome)> done) {
  Request r{next_id_++, std::move(args), owner, timeout_ms, std::move(done)};
  if (mode_ == HelperMode::kExec) return run_exec(std::move(r));
  queue_.push_back(std::move(r));
  if (!proc_) {
    if (auto s = spawn(); !s.ok()) return to_exec_mode(s.error().message);
    return;
  }
  if (!proc_->banner_seen) return;  // sent once the banner is in
  send(queue_.back());
  if (queue_.size() == 1) arm_deadline();
}

void NetHelper::start() {
  if (mode_ == HelperMode::kExec || proc_) return;
  if (auto s = spawn(); !s.ok()) to_exec_mode(s.error().message);
}

Status NetHelper::spawn() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return errno_error("creating the socket of '" + program_ + " serve'");
  }
  Fd ours(sv[0]), theirs0(sv[1]);
  if (::fcntl(ours.get(), F_SETFL, O_NONBLOCK) != 0) {
    return errno_error("making the socket of '" + program_ + " serve' non-blocking");
  }
  // ExecSpec sources must be above the targets 0-2.
  FW_ASSIGN_OR_RETURN(Fd theirs, sys::fd_above(theirs0.get(), STDERR_FILENO + 1, "a socket"));
  theirs0.reset();
  sys::ExecSpec spec{{program_, "serve"},
                     {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
                     {{theirs.get(), STDIN_FILENO}, {theirs.get(), STDOUT_FILENO}}};
  // Its stray stderr (a library's warning) goes where the daemon's goes.
  auto err = sys::fd_above(STDERR_FILENO, STDERR_FILENO + 1, "the daemon's stderr");
  if (err.ok()) spec.fds.push_back({err->get(), STDERR_FILENO});
  Proc p;
  FW_ASSIGN_OR_RETURN(p.child, sys::Child::exec(spec, program_ + " serve"));
  p.sock = std::move(ours);
  proc_.emplace(std::move(p));
  Proc& q = *proc_;
  auto watch = [&]() -> Status {
    FW_ASSIGN_OR_RETURN(q.read_event, Event::make(base_, q.sock.get(), EV_READ | EV_PERSIST,
                                                  read_cb, this, "the net helper's answers"));
    FW_ASSIGN_OR_RETURN(q.write_event, Event::make(base_, q.sock.get(), EV_WRITE | EV_PERSIST,
                                                   write_cb, this, "the net helper's requests"));
    FW_ASSIGN_OR_RETURN(q.exit_event, Event::make(base_, q.child.pidfd(), EV_READ, exit_cb, this,
                                                  "the net helper's pidfd"));
    FW_ASSIGN_OR_RETURN(q.timer, Event::timer(base_, false, timer_cb, this, "its deadline"));
    FW_TRY(q.read_event.add());
    FW_TRY(q.exit_event.add());
    const timeval tv = ms_to_tv(kServeProbeMs);
    return q.timer.add(&tv);
  };
  if (auto s = watch(); !s.ok()) {
    proc_.reset();  // kills and reaps it
    return s.error().wrap("watching '" + program_ + " serve'");
  }
  return {};
}

void NetHelper::send(const Request& r) {
  proc_->out += helper_wire::format_request({r.id, r.owner, r.args});
  on_writable();
}

void NetHelper::on_writable() noexcept {
  if (!proc_) return;
  Proc& p = *proc_;
  while (!p.out.empty()) {
    const ssize_t n = ::send(p.sock.get(), p.out.data(), p.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) {
      // It is gone: its exit (or end of file) is reported on its own.
      p.out.clear();
      break;
    }
    p.out.erase(0, static_cast<size_t>(n));
  }
  if (p.out.empty()) {
    p.write_event.del();
  } else if (!p.write_event.pending()) {
    (void)p.write_event.add();
  }
}

void NetHelper::arm_deadline() {
  if (!proc_ || queue_.empty()) return;
  const timeval tv = ms_to_tv(queue_.front().timeout_ms);
  if (auto s = proc_->timer.add(&tv); !s.ok()) log::warning(s.error().message + ", ignoring");
}

bool NetHelper::read_available() {
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(proc_->sock.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    if (n <= 0) return false;  // end of file: it closed its output or died
    proc_->in.append(buf, static_cast<size_t>(n));
    size_t nl;
    while (proc_ && (nl = proc_->in.find('\n')) != std::string::npos) {
      std::string line = proc_->in.substr(0, nl);
      proc_->in.erase(0, nl + 1);
      handle_line(line);
    }
    if (!proc_) return true;  // ended by what it wrote
    if (proc_->in.size() > kMaxAnswerLine) {
      end_process("wrote a line longer than " + std::to_string(kMaxAnswerLine) + " bytes", true,
                  false);
      restart_or_fall_back();
      return true;
    }
  }
}

void NetHelper::on_readable() noexcept {
  if (proc_ && !read_available() && proc_) ended();
}

void NetHelper::on_exit() noexcept {
  // The answers it wrote before it ended count.
  if (proc_) (void)read_available();
  if (proc_) ended();
}

void NetHelper::ended() {
  if (!proc_->banner_seen) {
    std::string why;
    decide_mode(std::nullopt, false, &why);
    end_process("", false, false);
    return to_exec_mode(why);
  }
  end_process("ended", !queue_.empty(), false);
  restart_or_fall_back();
}

void NetHelper::handle_line(const std::string& line) {
  Proc& p = *proc_;
  if (!p.banner_seen) {
    std::string why;
    if (decide_mode(line, false, &why) != HelperMode::kServe) {
      end_process("", false, false);
      return to_exec_mode(why);
    }
    p.banner_seen = true;
    p.timer.del();
    if (mode_ == HelperMode::kProbing) {
      log::notice("net helper " + program_ + " serves requests (" + line +
                  "): one process for the " + name_);
    }
    mode_ = HelperMode::kServe;
    probed_ = true;
    for (const auto& r : queue_) send(r);
    return arm_deadline();
  }
  auto answer = helper_wire::parse_answer(line);
  std::string bad;
  if (!answer.ok()) {
    bad = answer.error().message;
  } else if (queue_.empty()) {
    bad = "no request is waiting";
  } else if (answer->id != queue_.front().id) {
    bad = "expected the answer to request " + std::to_string(queue_.front().id);
  }
  if (!bad.empty()) {
    end_process("broke the protocol with " + shown(line) + " (" + bad + ")", true, false);
    return restart_or_fall_back();
  }
  p.timer.del();
  ProcessOutcome o;
  o.exit_status = answer->status;
  o.output = std::move(answer->output);
  complete_head(std::move(o));
}

void NetHelper::complete_head(ProcessOutcome o) {
  Request r = std::move(queue_.front());
  queue_.pop_front();
  arm_deadline();
  try {
    r.done(std::move(o));
  } catch (const std::exception& e) {
    log::error(std::string("net helper completion threw: ") + e.what());
  }
}

void NetHelper::on_deadline() noexcept {
  if (!proc_) return;
  if (!proc_->banner_seen) {
    std::string why;
    decide_mode(std::nullopt, true, &why);
    end_process("", false, false);
    return to_exec_mode(why);
  }
  const int ms = queue_.front().timeout_ms;
  end_process("timed out after " +
                  (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms") +
                  " and was killed",
              true, true);
  restart_or_fall_back();
}

void NetHelper::end_process(const std::string& why, bool fail_head, bool timed_out) {
  Proc p = std::move(*proc_);
  proc_.reset();
  const pid_t pid = p.child.pid();
  (void)p.child.signal(SIGKILL);
  auto e = p.child.wait();
  const int status = e.ok() ? e->status() : 255;
  if (why.empty()) return;
  const std::string how = e.ok() ? (e->signaled ? "killed by signal " + std::to_string(e->value)
                                                : "exit status " + std::to_string(e->value))
                                 : "status unknown";
  std::string what = "the serving net helper (pid " + std::to_string(pid) + ") " + why;
  if (!fail_head || queue_.empty()) {
    log::warning(what + " (" + how + "); a new one starts with the next request");
    return;
  }
  what += " (" + how + ") while running '" + queue_.front().args.front() + "'";
  log::warning(what + ": that request fails, the ones after it go to a new helper");
  ProcessOutcome o;
  o.exit_status = timed_out ? 128 + SIGKILL : (status == 0 ? 255 : status);
  o.timed_out = timed_out;
  o.output = what;
  complete_head(std::move(o));
}

void NetHelper::restart_or_fall_back() {
  if (proc_ || queue_.empty()) return;  // restarted meanwhile, or with the next call
  if (auto s = spawn(); !s.ok()) to_exec_mode(s.error().message);
}

void NetHelper::to_exec_mode(const std::string& why) {
  if (mode_ == HelperMode::kProbing) {
    log::notice("net helper " + program_ + " does not serve (" + why +
                "): it is executed once per call for the " + name_);
  } else {
    log::warning("net helper " + program_ + " could not be restarted to serve (" + why +
                 "): it is executed once per call for the " + name_ + " from now on");
  }
  mode_ = HelperMode::kExec;
  auto waiting = std::move(queue_);
  queue_.clear();
  for (auto& r : waiting) run_exec(std::move(r));
}

void NetHelper::run_exec(Request r) {
  std::vector<std::string> argv = {program_};
  argv.insert(argv.end(), r.args.begin(), r.args.end());
  std::vector<std::string> env;
  if (!r.owner.empty()) env.push_back("FIRMWARED_OWNER=" + r.owner);
  auto done = r.done;
  if (auto s = runner_.run(argv, r.timeout_ms, std::move(r.done), env); !s.ok()) {
    ProcessOutcome o;
    o.exit_status = 127;
    o.output = s.error().message;
    done(std::move(o));
  }
}

}  // namespace fw::host
