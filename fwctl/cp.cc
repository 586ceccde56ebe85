#include "fwctl/cp.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include "firmwared/base/defer.h"
#include "firmwared/base/strings.h"
#include "fwctl/libarchive.h"

namespace fwctl {

namespace {

// The exit status our scripts use inside the instance for "no such file or directory".
constexpr int kMissing = 3;

// What the first EXEC (into an instance) reports about the destination.
constexpr const char* kProbeScript =
    "if [ -d \"$1\" ]; then echo dir; elif [ -e \"$1\" ] || [ -L \"$1\" ]; then echo other; "
    "elif [ -d \"$2\" ]; then echo none; else echo noparent; fi";
// Writes a tar of ./NAME (of . when NAME is ".") of directory DIR to stdout.
constexpr const char* kCreateScript =
    "cd \"$1\" 2>/dev/null || { echo \"$1: no such directory\" >&2; exit 3; }; "
    "if [ \"$2\" = . ]; then exec tar -cf - .; fi; "
    "[ -e \"$2\" ] || [ -L \"$2\" ] || { echo \"$1/$2: no such file or directory\" >&2; exit 3; }; "
    "exec tar -cf - \"./$2\"";
// Extracts the tar on stdin into directory DIR (owners and modes as stored, numeric: the
// archive has no user or group names).
constexpr const char* kExtractScript = "cd \"$1\" && exec tar -xf -";

std::string errno_text(int e) { return std::strerror(e); }

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    const size_t j = path.find('/', i);
    const std::string c = path.substr(i, j == std::string::npos ? std::string::npos : j - i);
    if (!c.empty() && c != ".") out.push_back(c);
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return out;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool ends_with_slash(const std::string& p) { return p.size() > 1 && p.back() == '/'; }

// Reads `fd` to its end into *out (a pipe: the command's stderr or stdout).
std::thread read_all(int fd, std::string* out) {
  return std::thread([fd, out] {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (out->size() < (1U << 20)) out->append(buf, static_cast<size_t>(n));
    }
  });
}

struct Pipe {
  fw::Fd r, w;
};
fw::Result<Pipe> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fw::errno_error("creating a pipe");
  return Pipe{fw::Fd(p[0]), fw::Fd(p[1])};
}
fw::Result<fw::Fd> dev_null() {
  fw::Fd fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!fd) return fw::errno_error("opening /dev/null");
  return fd;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Reports a failed EXEC; returns the exit code.
int exec_failed(const Context& ctx, const CpPath& side, const fw::Error& e, bool from_daemon) {
  if (!from_daemon) return report_error(ctx, e, false);
  std::cerr << "fwctl: cp: " << side.id << ": " << e.message;
  if (e.code == EBUSY || e.message.find("not started") != std::string::npos) {
    std::cerr << " (cp runs tar inside the instance: start it first)";
  }
  std::cerr << std::endl;
  return kExitError;
}

// ---- host -> instance ----------------------------------------------------------------

// libarchive's message for `a`'s last error; archive_error_string() is NULL when none was
// set, which a std::string cannot be built from.
std::string archive_why(const Libarchive& la, archive* a) {
  const char* why = la.error_string(a);
  return why != nullptr ? why : "unknown libarchive error";
}

