// The firmwares folder without root: a recording FirmwareMounter stands in for the kernel,
// an InlineExecutor runs imports at once, the catalogue lives in memory. Pins which mounts
// PREPARE, DROP and restore() ask for, the repository copy, the events, and every rollback.

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <gtest/gtest.h>

#include "firmwared/base/fd.h"
#include "firmwared/catalogue/catalogue.h"
#include "firmwared/config/config.h"
#include "firmwared/core/executor.h"
#include "firmwared/core/firmware_mounter.h"
#include "firmwared/core/firmwares.h"
#include "firmwared/core/names.h"
#include "firmwared/sys/hash_copy.h"
#include "firmwared/sys/sha1.h"
#include "tests/unit/core_test_support.h"

namespace fw::core {
namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

// ---- fakes ----------------------------------------------------------------------------------

// Records every call as one line; the call numbered fail_at (1-based, all kinds counted)
// fails with EIO.
using FakeMounter = fakes::FakeFirmwareMounter;

using fakes::RecordedEvent;
using fakes::RecordingSink;

// ---- helpers --------------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/fw_firmwares_test.XXXXXX";
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

// A minimal rootfs: bin/, etc/, sbin/init (unless without_init).
void make_rootfs(const std::string& dir, bool with_init = true) {
  fs::create_directories(dir + "/bin");
  fs::create_directories(dir + "/etc");
  fs::create_directories(dir + "/sbin");
  write_file(dir + "/etc/build.prop", "ro.build=unit\n");
  if (with_init) write_file(dir + "/sbin/init", "#!/bin/sh\n");
}

std::string mke2fs() {
  for (const char* p : {"/usr/sbin/mke2fs", "/sbin/mke2fs", "/usr/bin/mke2fs"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

constexpr char kUuid[] = "12345678-9abc-def0-1234-56789abcdef0";

// An ext2 image of `size` (mke2fs syntax) holding `rootfs`; false when mke2fs is missing.
bool make_ext2(const std::string& rootfs, const std::string& image, const std::string& size) {
  const std::string tool = mke2fs();
  if (tool.empty()) return false;
  const std::string cmd = tool + " -q -F -t ext2 -U " + kUuid + " -d '" + rootfs + "' '" + image +
                          "' " + size + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

std::string sha1_of_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "<cannot open " + path + ">";
  auto r = sys::sha1_of_fd(fd.get(), {});
  return r.ok() ? *r : "<" + r.error().message + ">";
}

Strings dir_entries(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return Strings(names.begin(), names.end());
}

std::string sha1_string(char c) { return std::string(40, c); }

// ---- fixture --------------------------------------------------------------------------------

class FirmwaresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    root_ = tmp_.path();
    mount_path_ = root_ + "/mnt";
    repo_ = root_ + "/repo";
    src_ = root_ + "/src";
    fs::create_directories(mount_path_ + "/firmwares");
    fs::create_directories(repo_);
    fs::create_directories(src_);
    auto config = config::Config::parse(
        "[firmwared]\nmount_path = " + mount_path_ + "\nrepository_path = " + repo_ + "\n",
        "t.conf", {});
    ASSERT_TRUE(config.ok()) << config.error().message;
    config_.emplace(std::move(*config));
    auto cat = catalogue::Catalogue::open(":memory:");
    ASSERT_TRUE(cat.ok()) << cat.error().message;
    cat_.emplace(std::move(*cat));
    auto words = WordLists::from_words({"brave", "calm", "eager"}, {"otter", "heron", "lynx"});
    ASSERT_TRUE(words.ok()) << words.error().message;
    words_.emplace(std::move(*words));
    firmwares_ = std::make_unique<Firmwares>(
        FirmwaresDeps{*cat_, *config_, executor_, sink_, *words_, mounter_});
  }

  Result<EntitySummary> prepare(const std::string& source,
                                const std::optional<std::string>& cwd = std::nullopt) {
    std::optional<Result<EntitySummary>> out;
    firmwares_->prepare(source, cwd, [&](Result<EntitySummary> r) { out.emplace(std::move(r)); });
    if (!out) return make_error(EINPROGRESS, "PREPARE did not complete inline");
    return std::move(*out);
  }

  std::string target(const std::string& sha1) const { return mount_path_ + "/firmwares/" + sha1; }

  // A rootfs dir under src/ and, when possible, an ext2 image of it; skips without mke2fs.
  std::string image(const std::string& name = "my.img", const std::string& size = "3M") {
    const std::string rootfs = src_ + "/rootfs-for-" + name;
    make_rootfs(rootfs);
    const std::string img = src_ + "/" + name;
    if (!make_ext2(rootfs, img, size)) return "";
    return img;
  }

  size_t catalogued() {
    auto all = cat_->list_firmwares();
    EXPECT_TRUE(all.ok());
    return all.ok() ? all->size() : 0;
  }

  TempDir tmp_;
  std::string root_, mount_path_, repo_, src_;
  std::optional<config::Config> config_;
  std::optional<catalogue::Catalogue> cat_;
  std::optional<WordLists> words_;
  InlineExecutor executor_;
  RecordingSink sink_;
  FakeMounter mounter_;
  std::unique_ptr<Firmwares> firmwares_;
};

#define NEED_IMAGE(var) \
  if ((var).empty()) GTEST_SKIP() << "mke2fs is missing or failed"

// ---- PREPARE of a directory -----------------------------------------------------------------

TEST_F(FirmwaresTest, DirPrepareBindMountsTheCanonicalPathAndEmitsPrepared) {
  const std::string rootfs = src_ + "/rootfs";
  make_rootfs(rootfs);
  fs::create_directory_symlink(rootfs, root_ + "/link");
  // Relative, through a symlink and a ".." (physical: link/.. is src): the canonical path
  // is what counts.
  auto s = prepare("link/../rootfs/.", root_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  const std::string sha1 = sys::sha1_hex(rootfs);
  EXPECT_EQ(s->sha1, sha1);
  EXPECT_FALSE(s->existed);
  EXPECT_EQ(s->warning, "");
  EXPECT_EQ(mounter_.calls, Strings{"mount dir " + rootfs + " " + target(sha1)});
  EXPECT_TRUE(fs::is_directory(target(sha1)));
  EXPECT_EQ(dir_entries(repo_), Strings{}) << "a directory is never copied";

  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].name, "PREPARED");
  EXPECT_EQ(sink_.events[0].str("folder"), "firmwares");
  EXPECT_EQ(sink_.events[0].str("sha1"), sha1);
  EXPECT_EQ(sink_.events[0].str("name"), s->name);

  auto rec = cat_->get_firmware(sha1);
  ASSERT_TRUE(rec.ok() && *rec);
  EXPECT_EQ((*rec)->format, "dir");
  EXPECT_EQ((*rec)->path, rootfs);
  EXPECT_EQ((*rec)->name, s->name);
  EXPECT_EQ(firmwares_->mount_point(sha1), target(sha1));
  auto bw = firmwares_->get_property(sha1, "base_workspace");
  ASSERT_TRUE(bw.ok());
  EXPECT_EQ(*bw, target(sha1));
}

// Issue 11 item 3: a group member imported /usr or a root-only tree as a directory
// firmware and read it through EXEC or EXPORT --full.
TEST_F(FirmwaresTest, DirectoryFirmwaresAreReservedToRootClients) {
  make_rootfs(src_ + "/rootfs");
  // Traversable by anyone, so that only the rule refuses (also when the test runs as root).
  ::chmod(root_.c_str(), 0755);
  const sys::ClientCredentials member{65534, 65534, {}};
  std::optional<Result<EntitySummary>> out;
  firmwares_->prepare_as(member, src_ + "/rootfs", std::nullopt,
                         [&](Result<EntitySummary> r) { out.emplace(std::move(r)); });
  ASSERT_TRUE(out.has_value());
  ASSERT_FALSE(out->ok());
  EXPECT_EQ(out->error().code, EPERM);
  EXPECT_EQ(out->error().message,
            "cannot import directory '" + src_ +
                "/rootfs' as uid 65534: directory firmwares are "
                "reserved to root (an instance reads every file of it, root-only ones included); "
                "import a filesystem image instead");
  EXPECT_EQ(mounter_.calls, Strings{});
  EXPECT_EQ(catalogued(), 0u);
  EXPECT_TRUE(sink_.events.empty());
  auto as_root = prepare(src_ + "/rootfs");
  EXPECT_TRUE(as_root.ok()) << as_root.error().message;
}

TEST_F(FirmwaresTest, SameDirTwiceAnswersTheExistingEntity) {
  make_rootfs(src_ + "/rootfs");
  auto first = prepare(src_ + "/rootfs");
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = prepare(src_ + "/rootfs/");
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_TRUE(second->existed);
  EXPECT_EQ(second->sha1, first->sha1);
  EXPECT_EQ(second->name, first->name);
  EXPECT_EQ(mounter_.calls.size(), 1u);
  EXPECT_EQ(sink_.named("PREPARED").size(), 1u);
  EXPECT_EQ(catalogued(), 1u);
}

TEST_F(FirmwaresTest, DirWithoutInitIsAcceptedWithAWarning) {
  make_rootfs(src_ + "/noinit", /*with_init=*/false);
  auto s = prepare(src_ + "/noinit");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_NE(s->warning.find("/sbin/init"), std::string::npos) << s->warning;
  EXPECT_EQ(catalogued(), 1u);
}

TEST_F(FirmwaresTest, DirWithoutRootfsIsRefusedWithoutSideEffect) {
  fs::create_directories(src_ + "/data/stuff");
  auto s = prepare(src_ + "/data");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EINVAL);
  EXPECT_NE(s.error().message.find("does not look like a root filesystem"), std::string::npos)
      << s.error().message;
  EXPECT_EQ(mounter_.calls, Strings{});
  EXPECT_EQ(catalogued(), 0u);
  EXPECT_EQ(dir_entries(mount_path_ + "/firmwares"), Strings{});
  EXPECT_EQ(sink_.events.size(), 0u);
}

