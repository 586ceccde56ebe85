#include "fwctl/verbs.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <iostream>

#include "firmwared/base/strings.h"
#include "firmwared/protocol/commands.h"
#include "fwctl/collect.h"
#include "fwctl/console.h"
#include "fwctl/cp.h"
#include "fwctl/diff.h"
#include "fwctl/doctor.h"
#include "fwctl/events.h"
#include "fwctl/exec.h"
#include "fwctl/format.h"
#include "fwctl/logs.h"
#include "fwctl/prepare.h"
#include "fwctl/ps.h"
#include "fwctl/run.h"
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
// The parser checked the operand count against the command table.
int run_daemon_command(Context& ctx, const fw::protocol::CommandInfo& info, const Args& parsed) {
  const std::vector<std::string>& args = parsed.operands();
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

int run_help(Context&, const Args& args) {
  if (args.operands().empty()) {
    print_overview(std::cout);
    return kExitOk;
  }
  const std::string& word = args.operands()[0];
  const Verb* v = find_verb(fw::to_lower(word));
  if (v == nullptr) {
    std::cerr << unknown_verb_message(word) << "\n";
    return kExitUnknownVerb;
  }
  print_verb_help(*v, std::cout);
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
    // EXEC_SIGNAL and EXEC_RESIZE only mean something on the EXEC's own connection.
    if (c.name == "EXEC_SIGNAL" || c.name == "EXEC_RESIZE") continue;
    // STOP takes --signal and --timeout, STATS prints a table: their verbs follow.
    if (c.name == "STOP" || c.name == "STATS") continue;
    if (is_diff_command(c.name)) continue;  // fwctl diff, fwctl export (fwctl/diff.cc)
    Verb verb;
    verb.name = fw::to_lower(c.name);
    verb.synopsis = c.synopsis;
    verb.summary = c.overview;
    verb.help = c.help;
    // The operands as the synopsis names them: "PREPARE FOLDER PATH|ID" -> "FOLDER PATH|ID".
    std::string operands = c.synopsis.substr(c.name.size());
    if (!operands.empty() && operands[0] == ' ') operands.erase(0, 1);
    verb.operands = {operands, c.min_args, c.max_args};
    // "... PROPERTY VALUE": a value may start with '-' ("--one", "-1").
    verb.operands.free_last =
        operands.size() >= 6 && operands.substr(operands.size() - 6) == " VALUE";
    verb.run = [&c](Context& ctx, const Args& args) { return run_daemon_command(ctx, c, args); };
    if (c.name == "PREPARE") {
      // --name and --label become PREPARE's name= and label= words.
      verb.operands = {"FOLDER PATH|ID", 2, 2};
      verb.options = {{"name", 0, "NAME", "the new instance's name (instead of a generated one)"},
                      {"label", 0, "KEY=VALUE", "a label of the new instance", true}};
      verb.run = [&c](Context& ctx, const Args& args) {
        Args wire;
        for (auto& word : prepare_request_args(args.operands()[0], args.operands()[1],
                                               args.value("name"), args.values("label"))) {
          wire.add_operand(std::move(word));
        }
        return run_daemon_command(ctx, c, wire);
      };
    }
    v.push_back(std::move(verb));
  }
  v.push_back(
      {.name = "events",
       .synopsis = "EVENTS",
       .summary = "Prints the daemon's notifications until BYEBYE or interrupted.",
       .help = {"With --json, one JSON object per line, as sent by the daemon.",
                "--filter KEY=V1,V2 keeps notifications whose field KEY (event, name,",
                "sha1, folder, ...) is one of the values; a bare word such as DEAD means",
                "event=DEAD. Several filters must all match."},
       .options = {{"filter", 0, "KEY=V1[,V2]|EVENT", "keep only matching notifications", true}},
       .run = run_events});
  v.push_back({.name = "help",
               .synopsis = "HELP VERB",
               .summary = "Explains a verb; without one, lists the verbs.",
               .operands = {"[VERB]", 0, 1},
               .run = run_help});
  v.push_back({.name = "console",
               .synopsis = "CONSOLE ID",
               .summary = "Attaches the terminal to the console of an instance; Ctrl-] detaches.",
               .help = {"Waits for the instance to start when it is not started, and attaches "
                        "again when",
                        "it stops and starts again. On a terminal, stdin is in raw mode until "
                        "detached;",
                        "when stdin is not a terminal it is relayed as is and its end detaches."},
               .operands = {"ID", 1, 1},
               .run = run_console});
  v.push_back(
      {.name = "logs",
       .synopsis = "LOGS ID [OFFSET]",
       .summary = "Prints the console history of an instance: console.log.1, then console.log.",
       .help = {"Each start begins with a line '-- run N started TIME --'. Says 'earlier output",
                "was rotated away' on stderr when the history asked for reaches past what is",
                "kept (console_log_max in firmwared.conf). --since TIME takes an ISO 8601 UTC",
                "time (2026-12-05T04:12:33Z) or a duration before now (30s, 10m, 2h, 1d). -f",
                "keeps printing what the instance writes (polling every 200 ms, across log",
                "rotations) until its run ends (at once for an instance that is not running);",
                "--follow-restarts goes on across stops and starts until interrupted. With",
                "--json, one object per line: {time, time_epoch, time_ns, run, line}; a run",
                "separator has \"event\": \"start\" instead of line."},
       .options = {{"follow", 'f', "", "keep printing until the instance's run ends"},
                   {"follow-restarts", 0, "", "keep printing across stops and starts"},
                   {"timestamps", 't', "", "prefix each line with its ISO 8601 UTC time"},
                   {"since", 0, "TIME", "only the lines from TIME on"},
                   {"tail", 0, "N", "only the last N lines (then what comes, with -f)"}},
       .operands = {"ID", 1, 1},
       .run = [](Context& c, const Args& a) { return run_logs(c, a); }});
  v.push_back({.name = "ps",
               .synopsis = "PS [--json] [--filter FILTER]...",
               .summary = "Lists the instances: NAME ID STATE PID FIRMWARE UPTIME MEMORY EXIT.",
               .help = {"PID is the host pid of the instance's PID 1, UPTIME its age and MEMORY "
                        "what its",
                        "cgroup holds, '-' when not started. --json prints an array of objects "
                        "with",
                        "those keys in lower case (memory in bytes) and labels (an object).",
                        "--filter label=KEY, label=KEY=VALUE, name=NAME or state=STATE keeps the",
                        "instances that match; several filters must all match."},
               .options = {{"filter", 0, "FILTER",
                            "label=KEY, label=KEY=VALUE, name=NAME or state=STATE", true}},
               .run = run_ps});
  v.push_back({.name = "restart",
               .synopsis = "RESTART ID",
               .summary = "Restarts an instance: KILL (STOP with --graceful) if started, REMOUNT, "
                          "START.",
               .help = {"The overlay diff stays; REMOUNT makes a rebuilt firmware directory show."},
               .options = {{"graceful", 0, "", "STOP instead of KILL"}},
               .operands = {"ID", 1, 1},
               .run = run_restart});
  v.push_back(
      {.name = "stop",
       .synopsis = "STOP ID [SIGNAL] [TIMEOUT]",
       .summary = "Stops an instance gracefully: its init's stop signal, SIGKILL after a "
                  "timeout.",
       .help = {"SIGNAL defaults to the instance's stop_signal property, else its "
                "firmware's,",
                "chosen at import from its init (systemd SIGRTMIN+3, BusyBox SIGUSR2, "
                "sysvinit",
                "SIGINT, others SIGTERM). --timeout is in seconds (0 to 3600, default 10).",
                "Prints 'ID stopped (SIGNAL)', or that SIGKILL ended it after the timeout."},
       .options = {{"signal", 0, "SIGNAL", "the stop signal (name or number)"},
                   {"timeout", 0, "SECONDS", "SIGKILL after this long (default 10)"}},
       .operands = {"ID", 1, 1},
       .run = run_stop});
  v.push_back({.name = "stats",
               .synopsis = "STATS [ID...]",
               .summary = "Shows the memory, CPU time, processes and OOM kills of started "
                          "instances.",
               .help = {"Without ID: every started instance. Read from each instance's cgroup."},
               .operands = {"[ID...]", 0, -1},
               .run = run_stats});
  v.push_back(
      {.name = "exec",
       .synopsis = "EXEC ID [--tty] [--winsize ROWSxCOLS] [--env NAME=VALUE]... [--workdir DIR] "
                   "-- CMD [ARGS...]",
       .summary = "Runs a command inside a started instance; exits with its status.",
       .help = {"Only pipes and /dev/null cross into an instance: fwctl hands those over and",
                "relays a terminal, files or sockets through pipes it copies; a directory as",
                "stdin is refused. -t gives the command a pseudo-terminal of the instance.",
                "fwctl's own failures exit 125 (daemon error or bad usage), 126 (cannot",
                "execute) or 127 (not found)."},
       .options = {{"tty", 't', "", "give the command a pseudo-terminal"},
                   {"winsize", 0, "ROWSxCOLS", "its size (default: the size of this terminal)"},
                   {"env", 'e', "NAME=VALUE", "set an environment variable", true},
                   {"workdir", 'w', "DIR", "run in DIR (inside the instance)"}},
       .operands = {"ID", 1, 1, true},
       .run = run_exec,
       .usage_exit = 125});
  v.push_back({.name = "start",
               .synopsis = "START ID",
               .summary = "Starts an instance: its firmware's init runs as PID 1.",
               .help = {"--wait-console returns once the console log (from this start on) "
                        "matches the",
                        "extended regular expression REGEX; exit 3 on timeout, 1 if the instance "
                        "stops.",
                        "--timeout (only with --wait-console) bounds that wait."},
               .options = {{"wait-console", 0, "REGEX", "wait until the console matches REGEX"},
                           {"timeout", 0, "SECONDS", "give up --wait-console after this long"}},
               .operands = {"ID", 1, 1},
               .run = run_start});
  v.push_back({.name = "wait",
               .synopsis = "WAIT ID --state ready|started|--exit [--timeout SECONDS]",
               .summary = "Waits until an instance is in the given state, or its PID 1 has "
                          "exited.",
               .help = {"--state: exit 0 once in the state, 3 on timeout.",
                        "--exit: returns when PID 1 exits (at once, with its last status, for "
                        "an",
                        "instance already stopped) and exits with PID 1's status: N for "
                        "exit(N),",
                        "128+S for signal S; prints it (--json: {sha1, name, exit_status, "
                        "reason}).",
                        "Exit 1 when the instance never ran, 124 on timeout."},
               .options = {{"state", 0, "ready|started", "the state to wait for"},
                           {"exit", 0, "", "wait for PID 1 to exit; exit with its status"},
                           {"timeout", 0, "SECONDS", "give up after this long (exit 3, or 124)"}},
               .operands = {"ID", 1, 1},
               .run = run_wait});
  v.push_back({.name = "doctor",
               .synopsis = "DOCTOR",
               .summary = "Checks the host for what firmwared needs and says what to do about "
                          "problems.",
               .help = {"Exit 0 when nothing failed (warnings allowed), 1 otherwise."},
               .run = run_doctor});
  v.push_back(
      {.name = "cp",
       .synopsis = "CP SRC_PATH ID:DEST_PATH | ID:SRC_PATH DEST_PATH",
       .summary = "Copies files or directories into or out of a started instance.",
       .help = {"Like podman cp: directories recursively, owners (numeric), modes and times",
                "kept. DEST an existing directory: the copy goes into it; else it is named",
                "DEST. SRC ending in /. copies a directory's contents. Runs tar inside the",
                "instance (its root bounds every path and symlink); on the host no member",
                "with '..' or an absolute name is written and no symlink is followed."},
       .options = {{"archive", 'a', "", "accepted for podman's sake: owners and modes are kept"}},
       .operands = {"SRC DEST", 2, 2},
       .run = run_cp_verb});
  v.push_back(
      {.name = "run",
       .synopsis = "RUN FIRMWARE [-- CMD [ARGS...]]",
       .summary = "Prepares and starts an instance of FIRMWARE, then runs CMD in it.",
       .help = {"With CMD: exits with CMD's status (fwctl exec's rules); without: prints the",
                "instance's name right after PREPARE (--json: the PREPARED reply). --rm kills",
                "and drops the instance at the end, also when fwctl gets SIGINT, SIGTERM or",
                "SIGHUP (130, 143, 129); without CMD it first waits for PID 1 to exit. Without",
                "--rm an instance that ran CMD or failed to start is left, named on stderr.",
                "--name and --label are those of fwctl prepare."},
       .options = {{"rm", 0, "", "kill and drop the instance at the end"},
                   {"name", 0, "NAME", "name the instance (unique among instances)"},
                   {"label", 0, "KEY=VALUE", "label the instance", true},
                   {"wait-console", 0, "REGEX", "wait until the console matches REGEX"},
                   {"timeout", 0, "SECONDS", "give up --wait-console after this long"}},
       .operands = {"FIRMWARE [-- CMD [ARGS...]]", 1, -1},
       .run = run_run_verb});
  v.push_back(
      {.name = "collect",
       .synopsis = "COLLECT ID DIR",
       .summary = "Writes an instance's artefacts into DIR (new or empty) for a CI job.",
       .help = {"console.log, show.txt, show.json, diff.txt, diff.json, stats.json and",
                "changes.tar (as fwctl export --changes). The daemon keeps no history of",
                "notifications: run `fwctl --json events --filter name=ID` alongside if needed."},
       .operands = {"ID DIR", 2, 2},
       .run = run_collect_verb});
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

void print_verb_help(const Verb& v, std::ostream& out) {
  // The three fdc lines, then fwctl's longer help, usage and options.
  out << "Command " << fw::to_upper(v.name) << "\nSynopsis: " << v.synopsis
      << "\nOverview: " << v.summary << "\n";
  for (const auto& line : v.help) out << line << "\n";
  out << "Usage: " << v.usage() << "\n";
  if (!v.options.empty()) out << "Options:\n" << options_help(v.options);
}

void print_overview(std::ostream& out) {
  out << "usage: fwctl [OPTIONS] VERB [ARGS...]   (options may also follow the verb)\n"
         "       fwctl --help | --version | help [VERB] | VERB --help\n\n"
         "Talks to firmwared over its socket (FIRMWARED_SOCKET_PATH, default "
         "/run/firmwared.sock).\nFWCTL_TIMEOUT sets the reply timeout in seconds (default 2; "
         "long commands wait without limit).\n\nOptions:\n"
      << options_help(global_options())
      << "  (--timeout SECONDS before the verb is the old name of --reply-timeout)\n\nVerbs:\n";
  for (const auto& v : verbs()) {
    std::string name = v.name;
    name.resize(std::max<size_t>(name.size() + 2, 14), ' ');
    out << "  " << name << v.summary << "\n";
  }
  out << "\nExit status: 0 success, 1 daemon error or bad usage, 2 unknown verb,\n"
         "3 daemon unreachable or timeout.\n";
}

std::string unknown_verb_message(const std::string& word) {
  std::vector<std::string> names;
  for (const auto& v : verbs()) names.push_back(v.name);
  const std::string best = suggest(fw::to_lower(word), names);
  return "fwctl: unknown verb '" + word + "'" +
         (best.empty() ? " (fwctl help lists them)" : " (did you mean '" + best + "'?)");
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
