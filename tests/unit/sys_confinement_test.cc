// Root tests of sys::Confinement: a forked child applies it and probes the kernel. Each
// probe is chosen so that the answer tells which layer refused it: e.g. settimeofday(NULL,
// NULL) is a no-op success for the kernel, so EPERM can only come from the seccomp filter;
// adjtimex with a mode is refused by the kernel for lack of CAP_SYS_TIME.

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "firmwared/base/fd.h"
#include "firmwared/sys/confinement.h"

namespace fw::sys {
namespace {

bool must_run() {
  const char* v = ::getenv("FW_TESTS_MUST_RUN");
  return v != nullptr && std::string(v) == "1";
}

using Report = std::map<std::string, long long>;

// errno of a raw system call, 0 when it succeeded.
long long err_of(long rc) { return rc < 0 ? errno : 0; }

// Runs `probe` in a forked child after applying `c`; the child writes "key value" lines.
Report run_confined(const Confinement& c, void (*probe)(std::ostringstream&)) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {{"pipe", errno}};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    std::ostringstream out;
    const char* step = nullptr;
    const int rc = c.apply(&step);
    out << "apply " << rc << "\n";
    if (rc != 0) {
      std::string key = std::string("failed_step_") + (step ? step : "?");
      for (char& ch : key) ch = ch == ' ' ? '_' : ch;
      out << key << " 1\n";
    }
    if (rc == 0) probe(out);
    const std::string s = out.str();
    ssize_t n = ::write(p[1], s.data(), s.size());
    ::_exit(n == static_cast<ssize_t>(s.size()) ? 0 : 1);
  }
  ::close(p[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  Report r;
  std::istringstream in(text);
  std::string key;
  long long value;
  while (in >> key >> value) r[key] = value;
  r["child_exit"] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

void probe_time(std::ostringstream& out) {
  timespec now{};
  out << "clock_gettime " << err_of(::clock_gettime(CLOCK_REALTIME, &now)) << "\n";
  out << "clock_settime_realtime " << err_of(::syscall(SYS_clock_settime, CLOCK_REALTIME, &now))
      << "\n";
  // Without the filter: EINVAL (CLOCK_MONOTONIC cannot be set).
  out << "clock_settime_monotonic " << err_of(::syscall(SYS_clock_settime, CLOCK_MONOTONIC, &now))
      << "\n";
  // Without the filter: 0 (nothing to set).
  out << "settimeofday_null " << err_of(::syscall(SYS_settimeofday, nullptr, nullptr)) << "\n";
  timex tx{};
  out << "adjtimex_read " << err_of(::syscall(SYS_adjtimex, &tx)) << "\n";
  // Rewrites the current maximum error: harmless even if it were allowed.
  tx.modes = ADJ_MAXERROR;
  out << "adjtimex_write " << err_of(::syscall(SYS_adjtimex, &tx)) << "\n";
  timex tx2{};
  out << "clock_adjtime_realtime_read "
      << err_of(::syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx2)) << "\n";
  timex tx3{};
  // Without the filter: EOPNOTSUPP (no adjtime on CLOCK_MONOTONIC).
  out << "clock_adjtime_monotonic_read "
      << err_of(::syscall(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx3)) << "\n";
}

void probe_kernel(std::ostringstream& out) {
  // Without the filter: ENOSYS without module support, else EFAULT/ENOEXEC/EBADF.
  out << "init_module " << err_of(::syscall(SYS_init_module, nullptr, 0, "")) << "\n";
  out << "finit_module " << err_of(::syscall(SYS_finit_module, -1, "", 0)) << "\n";
  out << "delete_module " << err_of(::syscall(SYS_delete_module, "fw_none", 0)) << "\n";
  out << "kexec_load " << err_of(::syscall(SYS_kexec_load, 0, 0, nullptr, 0)) << "\n";
  out << "kexec_file_load " << err_of(::syscall(SYS_kexec_file_load, -1, -1, 0, "", 0)) << "\n";
  // Without the filter: EBADF (root holds CAP_DAC_READ_SEARCH).
  out << "open_by_handle_at " << err_of(::syscall(SYS_open_by_handle_at, -1, nullptr, 0)) << "\n";
  // The new mount API. Without the filter: a descriptor (fsopen of tmpfs), EBADF, ENOENT.
  const long fs = ::syscall(SYS_fsopen, "tmpfs", 0);
  out << "fsopen " << err_of(fs) << "\n";
  if (fs >= 0) ::close(static_cast<int>(fs));
  out << "fsmount " << err_of(::syscall(SYS_fsmount, -1, 0, 0)) << "\n";
  out << "move_mount " << err_of(::syscall(SYS_move_mount, -1, "", -1, "", 0)) << "\n";
  out << "open_tree " << err_of(::syscall(SYS_open_tree, -1, "/nonexistent-fw", 0)) << "\n";

  char dir[] = "/tmp/fw-confinement.XXXXXX";
  if (::mkdtemp(dir) != nullptr) {
    const std::string d = dir;
    out << "mknod_block " << err_of(::mknod((d + "/blk").c_str(), S_IFBLK | 0600, makedev(7, 0)))
        << "\n";
    out << "mknodat_block "
        << err_of(::mknodat(AT_FDCWD, (d + "/blk2").c_str(), S_IFBLK | 0600, makedev(7, 0)))
        << "\n";
    out << "mknod_char " << err_of(::mknod((d + "/null").c_str(), S_IFCHR | 0600, makedev(1, 3)))
        << "\n";
    out << "mknod_fifo " << err_of(::mknod((d + "/fifo").c_str(), S_IFIFO | 0600, 0)) << "\n";
    for (const char* f : {"/blk", "/blk2", "/null", "/fifo"}) ::unlink((d + f).c_str());
    ::rmdir(dir);
  }
}

void probe_caps(std::ostringstream& out) {
  for (int cap : Confinement::dropped_capabilities()) {
    out << "bounding_" << cap << " " << ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) << "\n";
  }
  out << "bounding_sys_admin " << ::prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) << "\n";
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};
  ::syscall(SYS_capget, &h, d);
  for (int cap : Confinement::dropped_capabilities()) {
    const auto bit = CAP_TO_MASK(cap);
    const auto& x = d[CAP_TO_INDEX(cap)];
    out << "held_" << cap << " "
        << ((x.effective & bit) != 0 || (x.permitted & bit) != 0 || (x.inheritable & bit) != 0)
        << "\n";
  }
  out << "effective_sys_admin " << ((d[0].effective & CAP_TO_MASK(CAP_SYS_ADMIN)) != 0) << "\n";
  out << "no_new_privs " << ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) << "\n";
  out << "seccomp_mode " << ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) << "\n";
}