TEST_F(FirmwaresTest, DirMountFailureLeavesNothing) {
  make_rootfs(src_ + "/rootfs");
  mounter_.fail_at = 1;
  auto s = prepare(src_ + "/rootfs");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EIO);
  EXPECT_NE(s.error().message.find("injected failure"), std::string::npos) << s.error().message;
  EXPECT_EQ(catalogued(), 0u);
  EXPECT_EQ(dir_entries(mount_path_ + "/firmwares"), Strings{}) << "mount dir removed";
  EXPECT_EQ(sink_.named("PREPARED").size(), 0u);
  EXPECT_TRUE(fs::exists(src_ + "/rootfs/sbin/init")) << "the user's dir is untouched";
  // And the next attempt works.
  mounter_.fail_at = 0;
  auto again = prepare(src_ + "/rootfs");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(again->existed);
}

// ---- PREPARE of an image --------------------------------------------------------------------

TEST_F(FirmwaresTest, ImagePrepareCopiesIntoTheRepositoryAndReportsProgress) {
  const std::string img = image("my.img", "3M");
  NEED_IMAGE(img);
  const std::string sha1 = sha1_of_file(img);
  auto s = prepare(img);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->sha1, sha1);
  EXPECT_FALSE(s->existed);

  const std::string copy_name = "my.img." + sha1 + ".firmware";
  EXPECT_EQ(dir_entries(repo_), Strings{copy_name}) << "one copy, no temporary file";
  EXPECT_EQ(sha1_of_file(repo_ + "/" + copy_name), sha1);
  EXPECT_TRUE(fs::exists(img)) << "the source stays";
  EXPECT_EQ(mounter_.calls, Strings{"mount ext2 " + repo_ + "/" + copy_name + " " + target(sha1)});

  auto progress = sink_.named("PREPARE_PROGRESS");
  ASSERT_GE(progress.size(), 2u) << "a 3 MiB image is copied in several chunks";
  int64_t last = -1;
  for (const auto& e : progress) {
    EXPECT_EQ(e.str("folder"), "firmwares");
    EXPECT_EQ(e.str("path"), img);
    EXPECT_GT(e.num("percent"), last) << "percent increases";
    last = e.num("percent");
  }
  EXPECT_EQ(last, 100);
  ASSERT_FALSE(sink_.events.empty());
  EXPECT_EQ(sink_.events.back().name, "PREPARED") << "PREPARED comes after the progress";
  EXPECT_EQ(sink_.events.back().str("sha1"), sha1);

  auto rec = cat_->get_firmware(sha1);
  ASSERT_TRUE(rec.ok() && *rec);
  EXPECT_EQ((*rec)->format, "ext2");
  EXPECT_EQ((*rec)->uuid, kUuid);
  EXPECT_EQ((*rec)->size, fs::file_size(img));
  EXPECT_EQ((*rec)->path, repo_ + "/" + copy_name);
  EXPECT_EQ((*rec)->source_path, img);

  auto shown = firmwares_->show(s->name);
  ASSERT_TRUE(shown.ok()) << shown.error().message;
  Strings names;
  for (const auto& p : *shown) names.push_back(p.name);
  EXPECT_EQ(names, (Strings{"name", "sha1", "base_workspace", "path", "uuid", "format", "size",
                            "stop_signal"}));
}

