// Root tests of sys::CgroupParent on the host's real hierarchies. Every test works below a
// parent of its own ("fwtest-cg-<pid>-<random>"); TearDown kills the forked children,
// removes every instance cgroup and the parent, and checks that nothing is left. A forked
// child waits on a pipe until the test has moved it into the cgroups, then runs its probe
// and reports "key value" lines on another pipe.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "firmwared/base/fd.h"
#include "firmwared/sys/cgroup.h"

namespace fw::sys {
namespace {

bool must_run() {
  const char* v = ::getenv("FW_TESTS_MUST_RUN");
  return v != nullptr && std::string(v) == "1";
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

using Report = std::map<std::string, long long>;

// A forked child that runs `probe` once the test lets it go.
struct Kid {
  pid_t pid = -1;
  Fd go;      // write a byte to start the probe
  Fd report;  // the probe's "key value" lines
};

Kid spawn(const std::function<void(std::ostringstream&)>& probe) {
  int go[2], rep[2];
  if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(rep, O_CLOEXEC) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(go[1]);
    ::close(rep[0]);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(1);
    std::ostringstream out;
    probe(out);
    out << "end 1\n";
    const std::string s = out.str();
    const ssize_t n = ::write(rep[1], s.data(), s.size());
    ::close(rep[1]);
    // Stay (as a member of the cgroup) until killed; the test decides when.
    if (n >= 0) ::pause();
    ::_exit(0);
  }
  ::close(go[0]);
  ::close(rep[1]);
  Kid k;
  k.pid = pid;
  k.go.reset(go[1]);
  k.report.reset(rep[0]);
  return k;
}

// Reads the report up to its "end" line (or EOF: the child died), with a timeout.
Report read_report(Kid& k, int timeout_ms = 20000) {
  std::string text;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (text.find("end 1\n") == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{k.report.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = ::read(k.report.get(), buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  Report r;
  std::istringstream in(text);
  std::string key;
  long long value;
  while (in >> key >> value) r[key] = value;
  return r;
}

// waitpid with a timeout; nullopt when the child is still alive.
std::optional<int> wait_for(pid_t pid, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return st;
    if (r < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

class CgroupRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      if (must_run()) FAIL() << "this test needs root and FW_TESTS_MUST_RUN=1 forbids skipping";
      GTEST_SKIP() << "needs root (cgroup directories, bpf(2))";
    }
    std::random_device rd;
    std::ostringstream name;
    name << "fwtest-cg-" << ::getpid() << "-" << std::hex << rd();
    name_ = name.str();
    auto layout = CgroupLayout::discover();
    ASSERT_TRUE(layout.ok()) << layout.error().message;
    auto parent = CgroupParent::open(*layout, name_);
    ASSERT_TRUE(parent.ok()) << parent.error().message;
    parent_.emplace(std::move(*parent));
    char tmpl[] = "/tmp/fwtest-cg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
  }

  void TearDown() override {
    for (Kid& k : kids_) {
      ::kill(k.pid, SIGKILL);
      while (::waitpid(k.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    if (!tmp_.empty()) {
      for (const char* n : {"b70", "b70child", "c111"}) ::unlink((tmp_ + "/" + n).c_str());
      EXPECT_EQ(::rmdir(tmp_.c_str()), 0) << tmp_;
    }
    if (!parent_) return;
    for (const std::string& c : parent_->children()) {
      Status st = parent_->remove(c);
      EXPECT_TRUE(st.ok()) << st.error().message;
    }
    Status st = parent_->remove_self_if_empty();
    EXPECT_TRUE(st.ok()) << st.error().message;
    for (const std::string& d : parent_->dirs()) EXPECT_FALSE(exists(d)) << d << " is left";
  }

  // Starts `probe` in a child moved into `dirs` (all of `child`'s when empty).
  Kid& start(const std::vector<std::string>& dirs, std::function<void(std::ostringstream&)> probe) {
    kids_.push_back(spawn(probe));
    Kid& k = kids_.back();
    EXPECT_GT(k.pid, 0);
    for (const std::string& d : dirs) {
      std::ofstream procs(d + "/cgroup.procs");
      procs << k.pid << std::flush;
      EXPECT_TRUE(procs.good()) << "moving " << k.pid << " into " << d;
    }
    EXPECT_EQ(::write(k.go.get(), "g", 1), 1);
    return k;
  }

  // The directory of `child` that the limits/stats of `controller` use, and whether it is
  // the cgroup2 one.
  std::pair<std::string, bool> holder(const std::string& child, const std::string& controller) {
    const auto& hs = parent_->layout().hierarchies;
    const auto& on = parent_->unified_controllers();
    for (size_t i = 0; i < hs.size(); ++i) {
      if (hs[i].unified && std::find(on.begin(), on.end(), controller) != on.end()) {
        return {parent_->dirs()[i] + "/" + child, true};
      }
    }
    for (size_t i = 0; i < hs.size(); ++i) {
      if (!hs[i].unified && hs[i].has(controller)) return {parent_->dirs()[i] + "/" + child, false};
    }
    return {"", false};
  }

  std::string dir_in(const std::string& child, bool unified, const std::string& v1_controller) {
    const auto& hs = parent_->layout().hierarchies;
    for (size_t i = 0; i < hs.size(); ++i) {
      if (unified ? hs[i].unified : (!hs[i].unified && hs[i].has(v1_controller))) {
        return parent_->dirs()[i] + "/" + child;
      }
    }
    return "";
  }

  std::vector<std::string> create(const std::string& child, const CgroupLimits& limits = {},
                                  uint32_t uid = 0) {
    auto dirs = parent_->create(child, limits, uid);
    EXPECT_TRUE(dirs.ok()) << dirs.error().message;
    return dirs.ok() ? *dirs : std::vector<std::string>();
  }

  std::string name_;
  std::string tmp_;
  std::optional<CgroupParent> parent_;
  std::vector<Kid> kids_;
};

constexpr char kChild[] = "0123456789abcdef0123456789abcdef01234567";

TEST_F(CgroupRootTest, DiscoverFindsThisMachinesHierarchies) {
  const CgroupLayout& l = parent_->layout();
  ASSERT_FALSE(l.hierarchies.empty());
  if (l.unified_host) {
    ASSERT_EQ(l.hierarchies.size(), 1u);
    EXPECT_TRUE(l.hierarchies[0].unified);
    return;
  }
  // Hybrid (this machine): cgroup2 at /sys/fs/cgroup/unified plus the v1 controllers.
  ASSERT_NE(l.unified(), nullptr);
  EXPECT_EQ(l.unified()->mount, "/sys/fs/cgroup/unified");
  for (const char* c : {"name=systemd", "memory", "pids", "cpu", "cpuacct", "devices"}) {
    ASSERT_NE(l.v1(c), nullptr) << c;
    EXPECT_TRUE(l.v1(c)->mount.starts_with("/sys/fs/cgroup/")) << c;
    EXPECT_TRUE(l.v1(c)->self.starts_with("/")) << c;
  }
  EXPECT_EQ(l.v1("cpuset"), nullptr);  // unused
  for (const std::string& d : parent_->dirs()) EXPECT_TRUE(exists(d)) << d;
}

TEST_F(CgroupRootTest, CreateMakesEveryDirectoryAndWritesTheLimits) {
  const auto dirs = create(kChild, {64 << 20, 16, 50});
  ASSERT_EQ(dirs.size(), parent_->layout().hierarchies.size());
  for (const std::string& d : dirs) EXPECT_TRUE(exists(d + "/cgroup.procs")) << d;
  EXPECT_EQ(parent_->children(), std::vector<std::string>{kChild});

  const auto [mem, mem_v2] = holder(kChild, "memory");
  const auto [pids, pids_v2] = holder(kChild, "pids");
  const auto [cpu, cpu_v2] = holder(kChild, "cpu");
  ASSERT_FALSE(mem.empty());
  ASSERT_FALSE(pids.empty());
  ASSERT_FALSE(cpu.empty());
  const std::string mem_file = mem + (mem_v2 ? "/memory.max" : "/memory.limit_in_bytes");
  const std::string cpu_file = cpu + (cpu_v2 ? "/cpu.weight" : "/cpu.shares");
  EXPECT_EQ(slurp(mem_file), "67108864");
  EXPECT_EQ(slurp(pids + "/pids.max"), "16");
  EXPECT_EQ(slurp(cpu_file), cpu_v2 ? "50" : "512");

  ASSERT_TRUE(parent_->set_limits(kChild, {}).ok());
  // v1 "no limit" reads back as PAGE_COUNTER_MAX pages, rounded down to a page.
  EXPECT_TRUE(mem_v2 ? slurp(mem_file) == "max" : std::stoull(slurp(mem_file)) > (1ULL << 60))
      << slurp(mem_file);
  EXPECT_EQ(slurp(pids + "/pids.max"), "max");
  EXPECT_EQ(slurp(cpu_file), cpu_v2 ? "100" : "1024");

  const Status bad = parent_->set_limits(kChild, {std::nullopt, std::nullopt, 0});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, EINVAL);
}

TEST_F(CgroupRootTest, PidsMaxMakesTheSeventeenthTaskForkFailWithEAGAIN) {
  const auto dirs = create(kChild, {std::nullopt, 16, std::nullopt});
  Kid& k = start(dirs, [](std::ostringstream& out) {
    pid_t kids[64];
    int n = 0, err = 0;
    for (; n < 64; ++n) {
      const pid_t p = ::fork();
      if (p == 0) {
        ::pause();
        ::_exit(0);
      }
      if (p < 0) {
        err = errno;
        break;
      }
      kids[n] = p;
    }
    for (int i = 0; i < n; ++i) ::kill(kids[i], SIGKILL);
    for (int i = 0; i < n; ++i) ::waitpid(kids[i], nullptr, 0);
    out << "forks " << n << "\nerrno " << err << "\n";
  });
  Report r = read_report(k);
  EXPECT_EQ(r["forks"], 15) << "the child itself is the 16th task";
  EXPECT_EQ(r["errno"], EAGAIN);
  auto stats = parent_->stats(kChild);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->pids_current, 1u);
}

TEST_F(CgroupRootTest, MemoryLimitOomKillsTheChildAndTheNotifierFires) {
  const auto dirs = create(kChild, {32 << 20, std::nullopt, std::nullopt});
  auto notifier = parent_->oom_notifier(kChild);
  ASSERT_TRUE(notifier.ok()) << notifier.error().message;
  pollfd before{notifier->get(), POLLIN, 0};
  EXPECT_EQ(::poll(&before, 1, 0), 0) << "readable before any OOM";
  Kid& k = start(dirs, [](std::ostringstream& out) {
    const size_t size = 256u << 20;
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      out << "mmap_errno " << errno << "\n";
      return;
    }
    for (size_t i = 0; i < size; i += 4096) static_cast<volatile char*>(m)[i] = 1;
    out << "survived 1\n";
  });
  const std::optional<int> st = wait_for(k.pid, 20000);
  ASSERT_TRUE(st.has_value()) << "the child was not killed";
  k.pid = -1;
  kids_.pop_back();
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << "status " << *st;
  pollfd p{notifier->get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1) << "the OOM notifier did not fire";
  auto stats = parent_->stats(kChild);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_GE(stats->oom_kills, 1u);
  ASSERT_TRUE(stats->memory_peak.has_value());
  EXPECT_LE(*stats->memory_peak, 32u << 20);
}

TEST_F(CgroupRootTest, StatsCountMemoryAndCpuOfABusyChild) {
  const auto dirs = create(kChild);
  Kid& k = start(dirs, [](std::ostringstream& out) {
    const size_t size = 8u << 20;
    char* m = static_cast<char*>(
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    unsigned x = 0;
    while (std::chrono::steady_clock::now() < until) {
      for (size_t i = 0; i < size; i += 4096) m[i] = static_cast<char>(++x);
    }
    out << "done 1\n";  // the mapping stays: the child pauses until killed
  });
  ASSERT_EQ(read_report(k)["done"], 1);
  auto stats = parent_->stats(kChild);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ASSERT_TRUE(stats->memory_current.has_value());
  EXPECT_GE(*stats->memory_current, 8u << 20);
  ASSERT_TRUE(stats->cpu_usec.has_value());
  EXPECT_GT(*stats->cpu_usec, 100000u);
  EXPECT_EQ(stats->pids_current, 1u);
  EXPECT_EQ(stats->oom_kills, 0u);
}

// What the device probe reports: errno of each step, 0 on success.
void probe_devices(const std::string& tmp, std::ostringstream& out) {
  auto open_err = [](const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    const int e = fd < 0 ? errno : 0;
    if (fd >= 0) ::close(fd);
    return e;
  };
  out << "null " << open_err("/dev/null", O_RDWR) << "\n";
  out << "urandom " << open_err("/dev/urandom", O_RDONLY) << "\n";
  out << "block " << open_err(tmp + "/b70", O_RDONLY) << "\n";
  out << "mknod_block "
      << (::mknod((tmp + "/b70child").c_str(), S_IFBLK | 0600, ::makedev(7, 0)) == 0 ? 0 : errno)
      << "\n";
  out << "mknod_char "
      << (::mknod((tmp + "/c111").c_str(), S_IFCHR | 0600, ::makedev(1, 11)) == 0 ? 0 : errno)
      << "\n";
  out << "kmsg " << open_err(tmp + "/c111", O_RDONLY) << "\n";
  const int ptmx = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  out << "ptmx " << (ptmx < 0 ? errno : 0) << "\n";
  if (ptmx >= 0) {
    char name[64];
    if (::unlockpt(ptmx) == 0 && ::ptsname_r(ptmx, name, sizeof(name)) == 0) {
      out << "pts " << open_err(name, O_RDWR | O_NOCTTY) << "\n";
    }
    ::close(ptmx);
  }
}

class CgroupDeviceTest : public CgroupRootTest {
 protected:
  void SetUp() override {
    CgroupRootTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_EQ(::mknod((tmp_ + "/b70").c_str(), S_IFBLK | 0600, ::makedev(7, 0)), 0);
    // Outside the instance cgroup the same node opens: EPERM inside comes from the policy.
    const int fd = ::open((tmp_ + "/b70").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << "opening loop0 (7:0) outside the cgroup: " << std::strerror(errno);
    ::close(fd);
  }

  void expect_confined(const Report& r) {
    EXPECT_EQ(r.at("null"), 0);
    EXPECT_EQ(r.at("urandom"), 0);
    EXPECT_EQ(r.at("block"), EPERM);
    EXPECT_EQ(r.at("mknod_block"), EPERM);
    EXPECT_EQ(r.at("mknod_char"), 0) << "\"c *:* m\" allows mknod of char devices";
    EXPECT_EQ(r.at("kmsg"), EPERM);
    EXPECT_EQ(r.at("ptmx"), 0);
    EXPECT_EQ(r.at("pts"), 0);
  }
};

TEST_F(CgroupDeviceTest, InstanceOpensOnlyTheListedCharDevicesAndNoBlockDevice) {
  const auto dirs = create(kChild);
  const std::string tmp = tmp_;
  Kid& k = start(dirs, [tmp](std::ostringstream& out) { probe_devices(tmp, out); });
  const Report r = read_report(k);
  ASSERT_EQ(r.count("end"), 1u);
  expect_confined(r);
}

// devcgroup_check_permission() runs the cgroup2 BPF programs even on a hybrid host, before
// the v1 controller: a child only in the cgroup2 directory is confined too.
TEST_F(CgroupDeviceTest, Cgroup2BpfProgramAloneConfinesTheChild) {
  create(kChild);
  const std::string d = dir_in(kChild, true, "");
  if (d.empty()) GTEST_SKIP() << "no cgroup2 hierarchy";
  const std::string tmp = tmp_;
  Kid& k = start({d}, [tmp](std::ostringstream& out) { probe_devices(tmp, out); });
  expect_confined(read_report(k));
}

TEST_F(CgroupDeviceTest, V1DevicesControllerAloneConfinesTheChild) {
  create(kChild);
  const std::string d = dir_in(kChild, false, "devices");
  if (d.empty()) GTEST_SKIP() << "no v1 devices hierarchy";
  EXPECT_NE(slurp(d + "/devices.list").find("c 136:* rwm"), std::string::npos);
  const std::string tmp = tmp_;
  Kid& k = start({d}, [tmp](std::ostringstream& out) { probe_devices(tmp, out); });
  expect_confined(read_report(k));
}

TEST_F(CgroupRootTest, DelegationChownsTheCgroup2AndSystemdDirectories) {
  constexpr uint32_t kUid = 3999000001u;
  create(kChild, {}, kUid);
  struct stat st;
  for (const std::string& d : {dir_in(kChild, true, ""), dir_in(kChild, false, "name=systemd")}) {
    if (d.empty()) continue;
    for (const char* f : {"", "/cgroup.procs"}) {
      ASSERT_EQ(::stat((d + f).c_str(), &st), 0) << d + f;
      EXPECT_EQ(st.st_uid, kUid) << d + f;
      EXPECT_EQ(st.st_gid, kUid) << d + f;
    }
  }
  const std::string mem = dir_in(kChild, false, "memory");
  if (!mem.empty()) {
    ASSERT_EQ(::stat(mem.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u) << "only the cgroup2 and name=systemd trees are delegated";
  }
}

TEST_F(CgroupRootTest, RemoveKillsTheMembersAndRemovesSubCgroups) {
  const auto dirs = create(kChild);
  // The instance made a sub-cgroup of its own (a delegated init would) and sits in it.
  std::vector<std::string> in;
  for (const std::string& d : dirs) {
    ASSERT_EQ(::mkdir((d + "/sub").c_str(), 0755), 0) << d;
    in.push_back(d + "/sub");
  }
  Kid& k = start(in, [](std::ostringstream& out) { out << "in 1\n"; });
  ASSERT_EQ(read_report(k)["in"], 1);
  const Status st = parent_->remove(kChild);
  ASSERT_TRUE(st.ok()) << st.error().message;
  const std::optional<int> status = wait_for(k.pid, 5000);
  ASSERT_TRUE(status.has_value());
  kids_.pop_back();
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);
  for (const std::string& d : dirs) EXPECT_FALSE(exists(d)) << d;
  EXPECT_TRUE(parent_->children().empty());
  EXPECT_TRUE(parent_->remove(kChild).ok()) << "removing again is a success";
}

TEST_F(CgroupRootTest, ChildrenListsLeftoversAndCreateReplacesOne) {
  create("a");
  create("b");
  // A leftover present in one hierarchy only (a crash between two mkdirs).
  ASSERT_EQ(::mkdir((parent_->dirs().back() + "/c").c_str(), 0755), 0);
  EXPECT_EQ(parent_->children(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(parent_->remove_self_if_empty().error().code, ENOTEMPTY);

  // A leftover with a live member: create() kills it and starts afresh.
  const auto dirs = create("a", {std::nullopt, 5, std::nullopt});
  Kid& k = start(dirs, [](std::ostringstream& out) { out << "in 1\n"; });
  ASSERT_EQ(read_report(k)["in"], 1);
  const auto again = create("a", {std::nullopt, 7, std::nullopt});
  ASSERT_FALSE(again.empty());
  const std::optional<int> status = wait_for(k.pid, 5000);
  ASSERT_TRUE(status.has_value()) << "the leftover's member survived";
  kids_.pop_back();
  EXPECT_EQ(slurp(holder("a", "pids").first + "/pids.max"), "7");
  auto stats = parent_->stats("a");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pids_current, 0u);
}

TEST_F(CgroupRootTest, GuardRemovesUnlessReleasedAndFailedCreateRollsBack) {
  std::vector<std::string> dirs;
  {
    dirs = create("guarded");
    CgroupGuard guard(*parent_, "guarded");
  }
  for (const std::string& d : dirs) EXPECT_FALSE(exists(d)) << d;
  {
    dirs = create("kept");
    CgroupGuard guard(*parent_, "kept");
    guard.release();
  }
  for (const std::string& d : dirs) EXPECT_TRUE(exists(d)) << d;

  // cpu_weight 0 is refused after the directories were made: all of them go again.
  auto bad = parent_->create("bad", {std::nullopt, std::nullopt, 0}, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, EINVAL);
  EXPECT_EQ(parent_->children(), std::vector<std::string>{"kept"});
  EXPECT_EQ(parent_->create("../x", {}, 0).error().code, EINVAL);
  EXPECT_EQ(parent_->stats("missing").error().code, ENOENT);
}

}  // namespace
}  // namespace fw::sys
