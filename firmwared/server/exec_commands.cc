#include "firmwared/server/exec_commands.h"

#include <cctype>
#include <charconv>
#include <map>
#include <memory>

#include "firmwared/base/log.h"
#include "firmwared/base/signals.h"
#include "firmwared/base/strings.h"
#include "firmwared/host/event.h"
#include "firmwared/server/session.h"
#include "firmwared/sys/exec.h"
#include "firmwared/sys/exec_control.h"

namespace fw::server {

using protocol::Json;

namespace {

bool valid_env(const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  for (size_t i = 0; i < eq; ++i) {
    const auto c = static_cast<unsigned char>(kv[i]);
    if (!(std::isalnum(c) || c == '_') || (i == 0 && std::isdigit(c))) return false;
  }
  return true;
}

struct Running;

// The running EXECs by client session and request seq: only the session that sent an EXEC
// finds it (EXEC_SIGNAL, EXEC_RESIZE), and its closing ends them.
class RunningExecs {
 public:
  using Key = std::pair<uint64_t, uint64_t>;  // session id, seq
  void add(Key k, Running* r) { running_[k] = r; }
  void remove(Key k) { running_.erase(k); }
  Running* find(Key k) const {
    auto it = running_.find(k);
    return it == running_.end() ? nullptr : it->second;
  }

 private:
  std::map<Key, Running*> running_;
};

// One running EXEC: its waiter watched on the loop until it exits.
struct Running {
  Running(core::RunningExec e, Responder r, std::shared_ptr<RunningExecs> reg, RunningExecs::Key k)
      : waiter(std::move(e.waiter)),
        control(std::move(e.control)),
        responder(std::move(r)),
        name(std::move(e.name)),
        registry(std::move(reg)),
        key(k) {}
  ~Running() { registry->remove(key); }
  sys::Child waiter;
  sys::ExecControl control;
  host::Event exited;
  Responder responder;
  std::string name;
  std::shared_ptr<RunningExecs> registry;
  RunningExecs::Key key;
};

void exited_cb(evutil_socket_t, short, void* ctx) noexcept {
  std::unique_ptr<Running> r(static_cast<Running*>(ctx));
  auto exit = r->waiter.wait();
  const int status = exit.ok() ? exit->status() : sys::kExecCannotRun;
  try {
    r->responder.ok({{"name", r->name}, {"exit_status", status}});
  } catch (const std::exception& e) {
    log::error(std::string("answering EXEC: ") + e.what());
  }
}

}  // namespace

// ROWSxCOLS, each 1..65535.
bool parse_winsize(const std::string& v, unsigned short& rows, unsigned short& cols) {
  const auto x = v.find('x');
  if (x == std::string::npos) return false;
  auto number = [](const std::string& s, unsigned short& out) {
    if (s.empty() || s.size() > 5) return false;
    unsigned long n = 0;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      n = n * 10 + static_cast<unsigned long>(c - '0');
    }
    if (n == 0 || n > 65535) return false;
    out = static_cast<unsigned short>(n);
    return true;
  };
  return number(v.substr(0, x), rows) && number(v.substr(x + 1), cols);
}

Result<ExecSignalArgs> parse_exec_signal_args(const std::vector<std::string>& args) {
  if (args.size() != 2) return make_error(EINVAL, "EXEC_SIGNAL needs SEQ and SIGNAL");
  ExecSignalArgs a;
  FW_ASSIGN_OR_RETURN(a.seq, parse_exec_seq("EXEC_SIGNAL", args[0]));
  auto sig = parse_signal(args[1]);
  if (!sig.ok()) return make_error(EINVAL, "EXEC_SIGNAL: " + sig.error().message);
  a.signal = *sig;
  return a;
}

Result<ExecResizeArgs> parse_exec_resize_args(const std::vector<std::string>& args) {
  if (args.size() != 2) return make_error(EINVAL, "EXEC_RESIZE needs SEQ and ROWSxCOLS");
  ExecResizeArgs a;
  FW_ASSIGN_OR_RETURN(a.seq, parse_exec_seq("EXEC_RESIZE", args[0]));
  if (!parse_winsize(args[1], a.rows, a.cols)) {
    return make_error(EINVAL,
                      "EXEC_RESIZE " + quote(args[1]) + " is not ROWSxCOLS (each 1..65535)");
  }
  return a;
}

Result<uint64_t> parse_exec_seq(const char* command, const std::string& text) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || v == 0) {
    return make_error(EINVAL, std::string(command) + ": " + quote(text) +
                                  " is not the seq of an EXEC (a positive integer)");
  }
  return v;
}

Result<ExecOptions> parse_exec_args(const std::vector<std::string>& args) {
  ExecOptions o;
  if (args.empty()) return make_error(EINVAL, "EXEC needs an instance and a command");
  o.id = args[0];
  size_t i = 1;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--tty") {
      o.command.tty = true;
    } else if (a == "--winsize" && i + 1 < args.size()) {
      const std::string& v = args[++i];
      if (!parse_winsize(v, o.command.rows, o.command.cols)) {
        return make_error(EINVAL, "EXEC --winsize " + quote(v) + " is not ROWSxCOLS");
      }
    } else if ((a == "--env" || a == "--workdir") && i + 1 < args.size()) {
      const std::string& v = args[++i];
      if (a == "--env") {
        if (!valid_env(v)) {
          return make_error(EINVAL, "EXEC --env " + quote(v) + " is not NAME=VALUE");
        }
        o.command.env.push_back(v);
      } else {
        if (v.empty() || v[0] != '/') {
          return make_error(EINVAL, "EXEC --workdir " + quote(v) +
                                        " must be an absolute path inside the instance");
        }
        o.command.workdir = v;
      }
    } else {
      return make_error(EINVAL, "EXEC: unknown option " + quote(a) +
                                    " (options go before --, the command after it)");
    }
  }
  o.command.argv.assign(args.begin() + static_cast<long>(i), args.end());
  if (o.command.argv.empty() || o.command.argv[0].empty())
    return make_error(EINVAL, "EXEC: no command after --");
  return o;
}

