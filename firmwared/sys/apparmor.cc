#include "firmwared/sys/apparmor.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/apparmor.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "firmwared/base/defer.h"
#include "firmwared/base/fd.h"
#include "firmwared/base/paths.h"

extern char** environ;

namespace fw::sys::apparmor {

namespace {

constexpr const char* kParserCandidates[] = {"/usr/sbin/apparmor_parser", "/sbin/apparmor_parser",
                                             "/usr/bin/apparmor_parser"};

std::string find_parser() {
  for (const char* p : kParserCandidates) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// The parser's output without its trailing newlines and without the cache notices it
// prints on kernels lacking the cache interface (they are not the reason of a failure).
std::string trim_output(const std::string& out) {
  std::string kept;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    const std::string line = out.substr(start, nl - start);
    if (!line.empty() && line.rfind("Cache read/write disabled", 0) != 0) {
      if (!kept.empty()) kept += "; ";
      kept += line;
    }
    start = nl + 1;
  }
  return kept;
}

Status parser_status(const std::vector<std::string>& args, const std::string& what,
                     std::string_view input = {}) {
  FW_ASSIGN_OR_RETURN(ParserRun run, run_parser(args, input));
  if (run.exit_status == 0) return {};
  std::string message = trim_output(run.output);
  if (message.empty()) message = "exit status " + std::to_string(run.exit_status);
  return make_error(EINVAL, what + ": apparmor_parser: " + message);
}

// Characters that would change the meaning of a path in a profile (AppArmor globbing,
// alternation, quoting, comments, rule separators).
bool safe_profile_path(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || std::strchr("*?[]{}^\"\\,#", c) != nullptr) return false;
  }
  return true;
}

