// The instances folder without root: a scripted Launcher
// stands in for firmwared-monitor (the test fires its callbacks), FakeTimers fire on demand,
// a recording InstanceMounter fails at call n, the catalogue lives in memory. Pins the mounts
// PREPARE, REMOUNT, DROP and restore() ask for, the START/KILL state machine with every
// rollback path and timeout, re-adoption after a restart and the property rules.

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "firmwared/catalogue/catalogue.h"
#include "firmwared/config/config.h"
#include "firmwared/core/executor.h"
#include "firmwared/core/firmware_mounter.h"
#include "firmwared/core/firmwares.h"
#include "firmwared/core/instance_mounter.h"
#include "firmwared/core/instances.h"
#include "firmwared/core/launcher.h"
#include "firmwared/core/names.h"
#include "firmwared/core/network.h"
#include "firmwared/sys/sha1.h"
#include "tests/unit/core_test_support.h"

namespace fw::core {
namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

// ---- fakes ----------------------------------------------------------------------------------

// One launch (or adoption) as the fake launcher saw it; the test fires its callbacks.
struct FakeRun {
  LaunchSpec spec;
  MonitorEvents events;
  int64_t monitor_pid = 0;
  uint64_t start_time = 0;
  int64_t init_pid = 0;  // what RunningMonitor::init_pid() answers
  int proceed_calls = 0, kill_init_calls = 0, kill_monitor_calls = 0;
  Status kill_init_result;    // ok unless the test says otherwise
  bool destroyed = false;     // the folder dropped its RunningMonitor
  std::vector<int> signals;   // what signal_init() was asked to send, in order
  Status signal_init_result;  // ok unless the test says otherwise
  bool emulated = false;      // what RunningMonitor::init_emulated() answers
  int run_calls = 0;          // RUN sent to a standby
  int dismiss_calls = 0;      // the standby was dismissed (and awaited)

  void ptys(const std::string& inner, const std::string& outer) { events.on_ptys(inner, outer); }
  void namespaces_ready() { events.on_namespaces_ready(); }
  void sandbox_made() { events.on_sandbox(100, 20, 300); }
  void started(int64_t pid) {
    init_pid = pid;
    events.on_started(pid);
  }
  void failed(const Error& e) { events.on_failed(e); }
  void exited(std::optional<int> status) { events.on_exited(status); }
};

class FakeMonitor final : public RunningMonitor {
 public:
  explicit FakeMonitor(std::shared_ptr<FakeRun> run) : run_(std::move(run)) {}
  ~FakeMonitor() override { run_->destroyed = true; }
  int64_t monitor_pid() const override { return run_->monitor_pid; }
  uint64_t monitor_start_time() const override { return run_->start_time; }
  int64_t init_pid() const override { return run_->init_pid; }
  void proceed() override { ++run_->proceed_calls; }
  void run() override { ++run_->run_calls; }
  Status dismiss(int) override {
    ++run_->dismiss_calls;
    return {};
  }
  Status kill_init() override {
    ++run_->kill_init_calls;
    if (run_->init_pid == 0) return make_error(ESRCH, "PID 1 is not running");
    return run_->kill_init_result;
  }
  void kill_monitor() override { ++run_->kill_monitor_calls; }
  Status signal_init(int sig) override {
    run_->signals.push_back(sig);
    return run_->signal_init_result;
  }
  bool init_emulated() const override { return run_->emulated; }

 private:
  std::shared_ptr<FakeRun> run_;
};

class FakeLauncher final : public Launcher {
 public:
  std::vector<std::shared_ptr<FakeRun>> launches;
  std::vector<std::shared_ptr<FakeRun>> adoptions;
  Strings adopt_calls;
  std::optional<Error> fail_launch;  // launch() answers this error
  std::set<int64_t> live_monitors;   // adopt() succeeds for these pids only
  int64_t next_pid = 1000;

  Result<std::unique_ptr<RunningMonitor>> launch(const LaunchSpec& spec,
                                                 MonitorEvents events) override {
    if (fail_launch) return *fail_launch;
    auto run = std::make_shared<FakeRun>();
    run->spec = spec;
    run->events = std::move(events);
    run->monitor_pid = next_pid++;
    run->start_time = 7000 + static_cast<uint64_t>(run->monitor_pid);
    launches.push_back(run);
    return std::unique_ptr<RunningMonitor>(std::make_unique<FakeMonitor>(run));
  }

  Result<std::unique_ptr<RunningMonitor>> adopt(int64_t monitor_pid, uint64_t monitor_start_time,
                                                int64_t init_pid, const std::string& workspace,
                                                MonitorEvents events) override {
    adopt_calls.push_back(std::to_string(monitor_pid) + " " + std::to_string(monitor_start_time) +
                          " " + std::to_string(init_pid) + " " + workspace);
    if (live_monitors.count(monitor_pid) == 0) {
      return make_error(ESRCH, "monitor " + std::to_string(monitor_pid) + " is gone");
    }
    auto run = std::make_shared<FakeRun>();
    run->events = std::move(events);
    run->monitor_pid = monitor_pid;
    run->start_time = monitor_start_time;
    run->init_pid = init_pid;
    adoptions.push_back(run);
    return std::unique_ptr<RunningMonitor>(std::make_unique<FakeMonitor>(run));
  }

  // inspect(): the lock of each workspace (absent: no lock file).
  std::map<std::string, MonitorLockState> locks;
  Strings orphan_kills;                   // workspaces whose monitor kill_orphan() killed
  std::optional<Error> fail_kill_orphan;  // kill_orphan() answers this error

  Result<MonitorLockState> inspect(const std::string& workspace) override {
    auto it = locks.find(workspace);
    return it == locks.end() ? MonitorLockState{} : it->second;
  }
  Status kill_orphan(const std::string& workspace, const MonitorLockState&) override {
    orphan_kills.push_back(workspace);
    if (fail_kill_orphan) return *fail_kill_orphan;
    locks[workspace].held = false;
    return {};
  }

  FakeRun& last() { return *launches.back(); }
};

// Instance cgroups: records "create SHA1" and "remove SHA1", in order.
class FakeCgroups final : public InstanceCgroups {
 public:
  Strings calls;

  Result<std::vector<std::string>> create(const std::string& sha1, const sys::CgroupLimits&,
                                          uint32_t) override {
    calls.push_back("create " + sha1);
    return dirs(sha1);
  }
  std::vector<std::string> dirs(const std::string& sha1) override {
    return {"unified:/cgroup/" + sha1};
  }
  Status set_limits(const std::string&, const sys::CgroupLimits&) override { return {}; }
  Result<sys::CgroupStats> stats(const std::string&) override { return sys::CgroupStats{}; }
  Status remove(const std::string& sha1) override {
    calls.push_back("remove " + sha1);
    return {};
  }
  std::vector<std::string> present() override { return {}; }
};

class FakeTimers final : public Timers {
 public:
  struct Pending {
    int ms;
    std::function<void()> fn;
  };
  std::vector<Pending> pending;

  void after(int milliseconds, std::function<void()> fn) override {
    pending.push_back({milliseconds, std::move(fn)});
  }
  std::vector<int> delays() const {
    std::vector<int> out;
    for (const auto& p : pending) out.push_back(p.ms);
    return out;
  }
  // Fires every pending timer (as if their deadlines passed), in registration order.
  void fire_all() {
    auto now = std::move(pending);
    pending.clear();
    for (auto& p : now) p.fn();
  }
};

using fakes::FakeFirmwareMounter;
using FakeMounter = fakes::FakeInstanceMounter;
using fakes::RecordedEvent;
using fakes::RecordingSink;

// Collects the answers of an asynchronous command (START, KILL).
template <typename T>
struct Replies {
  std::vector<Result<T>> got;
  std::function<void(Result<T>)> done() {
    return [this](Result<T> r) { got.push_back(std::move(r)); };
  }
  size_t count() const { return got.size(); }
  const Result<T>& only() const { return got.at(0); }
};

// ---- helpers --------------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/fw_instances_test.XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = fs::canonical(tmpl).string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

template <typename T>
Status status_of(const Result<T>& r) {
  if (!r.ok()) return r.error();
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

constexpr char kFwName[] = "base_firmware";
const std::string kFwSha1(40, 'f');

// clang-format off
const Strings kBuiltinNames = {
    "name", "sha1", "base_workspace", "id", "pid", "state", "firmware_path", "root",
    "inner_pts", "outer_pts", "time", "interface", "stolen_interface", "stolen_btusb",
    "cmdline[]", "firmware_sha1", "init_pid", "exit_status", "upper_dir", "console_log", "ip",
    "host_ip", "userns", "uid_base", "time_offset", "host_access", "stop_signal", "on_reboot",
    "memory_max", "pids_max", "cpu_weight", "exit_reason", "binds[]",
    "labels[]", "sandbox"};
// clang-format on

// ---- fixture --------------------------------------------------------------------------------

class InstancesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    mount_path_ = tmp_.path() + "/mnt";
    repo_ = tmp_.path() + "/repo";
    fs::create_directories(mount_path_ + "/firmwares");
    fs::create_directories(repo_);
    auto cat = catalogue::Catalogue::open(":memory:");
    ASSERT_TRUE(cat.ok()) << cat.error().message;
    cat_.emplace(std::move(*cat));
    auto words = WordLists::from_words({"brave", "calm", "eager", "fond"},
                                       {"otter", "heron", "lynx", "mole"});
    ASSERT_TRUE(words.ok()) << words.error().message;
    words_.emplace(std::move(*words));
    catalogue::FirmwareRecord fw;
    fw.sha1 = kFwSha1;
    fw.name = kFwName;
    fw.path = tmp_.path() + "/rootfs";
    fw.source_path = fw.path;
    fw.format = "dir";
    fw.created = 1;
    ASSERT_TRUE(cat_->put_firmware(fw).ok());
    make_folders(false);
  }

  // (Re)creates the config and both folders over the same catalogue, as a restarted daemon.
  // userns n by default: most tests check the privileged mode's mounts; the userns tests
  // pass "auto" or "y".
  void make_folders(bool prevent_removal, const std::string& stealable = "",
                    const std::string& userns = "n", const std::string& pool = "") {
    instances_.reset();
    firmwares_.reset();
    std::map<std::string, std::string> env;
    env["FIRMWARED_USERNS"] = userns;
    if (!pool.empty()) env["FIRMWARED_USERNS_POOL"] = pool;
    if (prevent_removal) env["FIRMWARED_PREVENT_REMOVAL"] = "y";
    env["FIRMWARED_PREMADE_SANDBOX"] = premade_;
    if (!stealable.empty()) env["FIRMWARED_STEALABLE_INTERFACES"] = stealable;
    auto config = config::Config::parse(
        "[firmwared]\nmount_path = " + mount_path_ + "\nrepository_path = " + repo_ + "\n",
        "t.conf", env);
    ASSERT_TRUE(config.ok()) << config.error().message;
    config_.emplace(std::move(*config));
    firmwares_ = std::make_unique<Firmwares>(
        FirmwaresDeps{*cat_, *config_, executor_, sink_, *words_, fw_mounter_});
    instances_ = std::make_unique<Instances>(InstancesDeps{*cat_, *config_, sink_, *words_,
                                                           *firmwares_, mounter_, launcher_,
                                                           timers_, nullptr, nullptr, &deferred_});
  }

  // Recreates the instances folder with `net` as its network step, `cgroups` as its cgroups
  // and the deferred executor (run_deferred()) as its worker threads.
  void with_network_and_cgroups(Network& net, InstanceCgroups& cgroups) {
    instances_ = std::make_unique<Instances>(
        InstancesDeps{*cat_, *config_, sink_, *words_, *firmwares_, mounter_, launcher_, timers_,
                      &net, nullptr, &deferred_, &cgroups});
  }

  // Recreates the instances folder with `net` as its network step.
  void with_network(Network& net) {
    instances_ = std::make_unique<Instances>(InstancesDeps{
        *cat_, *config_, sink_, *words_, *firmwares_, mounter_, launcher_, timers_, &net});
  }

  std::string ws(const std::string& sha1) const { return mount_path_ + "/instances/" + sha1; }
  std::string fw_mount() const { return mount_path_ + "/firmwares/" + kFwSha1; }

  Strings mount_calls(const std::string& sha1) const {
    const std::string w = ws(sha1);
    return {"mount_lower " + fw_mount() + " " + w + "/ro",
            "mount_overlay " + w + "/ro " + w + "/rw " + w + "/work " + w + "/union"};
  }

  // The target of a recorded mount call (its last path).
  static std::string target_of(const std::string& call) {
    std::vector<std::string> words;
    std::istringstream in(call);
    for (std::string w; in >> w;) words.push_back(w);
    if (words.empty()) return "";
    return words[0] == "mount_overlay_idmapped" ? words[words.size() - 2] : words.back();
  }

  // What undoes the mounter calls `done`, in reverse order: an unmount of each mount made, the
  // mount of `original` (calls by target) back for each unmount. A removed work dir has no
  // mounter undo.
  static Strings undo_of(const Strings& done, const Strings& original) {
    std::map<std::string, std::string> remount;
    for (const auto& c : original) remount[target_of(c)] = c;
    Strings out;
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      if (it->rfind("unmount ", 0) == 0) {
        out.push_back(remount[it->substr(8)]);
      } else if (it->rfind("mount", 0) == 0) {
        out.push_back("unmount " + target_of(*it));
      }
    }
    return out;
  }

  // Runs `op` with the mounter failing at call n = 1, 2, … until a run succeeds without
  // meeting its fault. After each failure: the calls after the failing one undo those
  // before it in reverse order (the workspace of `sha1` getting its `original` mounts back),
  // no mount leaked or went missing, and `check` passes. Returns the number of faults run.
  int fail_each_step(const std::string& sha1, const std::function<Status()>& op,
                     const std::function<void()>& check) {
    const Strings original = mount_calls(sha1);
    const auto mounted = mounter_.mounted;
    for (int n = 1; n < 50; ++n) {
      mounter_.calls.clear();
      mounter_.fail_at = n;
      const Status s = op();
      mounter_.fail_at = 0;
      if (s.ok()) {
        EXPECT_LT(mounter_.calls.size(), static_cast<size_t>(n)) << "fault " << n << " swallowed";
        return n - 1;
      }
      EXPECT_EQ(s.error().code, EIO) << s.error().message;
      const Strings& calls = mounter_.calls;
      EXPECT_GE(calls.size(), static_cast<size_t>(n));
      if (calls.size() < static_cast<size_t>(n)) return n;
      const Strings done(calls.begin(), calls.begin() + n - 1);
      const Strings undo(calls.begin() + n, calls.end());
      EXPECT_EQ(undo, undo_of(done, original)) << "failing call " << n << " (" << calls[n - 1]
                                               << ") after " << ::testing::PrintToString(done);
      EXPECT_EQ(mounter_.mounted, mounted) << "failing call " << n;
      check();
    }
    ADD_FAILURE() << "no run succeeded";
    return 0;
  }

  Result<EntitySummary> prepare(const std::string& source = kFwName) {
    std::optional<Result<EntitySummary>> out;
    instances_->prepare(source, std::nullopt,
                        [&](Result<EntitySummary> r) { out.emplace(std::move(r)); });
    if (!out) return make_error(EINPROGRESS, "PREPARE did not complete inline");
    return std::move(*out);
  }

  Result<EntitySummary> prepare_with(const PrepareOptions& options,
                                     const std::string& source = kFwName) {
    std::optional<Result<EntitySummary>> out;
    instances_->prepare_with(sys::ClientCredentials{}, source, std::nullopt, options,
                             [&](Result<EntitySummary> r) { out.emplace(std::move(r)); });
    if (!out) return make_error(EINPROGRESS, "PREPARE did not complete inline");
    return std::move(*out);
  }

  // Prepares an instance or fails the test; returns its summary.
  EntitySummary prepared() {
    auto s = prepare();
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? *s : EntitySummary{};
  }

  std::string prop(const std::string& id, const std::string& name) {
    auto v = instances_->get_property(id, name);
    return v.ok() ? *v : "<" + v.error().name() + ": " + v.error().message + ">";
  }

  int set(const std::string& id, const std::string& name, const std::string& value) {
    auto s = instances_->set_property(id, name, value);
    return s.ok() ? 0 : s.error().code;
  }

  catalogue::InstanceRecord record(const std::string& sha1) {
    auto r = cat_->get_instance(sha1);
    EXPECT_TRUE(r.ok() && *r) << "instance " << sha1 << " not catalogued";
    return r.ok() && *r ? **r : catalogue::InstanceRecord{};
  }

  size_t catalogued() {
    auto all = cat_->list_instances();
    return all.ok() ? all->size() : 0;
  }

  // START of `id` then the monitor's normal sequence up to PID 1 exec'd with `pid`.
  FakeRun& start_fully(const std::string& id, Replies<EntitySummary>& replies, int64_t pid) {
    instances_->start(id, replies.done());
    FakeRun& run = launcher_.last();
    run.ptys("/dev/pts/4", "/dev/pts/5");
    run.namespaces_ready();
    run.started(pid);
    return run;
  }

  // Fires the deferred calls (0 ms timers: the standby builds), keeps the deadlines pending.
  void fire_deferred() {
    auto now = std::move(timers_.pending);
    timers_.pending.clear();
    for (auto& p : now) {
      if (p.ms == 0) {
        p.fn();
      } else {
        timers_.pending.push_back(std::move(p));
      }
    }
  }

  // premade_sandbox=y, a prepared instance, its standby made (ready): its FakeRun.
  FakeRun& standing_by(EntitySummary& inst) {
    premade_ = "y";
    make_folders(false);
    inst = prepared();
    EXPECT_TRUE(launcher_.launches.empty()) << "PREPARE answers before the standby is made";
    fire_deferred();
    EXPECT_EQ(launcher_.launches.size(), 1u);
    FakeRun& sb = launcher_.last();
    EXPECT_TRUE(sb.spec.standby);
    EXPECT_EQ(prop(inst.name, "sandbox"), "building");
    sb.ptys("/dev/pts/4", "/dev/pts/5");
    sb.namespaces_ready();
    EXPECT_EQ(sb.proceed_calls, 1);
    sb.sandbox_made();
    EXPECT_EQ(prop(inst.name, "sandbox"), "ready");
    return sb;
  }

  std::string premade_ = "n";  // most tests check START's whole sequence
  TempDir tmp_;
  std::string mount_path_, repo_;
  std::optional<config::Config> config_;
  std::optional<catalogue::Catalogue> cat_;
  std::optional<WordLists> words_;
  InlineExecutor executor_;
  // The instances' worker: work runs only when the test says so (run_deferred()).
  class DeferredExecutor final : public Executor {
   public:
    std::vector<std::pair<std::function<void()>, std::function<void()>>> tasks;
    void run(std::function<void()> work, std::function<void()> done) override {
      tasks.emplace_back(std::move(work), std::move(done));
    }
    void post(std::function<void()> fn) override { fn(); }
  } deferred_;
  void run_deferred() {
    auto tasks = std::move(deferred_.tasks);
    deferred_.tasks.clear();
    for (auto& [work, done] : tasks) {
      work();
      done();
    }
  }
  size_t trash_entries() const {
    const std::string t = mount_path_ + "/trash";
    if (!fs::exists(t)) return 0;
    return static_cast<size_t>(std::distance(fs::directory_iterator(t), fs::directory_iterator()));
  }
  RecordingSink sink_;
  FakeFirmwareMounter fw_mounter_;
  FakeMounter mounter_;
  FakeLauncher launcher_;
  FakeTimers timers_;
  std::unique_ptr<Firmwares> firmwares_;
  std::unique_ptr<Instances> instances_;
};

