#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "firmwared/catalogue/catalogue.h"
#include "firmwared/catalogue/schema_sql.h"
#include "firmwared/catalogue/sqlite.h"

namespace fw::catalogue {
namespace {

using Strings = std::vector<std::string>;

template <typename R>
::testing::AssertionResult Ok(const R& r) {
  if (r.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.error().name() << ": " << r.error().message;
}

template <typename R>
::testing::AssertionResult FailsWith(const R& r, int code, const std::string& message) {
  if (r.ok()) return ::testing::AssertionFailure() << "succeeded";
  if (r.error().code != code || r.error().message != message) {
    return ::testing::AssertionFailure() << "got " << r.error().name() << ": " << r.error().message;
  }
  return ::testing::AssertionSuccess();
}

// A 40-hex-digit sha1 made from n.
std::string sha(unsigned n) {
  char buf[41];
  std::snprintf(buf, sizeof buf, "%040x", n);
  return buf;
}

FirmwareRecord firmware(unsigned n, const std::string& name) {
  FirmwareRecord f;
  f.sha1 = sha(0xf000 + n);
  f.name = name;
  f.path = "/var/lib/firmwared/firmwares/" + f.sha1 + ".ext4";
  f.source_path = "/home/dev/firmware " + std::to_string(n) + ".ext4";
  f.format = "ext4";
  f.uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f" + std::to_string(n % 10);
  f.size = 1000 + n;
  f.created = 1700000000 + n;
  return f;
}

InstanceRecord instance(unsigned n, int id, const std::string& firmware_sha1,
                        const std::string& name) {
  InstanceRecord i;
  i.sha1 = sha(0x1000 + n);
  i.name = name;
  i.id = id;
  i.firmware_sha1 = firmware_sha1;
  i.created = 1700001000 + n;
  i.interface = "eth0";
  i.cmdline = {"/sbin/init"};
  return i;
}

void expect_same(const FirmwareRecord& want, const FirmwareRecord& got) {
  EXPECT_EQ(want.sha1, got.sha1);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.path, got.path);
  EXPECT_EQ(want.source_path, got.source_path);
  EXPECT_EQ(want.format, got.format);
  EXPECT_EQ(want.uuid, got.uuid);
  EXPECT_EQ(want.size, got.size);
  EXPECT_EQ(want.created, got.created);
}

void expect_same(const InstanceRecord& want, const InstanceRecord& got) {
  EXPECT_EQ(want.sha1, got.sha1);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.id, got.id);
  EXPECT_EQ(want.firmware_sha1, got.firmware_sha1);
  EXPECT_EQ(want.state, got.state);
  EXPECT_EQ(want.monitor_pid, got.monitor_pid);
  EXPECT_EQ(want.monitor_start_time, got.monitor_start_time);
  EXPECT_EQ(want.init_pid, got.init_pid);
  EXPECT_EQ(want.exit_status, got.exit_status);
  EXPECT_EQ(want.created, got.created);
  EXPECT_EQ(want.interface, got.interface);
  EXPECT_EQ(want.stolen_interface, got.stolen_interface);
  EXPECT_EQ(want.stolen_btusb, got.stolen_btusb);
  EXPECT_EQ(want.cmdline, got.cmdline);
  EXPECT_EQ(want.binds, got.binds);
  EXPECT_EQ(want.host_access, got.host_access);
  EXPECT_EQ(want.labels, got.labels);
}

template <typename Record>
Strings sha1s_of(const std::vector<Record>& records) {
  Strings out;
  for (const Record& r : records) out.push_back(r.sha1);
  return out;
}

class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/fw_catalogue_test.XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = std::filesystem::canonical(tmpl).string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs every test on ":memory:" and on a file; reopen() makes file tests read from disk.
class CatalogueTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = GetParam() ? dir_.path() + "/catalogue.db" : ":memory:";
    open();
  }
  void open() {
    auto c = Catalogue::open(path_);
    ASSERT_TRUE(Ok(c));
    cat_.emplace(std::move(*c));
  }
  void reopen() {
    if (!GetParam()) return;
    cat_.reset();
    open();
  }
  Catalogue& cat() { return *cat_; }

  TempDir dir_;
  std::string path_;
  std::optional<Catalogue> cat_;
};

INSTANTIATE_TEST_SUITE_P(Storage, CatalogueTest, ::testing::Values(false, true),
                         [](const auto& param_info) {
                           return param_info.param ? "File" : "Memory";
                         });

TEST_P(CatalogueTest, SchemaVersionIsTheSupportedOne) {
  EXPECT_EQ(Catalogue::supported_schema_version(), 7);
  EXPECT_EQ(cat().schema_version(), 7);
}

SnapshotRecord snapshot(unsigned n, const std::string& firmware_sha1, const std::string& parent,
                        const std::string& name) {
  SnapshotRecord s;
  s.sha1 = sha(0x5000 + n);
  s.name = name;
  s.firmware_sha1 = firmware_sha1;
  s.parent_sha1 = parent;
  s.instance_sha1 = sha(0x1000 + n);
  s.size = 4096 + n;
  s.created = 1700002000 + n;
  return s;
}

TEST_P(CatalogueTest, SnapshotRoundTripKeepsEveryField) {
  ASSERT_TRUE(Ok(cat().put_firmware(firmware(1, "fw"))));
  const SnapshotRecord base = snapshot(1, firmware(1, "fw").sha1, "", "first");
  const SnapshotRecord child = snapshot(2, firmware(1, "fw").sha1, base.sha1, "second");
  ASSERT_TRUE(Ok(cat().put_snapshot(base)));
  ASSERT_TRUE(Ok(cat().put_snapshot(child)));
  auto got = cat().get_snapshot(child.sha1);
  ASSERT_TRUE(Ok(got));
  ASSERT_TRUE(got->has_value());
  const SnapshotRecord& g = **got;
  EXPECT_EQ(g.sha1, child.sha1);
  EXPECT_EQ(g.name, "second");
  EXPECT_EQ(g.firmware_sha1, child.firmware_sha1);
  EXPECT_EQ(g.parent_sha1, base.sha1);
  EXPECT_EQ(g.instance_sha1, child.instance_sha1);
  EXPECT_EQ(g.size, child.size);
  EXPECT_EQ(g.created, child.created);
  EXPECT_EQ((*cat().get_snapshot(base.sha1))->parent_sha1, "");
  auto all = cat().list_snapshots();
  ASSERT_TRUE(Ok(all));
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].sha1, base.sha1);
  EXPECT_EQ(*cat().sha1_of_name("snapshots", "first"), base.sha1);
}

