#include "firmwared/sys/exec.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <sys/syscall.h>
#include <time.h>

#include <fstream>

#include <cstring>

#include "firmwared/sys/confinement.h"
#include "firmwared/sys/exec_control.h"

namespace fw::sys {

namespace {

struct Prepared {
  std::vector<std::string> env;
  std::vector<std::vector<std::string>> candidates;  // argv with argv[0] resolved, to try
  std::vector<char*> envp;
  std::vector<std::vector<char*>> argvs;
};

bool has_key(const std::vector<std::string>& env, const char* key) {
  const size_t n = std::strlen(key);
  for (const auto& e : env) {
    if (e.compare(0, n, key) == 0 && e.size() > n && e[n] == '=') return true;
  }
  return false;
}

// The waiter's supervision of the command (docs/protocol.md, EXEC_SIGNAL and EXEC_RESIZE;
// "Teardown" in exec.h). Post-fork: system calls, memcpy and arithmetic only.
struct Supervision {
  pid_t cmd = -1;
  int cmd_fd = -1;   // pidfd of the command (-1: polled with waitpid)
  int control = -1;  // the daemon's orders (-1: none)
  int master = -1;   // with a pty: its master, relayed to `in`/`out`
  int in = -1, out = -1;
  int host_proc = -1;  // the daemon's /proc (pids as kill(2) counts them here)
  bool tty = false;
};

int64_t now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// The process group a signal is for: the pty's foreground group, as a terminal would
// signal it (the command's when the pty has none, or without a pty).
pid_t target_group(const Supervision& s) {
  pid_t pg = -1;
  if (s.tty && ::ioctl(s.master, TIOCGPGRP, &pg) == 0 && pg > 0) return pg;
  return s.cmd;
}

void deliver(const Supervision& s, int sig) {
  // The command leads its own session and group (run_command): -cmd reaches its job even
  // after the command itself exited, and the command itself if it left its group.
  if (::kill(-target_group(s), sig) != 0) (void)::kill(s.cmd, sig);
}

// Parses a decimal number at `p` (no allocation); advances `p`.
long parse_long(const char*& p, const char* end) {
  while (p < end && *p == ' ') ++p;
  bool neg = p < end && *p == '-';
  if (neg) ++p;
  long v = 0;
  while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  return neg ? -v : v;
}

// Sends `sig` to every process of the command's session or process group, found in the
// daemon's /proc (fields 5 and 6 of /proc/PID/stat, proc(5)), the command itself and
// zombies left out. Returns how many it hit (with 0: how many there are).
int signal_session(const Supervision& s, int sig) {
  if (s.host_proc < 0) return 0;
  int hit = 0;
  alignas(8) char dents[8192];
  ::lseek(s.host_proc, 0, SEEK_SET);
  for (;;) {
    const long n = ::syscall(SYS_getdents64, s.host_proc, dents, sizeof(dents));
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const char* rec = dents + off;
      unsigned short reclen = 0;
      std::memcpy(&reclen, rec + 16, sizeof(reclen));
      const char* name = rec + 19;  // d_ino (8), d_off (8), d_reclen (2), d_type (1)
      off += reclen;
      if (name[0] < '1' || name[0] > '9') continue;
      char path[64];
      size_t len = std::strlen(name);
      if (len > 20) continue;
      std::memcpy(path, name, len);
      std::memcpy(path + len, "/stat", 6);
      const int fd = ::openat(s.host_proc, path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      char stat[512];
      const ssize_t got = ::read(fd, stat, sizeof(stat));
      ::close(fd);
      if (got <= 0) continue;
      const char* end = stat + got;
      const char* p = end;
      while (p > stat && p[-1] != ')') --p;  // comm may hold anything but ends at the last ')'
      if (p == stat) continue;
      // p is past ")": " S ppid pgrp session ..."
      if (p + 2 > end) continue;
      ++p;
      const char state = *p++;
      parse_long(p, end);  // ppid
      const long pgrp = parse_long(p, end);
      const long session = parse_long(p, end);
      if (pgrp != s.cmd && session != s.cmd) continue;
      const char* q = name;
      const long pid = parse_long(q, name + len);
      if (pid == s.cmd || state == 'Z') continue;  // zombies: their parent reaps them
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), sig) == 0) ++hit;
    }
  }
  return hit;
}