// After execve: what /proc/self/status of a fresh program says (root's execve recomputes
// the sets from the bounding and inheritable sets).
void probe_exec(std::ostringstream& out) {
  int p[2];
  if (::pipe(p) != 0) return;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    const char* argv[] = {"/bin/cat", "/proc/self/status", nullptr};
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(p[1]);
  std::string status;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof(buf))) > 0) status.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  ::waitpid(pid, nullptr, 0);
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    for (const char* key : {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"}) {
      if (line.rfind(key, 0) == 0) {
        const unsigned long long mask =
            std::stoull(line.substr(std::string(key).size()), nullptr, 16);
        unsigned long long bad = 0;
        for (int cap : Confinement::dropped_capabilities()) bad |= mask & (1ULL << cap);
        out << "exec_" << std::string(key, 6) << "_dropped_bits " << bad << "\n";
      }
    }
    if (line.rfind("Seccomp:", 0) == 0) out << "exec_seccomp " << line.substr(8) << "\n";
  }
}

class ConfinementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      if (must_run()) FAIL() << "this test needs root and FW_TESTS_MUST_RUN=1 forbids skipping";
      GTEST_SKIP() << "needs root (capabilities, seccomp without no_new_privs)";
    }
    auto c = Confinement::prepare();
    ASSERT_TRUE(c.ok()) << c.error().message;
    confinement_.emplace(std::move(*c));
  }
  std::optional<Confinement> confinement_;
};

TEST_F(ConfinementTest, PrepareBuildsAFilter) {
  EXPECT_GT(confinement_->filter_instructions(), 10U);
  EXPECT_EQ(confinement_->apparmor_profile(), "");
}

