#include "firmwared/server/console_commands.h"

#include <event2/event.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <charconv>
#include <memory>
#include <vector>

#include "firmwared/base/log.h"
#include "firmwared/base/strings.h"
#include "firmwared/host/event.h"
#include "firmwared/server/exec_commands.h"
#include "firmwared/server/session.h"
#include "firmwared/sys/console_log.h"

namespace fw::server {

using protocol::Json;
using protocol::Request;

namespace {

// CONSOLE requests, attached at once or parked until their instance starts.
//
// Waiting is a 100 ms poll of Instances::outer_pts rather than a STARTED observer: the
// notification bus (Server::notify, fed by ServerEventSink) is not reachable from the
// command seam and core::Instances has no observer hook, while a timer that only exists
// while some CONSOLE waits costs nothing otherwise. Nothing is lost meanwhile: the outer
// pty queues PID 1's first output until we open it (only an attach to an instance that was
// already started flushes what is queued, since that is stale). The poll also sees
// instances that become started without a STARTED event (re-adopted after a restart).
class ConsoleAttacher {
 public:
  explicit ConsoleAttacher(core::Instances& instances) : instances_(instances) {}
  ConsoleAttacher(const ConsoleAttacher&) = delete;
  ConsoleAttacher& operator=(const ConsoleAttacher&) = delete;

  void handle(const Request& req, const Caller& caller, const Responder& r) {
    auto session = Session::find(caller.session_id);
    if (!session) return;  // the client left: nobody to answer
    auto rec = instances_.find(req.args[0]);
    if (!rec.ok()) return r.fail(rec.error());
    Waiter w{session, rec->sha1, rec->name, r, 0, ""};
    if (try_attach(*session, w, /*flush_stale=*/true)) return;
    session->hold();
    waiters_.push_back(std::move(w));
    arm(session->base());
  }

 private:
  struct Waiter {
    std::weak_ptr<Session> session;
    std::string sha1, name;
    Responder responder;
    int open_failures;  // consecutive failures to open the same pts
    std::string failed_pts;
  };
  static constexpr int kMaxOpenFailures = 20;  // 2 s of a started instance we cannot open
  static constexpr int kGoneCheckTicks = 10;   // look for dropped instances every second

