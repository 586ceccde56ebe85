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

#include <fstream>

#include <cstring>

#include "firmwared/sys/process.h"

namespace fw::sys {

namespace {

struct Prepared {
  std::vector<std::string> args, env;
  std::vector<std::vector<std::string>> candidates;  // argv[0] resolutions to try
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

// Copies bytes between two descriptors until both directions are done: the pty relay of
// `exec -t`, run by the waiter child (poll/read/write only).
void relay(int master, int in, int out, pid_t cmd) {
  char buf[8192];
  bool in_open = true;
  for (;;) {
    pollfd fds[2] = {{master, POLLIN, 0}, {in_open ? in : -1, POLLIN, 0}};
    if (::poll(fds, 2, 200) < 0 && errno != EINTR) return;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(master, buf, sizeof(buf));
      if (n <= 0) return;  // EIO: the command and its children closed the slave
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(out, buf + off, static_cast<size_t>(n - off));
        if (w <= 0) return;
        off += w;
      }
    }
    if (in_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::read(in, buf, sizeof(buf));
      if (n <= 0) {
        in_open = false;
        const char eof = 4;  // ^D: end of input for the program on the pty
        ssize_t w = ::write(master, &eof, 1);
        (void)w;
      } else {
        ssize_t w = ::write(master, buf, static_cast<size_t>(n));
        (void)w;
      }
    }
    int st;
    if (::waitpid(cmd, &st, WNOHANG) == cmd) {
      // Drain what is left, then report through the normal path.
      for (;;) {
        ssize_t n = ::read(master, buf, sizeof(buf));
        if (n <= 0) break;
        ssize_t w = ::write(out, buf, static_cast<size_t>(n));
        (void)w;
      }
      ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
  }
}

[[noreturn]] void run_command(const Prepared& p, const InstanceExecSpec& spec, int slave) {
  if (slave >= 0) {
    ::setsid();
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
  if (spec.pre_exec && spec.pre_exec() != 0) ::_exit(kExecCannotRun);
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

Result<ExecChild> spawn_in_instance(int init_pidfd, const InstanceExecSpec& spec) {
  if (spec.argv.empty()) return make_error(EINVAL, "no command to run");
  Prepared p;
  p.env = spec.env;
  if (!has_key(p.env, "PATH")) p.env.push_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has_key(p.env, "HOME")) p.env.push_back("HOME=/");
  if (!has_key(p.env, "TERM")) p.env.push_back(spec.tty ? "TERM=xterm" : "TERM=dumb");
  for (auto& e : p.env) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  // PATH lookup is done here, by name, against the instance's PATH entries (the paths are
  // resolved inside the instance's root by execve itself).
  const std::string& cmd = spec.argv[0];
  std::vector<std::string> paths;
  if (cmd.find('/') != std::string::npos) {
    paths.push_back(cmd);
  } else {
    for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"})
      paths.push_back(dir + cmd);
  }
  for (const auto& path : paths) {
    std::vector<std::string> a = spec.argv;
    a[0] = path;
    p.candidates.push_back(std::move(a));
  }
  for (auto& c : p.candidates) {
    std::vector<char*> v;
    v.push_back(c[0].data());
    for (size_t i = 1; i < c.size(); ++i) v.push_back(c[i].data());
    v.push_back(nullptr);
    p.argvs.push_back(std::move(v));
  }
  // Keep argv[0] as the user wrote it for the program itself.
  for (auto& v : p.argvs) (void)v;

  // The instance's own user and time namespaces, when it has them (user-namespace mode,
  // time_offset): joined too, the user namespace as its root.
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC;
  FW_ASSIGN_OR_RETURN(const pid_t target, pidfd_pid(init_pidfd));
  const bool userns = !same_namespace(target, "user");
  if (userns) flags |= CLONE_NEWUSER;
  if (!same_namespace(target, "time")) flags |= CLONE_NEWTIME;
  if (!spec.cgroups.empty() && !same_namespace(target, "cgroup")) flags |= CLONE_NEWCGROUP;
  // Built before fork: the child only makes system calls. A cgroup2 directory whose init
  // enabled controllers for its children takes no process itself (EBUSY, the "no internal
  // processes" rule): the command then goes to a leaf of its own below it.
  struct Target {
    std::string procs, leaf, leaf_procs;
  };
  std::vector<Target> targets;
  for (const auto& c : spec.cgroups) {
    const size_t colon = c.find(':');
    const std::string dir = colon == std::string::npos ? c : c.substr(colon + 1);
    targets.push_back({dir + "/cgroup.procs", dir + "/firmwared-exec.scope",
                       dir + "/firmwared-exec.scope/cgroup.procs"});
  }

  const pid_t waiter = ::fork();
  if (waiter < 0) return errno_error("forking the exec waiter");
  if (waiter == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Into the instance's cgroups first (host paths, host cgroup namespace), then its
    // cgroup namespace with the others: the command counts against the instance's limits.
    for (const auto& t : targets) {
      int fd = ::open(t.procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) ::_exit(kExecCannotRun);
      if (::write(fd, "0", 1) != 1) {
        if (errno != EBUSY) ::_exit(kExecCannotRun);
        ::close(fd);
        (void)::mkdir(t.leaf.c_str(), 0755);
        fd = ::open(t.leaf_procs.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(kExecCannotRun);
      }
      ::close(fd);
    }
    if (::setns(init_pidfd, flags) != 0) ::_exit(kExecCannotRun);
    if (userns &&
        (::setgroups(0, nullptr) != 0 || ::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0)) {
      ::_exit(kExecCannotRun);
    }
    int master = -1, slave = -1;
    if (spec.tty) {
      // The instance's own devpts (mount namespace joined above).
      master = ::open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (master < 0) ::_exit(kExecCannotRun);
      unsigned unlock = 0;
      if (::ioctl(master, TIOCSPTLCK, &unlock) != 0) ::_exit(kExecCannotRun);
      // TIOCGPTPEER (Linux 4.13) opens the slave from the master itself, so no path inside
      // the instance (which its root controls) is looked up: the pty is the one of the
      // instance's devpts we just created, never anything of the host.
      slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (slave < 0) ::_exit(kExecCannotRun);
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
    if (cmd_pid < 0) ::_exit(kExecCannotRun);
    if (cmd_pid == 0) run_command(p, spec, slave);
    if (spec.tty) {
      ::close(slave);
      relay(master, spec.stdio[0], spec.stdio[1], cmd_pid);
    }
    int st = 0;
    while (::waitpid(cmd_pid, &st, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  auto pidfd = pidfd_open(waiter);
  if (!pidfd.ok()) {
    ::kill(waiter, SIGKILL);
    ::waitpid(waiter, nullptr, 0);
    return pidfd.error();
  }
  return ExecChild{std::move(*pidfd), waiter};
}

}  // namespace fw::sys
