#include "fwctl/diff.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "firmwared/base/defer.h"
#include "firmwared/base/fd.h"
#include "firmwared/base/strings.h"

namespace fwctl {

namespace {

using fw::protocol::Json;
using fw::protocol::Message;

constexpr const char* kReset = "\033[m";

Deadline no_deadline_unless_asked(const Context& ctx) {
  if (!ctx.timeout_explicit || ctx.timeout <= 0) return std::nullopt;
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(ctx.timeout * 1000));
}

std::string current_dir() {
  char buf[PATH_MAX];
  return ::getcwd(buf, sizeof(buf)) != nullptr ? std::string(buf) : std::string();
}

// Colour on a terminal only, and never when NO_COLOR is set or TERM is dumb.
bool use_color() {
  if (::isatty(1) != 1) return false;
  const char* no = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return (no == nullptr || *no == '\0') && !(term != nullptr && std::string(term) == "dumb");
}

// Sends one request (with the cwd) and returns the successful reply, or the exit code
// after reporting the failure (--json prints the ERROR reply itself).
std::optional<Message> call(Context& ctx, const std::string& command,
                            const std::vector<std::string>& args, int* rc) {
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) {
    *rc = report_error(ctx, client.error(), false);
    return std::nullopt;
  }
  fw::protocol::Request req;
  req.command = command;
  req.args = args;
  if (std::string cwd = current_dir(); !cwd.empty()) req.cwd = cwd;
  auto reply = client->call(req, no_deadline_unless_asked(ctx));
  if (!reply.ok()) {
    *rc = report_error(ctx, reply.error(), false);
    return std::nullopt;
  }
  if (reply->is_error()) {
    if (ctx.json) {
      std::cout << reply->body.dump() << std::endl;
      *rc = kExitError;
    } else {
      *rc = report_error(ctx, reply->error(), true);
    }
    return std::nullopt;
  }
  return std::move(*reply);
}

void print_json(const Message& m) {
  std::cout << m.body.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
}

int usage(const char* verb) {
  std::cerr << "fwctl: usage: " << find_verb(verb)->usage() << "\n";
  return kExitError;
}

int run_content(Context& ctx, const std::string& id, const std::string& path) {
  int rc = kExitOk;
  auto reply = call(ctx, "DIFF_FILE", {id, path}, &rc);
  if (!reply) return rc;
  if (ctx.json) {
    print_json(*reply);
    return kExitOk;
  }
  const std::string text = fw::protocol::field_or(reply->body, "diff", "");
  const std::string summary = fw::protocol::field_or(reply->body, "summary", "");
  if (!text.empty()) std::cout << (use_color() ? color_unified_diff(text) : text);
  if (!summary.empty()) std::cout << summary << "\n";
  std::cout << std::flush;
  if (fw::protocol::field_or(reply->body, "truncated", false)) {
    std::cerr << "fwctl: warning: the diff of " << path << " was cut to fit one reply\n";
  }
  return kExitOk;
}

int run_diff(Context& ctx, const Args& args) {
  const bool stat = args.has("stat"), content = args.has("content");
  const std::vector<std::string>& words = args.operands();
  if (content) {
    if (words.size() != 2 || stat) {
      std::cerr << "fwctl: diff: --content takes ID PATH (one file) and no --stat\n";
      return usage("diff");
    }
    return run_content(ctx, words[0], words[1]);
  }
  int rc = kExitOk;
  auto reply = call(ctx, "DIFF", words, &rc);
  if (!reply) return rc;
  if (ctx.json) {
    print_json(*reply);
    return kExitOk;
  }
  const Json& body = reply->body;
  const Json entries = fw::protocol::field_or(body, "entries", Json::array());
  const Json totals = fw::protocol::field_or(body, "stat", Json::object());
  if (stat) {
    std::cout << format_diff_stat(totals) << std::endl;
  } else if (!entries.empty()) {
    std::cout << format_name_status(entries, use_color()) << std::endl;
  }
  if (fw::protocol::field_or(body, "truncated", false) && !stat) {
    std::cerr << "fwctl: warning: the diff has "
              << fw::protocol::field_or(totals, "total", uint64_t{0}) << " entries, only the first "
              << entries.size()
              << " fit in one reply (give PATHs to narrow it, or fwctl export --changes)\n";
  }
  return kExitOk;
}