  // Attaches `s` to the instance's console: replies CONSOLE and starts the relay. Returns
  // false when the instance is not started (or its pts cannot be opened yet): keep waiting.
  bool try_attach(Session& s, Waiter& w, bool flush_stale) {
    const std::string pts = instances_.outer_pts(w.sha1);
    if (pts.empty()) {
      // A started instance without a known console was re-adopted after a daemon restart
      // and its monitor's record of the ptys (<workspace>/pts) could not be read.
      if (instances_.state_of(w.sha1) != "started") return false;
      return fail(s, w,
                  make_error(ENOTTY, "the console of instance " + w.name +
                                         " is unknown to this daemon (re-adopted after a "
                                         "restart without its pts record); it is known again "
                                         "after its next start"));
    }
    if (!starts_with(pts, "/dev/pts/")) {
      return fail(
          s, w, make_error(EIO, "console of instance " + w.name + " is not a pts: '" + pts + "'"));
    }
    Fd fd(::open(pts.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (!fd || ::isatty(fd.get()) != 1) {
      // Right after the instance died its state may still say started while the monitor's
      // pty is gone: wait for the next start, unless this persists.
      Error e = errno_error("opening the console " + pts + " of instance " + w.name);
      w.open_failures = w.failed_pts == pts ? w.open_failures + 1 : 1;
      w.failed_pts = pts;
      if (w.open_failures >= kMaxOpenFailures) return fail(s, w, e);
      log::debug(e.message + ", retrying");
      return false;
    }
    // Output queued while nobody was attached is stale (tty buffers keep its start, not its
    // end): tcflush(3) drops it. An attach that waited for the start keeps the boot output.
    if (flush_stale) ::tcflush(fd.get(), TCIFLUSH);
    w.responder.ok({{"sha1", w.sha1}, {"name", w.name}, {"outer_pts", pts}});
    if (auto st = s.start_relay(std::move(fd)); !st.ok()) {
      log::warning("console of instance " + w.name + ": " + st.error().message + ", ignoring");
      s.close(st.error().message);
      return true;
    }
    log::debug("client " + std::to_string(s.id()) + " attached to the console of instance " +
               w.name);
    return true;
  }

  bool fail(Session& s, const Waiter& w, const Error& e) {
    w.responder.fail(e);
    s.resume();
    return true;
  }

  void arm(event_base* base) {
    if (!timer_ && base != nullptr) {
      auto made = host::Event::timer(base, /*persist=*/true, tick_cb, this, "the CONSOLE timer");
      if (made.ok()) timer_ = std::move(*made);
    }
    const timeval period{0, kConsolePollMs * 1000};
    if (auto st = timer_.add(&period); !st.ok()) {
      log::error("cannot arm the CONSOLE timer (" + st.error().message +
                 "): waiting consoles attach on no start");
    }
  }

  static void tick_cb(evutil_socket_t, short, void* ctx) noexcept {
    try {
      static_cast<ConsoleAttacher*>(ctx)->tick();
    } catch (const std::exception& e) {
      log::error(std::string("CONSOLE timer: ") + e.what() + ", ignoring");
    }
  }

  void tick() {
    const bool check_gone = ++ticks_ % kGoneCheckTicks == 0;
    // Attaching or resuming may handle more requests (and park new waiters): work on a copy.
    std::vector<Waiter> waiting = std::move(waiters_);
    waiters_.clear();
    for (auto& w : waiting) {
      auto s = w.session.lock();
      if (!s || s->closed() || s->mode() != Session::Mode::kHeld) continue;
      if (try_attach(*s, w, /*flush_stale=*/false)) continue;
      if (check_gone && !instances_.find(w.sha1).ok()) {
        const std::string why = " was dropped while CONSOLE waited for it to start";
        fail(*s, w, make_error(ENOENT, "instance " + w.name + why));
        continue;
      }
      waiters_.push_back(std::move(w));
    }
    if (waiters_.empty()) timer_.del();
  }

  core::Instances& instances_;
  std::vector<Waiter> waiters_;
  host::Event timer_;
  uint64_t ticks_ = 0;
};

Result<uint64_t> parse_offset(const std::string& text) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end) {
    return make_error(
        EINVAL, "LOGS offset " + quote(text) + " is not a byte offset (a non-negative integer)");
  }
  return v;
}

}  // namespace

void register_console_commands(Dispatcher& d, core::Instances& instances) {
  auto attacher = std::make_shared<ConsoleAttacher>(instances);
  d.add("CONSOLE", [attacher](const Request& req, const Caller& caller, Responder r) {
    attacher->handle(req, caller, r);
  });
  d.add("CONSOLE_RESIZE", [&instances](const Request& req, const Caller&, Responder r) {
    unsigned short rows = 0, cols = 0;
    if (!parse_winsize(req.args[1], rows, cols)) {
      return r.fail(make_error(
          EINVAL, "CONSOLE_RESIZE " + quote(req.args[1]) + " is not ROWSxCOLS (each 1..65535)"));
    }
    auto rec = instances.find(req.args[0]);
    if (!rec.ok()) return r.fail(rec.error());
    const std::string pts = instances.outer_pts(rec->sha1);
    if (pts.empty() || pts.rfind("/dev/pts/", 0) != 0) {
      return r.fail(make_error(EBUSY, "instance " + rec->name + " is not started"));
    }
    // The outer pts: the monitor sees the change (SIGWINCH, the outer pts is its
    // controlling terminal) and gives PID 1's console the same size.
    Fd fd(::open(pts.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    winsize ws{};
    ws.ws_row = rows;
    ws.ws_col = cols;
    if (!fd || ::isatty(fd.get()) != 1 || ::ioctl(fd.get(), TIOCSWINSZ, &ws) != 0) {
      return r.fail(errno_error("resizing the console " + pts + " of instance " + rec->name));
    }
    r.ok({{"sha1", rec->sha1}, {"name", rec->name}, {"rows", rows}, {"cols", cols}});
  });
  d.add("LOGS", [&instances](const Request& req, const Caller&, Responder r) {
    auto rec = instances.find(req.args[0]);
    if (!rec.ok()) return r.fail(rec.error());
    std::optional<uint64_t> offset;
    if (req.args.size() > 1) {
      auto o = parse_offset(req.args[1]);
      if (!o.ok()) return r.fail(o.error());
      offset = *o;
    }
    auto chunk = sys::read_console_log(instances.workspace(rec->sha1).dir(), offset);
    if (!chunk.ok()) {
      return r.fail(chunk.error().wrap("reading the console log of instance " + rec->name));
    }
    // [offset, time_ns, run, separator]: arrays, as a chunk may hold thousands of lines.
    Json lines = Json::array();
    for (const auto& l : chunk->lines) {
      lines.push_back(Json::array({l.offset, l.time_ns, l.run, l.separator ? 1 : 0}));
    }
    r.ok({{"sha1", rec->sha1},
          {"name", rec->name},
          {"data", std::move(chunk->data)},
          {"start", chunk->start},
          {"offset", chunk->offset},
          {"first", chunk->first},
          {"end", chunk->end},
          {"rotated", chunk->rotated},
          {"truncated", chunk->truncated},
          {"lines", std::move(lines)}});
  });
}

}  // namespace fw::server