// Replaces the single line starting with `prefix` by `replacement`; false when there is
// not exactly one such line.
bool replace_line(std::string& text, std::string_view prefix, const std::string& replacement) {
  size_t found = std::string::npos;
  for (size_t pos = 0; pos < text.size();) {
    size_t line_start = pos;
    while (line_start < text.size() && (text[line_start] == ' ' || text[line_start] == '\t')) {
      ++line_start;
    }
    if (text.compare(line_start, prefix.size(), prefix) == 0) {
      if (found != std::string::npos) return false;
      found = pos;
    }
    const size_t nl = text.find('\n', pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  if (found == std::string::npos) return false;
  size_t end = text.find('\n', found);
  if (end == std::string::npos) end = text.size();
  text.replace(found, end - found, replacement);
  return true;
}

std::string apparmorfs() {
  char* mnt = nullptr;
  if (aa_find_mountpoint(&mnt) != 0) return "";
  std::string path = mnt;
  std::free(mnt);
  return path;
}

// The parser's stdin: a memfd holding `input` (no pipe to feed while reading its output).
Result<Fd> input_fd(std::string_view input) {
  Fd fd(::memfd_create("apparmor-profile", MFD_CLOEXEC));
  if (!fd) return errno_error("creating a memfd for apparmor_parser's input");
  for (size_t off = 0; off < input.size();) {
    const ssize_t n = ::write(fd.get(), input.data() + off, input.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("writing apparmor_parser's input");
    off += static_cast<size_t>(n);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return errno_error("rewinding apparmor_parser's input");
  return fd;
}

}  // namespace

Status available() {
  if (aa_is_enabled() == 1) return {};
  const int e = errno;
  switch (e) {
    case ENOSYS:
      return make_error(e, "AppArmor is not available: the kernel has no AppArmor");
    case ECANCELED:
      return make_error(e, "AppArmor is disabled (at boot, apparmor=0 or security=)");
    case ENOENT:
      return make_error(e,
                        "AppArmor's interface is missing: securityfs is not mounted on "
                        "/sys/kernel/security");
    case EBUSY:
      return make_error(e, "AppArmor is enabled but another LSM holds the shared interfaces");
    default:
      return errno_error(e, "checking whether AppArmor is enabled");
  }
}

std::string profile_name(const std::string& sha1) { return std::string(kProfilePrefix) + sha1; }

Result<std::string> generate(std::string_view template_text, std::string_view template_origin,
                             const std::string& sha1, const std::string& workspace) {
  if (!safe_profile_path(workspace)) {
    return make_error(EINVAL, "instance workspace '" + workspace +
                                  "' cannot be named in an AppArmor profile: it must be "
                                  "absolute and hold none of * ? [ ] { } ^ \" \\ , # or "
                                  "control characters");
  }
  std::string text(template_text);
  const std::string origin(template_origin);
  if (!replace_line(text, std::string(kRootVariable) + "=",
                    std::string(kRootVariable) + "=\"" + workspace + "\"")) {
    return make_error(EINVAL, "AppArmor template '" + origin + "' must define " +
                                  std::string(kRootVariable) + "= on exactly one line");
  }
  const std::string header = "profile " + std::string(kTemplateName) + " ";
  const size_t at = text.find(header);
  if (at == std::string::npos || text.find(header, at + 1) != std::string::npos) {
    return make_error(EINVAL, "AppArmor template '" + origin + "' must hold exactly one '" +
                                  header + "{' header");
  }
  text.replace(at, header.size(), "profile " + profile_name(sha1) + " ");
  return text;
}

Result<ParserRun> run_parser(const std::vector<std::string>& args, std::string_view input) {
  const std::string parser = find_parser();
  if (parser.empty()) {
    return make_error(ENOENT, "apparmor_parser is not installed (apt-get install apparmor)");
  }
  FW_ASSIGN_OR_RETURN(Fd in, input_fd(input));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error("creating the apparmor_parser pipe");
  Fd out_r(p[0]), out_w(p[1]);
  std::vector<std::string> argv_s = {parser};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  // posix_spawn (vfork-like in glibc) is safe in the multi-threaded daemon. The child gets
  // the input as stdin and the pipe as stdout and stderr; every other fd is O_CLOEXEC.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  DEFER { posix_spawn_file_actions_destroy(&fa); };
  posix_spawn_file_actions_adddup2(&fa, in.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 2);
  pid_t pid = 0;
  if (const int rc = ::posix_spawn(&pid, parser.c_str(), &fa, nullptr, argv.data(), environ);
      rc != 0) {
    return errno_error(rc, "running " + parser);
  }
  out_w.reset();
  ParserRun run;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(out_r.get(), buf, sizeof(buf));
    if (n > 0) {
      if (run.output.size() < (1U << 20)) run.output.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return errno_error("waiting for " + parser);
  }
  run.exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return run;
}

Status load(const std::string& name, std::string_view profile_text) {
  // -K: neither read nor write the policy cache (a stale cached profile must not win).
  return parser_status({"--replace", "-K"}, "loading AppArmor profile " + name, profile_text);
}

Status compile(const std::string& path) {
  return parser_status({"-Q", "-K", "-o", "/dev/null", path},
                       "compiling AppArmor profile '" + path + "'");
}

Status remove(const std::string& name) {
  aa_kernel_interface* ki = nullptr;
  if (aa_kernel_interface_new(&ki, nullptr, nullptr) != 0) {
    return errno_error("opening the kernel's AppArmor interface to remove profile " + name);
  }
  DEFER { aa_kernel_interface_unref(ki); };
  if (aa_kernel_interface_remove_policy(ki, name.c_str()) != 0 && errno != ENOENT) {
    return errno_error("removing AppArmor profile " + name);
  }
  return {};
}

Result<std::vector<std::string>> loaded_profiles(std::string_view prefix) {
  const std::string fs = apparmorfs();
  if (fs.empty()) return make_error(ENOENT, "the AppArmor filesystem is not mounted");
  FW_ASSIGN_OR_RETURN(std::string list, read_small_file(fs + "/profiles"));
  // One "name (mode)" per line.
  std::vector<std::string> names;
  size_t start = 0;
  while (start < list.size()) {
    size_t nl = list.find('\n', start);
    if (nl == std::string::npos) nl = list.size();
    std::string line = list.substr(start, nl - start);
    start = nl + 1;
    if (const size_t mode = line.rfind(" ("); mode != std::string::npos) line.resize(mode);
    if (line.compare(0, prefix.size(), prefix) == 0) names.push_back(line);
  }
  return names;
}

bool is_loaded(const std::string& name) {
  auto names = loaded_profiles(name);
  if (!names.ok()) return false;
  for (const auto& n : *names) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace fw::sys::apparmor