// Copies the file at `path` to stdout; "" or what failed.
std::string copy_to_stdout(const std::string& path) {
  fw::Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!in) return "reading the archive '" + path + "': " + std::strerror(errno);
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(in.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "reading the archive '" + path + "': " + std::strerror(errno);
    if (n == 0) return "";
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(1, buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return std::string("writing the archive to stdout: ") + std::strerror(errno);
      done += w;
    }
  }
}

int run_export(Context& ctx, const Args& args) {
  const std::vector<std::string>& words = args.operands();
  std::vector<std::string> options;
  for (const char* o : {"changes", "full", "force"}) {
    if (args.has(o)) options.push_back(std::string("--") + o);
  }
  std::string out = words[1];
  // "-": the archive on stdout. The daemon writes files, as the client, so it writes into a
  // private directory of ours that we copy out and remove.
  const bool to_stdout = out == "-";
  std::string private_dir;
  DEFER {
    if (private_dir.empty()) return;
    ::unlink((private_dir + "/export.tar").c_str());
    ::rmdir(private_dir.c_str());
  };
  if (to_stdout) {
    if (::isatty(1) == 1) {
      std::cerr << "fwctl: export: refusing to write a tar archive to a terminal (redirect "
                   "stdout, or give a file name)\n";
      return kExitError;
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string dir =
        std::string(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp") + "/fwctl-export.XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) {
      std::cerr << "fwctl: export: creating a directory for the archive in '" << dir
                << "': " << std::strerror(errno) << "\n";
      return kExitError;
    }
    private_dir = dir;
    out = private_dir + "/export.tar";
  }
  // The daemon writes the file: give it an absolute path.
  if (out[0] != '/') {
    const std::string cwd = current_dir();
    if (cwd.empty()) {
      std::cerr << "fwctl: export: cannot tell the current directory; give an absolute path\n";
      return kExitError;
    }
    out = cwd + "/" + out;
  }
  std::vector<std::string> req = {words[0]};
  req.insert(req.end(), options.begin(), options.end());
  req.push_back(out);
  int rc = kExitOk;
  auto reply = call(ctx, "EXPORT", req, &rc);
  if (!reply) return rc;
  if (ctx.json) {
    print_json(*reply);
    return kExitOk;
  }
  if (to_stdout) {
    if (const std::string e = copy_to_stdout(out); !e.empty()) {
      std::cerr << "fwctl: export: " << e << "\n";
      return kExitError;
    }
  }
  const Json& b = reply->body;
  // With the archive on stdout, the summary goes to stderr.
  std::ostream& said = to_stdout ? std::cerr : std::cout;
  said << "exported " << fw::protocol::field_or(b, "entries", uint64_t{0}) << " entries ("
       << fw::protocol::field_or(b, "bytes", uint64_t{0}) << " bytes) to "
       << (to_stdout ? std::string("stdout") : fw::protocol::field_or(b, "path", out));
  if (const auto w = fw::protocol::field_or(b, "whiteouts", uint64_t{0}); w > 0) {
    said << ", " << w << " whiteout" << (w == 1 ? "" : "s");
  }
  said << std::endl;
  if (const auto s = fw::protocol::field_or(b, "skipped", uint64_t{0}); s > 0) {
    std::cerr << "fwctl: warning: " << s << " socket(s) skipped (a tar cannot hold them)\n";
  }
  return kExitOk;
}

}  // namespace

