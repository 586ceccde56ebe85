#include "fwctl/verbs.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <iostream>

#include "firmwared/base/strings.h"
#include "firmwared/protocol/commands.h"
#include "fwctl/console.h"
#include "fwctl/diff.h"
#include "fwctl/doctor.h"
#include "fwctl/events.h"
#include "fwctl/exec.h"
#include "fwctl/format.h"
#include "fwctl/logs.h"
#include "fwctl/ps.h"
#include "fwctl/wait.h"

namespace fwctl {

namespace {

using fw::protocol::Message;

Deadline deadline_for(const Context& ctx, bool long_running) {
  if (long_running && !ctx.timeout_explicit) return std::nullopt;
  if (ctx.timeout <= 0) return std::nullopt;
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(ctx.timeout * 1000));
}

std::string current_dir() {
  char buf[PATH_MAX];
  return ::getcwd(buf, sizeof(buf)) != nullptr ? std::string(buf) : std::string();
}

// Sends one command; prints the reply. Returns the exit code.
int run_daemon_command(Context& ctx, const fw::protocol::CommandInfo& info,
                       const std::vector<std::string>& args) {
  const int n = static_cast<int>(args.size());
  if (n < info.min_args || (info.max_args >= 0 && n > info.max_args)) {
    std::cerr << "fwctl: usage: fwctl " << fw::to_lower(info.synopsis.substr(0, info.name.size()))
              << info.synopsis.substr(info.name.size()) << "\n";
    return kExitError;
  }
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) return report_error(ctx, client.error(), false);
  fw::protocol::Request req;
  req.command = info.name;
  req.args = args;
  if (std::string cwd = current_dir(); !cwd.empty()) req.cwd = cwd;
  // An import shows its progress on a terminal (stderr), never on a pipe.
  const bool progress = info.name == "PREPARE" && !ctx.json && ::isatty(2) == 1;
  bool bar_shown = false;
  if (progress) {
    fw::protocol::Request sub;
    sub.command = "SUBSCRIBE";
    auto r = client->call(sub, deadline_for(ctx, false));
    if (!r.ok()) return report_error(ctx, r.error(), false);
  }
  auto on_event = [&](const Message& m) {
    if (!progress || m.name != "PREPARE_PROGRESS") return;
    std::cerr << "\r"
              << format_progress(fw::protocol::field_or(m.body, "percent", 0),
                                 fw::protocol::field_or(m.body, "path", ""))
              << std::flush;
    bar_shown = true;
  };
  auto reply = client->call(req, deadline_for(ctx, info.long_running), on_event);
  if (bar_shown) std::cerr << "\n";
  if (!reply.ok()) return report_error(ctx, reply.error(), false);
  if (ctx.json) {
    std::cout << reply->body.dump() << std::endl;
    return reply->is_error() ? kExitError : kExitOk;
  }
  if (reply->is_error()) return report_error(ctx, reply->error(), true);
  if (auto w = reply->body.find("warning"); w != reply->body.end() && w->is_string()) {
    std::cerr << "fwctl: warning: " << w->get<std::string>() << std::endl;
  }
  const std::string text = format_reply(*reply, args);
  // A value is printed even when empty (scripts read one line per GET).
  if (!text.empty() || reply->name == "GET_PROPERTY" || reply->name == "GET_CONFIG" ||
      reply->name == "SET_PROPERTY") {
    std::cout << text << std::endl;
  }
  return kExitOk;
}

int run_help(Context&, const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::cerr << "fwctl: usage: fwctl help VERB\n";
    return kExitError;
  }
  const Verb* v = find_verb(fw::to_lower(args[0]));
  if (v == nullptr) {
    std::cerr << "fwctl: unknown verb '" << args[0] << "' (fwctl --help lists them)\n";
    return kExitUnknownVerb;
  }
  // The three fdc lines, then fwctl's usage and any longer help.
  std::cout << "Command " << fw::to_upper(v->name) << "\nSynopsis: " << v->synopsis
            << "\nOverview: " << v->summary << "\n";
  for (const auto& line : v->help) std::cout << line << "\n";
  std::cout << "Usage: " << v->usage << "\n";
  return kExitOk;
}