// ---- PREPARE --------------------------------------------------------------------------------

TEST_F(InstancesTest, PrepareCreatesTheWorkspaceMountsLowerThenOverlayAndRecords) {
  auto s = prepare();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_FALSE(s->existed);
  EXPECT_EQ(s->sha1.size(), 40u);
  EXPECT_EQ(mounter_.calls, mount_calls(s->sha1));
  for (const char* sub : {"ro", "rw", "work", "union"}) {
    EXPECT_TRUE(fs::is_directory(ws(s->sha1) + "/" + sub)) << sub;
  }
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].name, "PREPARED");
  EXPECT_EQ(sink_.events[0].str("folder"), "instances");
  EXPECT_EQ(sink_.events[0].str("sha1"), s->sha1);
  EXPECT_EQ(sink_.events[0].str("name"), s->name);

  auto r = record(s->sha1);
  EXPECT_EQ(r.name, s->name);
  EXPECT_EQ(r.id, 0);
  EXPECT_EQ(r.state, "ready");
  EXPECT_EQ(r.firmware_sha1, kFwSha1);
  EXPECT_EQ(r.cmdline, Strings{"/sbin/init"});
  EXPECT_EQ(r.interface, "eth0");

  const std::string w = ws(s->sha1);
  EXPECT_EQ(prop(s->name, "name"), s->name);
  EXPECT_EQ(prop(s->name, "sha1"), s->sha1);
  EXPECT_EQ(prop(s->name, "base_workspace"), w);
  EXPECT_EQ(prop(s->name, "id"), "0");
  EXPECT_EQ(prop(s->name, "pid"), "0");
  EXPECT_EQ(prop(s->name, "state"), "ready");
  EXPECT_EQ(prop(s->name, "firmware_path"), fw_mount());
  EXPECT_EQ(prop(s->name, "root"), w + "/union");
  EXPECT_EQ(prop(s->name, "inner_pts"), "");
  EXPECT_EQ(prop(s->name, "outer_pts"), "");
  EXPECT_EQ(prop(s->name, "interface"), "eth0");
  EXPECT_EQ(prop(s->name, "stolen_interface"), "");
  EXPECT_EQ(prop(s->name, "stolen_btusb"), "");
  EXPECT_EQ(prop(s->name, "cmdline"), "/sbin/init");
  EXPECT_EQ(prop(s->name, "firmware_sha1"), kFwSha1);
  EXPECT_EQ(prop(s->name, "init_pid"), "0");
  EXPECT_EQ(prop(s->name, "exit_status"), "");
  EXPECT_EQ(prop(s->name, "upper_dir"), w + "/rw");
  EXPECT_EQ(prop(s->name, "console_log"), w + "/console.log");
  EXPECT_EQ(prop(s->name, "ip"), "10.202.0.1");
  EXPECT_EQ(prop(s->name, "host_ip"), "10.202.0.254");
  EXPECT_FALSE(prop(s->name, "time").empty());
}

TEST_F(InstancesTest, PrepareTakesTheLowestFreeId) {
  std::vector<EntitySummary> made;
  for (int i = 0; i < 3; ++i) made.push_back(prepared());
  ASSERT_EQ(made.size(), 3u);
  EXPECT_EQ(prop(made[0].sha1, "id"), "0");
  EXPECT_EQ(prop(made[1].sha1, "id"), "1");
  EXPECT_EQ(prop(made[2].sha1, "id"), "2");
  ASSERT_TRUE(instances_->drop(made[1].name).ok());
  EXPECT_EQ(prop(prepared().sha1, "id"), "1") << "the id of a dropped instance is reused";
  EXPECT_EQ(prop(prepared().sha1, "id"), "3");
  ASSERT_TRUE(instances_->drop(made[0].name).ok());
  EXPECT_EQ(prop(prepared().sha1, "id"), "0");
  // Names stay unique.
  auto all = instances_->list();
  ASSERT_TRUE(all.ok());
  std::set<std::string> names;
  for (const auto& e : *all) names.insert(e.name);
  EXPECT_EQ(names.size(), all->size());
}

TEST_F(InstancesTest, PrepareRollsBackWhenMountingTheLowerFails) {
  mounter_.fail_at = 1;
  auto s = prepare();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EIO);
  EXPECT_TRUE(contains(s.error().message, "preparing instance ")) << s.error().message;
  EXPECT_TRUE(contains(s.error().message, "injected failure of call 1")) << s.error().message;
  ASSERT_EQ(mounter_.calls.size(), 2u) << ::testing::PrintToString(mounter_.calls);
  EXPECT_EQ(mounter_.calls[0].rfind("mount_lower ", 0), 0u);
  EXPECT_EQ(mounter_.calls[1].rfind("remove_tree " + mount_path_ + "/instances/", 0), 0u);
  EXPECT_EQ(catalogued(), 0u);
  EXPECT_TRUE(fs::is_empty(mount_path_ + "/instances")) << "the workspace is removed";
  EXPECT_EQ(sink_.events.size(), 0u);
  mounter_.fail_at = 0;
  EXPECT_EQ(prop(prepared().sha1, "id"), "0") << "the failed PREPARE did not keep its id";
}

TEST_F(InstancesTest, PrepareRollsBackTheLowerWhenTheOverlayFails) {
  mounter_.fail_at = 2;
  auto s = prepare();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EIO);
  EXPECT_TRUE(contains(s.error().message, "injected failure of call 2")) << s.error().message;
  ASSERT_EQ(mounter_.calls.size(), 4u) << ::testing::PrintToString(mounter_.calls);
  const std::string ro = mounter_.calls[0].substr(mounter_.calls[0].rfind(' ') + 1);
  const std::string w = ro.substr(0, ro.size() - 3);
  EXPECT_EQ(mounter_.calls[1].rfind("mount_overlay ", 0), 0u);
  EXPECT_EQ(mounter_.calls[2], "unmount " + w + "/ro");
  EXPECT_EQ(mounter_.calls[3], "remove_tree " + w);
  EXPECT_EQ(catalogued(), 0u);
  EXPECT_FALSE(fs::exists(w));
  EXPECT_EQ(sink_.events.size(), 0u);
}

TEST_F(InstancesTest, PrepareRollsBackBothMountsWhenTheCatalogueFails) {
  // The firmware vanishes from the catalogue between the mounts and the record: the
  // instance's foreign key makes put_instance fail.
  mounter_.hook = [this](const std::string& call) {
    if (call.rfind("mount_overlay ", 0) == 0) {
      EXPECT_TRUE(cat_->delete_firmware(kFwSha1).ok());
    }
  };
  auto s = prepare();
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.error().message, "recording instance ")) << s.error().message;
  ASSERT_EQ(mounter_.calls.size(), 5u) << ::testing::PrintToString(mounter_.calls);
  const std::string ro = mounter_.calls[0].substr(mounter_.calls[0].rfind(' ') + 1);
  const std::string w = ro.substr(0, ro.size() - 3);
  EXPECT_EQ(mounter_.calls[2], "unmount " + w + "/union");
  EXPECT_EQ(mounter_.calls[3], "unmount " + w + "/ro");
  EXPECT_EQ(mounter_.calls[4], "remove_tree " + w);
  EXPECT_EQ(catalogued(), 0u);
  EXPECT_FALSE(fs::exists(w));
  EXPECT_EQ(sink_.named("PREPARED").size(), 0u);
}

TEST_F(InstancesTest, PrepareOfAnUnknownFirmwareIsENOENTWithoutSideEffect) {
  auto s = prepare("no_such_firmware");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ENOENT);
  EXPECT_EQ(mounter_.calls, Strings{});
  EXPECT_EQ(catalogued(), 0u);
}

// ---- names and labels -----------------------------------------------------------------------

TEST_F(InstancesTest, PrepareWithANameAndLabelsRecordsThem) {
  PrepareOptions o;
  o.name = "web1";
  o.labels = {"ci=1", "job=build-42", "empty="};
  auto s = prepare_with(o);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->name, "web1");
  EXPECT_EQ(prop("web1", "name"), "web1");
  EXPECT_EQ(prop("web1", "labels[]"), "ci=1 empty= job=build-42");
  EXPECT_EQ(prop("web1", "labels[1]"), "empty=");
  EXPECT_EQ(prop("web1", "labels[3]"), "nil");
  const Labels want = {{"ci", "1"}, {"job", "build-42"}, {"empty", ""}};
  EXPECT_EQ(record(s->sha1).labels, want);
  EXPECT_EQ(sink_.named("PREPARED").back().str("name"), "web1");
}

TEST_F(InstancesTest, PrepareWithATakenOrInvalidNameOrLabelCreatesNothing) {
  PrepareOptions first;
  first.name = "web1";
  ASSERT_TRUE(prepare_with(first).ok());
  const Strings calls = mounter_.calls;
  struct Case {
    std::optional<std::string> name;
    std::vector<std::string> labels;
    int code;
    std::string message;
  };
  const Case cases[] = {
      {"web1", {}, EEXIST, "preparing an instance: an instance named 'web1' already exists"},
      {"a/b", {}, EINVAL, "preparing an instance: invalid name 'a/b'"},
      {"deadbeef", {}, EINVAL, "it would shadow a sha1 prefix"},
      {"", {}, EINVAL, "invalid name '': a name cannot be empty"},
      {std::nullopt, {"nokey"}, EINVAL, "invalid label 'nokey': expected KEY=VALUE"},
      {std::nullopt, {"a=1", "a=2"}, EINVAL, "label key 'a' is given twice"},
      {std::nullopt, {"k=a b"}, EINVAL, "invalid value 'a b' of label 'k'"},
  };
  for (const Case& c : cases) {
    PrepareOptions o;
    o.name = c.name;
    o.labels = c.labels;
    auto s = prepare_with(o);
    ASSERT_FALSE(s.ok()) << c.message;
    EXPECT_EQ(s.error().code, c.code) << s.error().message;
    EXPECT_TRUE(contains(s.error().message, c.message)) << s.error().message;
  }
  EXPECT_EQ(catalogued(), 1u);
  EXPECT_EQ(mounter_.calls, calls);  // nothing mounted
  EXPECT_EQ(static_cast<size_t>(std::distance(fs::directory_iterator(mount_path_ + "/instances"),
                                              fs::directory_iterator())),
            1u);  // no workspace made
}

TEST_F(InstancesTest, NameIsWritableWhileReadyWithTheSameRules) {
  auto a = prepared();
  auto b = prepared();
  EXPECT_EQ(set(a.name, "name", "renamed"), 0);
  EXPECT_EQ(prop(a.sha1, "name"), "renamed");
  EXPECT_EQ(record(a.sha1).name, "renamed");
  EXPECT_EQ(prop("renamed", "sha1"), a.sha1);
  EXPECT_EQ(sink_.named("PROPERTY_SET").back().str("name"), "renamed");
  EXPECT_EQ(set("renamed", "name", "renamed"), 0);  // unchanged: fine
  EXPECT_EQ(set("renamed", "name", b.name), EEXIST);
  EXPECT_EQ(set("renamed", "name", "bad name"), EINVAL);
  EXPECT_EQ(set("renamed", "name", "0123456789ab"), EINVAL);
  EXPECT_EQ(set("renamed", "name[0]", "x"), EINVAL);
  EXPECT_EQ(prop(a.sha1, "name"), "renamed");

  Replies<EntitySummary> started;
  start_fully(b.name, started, 4242);
  EXPECT_EQ(set(b.name, "name", "other"), EBUSY);
  EXPECT_EQ(prop(b.sha1, "name"), b.name);
}

TEST_F(InstancesTest, LabelsAreAWritableArrayValidatedAsAWhole) {
  auto a = prepared();
  EXPECT_EQ(prop(a.name, "labels[]"), "");
  EXPECT_EQ(set(a.name, "labels[]", "ci=1 job=7"), 0);
  EXPECT_EQ(prop(a.name, "labels[]"), "ci=1 job=7");
  EXPECT_EQ(set(a.name, "labels[2]", "arch=arm64"), 0);  // appended, then sorted by key
  EXPECT_EQ(prop(a.name, "labels[]"), "arch=arm64 ci=1 job=7");
  EXPECT_EQ(set(a.name, "labels[0]", "ci=2"), EINVAL);  // ci twice
  EXPECT_EQ(set(a.name, "labels[]", "bad"), EINVAL);
  EXPECT_EQ(set(a.name, "labels[1]", "nil"), 0);  // truncates
  EXPECT_EQ(prop(a.name, "labels[]"), "arch=arm64");
  const Labels want = {{"arch", "arm64"}};
  EXPECT_EQ(record(a.sha1).labels, want);
  // Labels do not shape the launch: writable while started.
  Replies<EntitySummary> started;
  start_fully(a.name, started, 4242);
  EXPECT_EQ(set(a.name, "labels[]", "x=1"), 0);
  EXPECT_EQ(prop(a.name, "labels[]"), "x=1");
}

TEST_F(InstancesTest, PrepareFromADirectoryImportsTheFirmwareFirst) {
  const std::string dir = tmp_.path() + "/other-rootfs";
  for (const char* d : {"bin", "etc", "sbin"}) fs::create_directories(dir + "/" + d);
  write_file(dir + "/sbin/init", "#!/bin/sh\n");
  auto s = prepare(dir);
  ASSERT_TRUE(s.ok()) << s.error().message;
  const std::string fw_sha1 = sys::sha1_hex(dir);
  EXPECT_EQ(prop(s->name, "firmware_sha1"), fw_sha1);
  EXPECT_EQ(fw_mounter_.calls,
            Strings{"mount dir " + dir + " " + mount_path_ + "/firmwares/" + fw_sha1});
  auto fws = cat_->list_firmwares();
  ASSERT_TRUE(fws.ok());
  EXPECT_EQ(fws->size(), 2u);
  const std::string w = ws(s->sha1);
  EXPECT_EQ(mounter_.calls,
            (Strings{"mount_lower " + mount_path_ + "/firmwares/" + fw_sha1 + " " + w + "/ro",
                     "mount_overlay " + w + "/ro " + w + "/rw " + w + "/work " + w + "/union"}));
  auto prepared_events = sink_.named("PREPARED");
  ASSERT_EQ(prepared_events.size(), 2u);
  EXPECT_EQ(prepared_events[0].str("folder"), "firmwares");
  EXPECT_EQ(prepared_events[1].str("folder"), "instances");
}

// ---- START ----------------------------------------------------------------------------------

TEST_F(InstancesTest, StartLaunchesTheSpecAndAnswersOncePid1IsExeced) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  ASSERT_EQ(launcher_.launches.size(), 1u);
  FakeRun& run = launcher_.last();
  EXPECT_EQ(run.spec.name, inst.name);
  EXPECT_EQ(run.spec.sha1, inst.sha1);
  EXPECT_EQ(run.spec.root, ws(inst.sha1) + "/union");
  EXPECT_EQ(run.spec.workspace, ws(inst.sha1));
  EXPECT_EQ(run.spec.cmdline, Strings{"/sbin/init"});
  EXPECT_EQ(timers_.delays(), std::vector<int>{kStartTimeoutMs});
  EXPECT_EQ(start.count(), 0u);
  EXPECT_EQ(instances_->state_of(inst.sha1), "starting");
  EXPECT_EQ(prop(inst.name, "state"), "starting");
  EXPECT_EQ(record(inst.sha1).state, "starting")
      << "the intent is recorded; started is committed only once exec'd";
  EXPECT_EQ(record(inst.sha1).monitor_pid, run.monitor_pid) << "and the monitor's identity";

  run.ptys("/dev/pts/4", "/dev/pts/5");
  EXPECT_EQ(instances_->outer_pts(inst.sha1), "") << "no console before PID 1 runs";
  run.namespaces_ready();
  EXPECT_EQ(run.proceed_calls, 1);
  EXPECT_EQ(start.count(), 0u);
  run.started(4242);

  ASSERT_EQ(start.count(), 1u);
  ASSERT_TRUE(start.only().ok()) << start.only().error().message;
  EXPECT_EQ(start.only()->sha1, inst.sha1);
  EXPECT_EQ(start.only()->name, inst.name);
  EXPECT_EQ(instances_->state_of(inst.sha1), "started");
  EXPECT_EQ(instances_->outer_pts(inst.sha1), "/dev/pts/5");
  auto r = record(inst.sha1);
  EXPECT_EQ(r.state, "started");
  EXPECT_EQ(r.monitor_pid, run.monitor_pid);
  EXPECT_EQ(r.monitor_start_time, run.start_time);
  EXPECT_EQ(r.init_pid, 4242);
  EXPECT_EQ(prop(inst.name, "pid"), std::to_string(run.monitor_pid));
  EXPECT_EQ(prop(inst.name, "init_pid"), "4242");
  EXPECT_EQ(prop(inst.name, "inner_pts"), "/dev/pts/4");
  EXPECT_EQ(prop(inst.name, "outer_pts"), "/dev/pts/5");
  auto started = sink_.named("STARTED");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].str("sha1"), inst.sha1);
  EXPECT_EQ(started[0].str("name"), inst.name);
  EXPECT_EQ(started[0].num("init_pid"), 4242);
  EXPECT_EQ(run.kill_monitor_calls + run.kill_init_calls, 0);
}