TEST_F(FirmwaresTest, SameImageTwiceKeepsOneCopy) {
  const std::string img = image("a.img", "1M");
  NEED_IMAGE(img);
  auto first = prepare(img);
  ASSERT_TRUE(first.ok()) << first.error().message;
  // Same content under another name: still the same firmware.
  fs::copy_file(img, src_ + "/b.img");
  auto second = prepare(src_ + "/b.img");
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_TRUE(second->existed);
  EXPECT_EQ(second->sha1, first->sha1);
  EXPECT_EQ(second->name, first->name);
  EXPECT_EQ(dir_entries(repo_), Strings{"a.img." + first->sha1 + ".firmware"});
  EXPECT_EQ(mounter_.calls.size(), 1u);
  EXPECT_EQ(sink_.named("PREPARED").size(), 1u);
  EXPECT_EQ(catalogued(), 1u);
}

TEST_F(FirmwaresTest, ImageMountFailureRemovesTheCopyAndTheMountDir) {
  const std::string img = image("bad.img", "1M");
  NEED_IMAGE(img);
  const std::string sha1 = sha1_of_file(img);
  mounter_.fail_at = 1;
  auto s = prepare(img);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EIO);
  EXPECT_NE(s.error().message.find("injected failure"), std::string::npos) << s.error().message;
  EXPECT_EQ(catalogued(), 0u);
  EXPECT_FALSE(fs::exists(target(sha1))) << "mount dir removed";
  EXPECT_EQ(dir_entries(repo_), Strings{}) << "repository copy removed";
  EXPECT_EQ(sink_.named("PREPARED").size(), 0u);
  EXPECT_TRUE(fs::exists(img));
  mounter_.fail_at = 0;
  auto again = prepare(img);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(dir_entries(repo_), Strings{"bad.img." + sha1 + ".firmware"});
}