TEST_P(CatalogueTest, SnapshotNeedsItsFirmwareAndParent) {
  ASSERT_TRUE(Ok(cat().put_firmware(firmware(1, "fw"))));
  EXPECT_TRUE(FailsWith(cat().put_snapshot(snapshot(1, firmware(2, "").sha1, "", "a")), ENOENT,
                        "storing snapshot " + sha(0x5001) + ": firmware " + firmware(2, "").sha1 +
                            " is not in the catalogue"));
  EXPECT_TRUE(FailsWith(cat().put_snapshot(snapshot(1, firmware(1, "").sha1, sha(0x5009), "a")),
                        ENOENT,
                        "storing snapshot " + sha(0x5001) + ": snapshot " + sha(0x5009) +
                            " is not in the catalogue"));
}

TEST_P(CatalogueTest, DeletingAStackedOnSnapshotIsRefused) {
  const std::string fw = firmware(1, "fw").sha1;
  ASSERT_TRUE(Ok(cat().put_firmware(firmware(1, "fw"))));
  const SnapshotRecord base = snapshot(1, fw, "", "base");
  ASSERT_TRUE(Ok(cat().put_snapshot(base)));
  ASSERT_TRUE(Ok(cat().put_snapshot(snapshot(2, fw, base.sha1, "child"))));
  InstanceRecord i = instance(1, 0, fw, "inst");
  i.snapshot_sha1 = base.sha1;
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  EXPECT_EQ((*cat().get_instance(i.sha1))->snapshot_sha1, base.sha1);
  EXPECT_TRUE(FailsWith(cat().delete_snapshot(base.sha1), EBUSY,
                        "deleting snapshot " + base.sha1 + ": used by instance inst"));
  EXPECT_TRUE(FailsWith(cat().delete_firmware(fw), EBUSY,
                        "deleting firmware " + fw + ": used by instance inst"));
  ASSERT_TRUE(Ok(cat().delete_instance(i.sha1)));
  EXPECT_TRUE(FailsWith(cat().delete_snapshot(base.sha1), EBUSY,
                        "deleting snapshot " + base.sha1 + ": used by snapshot child"));
  EXPECT_TRUE(FailsWith(cat().delete_firmware(fw), EBUSY,
                        "deleting firmware " + fw + ": used by snapshots base, child"));
  ASSERT_TRUE(Ok(cat().delete_snapshot(sha(0x5002))));
  ASSERT_TRUE(Ok(cat().delete_snapshot(base.sha1)));
  EXPECT_FALSE(*cat().name_taken("snapshots", "base"));
  EXPECT_TRUE(FailsWith(cat().delete_snapshot(base.sha1), ENOENT,
                        "deleting snapshot " + base.sha1 + ": not in the catalogue"));
  i.snapshot_sha1 = base.sha1;
  EXPECT_TRUE(FailsWith(
      cat().put_instance(i), ENOENT,
      "storing instance " + i.sha1 + ": snapshot " + base.sha1 + " is not in the catalogue"));
  ASSERT_TRUE(Ok(cat().delete_firmware(fw)));
}

TEST_P(CatalogueTest, FirmwareRoundTripKeepsEveryField) {
  FirmwareRecord f = firmware(1, "brave_turing");
  f.size = UINT64_MAX;  // beyond int64: stored as its bit pattern
  f.source_path = "/src/with space/it's \"quoted\".img";
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto got = cat().get_firmware(f.sha1);
  ASSERT_TRUE(Ok(got));
  ASSERT_TRUE(got->has_value());
  expect_same(f, **got);
  auto none = cat().get_firmware(sha(0xdead));
  ASSERT_TRUE(Ok(none));
  EXPECT_FALSE(none->has_value());
}