TEST_F(InstancesTest, StartPassesTheCmdline) {
  auto inst = prepared();
  ASSERT_EQ(set(inst.name, "cmdline", "/bin/sh -c 'echo a b' \"$HOME\""), 0);
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  ASSERT_EQ(launcher_.launches.size(), 1u);
  EXPECT_EQ(launcher_.last().spec.cmdline, (Strings{"/bin/sh", "-c", "echo a b", "$HOME"}));
}

TEST_F(InstancesTest, StartWhenLaunchFailsStaysReadyAndWrapsTheError) {
  auto inst = prepared();
  launcher_.fail_launch = make_error(
      EAGAIN, "forking the monitor of " + inst.name + ": Resource temporarily unavailable");
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().code, EAGAIN);
  EXPECT_EQ(start.only().error().message, "starting instance " + inst.name +
                                              ": forking the monitor of " + inst.name +
                                              ": Resource temporarily unavailable");
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(sink_.named("STARTED").size() + sink_.named("DEAD").size(), 0u);
  // Nothing is left behind: the next START works.
  launcher_.fail_launch.reset();
  Replies<EntitySummary> again;
  start_fully(inst.name, again, 77);
  ASSERT_EQ(again.count(), 1u);
  EXPECT_TRUE(again.only().ok());
}

TEST_F(InstancesTest, StartFailureReportedByTheMonitorIsTheReply) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  FakeRun& run = launcher_.last();
  run.ptys("/dev/pts/4", "/dev/pts/5");
  run.namespaces_ready();
  run.failed(make_error(ENOENT, "executing '/nonexistent': No such file or directory"));
  EXPECT_EQ(start.count(), 0u) << "answered once the monitor is gone";
  run.exited(std::nullopt);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().code, ENOENT);
  EXPECT_EQ(
      start.only().error().message,
      "starting instance " + inst.name + ": executing '/nonexistent': No such file or directory");
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(prop(inst.name, "exit_status"), "");
  EXPECT_EQ(sink_.named("DEAD").size(), 0u) << "it never ran";
  EXPECT_EQ(sink_.named("STARTED").size(), 0u);
  EXPECT_TRUE(run.destroyed);
}

TEST_F(InstancesTest, MonitorExitingSilentlyBeforePid1IsEIO) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  launcher_.last().exited(std::nullopt);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().code, EIO);
  EXPECT_EQ(start.only().error().message,
            "starting instance " + inst.name + ": the monitor exited before PID 1 started");
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
}

TEST_F(InstancesTest, StartDropRemountOfARunningInstanceAreEBUSY) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  auto check_busy = [&](const std::string& state) {
    Replies<EntitySummary> again;
    instances_->start(inst.name, again.done());
    ASSERT_EQ(again.count(), 1u) << state;
    ASSERT_FALSE(again.only().ok()) << state;
    EXPECT_EQ(again.only().error().code, EBUSY) << state;
    EXPECT_EQ(again.only().error().message,
              "instance " + inst.name + " is " + state + ", not ready");
    auto d = instances_->drop(inst.name);
    ASSERT_FALSE(d.ok()) << state;
    EXPECT_EQ(d.error().code, EBUSY) << state;
    EXPECT_EQ(d.error().message, "instance " + inst.name + " is " + state + ", not ready");
    auto m = instances_->remount(inst.name);
    ASSERT_FALSE(m.ok()) << state;
    EXPECT_EQ(m.error().code, EBUSY) << state;
  };
  const size_t mount_calls_before = mounter_.calls.size();
  check_busy("starting");
  launcher_.last().started(10);
  check_busy("started");
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  check_busy("stopping");
  EXPECT_EQ(launcher_.launches.size(), 1u);
  EXPECT_EQ(mounter_.calls.size(), mount_calls_before) << "no mount touched while running";
  EXPECT_EQ(catalogued(), 1u);
}

TEST_F(InstancesTest, StartOfAnUnknownInstanceIsENOENT) {
  Replies<EntitySummary> start;
  instances_->start("nobody_here", start.done());
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().code, ENOENT);
  EXPECT_EQ(launcher_.launches.size(), 0u);
}

// ---- KILL -----------------------------------------------------------------------------------

TEST_F(InstancesTest, KillOfAReadyInstanceIsECHILD) {
  auto inst = prepared();
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  ASSERT_EQ(kill.count(), 1u);
  ASSERT_FALSE(kill.only().ok());
  EXPECT_EQ(kill.only().error().code, ECHILD);
  EXPECT_EQ(kill.only().error().message, "instance " + inst.name + " is not started");
  Replies<KillResult> unknown;
  instances_->kill("nobody_here", unknown.done());
  ASSERT_EQ(unknown.count(), 1u);
  EXPECT_EQ(unknown.only().error().code, ENOENT);
}

TEST_F(InstancesTest, KillOfAStartedInstanceKillsPid1AndAnswersWithItsStatus) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  EXPECT_EQ(run.kill_init_calls, 1);
  EXPECT_EQ(run.kill_monitor_calls, 0);
  EXPECT_EQ(kill.count(), 0u) << "answered once the monitor reaped PID 1";
  EXPECT_EQ(instances_->state_of(inst.sha1), "stopping");
  EXPECT_EQ(record(inst.sha1).state, "stopping");
  run.exited(137);
  ASSERT_EQ(kill.count(), 1u);
  ASSERT_TRUE(kill.only().ok()) << kill.only().error().message;
  EXPECT_EQ(kill.only()->sha1, inst.sha1);
  EXPECT_EQ(kill.only()->name, inst.name);
  EXPECT_EQ(kill.only()->exit_status, std::optional<int>(137));
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(prop(inst.name, "exit_status"), "137");
  EXPECT_EQ(prop(inst.name, "outer_pts"), "");
  auto dead = sink_.named("DEAD");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].str("sha1"), inst.sha1);
  EXPECT_EQ(dead[0].str("name"), inst.name);
  EXPECT_EQ(dead[0].num("exit_status"), 137);
  EXPECT_TRUE(run.destroyed);
}

TEST_F(InstancesTest, KillTwiceAnswersBothWithOneSignal) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  Replies<KillResult> first, second;
  instances_->kill(inst.name, first.done());
  instances_->kill(inst.name, second.done());
  EXPECT_EQ(run.kill_init_calls, 1);
  EXPECT_EQ(first.count() + second.count(), 0u);
  run.exited(137);
  ASSERT_EQ(first.count(), 1u);
  ASSERT_EQ(second.count(), 1u);
  ASSERT_TRUE(first.only().ok());
  ASSERT_TRUE(second.only().ok());
  EXPECT_EQ(first.only()->exit_status, std::optional<int>(137));
  EXPECT_EQ(second.only()->exit_status, std::optional<int>(137));
  EXPECT_EQ(sink_.named("DEAD").size(), 1u);
  // A third, now that it is ready.
  Replies<KillResult> third;
  instances_->kill(inst.name, third.done());
  ASSERT_EQ(third.count(), 1u);
  EXPECT_EQ(third.only().error().code, ECHILD);
}

TEST_F(InstancesTest, KillDuringStartingKillsTheMonitorAndCancelsTheStart) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  FakeRun& run = launcher_.last();
  run.ptys("/dev/pts/4", "/dev/pts/5");
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  EXPECT_EQ(run.kill_monitor_calls, 1);
  EXPECT_EQ(run.kill_init_calls, 0);
  EXPECT_EQ(instances_->state_of(inst.sha1), "stopping");
  // The monitor had already reached its namespaces: it must not be told to go on.
  run.namespaces_ready();
  EXPECT_EQ(run.proceed_calls, 0);
  run.exited(std::nullopt);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().code, ECANCELED);
  EXPECT_EQ(start.only().error().message,
            "starting instance " + inst.name + ": START interrupted by KILL");
  ASSERT_EQ(kill.count(), 1u);
  ASSERT_TRUE(kill.only().ok()) << kill.only().error().message;
  EXPECT_EQ(kill.only()->exit_status, std::nullopt);
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(sink_.named("STARTED").size(), 0u);
  EXPECT_EQ(sink_.named("DEAD").size(), 1u);
}

// The real launcher (server/monitor_launcher.cc, Monitor::on_exit) reports a monitor that
// died before STARTED through on_failed("the monitor died before starting PID 1"), then
// on_exited — which is what happens when KILL kills it: the START reply must still say
// why it was cancelled.
TEST_F(InstancesTest, KillDuringStartingStaysECANCELEDWhenTheLauncherReportsTheMonitorDeath) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  FakeRun& run = launcher_.last();
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  ASSERT_EQ(run.kill_monitor_calls, 1);
  run.failed(make_error(
      EIO, "the monitor died before starting PID 1 (see " + ws(inst.sha1) + "/monitor.log)"));
  run.exited(std::nullopt);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().code, ECANCELED) << start.only().error().message;
  EXPECT_EQ(start.only().error().message,
            "starting instance " + inst.name + ": START interrupted by KILL");
  ASSERT_EQ(kill.count(), 1u);
  EXPECT_TRUE(kill.only().ok());
}

TEST_F(InstancesTest, StartedReportedAfterAKillIsIgnored) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  FakeRun& run = launcher_.last();
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  run.started(555);  // the STARTED line was already in the pipe
  EXPECT_EQ(start.count(), 0u);
  EXPECT_EQ(instances_->state_of(inst.sha1), "stopping");
  EXPECT_EQ(record(inst.sha1).state, "starting") << "never recorded as started";
  EXPECT_EQ(sink_.named("STARTED").size(), 0u);
  run.exited(137);
  ASSERT_EQ(start.count(), 1u);
  EXPECT_EQ(start.only().error().code, ECANCELED);
  ASSERT_EQ(kill.count(), 1u);
  ASSERT_TRUE(kill.only().ok());
  EXPECT_EQ(kill.only()->exit_status, std::optional<int>(137));
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
}

TEST_F(InstancesTest, KillWhenPid1IsAlreadyGoneKillsTheMonitor) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  run.kill_init_result = make_error(ESRCH, "No such process");
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  EXPECT_EQ(run.kill_init_calls, 1);
  EXPECT_EQ(run.kill_monitor_calls, 1);
  run.exited(std::nullopt);
  ASSERT_EQ(kill.count(), 1u);
  ASSERT_TRUE(kill.only().ok());
  EXPECT_EQ(kill.only()->exit_status, std::nullopt);
  EXPECT_EQ(prop(inst.name, "exit_status"), "");
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
}

TEST_F(InstancesTest, KillTimeoutEscalatesToTheMonitor) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  timers_.pending.clear();  // the START deadline is not under test here
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  EXPECT_EQ(timers_.delays(), std::vector<int>{kKillTimeoutMs});
  EXPECT_EQ(run.kill_monitor_calls, 0);
  timers_.fire_all();
  EXPECT_EQ(run.kill_monitor_calls, 1);
  EXPECT_EQ(kill.count(), 0u);
  EXPECT_EQ(instances_->state_of(inst.sha1), "stopping");
  run.exited(137);
  ASSERT_EQ(kill.count(), 1u);
  ASSERT_TRUE(kill.only().ok());
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
}

TEST_F(InstancesTest, StartTimeoutKillsTheMonitorAndAnswersETIMEDOUT) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  FakeRun& run = launcher_.last();
  run.namespaces_ready();
  timers_.fire_all();
  EXPECT_EQ(run.kill_monitor_calls, 1);
  EXPECT_EQ(start.count(), 0u);
  run.exited(std::nullopt);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().code, ETIMEDOUT);
  EXPECT_EQ(start.only().error().message,
            "starting instance " + inst.name +
                ": PID 1 was not started: the monitor did not report PID 1 within " +
                std::to_string(kStartTimeoutMs / 1000) + " s");
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(sink_.named("DEAD").size(), 0u);
}

// A network step that records its plans and succeeds.
using fakes::FakeNetwork;

TEST_F(InstancesTest, HostAccessIsValidatedStoredCanonicalAndPlanned) {
  auto inst = prepared();
  EXPECT_EQ(prop(inst.name, "host_access"), "none") << "the configured default";
  EXPECT_EQ(set(inst.name, "host_access", " tcp:22,udp:53   tcp:8000-8010 "), 0);
  EXPECT_EQ(prop(inst.name, "host_access"), "tcp:22 udp:53 tcp:8000-8010");
  for (const std::string& bad : Strings{"", "tcp:0", "tcp:70000", "icmp:1", "none all",
                                        "tcp:22 all", "tcp:9-8", "tcp:022", "yes"}) {
    auto s = instances_->set_property(inst.name, "host_access", bad);
    ASSERT_FALSE(s.ok()) << "'" << bad << "'";
    EXPECT_EQ(s.error().code, EINVAL) << "'" << bad << "'";
    EXPECT_TRUE(contains(s.error().message, "invalid host_access")) << s.error().message;
  }
  EXPECT_EQ(prop(inst.name, "host_access"), "tcp:22 udp:53 tcp:8000-8010") << "unchanged";
  EXPECT_EQ(set(inst.name, "host_access[0]", "all"), EINVAL) << "not an array";

  FakeNetwork net;
  with_network(net);
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  launcher_.last().namespaces_ready();
  ASSERT_EQ(net.plans.size(), 1u);
  EXPECT_EQ(net.plans[0].host_access, "tcp:22 udp:53 tcp:8000-8010");
  // The daemon's own table: its prefix and the id of its state.
  EXPECT_EQ(net.plans[0].filter_table,
            "firmwared_fd_veth_" + fw::sys::daemon_owner_id(config_->mount_path()));
  EXPECT_EQ(fw::sys::daemon_owner_id(config_->mount_path()).size(), 16u);
  launcher_.last().exited(std::nullopt);
}

TEST_F(InstancesTest, HostAccessOfOlderRecordsIsTheConfiguredDefault) {
  auto inst = prepared();
  auto r = cat_->get_instance(inst.sha1);
  ASSERT_TRUE(r.ok() && r->has_value());
  catalogue::InstanceRecord older = **r;
  older.host_access = "";  // a row migrated from before the property
  ASSERT_TRUE(cat_->put_instance(older).ok());
  EXPECT_EQ(prop(inst.name, "host_access"), "none");
}

TEST_F(InstancesTest, StartTimeoutNamesTheStepThatHung) {
  auto inst = prepared();
  FakeNetwork net;
  net.hold_setup = true;  // a network step that never ends
  with_network(net);
  auto timed_out = [&](bool namespaces_ready) {
    Replies<EntitySummary> start;
    instances_->start(inst.name, start.done());
    FakeRun& run = launcher_.last();
    if (namespaces_ready) run.namespaces_ready();
    timers_.fire_all();
    EXPECT_EQ(run.kill_monitor_calls, 1);
    run.exited(std::nullopt);
    // The helper ends at last (killed by its own deadline); the reply follows its teardown.
    if (namespaces_ready && !net.held.empty()) net.complete(make_error(EIO, "killed"));
    EXPECT_EQ(start.count(), 1u);
    return start.only().ok() ? std::string("ok") : start.only().error().message;
  };
  const std::string within = " within " + std::to_string(kStartTimeoutMs / 1000) + " s";
  EXPECT_EQ(timed_out(false), "starting instance " + inst.name +
                                  ": PID 1 was not started: the monitor did not report its "
                                  "namespaces" +
                                  within);
  EXPECT_EQ(timed_out(true), "starting instance " + inst.name +
                                 ": PID 1 was not started: the network helper did not finish" +
                                 within);
  EXPECT_EQ(net.count("setup " + inst.name), 1u);
}

// A failed network step: the monitor is killed before PID 1, and START fails with the
// network's error once the monitor is gone and the half-made network is torn down.
TEST_F(InstancesTest, NetworkFailureKillsTheMonitorAndStartFailsWithItsError) {
  auto inst = prepared();
  FakeNetwork net;
  net.setup_result = make_error(EPERM, "creating veth fd_veth0: Operation not permitted");
  with_network(net);
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  FakeRun& run = launcher_.last();
  run.namespaces_ready();
  EXPECT_EQ(run.kill_monitor_calls, 1);
  EXPECT_EQ(run.proceed_calls, 0) << "PID 1 never runs without its network";
  EXPECT_EQ(start.count(), 0u) << "answered once the monitor is gone";
  run.failed(make_error(EIO, "the monitor died"));
  run.exited(std::nullopt);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().code, EPERM);
  EXPECT_EQ(start.only().error().message,
            "starting instance " + inst.name +
                ": setting up the network: creating veth fd_veth0: Operation not permitted");
  EXPECT_EQ(net.calls, (Strings{"setup " + inst.name, "teardown " + inst.name}));
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
}

// The network operations of one instance run one at a time, in order: a START waits for the
// previous run's teardown (the KILL's reply does not); another instance's operations do not
// wait for them.
TEST_F(InstancesTest, NetworkOperationsOfAnInstanceRunOneAtATime) {
  auto a = prepared();
  auto b = prepared();
  FakeNetwork net;
  with_network(net);
  Replies<EntitySummary> first;
  FakeRun& run = start_fully(a.name, first, 4242);
  ASSERT_EQ(first.count(), 1u);
  ASSERT_TRUE(first.only().ok()) << first.only().error().message;
  EXPECT_EQ(run.proceed_calls, 1);

  net.hold_teardown = true;
  Replies<KillResult> kill;
  instances_->kill(a.name, kill.done());
  run.exited(137);
  ASSERT_EQ(kill.count(), 1u) << "answered once PID 1 is reaped, before the teardown";
  EXPECT_TRUE(kill.only().ok());
  EXPECT_EQ(instances_->state_of(a.sha1), "ready");
  EXPECT_EQ(record(a.sha1).state, "ready");
  Replies<EntitySummary> second;
  instances_->start(a.name, second.done());
  EXPECT_EQ(launcher_.launches.size(), 1u) << "the second run waits for the teardown";
  EXPECT_EQ(instances_->drop(a.name).error().code, EBUSY) << "still releasing its network";

  // Another instance is not held up.
  Replies<EntitySummary> other;
  start_fully(b.name, other, 4343);
  ASSERT_EQ(launcher_.launches.size(), 2u);
  EXPECT_EQ(launcher_.launches[1]->spec.name, b.name);
  ASSERT_EQ(other.count(), 1u);
  EXPECT_TRUE(other.only().ok());

  EXPECT_EQ(net.complete(), "teardown " + a.name);
  ASSERT_EQ(launcher_.launches.size(), 3u) << "launched once the teardown finished";
  EXPECT_EQ(launcher_.launches[2]->spec.name, a.name);
  launcher_.launches[2]->namespaces_ready();
  EXPECT_EQ(net.calls, (Strings{"setup " + a.name, "teardown " + a.name, "setup " + b.name,
                                "setup " + a.name}));
  launcher_.launches[2]->started(4444);
  ASSERT_EQ(second.count(), 1u);
  EXPECT_TRUE(second.only().ok()) << second.only().error().message;
}