std::string format_name_status(const Json& entries, bool color) {
  std::string out;
  for (const auto& e : entries) {
    const std::string status = fw::protocol::field_or(e, "status", "?");
    const char* c = status == "A"   ? "\033[32m"
                    : status == "M" ? "\033[33m"
                    : status == "D" ? "\033[31m"
                                    : "\033[36m";
    if (!out.empty()) out += "\n";
    if (color) out += c;
    out += status + "\t" + fw::protocol::field_or(e, "path", "");
    if (color) out += kReset;
  }
  return out;
}

std::string format_diff_stat(const Json& s) {
  auto n = [&](const char* k) { return std::to_string(fw::protocol::field_or(s, k, uint64_t{0})); };
  auto row = [](const std::string& label, const std::string& value, const std::string& extra) {
    std::string line = label;
    line.resize(21, ' ');
    return line + value + (extra.empty() ? "" : " (" + extra + ")") + "\n";
  };
  std::string out = row("added:", n("added"), n("bytes_added") + " bytes") +
                    row("modified:", n("modified"), n("bytes_modified") + " bytes") +
                    row("deleted:", n("deleted"), n("bytes_deleted") + " bytes") +
                    row("type changed:", n("type_changed"), "") + row("total:", n("total"), "") +
                    row("copied up unchanged:", n("copied_up_unchanged"), "");
  out.pop_back();
  return out;
}

std::string color_unified_diff(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(start, nl - start);
    start = nl + 1;
    const char* c = nullptr;
    if (fw::starts_with(line, "--- ") || fw::starts_with(line, "+++ ")) {
      c = "\033[1m";
    } else if (fw::starts_with(line, "@@")) {
      c = "\033[36m";
    } else if (fw::starts_with(line, "-")) {
      c = "\033[31m";
    } else if (fw::starts_with(line, "+")) {
      c = "\033[32m";
    }
    out += c != nullptr ? c + line + kReset + "\n" : line + "\n";
  }
  return out;
}

bool is_diff_command(const std::string& command) {
  return command == "DIFF" || command == "DIFF_FILE" || command == "EXPORT";
}

std::vector<Verb> diff_verbs() {
  return {
      {.name = "diff",
       .synopsis = "DIFF ID [PATH...]",
       .summary = "Lists what an instance changed, A/M/D/T PATH, like git diff --name-status.",
       .help =
           {"One line per path: A added, M modified (content, mode, owner or xattrs), D deleted,",
            "T type changed. PATHs (from the instance's root) restrict it to those subtrees.",
            "--stat prints counts and bytes instead; --json the daemon's reply (every detail).",
            "ID PATH --content prints a unified diff of one file (firmware vs instance); binary",
            "and non-regular files get a one-line summary. Works for started and stopped",
            "instances; see docs/diff.md."},
       .options = {{"stat", 0, "", "counts and bytes instead of the list"},
                   {"content", 0, "", "ID PATH: a unified diff of one file"}},
       .operands = {"ID [PATH...]", 1, -1},
       .run = run_diff},
      {.name = "export",
       .synopsis = "EXPORT ID --changes|--full PATH [--force]",
       .summary = "Writes an instance's changes or its whole filesystem to a tar file.",
       .help =
           {"--changes: the overlay's upper layer as an OCI layer (deletions as .wh.NAME files,",
            "replaced directories with .wh..wh..opq); --full: the merged tree. The daemon writes",
            "OUT.tar with your uid and gid, and does not replace an existing file unless --force.",
            "OUT.tar '-' writes the archive to stdout (never to a terminal) and the summary to",
            "stderr."},
       .options = {{"changes", 0, "", "the overlay's upper layer, as an OCI layer"},
                   {"full", 0, "", "the merged tree"},
                   {"force", 0, "", "replace an existing OUT.tar"}},
       .operands = {"ID OUT.tar|-", 2, 2},
       .run = run_export},
  };
}

}  // namespace fwctl