std::vector<Verb> build_verbs() {
  std::vector<Verb> v;
  for (const auto& c : fw::protocol::commands()) {
    if (c.name == "SUBSCRIBE") continue;  // `fwctl events` subscribes
    // `fwctl help` (below) prints the same lines from the shared table, plus the usage; two
    // verbs of one name would leave the choice to std::sort.
    if (c.name == "HELP") continue;
    // CONSOLE and LOGS need more than one request and reply: their verbs follow.
    if (c.name == "CONSOLE" || c.name == "LOGS") continue;
    // EXEC hands over descriptors; START takes CI options: their verbs follow.
    if (c.name == "EXEC" || c.name == "START") continue;
    // STOP takes --signal and --timeout, STATS prints a table: their verbs follow.
    if (c.name == "STOP" || c.name == "STATS") continue;
    if (is_diff_command(c.name)) continue;  // fwctl diff, fwctl export (fwctl/diff.cc)
    Verb verb;
    verb.name = fw::to_lower(c.name);
    verb.usage = "fwctl " + verb.name + c.synopsis.substr(c.name.size());
    verb.synopsis = c.synopsis;
    verb.summary = c.overview;
    verb.help = c.help;
    verb.run = [&c](Context& ctx, const std::vector<std::string>& args) {
      return run_daemon_command(ctx, c, args);
    };
    v.push_back(std::move(verb));
  }
  v.push_back({"events",
               "fwctl events [--filter KEY=V1[,V2]|EVENT]...",
               "EVENTS",
               "Prints the daemon's notifications until BYEBYE or interrupted.",
               {"With --json, one JSON object per line, as sent by the daemon.",
                "--filter KEY=V1,V2 keeps notifications whose field KEY (event, name, sha1,",
                "folder, ...) is one of the values; a bare word such as DEAD means event=DEAD.",
                "Several filters must all match."},
               run_events});
  v.push_back({"help", "fwctl help VERB", "HELP VERB", "Explains a verb.", {}, run_help});
  v.push_back({"console",
               "fwctl console ID",
               "CONSOLE ID",
               "Attaches the terminal to the console of an instance; Ctrl-] detaches.",
               {"Waits for the instance to start when it is not started, and attaches again when",
                "it stops and starts again. On a terminal, stdin is in raw mode until detached;",
                "when stdin is not a terminal it is relayed as is and its end detaches."},
               run_console});
  v.push_back({"logs",
               "fwctl logs ID [-f|--follow-restarts] [--timestamps] [--since TIME] [--tail N]",
               "LOGS ID [OFFSET]",
               "Prints the console history of an instance: console.log.1, then console.log.",
               {"Each start begins with a line '-- run N started TIME --'. Says 'earlier output",
                "was rotated away' on stderr when the history asked for reaches past what is",
                "kept (console_log_max in firmwared.conf). -t/--timestamps prefixes each line",
                "with the ISO 8601 UTC time the monitor read it; --since TIME keeps the lines",
                "from TIME (2026-12-05T04:12:33Z, or 30s, 10m, 2h, 1d ago); --tail N the last",
                "N. -f keeps printing what the instance writes (polling every 200 ms, across",
                "log rotations) until its run ends (at once for an instance that is not",
                "running); --follow-restarts goes on across stops and starts until",
                "interrupted. With --json, one object per line: {time, time_epoch, time_ns,",
                "run, line}; a run separator has \"event\": \"start\" instead of line."},
               [](Context& c, const std::vector<std::string>& a) { return run_logs(c, a); }});
  v.push_back({"ps",
               "fwctl ps [--json]",
               "PS [--json]",
               "Lists the instances: NAME ID STATE PID FIRMWARE UPTIME MEMORY EXIT.",
               {"PID is the host pid of the instance's PID 1, UPTIME its age and MEMORY what its",
                "cgroup holds, '-' when not started. --json prints an array of objects with",
                "those keys in lower case (memory in bytes)."},
               run_ps});
  v.push_back({"restart",
               "fwctl restart [--graceful] ID",
               "RESTART ID",
               "Restarts an instance: KILL (STOP with --graceful) if started, REMOUNT, START.",
               {"The overlay diff stays; REMOUNT makes a rebuilt firmware directory show."},
               run_restart});
  v.push_back({"stop",
               "fwctl stop ID [--signal SIGNAL] [--timeout SECONDS]",
               "STOP ID [SIGNAL] [TIMEOUT]",
               "Stops an instance gracefully: its init's stop signal, SIGKILL after a timeout.",
               {"SIGNAL defaults to the instance's stop_signal property, else its firmware's,",
                "chosen at import from its init (systemd SIGRTMIN+3, BusyBox SIGUSR2, sysvinit",
                "SIGINT, others SIGTERM). --timeout is in seconds (0 to 3600, default 10).",
                "Prints 'ID stopped (SIGNAL)', or that SIGKILL ended it after the timeout."},
               run_stop});
  v.push_back({"stats",
               "fwctl stats [ID...] [--json]",
               "STATS [ID...]",
               "Shows the memory, CPU time, processes and OOM kills of started instances.",
               {"Without ID: every started instance. Read from each instance's cgroup."},
               run_stats});
  v.push_back({"exec",
               "fwctl exec [-t] [-e NAME=VALUE]... [-w DIR] ID -- CMD [ARGS...]",
               "EXEC ID [--tty] [--winsize ROWSxCOLS] [--env NAME=VALUE]... [--workdir DIR] -- "
               "CMD [ARGS...]",
               "Runs a command inside a started instance; exits with its status.",
               {"Only pipes and /dev/null cross into an instance: fwctl hands those over and",
                "relays a terminal, files or sockets through pipes it copies; a directory as",
                "stdin is refused. -t gives the command a pseudo-terminal of the instance.",
                "fwctl's own failures exit 125 (daemon error), 126 (cannot execute) or 127",
                "(not found)."},
               run_exec});
  v.push_back({"start",
               "fwctl start [--wait-console REGEX [--timeout SECONDS]] ID",
               "START ID",
               "Starts an instance: its firmware's init runs as PID 1.",
               {"--wait-console returns once the console log (from this start on) matches the",
                "extended regular expression REGEX; exit 3 on timeout, 1 if the instance stops."},
               run_start});
  v.push_back({"wait",
               "fwctl wait ID --state ready|started [--timeout SECONDS]",
               "WAIT ID --state ready|started [--timeout SECONDS]",
               "Waits until an instance is in the given state; exit 3 on timeout.",
               {},
               run_wait});
  v.push_back({"doctor",
               "fwctl doctor [--json]",
               "DOCTOR",
               "Checks the host for what firmwared needs and says what to do about problems.",
               {"Exit 0 when nothing failed (warnings allowed), 1 otherwise."},
               run_doctor});
  for (auto& d : diff_verbs()) v.push_back(std::move(d));
  std::sort(v.begin(), v.end(), [](const Verb& a, const Verb& b) { return a.name < b.name; });
  return v;
}

}  // namespace

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> table = build_verbs();
  return table;
}

const Verb* find_verb(const std::string& name) {
  for (const auto& v : verbs()) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

int report_error(const Context& ctx, const fw::Error& error, bool from_daemon) {
  if (from_daemon) {
    std::cerr << "firmwared error: " << error.message << std::endl;
    return kExitError;
  }
  (void)ctx;
  std::cerr << "fwctl: " << error.message << std::endl;
  // Not reaching the daemon, or no answer in time.
  return kExitUnreachable;
}

}  // namespace fwctl