TEST_P(CatalogueTest, PutFirmwareReplacesEveryFieldAndTheName) {
  FirmwareRecord a = firmware(1, "first_name");
  FirmwareRecord b = firmware(2, "other");
  ASSERT_TRUE(Ok(cat().put_firmware(a)));
  ASSERT_TRUE(Ok(cat().put_firmware(b)));
  a.name = "second_name";
  a.path = "/elsewhere";
  a.source_path = "";
  a.format = "squashfs";
  a.uuid = "";
  a.size = 7;
  ASSERT_TRUE(Ok(cat().put_firmware(a)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto all = cat().list_firmwares();
  ASSERT_TRUE(Ok(all));
  ASSERT_EQ(all->size(), 2u);
  expect_same(a, (*all)[0]);  // kept its place
  expect_same(b, (*all)[1]);
  EXPECT_FALSE(*cat().name_taken(kFirmwares, "first_name"));
  EXPECT_EQ(*cat().sha1_of_name(kFirmwares, "second_name"), a.sha1);
}

TEST_P(CatalogueTest, ListFirmwaresInCreationOrder) {
  FirmwareRecord late = firmware(1, "late"), early = firmware(2, "early"),
                 middle = firmware(3, "middle"), early_too = firmware(4, "early_too");
  late.created = 30;
  early.created = 10;
  middle.created = 20;
  early_too.created = 10;
  for (const auto& f : {late, early, middle, early_too}) ASSERT_TRUE(Ok(cat().put_firmware(f)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto all = cat().list_firmwares();
  ASSERT_TRUE(Ok(all));
  EXPECT_EQ(sha1s_of(*all), (Strings{early.sha1, early_too.sha1, middle.sha1, late.sha1}));
}

TEST_P(CatalogueTest, InstanceRoundTripKeepsEveryField) {
  FirmwareRecord f = firmware(1, "base");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  InstanceRecord i = instance(1, 42, f.sha1, "calm_hopper");
  i.state = "started";
  i.monitor_pid = 4242;
  i.monitor_start_time = UINT64_MAX - 1;
  i.init_pid = 4243;
  i.exit_status = 0;
  i.interface = "veth_in";
  i.stolen_interface = "wlan0:wl0:10.0.0.2/24";
  i.stolen_btusb = "1-1.2";
  i.host_access = "tcp:22 udp:53";
  i.cmdline = {"/bin/sh",   "-c",     "echo 'a b' \"c\" \\d", "", "  spaces  ", "tab\there",
               "new\nline", "ünïcödé"};
  i.binds = {"/srv/data:/data:ro", "/srv/a b:/out:rw"};
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto got = cat().get_instance(i.sha1);
  ASSERT_TRUE(Ok(got));
  ASSERT_TRUE(got->has_value());
  expect_same(i, **got);
  auto none = cat().get_instance(sha(0xdead));
  ASSERT_TRUE(Ok(none));
  EXPECT_FALSE(none->has_value());
}

// Schema version 7: labels are stored with the instance, replaced as a whole by put_instance
// and forgotten with it.
TEST_P(CatalogueTest, LabelsRoundTripAreReplacedAndForgotten) {
  FirmwareRecord f = firmware(1, "base");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  InstanceRecord i = instance(1, 4, f.sha1, "web1");
  i.labels = {{"ci", "1"}, {"job", "build-42"}, {"empty", ""}};
  InstanceRecord other = instance(2, 5, f.sha1, "web2");
  other.labels = {{"ci", "2"}};
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_TRUE(Ok(cat().put_instance(other)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  expect_same(i, **cat().get_instance(i.sha1));
  auto all = cat().list_instances();
  ASSERT_TRUE(Ok(all));
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].labels, other.labels);

  i.labels = {{"job", "build-43"}};
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ((**cat().get_instance(i.sha1)).labels, i.labels);

  ASSERT_TRUE(Ok(cat().delete_instance(i.sha1)));
  i.labels.clear();
  ASSERT_TRUE(Ok(cat().put_instance(i)));  // same sha1 again: the old labels are gone
  EXPECT_TRUE((**cat().get_instance(i.sha1)).labels.empty());
  EXPECT_EQ((**cat().get_instance(other.sha1)).labels, other.labels);
}

// Schema version 5: the stop signals, reboot policy, limits and exit reason.
TEST_P(CatalogueTest, LifecycleFieldsRoundTrip) {
  FirmwareRecord f = firmware(1, "base");
  f.stop_signal = "SIGRTMIN+3";
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  InstanceRecord defaults = instance(2, 1, f.sha1, "plain");
  ASSERT_TRUE(Ok(cat().put_instance(defaults)));
  InstanceRecord i = instance(1, 42, f.sha1, "calm_hopper");
  i.stop_signal = "SIGUSR2";
  i.on_reboot = "stop";
  i.memory_max = "512M";
  i.pids_max = "256";
  i.cpu_weight = "50";
  i.exit_reason = "stop-timeout";
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto got_f = cat().get_firmware(f.sha1);
  ASSERT_TRUE(Ok(got_f));
  ASSERT_TRUE(got_f->has_value());
  EXPECT_EQ((*got_f)->stop_signal, "SIGRTMIN+3");
  auto got = cat().get_instance(i.sha1);
  ASSERT_TRUE(Ok(got));
  ASSERT_TRUE(got->has_value());
  expect_same(i, **got);
  EXPECT_EQ((*got)->stop_signal, "SIGUSR2");
  EXPECT_EQ((*got)->on_reboot, "stop");
  EXPECT_EQ((*got)->memory_max, "512M");
  EXPECT_EQ((*got)->pids_max, "256");
  EXPECT_EQ((*got)->cpu_weight, "50");
  EXPECT_EQ((*got)->exit_reason, "stop-timeout");
  auto plain = cat().get_instance(defaults.sha1);
  ASSERT_TRUE(Ok(plain));
  ASSERT_TRUE(plain->has_value());
  EXPECT_EQ((*plain)->stop_signal, "");
  EXPECT_EQ((*plain)->on_reboot, "restart");
  EXPECT_EQ((*plain)->memory_max, "");
  EXPECT_EQ((*plain)->exit_reason, "");
  // Updated in place, and back to empty.
  i.stop_signal.clear();
  i.on_reboot = "restart";
  i.memory_max.clear();
  i.exit_reason = "reboot";
  f.stop_signal = "SIGINT";
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ((*cat().get_firmware(f.sha1))->stop_signal, "SIGINT");
  auto again = cat().get_instance(i.sha1);
  ASSERT_TRUE(Ok(again));
  EXPECT_EQ((*again)->stop_signal, "");
  EXPECT_EQ((*again)->on_reboot, "restart");
  EXPECT_EQ((*again)->memory_max, "");
  EXPECT_EQ((*again)->pids_max, "256");
  EXPECT_EQ((*again)->exit_reason, "reboot");
}

TEST_P(CatalogueTest, OnRebootOutsideRestartOrStopIsRefused) {
  FirmwareRecord f = firmware(1, "base");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  InstanceRecord i = instance(1, 0, f.sha1, "calm_hopper");
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  for (const std::string bad : {"maybe", "", "Restart", "restart "}) {
    InstanceRecord b = i;
    b.on_reboot = bad;
    EXPECT_FALSE(cat().put_instance(b).ok()) << "'" << bad << "'";
    InstanceRecord fresh = instance(2, 1, f.sha1, "eager_otter");
    fresh.on_reboot = bad;
    EXPECT_FALSE(cat().put_instance(fresh).ok()) << "'" << bad << "' (new row)";
  }
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto got = cat().get_instance(i.sha1);
  ASSERT_TRUE(Ok(got));
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->on_reboot, "restart") << "the refused writes left the row alone";
  auto none = cat().get_instance(instance(2, 1, f.sha1, "eager_otter").sha1);
  ASSERT_TRUE(Ok(none));
  EXPECT_FALSE(none->has_value()) << "the refused insert left nothing behind";
}

TEST_P(CatalogueTest, ExitStatusNullIsNotZero) {
  FirmwareRecord f = firmware(1, "base");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  InstanceRecord never = instance(1, 0, f.sha1, "never"), zero = instance(2, 1, f.sha1, "zero"),
                 killed = instance(3, 2, f.sha1, "killed");
  zero.exit_status = 0;
  killed.exit_status = 137;
  for (const auto& i : {never, zero, killed}) ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ((*cat().get_instance(never.sha1))->exit_status, std::nullopt);
  EXPECT_EQ((*cat().get_instance(zero.sha1))->exit_status, std::optional<int>(0));
  EXPECT_EQ((*cat().get_instance(killed.sha1))->exit_status, std::optional<int>(137));
  never.exit_status = 0;
  zero.exit_status.reset();
  ASSERT_TRUE(Ok(cat().put_instance(never)));
  ASSERT_TRUE(Ok(cat().put_instance(zero)));
  EXPECT_EQ((*cat().get_instance(never.sha1))->exit_status, std::optional<int>(0));
  EXPECT_EQ((*cat().get_instance(zero.sha1))->exit_status, std::nullopt);
}

TEST_P(CatalogueTest, PutInstanceReplacesCmdlineAndName) {
  FirmwareRecord f = firmware(1, "base");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  InstanceRecord i = instance(1, 0, f.sha1, "old_name");
  i.cmdline = {"/sbin/init", "one", "two"};
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  i.cmdline = {"/bin/sh"};
  i.name = "new_name";
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  expect_same(i, **cat().get_instance(i.sha1));
  EXPECT_FALSE(*cat().name_taken(kInstances, "old_name"));
  i.cmdline.clear();
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  EXPECT_EQ((*cat().get_instance(i.sha1))->cmdline, Strings{});
  i.binds = {"/srv/x:/x:ro", "/srv/y:/y:rw"};
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  i.binds = {"/srv/y:/y:rw"};
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  EXPECT_EQ((*cat().get_instance(i.sha1))->binds, Strings{"/srv/y:/y:rw"});
}

TEST_P(CatalogueTest, ListInstancesOrderedById) {
  FirmwareRecord f = firmware(1, "base"), g = firmware(2, "other_base");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  ASSERT_TRUE(Ok(cat().put_firmware(g)));
  InstanceRecord seven = instance(1, 7, f.sha1, "seven"), two = instance(2, 2, f.sha1, "two"),
                 five = instance(3, 5, g.sha1, "five");
  for (const auto& i : {seven, two, five}) ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto all = cat().list_instances();
  ASSERT_TRUE(Ok(all));
  EXPECT_EQ(sha1s_of(*all), (Strings{two.sha1, five.sha1, seven.sha1}));
  expect_same(five, (*all)[1]);
  EXPECT_EQ(*cat().instances_of_firmware(f.sha1), (Strings{two.sha1, seven.sha1}));
  EXPECT_EQ(*cat().instances_of_firmware(g.sha1), (Strings{five.sha1}));
  EXPECT_EQ(*cat().instances_of_firmware(sha(0xdead)), Strings{});
}

TEST_P(CatalogueTest, PutInstanceRefusesBadRecords) {
  FirmwareRecord f = firmware(1, "base");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  InstanceRecord holder = instance(1, 3, f.sha1, "calm_hopper");
  ASSERT_TRUE(Ok(cat().put_instance(holder)));

  InstanceRecord bad = instance(2, 4, f.sha1, "bad");
  const std::string context = "storing instance " + bad.sha1 + ": ";
  bad.id = -1;
  EXPECT_TRUE(FailsWith(cat().put_instance(bad), EINVAL, context + "id -1 is outside 0..254"));
  bad.id = 255;
  EXPECT_TRUE(FailsWith(cat().put_instance(bad), EINVAL, context + "id 255 is outside 0..254"));
  bad.id = 3;
  EXPECT_TRUE(FailsWith(cat().put_instance(bad), EEXIST,
                        context + "id 3 is already used by instance calm_hopper"));
  bad.id = 4;
  bad.firmware_sha1 = sha(0xdead);
  EXPECT_TRUE(FailsWith(cat().put_instance(bad), ENOENT,
                        context + "firmware " + sha(0xdead) + " is not in the catalogue"));
  bad.firmware_sha1 = f.sha1;
  bad.name = "calm_hopper";
  EXPECT_TRUE(
      FailsWith(cat().put_instance(bad), EEXIST,
                context + "name 'calm_hopper' is already used by instances " + holder.sha1));
  bad.sha1 = "0123456789ABCDEF0123456789abcdef01234567";
  EXPECT_TRUE(FailsWith(cat().put_instance(bad), EINVAL,
                        "storing instance " + bad.sha1 + ": not a sha1 (40 lowercase hex digits)"));
  EXPECT_EQ(sha1s_of(*cat().list_instances()), Strings{holder.sha1});  // nothing half-stored
}

TEST_P(CatalogueTest, NamesAreUniquePerFolder) {
  FirmwareRecord a = firmware(1, "brave_turing"), b = firmware(2, "brave_turing");
  ASSERT_TRUE(Ok(cat().put_firmware(a)));
  EXPECT_TRUE(FailsWith(cat().put_firmware(b), EEXIST,
                        "storing firmware " + b.sha1 +
                            ": name 'brave_turing' is already used by firmwares " + a.sha1));
  EXPECT_FALSE(cat().get_firmware(b.sha1)->has_value());  // the insert was rolled back
  ASSERT_TRUE(Ok(cat().put_instance(instance(1, 0, a.sha1, "brave_turing"))));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_TRUE(*cat().name_taken(kFirmwares, "brave_turing"));
  EXPECT_TRUE(*cat().name_taken(kInstances, "brave_turing"));
  EXPECT_FALSE(*cat().name_taken(kFirmwares, "brave_hopper"));
  EXPECT_EQ(*cat().sha1_of_name(kFirmwares, "brave_turing"), a.sha1);
  EXPECT_EQ(*cat().sha1_of_name(kInstances, "brave_turing"), instance(1, 0, "", "").sha1);
  EXPECT_EQ(*cat().sha1_of_name(kInstances, "nobody"), std::nullopt);
  EXPECT_TRUE(FailsWith(cat().name_taken("snapshot", "x"), ENOENT,
                        "looking up name 'x' in snapshot: unknown folder 'snapshot'"));
}

TEST_P(CatalogueTest, Sha1sWithPrefixAreSortedAndPerFolder) {
  const std::string base = "abc12" + std::string(35, '0');
  FirmwareRecord x = firmware(1, "x"), y = firmware(2, "y"), z = firmware(3, "z");
  x.sha1 = "abc124" + std::string(34, '0');
  y.sha1 = "abc123" + std::string(34, 'f');
  z.sha1 = "abd123" + std::string(34, '0');
  for (const auto& f : {x, y, z}) ASSERT_TRUE(Ok(cat().put_firmware(f)));
  EXPECT_EQ(*cat().sha1s_with_prefix(kFirmwares, "abc12"), (Strings{y.sha1, x.sha1}));
  EXPECT_EQ(*cat().sha1s_with_prefix(kFirmwares, "abc123"), (Strings{y.sha1}));
  EXPECT_EQ(*cat().sha1s_with_prefix(kFirmwares, x.sha1), (Strings{x.sha1}));
  EXPECT_EQ(*cat().sha1s_with_prefix(kFirmwares, "abc12%"), Strings{});  // no LIKE wildcards
  EXPECT_EQ(*cat().sha1s_with_prefix(kFirmwares, "ffff"), Strings{});
  EXPECT_EQ(*cat().sha1s_with_prefix(kInstances, "abc12"), Strings{});
  EXPECT_EQ(cat().sha1s_with_prefix("nope", "a").error().code, ENOENT);
}

TEST_P(CatalogueTest, LowestFreeIdReusesHolesAndRunsOutAt255) {
  FirmwareRecord f = firmware(1, "base");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  EXPECT_EQ(*cat().lowest_free_instance_id(), 0);
  for (int id = 0; id < 3; ++id) ASSERT_TRUE(Ok(cat().put_instance(instance(id, id, f.sha1, ""))));
  EXPECT_EQ(*cat().lowest_free_instance_id(), 3);
  ASSERT_TRUE(Ok(cat().delete_instance(instance(1, 1, "", "").sha1)));
  EXPECT_EQ(*cat().lowest_free_instance_id(), 1);
  ASSERT_TRUE(Ok(cat().delete_instance(instance(0, 0, "", "").sha1)));
  EXPECT_EQ(*cat().lowest_free_instance_id(), 0);
  for (int id = 0; id <= 254; ++id) {
    ASSERT_TRUE(Ok(cat().put_instance(instance(id, id, f.sha1, "i" + std::to_string(id)))));
  }
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(cat().list_instances()->size(), 255u);
  EXPECT_TRUE(FailsWith(cat().lowest_free_instance_id(), ENOSPC,
                        "choosing an instance id: all 255 ids (0..254) are in use"));
  ASSERT_TRUE(Ok(cat().delete_instance(instance(254, 254, "", "").sha1)));
  EXPECT_EQ(*cat().lowest_free_instance_id(), 254);
}

TEST_P(CatalogueTest, DeleteFirmwareIsRefusedWhileInstancesUseIt) {
  FirmwareRecord f = firmware(1, "base");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  InstanceRecord a = instance(1, 9, f.sha1, "brave_turing"), b = instance(2, 4, f.sha1, "");
  ASSERT_TRUE(Ok(cat().put_instance(a)));
  ASSERT_TRUE(Ok(cat().put_instance(b)));
  const std::string context = "deleting firmware " + f.sha1 + ": ";
  EXPECT_TRUE(FailsWith(cat().delete_firmware(f.sha1), EBUSY,
                        context + "used by instances " + b.sha1 + ", brave_turing"));
  ASSERT_TRUE(Ok(cat().delete_instance(b.sha1)));
  EXPECT_TRUE(
      FailsWith(cat().delete_firmware(f.sha1), EBUSY, context + "used by instance brave_turing"));
  EXPECT_TRUE(cat().get_firmware(f.sha1)->has_value());
  ASSERT_TRUE(Ok(cat().delete_instance(a.sha1)));
  ASSERT_TRUE(Ok(cat().delete_firmware(f.sha1)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_FALSE(cat().get_firmware(f.sha1)->has_value());
  EXPECT_TRUE(FailsWith(cat().delete_firmware(f.sha1), ENOENT, context + "not in the catalogue"));
  EXPECT_TRUE(FailsWith(cat().delete_instance(a.sha1), ENOENT,
                        "deleting instance " + a.sha1 + ": not in the catalogue"));
}

TEST_P(CatalogueTest, DeleteForgetsNameCmdlineAndCustomValues) {
  FirmwareRecord f = firmware(1, "base");
  InstanceRecord i = instance(1, 0, f.sha1, "calm_hopper");
  i.cmdline = {"/sbin/init", "quiet"};
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_TRUE(Ok(cat().add_custom_property(kFirmwares, "vendor", false)));
  ASSERT_TRUE(Ok(cat().add_custom_property(kInstances, "tags", true)));
  ASSERT_TRUE(Ok(cat().set_custom_value(kFirmwares, f.sha1, "vendor", {"parrot"})));
  ASSERT_TRUE(Ok(cat().set_custom_value(kInstances, i.sha1, "tags", {"a", "b"})));

  ASSERT_TRUE(Ok(cat().delete_instance(i.sha1)));
  ASSERT_TRUE(Ok(cat().delete_firmware(f.sha1)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_FALSE(*cat().name_taken(kInstances, "calm_hopper"));
  EXPECT_FALSE(*cat().name_taken(kFirmwares, "base"));

  // Recreated under the same sha1s, without names: nothing of the old ones remains.
  f.name = "";
  i.name = "";
  i.cmdline = {};
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  expect_same(i, **cat().get_instance(i.sha1));
  expect_same(f, **cat().get_firmware(f.sha1));
  EXPECT_EQ(*cat().get_custom_value(kFirmwares, f.sha1, "vendor"), std::nullopt);
  EXPECT_EQ(*cat().get_custom_value(kInstances, i.sha1, "tags"), std::nullopt);
  // The properties themselves belong to the folder and stay.
  EXPECT_EQ(cat().custom_properties(kInstances)->size(), 1u);
}

TEST_P(CatalogueTest, CustomPropertiesKeepTheirOrderAndArrays) {
  FirmwareRecord f = firmware(1, "base");
  InstanceRecord i = instance(1, 0, f.sha1, "calm_hopper");
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  ASSERT_TRUE(Ok(cat().put_instance(i)));
  ASSERT_TRUE(Ok(cat().add_custom_property(kInstances, "zeta", false)));
  ASSERT_TRUE(Ok(cat().add_custom_property(kInstances, "alpha", true)));
  ASSERT_TRUE(Ok(cat().add_custom_property(kInstances, "mid", false)));
  ASSERT_TRUE(Ok(cat().add_custom_property(kFirmwares, "zeta", true)));  // other folder
  EXPECT_TRUE(FailsWith(cat().add_custom_property(kInstances, "alpha", false), EEXIST,
                        "adding property 'alpha' to instances: the property already exists"));
  EXPECT_TRUE(FailsWith(cat().add_custom_property(kInstances, "", false), EINVAL,
                        "adding property '' to instances: empty property name"));
  EXPECT_TRUE(FailsWith(cat().add_custom_property("snapshot", "x", false), ENOENT,
                        "adding property 'x' to snapshot: unknown folder 'snapshot'"));
  ASSERT_NO_FATAL_FAILURE(reopen());

  auto props = cat().custom_properties(kInstances);
  ASSERT_TRUE(Ok(props));
  ASSERT_EQ(props->size(), 3u);
  EXPECT_EQ((*props)[0].name, "zeta");
  EXPECT_FALSE((*props)[0].is_array);
  EXPECT_EQ((*props)[1].name, "alpha");
  EXPECT_TRUE((*props)[1].is_array);
  EXPECT_EQ((*props)[2].name, "mid");
  EXPECT_FALSE((*props)[2].is_array);
  ASSERT_EQ(cat().custom_properties(kFirmwares)->size(), 1u);
  EXPECT_TRUE((*cat().custom_properties(kFirmwares))[0].is_array);

  const std::string of = " of instances " + i.sha1 + ": ";
  EXPECT_EQ(*cat().get_custom_value(kInstances, i.sha1, "zeta"), std::nullopt);
  ASSERT_TRUE(Ok(cat().set_custom_value(kInstances, i.sha1, "zeta", {"v 1"})));
  ASSERT_TRUE(Ok(cat().set_custom_value(kInstances, i.sha1, "zeta", {"v2"})));
  EXPECT_TRUE(FailsWith(
      cat().set_custom_value(kInstances, i.sha1, "zeta", {"a", "b"}), EINVAL,
      "setting property 'zeta'" + of + "a scalar property takes exactly one value, not 2"));
  EXPECT_EQ(cat().set_custom_value(kInstances, i.sha1, "zeta", {}).error().code, EINVAL);
  ASSERT_TRUE(Ok(cat().set_custom_value(kInstances, i.sha1, "alpha", {"a", "b c", "", "d"})));
  ASSERT_TRUE(Ok(cat().set_custom_value(kFirmwares, f.sha1, "zeta", {"f1", "f2"})));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(*cat().get_custom_value(kInstances, i.sha1, "zeta"), Strings{"v2"});
  EXPECT_EQ(*cat().get_custom_value(kInstances, i.sha1, "alpha"), (Strings{"a", "b c", "", "d"}));
  EXPECT_EQ(*cat().get_custom_value(kFirmwares, f.sha1, "zeta"), (Strings{"f1", "f2"}));
  ASSERT_TRUE(Ok(cat().set_custom_value(kInstances, i.sha1, "alpha", {"x"})));
  EXPECT_EQ(*cat().get_custom_value(kInstances, i.sha1, "alpha"), Strings{"x"});
  ASSERT_TRUE(Ok(cat().set_custom_value(kInstances, i.sha1, "alpha", {})));
  EXPECT_EQ(*cat().get_custom_value(kInstances, i.sha1, "alpha"), std::nullopt);

  EXPECT_TRUE(FailsWith(cat().set_custom_value(kInstances, i.sha1, "nope", {"v"}), ESRCH,
                        "setting property 'nope'" + of + "no such property"));
  EXPECT_TRUE(FailsWith(cat().get_custom_value(kInstances, i.sha1, "nope"), ESRCH,
                        "reading property 'nope'" + of + "no such property"));
  EXPECT_TRUE(
      FailsWith(cat().set_custom_value(kInstances, sha(0xdead), "zeta", {"v"}), ENOENT,
                "setting property 'zeta' of instances " + sha(0xdead) + ": not in the catalogue"));
  EXPECT_EQ(cat().get_custom_value(kFirmwares, i.sha1, "zeta").error().code, ENOENT);
}

TEST_P(CatalogueTest, FailedTransactionLeavesNothing) {
  FirmwareRecord f = firmware(1, "brave_turing");
  InstanceRecord i = instance(1, 0, f.sha1, "calm_hopper");
  Status s = cat().transaction([&]() -> Status {
    FW_TRY(cat().put_firmware(f));
    FW_TRY(cat().put_instance(i));
    FW_TRY(cat().add_custom_property(kInstances, "owner", false));
    FW_TRY(cat().set_custom_value(kInstances, i.sha1, "owner", {"me"}));
    return make_error(ECANCELED, "changed my mind");
  });
  EXPECT_TRUE(FailsWith(s, ECANCELED, "changed my mind"));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(cat().list_firmwares()->size(), 0u);
  EXPECT_EQ(cat().list_instances()->size(), 0u);
  EXPECT_EQ(cat().custom_properties(kInstances)->size(), 0u);
  EXPECT_FALSE(*cat().name_taken(kFirmwares, "brave_turing"));
  EXPECT_FALSE(*cat().name_taken(kInstances, "calm_hopper"));
  EXPECT_EQ(*cat().lowest_free_instance_id(), 0);
  // No transaction was left open: the next mutator commits on its own.
  ASSERT_TRUE(Ok(cat().put_firmware(f)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(sha1s_of(*cat().list_firmwares()), Strings{f.sha1});
}

TEST_P(CatalogueTest, FailedNestedTransactionUndoesOnlyItsPart) {
  FirmwareRecord one = firmware(1, "kept_one"), two = firmware(2, "undone"),
                 three = firmware(3, "kept_one"), four = firmware(4, "kept_four");
  Status s = cat().transaction([&]() -> Status {
    FW_TRY(cat().put_firmware(one));
    Status inner = cat().transaction([&]() -> Status {
      FW_TRY(cat().put_firmware(two));
      return make_error(EINVAL, "inner failure");
    });
    EXPECT_TRUE(FailsWith(inner, EINVAL, "inner failure"));
    // A failing mutator undoes its own half-done work (the row before the name clash).
    EXPECT_EQ(cat().put_firmware(three).error().code, EEXIST);
    return cat().put_firmware(four);
  });
  ASSERT_TRUE(Ok(s));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(sha1s_of(*cat().list_firmwares()), (Strings{one.sha1, four.sha1}));
  EXPECT_FALSE(*cat().name_taken(kFirmwares, "undone"));
}

// ---- the sqlite wrapper ----

TEST(Sqlite, BindsAnEmptyViewAsEmptyTextNotNull) {
  auto db = Db::open(":memory:");
  ASSERT_TRUE(Ok(db));
  auto st = db->prepare("SELECT ?1 IS NULL, ?1 = ''");
  ASSERT_TRUE(Ok(st));
  st->bind(1, std::string_view{});
  ASSERT_TRUE(*st->step());
  EXPECT_EQ(st->column_int64(0), 0);
  EXPECT_EQ(st->column_int64(1), 1);
}

TEST(Sqlite, ReportsAFailedBindAtStep) {
  auto db = Db::open(":memory:");
  ASSERT_TRUE(Ok(db));
  auto st = db->prepare("SELECT ?1");
  ASSERT_TRUE(Ok(st));
  st->bind(2, int64_t{1}).bind(1, int64_t{1});  // the later good bind does not hide it
  EXPECT_TRUE(FailsWith(st->step(), EIO, "column index out of range"));
}

TEST(Sqlite, MapsResultCodesToErrno) {
  auto db = Db::open(":memory:");
  ASSERT_TRUE(Ok(db));
  ASSERT_TRUE(Ok(db->exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")));
  ASSERT_TRUE(Ok(db->exec("INSERT INTO t VALUES ('a', 1)")));
  EXPECT_TRUE(FailsWith(db->exec("INSERT INTO t VALUES ('a', 2)"), EEXIST,
                        "UNIQUE constraint failed: t.k"));
  EXPECT_TRUE(FailsWith(db->exec("INSERT INTO t VALUES ('b', NULL)"), EINVAL,
                        "NOT NULL constraint failed: t.v"));
  EXPECT_TRUE(FailsWith(db->prepare("SELEC 1"), EIO, "near \"SELEC\": syntax error"));
  EXPECT_TRUE(
      FailsWith(db->query_int("SELECT 1 WHERE 0"), ENODATA, "'SELECT 1 WHERE 0' returned no row"));
}

// ---- file-only behaviour ----

Result<int64_t> user_version(const std::string& path) {
  FW_ASSIGN_OR_RETURN(Db db, Db::open(path));
  return db.query_int("PRAGMA user_version");
}

Result<int64_t> table_count(const std::string& path) {
  FW_ASSIGN_OR_RETURN(Db db, Db::open(path));
  return db.query_int("SELECT count(*) FROM sqlite_master WHERE type = 'table'");
}

TEST(CatalogueFile, MigratesAnEmptyVersion0File) {
  TempDir dir;
  const std::string path = dir.path() + "/catalogue.db";
  std::ofstream{path};  // zero bytes: a database at user_version 0
  ASSERT_EQ(std::filesystem::file_size(path), 0u);
  {
    auto c = Catalogue::open(path);
    ASSERT_TRUE(Ok(c));
    EXPECT_EQ(c->schema_version(), 7);
    ASSERT_TRUE(Ok(c->put_firmware(firmware(1, "a"))));
  }
  EXPECT_EQ(*user_version(path), 7);
  EXPECT_EQ(*table_count(path), 9);
  auto again = Catalogue::open(path);  // already current: nothing to do, data kept
  ASSERT_TRUE(Ok(again));
  EXPECT_EQ(sha1s_of(*again->list_firmwares()), Strings{firmware(1, "a").sha1});
}

TEST(CatalogueFile, MigratesAVersion1FileKeepingItsData) {
  TempDir dir;
  const std::string path = dir.path() + "/catalogue.db";
  {
    auto db = Db::open(path);  // a catalogue as a version-1 firmwared left it
    ASSERT_TRUE(Ok(db));
    ASSERT_TRUE(Ok(db->exec("BEGIN")));
    ASSERT_TRUE(Ok(db->exec(std::string(fw::catalogue::catalogue_schema_sql()))));
    ASSERT_TRUE(Ok(db->exec("INSERT INTO firmwares (sha1, path, format, created) VALUES ('" +
                            firmware(1, "").sha1 + "', '/fw', 'dir', 1)")));
    ASSERT_TRUE(Ok(db->exec("INSERT INTO names VALUES ('firmwares', 'old_fw', '" +
                            firmware(1, "").sha1 + "')")));
    ASSERT_TRUE(
        Ok(db->exec("INSERT INTO instances (sha1, id, firmware_sha1, created, "
                    "interface) VALUES ('" +
                    sha(0x1001) + "', 3, '" + firmware(1, "").sha1 + "', 2, 'eth0')")));
    ASSERT_TRUE(Ok(db->exec("PRAGMA user_version = 1")));
    ASSERT_TRUE(Ok(db->exec("COMMIT")));
  }
  auto c = Catalogue::open(path);
  ASSERT_TRUE(Ok(c));
  EXPECT_EQ(c->schema_version(), 7);
  EXPECT_EQ(*user_version(path), 7);
  auto fws = c->list_firmwares();
  ASSERT_TRUE(Ok(fws));
  ASSERT_EQ(fws->size(), 1u);
  EXPECT_EQ((*fws)[0].name, "old_fw");
  auto inst = c->get_instance(sha(0x1001));
  ASSERT_TRUE(Ok(inst));
  ASSERT_TRUE(inst->has_value());
  EXPECT_EQ((*inst)->id, 3);
  EXPECT_EQ((*inst)->snapshot_sha1, "");  // on the firmware, as before
  EXPECT_EQ((*inst)->userns, "auto");     // version 3: the default, no id range yet
  EXPECT_EQ((*inst)->uid_base, 0u);
  EXPECT_EQ((*inst)->time_offset, 0);
  EXPECT_EQ((*inst)->host_access, "");  // the configured default, read by core
  // Version 5: the firmware's stop signal, the reboot policy, no limits, no reason yet.
  EXPECT_EQ((*fws)[0].stop_signal, "");
  EXPECT_EQ((*inst)->stop_signal, "");
  EXPECT_EQ((*inst)->on_reboot, "restart");
  EXPECT_EQ((*inst)->memory_max, "");
  EXPECT_EQ((*inst)->pids_max, "");
  EXPECT_EQ((*inst)->cpu_weight, "");
  EXPECT_EQ((*inst)->exit_reason, "");
  EXPECT_TRUE((*inst)->labels.empty());  // version 7: no labels
  SnapshotRecord s = snapshot(1, firmware(1, "").sha1, "", "snap");
  ASSERT_TRUE(Ok(c->put_snapshot(s)));
  InstanceRecord stacked = **inst;
  stacked.snapshot_sha1 = s.sha1;
  ASSERT_TRUE(Ok(c->put_instance(stacked)));
  EXPECT_EQ((*c->get_instance(sha(0x1001)))->snapshot_sha1, s.sha1);
}

TEST(CatalogueFile, FailedMigrationLeavesTheFileAtVersion0) {
  TempDir dir;
  const std::string path = dir.path() + "/catalogue.db";
  {
    auto db = Db::open(path);
    ASSERT_TRUE(Ok(db));
    ASSERT_TRUE(Ok(db->exec("CREATE TABLE names (x INTEGER)")));  // clashes with the schema
  }
  EXPECT_TRUE(FailsWith(Catalogue::open(path), EIO,
                        "opening '" + path +
                            "': migrating the schema from version 0 to 1 (creating the schema "
                            "of schemas/catalogue.sql): table names already exists"));
  EXPECT_EQ(*user_version(path), 0);
  EXPECT_EQ(*table_count(path), 1);  // firmwares and instances, created before, are gone
}

TEST(CatalogueFile, RefusesANewerSchemaAndLeavesItAlone) {
  TempDir dir;
  const std::string path = dir.path() + "/catalogue.db";
  const int newer = Catalogue::supported_schema_version() + 1;
  {
    auto db = Db::open(path);
    ASSERT_TRUE(Ok(db));
    ASSERT_TRUE(Ok(db->exec("PRAGMA user_version = " + std::to_string(newer))));
  }
  EXPECT_TRUE(FailsWith(Catalogue::open(path), EPROTO,
                        "opening '" + path + "': schema version " + std::to_string(newer) +
                            " is newer than version " + std::to_string(newer - 1) +
                            ", the newest this firmwared supports"));
  EXPECT_EQ(*user_version(path), newer);
  EXPECT_EQ(*table_count(path), 0);
  auto db = Db::open(path);
  EXPECT_EQ(*db->query_text("PRAGMA journal_mode"), "delete");
}

TEST(CatalogueFile, UsesWriteAheadLogging) {
  TempDir dir;
  const std::string path = dir.path() + "/catalogue.db";
  auto c = Catalogue::open(path);
  ASSERT_TRUE(Ok(c));
  auto db = Db::open(path);  // journal_mode=WAL is persistent: a second connection sees it
  ASSERT_TRUE(Ok(db));
  EXPECT_EQ(*db->query_text("PRAGMA journal_mode"), "wal");
  EXPECT_TRUE(std::filesystem::exists(path + "-wal"));
}

TEST(CatalogueFile, OpenErrorsNameTheFile) {
  TempDir dir;
  const std::string missing = dir.path() + "/no/such/dir/catalogue.db";
  EXPECT_TRUE(FailsWith(
      Catalogue::open(missing), ENOENT,
      "opening '" + missing + "': unable to open database file (No such file or directory)"));
  const std::string garbage = dir.path() + "/garbage.db";
  std::ofstream{garbage} << std::string(4096, 'x');
  EXPECT_TRUE(FailsWith(Catalogue::open(garbage), EIO,
                        "opening '" + garbage + "': file is not a database"));
}

TEST(CatalogueFile, ItsFilesAreCloseOnExec) {
  TempDir dir;
  auto c = Catalogue::open(dir.path() + "/catalogue.db");
  ASSERT_TRUE(Ok(c));
  ASSERT_TRUE(Ok(c->put_firmware(firmware(1, "a"))));
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (ec || target.rfind(dir.path() + "/", 0) != 0) continue;
    int fd = std::stoi(entry.path().filename().string());
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << target;
    ++checked;
  }
  EXPECT_EQ(checked, 3);  // the database, its -wal and its -shm
}

TEST(CatalogueFile, AnotherWriterMakesMutatorsFailWithEbusy) {
  TempDir dir;
  const std::string path = dir.path() + "/catalogue.db";
  auto c = Catalogue::open(path);
  ASSERT_TRUE(Ok(c));
  auto other = Db::open(path);
  ASSERT_TRUE(Ok(other));
  ASSERT_TRUE(Ok(other->exec("BEGIN IMMEDIATE")));  // holds the write lock
  const FirmwareRecord f = firmware(1, "a");
  EXPECT_TRUE(FailsWith(
      c->put_firmware(f), EBUSY,
      "storing firmware " + f.sha1 + ": starting a catalogue transaction: database is locked"));
  ASSERT_TRUE(Ok(other->exec("ROLLBACK")));
  EXPECT_TRUE(Ok(c->put_firmware(f)));
}

// A crash (SIGKILL) in the middle of a transaction loses that transaction and nothing else.
TEST(CatalogueFile, SurvivesACrashInTheMiddleOfATransaction) {
  TempDir dir;
  const std::string path = dir.path() + "/catalogue.db";
  const FirmwareRecord before = firmware(1, "committed_before");
  const FirmwareRecord in_child = firmware(2, "committed_by_child");
  {
    auto c = Catalogue::open(path);
    ASSERT_TRUE(Ok(c));
    ASSERT_TRUE(Ok(c->put_firmware(before)));
  }  // closed: a connection must not cross fork() (sqlite.org/howtocorrupt.html, 2.6)
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // No gtest assertions in the child: its exit code says what failed.
    auto c = Catalogue::open(path);
    if (!c.ok()) ::_exit(10);
    if (!c->put_firmware(in_child).ok()) ::_exit(11);
    (void)c->transaction([&]() -> Status {
      // More than the 2 MiB page cache, so uncommitted pages spill into the -wal file.
      for (unsigned n = 100; n < 3100; ++n) {
        FirmwareRecord f = firmware(n, "uncommitted_" + std::to_string(n));
        f.path = std::string(1024, 'p');
        if (!c->put_firmware(f).ok()) ::_exit(12);
      }
      if (!c->put_instance(instance(1, 0, before.sha1, "uncommitted")).ok()) ::_exit(13);
      ::raise(SIGKILL);
      ::_exit(14);
    });
    ::_exit(15);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  struct stat wal {};
  ASSERT_EQ(::stat((path + "-wal").c_str(), &wal), 0);
  EXPECT_GT(wal.st_size, 1 << 20) << "the uncommitted pages never reached the disk";

  auto c = Catalogue::open(path);
  ASSERT_TRUE(Ok(c));
  EXPECT_EQ(sha1s_of(*c->list_firmwares()), (Strings{before.sha1, in_child.sha1}));
  EXPECT_EQ(c->list_instances()->size(), 0u);
  EXPECT_FALSE(*c->name_taken(kFirmwares, "uncommitted_100"));
  EXPECT_FALSE(*c->name_taken(kInstances, "uncommitted"));
  auto db = Db::open(path);
  ASSERT_TRUE(Ok(db));
  EXPECT_EQ(*db->query_text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(*db->query_int("SELECT count(*) FROM names"), 2);
}

TEST(CatalogueInstances, KeepsUsernsFieldsAndNeverSharesAnIdRange) {
  TempDir dir;
  auto c = Catalogue::open(dir.path() + "/catalogue.db");
  ASSERT_TRUE(Ok(c));
  ASSERT_TRUE(Ok(c->put_firmware(firmware(1, "a"))));
  InstanceRecord a;
  a.sha1 = sha(0x2001);
  a.id = 1;
  a.firmware_sha1 = firmware(1, "").sha1;
  a.userns = "y";
  a.uid_base = 1879048192u;
  a.time_offset = -3600;
  ASSERT_TRUE(Ok(c->put_instance(a)));
  auto back = c->get_instance(a.sha1);
  ASSERT_TRUE(Ok(back));
  EXPECT_EQ((*back)->userns, "y");
  EXPECT_EQ((*back)->uid_base, 1879048192u);
  EXPECT_EQ((*back)->time_offset, -3600);
  InstanceRecord b = a;
  b.sha1 = sha(0x2002);
  b.id = 2;
  EXPECT_FALSE(c->put_instance(b).ok());  // the same id range: refused by the schema
  b.uid_base = 0;
  EXPECT_TRUE(Ok(c->put_instance(b)));
  InstanceRecord d = b;
  d.sha1 = sha(0x2003);
  d.id = 3;
  EXPECT_TRUE(Ok(c->put_instance(d)));  // 0 (none) may repeat
  d.userns = "maybe";
  EXPECT_FALSE(c->put_instance(d).ok());
}
}  // namespace
}  // namespace fw::catalogue