TEST_F(InstancesTest, StartResetsThePreviousExitStatus) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  run.exited(137);
  ASSERT_EQ(prop(inst.name, "exit_status"), "137");
  // The next START fails before PID 1 runs: no status of that run, and not the old one.
  Replies<EntitySummary> again;
  instances_->start(inst.name, again.done());
  EXPECT_EQ(prop(inst.name, "exit_status"), "") << "reset as soon as START begins";
  launcher_.last().exited(std::nullopt);
  ASSERT_EQ(again.count(), 1u);
  EXPECT_FALSE(again.only().ok());
  EXPECT_EQ(prop(inst.name, "exit_status"), "");
  EXPECT_EQ(record(inst.sha1).exit_status, std::nullopt);
}

// As above, with the launcher's on_failed for the killed monitor (see the ECANCELED case).
TEST_F(InstancesTest, StartTimeoutStaysETIMEDOUTWhenTheLauncherReportsTheMonitorDeath) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  FakeRun& run = launcher_.last();
  timers_.fire_all();
  ASSERT_EQ(run.kill_monitor_calls, 1);
  run.failed(make_error(
      EIO, "the monitor died before starting PID 1 (see " + ws(inst.sha1) + "/monitor.log)"));
  run.exited(std::nullopt);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().code, ETIMEDOUT) << start.only().error().message;
}

TEST_F(InstancesTest, DeadlinesOfAnEarlierRunDoNothing) {
  auto inst = prepared();
  Replies<EntitySummary> first;
  FakeRun& run1 = start_fully(inst.name, first, 100);
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  run1.exited(137);
  ASSERT_EQ(kill.count(), 1u);
  Replies<EntitySummary> second;
  FakeRun& run2 = start_fully(inst.name, second, 200);
  ASSERT_EQ(second.count(), 1u);
  ASSERT_TRUE(second.only().ok());
  // Run 1's START and KILL deadlines and run 2's START deadline all pass now.
  EXPECT_EQ(timers_.pending.size(), 3u);
  timers_.fire_all();
  EXPECT_EQ(run2.kill_monitor_calls, 0);
  EXPECT_EQ(run2.kill_init_calls, 0);
  EXPECT_EQ(instances_->state_of(inst.sha1), "started");
  EXPECT_EQ(prop(inst.name, "init_pid"), "200");
}

TEST_F(InstancesTest, AnInstanceDyingByItselfIsReadyWithItsStatusAndADeadEvent) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  run.exited(3);
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(prop(inst.name, "exit_status"), "3");
  auto dead = sink_.named("DEAD");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].str("name"), inst.name);
  EXPECT_EQ(dead[0].num("exit_status"), 3);
  EXPECT_EQ(run.kill_init_calls + run.kill_monitor_calls, 0);
  // The next run clears the previous status while it runs.
  Replies<EntitySummary> again;
  start_fully(inst.name, again, 4343);
  EXPECT_EQ(prop(inst.name, "exit_status"), "");
  EXPECT_EQ(prop(inst.name, "init_pid"), "4343");
}

// ---- STOP and the end of a run ----------------------------------------------------------------

TEST_F(InstancesTest, StopSendsTheDefaultStopSignalAndAnswersStoppedOnceReaped) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  timers_.pending.clear();  // the START deadline is not under test here
  Replies<KillResult> stop;
  instances_->stop(inst.name, std::nullopt, std::nullopt, stop.done());
  EXPECT_EQ(run.signals, std::vector<int>{SIGTERM}) << "the fake firmware's: no init found";
  EXPECT_EQ(run.kill_init_calls + run.kill_monitor_calls, 0);
  EXPECT_EQ(timers_.delays(), std::vector<int>{kDefaultStopTimeoutS * 1000});
  EXPECT_EQ(stop.count(), 0u) << "answered once the monitor reaped PID 1";
  EXPECT_EQ(instances_->state_of(inst.sha1), "stopping");
  EXPECT_EQ(record(inst.sha1).state, "stopping");
  run.exited(130);
  ASSERT_EQ(stop.count(), 1u);
  ASSERT_TRUE(stop.only().ok()) << stop.only().error().message;
  EXPECT_EQ(stop.only()->name, inst.name);
  EXPECT_EQ(stop.only()->exit_status, std::optional<int>(130));
  EXPECT_EQ(stop.only()->reason, "stopped") << "not halt: it was asked to stop";
  EXPECT_EQ(stop.only()->signal, "SIGTERM");
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(prop(inst.name, "exit_status"), "130");
  EXPECT_EQ(prop(inst.name, "exit_reason"), "stopped");
  auto dead = sink_.named("DEAD");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].str("reason"), "stopped");
  EXPECT_EQ(dead[0].num("exit_status"), 130);
  EXPECT_EQ(launcher_.launches.size(), 1u);
  // The firmware's stop signal, then the instance's own.
  ASSERT_TRUE(firmwares_->set_property(kFwName, "stop_signal", "usr1").ok());
  EXPECT_EQ(prop(inst.name, "stop_signal"), "SIGUSR1") << "the firmware's";
  auto signal_of_next_stop = [&]() {
    Replies<EntitySummary> again;
    FakeRun& next = start_fully(inst.name, again, 4343);
    Replies<KillResult> stopped;
    instances_->stop(inst.name, std::nullopt, std::nullopt, stopped.done());
    next.exited(0);
    EXPECT_EQ(stopped.count(), 1u);
    EXPECT_EQ(next.signals.size(), 1u);
    return stopped.count() == 1 && stopped.only().ok() ? stopped.only()->signal : "<none>";
  };
  EXPECT_EQ(signal_of_next_stop(), "SIGUSR1");
  EXPECT_EQ(launcher_.last().signals, std::vector<int>{SIGUSR1});
  EXPECT_EQ(set(inst.name, "stop_signal", "rtmin+3"), 0);
  EXPECT_EQ(signal_of_next_stop(), "SIGRTMIN+3");
  EXPECT_EQ(launcher_.last().signals, std::vector<int>{SIGRTMIN + 3});
}

TEST_F(InstancesTest, StopWithAnExplicitSignalAndTimeout) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  timers_.pending.clear();
  Replies<KillResult> stop;
  instances_->stop(inst.name, std::string("SIGUSR2"), std::string("30"), stop.done());
  EXPECT_EQ(run.signals, std::vector<int>{SIGUSR2});
  EXPECT_EQ(timers_.delays(), std::vector<int>{30000});
  run.exited(0);
  ASSERT_EQ(stop.count(), 1u);
  ASSERT_TRUE(stop.only().ok());
  EXPECT_EQ(stop.only()->signal, "SIGUSR2");
  EXPECT_EQ(stop.only()->reason, "stopped");
  EXPECT_EQ(prop(inst.name, "stop_signal"), "SIGTERM") << "a STOP's signal is not stored";
}

TEST_F(InstancesTest, StopTimeoutSendsSigkillAndAnswersStopTimeout) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  timers_.pending.clear();
  Replies<KillResult> stop;
  instances_->stop(inst.name, std::nullopt, std::string("5"), stop.done());
  EXPECT_EQ(timers_.delays(), std::vector<int>{5000});
  EXPECT_EQ(run.kill_init_calls, 0);
  timers_.fire_all();
  EXPECT_EQ(run.kill_init_calls, 1);
  EXPECT_EQ(run.kill_monitor_calls, 0);
  EXPECT_EQ(timers_.delays(), std::vector<int>{kKillTimeoutMs}) << "then the KILL deadline";
  EXPECT_EQ(stop.count(), 0u);
  run.exited(137);
  ASSERT_EQ(stop.count(), 1u);
  ASSERT_TRUE(stop.only().ok());
  EXPECT_EQ(stop.only()->reason, "stop-timeout");
  EXPECT_EQ(stop.only()->signal, "SIGTERM");
  EXPECT_EQ(stop.only()->exit_status, std::optional<int>(137));
  EXPECT_EQ(prop(inst.name, "exit_reason"), "stop-timeout");
  EXPECT_EQ(sink_.named("DEAD").at(0).str("reason"), "stop-timeout");
  timers_.fire_all();  // the KILL deadline of a finished run does nothing
  EXPECT_EQ(run.kill_monitor_calls, 0);
}

TEST_F(InstancesTest, StopOfAnInitThatEndsInTimeLeavesTheTimeoutHarmless) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  timers_.pending.clear();
  Replies<KillResult> stop;
  instances_->stop(inst.name, std::nullopt, std::string("0"), stop.done());
  EXPECT_EQ(timers_.delays(), std::vector<int>{0});
  run.exited(0);
  Replies<EntitySummary> again;
  FakeRun& next = start_fully(inst.name, again, 4343);
  timers_.fire_all();  // the first run's STOP deadline, and the second's START deadline
  EXPECT_EQ(next.kill_init_calls + next.kill_monitor_calls, 0);
  EXPECT_EQ(instances_->state_of(inst.sha1), "started");
}

TEST_F(InstancesTest, KillDuringStopKillsAtOnceAndAnswersBothKilled) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  timers_.pending.clear();
  Replies<KillResult> stop, kill;
  instances_->stop(inst.name, std::nullopt, std::nullopt, stop.done());
  EXPECT_EQ(run.kill_init_calls, 0);
  instances_->kill(inst.name, kill.done());
  EXPECT_EQ(run.kill_init_calls, 1) << "no more waiting for the firmware's shutdown";
  EXPECT_EQ(stop.count() + kill.count(), 0u);
  timers_.fire_all();  // the STOP's deadline: no second SIGKILL; the KILL's: the monitor
  EXPECT_EQ(run.kill_init_calls, 1);
  run.exited(137);
  ASSERT_EQ(stop.count(), 1u);
  ASSERT_EQ(kill.count(), 1u);
  ASSERT_TRUE(stop.only().ok());
  ASSERT_TRUE(kill.only().ok());
  EXPECT_EQ(stop.only()->reason, "killed");
  EXPECT_EQ(kill.only()->reason, "killed");
  EXPECT_EQ(kill.only()->signal, "SIGKILL");
  EXPECT_EQ(prop(inst.name, "exit_reason"), "killed");
  EXPECT_EQ(sink_.named("DEAD").size(), 1u);
}

TEST_F(InstancesTest, StopDuringStopWaitsForTheFirstWithOneSignal) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  Replies<KillResult> first, second;
  instances_->stop(inst.name, std::nullopt, std::nullopt, first.done());
  instances_->stop(inst.name, std::string("SIGUSR1"), std::nullopt, second.done());
  EXPECT_EQ(run.signals, std::vector<int>{SIGTERM});
  run.exited(0);
  ASSERT_EQ(first.count(), 1u);
  ASSERT_EQ(second.count(), 1u);
  EXPECT_EQ(second.only()->reason, "stopped");
  EXPECT_EQ(second.only()->signal, "SIGTERM") << "the signal actually sent";
}

TEST_F(InstancesTest, KillOfAStartedInstanceAnswersKilledWithSigkill) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  EXPECT_TRUE(run.signals.empty());
  run.exited(137);
  ASSERT_EQ(kill.count(), 1u);
  EXPECT_EQ(kill.only()->reason, "killed");
  EXPECT_EQ(kill.only()->signal, "SIGKILL");
  EXPECT_EQ(prop(inst.name, "exit_reason"), "killed");
}

TEST_F(InstancesTest, StopOfAReadyInstanceIsECHILD) {
  auto inst = prepared();
  Replies<KillResult> stop;
  instances_->stop(inst.name, std::nullopt, std::nullopt, stop.done());
  ASSERT_EQ(stop.count(), 1u);
  ASSERT_FALSE(stop.only().ok());
  EXPECT_EQ(stop.only().error().code, ECHILD);
  EXPECT_EQ(stop.only().error().message, "instance " + inst.name + " is not started");
  Replies<KillResult> unknown;
  instances_->stop("nobody_here", std::nullopt, std::nullopt, unknown.done());
  ASSERT_EQ(unknown.count(), 1u);
  EXPECT_EQ(unknown.only().error().code, ENOENT);
}

TEST_F(InstancesTest, StopWithABadSignalOrTimeoutIsEINVALAndSendsNothing) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  timers_.pending.clear();
  auto error_of = [&](std::optional<std::string> signal, std::optional<std::string> timeout) {
    Replies<KillResult> stop;
    instances_->stop(inst.name, signal, timeout, stop.done());
    EXPECT_EQ(stop.count(), 1u) << "answered at once";
    if (stop.count() != 1 || stop.only().ok()) return std::string("<no error>");
    EXPECT_EQ(stop.only().error().code, EINVAL) << stop.only().error().message;
    return stop.only().error().message;
  };
  for (const std::string sig : {"SIGFOO", "", "0", "65", "RTMIN+99", "15x"}) {
    const std::string m = error_of(sig, std::nullopt);
    EXPECT_TRUE(contains(m, "stopping instance " + inst.name)) << m;
    EXPECT_TRUE(contains(m, "'" + sig + "'")) << m;
  }
  for (const std::string t : {"-1", "3601", "abc", "", "1.5", " 5", "99999", "100000", "1e3"}) {
    const std::string m = error_of(std::nullopt, t);
    EXPECT_TRUE(contains(m, "invalid timeout '" + t + "'")) << m;
  }
  EXPECT_TRUE(run.signals.empty());
  EXPECT_EQ(run.kill_init_calls + run.kill_monitor_calls, 0);
  EXPECT_TRUE(timers_.pending.empty());
  EXPECT_EQ(instances_->state_of(inst.sha1), "started");
  EXPECT_EQ(record(inst.sha1).state, "started");
  // The largest timeout is fine.
  Replies<KillResult> stop;
  instances_->stop(inst.name, std::nullopt, std::string("3600"), stop.done());
  EXPECT_EQ(timers_.delays(), std::vector<int>{3600 * 1000});
  EXPECT_EQ(run.signals.size(), 1u);
}

TEST_F(InstancesTest, StopOfAStartingInstanceCancelsTheStartAsKillDoes) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  FakeRun& run = launcher_.last();
  run.ptys("/dev/pts/4", "/dev/pts/5");
  Replies<KillResult> stop;
  instances_->stop(inst.name, std::nullopt, std::nullopt, stop.done());
  EXPECT_EQ(run.kill_monitor_calls, 1);
  EXPECT_EQ(run.kill_init_calls, 0);
  EXPECT_TRUE(run.signals.empty()) << "no init to ask yet";
  EXPECT_EQ(instances_->state_of(inst.sha1), "stopping");
  run.exited(std::nullopt);
  ASSERT_EQ(start.count(), 1u);
  EXPECT_EQ(start.only().error().code, ECANCELED);
  ASSERT_EQ(stop.count(), 1u);
  ASSERT_TRUE(stop.only().ok());
  EXPECT_EQ(stop.only()->reason, "killed");
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
}

TEST_F(InstancesTest, StopOfAnEmulatedInitShiftsRealTimeSignalsForQemuUser) {
  auto inst = prepared();
  EXPECT_EQ(set(inst.name, "stop_signal", "SIGRTMIN+3"), 0);
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  run.emulated = true;
  Replies<KillResult> stop;
  instances_->stop(inst.name, std::nullopt, std::nullopt, stop.done());
  EXPECT_EQ(run.signals, std::vector<int>{SIGRTMIN + 5});
  run.exited(0);
  ASSERT_EQ(stop.count(), 1u);
  EXPECT_EQ(stop.only()->signal, "SIGRTMIN+3") << "the guest's signal";
  // A standard signal passes unchanged.
  Replies<EntitySummary> again;
  FakeRun& next = start_fully(inst.name, again, 4343);
  next.emulated = true;
  Replies<KillResult> term;
  instances_->stop(inst.name, std::string("SIGTERM"), std::nullopt, term.done());
  EXPECT_EQ(next.signals, std::vector<int>{SIGTERM});
  next.exited(0);
}

TEST_F(InstancesTest, StopWhenTheSignalCannotBeSentKillsPid1) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  run.signal_init_result = make_error(ESRCH, "No such process");
  Replies<KillResult> stop;
  instances_->stop(inst.name, std::nullopt, std::nullopt, stop.done());
  EXPECT_EQ(run.kill_init_calls, 1);
  run.exited(137);
  ASSERT_EQ(stop.count(), 1u);
  ASSERT_TRUE(stop.only().ok());
  EXPECT_EQ(stop.only()->reason, "killed");
}

TEST_F(InstancesTest, RebootFromInsideStartsTheInstanceAgain) {
  auto inst = prepared();
  EXPECT_EQ(prop(inst.name, "on_reboot"), "restart") << "the default";
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  run.exited(128 + SIGHUP);  // the kernel's way of ending PID 1 after reboot(RB_AUTOBOOT)
  auto dead = sink_.named("DEAD");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].str("reason"), "reboot");
  EXPECT_EQ(dead[0].num("exit_status"), 129);
  // The new run's START clears it, as it clears exit_status: DEAD and REBOOTED tell.
  EXPECT_EQ(record(inst.sha1).exit_reason, "");
  ASSERT_EQ(launcher_.launches.size(), 2u) << "launched again";
  EXPECT_EQ(instances_->state_of(inst.sha1), "starting");
  EXPECT_EQ(sink_.named("REBOOTED").size(), 0u) << "not before PID 1 runs again";
  FakeRun& next = launcher_.last();
  next.ptys("/dev/pts/6", "/dev/pts/7");
  next.namespaces_ready();
  next.started(5252);
  EXPECT_EQ(instances_->state_of(inst.sha1), "started");
  EXPECT_EQ(prop(inst.name, "init_pid"), "5252");
  auto rebooted = sink_.named("REBOOTED");
  ASSERT_EQ(rebooted.size(), 1u);
  EXPECT_EQ(rebooted[0].str("folder"), "instances");
  EXPECT_EQ(rebooted[0].str("sha1"), inst.sha1);
  EXPECT_EQ(rebooted[0].str("name"), inst.name);
}

TEST_F(InstancesTest, RebootWithOnRebootStopLeavesItReady) {
  auto inst = prepared();
  EXPECT_EQ(set(inst.name, "on_reboot", "stop"), 0);
  Replies<EntitySummary> start;
  FakeRun& run = start_fully(inst.name, start, 4242);
  run.exited(129);
  EXPECT_EQ(launcher_.launches.size(), 1u);
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(prop(inst.name, "exit_reason"), "reboot");
  EXPECT_EQ(sink_.named("DEAD").at(0).str("reason"), "reboot");
  EXPECT_EQ(sink_.named("REBOOTED").size(), 0u);
}