// Writes a tar of host path `src` (a directory recursively; symlinks as symlinks) to `fd`,
// its top named `prefix` ("." : the directory's contents). Numeric owners only.
void write_host_tar(int fd, const std::string& src, const std::string& prefix, std::string* error) {
  const Libarchive* lib = load_libarchive(error);
  if (lib == nullptr) return;
  const Libarchive& la = *lib;
  archive* disk = la.read_disk_new();
  archive* out = la.write_new();
  DEFER {
    la.read_free(disk);
    la.write_free(out);
  };
  la.read_disk_set_symlink_physical(disk);
  la.write_set_format_gnutar(out);
  la.write_set_bytes_in_last_block(out, 1);
  if (la.write_open_fd(out, fd) != ARCHIVE_OK) {
    *error = std::string("writing the archive: ") + archive_why(la, out);
    return;
  }
  if (la.read_disk_open(disk, src.c_str()) != ARCHIVE_OK) {
    *error = std::string("reading ") + src + ": " + archive_why(la, disk);
    return;
  }
  for (;;) {
    archive_entry* e = la.entry_new();
    DEFER { la.entry_free(e); };
    int r = la.read_next_header2(disk, e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      *error = std::string("reading ") + src + ": " + archive_why(la, disk);
      return;
    }
    la.read_disk_descend(disk);
    const std::string path = la.entry_pathname(e);
    std::string rel = path.size() > src.size() ? path.substr(src.size()) : "";
    while (fw::starts_with(rel, "/")) rel.erase(0, 1);
    la.entry_set_pathname(e, (prefix == "." && !rel.empty() ? rel
                              : rel.empty()                 ? prefix
                                                            : prefix + "/" + rel)
                                 .c_str());
    la.entry_set_uname(e, nullptr);
    la.entry_set_gname(e, nullptr);
    r = la.write_header(out, e);
    if (r == ARCHIVE_FAILED) {  // e.g. a socket: a tar cannot hold it
      std::cerr << "fwctl: cp: warning: " << path << " skipped: " << archive_why(la, out) << "\n";
      continue;
    }
    if (r < ARCHIVE_WARN) {
      *error = std::string("writing the archive: ") + archive_why(la, out);
      return;
    }
    if (la.entry_filetype(e) != AE_IFREG) continue;
    char buf[1 << 16];
    for (;;) {
      const la_ssize_t n = la.read_data(disk, buf, sizeof(buf));
      if (n < 0) {
        *error = std::string("reading ") + path + ": " + archive_why(la, disk);
        return;
      }
      if (n == 0) break;
      if (la.write_data(out, buf, static_cast<size_t>(n)) < 0) {
        *error = std::string("writing the archive: ") + archive_why(la, out);
        return;
      }
    }
  }
  if (la.write_close(out) != ARCHIVE_OK) {
    *error = std::string("writing the archive: ") + archive_why(la, out);
  }
}

