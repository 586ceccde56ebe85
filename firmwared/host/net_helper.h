#pragma once
// Runs the configured net helper for HookNetwork. When the helper serves (`NET_HOOK serve`
// writes the banner of firmwared/base/helper_wire.h within kServeProbeMs), every call is
// one request line to that one long-lived process: no fork, exec or library loading per
// network step. Otherwise (a script such as examples/net_hook.sh) each call is one exec
// through ProcessRunner. The choice is made once, at the first start, and logged.
//
// Serving: requests are written as they come (pipelined); the helper answers them in
// order. The oldest unanswered request is the one the helper is running: its deadline
// (timeout_ms) starts when it becomes the oldest. A helper that misses a deadline is
// killed, one that dies or breaks the protocol too; that request fails (its outcome says
// why), and a new helper is started for the requests after it, which it had not begun.

#include <event2/event.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/host/event.h"
#include "firmwared/host/process_runner.h"
#include "firmwared/sys/child.h"

namespace fw::host {

inline constexpr int kServeProbeMs = 2000;

enum class HelperMode { kProbing, kServe, kExec };

// The decision on what `NET_HOOK serve` wrote first: `first_line` is its first line
// (std::nullopt when it closed its output or exited without one), `timed_out` when nothing
// came within kServeProbeMs. kServe only for a banner of this protocol version; otherwise
// kExec, with `*why` saying what was seen (for the log).
HelperMode decide_mode(const std::optional<std::string>& first_line, bool timed_out,
                       std::string* why);

class NetHelper {
 public:
  // `program` is the helper's absolute path; `name` names this channel in the log.
  NetHelper(event_base* base, ProcessRunner& runner, std::string program, std::string name);
  // A serving helper gets the requests not yet written and end of file; it finishes them
  // and exits by itself (a veth deletion asked for just before the daemon exits is done).
  ~NetHelper();
  NetHelper(const NetHelper&) = delete;
  NetHelper& operator=(const NetHelper&) = delete;

  HelperMode mode() const { return mode_; }
  // Starts the helper (the probe, the first time) without waiting for a request.
  void start();

  // Runs the helper with `args` (its argv[1..]) and FIRMWARED_OWNER=`owner`; `done` runs on
  // the loop (at once when no helper can be started: exit status 127). The first call
  // starts the probe; calls made while it runs wait for its verdict.
  void call(std::vector<std::string> args, const std::string& owner, int timeout_ms,
            std::function<void(ProcessOutcome)> done);

  // Loop callbacks (libevent).
  void on_readable() noexcept;
  void on_writable() noexcept;
  void on_deadline() noexcept;
  void on_exit() noexcept;

 private:
  struct Request {
    uint64_t id = 0;
    std::vector<std::string> args;
    std::string owner;
    int timeout_ms = 0;
    std::function<void(ProcessOutcome)> done;
  };
  // The serving process, its socket (stdin and stdout) and watchers.
  struct Proc {
    sys::Child child;
    Fd sock;
    Event read_event, write_event, exit_event, timer;
    std::string in, out;  // bytes read not yet a line; bytes not yet written
    bool banner_seen = false;
  };

  Status spawn();
  // Ends the serving process; the oldest request fails with `why` when `fail_head`.
  void end_process(const std::string& why, bool fail_head, bool timed_out);
  // After end_process: a new helper for the remaining requests (or exec mode).
  void restart_or_fall_back();
  void to_exec_mode(const std::string& why);
  void run_exec(Request r);
  void send(const Request& r);
  void arm_deadline();
  void handle_line(const std::string& line);
  // Reads and handles what it wrote; false at end of file.
  bool read_available();
  // It closed its output or exited.
  void ended();
  void complete_head(ProcessOutcome o);

  event_base* base_;
  ProcessRunner& runner_;
  std::string program_, name_;
  HelperMode mode_ = HelperMode::kProbing;
  bool probed_ = false;  // a banner was seen once: later starts are restarts, not probes
  uint64_t next_id_ = 1;
  std::deque<Request> queue_;  // sent (or to send) to proc_, oldest first
  std::optional<Proc> proc_;
};

}  // namespace fw::host