TEST_F(FirmwaresTest, NotAnImageIsRefusedBeforeAnyCopy) {
  write_file(src_ + "/random.img", std::string(100000, '\x5a'));
  write_file(src_ + "/empty.img", "");
  for (const char* name : {"random.img", "empty.img"}) {
    auto s = prepare(src_ + "/" + name);
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.error().code, EINVAL) << name;
  }
  EXPECT_EQ(dir_entries(repo_), Strings{});
  EXPECT_EQ(mounter_.calls, Strings{});
  EXPECT_EQ(sink_.events.size(), 0u);
}

TEST_F(FirmwaresTest, HostileBasenameIsSanitisedInTheRepository) {
  const std::string img = image("my image.img", "1M");
  NEED_IMAGE(img);
  fs::rename(img, src_ + "/..hidden name.img");
  auto s = prepare(src_ + "/..hidden name.img");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const Strings entries = dir_entries(repo_);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_NE(entries[0][0], '.') << entries[0] << ": no hidden file in the repository";
  EXPECT_EQ(entries[0].find(' '), std::string::npos) << entries[0];
  EXPECT_TRUE(entries[0].ends_with("." + s->sha1 + ".firmware")) << entries[0];
}

// ---- DROP -----------------------------------------------------------------------------------

TEST_F(FirmwaresTest, DropWhileAnInstanceUsesTheFirmwareIsEbusyNamingIt) {
  make_rootfs(src_ + "/rootfs");
  auto s = prepare(src_ + "/rootfs");
  ASSERT_TRUE(s.ok()) << s.error().message;
  catalogue::InstanceRecord inst;
  inst.sha1 = sha1_string('a');
  inst.name = "brave_turing";
  inst.id = 0;
  inst.firmware_sha1 = s->sha1;
  ASSERT_TRUE(cat_->put_instance(inst).ok());
  mounter_.calls.clear();

  auto d = firmwares_->drop(s->name);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, EBUSY);
  EXPECT_NE(d.error().message.find("brave_turing"), std::string::npos) << d.error().message;
  EXPECT_NE(d.error().message.find(s->name), std::string::npos) << d.error().message;
  EXPECT_EQ(mounter_.calls, Strings{}) << "nothing unmounted";
  EXPECT_EQ(catalogued(), 1u);
  EXPECT_EQ(sink_.named("DROPPED").size(), 0u);

  ASSERT_TRUE(cat_->delete_instance(inst.sha1).ok());
  auto again = firmwares_->drop(s->name);
  ASSERT_TRUE(again.ok()) << again.error().message;
}