int copy_in(Context& ctx, const std::string& src_arg, const CpPath& dst) {
  std::string src = src_arg;
  while (ends_with_slash(src)) src.pop_back();
  struct stat st {};
  if (::lstat(src.c_str(), &st) != 0) {
    std::cerr << "fwctl: cp: " << src_arg << ": " << errno_text(errno) << std::endl;
    return kExitError;
  }
  auto [src_parent, src_name] = split_parent(src);
  const bool contents = src_name == ".";
  if (src_name == "..") {
    std::cerr << "fwctl: cp: " << src_arg << ": name the directory instead of '..'\n";
    return kExitError;
  }
  if (contents) src = src_parent;
  const bool src_dir = S_ISDIR(st.st_mode);
  std::string dpath = dst.path.empty() || dst.path[0] != '/' ? "/" + dst.path : dst.path;
  auto [dparent, dname] = split_parent(dpath);
  if (dname == "..") {
    std::cerr << "fwctl: cp: " << dst.id << ":" << dst.path
              << ": name the directory instead of '..'\n";
    return kExitError;
  }

  // Where does it go? One EXEC asks.
  std::string probe;
  {
    auto out = make_pipe();
    auto err = make_pipe();
    auto null = dev_null();
    if (!out.ok() || !err.ok() || !null.ok()) {
      std::cerr << "fwctl: cp: "
                << (out.ok() ? err.ok() ? null.error() : err.error() : out.error()).message
                << std::endl;
      return kExitError;
    }
    std::string errors;
    bool from_daemon = false;
    auto status =
        exec_with_fds(ctx, dst.id, {"sh", "-c", kProbeScript, "sh", dpath, dparent},
                      std::move(*null), std::move(out->w), std::move(err->w), &from_daemon);
    std::thread t1 = read_all(out->r.get(), &probe), t2 = read_all(err->r.get(), &errors);
    t1.join();
    t2.join();
    if (!status.ok()) return exec_failed(ctx, dst, status.error(), from_daemon);
    probe = trim(probe);
    if (*status != 0) {
      std::cerr << "fwctl: cp: " << dst.id << ": sh failed (" << *status << "): " << trim(errors)
                << std::endl;
      return kExitError;
    }
  }
  std::string where, prefix;
  if (probe == "dir") {
    where = dpath;
    prefix = contents ? "." : src_name;
  } else if (probe == "other") {
    if (src_dir || ends_with_slash(dst.path)) {
      std::cerr << "fwctl: cp: " << dst.id << ":" << dst.path << ": not a directory (cannot copy "
                << (src_dir ? "a directory" : "into it") << ")\n";
      return kExitError;
    }
    where = dparent;
    prefix = dname;
  } else if (probe == "none") {
    if (ends_with_slash(dst.path) && !src_dir) {
      std::cerr << "fwctl: cp: " << dst.id << ":" << dst.path << ": no such directory\n";
      return kExitError;
    }
    where = dparent;
    prefix = dname;
  } else if (probe == "noparent") {
    std::cerr << "fwctl: cp: " << dst.id << ":" << dparent << ": no such directory\n";
    return kExitError;
  } else {
    std::cerr << "fwctl: cp: " << dst.id << ": unexpected answer from sh: '" << probe << "'\n";
    return kExitError;
  }

  auto in = make_pipe();
  auto err = make_pipe();
  auto null = dev_null();
  if (!in.ok() || !err.ok() || !null.ok()) {
    std::cerr << "fwctl: cp: cannot create pipes\n";
    return kExitError;
  }
  std::string write_error, errors;
  fw::Fd writer = std::move(in->w);
  std::thread t1([&] {
    write_host_tar(writer.get(), src, prefix, &write_error);
    writer.reset();  // EOF for tar
  });
  std::thread t2 = read_all(err->r.get(), &errors);
  bool from_daemon = false;
  auto status = exec_with_fds(ctx, dst.id, {"sh", "-c", kExtractScript, "sh", where},
                              std::move(in->r), std::move(*null), std::move(err->w), &from_daemon);
  t1.join();
  t2.join();
  if (!status.ok()) return exec_failed(ctx, dst, status.error(), from_daemon);
  if (!write_error.empty()) {
    std::cerr << "fwctl: cp: " << write_error << std::endl;
    return kExitError;
  }
  if (*status != 0) {
    std::cerr << "fwctl: cp: tar in " << dst.id << " failed (exit " << *status
              << "): " << trim(errors) << std::endl;
    return kExitError;
  }
  return kExitOk;
}

// ---- instance -> host ----------------------------------------------------------------

}  // namespace

void extract_on_host(HostExtract& x) {
  const Libarchive* lib = load_libarchive(&x.error);
  if (lib == nullptr) return;
  const Libarchive& la = *lib;
  archive* in = la.read_new();
  archive* out = la.write_disk_new();
  DEFER {
    la.read_free(in);
    la.write_free(out);
  };
  la.read_support_format_tar(in);
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_UNLINK |
              ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
              ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
  if (::geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER;  // numeric: no name lookup is set
  la.write_disk_set_options(out, flags);
  if (la.read_open_fd(in, x.fd, 1 << 16) != ARCHIVE_OK) {
    x.error = std::string("reading the archive: ") + archive_why(la, in);
    return;
  }
  bool first = true;
  for (;;) {
    archive_entry* e = nullptr;
    int r = la.read_next_header(in, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      x.error = std::string("reading the archive: ") + archive_why(la, in);
      return;
    }
    const std::string member = la.entry_pathname(e);
    const std::string mapped = map_member(member, x.name, x.prefix);
    if (mapped.empty()) {
      x.error =
          "refusing the tar member '" + member + "' from the instance (not below '" + x.name + "')";
      return;
    }
    if (first && x.dest_not_dir && la.entry_filetype(e) == AE_IFDIR) {
      x.error = x.prefix + ": not a directory (cannot copy a directory onto it)";
      return;
    }
    first = false;
    la.entry_set_pathname(e, mapped.c_str());
    if (const char* link = la.entry_hardlink(e); link != nullptr) {
      const std::string target = map_member(link, x.name, x.prefix);
      if (target.empty()) {
        x.error = "refusing the hard link '" + member + "' to '" + link + "' from the instance";
        return;
      }
      la.entry_set_hardlink(e, target.c_str());
    }
    r = la.write_header(out, e);
    if (r < ARCHIVE_WARN) {
      x.error = mapped + ": " + archive_why(la, out);
      return;
    }
    if (r == ARCHIVE_WARN) {
      std::cerr << "fwctl: cp: warning: " << mapped << ": " << archive_why(la, out) << "\n";
    }
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
      r = la.read_data_block(in, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        x.error = std::string("reading the archive: ") + archive_why(la, in);
        return;
      }
      if (la.write_data_block(out, buf, size, offset) < ARCHIVE_WARN) {
        x.error = mapped + ": " + archive_why(la, out);
        return;
      }
    }
    if (la.write_finish_entry(out) < ARCHIVE_WARN) {
      x.error = mapped + ": " + archive_why(la, out);
      return;
    }
  }
  if (la.write_close(out) < ARCHIVE_WARN) {
    x.error = std::string("finishing the copy: ") + archive_why(la, out);
  }
}

