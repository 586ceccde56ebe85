#include "firmwared/server/exec_commands.h"
#include "firmwared/base/strings.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <memory>

#include "firmwared/base/log.h"
#include "firmwared/base/stdio_fd.h"
#include "firmwared/core/shell_words.h"
#include "firmwared/server/session.h"
#include "firmwared/sys/apparmor.h"
#include "firmwared/sys/confinement.h"
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

// One running EXEC: its waiter's pidfd watched on the loop.
struct Running {
  Running(sys::ExecChild c, Responder r, std::string n)
      : child(std::move(c)), responder(std::move(r)), name(std::move(n)) {}
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
  sys::ExecChild child;
  event* ev = nullptr;
  Responder responder;
  std::string name;
  ~Running() {
    if (ev != nullptr) event_free(ev);
  }
};

void exited_cb(evutil_socket_t, short, void* ctx) noexcept {
  std::unique_ptr<Running> r(static_cast<Running*>(ctx));
  siginfo_t info{};
  int status = sys::kExecCannotRun;
  if (::waitid(static_cast<idtype_t>(3) /* P_PIDFD */, static_cast<id_t>(r->child.pidfd.get()),
               &info, WEXITED) == 0) {
    status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  }
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

constexpr const char* kStreamNames[3] = {"stdin", "stdout", "stderr"};

// docs/security.md: only anonymous pipes and /dev/null, /dev/zero, /dev/full become a
// command's stdio; anything else could be reopened from inside the instance through
// /proc/PID/fd (a host file or directory, a terminal for TIOCSTI, a socket). EINVAL naming
// the first refused stream and what it is.
Status check_stdio(const std::string& name, const std::vector<Fd>& fds) {
  for (size_t i = 0; i < fds.size(); ++i) {
    const StdioKind kind = classify_stdio_fd(fds[i].get());
    if (stdio_may_cross(kind)) continue;
    return make_error(EINVAL, "EXEC " + name + ": " + kStreamNames[i] + " is " + describe(kind) +
                                  "; only pipes and /dev/null cross into an instance "
                                  "(fwctl relays terminals and files)");
  }
  return {};
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
      o.tty = true;
    } else if (a == "--winsize" && i + 1 < args.size()) {
      const std::string& v = args[++i];
      if (!parse_winsize(v, o.rows, o.cols)) {
        return make_error(EINVAL, "EXEC --winsize " + quote(v) + " is not ROWSxCOLS");
      }
    } else if ((a == "--env" || a == "--workdir") && i + 1 < args.size()) {
      const std::string& v = args[++i];
      if (a == "--env") {
        if (!valid_env(v)) {
          return make_error(EINVAL, "EXEC --env " + quote(v) + " is not NAME=VALUE");
        }
        o.env.push_back(v);
      } else {
        if (v.empty() || v[0] != '/') {
          return make_error(EINVAL, "EXEC --workdir " + quote(v) +
                                        " must be an absolute path inside the instance");
        }
        o.workdir = v;
      }
    } else {
      return make_error(EINVAL, "EXEC: unknown option " + quote(a) +
                                    " (options go before --, the command after it)");
    }
  }
  o.argv.assign(args.begin() + static_cast<long>(i), args.end());
  if (o.argv.empty() || o.argv[0].empty()) return make_error(EINVAL, "EXEC: no command after --");
  return o;
}

void register_exec_commands(Dispatcher& d, core::Instances& instances, event_base* base) {
  d.add("EXEC", [&instances, base](const protocol::Request& req, const Caller& caller,
                                   Responder r) {
    auto o = parse_exec_args(req.args);
    if (!o.ok()) return r.fail(o.error());
    auto inst = instances.find(o->id);
    if (!inst.ok()) return r.fail(inst.error());
    if (auto pidfd = instances.init_pidfd(o->id); !pidfd.ok()) return r.fail(pidfd.error());
    auto session = Session::find(caller.session_id);
    if (!session) return;  // the client is gone
    // The hand-over (docs/protocol.md, EXEC): we ask, the client answers with one byte
    // carrying its stdin, stdout and stderr.
    session->send(
        protocol::encode({{"event", "SEND_FDS"}, {"event_id", 0}, {"seq", req.seq}, {"count", 3}}));
    const ExecOptions opts = *o;
    session->receive_fds(5000, [&instances, base, opts, r](std::vector<Fd> fds) {
      if (fds.size() != 3) {
        return r.fail(make_error(EINVAL,
                                 "EXEC needs the client's stdin, stdout and stderr "
                                 "(SCM_RIGHTS), got " +
                                     std::to_string(fds.size()) + " descriptor(s)"));
      }
      auto now = instances.find(opts.id);  // it may have died meanwhile
      if (!now.ok()) return r.fail(now.error());
      // Refused descriptors close with `fds` when we return.
      if (auto s = check_stdio(now->name, fds); !s.ok()) return r.fail(s.error());
      auto pidfd = instances.init_pidfd(opts.id);
      if (!pidfd.ok()) return r.fail(pidfd.error());
      sys::InstanceExecSpec spec;
      spec.argv = opts.argv;
      spec.env = opts.env;
      spec.workdir = opts.workdir;
      spec.tty = opts.tty;
      spec.rows = opts.rows;
      spec.cols = opts.cols;
      spec.cgroups = instances.cgroup_dirs(now->sha1);
      for (int i = 0; i < 3; ++i) spec.stdio[i] = fds[static_cast<size_t>(i)].get();
      // DESIGN §9: the same confinement as PID 1. The instance's profile is loaded exactly
      // when its PID 1 was given it (PREPARE loads it when AppArmor is used).
      const std::string profile = sys::apparmor::profile_name(now->sha1);
      auto confinement =
          sys::Confinement::prepare(sys::apparmor::is_loaded(profile) ? profile : std::string());
      if (!confinement.ok()) {
        return r.fail(confinement.error().wrap("EXEC in instance " + now->name));
      }
      spec.pre_exec = [c = std::make_shared<const sys::Confinement>(std::move(*confinement))]() {
        return c->apply();
      };
      auto child = sys::spawn_in_instance(*pidfd, spec);
      if (!child.ok()) return r.fail(child.error().wrap("EXEC in instance " + now->name));
      // Our copies of the client's descriptors close here; the children have theirs.
      auto running = std::make_unique<Running>(std::move(*child), r, now->name);
      Running* raw = running.get();
      raw->ev = event_new(base, raw->child.pidfd.get(), EV_READ, exited_cb, raw);
      if (raw->ev == nullptr || event_add(raw->ev, nullptr) != 0) {
        return r.fail(make_error(ENOMEM, "watching the EXEC in " + now->name));
      }
      running.release();  // owned by exited_cb
    });
  });
}

}  // namespace fw::server