// The client is gone: what ends the command's job (SIGHUP on a pty, as a terminal that
// hangs up; SIGTERM otherwise), and SIGCONT so that a stopped process can act on it.
void begin_teardown(const Supervision& s) {
  const int sig = s.tty ? SIGHUP : SIGTERM;
  deliver(s, sig);
  (void)::kill(-s.cmd, sig);
  (void)::kill(s.cmd, sig);
  deliver(s, SIGCONT);
}

void kill_everything(const Supervision& s) {
  (void)::kill(-target_group(s), SIGKILL);
  (void)::kill(-s.cmd, SIGKILL);
  (void)::kill(s.cmd, SIGKILL);
  // Processes may fork while we look: look again until a pass finds nobody (bounded).
  for (int pass = 0; pass < 5 && signal_session(s, SIGKILL) > 0; ++pass) {
  }
}

void write_all(int fd, const char* buf, ssize_t n) {
  for (ssize_t off = 0; off < n;) {
    const ssize_t w = ::write(fd, buf + off, static_cast<size_t>(n - off));
    if (w <= 0) return;
    off += w;
  }
}

// What the pty still holds once the command exited; never waits for processes the
// command left behind holding its slave.
void drain_master(const Supervision& s) {
  if (s.master < 0) return;
  const int flags = ::fcntl(s.master, F_GETFL);
  if (flags >= 0) ::fcntl(s.master, F_SETFL, flags | O_NONBLOCK);
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(s.master, buf, sizeof(buf));
    if (n <= 0) break;
    write_all(s.out, buf, n);
  }
}

void apply_order(const Supervision& s, const ExecOrder& o) {
  if (o.kind == ExecOrder::Kind::kSignal) {
    deliver(s, o.signal);
  } else if (s.tty) {
    // The kernel sends SIGWINCH to the pty's foreground group (tty_ioctl(4), TIOCSWINSZ).
    winsize ws{};
    ws.ws_row = o.rows;
    ws.ws_col = o.cols;
    (void)::ioctl(s.master, TIOCSWINSZ, &ws);
  }
}

// Closes every descriptor but the `n` of `keep` (post-fork: the waiter inherits every
// descriptor of the daemon, among them the control pipes of other EXECs, whose end it must
// not delay, and client sockets).
void close_all_but(int* keep, int n) {
  for (int i = 1; i < n; ++i) {  // insertion sort: a handful of numbers
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; --j) std::swap(keep[j - 1], keep[j]);
  }
  unsigned from = 0;
  for (int i = 0; i < n; ++i) {
    if (keep[i] < 0) continue;
    const auto k = static_cast<unsigned>(keep[i]);
    if (k > from) ::close_range(from, k - 1, 0);
    from = k + 1;
  }
  ::close_range(from, ~0U, 0);
}

int exit_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