TEST_F(FirmwaresTest, DropOfAnImageRemovesItsCopyMountAndMountDir) {
  const std::string img = image("drop.img", "1M");
  NEED_IMAGE(img);
  auto s = prepare(img);
  ASSERT_TRUE(s.ok()) << s.error().message;
  mounter_.calls.clear();
  auto d = firmwares_->drop(s->sha1.substr(0, 6));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->sha1, s->sha1);
  EXPECT_EQ(d->name, s->name);
  EXPECT_EQ(mounter_.calls, Strings{"unmount " + target(s->sha1)});
  EXPECT_EQ(dir_entries(repo_), Strings{}) << "repository copy removed";
  EXPECT_FALSE(fs::exists(target(s->sha1))) << "mount dir removed";
  EXPECT_TRUE(fs::exists(img)) << "the source image is the user's";
  EXPECT_EQ(catalogued(), 0u);
  auto dropped = sink_.named("DROPPED");
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].str("sha1"), s->sha1);
  EXPECT_EQ(dropped[0].str("name"), s->name);
}

TEST_F(FirmwaresTest, DropOfADirNeverTouchesTheDir) {
  const std::string rootfs = src_ + "/rootfs";
  make_rootfs(rootfs);
  auto s = prepare(rootfs);
  ASSERT_TRUE(s.ok()) << s.error().message;
  mounter_.calls.clear();
  auto d = firmwares_->drop(s->name);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(mounter_.calls, Strings{"unmount " + target(s->sha1)});
  EXPECT_EQ(dir_entries(rootfs), (Strings{"bin", "etc", "sbin"}));
  EXPECT_TRUE(fs::exists(rootfs + "/sbin/init"));
  EXPECT_TRUE(fs::exists(rootfs + "/etc/build.prop"));
  EXPECT_EQ(catalogued(), 0u);
}

TEST_F(FirmwaresTest, DropWhoseUnmountFailsKeepsTheFirmware) {
  const std::string img = image("keep.img", "1M");
  NEED_IMAGE(img);
  auto s = prepare(img);
  ASSERT_TRUE(s.ok()) << s.error().message;
  mounter_.fail_at = 2;  // 1: the mount of PREPARE, 2: the unmount of DROP
  auto d = firmwares_->drop(s->name);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, EIO);
  EXPECT_EQ(catalogued(), 1u);
  EXPECT_EQ(dir_entries(repo_), Strings{"keep.img." + s->sha1 + ".firmware"});
  EXPECT_EQ(sink_.named("DROPPED").size(), 0u);
}

TEST_F(FirmwaresTest, DropOfAnUnknownFirmwareIsEnoent) {
  auto d = firmwares_->drop("no_such_firmware");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ENOENT);
  EXPECT_EQ(mounter_.calls, Strings{});
}