TEST_F(InstancesTest, AFirmwareRebootingInALoopIsLeftStopped) {
  auto inst = prepared();
  Replies<EntitySummary> start;
  start_fully(inst.name, start, 4242);
  for (int i = 1; i <= kMaxReboots; ++i) {
    launcher_.last().exited(129);
    ASSERT_EQ(launcher_.launches.size(), static_cast<size_t>(i + 1)) << "reboot " << i;
    FakeRun& next = launcher_.last();
    next.ptys("/dev/pts/6", "/dev/pts/7");
    next.namespaces_ready();
    next.started(5000 + i);
  }
  EXPECT_EQ(sink_.named("REBOOTED").size(), static_cast<size_t>(kMaxReboots));
  launcher_.last().exited(129);  // the sixth within the window
  EXPECT_EQ(launcher_.launches.size(), static_cast<size_t>(kMaxReboots + 1)) << "not again";
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(prop(inst.name, "exit_reason"), "reboot");
}

TEST_F(InstancesTest, ExitReasonsOfARunEndingOnItsOwn) {
  auto inst = prepared();
  auto reason_of_exit = [&](std::optional<int> status) {
    Replies<EntitySummary> start;
    FakeRun& run = start_fully(inst.name, start, 4242);
    run.exited(status);
    EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
    return prop(inst.name, "exit_reason") + "/" + sink_.named("DEAD").back().str("reason");
  };
  EXPECT_EQ(reason_of_exit(128 + SIGINT), "halt/halt");
  EXPECT_EQ(reason_of_exit(0), "exited/exited");
  EXPECT_EQ(reason_of_exit(3), "exited/exited");
  EXPECT_EQ(reason_of_exit(137), "exited/exited") << "no cgroups: no OOM count";
  EXPECT_EQ(reason_of_exit(std::nullopt), "/");
  EXPECT_EQ(launcher_.launches.size(), 5u) << "none of them restarts it";
}

TEST_F(InstancesTest, StopSignalOnRebootAndLimitsAreValidatedAndWritableWhileStarted) {
  auto inst = prepared();
  EXPECT_EQ(prop(inst.name, "stop_signal"), "SIGTERM") << "the firmware's";
  EXPECT_EQ(set(inst.name, "stop_signal", "rtmin+3"), 0);
  EXPECT_EQ(prop(inst.name, "stop_signal"), "SIGRTMIN+3");
  EXPECT_EQ(record(inst.sha1).stop_signal, "SIGRTMIN+3");
  EXPECT_EQ(set(inst.name, "stop_signal", "10"), 0);
  EXPECT_EQ(prop(inst.name, "stop_signal"), "SIGUSR1");
  auto bad = instances_->set_property(inst.name, "stop_signal", "SIGFOO");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, EINVAL);
  EXPECT_TRUE(contains(bad.error().message, "'SIGFOO'")) << bad.error().message;
  EXPECT_EQ(prop(inst.name, "stop_signal"), "SIGUSR1") << "unchanged";
  EXPECT_EQ(set(inst.name, "stop_signal", ""), 0);
  ASSERT_TRUE(firmwares_->set_property(kFwName, "stop_signal", "SIGINT").ok());
  EXPECT_EQ(prop(inst.name, "stop_signal"), "SIGINT") << "back to the firmware's";
  EXPECT_EQ(record(inst.sha1).stop_signal, "");
  EXPECT_EQ(set(inst.name, "stop_signal[0]", "SIGINT"), EINVAL) << "not an array";

  EXPECT_EQ(set(inst.name, "on_reboot", "maybe"), EINVAL);
  EXPECT_EQ(set(inst.name, "on_reboot", ""), EINVAL);
  EXPECT_EQ(set(inst.name, "on_reboot", "stop"), 0);
  EXPECT_EQ(prop(inst.name, "on_reboot"), "stop");

  auto mem = instances_->set_property(inst.name, "memory_max", "512MB");
  ASSERT_FALSE(mem.ok());
  EXPECT_EQ(mem.error().code, EINVAL);
  EXPECT_TRUE(contains(mem.error().message, "K, M, G or T")) << mem.error().message;
  for (const char* b : {"1.5G", "3M", "-1"}) EXPECT_EQ(set(inst.name, "memory_max", b), EINVAL);
  EXPECT_EQ(set(inst.name, "memory_max", "512M"), 0);
  EXPECT_EQ(prop(inst.name, "memory_max"), "512M");
  EXPECT_EQ(set(inst.name, "pids_max", "0"), EINVAL);
  EXPECT_EQ(set(inst.name, "pids_max", "256"), 0);
  EXPECT_EQ(set(inst.name, "cpu_weight", "10001"), EINVAL);
  EXPECT_EQ(set(inst.name, "cpu_weight", "50"), 0);
  EXPECT_EQ(prop(inst.name, "pids_max"), "256");
  EXPECT_EQ(prop(inst.name, "cpu_weight"), "50");
  EXPECT_EQ(set(inst.name, "exit_reason", "halt"), EPERM) << "read-only";

  // Started: all still writable (they apply to the next stop or reboot, limits at once).
  Replies<EntitySummary> start;
  start_fully(inst.name, start, 4242);
  EXPECT_EQ(set(inst.name, "stop_signal", "SIGUSR2"), 0);
  EXPECT_EQ(set(inst.name, "on_reboot", "restart"), 0);
  EXPECT_EQ(set(inst.name, "memory_max", "1G"), 0);
  EXPECT_EQ(set(inst.name, "pids_max", ""), 0);
  EXPECT_EQ(set(inst.name, "cpu_weight", "100"), 0);
  EXPECT_EQ(prop(inst.name, "memory_max"), "1G");
  EXPECT_EQ(prop(inst.name, "pids_max"), "");
  auto r = record(inst.sha1);
  EXPECT_EQ(r.stop_signal, "SIGUSR2");
  EXPECT_EQ(r.on_reboot, "restart");
  EXPECT_EQ(r.cpu_weight, "100");
  EXPECT_EQ(r.state, "started") << "a property write keeps the run's state";
}

// ---- restore() after a daemon restart ---------------------------------------------------------

TEST_F(InstancesTest, RestoreReadoptsALiveMonitorAndLeavesItsMountsAlone) {
  auto inst = prepared();
  auto r = record(inst.sha1);
  r.state = "started";
  r.monitor_pid = 500;
  r.monitor_start_time = 123456;
  r.init_pid = 501;
  ASSERT_TRUE(cat_->put_instance(r).ok());
  make_folders(false);  // a new daemon
  mounter_.calls.clear();
  launcher_.live_monitors = {500};
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_EQ(launcher_.adopt_calls, Strings{"500 123456 501 " + ws(inst.sha1)});
  EXPECT_EQ(mounter_.calls, Strings{}) << "the mounts of a running instance are in use";
  EXPECT_EQ(instances_->state_of(inst.sha1), "started");
  EXPECT_EQ(prop(inst.name, "pid"), "500");
  EXPECT_EQ(prop(inst.name, "init_pid"), "501");
  EXPECT_EQ(launcher_.launches.size(), 0u);

  // It is a normal running instance: KILL works and records the status.
  ASSERT_EQ(launcher_.adoptions.size(), 1u);
  FakeRun& run = *launcher_.adoptions[0];
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  EXPECT_EQ(run.kill_init_calls, 1);
  run.exited(137);
  ASSERT_EQ(kill.count(), 1u);
  ASSERT_TRUE(kill.only().ok());
  EXPECT_EQ(kill.only()->exit_status, std::optional<int>(137));
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(prop(inst.name, "exit_status"), "137");
}

// Issue 11 item 8: the daemon died during START, before recording "started".
TEST_F(InstancesTest, RestoreAdoptsAMonitorFoundThroughItsLockThoughTheCatalogueSaysStarting) {
  auto inst = prepared();
  auto r = record(inst.sha1);
  r.state = "starting";
  ASSERT_TRUE(cat_->put_instance(r).ok());
  make_folders(false);
  mounter_.calls.clear();
  launcher_.locks[ws(inst.sha1)] = MonitorLockState{true, true, 800, 5, 801};
  launcher_.live_monitors = {800};
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_EQ(launcher_.adopt_calls, Strings{"800 5 801 " + ws(inst.sha1)});
  EXPECT_EQ(launcher_.orphan_kills, Strings{});
  EXPECT_EQ(mounter_.calls, Strings{}) << "the overlay in use is never mounted a second time";
  EXPECT_EQ(instances_->state_of(inst.sha1), "started");
  EXPECT_EQ(record(inst.sha1).state, "started");
  EXPECT_EQ(record(inst.sha1).monitor_pid, 800);
  EXPECT_EQ(record(inst.sha1).init_pid, 801);
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  EXPECT_EQ(launcher_.adoptions[0]->kill_init_calls, 1) << "KILL works, no ECHILD";
}

TEST_F(InstancesTest, RestoreKillsAMonitorThatNeverReportedPid1BeforeRemounting) {
  auto inst = prepared();
  auto r = record(inst.sha1);
  r.state = "starting";
  r.monitor_pid = 800;
  ASSERT_TRUE(cat_->put_instance(r).ok());
  make_folders(false);
  mounter_.calls.clear();
  launcher_.locks[ws(inst.sha1)] = MonitorLockState{true, true, 800, 5, 0};
  launcher_.live_monitors = {800};
  Strings order;
  mounter_.hook = [&](const std::string&) {
    order.push_back(launcher_.orphan_kills.empty() ? "mount before kill" : "mount after kill");
  };
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_EQ(launcher_.orphan_kills, Strings{ws(inst.sha1)});
  EXPECT_EQ(launcher_.adopt_calls, Strings{});
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
  ASSERT_FALSE(order.empty());
  for (const auto& o : order) EXPECT_EQ(o, "mount after kill");
}

TEST_F(InstancesTest, RestoreLeavesTheOverlayAloneWhileAnOrphanedMonitorSurvives) {
  auto inst = prepared();
  make_folders(false);
  mounter_.calls.clear();
  launcher_.locks[ws(inst.sha1)] = MonitorLockState{true, true, 800, 5, 0};
  launcher_.fail_kill_orphan = make_error(ETIMEDOUT, "still held");
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_EQ(launcher_.orphan_kills, Strings{ws(inst.sha1)});
  EXPECT_EQ(mounter_.calls, Strings{}) << "never a second overlay on one upper dir";
}

TEST_F(InstancesTest, RestoreTrustsAFreeLockOverTheCatalogue) {
  auto inst = prepared();
  auto r = record(inst.sha1);
  r.state = "started";
  r.monitor_pid = 600;
  r.init_pid = 601;
  ASSERT_TRUE(cat_->put_instance(r).ok());
  make_folders(false);
  launcher_.locks[ws(inst.sha1)] = MonitorLockState{true, false, 600, 5, 601};
  launcher_.live_monitors = {600};  // a reused pid, say
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_EQ(launcher_.adopt_calls, Strings{}) << "no lock holder: no monitor";
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
}

TEST_F(InstancesTest, RestoreMarksAnInstanceWhoseMonitorIsGoneReadyWithItsRecordedStatus) {
  auto inst = prepared();
  auto r = record(inst.sha1);
  r.state = "started";
  r.monitor_pid = 600;
  r.monitor_start_time = 99;
  r.init_pid = 601;
  ASSERT_TRUE(cat_->put_instance(r).ok());
  write_file(ws(inst.sha1) + "/exit_status", "42\n");
  make_folders(false);
  mounter_.calls.clear();
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_EQ(launcher_.adopt_calls, Strings{"600 99 601 " + ws(inst.sha1)});
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(prop(inst.name, "exit_status"), "42");
  const std::string w = ws(inst.sha1);
  Strings expected = {"unmount " + w + "/union", "unmount " + w + "/ro"};
  for (const auto& c : mount_calls(inst.sha1)) expected.push_back(c);
  EXPECT_EQ(mounter_.calls, expected) << "stale mounts replaced, not stacked";
  // And it starts again.
  Replies<EntitySummary> start;
  start_fully(inst.name, start, 700);
  ASSERT_EQ(start.count(), 1u);
  EXPECT_TRUE(start.only().ok());
}

TEST_F(InstancesTest, RestoreOfADeadMonitorWithoutStatusFileLeavesTheStatusEmpty) {
  auto inst = prepared();
  auto r = record(inst.sha1);
  r.state = "stopping";
  r.monitor_pid = 600;
  r.init_pid = 601;
  ASSERT_TRUE(cat_->put_instance(r).ok());
  make_folders(false);
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(prop(inst.name, "exit_status"), "");
}

TEST_F(InstancesTest, RestoreRemountsReadyInstancesWithoutAdopting) {
  auto a = prepared();
  auto b = prepared();
  make_folders(false);
  mounter_.calls.clear();
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_EQ(launcher_.adopt_calls, Strings{});
  Strings expected;
  for (const auto& inst : {a, b}) {
    const std::string w = ws(inst.sha1);
    expected.push_back("unmount " + w + "/union");
    expected.push_back("unmount " + w + "/ro");
    for (const auto& c : mount_calls(inst.sha1)) expected.push_back(c);
  }
  EXPECT_EQ(mounter_.calls, expected);
  EXPECT_EQ(instances_->state_of(a.sha1), "ready");
  EXPECT_EQ(instances_->state_of(b.sha1), "ready");
}

// ---- REMOUNT and DROP -------------------------------------------------------------------------

TEST_F(InstancesTest, RemountOfAReadyInstanceRemountsLowerAndOverlay) {
  auto inst = prepared();
  mounter_.calls.clear();
  auto s = instances_->remount(inst.name);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->name, inst.name);
  const std::string w = ws(inst.sha1);
  Strings expected = {"unmount " + w + "/union", "unmount " + w + "/ro"};
  for (const auto& c : mount_calls(inst.sha1)) expected.push_back(c);
  EXPECT_EQ(mounter_.calls, expected);
}

// Whatever step of a REMOUNT fails, the steps done are undone in reverse order and the
// instance keeps the mounts it had: a REMOUNT and a START then work.
TEST_F(InstancesTest, RemountFailingAtAnyStepLeavesTheInstanceMountedAsBefore) {
  auto inst = prepared();
  const std::string w = ws(inst.sha1);
  const int faults = fail_each_step(
      inst.sha1, [&]() -> Status { return status_of(instances_->remount(inst.name)); },
      [&]() {
        EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
        auto again = instances_->remount(inst.name);
        EXPECT_TRUE(again.ok()) << again.error().message;
        Replies<EntitySummary> start;
        FakeRun& run = start_fully(inst.name, start, 4242);
        ASSERT_EQ(start.count(), 1u);
        EXPECT_TRUE(start.only().ok()) << start.only().error().message;
        EXPECT_EQ(run.spec.root, w + "/union");
        Replies<KillResult> kill;
        instances_->kill(inst.name, kill.done());
        run.exited(137);
        EXPECT_EQ(instances_->state_of(inst.sha1), "ready");
      });
  EXPECT_EQ(faults, 4) << "unmount union, unmount ro, mount ro, mount union";
}

// The same for PREPARE snapshots: the instance keeps its diff, its record and its mounts.
TEST_F(InstancesTest, SnapshotFailingAtAnyStepLeavesTheInstanceAsBefore) {
  auto inst = prepared();
  const std::string w = ws(inst.sha1);
  std::ofstream(w + "/rw/changed") << "x";
  const int faults = fail_each_step(
      inst.sha1, [&]() -> Status { return status_of(instances_->take_snapshot(inst.name)); },
      [&]() {
        EXPECT_TRUE(fs::exists(w + "/rw/changed"));
        EXPECT_TRUE(fs::is_directory(w + "/work"));
        EXPECT_EQ(record(inst.sha1).snapshot_sha1, "");
        EXPECT_TRUE(cat_->list_snapshots()->empty());
        EXPECT_TRUE(fs::is_empty(mount_path_ + "/snapshots"));
      });
  EXPECT_EQ(faults, 5) << "unmount union, unmount ro, remove work, mount ro, mount union";
  EXPECT_EQ(record(inst.sha1).snapshot_sha1.size(), 40u);
}

// PREPARE: a failed mount unmounts what was mounted and removes the workspace.
TEST_F(InstancesTest, PrepareFailingAtAnyMountLeavesNothing) {
  for (int n = 1;; ++n) {
    ASSERT_LT(n, 10);
    mounter_.calls.clear();
    mounter_.fail_at = n;
    auto s = prepare();
    mounter_.fail_at = 0;
    if (s.ok()) break;
    const Strings& calls = mounter_.calls;
    ASSERT_GE(calls.size(), static_cast<size_t>(n) + 1) << ::testing::PrintToString(calls);
    const Strings done(calls.begin(), calls.begin() + n - 1);
    Strings undo(calls.begin() + n, calls.end() - 1);
    EXPECT_EQ(undo, undo_of(done, {})) << "failing call " << n;
    EXPECT_EQ(calls.back().rfind("remove_tree " + mount_path_ + "/instances/", 0), 0u);
    EXPECT_TRUE(mounter_.mounted.empty());
    EXPECT_EQ(catalogued(), 0u);
    EXPECT_TRUE(fs::is_empty(mount_path_ + "/instances"));
  }
  EXPECT_EQ(catalogued(), 1u);
}

// ---- snapshots (instance_snapshots.cc) --------------------------------------------------------

TEST_F(InstancesTest, SnapshotMovesTheUpperDirAndStacksTheInstanceOnIt) {
  auto inst = prepared();
  const std::string w = ws(inst.sha1);
  std::ofstream(w + "/rw/changed") << "x";
  mounter_.calls.clear();
  auto snap = instances_->take_snapshot(inst.name);
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  const std::string layer = mount_path_ + "/snapshots/" + snap->sha1 + "/layer";
  EXPECT_EQ(
      mounter_.calls,
      (Strings{"unmount " + w + "/union", "unmount " + w + "/ro", "remove_tree " + w + "/work",
               "mount_lower_stack " + layer + ":" + fw_mount() + " " + w + "/ro",
               "mount_overlay " + w + "/ro " + w + "/rw " + w + "/work " + w + "/union"}));
  EXPECT_TRUE(fs::exists(layer + "/changed"));
  EXPECT_TRUE(fs::is_empty(w + "/rw"));
  EXPECT_TRUE(fs::is_directory(w + "/work"));
  EXPECT_EQ(record(inst.sha1).snapshot_sha1, snap->sha1);
  auto stored = cat_->get_snapshot(snap->sha1);
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_EQ((*stored)->instance_sha1, inst.sha1);
  EXPECT_EQ((*stored)->parent_sha1, "");
  // The layer is measured on the worker, off the loop: 0 until that has run.
  EXPECT_EQ((*stored)->size, 0u);
  run_deferred();
  stored = cat_->get_snapshot(snap->sha1);
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_EQ((*stored)->size, 1u);
  auto ev = sink_.named("PREPARED");
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().str("folder"), "snapshots");

  // A second one has the first as parent, and stacks both layers.
  mounter_.calls.clear();
  auto second = instances_->take_snapshot(inst.name);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ((*cat_->get_snapshot(second->sha1))->parent_sha1, snap->sha1);
  EXPECT_EQ(mounter_.calls[3], "mount_lower_stack " + mount_path_ + "/snapshots/" + second->sha1 +
                                   "/layer:" + layer + ":" + fw_mount() + " " + w + "/ro");
}