// Relays the pty (with one), carries out the daemon's orders, and returns the command's
// status once it exited (and, after a teardown, once its session is gone).
int supervise(const Supervision& s) {
  char buf[8192];
  bool in_open = s.tty && s.in >= 0;
  bool out_open = s.tty;
  bool control_open = s.control >= 0;
  bool ending = false;
  int64_t kill_at = 0;
  for (;;) {
    pollfd fds[4] = {{s.cmd_fd, POLLIN, 0},
                     {control_open ? s.control : -1, POLLIN, 0},
                     {out_open ? s.master : -1, POLLIN, 0},
                     {in_open ? s.in : -1, POLLIN, 0}};
    int timeout = s.cmd_fd < 0 ? 200 : -1;
    if (ending) timeout = 100;  // the grace, and whether the session is empty yet
    if (::poll(fds, 4, timeout) < 0 && errno != EINTR) return kExecCannotRun;
    if (out_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t n = ::read(s.master, buf, sizeof(buf));
      if (n <= 0) {
        out_open = false;  // EIO: every process closed the slave
      } else {
        write_all(s.out, buf, n);
      }
    }
    if (in_open && (fds[3].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t n = ::read(s.in, buf, sizeof(buf));
      if (n <= 0) {
        in_open = false;
        const char eof = 4;  // ^D: end of input for the program on the pty
        write_all(s.master, &eof, 1);
      } else {
        write_all(s.master, buf, n);
      }
    }
    if (control_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char rec[kExecOrderBytes];
      const ssize_t n = ::read(s.control, rec, sizeof(rec));
      if (n > 0) {
        if (auto o = decode_exec_order(rec, static_cast<size_t>(n)); o) apply_order(s, *o);
      } else if (n == 0 || errno != EINTR) {
        control_open = false;
        if (!ending) {
          ending = true;
          kill_at = now_ms() + kExecTeardownGraceMs;
          begin_teardown(s);
        }
      }
    }
    siginfo_t info{};
    const bool exited =
        ::waitid(P_PID, static_cast<id_t>(s.cmd), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == s.cmd;
    if (ending) {
      if (now_ms() < kill_at && !(exited && signal_session(s, 0) == 0)) continue;
      kill_everything(s);
    } else if (!exited) {
      continue;
    }
    // The command is a zombie (its pid, so its group and session ids, not reused until now).
    drain_master(s);
    int st = 0;
    while (::waitpid(s.cmd, &st, 0) < 0 && errno == EINTR) {
    }
    return exit_code(st);
  }
}

[[noreturn]] void run_command(const Prepared& p, const InstanceExecSpec& spec,
                              const Confinement& confinement, int slave) {
  // A session and process group of its own: signals go to its job (EXEC_SIGNAL), and a
  // teardown finds what it started by session id.
  ::setsid();
  if (slave >= 0) {
    // dup2 onto itself would keep O_CLOEXEC: move a low slave out of the way first.
    if (slave < 3) slave = ::fcntl(slave, F_DUPFD_CLOEXEC, 3);
    ::ioctl(slave, TIOCSCTTY, 0);
    for (int i = 0; i < 3; ++i) ::dup2(slave, i);
  } else {
    for (int i = 0; i < 3; ++i) {
      if (spec.stdio[i] != i) ::dup2(spec.stdio[i], i);
    }
  }
  ::close_range(3, ~0U, 0);
  if (::chdir(spec.workdir.c_str()) != 0) ::_exit(kExecCannotRun);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  if (confinement.apply() != 0) ::_exit(kExecCannotRun);
  int err = ENOENT;
  for (const auto& argv : p.argvs) {
    ::execve(argv[0], const_cast<char* const*>(argv.data()), p.envp.data());
    if (errno != ENOENT) err = errno;
  }
  // Like a shell: say why on the command's stderr (write(2) only: we are post-fork).
  const bool missing = err == ENOENT || err == ENOTDIR;
  const char* why = missing ? ": not found\n" : ": cannot execute\n";
  const std::string& name = spec.argv[0];
  ssize_t w = ::write(2, "fwctl exec: ", 12);
  w = ::write(2, name.data(), name.size());
  w = ::write(2, why, std::strlen(why));
  (void)w;
  ::_exit(missing ? kExecNotFound : kExecCannotRun);
}

// The pid a pidfd refers to (its fdinfo's "Pid:" line; -1 once the process is gone).
Result<pid_t> pidfd_pid(int pidfd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(pidfd));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Pid:", 0) == 0) {
      const long pid = std::strtol(line.c_str() + 4, nullptr, 10);
      if (pid <= 0) return make_error(ESRCH, "the instance's PID 1 is gone");
      return static_cast<pid_t>(pid);
    }
  }
  return make_error(EINVAL, "descriptor " + std::to_string(pidfd) + " is not a pidfd");
}

// Whether `pid` is in the same `kind` namespace as we are (true when unknown: no join).
bool same_namespace(pid_t pid, const char* kind) {
  struct stat theirs {
  }, ours{};
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  if (::stat(path.c_str(), &theirs) != 0) return true;
  if (::stat((std::string("/proc/self/ns/") + kind).c_str(), &ours) != 0) return true;
  return theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}

}  // namespace

