#include "firmwared/server/exec_commands.h"

#include <cctype>
#include <memory>

#include "firmwared/base/log.h"
#include "firmwared/base/strings.h"
#include "firmwared/host/event.h"
#include "firmwared/server/session.h"
#include "firmwared/sys/exec.h"

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

// One running EXEC: its waiter watched on the loop until it exits.
struct Running {
  Running(sys::Child w, Responder r, std::string n)
      : waiter(std::move(w)), responder(std::move(r)), name(std::move(n)) {}
  sys::Child waiter;
  host::Event exited;
  Responder responder;
  std::string name;
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

}  // namespace

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

void register_exec_commands(Dispatcher& d, core::InstanceExec& exec, event_base* base) {
  d.add("EXEC", [&exec, base](const protocol::Request& req, const Caller& caller, Responder r) {
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
    session->receive_fds(5000, [&exec, base, opts, r](std::vector<Fd> fds) {
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
      auto running = std::make_unique<Running>(std::move(started->waiter), r, started->name);
      Running* raw = running.get();
      auto ev =
          host::Event::make(base, raw->waiter.pidfd(), EV_READ, exited_cb, raw, "the EXEC waiter");
      if (!ev.ok() || !ev->add().ok()) {
        return r.fail(make_error(ENOMEM, "watching the EXEC in " + raw->name));
      }
      raw->exited = std::move(*ev);
      running.release();  // owned by exited_cb
    });
  });
}

}  // namespace fw::server