TEST_F(InstancesTest, SnapshotRollsBackWhenTheStackedMountFails) {
  auto inst = prepared();
  const std::string w = ws(inst.sha1);
  std::ofstream(w + "/rw/changed") << "x";
  mounter_.calls.clear();
  mounter_.fail_at = 4;  // mount_lower_stack
  auto snap = instances_->take_snapshot(inst.name);
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.error().code, EIO);
  EXPECT_TRUE(fs::exists(w + "/rw/changed"));
  EXPECT_EQ(record(inst.sha1).snapshot_sha1, "");
  EXPECT_TRUE(cat_->list_snapshots()->empty());
  EXPECT_TRUE(fs::is_empty(mount_path_ + "/snapshots"));
  // Remounted as before.
  const Strings tail(mounter_.calls.end() - 2, mounter_.calls.end());
  EXPECT_EQ(tail, mount_calls(inst.sha1));
}

TEST_F(InstancesTest, SnapshotOfAStartedInstanceIsEBUSY) {
  auto inst = prepared();
  Replies<EntitySummary> replies;
  start_fully(inst.name, replies, 4242);
  auto snap = instances_->take_snapshot(inst.name);
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.error().code, EBUSY);
  EXPECT_NE(snap.error().message.find("KILL it first"), std::string::npos);
}

TEST_F(InstancesTest, PrepareFromASnapshotStacksTheNewInstanceAndRestoreResets) {
  auto inst = prepared();
  std::ofstream(ws(inst.sha1) + "/rw/changed") << "x";
  auto snap = instances_->take_snapshot(inst.name);
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  mounter_.calls.clear();
  auto stacked = prepare(snap->name);
  ASSERT_TRUE(stacked.ok()) << stacked.error().message;
  EXPECT_EQ(record(stacked->sha1).snapshot_sha1, snap->sha1);
  const std::string w = ws(stacked->sha1);
  EXPECT_EQ(mounter_.calls[0], "mount_lower_stack " + mount_path_ + "/snapshots/" + snap->sha1 +
                                   "/layer:" + fw_mount() + " " + w + "/ro");
  EXPECT_EQ(cat_->delete_snapshot(snap->sha1).error().code, EBUSY);

  std::ofstream(w + "/rw/later") << "y";
  auto restored = instances_->reset_to_snapshot(stacked->name, snap->name);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_TRUE(fs::is_empty(w + "/rw"));
  EXPECT_FALSE(fs::exists(w + "/rw.discarded"));
}

TEST_F(InstancesTest, DropUnmountsRemovesTheWorkspaceAndFreesTheId) {
  auto inst = prepared();
  mounter_.calls.clear();
  auto d = instances_->drop(inst.name);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->sha1, inst.sha1);
  const std::string w = ws(inst.sha1);
  EXPECT_EQ(mounter_.calls, (Strings{"unmount " + w + "/union", "unmount " + w + "/ro"}))
      << "nothing deleted on the loop";
  EXPECT_FALSE(fs::exists(w)) << "moved to the trash at once";
  EXPECT_EQ(trash_entries(), 1u);
  EXPECT_EQ(catalogued(), 0u);
  EXPECT_EQ(instances_->list()->size(), 0u) << "gone from LIST before the deletion";
  run_deferred();
  // Off the loop: whatever is mounted below the trash entry (the fake mounter's
  // unmount_all_below unmounts a workspace's two mounts), then its deletion.
  ASSERT_EQ(mounter_.calls.size(), 5u);
  const std::string entry = mount_path_ + "/trash/" + inst.sha1 + ".";
  EXPECT_TRUE(contains(mounter_.calls[2], "unmount " + entry)) << mounter_.calls[2];
  EXPECT_TRUE(contains(mounter_.calls[3], "unmount " + entry)) << mounter_.calls[3];
  EXPECT_TRUE(contains(mounter_.calls[4], "remove_tree " + entry)) << mounter_.calls[4];
  EXPECT_EQ(trash_entries(), 0u);
  auto dropped = sink_.named("DROPPED");
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].str("folder"), "instances");
  EXPECT_EQ(dropped[0].str("name"), inst.name);
  EXPECT_EQ(prop(prepared().sha1, "id"), "0");
}

TEST_F(InstancesTest, RestoreFinishesADropInterruptedAfterTheWorkspaceWentToTheTrash) {
  auto inst = prepared();
  auto other = prepared();
  fs::create_directories(mount_path_ + "/trash");
  fs::rename(ws(inst.sha1), mount_path_ + "/trash/" + inst.sha1 + ".0123456789abcdef");
  make_folders(false);
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_FALSE(cat_->get_instance(inst.sha1)->has_value()) << "the DROP is finished";
  EXPECT_TRUE(cat_->get_instance(other.sha1)->has_value());
  run_deferred();
  EXPECT_EQ(trash_entries(), 0u) << "the trash is emptied at start";
}

TEST_F(InstancesTest, RestoreKeepsAndReportsARowWhoseWorkspaceIsGoneWithoutADrop) {
  auto inst = prepared();
  fs::remove_all(ws(inst.sha1));
  make_folders(false);
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_TRUE(cat_->get_instance(inst.sha1)->has_value()) << "not a DROP of ours: kept";
}

TEST_F(InstancesTest, RestoreRemovesAWorkspaceWithoutARowThroughTheTrash) {
  auto inst = prepared();
  const std::string orphan = ws(std::string(40, 'e'));  // a PREPARE cut before its row
  fs::create_directories(orphan + "/rw/etc");
  write_file(orphan + "/rw/etc/x", "x");
  make_folders(false);
  mounter_.calls.clear();
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_TRUE(fs::exists(ws(inst.sha1))) << "a catalogued workspace stays";
  EXPECT_TRUE(std::find(mounter_.calls.begin(), mounter_.calls.end(),
                        "unmount " + orphan + "/union") != mounter_.calls.end())
      << "unmounted before removal";
  run_deferred();
  EXPECT_EQ(trash_entries(), 0u);
}

TEST_F(InstancesTest, RestoreGivesAnInstanceBackTheDiffAnInterruptedSnapshotFroze) {
  auto inst = prepared();
  write_file(ws(inst.sha1) + "/rw/marker", "x");
  const std::string snap = mount_path_ + "/snapshots/" + std::string(40, 'd');
  fs::create_directories(snap);
  write_file(snap + "/instance", inst.sha1 + "\n");
  fs::rename(ws(inst.sha1) + "/rw", snap + "/layer");
  fs::create_directory(ws(inst.sha1) + "/rw");
  make_folders(false);
  ASSERT_TRUE(instances_->restore().ok());
  EXPECT_TRUE(fs::exists(ws(inst.sha1) + "/rw/marker")) << "the diff is back";
  EXPECT_FALSE(fs::exists(snap)) << "the uncatalogued snapshot dir is removed";
  EXPECT_EQ(record(inst.sha1).snapshot_sha1, "");
}

TEST_F(InstancesTest, DropWithPreventRemovalKeepsTheWorkspace) {
  make_folders(true);
  auto inst = prepared();
  write_file(ws(inst.sha1) + "/rw/marker", "x");
  mounter_.calls.clear();
  ASSERT_TRUE(instances_->drop(inst.name).ok());
  const std::string w = ws(inst.sha1);
  EXPECT_EQ(mounter_.calls, (Strings{"unmount " + w + "/union", "unmount " + w + "/ro"}));
  EXPECT_TRUE(fs::exists(w + "/rw/marker"));
  EXPECT_EQ(catalogued(), 0u);
}

TEST_F(InstancesTest, DropWhenUnmountingFailsKeepsTheInstance) {
  auto inst = prepared();
  mounter_.calls.clear();
  mounter_.fail_at = 1;
  auto d = instances_->drop(inst.name);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, EIO);
  EXPECT_TRUE(contains(d.error().message, "dropping instance " + inst.name)) << d.error().message;
  EXPECT_EQ(catalogued(), 1u);
  EXPECT_TRUE(fs::exists(ws(inst.sha1) + "/rw"));
  EXPECT_EQ(sink_.named("DROPPED").size(), 0u);
}

// ---- properties -------------------------------------------------------------------------------

TEST_F(InstancesTest, LaunchShapingPropertiesAreEBUSYUnlessReady) {
  auto inst = prepared();
  ASSERT_TRUE(instances_->add_property("owner").ok());
  const Strings launch_props = {"interface",  "stolen_interface", "stolen_btusb", "cmdline",
                                "cmdline[1]", "cmdline[0]",       "host_access"};
  auto check = [&](const std::string& state) {
    for (const auto& p : launch_props) {
      const std::string v = p == "cmdline[0]" ? "/bin/sh" : p == "host_access" ? "all" : "eth1";
      auto s = instances_->set_property(inst.name, p, v);
      ASSERT_FALSE(s.ok()) << p << " while " << state;
      EXPECT_EQ(s.error().code, EBUSY) << p << " while " << state;
      EXPECT_TRUE(contains(s.error().message, "instance " + inst.name)) << s.error().message;
      EXPECT_TRUE(contains(s.error().message, state)) << s.error().message;
    }
    EXPECT_EQ(set(inst.name, "owner", "me while " + state), 0) << "custom ones stay writable";
    EXPECT_EQ(prop(inst.name, "owner"), "me while " + state);
  };
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  check("starting");
  launcher_.last().started(9);
  check("started");
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  check("stopping");
  launcher_.last().exited(137);
  EXPECT_EQ(prop(inst.name, "interface"), "eth0");
  EXPECT_EQ(prop(inst.name, "cmdline"), "/sbin/init");
  EXPECT_EQ(prop(inst.name, "stolen_interface"), "");
  EXPECT_EQ(set(inst.name, "interface", "eth1"), 0) << "writable again once ready";
  EXPECT_EQ(prop(inst.name, "interface"), "eth1");
}

TEST_F(InstancesTest, CmdlineArraySemantics) {
  auto inst = prepared();
  const std::string& id = inst.name;
  EXPECT_EQ(prop(id, "cmdline[0]"), "/sbin/init");
  EXPECT_EQ(prop(id, "cmdline[1]"), "nil");
  EXPECT_EQ(instances_->get_property(id, "cmdline[2]").error().code, ERANGE);
  EXPECT_EQ(set(id, "cmdline[1]", "--verbose"), 0) << "append at count";
  EXPECT_EQ(prop(id, "cmdline"), "/sbin/init --verbose");
  EXPECT_EQ(set(id, "cmdline[1]", "-q"), 0) << "replace below count";
  EXPECT_EQ(prop(id, "cmdline"), "/sbin/init -q");
  EXPECT_EQ(set(id, "cmdline[3]", "x"), ERANGE);
  auto past = instances_->set_property(id, "cmdline[3]", "x");
  EXPECT_EQ(past.error().message, "index 3 is past the end of cmdline (2 elements)");
  EXPECT_EQ(set(id, "cmdline[1]", "nil"), 0) << "nil truncates";
  EXPECT_EQ(prop(id, "cmdline"), "/sbin/init");
  EXPECT_EQ(record(inst.sha1).cmdline, Strings{"/sbin/init"});

  EXPECT_EQ(set(id, "cmdline", "/bin/sh -c 'echo a  b' \"x y\" z\\ w"), 0);
  EXPECT_EQ(record(inst.sha1).cmdline, (Strings{"/bin/sh", "-c", "echo a  b", "x y", "z w"}));
  EXPECT_EQ(prop(id, "cmdline[2]"), "echo a  b");
  EXPECT_EQ(prop(id, "cmdline[5]"), "nil");
  // What GET gives back, SET takes back unchanged.
  const std::string whole = prop(id, "cmdline");
  EXPECT_EQ(set(id, "cmdline", whole), 0);
  EXPECT_EQ(record(inst.sha1).cmdline, (Strings{"/bin/sh", "-c", "echo a  b", "x y", "z w"}));
  // No expansion, ever.
  EXPECT_EQ(set(id, "cmdline", "/bin/echo $(id) `id` $HOME * ~"), 0);
  EXPECT_EQ(record(inst.sha1).cmdline, (Strings{"/bin/echo", "$(id)", "`id`", "$HOME", "*", "~"}));

  // Invalid: the value is unchanged.
  const Strings before = record(inst.sha1).cmdline;
  EXPECT_EQ(set(id, "cmdline[0]", "bin/sh"), EINVAL) << "cmdline[0] relative";
  EXPECT_EQ(set(id, "cmdline", "sbin/init x"), EINVAL);
  EXPECT_EQ(set(id, "cmdline", ""), EINVAL) << "empty";
  EXPECT_EQ(set(id, "cmdline[0]", "nil"), EINVAL) << "truncating to nothing";
  EXPECT_EQ(set(id, "cmdline", "/bin/sh 'unterminated"), EINVAL);
  EXPECT_EQ(record(inst.sha1).cmdline, before);
  auto rel = instances_->set_property(id, "cmdline[0]", "bin/sh");
  EXPECT_TRUE(contains(rel.error().message, "absolute")) << rel.error().message;

  EXPECT_EQ(sink_.named("PROPERTY_SET").size(), 6u);
}

TEST_F(InstancesTest, InterfaceNamesAreValidatedAsTheKernelDoes) {
  auto inst = prepared();
  EXPECT_EQ(set(inst.name, "interface", std::string(15, 'a')), 0);
  EXPECT_EQ(prop(inst.name, "interface"), std::string(15, 'a'));
  for (const std::string& bad :
       Strings{std::string(16, 'a'), "a/b", "a b", "", ".", "..", "a:b", "a\tb"}) {
    auto s = instances_->set_property(inst.name, "interface", bad);
    ASSERT_FALSE(s.ok()) << "'" << bad << "'";
    EXPECT_EQ(s.error().code, EINVAL) << "'" << bad << "'";
    EXPECT_TRUE(contains(s.error().message, "invalid interface name")) << s.error().message;
  }
  EXPECT_EQ(prop(inst.name, "interface"), std::string(15, 'a')) << "unchanged by refusals";
  EXPECT_EQ(set(inst.name, "interface[0]", "eth0"), EINVAL) << "not an array";
}

TEST_F(InstancesTest, StolenInterfaceIsValidated) {
  auto inst = prepared();
  for (const std::string& good :
       Strings{"eth1", "eth1:inner0", "eth1:inner0:10.0.0.2/24", "eth1::192.168.1.9/32", ""}) {
    EXPECT_EQ(set(inst.name, "stolen_interface", good), 0) << "'" << good << "'";
    EXPECT_EQ(prop(inst.name, "stolen_interface"), good);
  }
  ASSERT_EQ(set(inst.name, "stolen_interface", "eth1:in"), 0);
  for (const std::string& bad :
       Strings{"a:b:10.0.0.1/24:d", "eth1:inner0:10.0.0.300/24", "eth1:inner0:10.0.0.1/33",
               "eth1:inner0:10.0.0.1", "eth1:inner0:host", std::string(16, 'x'), "a/b",
               "eth1:" + std::string(16, 'y'), ":inner0"}) {
    auto s = instances_->set_property(inst.name, "stolen_interface", bad);
    ASSERT_FALSE(s.ok()) << "'" << bad << "'";
    EXPECT_EQ(s.error().code, EINVAL) << "'" << bad << "'";
  }
  EXPECT_EQ(prop(inst.name, "stolen_interface"), "eth1:in");
  EXPECT_EQ(set(inst.name, "stolen_btusb", "hci0"), 0);
  EXPECT_EQ(set(inst.name, "stolen_btusb", "hci 0"), EINVAL);
  EXPECT_EQ(prop(inst.name, "stolen_btusb"), "hci0");
}

// Issue 11 item 6: a group member could take any host interface, the uplink included.
TEST(CheckMaySteal, RootStealsAnyOthersOnlyFromTheAllowlist) {
  const sys::ClientCredentials root;
  const sys::ClientCredentials member{1000, 1000, {998}};
  const Strings allow = {"usb0", "eth9"};
  EXPECT_TRUE(check_may_steal(root, "stolen_interface", "eth0", {}).ok());
  EXPECT_TRUE(check_may_steal(root, "stolen_btusb", "hci0", {}).ok());
  EXPECT_TRUE(check_may_steal(member, "stolen_interface", "usb0", allow).ok());
  EXPECT_TRUE(check_may_steal(member, "stolen_interface", "eth9:inner:10.0.0.2/24", allow).ok());
  EXPECT_TRUE(check_may_steal(member, "stolen_interface", "", allow).ok()) << "giving back";
  EXPECT_TRUE(check_may_steal(member, "stolen_btusb", "", {}).ok());
  EXPECT_TRUE(check_may_steal(member, "interface", "eth0", {}).ok()) << "not a stolen one";
  auto s = check_may_steal(member, "stolen_interface", "eth0", allow);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EPERM);
  EXPECT_EQ(s.error().message,
            "interface 'eth0' may be stolen by uid 1000 only if the configuration key "
            "stealable_interfaces lists it (root may steal any interface)");
  EXPECT_EQ(check_may_steal(member, "stolen_interface", "usb0x", allow).error().code, EPERM);
  EXPECT_EQ(check_may_steal(member, "stolen_interface", "usb0", {}).error().code, EPERM);
  auto bt = check_may_steal(member, "stolen_btusb", "hci0", allow);
  ASSERT_FALSE(bt.ok());
  EXPECT_EQ(bt.error().code, EPERM);
  EXPECT_TRUE(contains(bt.error().message, "only root may set stolen_btusb")) << bt.error().message;
}