// ---- properties -----------------------------------------------------------------------------

TEST_F(FirmwaresTest, PropertiesFollowDesignSection6) {
  make_rootfs(src_ + "/rootfs");
  auto s = prepare(src_ + "/rootfs");
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto added = firmwares_->add_property("vendor");
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_EQ(*added, "vendor");
  auto tags = firmwares_->add_property("tags[]");
  ASSERT_TRUE(tags.ok()) << tags.error().message;
  EXPECT_EQ(*tags, "tags[]");
  auto names = firmwares_->property_names();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (Strings{"name", "sha1", "base_workspace", "path", "uuid", "format", "size",
                             "stop_signal", "vendor", "tags[]"}));

  ASSERT_TRUE(firmwares_->set_property(s->name, "vendor", "parrot").ok());
  EXPECT_EQ(firmwares_->get_property(s->sha1, "vendor").value_or("?"), "parrot");
  ASSERT_TRUE(firmwares_->set_property(s->name, "tags", "a 'b c'").ok());
  EXPECT_EQ(firmwares_->get_property(s->name, "tags[1]").value_or("?"), "b c");
  EXPECT_EQ(firmwares_->get_property(s->name, "tags[2]").value_or("?"), "nil");
  EXPECT_EQ(sink_.named("PROPERTY_SET").size(), 2u);

  struct Case {
    std::string prop, value;
    int code;
  };
  const Case sets[] = {{"name", "x", EPERM}, {"sha1", "x", EPERM},       {"format", "x", EPERM},
                       {"nope", "x", ESRCH}, {"vendor[0]", "x", EINVAL}, {"tags[3]", "x", ERANGE}};
  for (const Case& c : sets) {
    Status st = firmwares_->set_property(s->name, c.prop, c.value);
    ASSERT_FALSE(st.ok()) << c.prop;
    EXPECT_EQ(st.error().code, c.code) << c.prop << ": " << st.error().message;
  }
  const Case gets[] = {{"nope", "", ESRCH}, {"name[0]", "", EINVAL}, {"tags[3]", "", ERANGE}};
  for (const Case& c : gets) {
    auto v = firmwares_->get_property(s->name, c.prop);
    ASSERT_FALSE(v.ok()) << c.prop;
    EXPECT_EQ(v.error().code, c.code) << c.prop << ": " << v.error().message;
  }
  EXPECT_EQ(sink_.named("PROPERTY_SET").size(), 2u) << "failed sets emit nothing";

  for (const char* bad : {"a/b", "..", "a b",
                          "a\x01"
                          "b",
                          "x[1]", "", "vendor", "name"}) {
    auto r = firmwares_->add_property(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_EQ(firmwares_->property_names().value_or(Strings{}).size(), 10u);
}

// ---- resolve_firmware_source ----------------------------------------------------------------

class ResolveSourceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(tmp_.path().empty()); }
  TempDir tmp_;
};

TEST_F(ResolveSourceTest, RelativePathNeedsTheClientsWorkingDirectory) {
  fs::create_directories(tmp_.path() + "/rootfs");
  auto r = resolve_firmware_source("rootfs", std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_NE(r.error().message.find("working directory"), std::string::npos) << r.error().message;

  auto ok = resolve_firmware_source("./rootfs/", tmp_.path());
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->path, tmp_.path() + "/rootfs");
  EXPECT_TRUE(ok->is_dir);
}

TEST_F(ResolveSourceTest, FileUrlsArePercentDecoded) {
  const std::string dir = tmp_.path() + "/my dir%";
  fs::create_directories(dir);
  write_file(dir + "/a.img", "x");
  auto r = resolve_firmware_source("file://" + tmp_.path() + "/my%20dir%25/a%2Eimg", std::nullopt);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->path, dir + "/a.img");
  EXPECT_FALSE(r->is_dir);

  // A lone '%' stays as it is.
  auto lone = resolve_firmware_source("file://" + tmp_.path() + "/my%20dir%", std::nullopt);
  ASSERT_TRUE(lone.ok()) << lone.error().message;
  EXPECT_EQ(lone->path, dir);

  auto relative = resolve_firmware_source("file://a.img", tmp_.path());
  ASSERT_FALSE(relative.ok());
  EXPECT_EQ(relative.error().code, EINVAL);

  auto nul = resolve_firmware_source("file://" + tmp_.path() + "/a%00b", std::nullopt);
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.error().code, EINVAL);
}