namespace {

// The running EXEC `seq` of the caller's own session: ESRCH otherwise (another client's
// EXEC is never found, whatever seq it names).
Result<Running*> own_exec(const RunningExecs& running, const Caller& caller, uint64_t seq,
                          const char* command) {
  Running* r = running.find({caller.session_id, seq});
  if (r == nullptr || !r->control.open()) {
    return make_error(ESRCH, std::string(command) + ": no command of this connection's EXEC " +
                                 std::to_string(seq) + " is running");
  }
  return r;
}

void send_order(Running& r, const sys::ExecOrder& order, const char* command, Responder& resp,
                Json answer) {
  if (auto st = r.control.send(order); !st.ok()) {
    return resp.fail(st.error().wrap(std::string(command) + " in instance " + r.name));
  }
  answer["name"] = r.name;
  resp.ok(std::move(answer));
}

}  // namespace

void register_exec_commands(Dispatcher& d, core::InstanceExec& exec, event_base* base) {
  auto running = std::make_shared<RunningExecs>();
  d.add("EXEC_SIGNAL", [running](const protocol::Request& req, const Caller& caller, Responder r) {
    auto a = parse_exec_signal_args(req.args);
    if (!a.ok()) return r.fail(a.error());
    auto run = own_exec(*running, caller, a->seq, "EXEC_SIGNAL");
    if (!run.ok()) return r.fail(run.error());
    sys::ExecOrder o;
    o.kind = sys::ExecOrder::Kind::kSignal;
    o.signal = a->signal;
    send_order(**run, o, "EXEC_SIGNAL", r, {{"signal", signal_name(a->signal)}});
  });
  d.add("EXEC_RESIZE", [running](const protocol::Request& req, const Caller& caller, Responder r) {
    auto a = parse_exec_resize_args(req.args);
    if (!a.ok()) return r.fail(a.error());
    auto run = own_exec(*running, caller, a->seq, "EXEC_RESIZE");
    if (!run.ok()) return r.fail(run.error());
    sys::ExecOrder o;
    o.kind = sys::ExecOrder::Kind::kResize;
    o.rows = a->rows;
    o.cols = a->cols;
    send_order(**run, o, "EXEC_RESIZE", r, {{"rows", a->rows}, {"cols", a->cols}});
  });
  d.add("EXEC", [&exec, base, running](const protocol::Request& req, const Caller& caller,
                                       Responder r) {
    auto o = parse_exec_args(req.args);
    if (!o.ok()) return r.fail(o.error());
    if (auto s = exec.check(o->id); !s.ok()) return r.fail(s.error());
    auto session = Session::find(caller.session_id);
    if (!session) return;  // the client is gone
    // The hand-over (docs/protocol.md, EXEC): we ask, the client answers with one byte
    // carrying its stdin, stdout and stderr.
    session->send(
        protocol::encode({{"event", "SEND_FDS"}, {"event_id", 0}, {"seq", req.seq}, {"count", 3}}));
    const ExecOptions opts = *o;
    const RunningExecs::Key key{caller.session_id, req.seq};
    session->receive_fds(5000, [&exec, base, opts, r, running, key](std::vector<Fd> fds) {
      if (fds.size() != 3) {
        return r.fail(make_error(EINVAL,
                                 "EXEC needs the client's stdin, stdout and stderr "
                                 "(SCM_RIGHTS), got " +
                                     std::to_string(fds.size()) + " descriptor(s)"));
      }
      // Our copies of the client's descriptors close with `fds` when we return; the
      // children have theirs.
      auto started = exec.run(opts.id, opts.command, fds);
      if (!started.ok()) return r.fail(started.error());
      auto owned = std::make_unique<Running>(std::move(*started), r, running, key);
      Running* raw = owned.get();
      auto ev =
          host::Event::make(base, raw->waiter.pidfd(), EV_READ, exited_cb, raw, "the EXEC waiter");
      if (!ev.ok() || !ev->add().ok()) {
        return r.fail(make_error(ENOMEM, "watching the EXEC in " + raw->name));
      }
      raw->exited = std::move(*ev);
      running->add(key, raw);
      // The client going away ends its command (sys/exec.h, "Teardown"): closing the
      // control pipe tells the waiter. The waiter is reaped by exited_cb as usual.
      if (auto s = Session::find(key.first); s) {
        s->on_close([running, key] {
          if (Running* gone = running->find(key); gone != nullptr) {
            log::info("client " + std::to_string(key.first) + " left while its EXEC in " +
                      gone->name + " ran: ending the command");
            gone->control.close();
          }
        });
      } else {
        raw->control.close();  // already gone
      }
      owned.release();  // owned by exited_cb
    });
  });
}

}  // namespace fw::server