TEST_F(InstancesTest, SetPropertyAsAMemberStealsOnlyAllowlistedInterfaces) {
  make_folders(false, "usb0, eth9");
  auto inst = prepared();
  const sys::ClientCredentials member{1000, 1000, {}};
  auto s = instances_->set_property_as(member, inst.name, "stolen_interface", "eth0:in");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EPERM);
  EXPECT_EQ(prop(inst.name, "stolen_interface"), "") << "refusal changes nothing";
  ASSERT_TRUE(instances_->set_property_as(member, inst.name, "stolen_interface", "eth9:in").ok());
  EXPECT_EQ(prop(inst.name, "stolen_interface"), "eth9:in");
  ASSERT_TRUE(
      instances_->set_property_as(sys::ClientCredentials{}, inst.name, "stolen_interface", "eth0")
          .ok());
  EXPECT_EQ(prop(inst.name, "stolen_interface"), "eth0");
  EXPECT_EQ(instances_->set_property_as(member, inst.name, "stolen_btusb", "hci0").error().code,
            EPERM);
  EXPECT_TRUE(instances_->set_property_as(member, inst.name, "cmdline[0]", "/bin/sh").ok());
}

TEST_F(InstancesTest, BindsArraySemanticsValidationAndLaunch) {
  auto inst = prepared();
  const std::string& id = inst.name;
  const std::string host = mount_path_ + "/../binds_src";
  const std::string data = tmp_.path() + "/binds_src";
  fs::create_directories(data);
  EXPECT_EQ(prop(id, "binds"), "");
  EXPECT_EQ(prop(id, "binds[0]"), "nil");
  EXPECT_EQ(set(id, "binds[0]", data + ":/data"), 0);
  EXPECT_EQ(prop(id, "binds[0]"), data + ":/data:ro") << "stored with its mode";
  EXPECT_EQ(set(id, "binds[1]", data + ":/out:rw"), 0);
  EXPECT_EQ(prop(id, "binds"), data + ":/data:ro " + data + ":/out:rw");
  // Refusals change nothing and name the value.
  for (const std::string& v : {host + ":/x", std::string("/:/x"), data + ":/x/../y",
                               data + "/missing:/x", mount_path_ + ":/x", data + ":/dev/x"}) {
    auto s = instances_->set_property(id, "binds[2]", v);
    ASSERT_FALSE(s.ok()) << v;
    EXPECT_TRUE(contains(s.error().message, v.substr(0, 20))) << s.error().message;
  }
  EXPECT_EQ(prop(id, "binds[2]"), "nil");
  EXPECT_EQ(instances_->set_property(id, "binds[3]", data + ":/x").error().code, ERANGE);
  // Persisted with the instance.
  EXPECT_EQ((*cat_->get_instance(inst.sha1))->binds,
            (Strings{data + ":/data:ro", data + ":/out:rw"}));
  // START passes them, after checking them again.
  Replies<EntitySummary> start;
  instances_->start(id, start.done());
  ASSERT_EQ(launcher_.launches.size(), 1u);
  EXPECT_EQ(launcher_.last().spec.binds, (Strings{data + ":/data:ro", data + ":/out:rw"}));
  auto busy = instances_->set_property(id, "binds[0]", "nil");
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code, EBUSY);
  launcher_.last().started(9);
  Replies<KillResult> kill;
  instances_->kill(id, kill.done());
  launcher_.last().exited(137);
  // The host path became a symlink between SET and START: the START is refused before any
  // launch.
  fs::remove(data);
  fs::create_directory_symlink(tmp_.path(), data);
  Replies<EntitySummary> again;
  instances_->start(id, again.done());
  ASSERT_EQ(again.count(), 1u);
  ASSERT_FALSE(again.only().ok());
  EXPECT_EQ(again.only().error().code, ELOOP);
  EXPECT_TRUE(contains(again.only().error().message, "binds[0]")) << again.only().error().message;
  EXPECT_EQ(launcher_.launches.size(), 1u) << "no monitor for a refused bind";
  EXPECT_EQ(prop(id, "state"), "ready");
  EXPECT_EQ(set(id, "binds[0]", "nil"), 0) << "truncating needs no check";
  EXPECT_EQ(prop(id, "binds"), "");
}

TEST_F(InstancesTest, BindsAreForRootOnly) {
  auto inst = prepared();
  const sys::ClientCredentials member{1000, 1000, {}};
  auto s = instances_->set_property_as(member, inst.name, "binds[0]", tmp_.path() + ":/data");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EPERM);
  EXPECT_TRUE(contains(s.error().message, "only root may bind")) << s.error().message;
  EXPECT_TRUE(instances_->set_property_as(member, inst.name, "binds[0]", "nil").ok());
  EXPECT_TRUE(instances_->set_property_as(member, inst.name, "binds", "").ok());
}

TEST_F(InstancesTest, ReadOnlyAndUnknownProperties) {
  auto inst = prepared();
  // name is writable while ready (NameIsWritableWhileReadyWithTheSameRules).
  for (const char* p : {"sha1", "base_workspace", "id", "pid", "state", "firmware_path", "root",
                        "inner_pts", "outer_pts", "time", "firmware_sha1", "init_pid",
                        "exit_status", "upper_dir", "console_log", "ip", "host_ip", "uid_base"}) {
    auto s = instances_->set_property(inst.name, p, "x");
    ASSERT_FALSE(s.ok()) << p;
    EXPECT_EQ(s.error().code, EPERM) << p;
    EXPECT_EQ(s.error().message, std::string("property '") + p + "' of instances is read-only");
  }
  EXPECT_EQ(set(inst.name, "no_such", "x"), ESRCH);
  EXPECT_EQ(instances_->get_property(inst.name, "no_such").error().code, ESRCH);
  EXPECT_EQ(instances_->get_property(inst.name, "state[0]").error().code, EINVAL);
  EXPECT_EQ(instances_->get_property("nobody_here", "state").error().code, ENOENT);
}

TEST_F(InstancesTest, PropertiesListBuiltinsThenCustomOnesWhichPersist) {
  auto inst = prepared();
  auto names = instances_->property_names();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, kBuiltinNames);
  auto owner = instances_->add_property("owner");
  ASSERT_TRUE(owner.ok()) << owner.error().message;
  EXPECT_EQ(*owner, "owner");
  auto tags = instances_->add_property("tags[]");
  ASSERT_TRUE(tags.ok()) << tags.error().message;
  EXPECT_EQ(*tags, "tags[]");
  EXPECT_EQ(instances_->add_property("state").error().code, EEXIST);
  EXPECT_EQ(instances_->add_property("cmdline").error().code, EEXIST);
  EXPECT_EQ(instances_->add_property("owner").error().code, EEXIST);
  Strings expected = kBuiltinNames;
  expected.push_back("owner");
  expected.push_back("tags[]");
  EXPECT_EQ(*instances_->property_names(), expected);

  EXPECT_EQ(prop(inst.name, "owner"), "");
  EXPECT_EQ(set(inst.name, "owner", "ci job 7"), 0);
  EXPECT_EQ(set(inst.name, "tags", "a 'b c'"), 0);
  EXPECT_EQ(set(inst.name, "tags[2]", "d"), 0);
  EXPECT_EQ(set(inst.name, "owner[0]", "x"), EINVAL);

  make_folders(false);  // a restarted daemon
  EXPECT_EQ(*instances_->property_names(), expected);
  EXPECT_EQ(prop(inst.name, "owner"), "ci job 7");
  EXPECT_EQ(prop(inst.name, "tags[1]"), "b c");
  EXPECT_EQ(prop(inst.name, "tags"), "a 'b c' d");
  auto shown = instances_->show(inst.name);
  ASSERT_TRUE(shown.ok());
  Strings shown_names;
  for (const auto& p : *shown) shown_names.push_back(p.name);
  EXPECT_EQ(shown_names, expected);
  EXPECT_EQ(shown->at(shown->size() - 2).value, "ci job 7");
  // Another instance sees the properties, not the values.
  auto other = prepared();
  EXPECT_EQ(prop(other.name, "owner"), "");
}

// ---- user namespaces ------------------------------------------------------------------------

TEST_F(InstancesTest, AutoWithoutAppArmorMountsAnIdmappedOverlayAndLaunchesInAUserNamespace) {
  make_folders(false, "", "auto", "131072:4");
  auto inst = prepared();
  const std::string w = ws(inst.sha1);
  EXPECT_EQ(mounter_.calls, (Strings{"mount_lower " + fw_mount() + " " + w + "/ro",
                                     "mount_overlay_idmapped " + fw_mount() + " " + w + "/rw " + w +
                                         "/work " + w + "/union 131072+65536"}));
  EXPECT_EQ(prop(inst.name, "userns"), "auto");
  EXPECT_EQ(prop(inst.name, "uid_base"), "131072");
  EXPECT_EQ(record(inst.sha1).uid_base, 131072u);
  Replies<EntitySummary> replies;
  FakeRun& run = start_fully(inst.name, replies, 42);
  EXPECT_EQ(run.spec.uid_base, 131072u);
  ASSERT_EQ(replies.count(), 1u);
  EXPECT_TRUE(replies.only().ok());
}

TEST_F(InstancesTest, IdRangesAreNeverSharedAndTheExhaustedPoolIsENOSPC) {
  make_folders(false, "", "y", "131072:2");
  auto a = prepared();
  auto b = prepared();
  EXPECT_EQ(record(a.sha1).uid_base, 131072u);
  EXPECT_EQ(record(b.sha1).uid_base, 196608u);
  auto c = prepare();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ENOSPC);
  EXPECT_TRUE(contains(c.error().message, "no free id range")) << c.error().message;
  EXPECT_EQ(catalogued(), 2u);  // nothing half-done
  // A dropped instance's range is free again.
  ASSERT_TRUE(instances_->drop(a.name).ok());
  auto d = prepared();
  EXPECT_EQ(record(d.sha1).uid_base, 131072u);
}

TEST_F(InstancesTest, AFirmwareWithUnmappableIdsIsRefusedAtPrepare) {
  make_folders(false, "", "y", "131072:2");
  mounter_.unmappable = "'/x/etc/shadow' (70000:0)";
  auto r = prepare();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_TRUE(contains(r.error().message, "'/x/etc/shadow' (70000:0)")) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "set userns to n")) << r.error().message;
  EXPECT_EQ(catalogued(), 0u);
  EXPECT_TRUE(mounter_.calls.empty() ||
              std::none_of(mounter_.calls.begin(), mounter_.calls.end(),
                           [](const std::string& c) { return c.rfind("mount_", 0) == 0; }));
}

TEST_F(InstancesTest, SwitchingUsernsRemountsAndReleasesTheRange) {
  make_folders(false, "", "y", "131072:2");
  auto inst = prepared();
  const std::string w = ws(inst.sha1);
  mounter_.calls.clear();
  EXPECT_EQ(set(inst.name, "userns", "n"), 0);
  EXPECT_EQ(mounter_.calls,
            (Strings{"unmount " + w + "/union", "unmount " + w + "/ro",
                     "mount_lower " + fw_mount() + " " + w + "/ro",
                     "mount_overlay " + w + "/ro " + w + "/rw " + w + "/work " + w + "/union"}));
  EXPECT_EQ(record(inst.sha1).uid_base, 0u);
  EXPECT_EQ(prop(inst.name, "uid_base"), "0");
  mounter_.calls.clear();
  EXPECT_EQ(set(inst.name, "userns", "y"), 0);
  EXPECT_EQ(mounter_.calls.back(), "mount_overlay_idmapped " + fw_mount() + " " + w + "/rw " + w +
                                       "/work " + w + "/union 131072+65536");
  EXPECT_EQ(set(inst.name, "userns", "maybe"), EINVAL);
  // A failed remount puts the previous mode back.
  mounter_.calls.clear();
  mounter_.fail_at = 4;  // the privileged overlay
  EXPECT_EQ(set(inst.name, "userns", "n"), EIO);
  EXPECT_EQ(record(inst.sha1).userns, "y");
  EXPECT_EQ(mounter_.calls.back(), "mount_overlay_idmapped " + fw_mount() + " " + w + "/rw " + w +
                                       "/work " + w + "/union 131072+65536");
}

TEST_F(InstancesTest, OnlyRootMaySetUsernsToN) {
  make_folders(false, "", "y", "131072:2");
  auto inst = prepared();
  sys::ClientCredentials member;
  member.uid = 1000;
  member.gid = 1000;
  auto s = instances_->set_property_as(member, inst.name, "userns", "n");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EPERM);
  EXPECT_TRUE(instances_->set_property_as(member, inst.name, "userns", "auto").ok());
  EXPECT_TRUE(instances_->set_property_as(sys::ClientCredentials{}, inst.name, "userns", "n").ok());
}

TEST_F(InstancesTest, TimeOffsetIsValidatedAndPassedToTheLaunch) {
  auto inst = prepared();
  EXPECT_EQ(prop(inst.name, "time_offset"), "0");
  for (const char* bad : {"", "x", "1.5", "-", "315360001", "-315360001", "99999999999999"}) {
    EXPECT_EQ(set(inst.name, "time_offset", bad), EINVAL) << bad;
  }
  EXPECT_EQ(set(inst.name, "time_offset", "-3600"), 0);
  EXPECT_EQ(set(inst.name, "time_offset", "86400"), 0);
  EXPECT_EQ(prop(inst.name, "time_offset"), "86400");
  Replies<EntitySummary> replies;
  FakeRun& run = start_fully(inst.name, replies, 42);
  EXPECT_EQ(run.spec.time_offset, 86400);
  EXPECT_EQ(run.spec.uid_base, 0u);  // userns n in this fixture
  EXPECT_EQ(set(inst.name, "time_offset", "5"), EBUSY);
  EXPECT_EQ(set(inst.name, "userns", "y"), EBUSY);
}
}  // namespace
// ---- standby sandboxes (premade_sandbox=y) -------------------------------------------------

TEST_F(InstancesTest, StandbyIsMadeAfterPrepareAndStartOnlyRunsIt) {
  EntitySummary inst;
  FakeRun& sb = standing_by(inst);
  EXPECT_EQ(sb.spec.name, inst.name);
  EXPECT_EQ(prop(inst.name, "state"), "ready") << "a standby is no run";
  EXPECT_EQ(record(inst.sha1).monitor_pid, 0);
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  ASSERT_EQ(kill.count(), 1u);
  EXPECT_EQ(kill.only().error().code, ECHILD) << "KILL of a ready instance stays ECHILD";

  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  EXPECT_EQ(launcher_.launches.size(), 1u) << "no new monitor: the standby runs PID 1";
  EXPECT_EQ(sb.run_calls, 1);
  EXPECT_EQ(prop(inst.name, "state"), "starting");
  EXPECT_EQ(prop(inst.name, "sandbox"), "none");
  EXPECT_EQ(record(inst.sha1).state, "starting");
  EXPECT_EQ(record(inst.sha1).monitor_pid, sb.monitor_pid);
  EXPECT_EQ(timers_.delays(), std::vector<int>{kStartTimeoutMs});
  sb.started(4242);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_TRUE(start.only().ok()) << start.only().error().message;
  EXPECT_EQ(record(inst.sha1).state, "started");
  EXPECT_EQ(instances_->outer_pts(inst.sha1), "/dev/pts/5");

  sb.exited(0);
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(launcher_.launches.size(), 1u) << "the next standby waits for the loop";
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 2u) << "a fresh standby after the run";
  EXPECT_TRUE(launcher_.last().spec.standby);
  EXPECT_EQ(launcher_.last().proceed_calls, 0);
}

TEST_F(InstancesTest, StartWhileTheStandbyIsBuildingTakesItOver) {
  premade_ = "y";
  make_folders(false);
  auto inst = prepared();
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 1u);
  FakeRun& sb = launcher_.last();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  EXPECT_EQ(launcher_.launches.size(), 1u);
  EXPECT_EQ(sb.run_calls, 0) << "not made yet";
  sb.ptys("/dev/pts/7", "/dev/pts/8");
  sb.namespaces_ready();
  EXPECT_EQ(sb.proceed_calls, 1);
  sb.sandbox_made();
  EXPECT_EQ(sb.run_calls, 1) << "RUN as soon as the sandbox is made";
  sb.started(77);
  ASSERT_EQ(start.count(), 1u);
  EXPECT_TRUE(start.only().ok());
  EXPECT_EQ(instances_->outer_pts(inst.sha1), "/dev/pts/8");
}

TEST_F(InstancesTest, AnySandboxPropertyChangeRebuildsTheStandby) {
  EntitySummary inst;
  FakeRun& sb = standing_by(inst);
  EXPECT_EQ(set(inst.name, "name", "renamed"), 0);
  EXPECT_EQ(sb.dismiss_calls, 1) << "torn down at once";
  EXPECT_EQ(prop("renamed", "sandbox"), "none");
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 2u);
  EXPECT_EQ(launcher_.last().spec.name, "renamed") << "made from the new values";
  launcher_.last().namespaces_ready();
  launcher_.last().sandbox_made();
  EXPECT_EQ(set("renamed", "labels", "a=b"), 0);
  EXPECT_EQ(launcher_.last().dismiss_calls, 0) << "labels do not shape the sandbox";
  EXPECT_EQ(set("renamed", "interface", "eth9"), 0);
  EXPECT_EQ(launcher_.last().dismiss_calls, 1);
  ASSERT_TRUE(instances_->remount("renamed").ok());
  fire_deferred();
  EXPECT_EQ(launcher_.launches.size(), 3u) << "one rebuild for both";
}

TEST_F(InstancesTest, DropDismissesTheStandbyFirst) {
  EntitySummary inst;
  FakeRun& sb = standing_by(inst);
  std::optional<Result<EntitySummary>> dropped;
  instances_->drop_then(inst.name, [&](Result<EntitySummary> r) { dropped.emplace(std::move(r)); });
  ASSERT_TRUE(dropped.has_value());
  ASSERT_TRUE(dropped->ok()) << dropped->error().message;
  EXPECT_EQ(sb.dismiss_calls, 1);
  fire_deferred();
  EXPECT_EQ(launcher_.launches.size(), 1u) << "no standby for a dropped instance";
  EXPECT_EQ(catalogued(), 0u);
}

TEST_F(InstancesTest, AFailedStandbyLeavesStartTheWholeSequence) {
  premade_ = "y";
  make_folders(false);
  auto inst = prepared();
  fire_deferred();
  FakeRun& sb = launcher_.last();
  sb.failed(make_error(EACCES, "populating /dev: no"));
  sb.exited(std::nullopt);
  EXPECT_EQ(prop(inst.name, "sandbox"), "failed");
  fire_deferred();
  EXPECT_EQ(launcher_.launches.size(), 1u) << "a failed build is not retried in a loop";
  EXPECT_EQ(timers_.delays(), std::vector<int>{1000}) << "but again a second later";
  Replies<EntitySummary> start;
  auto& run = start_fully(inst.name, start, 99);
  EXPECT_FALSE(run.spec.standby) << "START made its sandbox itself";
  ASSERT_EQ(start.count(), 1u);
  EXPECT_TRUE(start.only().ok());
}