namespace {

int copy_out(Context& ctx, const CpPath& src, const std::string& dst) {
  std::string spath = src.path.empty() || src.path[0] != '/' ? "/" + src.path : src.path;
  auto [sparent, sname] = split_parent(spath);
  if (sname == "..") {
    std::cerr << "fwctl: cp: " << src.id << ":" << src.path
              << ": name the directory instead of '..'\n";
    return kExitError;
  }
  if (sname == ".") sparent = spath;  // "DIR/." or "/": the directory's contents
  HostExtract x;
  x.name = sname;
  std::string where;
  struct stat st {};
  std::string d = dst;
  while (ends_with_slash(d)) d.pop_back();
  auto [dparent, dname] = split_parent(d);
  if (::stat(dst.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    where = dst;
    x.prefix = sname == "." ? "." : sname;
  } else if (errno = 0, ::lstat(d.c_str(), &st) == 0) {
    if (ends_with_slash(dst)) {
      std::cerr << "fwctl: cp: " << dst << ": not a directory\n";
      return kExitError;
    }
    where = dparent;
    x.prefix = dname;
    x.dest_not_dir = true;
  } else if (errno == ENOENT) {
    if (!is_directory(dparent)) {
      std::cerr << "fwctl: cp: " << dparent << ": no such directory\n";
      return kExitError;
    }
    where = dparent;
    x.prefix = dname;
  } else {
    std::cerr << "fwctl: cp: " << dst << ": " << errno_text(errno) << std::endl;
    return kExitError;
  }
  if (x.prefix == "..") {
    std::cerr << "fwctl: cp: " << dst << ": name the directory instead of '..'\n";
    return kExitError;
  }
  // libarchive writes below the current directory: this process's own, we are done with it.
  fw::Fd here(::open(where.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!here || ::fchdir(here.get()) != 0) {
    std::cerr << "fwctl: cp: " << where << ": " << errno_text(errno) << std::endl;
    return kExitError;
  }
  auto out = make_pipe();
  auto err = make_pipe();
  auto null = dev_null();
  if (!out.ok() || !err.ok() || !null.ok()) {
    std::cerr << "fwctl: cp: cannot create pipes\n";
    return kExitError;
  }
  fw::Fd reader = std::move(out->r);
  x.fd = reader.get();
  std::string errors;
  std::thread t1([&] {
    extract_on_host(x);
    reader.reset();  // tar inside gets EPIPE if we stopped early
  });
  std::thread t2 = read_all(err->r.get(), &errors);
  bool from_daemon = false;
  auto status = exec_with_fds(ctx, src.id, {"sh", "-c", kCreateScript, "sh", sparent, sname},
                              std::move(*null), std::move(out->w), std::move(err->w), &from_daemon);
  t1.join();
  t2.join();
  if (!status.ok()) return exec_failed(ctx, src, status.error(), from_daemon);
  if (*status == kMissing) {
    std::cerr << "fwctl: cp: " << src.id << ":" << src.path << ": no such file or directory\n";
    return kExitError;
  }
  if (!x.error.empty()) {
    std::cerr << "fwctl: cp: " << x.error << std::endl;
    return kExitError;
  }
  if (*status != 0) {
    std::cerr << "fwctl: cp: tar in " << src.id << " failed (exit " << *status
              << "): " << trim(errors) << std::endl;
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

CpPath parse_cp_path(const std::string& arg) {
  const size_t colon = arg.find(':');
  if (colon == std::string::npos || colon == 0) return {"", arg};
  const std::string id = arg.substr(0, colon);
  if (id.find('/') != std::string::npos) return {"", arg};
  return {id, arg.substr(colon + 1)};
}

std::pair<std::string, std::string> split_parent(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/") return {"/", "."};
  const size_t slash = p.rfind('/');
  if (slash == std::string::npos) return {".", p};
  if (slash == 0) return {"/", p.substr(1)};
  return {p.substr(0, slash), p.substr(slash + 1)};
}

std::string map_member(const std::string& member, const std::string& name,
                       const std::string& prefix) {
  if (member.empty() || member[0] == '/') return "";
  std::vector<std::string> parts = components(member);
  for (const auto& c : parts) {
    if (c == "..") return "";
  }
  size_t skip = 0;
  if (name != ".") {
    if (parts.empty() || parts[0] != name) return "";
    skip = 1;
  }
  std::string rel;
  for (size_t i = skip; i < parts.size(); ++i) rel += (rel.empty() ? "" : "/") + parts[i];
  if (rel.empty()) return prefix;
  return prefix == "." ? rel : prefix + "/" + rel;
}

fw::Result<int> exec_with_fds(Context& ctx, const std::string& id,
                              const std::vector<std::string>& argv, fw::Fd in, fw::Fd out,
                              fw::Fd err, bool* from_daemon) {
  *from_daemon = false;
  FW_ASSIGN_OR_RETURN(auto client, Client::connect(ctx.socket_path));
  fw::protocol::Request req;
  req.command = "EXEC";
  req.args = {id, "--"};
  req.args.insert(req.args.end(), argv.begin(), argv.end());
  Deadline deadline;
  if (ctx.timeout_explicit && ctx.timeout > 0) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<int64_t>(ctx.timeout * 1000));
  }
  auto seq = client.send_request(req);
  if (!seq.ok()) {
    // The daemon may have refused us before reading the request: its answer is waiting.
    auto refusal = client.read_message(std::chrono::steady_clock::now());
    if (refusal.ok() && refusal->is_error()) {
      *from_daemon = true;
      return refusal->error();
    }
    return seq.error();
  }
  for (;;) {
    // Not FW_ASSIGN_OR_RETURN: GCC 12 at -O2 takes the moved-into Message's name for
    // uninitialized (-Wmaybe-uninitialized, a false positive).
    auto next = client.read_message(deadline);
    if (!next.ok()) return next.error();
    const fw::protocol::Message& m = *next;
    if (m.kind == fw::protocol::Message::Kind::kEvent) {
      if (m.name != "SEND_FDS" || fw::protocol::field_or(m.body, "seq", uint64_t{0}) != *seq || !in)
        continue;
      FW_TRY(client.send_fds({in.get(), out.get(), err.get()}));
      in.reset();
      out.reset();
      err.reset();
      continue;
    }
    if (m.seq != *seq && m.seq != 0) continue;
    if (m.is_error()) {
      *from_daemon = true;
      return m.error();
    }
    return fw::protocol::field_or(m.body, "exit_status", 125);
  }
}

int run_cp(Context& ctx, const std::string& src, const std::string& dst) {
  std::signal(SIGPIPE, SIG_IGN);  // a pipe closed early is an EPIPE we report
  const CpPath s = parse_cp_path(src), d = parse_cp_path(dst);
  if (s.id.empty() == d.id.empty()) {
    std::cerr << "fwctl: cp: one of SRC and DEST must be ID:PATH, the other a host path\n";
    return kExitError;
  }
  // Before anything reaches the instance: a copy that cannot end is not begun.
  if (std::string error; load_libarchive(&error) == nullptr) {
    std::cerr << "fwctl: cp: " << error << "\n";
    return kExitError;
  }
  if (s.id.empty()) return copy_in(ctx, src, d);
  return copy_out(ctx, s, dst);
}

int run_cp_verb(Context& ctx, const Args& args) {
  return run_cp(ctx, args.operands()[0], args.operands()[1]);
}

}  // namespace fwctl