// RFC 8089: "file://localhost/path" is the same as "file:///path"; RFC 3986 §3.1: schemes
// are case-insensitive ("FILE:///path"). Both are file URLs other tools produce and accept.
TEST_F(ResolveSourceTest, FileUrlsWithLocalhostOrAnUpperCaseSchemeAreFileUrls) {
  write_file(tmp_.path() + "/a.img", "x");
  for (const std::string& url :
       {"file://localhost" + tmp_.path() + "/a.img", "FILE://" + tmp_.path() + "/a.img",
        "File://" + tmp_.path() + "/a.img"}) {
    auto r = resolve_firmware_source(url, std::nullopt);
    if (!r.ok()) {
      ADD_FAILURE() << url << " is refused: " << r.error().message;
      continue;
    }
    EXPECT_EQ(r->path, tmp_.path() + "/a.img") << url;
  }
}

TEST_F(ResolveSourceTest, OtherUrlSchemesAreNotSupported) {
  for (const char* url : {"ftp://host/a.img", "http://x", "https://example.com/fw.ext2"}) {
    auto r = resolve_firmware_source(url, "/");
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().code, EPROTONOSUPPORT) << url;
    EXPECT_NE(r.error().message.find(url), std::string::npos) << r.error().message;
  }
}

TEST_F(ResolveSourceTest, BadPathsAreRefusedWithTheirErrno) {
  const std::string t = tmp_.path();
  ASSERT_EQ(::mkfifo((t + "/fifo").c_str(), 0600), 0);
  fs::create_symlink("b", t + "/a");
  fs::create_symlink("a", t + "/b");
  struct Case {
    std::string arg;
    int code;
    std::string words;
  };
  const Case cases[] = {
      {"", EINVAL, "empty"},
      {t + "/missing", ENOENT, "missing"},
      {t + "/a", ELOOP, "/a"},
      {t + "/fifo", EINVAL, "fifo"},
      {"/dev/null", EINVAL, "character device"},
  };
  for (const Case& c : cases) {
    auto r = resolve_firmware_source(c.arg, "/");
    ASSERT_FALSE(r.ok()) << c.arg;
    EXPECT_EQ(r.error().code, c.code) << c.arg << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.words), std::string::npos) << r.error().message;
  }
}

// ---- check_rootfs ---------------------------------------------------------------------------

TEST_F(ResolveSourceTest, CheckRootfs) {
  const std::string t = tmp_.path();
  fs::create_directories(t + "/empty");
  auto empty = check_rootfs(t + "/empty");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, EINVAL);
  EXPECT_NE(empty.error().message.find("does not look like a root filesystem"), std::string::npos);

  fs::create_directories(t + "/etconly/etc");
  auto etc = check_rootfs(t + "/etconly");
  ASSERT_TRUE(etc.ok()) << etc.error().message;
  EXPECT_NE(etc->find("/sbin/init"), std::string::npos) << *etc;

  // An absolute symlink pointing into the rootfs itself (dangling on the host) is fine.
  fs::create_directories(t + "/linked/sbin");
  fs::create_symlink("/bin/busybox-that-is-not-on-the-host", t + "/linked/sbin/init");
  auto linked = check_rootfs(t + "/linked");
  ASSERT_TRUE(linked.ok()) << linked.error().message;
  EXPECT_EQ(*linked, "");

  make_rootfs(t + "/full");
  auto full = check_rootfs(t + "/full");
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_EQ(*full, "");
}

// ---- restore() ------------------------------------------------------------------------------