TEST_F(InstancesTest, AStandbyThatDiesIsMadeAgainAndALaunchFailureIsRecorded) {
  EntitySummary inst;
  FakeRun& sb = standing_by(inst);
  sb.exited(std::nullopt);  // killed by hand
  EXPECT_EQ(prop(inst.name, "sandbox"), "none");
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 2u);
  EXPECT_TRUE(launcher_.last().spec.standby);
  launcher_.fail_launch = make_error(EAGAIN, "no fork");
  EXPECT_EQ(set(inst.name, "cmdline[0]", "/bin/sh"), 0);
  fire_deferred();
  EXPECT_EQ(prop(inst.name, "sandbox"), "failed");
  EXPECT_EQ(record(inst.sha1).state, "ready");
}

// A failed build (here its network step: a veth name still taken while a daemon restarts
// under load) is retried, a second later, then twice as late each time, six times; then
// every five minutes while it fails. The reason is logged each time (at warning level up to
// the switch to the slow pace, at info level after), not hidden by the death of the monitor
// it kills.
TEST_F(InstancesTest, AFailedStandbyBuildIsRetriedWithBackoffAndItsReasonLogged) {
  premade_ = "y";
  make_folders(false);
  FakeNetwork net;
  net.setup_result = make_error(EEXIST, "interface fwi0 already exists on the host");
  with_network(net);
  auto inst = prepared();
  fire_deferred();
  std::vector<int> delays;
  for (int attempt = 1; attempt <= 7; ++attempt) {
    ASSERT_EQ(launcher_.launches.size(), static_cast<size_t>(attempt));
    FakeRun& sb = launcher_.last();
    EXPECT_TRUE(sb.spec.standby);
    ::testing::internal::CaptureStderr();
    sb.namespaces_ready();
    EXPECT_EQ(sb.kill_monitor_calls, 1) << "attempt " << attempt;
    EXPECT_EQ(sb.proceed_calls, 0);
    sb.failed(make_error(EIO, "the monitor died before starting PID 1"));
    sb.exited(std::nullopt);
    const std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(contains(logged,
                         "its sandbox was not made ahead of START: setting up the "
                         "network: interface fwi0 already exists on the host"))
        << logged;
    EXPECT_EQ(prop(inst.name, "sandbox"), "failed");
    if (attempt == 7) {
      EXPECT_TRUE(contains(logged, "tried 7 times, trying again every 5 min while it fails"))
          << logged;
    }
    ASSERT_EQ(timers_.pending.size(), 1u) << "attempt " << attempt;
    delays.push_back(timers_.pending[0].ms);
    timers_.fire_all();
    fire_deferred();  // the retry waits its turn in the standby queue
    EXPECT_EQ(prop(inst.name, "sandbox"), "building");
  }
  EXPECT_EQ(delays, (std::vector<int>{1000, 2000, 4000, 8000, 16000, 32000, 300000}));
  // The eighth attempt fails too: five minutes again, and so on while it fails.
  ASSERT_EQ(launcher_.launches.size(), 8u);
  launcher_.last().namespaces_ready();
  launcher_.last().failed(make_error(EIO, "the monitor died before starting PID 1"));
  launcher_.last().exited(std::nullopt);
  EXPECT_EQ(prop(inst.name, "sandbox"), "failed");
  ASSERT_EQ(timers_.pending.size(), 1u);
  EXPECT_EQ(timers_.pending[0].ms, 300000);
  // A change begins a new series (the pending slow retry then does nothing); a build that
  // succeeds ends it.
  net.setup_result = {};
  EXPECT_EQ(set(inst.name, "interface", "eth3"), 0);
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 9u);
  timers_.fire_all();  // the slow retry armed before the change
  fire_deferred();
  EXPECT_EQ(launcher_.launches.size(), 9u) << "the stale retry made nothing";
  launcher_.last().namespaces_ready();
  launcher_.last().sandbox_made();
  EXPECT_EQ(prop(inst.name, "sandbox"), "ready");
  instances_.reset();  // before `net`
}

// A retry that a change overtook does nothing: the change's build stands.
TEST_F(InstancesTest, AStaleStandbyRetryDoesNothing) {
  premade_ = "y";
  make_folders(false);
  auto inst = prepared();
  launcher_.fail_launch = make_error(EAGAIN, "no fork");
  fire_deferred();
  EXPECT_EQ(prop(inst.name, "sandbox"), "failed");
  ASSERT_EQ(timers_.delays(), std::vector<int>{1000});
  launcher_.fail_launch.reset();
  EXPECT_EQ(set(inst.name, "interface", "eth3"), 0);
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 1u);
  timers_.fire_all();  // the retry armed before the change
  EXPECT_EQ(launcher_.launches.size(), 1u);
  EXPECT_EQ(prop(inst.name, "sandbox"), "building");
}

// After a daemon restart, every ready instance's standby is made, and one whose first build
// failed is made on the retry.
TEST_F(InstancesTest, StandbysAreMadeAgainAfterARestartAndAFailureThereIsRetried) {
  premade_ = "y";
  make_folders(false);
  auto a = prepared();
  auto b = prepared();
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 2u);
  make_folders(false);  // the daemon died with both standbys up
  launcher_.launches.clear();
  timers_.pending.clear();
  ASSERT_TRUE(instances_->restore().ok());
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 2u) << "one standby per ready instance";
  launcher_.launches[0]->namespaces_ready();
  launcher_.launches[0]->sandbox_made();
  launcher_.launches[1]->failed(make_error(EBUSY, "workspace busy"));
  launcher_.launches[1]->exited(std::nullopt);
  EXPECT_EQ(prop(a.name, "sandbox"), "ready");
  EXPECT_EQ(prop(b.name, "sandbox"), "failed");
  timers_.fire_all();
  fire_deferred();  // the retry waits its turn in the standby queue
  ASSERT_EQ(launcher_.launches.size(), 3u);
  EXPECT_EQ(launcher_.last().spec.name, b.name);
  launcher_.last().namespaces_ready();
  launcher_.last().sandbox_made();
  EXPECT_EQ(prop(b.name, "sandbox"), "ready");
}

// The network step of a standby a START took over fails: the START fails with that error.
TEST_F(InstancesTest, StandbyNetworkFailureAfterTheTakeOverFailsTheStartWithIt) {
  premade_ = "y";
  make_folders(false);
  FakeNetwork net;
  net.hold_setup = true;
  with_network(net);
  auto inst = prepared();
  fire_deferred();
  FakeRun& sb = launcher_.last();
  sb.namespaces_ready();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  EXPECT_EQ(launcher_.launches.size(), 1u) << "taken over";
  EXPECT_EQ(net.complete(make_error(EEXIST, "interface fwi0 already exists on the host")),
            "setup " + inst.name);
  EXPECT_EQ(sb.kill_monitor_calls, 1);
  sb.failed(make_error(EIO, "the monitor died before starting PID 1"));
  sb.exited(std::nullopt);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_FALSE(start.only().ok());
  EXPECT_EQ(start.only().error().message,
            "starting instance " + inst.name +
                ": setting up the network: interface fwi0 already exists on the host");
  instances_.reset();  // before `net`
}

// The network step of a standby fails, and a START comes before its monitor is gone: the
// START does not take the dying standby over (it would report the death of a monitor it did
// not start): it makes the sandbox itself.
TEST_F(InstancesTest, StartDoesNotTakeOverAStandbyWhoseBuildFailed) {
  premade_ = "y";
  make_folders(false);
  FakeNetwork net;
  net.setup_result = make_error(EEXIST, "interface fwi0 already exists on the host");
  with_network(net);
  auto inst = prepared();
  fire_deferred();
  FakeRun& sb = launcher_.last();
  sb.namespaces_ready();
  EXPECT_EQ(sb.kill_monitor_calls, 1);
  net.setup_result = {};
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  EXPECT_EQ(sb.dismiss_calls, 1) << "the dying standby is awaited";
  EXPECT_EQ(sb.run_calls, 0);
  ASSERT_EQ(launcher_.launches.size(), 2u);
  FakeRun& run = launcher_.last();
  EXPECT_FALSE(run.spec.standby);
  run.namespaces_ready();
  run.started(55);
  ASSERT_EQ(start.count(), 1u);
  EXPECT_TRUE(start.only().ok()) << start.only().error().message;
  EXPECT_EQ(net.calls,
            (Strings{"setup " + inst.name, "teardown " + inst.name, "setup " + inst.name}));
  timers_.fire_all();  // the START deadline (met) and no retry of the dismissed standby
  EXPECT_EQ(launcher_.launches.size(), 2u);
  instances_.reset();  // before `net`
}

// A namespace pin in the workspace that no standby or run owns (a teardown that failed): DROP
// gives its network back, then unmounts what is left of it before the workspace goes to the
// trash (never a mount in the trash).
TEST_F(InstancesTest, DropGivesBackALeftoverPinAndNeverMovesAMountToTheTrash) {
  auto inst = prepared();
  FakeNetwork net;
  with_network(net);
  const std::string pin = ws(inst.sha1) + "/netns";
  write_file(pin, "");  // the fake teardown leaves it, as a failed unpin would
  mounter_.calls.clear();
  std::optional<Result<EntitySummary>> dropped;
  instances_->drop_then(inst.name, [&](Result<EntitySummary> r) { dropped.emplace(std::move(r)); });
  ASSERT_TRUE(dropped.has_value());
  ASSERT_TRUE(dropped->ok()) << dropped->error().message;
  EXPECT_EQ(net.calls, Strings{"teardown " + inst.name});
  const std::string w = ws(inst.sha1);
  ASSERT_GE(mounter_.calls.size(), 3u);
  EXPECT_EQ(Strings(mounter_.calls.begin(), mounter_.calls.begin() + 3),
            (Strings{"unmount " + w + "/union", "unmount " + w + "/ro", "unmount " + pin}))
      << "the pin unmounted before the rename (the trash is emptied after)";
  instances_.reset();  // before `net`
}

TEST_F(InstancesTest, WithoutPremadeSandboxNothingIsMadeAhead) {
  auto inst = prepared();
  EXPECT_TRUE(timers_.pending.empty());
  EXPECT_EQ(prop(inst.name, "sandbox"), "none");
}

// ---- the end of a run, and when standbys are made again ---------------------------------------

// A KILL is answered once PID 1 is reaped and the record says ready; the run's cgroup removal
// (off the loop) and network teardown follow, and the next standby waits for both.
TEST_F(InstancesTest, KillAnswersBeforeTheRunsCgroupAndNetworkAreReleased) {
  premade_ = "y";
  make_folders(false);
  FakeNetwork net;
  FakeCgroups cgroups;
  with_network_and_cgroups(net, cgroups);
  auto inst = prepared();
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 1u);
  FakeRun& sb = launcher_.last();
  sb.namespaces_ready();
  sb.sandbox_made();
  Replies<EntitySummary> start;
  instances_->start(inst.name, start.done());
  sb.started(4242);
  ASSERT_EQ(start.count(), 1u);
  ASSERT_TRUE(start.only().ok()) << start.only().error().message;

  net.hold_teardown = true;
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  EXPECT_EQ(sb.kill_init_calls, 1);
  sb.exited(137);
  ASSERT_EQ(kill.count(), 1u) << "answered before the release";
  ASSERT_TRUE(kill.only().ok()) << kill.only().error().message;
  EXPECT_EQ(kill.only()->reason, "killed");
  EXPECT_EQ(record(inst.sha1).state, "ready");
  EXPECT_EQ(sink_.named("DEAD").size(), 1u);
  EXPECT_EQ(cgroups.calls, (Strings{"create " + inst.sha1})) << "removed on a worker thread";
  EXPECT_EQ(net.calls, (Strings{"setup " + inst.name, "teardown " + inst.name}))
      << "the teardown runs beside the cgroup removal";

  fire_deferred();
  timers_.fire_all();
  EXPECT_EQ(launcher_.launches.size(), 1u) << "the next standby waits for the release";
  run_deferred();
  EXPECT_EQ(cgroups.calls, (Strings{"create " + inst.sha1, "remove " + inst.sha1}));
  timers_.fire_all();
  EXPECT_EQ(launcher_.launches.size(), 1u) << "the teardown is still under way";
  EXPECT_EQ(instances_->drop(inst.name).error().code, EBUSY);
  EXPECT_EQ(net.complete(), "teardown " + inst.name);
  timers_.fire_all();
  ASSERT_EQ(launcher_.launches.size(), 2u) << "made again once the run is released";
  EXPECT_TRUE(launcher_.last().spec.standby);
  EXPECT_EQ(cgroups.calls,
            (Strings{"create " + inst.sha1, "remove " + inst.sha1, "create " + inst.sha1}));
  instances_.reset();  // before the fakes it uses
}

// A START right after a KILL's reply waits for the release of the run before it makes
// anything (its cgroup has the same name).
TEST_F(InstancesTest, StartRightAfterKillWaitsForTheRelease) {
  FakeNetwork net;
  FakeCgroups cgroups;
  with_network_and_cgroups(net, cgroups);
  auto inst = prepared();
  Replies<EntitySummary> first;
  FakeRun& run = start_fully(inst.name, first, 4242);
  ASSERT_EQ(first.count(), 1u);
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  run.exited(137);
  ASSERT_EQ(kill.count(), 1u);
  Replies<EntitySummary> second;
  instances_->start(inst.name, second.done());
  EXPECT_EQ(launcher_.launches.size(), 1u) << "the cgroup removal is under way";
  run_deferred();
  ASSERT_EQ(launcher_.launches.size(), 2u);
  EXPECT_EQ(cgroups.calls,
            (Strings{"create " + inst.sha1, "remove " + inst.sha1, "create " + inst.sha1}));
  launcher_.last().namespaces_ready();
  launcher_.last().started(4343);
  ASSERT_EQ(second.count(), 1u);
  EXPECT_TRUE(second.only().ok()) << second.only().error().message;
  instances_.reset();  // before the fakes it uses
}

// A stolen interface holds the reply: the host has it back first.
TEST_F(InstancesTest, AStolenInterfaceIsBackBeforeTheKillIsAnswered) {
  FakeNetwork net;
  with_network(net);
  auto inst = prepared();
  ASSERT_EQ(set(inst.name, "stolen_interface", "eth7"), 0);
  Replies<EntitySummary> first;
  FakeRun& run = start_fully(inst.name, first, 4242);
  ASSERT_EQ(first.count(), 1u);
  net.hold_teardown = true;
  Replies<KillResult> kill;
  instances_->kill(inst.name, kill.done());
  run.exited(137);
  EXPECT_EQ(kill.count(), 0u) << "the interface is not back yet";
  EXPECT_EQ(net.complete(), "teardown " + inst.name);
  ASSERT_EQ(kill.count(), 1u);
  EXPECT_TRUE(kill.only().ok());
}

// Standby builds wait while a START, STOP or KILL waits for its reply.
TEST_F(InstancesTest, StandbyBuildsWaitForTheRepliesUnderWay) {
  premade_ = "y";
  make_folders(false);
  auto a = prepared();
  auto b = prepared();
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), 2u);
  FakeRun& sa = *launcher_.launches[0];
  FakeRun& sb = *launcher_.launches[1];
  for (FakeRun* r : {&sa, &sb}) {
    r->namespaces_ready();
    r->sandbox_made();
  }
  Replies<EntitySummary> start_a;
  instances_->start(a.name, start_a.done());
  sa.started(4242);
  Replies<KillResult> kill_a;
  instances_->kill(a.name, kill_a.done());
  sa.exited(137);
  ASSERT_EQ(kill_a.count(), 1u);
  Replies<EntitySummary> start_b;
  instances_->start(b.name, start_b.done());  // not answered yet
  fire_deferred();
  timers_.fire_all();
  EXPECT_EQ(launcher_.launches.size(), 2u) << "a's standby waits for b's START";
  sb.started(4343);
  ASSERT_EQ(start_b.count(), 1u);
  timers_.fire_all();
  ASSERT_EQ(launcher_.launches.size(), 3u);
  EXPECT_EQ(launcher_.last().spec.name, a.name);
}

// At most standby_build_cap() standbys are being built at once; the next begins when one is
// made.
TEST_F(InstancesTest, StandbyBuildsAreCapped) {
  premade_ = "y";
  make_folders(false);
  const size_t cap = Instances::standby_build_cap();
  ASSERT_GE(cap, 2u);
  for (size_t i = 0; i <= cap; ++i) prepared();
  fire_deferred();
  ASSERT_EQ(launcher_.launches.size(), cap);
  timers_.fire_all();
  EXPECT_EQ(launcher_.launches.size(), cap) << "all builds still under way";
  launcher_.launches[0]->namespaces_ready();
  launcher_.launches[0]->sandbox_made();
  timers_.fire_all();
  EXPECT_EQ(launcher_.launches.size(), cap + 1);
}

// The cgroups of runs that ended at once are removed two at a time, off the loop.
TEST_F(InstancesTest, CgroupRemovalsRunTwoAtATime) {
  FakeNetwork net;
  FakeCgroups cgroups;
  with_network_and_cgroups(net, cgroups);
  std::vector<EntitySummary> insts;
  for (int i = 0; i < 3; ++i) insts.push_back(prepared());
  std::vector<FakeRun*> runs;
  for (auto& inst : insts) {
    Replies<EntitySummary> start;
    runs.push_back(&start_fully(inst.name, start, 4000 + static_cast<int64_t>(runs.size())));
  }
  std::vector<Replies<KillResult>> kills(3);
  for (size_t i = 0; i < insts.size(); ++i) {
    instances_->kill(insts[i].name, kills[i].done());
    runs[i]->exited(137);
    ASSERT_EQ(kills[i].count(), 1u);
  }
  EXPECT_EQ(deferred_.tasks.size(), 2u) << "the third waits for a worker";
  run_deferred();
  EXPECT_EQ(deferred_.tasks.size(), 1u);
  run_deferred();
  EXPECT_EQ(cgroups.calls.size(), 6u);  // 3 creates, 3 removes
  EXPECT_EQ(cgroups.calls.back(), "remove " + insts[2].sha1);
  instances_.reset();  // before the fakes it uses
}

}  // namespace fw::core