TEST_F(ConfinementTest, SettingTheClockIsRefusedReadingItWorks) {
  Report r = run_confined(*confinement_, probe_time);
  ASSERT_EQ(r["apply"], 0);
  EXPECT_EQ(r["child_exit"], 0);
  EXPECT_EQ(r["clock_gettime"], 0);
  EXPECT_EQ(r["clock_settime_realtime"], EPERM);
  EXPECT_EQ(r["clock_settime_monotonic"], EPERM) << "the filter covers every clock";
  EXPECT_EQ(r["settimeofday_null"], EPERM) << "only the filter refuses a no-op settimeofday";
  EXPECT_EQ(r["adjtimex_read"], 0);
  EXPECT_EQ(r["adjtimex_write"], EPERM) << "no CAP_SYS_TIME";
  EXPECT_EQ(r["clock_adjtime_realtime_read"], 0);
  EXPECT_EQ(r["clock_adjtime_monotonic_read"], EPERM);
}

TEST_F(ConfinementTest, ModulesKexecHandlesAndBlockDevicesAreRefused) {
  Report r = run_confined(*confinement_, probe_kernel);
  ASSERT_EQ(r["apply"], 0);
  for (const char* k : {"init_module", "finit_module", "delete_module", "kexec_load",
                        "kexec_file_load", "open_by_handle_at", "mknod_block", "mknodat_block"}) {
    ASSERT_TRUE(r.count(k)) << k;
    EXPECT_EQ(r[k], EPERM) << k;
  }
  for (const char* k : {"fsopen", "fsmount", "move_mount", "open_tree"}) {
    ASSERT_TRUE(r.count(k)) << k;
    EXPECT_EQ(r[k], ENOSYS) << k << ": the new mount API looks absent";
  }
  EXPECT_EQ(r["mknod_char"], 0) << "character devices and fifos stay allowed";
  EXPECT_EQ(r["mknod_fifo"], 0);
}

TEST_F(ConfinementTest, CapabilitiesLeaveEverySet) {
  Report r = run_confined(*confinement_, probe_caps);
  ASSERT_EQ(r["apply"], 0);
  for (int cap : Confinement::dropped_capabilities()) {
    EXPECT_EQ(r["bounding_" + std::to_string(cap)], 0) << "cap " << cap;
    EXPECT_EQ(r["held_" + std::to_string(cap)], 0) << "cap " << cap;
  }
  EXPECT_EQ(r["bounding_sys_admin"], 1) << "the firmware keeps mounting in its namespace";
  EXPECT_EQ(r["effective_sys_admin"], 1);
  EXPECT_EQ(r["no_new_privs"], 0) << "setuid programs of the firmware keep working";
  EXPECT_EQ(r["seccomp_mode"], 2);
}

TEST_F(ConfinementTest, ExecDoesNotBringCapabilitiesBack) {
  Report r = run_confined(*confinement_, probe_exec);
  ASSERT_EQ(r["apply"], 0);
  for (const char* k :
       {"exec_CapInh_dropped_bits", "exec_CapPrm_dropped_bits", "exec_CapEff_dropped_bits",
        "exec_CapBnd_dropped_bits", "exec_CapAmb_dropped_bits"}) {
    ASSERT_TRUE(r.count(k)) << k;
    EXPECT_EQ(r[k], 0) << k;
  }
  EXPECT_EQ(r["exec_seccomp"], 2) << "the filter survives execve";
}

TEST_F(ConfinementTest, UnconfinedProcessesAreUnaffected) {
  // The parent never applied anything: its children see the kernel's own answers.
  EXPECT_EQ(::prctl(PR_CAPBSET_READ, CAP_SYS_TIME, 0, 0, 0), 1);
  EXPECT_EQ(::prctl(PR_GET_SECCOMP, 0, 0, 0, 0), 0);
}

TEST_F(ConfinementTest, AppArmorRequestNeedsAppArmor) {
  auto c = Confinement::prepare("firmwared_0000");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->apparmor_profile(), "firmwared_0000");
  Report r = run_confined(*c, [](std::ostringstream&) {});
  if (::access("/sys/module/apparmor/parameters/enabled", F_OK) != 0) {
    // No AppArmor: the attribute file does not exist, and the confinement fails closed.
    EXPECT_NE(r["apply"], 0);
    EXPECT_EQ(r["failed_step_opening_/proc/thread-self/attr/exec"] +
                  r["failed_step_requesting_the_AppArmor_profile_at_exec"],
              1);
  }
}

}  // namespace
}  // namespace fw::sys