Result<Child> spawn_in_instance(int init_pidfd, const InstanceExecSpec& spec) {
  if (spec.argv.empty()) return make_error(EINVAL, "no command to run");
  FW_ASSIGN_OR_RETURN(const Confinement confinement, Confinement::prepare(spec.apparmor_profile));
  Prepared p;
  p.env = spec.env;
  if (!has_key(p.env, "PATH")) p.env.push_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has_key(p.env, "HOME")) p.env.push_back("HOME=/");
  if (!has_key(p.env, "TERM")) p.env.push_back(spec.tty ? "TERM=xterm" : "TERM=dumb");
  for (auto& e : p.env) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  // PATH lookup is done here, by name, against the instance's PATH entries (the paths are
  // resolved inside the instance's root by execve itself). The program gets the resolved
  // path as its argv[0], as execvp(3) would give it.
  const std::string& cmd = spec.argv[0];
  if (cmd.find('/') != std::string::npos) {
    p.candidates.push_back(spec.argv);
  } else {
    for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"}) {
      p.candidates.push_back(spec.argv);
      p.candidates.back()[0] = dir + cmd;
    }
  }
  for (auto& c : p.candidates) {
    std::vector<char*> v;
    for (auto& a : c) v.push_back(a.data());
    v.push_back(nullptr);
    p.argvs.push_back(std::move(v));
  }

  // The instance's own user and time namespaces, when it has them (user-namespace mode,
  // time_offset): joined too, the user namespace as its root.
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC;
  FW_ASSIGN_OR_RETURN(const pid_t target, pidfd_pid(init_pidfd));
  if (spec.userns) flags |= CLONE_NEWUSER;
  if (!same_namespace(target, "time")) flags |= CLONE_NEWTIME;
  if (!spec.cgroups.empty() && !same_namespace(target, "cgroup")) flags |= CLONE_NEWCGROUP;
  // Built before fork: the child only makes system calls.
  struct Target {
    std::string procs, leaf, leaf_procs;
  };
  std::vector<Target> targets;
  for (const auto& c : spec.cgroups) {
    targets.push_back({c.dir + "/cgroup.procs", c.leaf,
                       c.leaf.empty() ? std::string() : c.leaf + "/cgroup.procs"});
  }

  return Child::fork("the exec waiter", [&]() -> int {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // A client that went away closes the pipes we write to: EPIPE, not death, so that we
    // still end its command.
    ::signal(SIGPIPE, SIG_IGN);
    // The daemon's /proc, before the instance's mount namespace hides it: a teardown looks
    // for the command's session there, with pids as kill(2) counts them here.
    const int host_proc = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int keep[] = {
        spec.stdio[0], spec.stdio[1], spec.stdio[2], spec.control, init_pidfd, host_proc, 2};
    close_all_but(keep, static_cast<int>(sizeof(keep) / sizeof(keep[0])));
    // Into the instance's cgroups first (host paths, host cgroup namespace), then its
    // cgroup namespace with the others: the command counts against the instance's limits.
    for (const auto& t : targets) {
      int fd = ::open(t.procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return kExecCannotRun;
      if (::write(fd, "0", 1) != 1) {
        if (errno != EBUSY || t.leaf.empty()) return kExecCannotRun;
        ::close(fd);
        (void)::mkdir(t.leaf.c_str(), 0755);
        fd = ::open(t.leaf_procs.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::write(fd, "0", 1) != 1) return kExecCannotRun;
      }
      ::close(fd);
    }
    if (::setns(init_pidfd, flags) != 0) return kExecCannotRun;
    if (spec.userns &&
        (::setgroups(0, nullptr) != 0 || ::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0)) {
      return kExecCannotRun;
    }
    int master = -1, slave = -1;
    if (spec.tty) {
      // The instance's own devpts (mount namespace joined above).
      master = ::open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (master < 0) return kExecCannotRun;
      unsigned unlock = 0;
      if (::ioctl(master, TIOCSPTLCK, &unlock) != 0) return kExecCannotRun;
      // TIOCGPTPEER (Linux 4.13) opens the slave from the master itself, so no path inside
      // the instance (which its root controls) is looked up: the pty is the one of the
      // instance's devpts we just created, never anything of the host.
      slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (slave < 0) return kExecCannotRun;
      if (spec.rows != 0 && spec.cols != 0) {
        winsize ws{};
        ws.ws_row = spec.rows;
        ws.ws_col = spec.cols;
        ::ioctl(slave, TIOCSWINSZ, &ws);
      }
    }
    // setns(CLONE_NEWPID) applies to children: the command is forked into the instance's
    // PID namespace.
    const pid_t cmd_pid = ::fork();
    if (cmd_pid < 0) return kExecCannotRun;
    if (cmd_pid == 0) run_command(p, spec, confinement, slave);
    if (spec.tty) ::close(slave);
    Supervision s;
    s.cmd = cmd_pid;
    s.cmd_fd = static_cast<int>(::syscall(SYS_pidfd_open, cmd_pid, 0));
    s.control = spec.control;
    s.master = master;
    s.in = spec.stdio[0];
    s.out = spec.stdio[1];
    s.host_proc = host_proc;
    s.tty = spec.tty;
    return supervise(s);
  });
}

}  // namespace fw::sys