// Issue 11 item 9: a crash after publishing an image (or during a DROP or COMMIT) leaves
// files the catalogue does not know; restore() removes them and reports rows whose image
// is gone.
TEST_F(FirmwaresTest, RestoreRemovesWhatTheCatalogueDoesNotKnowAndReportsWhatIsGone) {
  catalogue::FirmwareRecord kept;
  kept.sha1 = sha1_string('a');
  kept.name = "brave_otter";
  kept.path = repo_ + "/a.img." + kept.sha1 + ".firmware";
  kept.format = "ext2";
  kept.created = 1;
  catalogue::FirmwareRecord gone = kept;
  gone.sha1 = sha1_string('b');
  gone.name = "calm_heron";
  gone.path = repo_ + "/b.img." + gone.sha1 + ".firmware";
  ASSERT_TRUE(cat_->put_firmware(kept).ok());
  ASSERT_TRUE(cat_->put_firmware(gone).ok());
  write_file(kept.path, "an image");
  write_file(repo_ + "/c.img." + sha1_string('c') + ".firmware", "published, never recorded");
  fs::create_directories(repo_ + "/eager_lynx.1700000000.rootfs/etc");  // a COMMIT cut short
  write_file(repo_ + "/eager_lynx.1700000000.rootfs/etc/x", "x");
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(firmwares_->restore().ok());
  const std::string log = ::testing::internal::GetCapturedStderr();
  Strings left;
  for (const auto& e : fs::directory_iterator(repo_)) left.push_back(e.path().string());
  EXPECT_EQ(left, Strings{kept.path});
  EXPECT_NE(log.find("removing " + repo_ + "/c.img."), std::string::npos) << log;
  EXPECT_NE(log.find("calm_heron [" + gone.sha1 + "] left unmounted, unusable: " + gone.path +
                     " is gone"),
            std::string::npos)
      << log;
  EXPECT_TRUE(cat_->get_firmware(gone.sha1)->has_value()) << "reported, not forgotten";
}

TEST_F(FirmwaresTest, RestoreCleansStaleThenMountsEachRecordSkippingFailures) {
  catalogue::FirmwareRecord a;
  a.sha1 = sha1_string('a');
  a.name = "brave_otter";
  a.path = repo_ + "/a.img." + a.sha1 + ".firmware";
  a.source_path = "/elsewhere/a.img";
  a.format = "ext2";
  a.created = 1;
  catalogue::FirmwareRecord b;
  b.sha1 = sha1_string('b');
  b.name = "calm_heron";
  b.path = src_ + "/rootfs";
  b.source_path = b.path;
  b.format = "dir";
  b.created = 2;
  ASSERT_TRUE(cat_->put_firmware(a).ok());
  ASSERT_TRUE(cat_->put_firmware(b).ok());
  write_file(repo_ + "/.import-123-1.tmp", "half a copy");
  write_file(repo_ + "/a.img." + a.sha1 + ".firmware", "an image");
  fs::create_directories(b.path);
  fs::remove_all(mount_path_ + "/firmwares");  // restore() makes it

  mounter_.fail_at = 2;  // clean_stale, then the first mount fails
  ::testing::internal::CaptureStderr();
  Status st = firmwares_->restore();
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(mounter_.calls, (Strings{"clean_stale " + mount_path_ + "/firmwares " + repo_,
                                     "mount ext2 " + a.path + " " + target(a.sha1),
                                     "mount dir " + b.path + " " + target(b.sha1)}));
  EXPECT_NE(log.find("brave_otter"), std::string::npos) << log;
  EXPECT_NE(log.find("injected failure"), std::string::npos) << log;
  EXPECT_NE(log.find(", ignoring"), std::string::npos) << log;
  EXPECT_EQ(dir_entries(repo_), Strings{"a.img." + a.sha1 + ".firmware"})
      << "half-imported file removed, images kept";
  EXPECT_TRUE(fs::is_directory(target(b.sha1)));
  EXPECT_EQ(catalogued(), 2u) << "a firmware that failed to mount stays catalogued";
}

TEST_F(FirmwaresTest, RestoreFailsWhenStaleCleanupFails) {
  mounter_.fail_at = 1;
  Status st = firmwares_->restore();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EIO);
  EXPECT_EQ(mounter_.calls.size(), 1u) << "nothing mounted over stale mounts";
}

}  // namespace
}  // namespace fw::core
