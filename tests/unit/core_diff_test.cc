// The diff classification (firmwared/core/diff.h): lower and upper trees built by hand in a
// temporary directory, one overlay marker at a time (whiteouts, shared whiteouts, opaque
// dirs, redirects, metacopy, xwhiteouts, userxattr), then the same against the kernel: an
// overlay mounted with and without redirect_dir/metacopy, changed through the mount, must
// diff exactly like a full comparison of the lower tree with the merged tree.
//
// Whiteouts need CAP_MKNOD and trusted.* xattrs CAP_SYS_ADMIN: without root these tests
// skip (and fail under FW_TESTS_MUST_RUN=1).

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "firmwared/base/paths.h"
#include "firmwared/core/diff.h"
#include "firmwared/core/export.h"

namespace fw::core {
namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

bool must_run() {
  const char* v = std::getenv("FW_TESTS_MUST_RUN");
  return v != nullptr && std::string(v) == "1";
}

#define REQUIRE_ROOT()                                                               \
  do {                                                                               \
    if (::geteuid() != 0) {                                                          \
      if (must_run()) FAIL() << "needs root (FW_TESTS_MUST_RUN=1 forbids skipping)"; \
      GTEST_SKIP() << "needs root (mknod of whiteouts, trusted.* xattrs)";           \
    }                                                                                \
  } while (0)

class Tree {
 public:
  Tree() {
    std::string t = (fs::temp_directory_path() / "fw_diff_test.XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp");
    root_ = t;
    ::chmod(root_.c_str(), 0755);
    for (const char* d : {"lower", "upper", "work", "merged"}) fs::create_directory(root_ / d);
  }
  ~Tree() {
    if (mounted_) ::umount2((root_ / "merged").c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;

  std::string lower() const { return (root_ / "lower").string(); }
  std::string upper() const { return (root_ / "upper").string(); }
  std::string merged() const { return (root_ / "merged").string(); }
  std::string at(const std::string& rel) const { return (root_ / rel).string(); }

  void file(const std::string& rel, const std::string& content, mode_t mode = 0644) {
    const std::string p = at(rel);
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << content;
    ::chmod(p.c_str(), mode);
  }
  void dir(const std::string& rel, mode_t mode = 0755) {
    fs::create_directories(at(rel));
    ::chmod(at(rel).c_str(), mode);
  }
  void symlink(const std::string& rel, const std::string& target) {
    fs::create_directories(fs::path(at(rel)).parent_path());
    ASSERT_EQ(::symlink(target.c_str(), at(rel).c_str()), 0) << rel;
  }
  void whiteout(const std::string& rel) {
    fs::create_directories(fs::path(at(rel)).parent_path());
    ASSERT_EQ(::mknod(at(rel).c_str(), S_IFCHR | 0, makedev(0, 0)), 0) << rel;
  }
  void xattr(const std::string& rel, const std::string& name, const std::string& value) {
    ASSERT_EQ(::lsetxattr(at(rel).c_str(), name.c_str(), value.data(), value.size(), 0), 0)
        << rel << " " << name << ": " << std::strerror(errno);
  }
  void mount(const std::string& extra = "") {
    std::string opts = "lowerdir=" + lower() + ",upperdir=" + upper() + ",workdir=" + at("work");
    if (!extra.empty()) opts += "," + extra;
    ASSERT_EQ(::mount("overlay", merged().c_str(), "overlay", 0, opts.c_str()), 0)
        << opts << ": " << std::strerror(errno);
    mounted_ = true;
  }
  void unmount() {
    ASSERT_EQ(::umount2(merged().c_str(), 0), 0) << std::strerror(errno);
    mounted_ = false;
  }

 private:
  fs::path root_;
  bool mounted_ = false;
};

struct Diff {
  std::vector<DiffEntry> entries;
  DiffStat stat;
  // "A /x" lines, in order.
  Strings lines() const {
    Strings out;
    for (const auto& e : entries)
      out.push_back(std::string(1, status_letter(e.status)) + " " + e.path);
    return out;
  }
  const DiffEntry* find(const std::string& path) const {
    for (const auto& e : entries) {
      if (e.path == path) return &e;
    }
    return nullptr;
  }
  // The entry of `path`; a test failure (and an empty entry) when there is none, so that a
  // missing entry is never dereferenced.
  const DiffEntry& entry(const std::string& path) const {
    if (const DiffEntry* e = find(path)) return *e;
    ADD_FAILURE() << "no diff entry for " << path;
    static const DiffEntry kNone{};
    return kNone;
  }
};

Diff diff_of(const Tree& t, DiffOptions o = {}) {
  Diff d;
  auto stat = compute_diff(t.upper(), t.lower(), o,
                           [&](DiffEntry&& e) { d.entries.push_back(std::move(e)); });
  EXPECT_TRUE(stat.ok()) << stat.error().message;
  if (stat.ok()) d.stat = *stat;
  return d;
}

// ---- without root -------------------------------------------------------------------------

TEST(NormalizeDiffPath, MakesPathsAbsoluteAndCanonical) {
  EXPECT_EQ(*normalize_diff_path(""), "/");
  EXPECT_EQ(*normalize_diff_path("/"), "/");
  EXPECT_EQ(*normalize_diff_path("etc//x/"), "/etc/x");
  EXPECT_EQ(*normalize_diff_path("/./etc/./x"), "/etc/x");
  EXPECT_EQ(normalize_diff_path("/etc/../x").error().code, EINVAL);
  EXPECT_EQ(normalize_diff_path(std::string("/a\0b", 4)).error().code, EINVAL);
}

TEST(ComputeDiff, PlainUpperFilesAreAddedOrModifiedWithTheirDetails) {
  Tree t;
  t.file("lower/etc/hostname", "firmware\n");
  t.file("lower/etc/same", "same size 1");
  t.file("lower/etc/mode", "x", 0644);
  t.symlink("lower/etc/link", "hostname");
  t.file("upper/etc/hostname", "instance-name\n");
  t.file("upper/etc/same", "same size 2");
  t.file("upper/etc/mode", "x", 0600);
  t.symlink("upper/etc/link", "same");
  t.file("upper/etc/new/deep/file", "12345");
  ::chmod(t.at("upper/etc").c_str(), 0755);
  ::chmod(t.at("lower/etc").c_str(), 0755);
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(), (Strings{"M /etc/hostname", "M /etc/link", "M /etc/mode", "A /etc/new",
                                "A /etc/new/deep", "A /etc/new/deep/file", "M /etc/same"}));
  const DiffEntry* h = d.find("/etc/hostname");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->changes, kChangeContent);
  EXPECT_EQ(h->before->size, 9u);
  EXPECT_EQ(h->after->size, 14u);
  EXPECT_EQ(d.entry("/etc/same").changes, kChangeContent);
  EXPECT_EQ(d.entry("/etc/mode").changes, kChangeMode);
  EXPECT_EQ(d.entry("/etc/mode").before->perm, 0644u);
  EXPECT_EQ(d.entry("/etc/mode").after->perm, 0600u);
  EXPECT_EQ(d.entry("/etc/link").before->target, "hostname");
  EXPECT_EQ(d.entry("/etc/link").after->target, "same");
  EXPECT_EQ(d.entry("/etc/new").after->type, FileType::kDir);
  EXPECT_EQ(d.stat.added, 3u);
  EXPECT_EQ(d.stat.modified, 4u);
  EXPECT_EQ(d.stat.bytes_added, 5u);
  EXPECT_EQ(d.stat.bytes_modified, 14u + 11u);
}

TEST(ComputeDiff, CopiedUpUnchangedEntriesAreCountedNotListed) {
  Tree t;
  t.file("lower/etc/a", "same");
  t.file("lower/etc/b", "other");
  t.file("upper/etc/a", "same");
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(), Strings{});
  EXPECT_EQ(d.stat.copied_up_unchanged, 1u);
  EXPECT_EQ(d.stat.entries(), 0u);
}

TEST(ComputeDiff, FiltersByPathAndWalksOnlyWhatLeadsThere) {
  Tree t;
  t.file("upper/a/x", "1");
  t.file("upper/a/y", "2");
  t.file("upper/ab", "3");
  t.file("upper/b/z", "4");
  DiffOptions o;
  o.paths = {"/a/x", "/b"};
  Diff d = diff_of(t, o);
  EXPECT_EQ(d.lines(), (Strings{"A /a/x", "A /b", "A /b/z"}));
  EXPECT_EQ(d.stat.added, 3u);
  o.paths = {"/a"};
  EXPECT_EQ(diff_of(t, o).lines(), (Strings{"A /a", "A /a/x", "A /a/y"}));
}

TEST(ComputeDiff, FiltersBelowATypeChangeListOnlyWhatIsBelow) {
  Tree t;
  t.file("lower/x", "was a file");
  t.file("upper/x/y", "y");
  t.file("upper/x/z", "z");
  DiffOptions o;
  o.paths = {"/x/y"};
  Diff d = diff_of(t, o);
  EXPECT_EQ(d.lines(), Strings{"A /x/y"});
  EXPECT_EQ(d.stat.type_changed, 0u);
}

TEST(ComputeDiff, OciWhiteoutNamesAreOrdinaryEntriesForTheKernel) {
  Tree t;
  t.file("lower/etc/x", "x");
  t.file("upper/etc/.wh.x", "");
  t.file("upper/etc/.wh..wh..opq", "");
  EXPECT_EQ(diff_of(t).lines(), (Strings{"A /etc/.wh..wh..opq", "A /etc/.wh.x"}));
}

TEST(ComputeDiff, MissingUpperIsAnError) {
  Tree t;
  auto r = compute_diff(t.at("nope"), t.lower(), {}, [](DiffEntry&&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
}

TEST(ComputeDiff, TypeChangesListWhatAppearsAndDisappearsBelow) {
  Tree t;
  t.file("lower/f2d", "was a file");
  t.file("lower/d2f/a", "1");
  t.file("lower/d2f/sub/b", "22");
  t.file("lower/f2l", "x");
  t.file("upper/f2d/new", "n");
  t.file("upper/d2f", "now a file");
  t.symlink("upper/f2l", "/target");
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(), (Strings{"T /d2f", "D /d2f/a", "D /d2f/sub", "D /d2f/sub/b", "T /f2d",
                                "A /f2d/new", "T /f2l"}));
  EXPECT_EQ(d.entry("/d2f").before->type, FileType::kDir);
  EXPECT_EQ(d.entry("/d2f").after->type, FileType::kFile);
  EXPECT_EQ(d.entry("/f2l").after->target, "/target");
  EXPECT_EQ(d.stat.type_changed, 3u);
  EXPECT_EQ(d.stat.deleted, 3u);
  EXPECT_EQ(d.stat.bytes_deleted, 10u + 1 + 2 + 1);  // f2d, d2f/a, d2f/sub/b, f2l
  EXPECT_EQ(d.stat.bytes_added, 10u + 1);            // d2f, f2d/new
}

// ---- with root: the overlay markers ------------------------------------------------------

TEST(ComputeDiffMarkers, WhiteoutsDeleteFilesAndWholeDirectories) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/etc/gone", "12345");
  t.file("lower/usr/share/doc/a", "a");
  t.file("lower/usr/share/doc/sub/b", "bb");
  t.file("lower/usr/keep", "k");
  t.whiteout("upper/etc/gone");
  t.dir("upper/usr/share");
  // Shared whiteouts: the kernel hard-links one whiteout inode (ovl_whiteout()).
  ASSERT_EQ(::link(t.at("upper/etc/gone").c_str(), t.at("upper/usr/share/doc").c_str()), 0)
      << std::strerror(errno);
  ::chmod(t.at("upper/usr").c_str(), 0755);
  ::chmod(t.at("upper/usr/share").c_str(), 0755);
  t.whiteout("upper/never-existed");
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(), (Strings{"D /etc/gone", "D /usr/share/doc", "D /usr/share/doc/a",
                                "D /usr/share/doc/sub", "D /usr/share/doc/sub/b"}));
  EXPECT_EQ(d.entry("/etc/gone").before->size, 5u);
  EXPECT_EQ(d.stat.deleted, 5u);
  EXPECT_EQ(d.stat.bytes_deleted, 5u + 1 + 2);
}

TEST(ComputeDiffMarkers, OpaqueDirectoriesHideEveryLowerChild) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/d/old", "o");
  t.file("lower/d/same", "s");
  t.file("lower/d/changed", "c1");
  t.file("lower/d/sub/deep", "dd");
  t.dir("upper/d");
  t.xattr("upper/d", "trusted.overlay.opaque", "y");
  t.file("upper/d/same", "s");
  t.file("upper/d/changed", "c2");
  t.file("upper/d/new", "n");
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(),
            (Strings{"M /d/changed", "A /d/new", "D /d/old", "D /d/sub", "D /d/sub/deep"}));
  EXPECT_EQ(d.stat.copied_up_unchanged, 1u);
}

TEST(ComputeDiffMarkers, RedirectedDirectoriesAreDeletedThenAddedWithTheirOrigin) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/old/a", "a");
  t.file("lower/old/hidden", "h");
  t.file("lower/old/sub/b", "b");
  t.file("lower/p/q/r", "r");
  // mv /old /new with redirect_dir=on: the dir is copied up (not its entries) with an
  // absolute redirect, a whiteout stays at the old name.
  t.whiteout("upper/old");
  t.dir("upper/new");
  t.xattr("upper/new", "trusted.overlay.redirect", "/old");
  t.whiteout("upper/new/hidden");
  t.file("upper/new/added", "+");
  // mv /p/q /p/q2 (same parent): a relative redirect.
  t.dir("upper/p");
  t.whiteout("upper/p/q");
  t.dir("upper/p/q2");
  t.xattr("upper/p/q2", "trusted.overlay.redirect", "q");
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(), (Strings{"A /new", "A /new/a", "A /new/added", "A /new/sub", "A /new/sub/b",
                                "D /old", "D /old/a", "D /old/hidden", "D /old/sub", "D /old/sub/b",
                                "D /p/q", "D /p/q/r", "A /p/q2", "A /p/q2/r"}));
  EXPECT_EQ(d.entry("/new").renamed_from, "/old");
  EXPECT_EQ(d.entry("/p/q2").renamed_from, "/p/q");
  EXPECT_EQ(d.entry("/new/a").renamed_from, "");
}

TEST(ComputeDiffMarkers, MetacopyIsAMetadataOnlyChange) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/bin/tool", "binary data", 0755);
  t.file("lower/bin/same", "same data", 0755);
  t.file("lower/bin/moved", "moved data", 0644);
  // chmod with metacopy=on: an empty upper file of the right size carrying the metadata.
  t.file("upper/bin/tool", "", 0700);
  ::truncate(t.at("upper/bin/tool").c_str(), 11);
  t.xattr("upper/bin/tool", "trusted.overlay.metacopy", "");
  t.file("upper/bin/same", "", 0755);
  ::truncate(t.at("upper/bin/same").c_str(), 9);
  t.xattr("upper/bin/same", "trusted.overlay.metacopy", "");
  // mv /bin/moved /bin/renamed after a chmod: the data is found through the redirect.
  t.whiteout("upper/bin/moved");
  t.file("upper/bin/renamed", "", 0600);
  ::truncate(t.at("upper/bin/renamed").c_str(), 10);
  t.xattr("upper/bin/renamed", "trusted.overlay.metacopy", "");
  t.xattr("upper/bin/renamed", "trusted.overlay.redirect", "moved");
  ::chmod(t.at("upper/bin").c_str(), 0755);
  ::chmod(t.at("lower/bin").c_str(), 0755);
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(), (Strings{"D /bin/moved", "A /bin/renamed", "M /bin/tool"}));
  EXPECT_EQ(d.entry("/bin/tool").changes, kChangeMode);
  EXPECT_TRUE(d.entry("/bin/tool").metacopy);
  EXPECT_EQ(d.stat.copied_up_unchanged, 1u);
  auto pair = open_file_pair(t.upper(), t.lower(), "/bin/renamed");
  ASSERT_TRUE(pair.ok()) << pair.error().message;
  char buf[32] = {};
  EXPECT_EQ(::read(pair->after_data.get(), buf, sizeof(buf)), 10);
  EXPECT_EQ(std::string(buf), "moved data");
}

TEST(ComputeDiffMarkers, XwhiteoutsCountOnlyInDirectoriesMarkedX) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/x/a", "a");
  t.file("lower/x/b", "b");
  t.file("lower/y/a", "a");
  t.dir("upper/x");
  t.xattr("upper/x", "trusted.overlay.opaque", "x");
  t.file("upper/x/a", "");
  t.xattr("upper/x/a", "trusted.overlay.whiteout", "");
  t.dir("upper/y");
  t.file("upper/y/a", "");
  t.xattr("upper/y/a", "trusted.overlay.whiteout", "");
  EXPECT_EQ(diff_of(t).lines(), (Strings{"D /x/a", "M /y/a"}));
}

TEST(ComputeDiffMarkers, UserxattrLayersUseTheUserPrefix) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/d/old", "o");
  t.dir("upper/d");
  t.xattr("upper/d", "user.overlay.opaque", "y");
  t.file("upper/f", "f");
  t.xattr("upper/f", "user.overlay.origin", "ignored");
  t.xattr("upper/f", "trusted.overlay.opaque", "y");  // not ours: an ordinary xattr here
  t.file("lower/f", "f");
  DiffOptions o;
  o.xattr_prefix = overlay::kUserPrefix;
  Diff d = diff_of(t, o);
  EXPECT_EQ(d.lines(), (Strings{"D /d/old", "M /f"}));
  EXPECT_EQ(d.entry("/f").xattrs, Strings{"trusted.overlay.opaque"});
}

TEST(ComputeDiffMarkers, XattrsAndOwnersAreCompared) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/a", "a");
  t.file("upper/a", "a");
  t.xattr("upper/a", "user.note", "v");
  t.xattr("upper/a", "trusted.overlay.origin", "private");  // the overlay's: never compared
  t.file("lower/o", "o");
  t.file("upper/o", "o");
  ASSERT_EQ(::lchown(t.at("upper/o").c_str(), 1000, 1001), 0);
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(), (Strings{"M /a", "M /o"}));
  EXPECT_EQ(d.entry("/a").changes, kChangeXattrs);
  EXPECT_EQ(d.entry("/a").xattrs, Strings{"user.note"});
  EXPECT_EQ(d.entry("/o").changes, kChangeOwner);
  EXPECT_EQ(d.entry("/o").after->uid, 1000u);
  EXPECT_EQ(d.entry("/o").after->gid, 1001u);
}

TEST(ComputeDiffMarkers, SpecialFilesCompareTypeAndDeviceNumbers) {
  REQUIRE_ROOT();
  Tree t;
  ASSERT_EQ(::mknod(t.at("lower/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(::mknod(t.at("upper/null").c_str(), S_IFCHR | 0666, makedev(1, 5)), 0);
  ASSERT_EQ(::mknod(t.at("upper/fifo").c_str(), S_IFIFO | 0644, 0), 0);
  ASSERT_EQ(::mknod(t.at("upper/blk").c_str(), S_IFBLK | 0600, makedev(7, 0)), 0);
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(), (Strings{"A /blk", "A /fifo", "M /null"}));
  EXPECT_EQ(d.entry("/null").changes, kChangeContent);
  EXPECT_EQ(d.entry("/null").after->rdev, makedev(1, 5));
  EXPECT_EQ(d.entry("/fifo").after->type, FileType::kFifo);
  EXPECT_EQ(d.entry("/blk").after->type, FileType::kBlock);
}

TEST(OpenFilePair, OpensBothSidesThroughTheMarkers) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/etc/a", "before");
  t.file("upper/etc/a", "after");
  t.file("lower/gone/x", "x");
  t.whiteout("upper/gone");
  t.file("upper/etc/new", "n");
  auto a = open_file_pair(t.upper(), t.lower(), "/etc/a");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->before->size, 6u);
  EXPECT_EQ(a->after->size, 5u);
  EXPECT_TRUE(a->before_data.valid() && a->after_data.valid());
  auto gone = open_file_pair(t.upper(), t.lower(), "/gone/x");
  ASSERT_TRUE(gone.ok()) << gone.error().message;
  EXPECT_TRUE(gone->before.has_value());
  EXPECT_FALSE(gone->after.has_value());
  auto added = open_file_pair(t.upper(), t.lower(), "/etc/new");
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(added->before.has_value());
  EXPECT_EQ(open_file_pair(t.upper(), t.lower(), "/etc").error().code, EISDIR);
  EXPECT_EQ(open_file_pair(t.upper(), t.lower(), "/nope").error().code, ENOENT);
}

// ---- export ------------------------------------------------------------------------------

std::string shell(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; p != nullptr && (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  if (p != nullptr) ::pclose(p);
  return out;
}

Strings tar_names(const std::string& tar) {
  Strings names;
  std::istringstream in(shell("tar -tf '" + tar + "'"));
  for (std::string l; std::getline(in, l);) names.push_back(l);
  return names;
}

ExportStat export_to(const std::string& tar, const std::function<Result<ExportStat>(int)>& f) {
  Fd fd(::open(tar.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  EXPECT_TRUE(fd.valid());
  auto r = f(fd.get());
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : ExportStat{};
}

TEST(ExportChanges, WritesTheUpperLayerWithOciWhiteouts) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/etc/gone", "g");
  t.file("lower/etc/kept", "k");
  t.file("lower/d/old", "o");
  t.file("lower/src/a", "from the firmware");
  t.file("lower/src/hidden", "h");
  t.file("lower/bin/tool", "tool data", 0755);
  t.file("upper/etc/new", "n");
  t.whiteout("upper/etc/gone");
  t.dir("upper/d");
  t.xattr("upper/d", "trusted.overlay.opaque", "y");
  t.file("upper/d/fresh", "f");
  t.whiteout("upper/src");
  t.dir("upper/dst");
  t.xattr("upper/dst", "trusted.overlay.redirect", "/src");
  t.whiteout("upper/dst/hidden");
  t.file("upper/bin/tool", "", 0700);
  ::truncate(t.at("upper/bin/tool").c_str(), 9);
  t.xattr("upper/bin/tool", "trusted.overlay.metacopy", "");
  ASSERT_EQ(::link(t.at("upper/etc/new").c_str(), t.at("upper/etc/new-link").c_str()), 0);
  const std::string tar = t.at("changes.tar");
  ExportStat st = export_to(tar, [&](int fd) { return export_changes(t.upper(), t.lower(), fd); });
  EXPECT_EQ(tar_names(tar), (Strings{"bin/", "bin/tool", "d/", "d/.wh..wh..opq", "d/fresh", "dst/",
                                     "dst/.wh..wh..opq", "dst/a", "etc/", "etc/.wh.gone", "etc/new",
                                     "etc/new-link", ".wh.src"}));
  EXPECT_EQ(st.whiteouts, 4u);
  EXPECT_EQ(st.entries, 13u);
  EXPECT_GT(st.bytes, 0u);
  EXPECT_EQ(shell("tar -xOf '" + tar + "' bin/tool"), "tool data");
  EXPECT_EQ(shell("tar -xOf '" + tar + "' dst/a"), "from the firmware");
  EXPECT_NE(shell("tar -tvf '" + tar + "' etc/new-link").find("link to etc/new"),
            std::string::npos);
  EXPECT_NE(shell("tar -tvf '" + tar + "' bin/tool").find("-rwx------"), std::string::npos);
}

// fuzz_overlay_reader found a redirect of "/.." merging the directory above the lower layer
// (the diff listed upper/, lower/, ... of the test tree). The kernel's lookup refuses "."
// and ".." components: such a redirect is not followed.
TEST(ComputeDiffMarkers, RedirectsWithDotDotAreNotFollowed) {
  REQUIRE_ROOT();
  Tree t;
  t.file("lower/a/x", "x");
  t.dir("upper/up");
  t.xattr("upper/up", "trusted.overlay.redirect", "/..");
  t.dir("upper/rel");
  t.xattr("upper/rel", "trusted.overlay.redirect", "..");
  t.dir("upper/a");
  t.dir("upper/a/deep");
  t.xattr("upper/a/deep", "trusted.overlay.redirect", "/a/../..");
  Diff d = diff_of(t);
  EXPECT_EQ(d.lines(), (Strings{"A /a/deep", "A /rel", "A /up"}));
  const std::string tar = t.at("changes.tar");
  export_to(tar, [&](int fd) { return export_changes(t.upper(), t.lower(), fd); });
  for (const auto& name : tar_names(tar)) {
    EXPECT_EQ(name.find("lower"), std::string::npos) << name;
    EXPECT_EQ(name.find("upper"), std::string::npos) << name;
  }
}

TEST(ExportTree, WritesEveryEntryKeepingXattrsAndSkippingSockets) {
  REQUIRE_ROOT();
  Tree t;
  t.file("merged/etc/hostname", "name\n");
  t.symlink("merged/bin/sh", "busybox");
  t.xattr("merged/etc/hostname", "user.tag", "v");
  ASSERT_EQ(::mknod(t.at("merged/fifo").c_str(), S_IFIFO | 0644, 0), 0);
  ASSERT_EQ(::mknod(t.at("merged/sock").c_str(), S_IFSOCK | 0644, 0), 0);
  const std::string tar = t.at("full.tar");
  ExportStat st = export_to(tar, [&](int fd) { return export_tree(t.merged(), fd); });
  EXPECT_EQ(tar_names(tar), (Strings{"bin/", "bin/sh", "etc/", "etc/hostname", "fifo"}));
  EXPECT_EQ(st.skipped, 1u);
  EXPECT_NE(shell("tar --xattrs --xattrs-include='*' -tvvf '" + tar + "'").find("user.tag"),
            std::string::npos);
}

// ---- with root: against the kernel ---------------------------------------------------------

// The reference: every path of both trees, compared as the diff promises (type, mode,
// owner, content, target, device, xattrs), walking everything.
struct RefNode {
  struct stat st {};
  std::string content;  // file bytes or symlink target
  std::map<std::string, std::string> xattrs;
};

std::map<std::string, RefNode> scan(const std::string& root) {
  std::map<std::string, RefNode> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string p = it->path().string();
    RefNode n;
    ::lstat(p.c_str(), &n.st);
    if (S_ISREG(n.st.st_mode)) {
      // read_small_file, not an istreambuf_iterator: GCC 12 at -O2 reports a "potential null
      // pointer dereference" inside libstdc++'s streambuf for the latter.
      auto bytes = read_small_file(p, 64u << 20);
      EXPECT_TRUE(bytes.ok()) << bytes.error().message;
      if (bytes.ok()) n.content = std::move(*bytes);
    } else if (S_ISLNK(n.st.st_mode)) {
      n.content = fs::read_symlink(p).string();
    }
    char names[4096];
    ssize_t len = ::llistxattr(p.c_str(), names, sizeof(names));
    for (ssize_t i = 0; i < len;) {
      std::string k(names + i);
      i += static_cast<ssize_t>(k.size()) + 1;
      if (k.rfind("trusted.overlay.", 0) == 0) continue;  // the lower's own private ones
      char v[4096];
      ssize_t vl = ::lgetxattr(p.c_str(), k.c_str(), v, sizeof(v));
      n.xattrs[k] = std::string(v, static_cast<size_t>(std::max<ssize_t>(vl, 0)));
    }
    out[p.substr(root.size())] = std::move(n);
  }
  return out;
}

Strings reference_diff(const std::string& lower, const std::string& merged) {
  auto a = scan(lower), b = scan(merged);
  std::set<std::string> paths;
  for (auto& [p, n] : a) paths.insert(p);
  for (auto& [p, n] : b) paths.insert(p);
  Strings out;
  for (const auto& p : paths) {
    auto ia = a.find(p), ib = b.find(p);
    if (ia == a.end()) {
      out.push_back("A " + p);
    } else if (ib == b.end()) {
      out.push_back("D " + p);
    } else {
      const RefNode &x = ia->second, &y = ib->second;
      if ((x.st.st_mode & S_IFMT) != (y.st.st_mode & S_IFMT)) {
        out.push_back("T " + p);
      } else if ((x.st.st_mode & 07777) != (y.st.st_mode & 07777) || x.st.st_uid != y.st.st_uid ||
                 x.st.st_gid != y.st.st_gid || x.content != y.content || x.xattrs != y.xattrs ||
                 ((S_ISCHR(x.st.st_mode) || S_ISBLK(x.st.st_mode)) &&
                  x.st.st_rdev != y.st.st_rdev)) {
        out.push_back("M " + p);
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& l, const std::string& r) { return l.substr(2) < r.substr(2); });
  return out;
}

Strings sorted_by_path(Strings lines) {
  std::sort(lines.begin(), lines.end(),
            [](const std::string& l, const std::string& r) { return l.substr(2) < r.substr(2); });
  return lines;
}

void populate_lower(Tree& t) {
  t.file("lower/etc/hostname", "firmware\n");
  t.file("lower/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  t.file("lower/etc/untouched", "u");
  t.file("lower/etc/chmod", "c", 0644);
  t.file("lower/etc/chown", "o");
  t.file("lower/etc/rename-me", "r");
  t.file("lower/etc/touched", "t");
  t.file("lower/data/dir/a", "a");
  t.file("lower/data/dir/sub/b", "b");
  t.file("lower/data/gone/c", "c");
  t.file("lower/data/recreate/d", "d");
  t.file("lower/data/f2d", "f");
  t.file("lower/data/d2f/e", "e");
  t.file("lower/data/mvdir/m/n", "n");
  t.file("lower/bin/tool", "binary\0data", 0755);
  t.symlink("lower/bin/sh", "busybox");
  t.file("lower/bin/busybox", "bb", 0755);
  t.file("lower/lib/linked", "hard");
  ASSERT_EQ(::link(t.at("lower/lib/linked").c_str(), t.at("lower/lib/linked2").c_str()), 0);
}

// What a session inside an instance does, through the mount.
void change_through(Tree& t, bool rename_dirs_in_place) {
  const std::string m = t.merged();
  auto w = [&](const std::string& rel, const std::string& s) {
    std::ofstream(m + "/" + rel, std::ios::binary | std::ios::trunc) << s;
  };
  w("etc/hostname", "instance\n");
  w("etc/new", "new file");
  ASSERT_EQ(::chmod((m + "/etc/chmod").c_str(), 0600), 0);
  ASSERT_EQ(::chown((m + "/etc/chown").c_str(), 1000, 1000), 0);
  ASSERT_EQ(::rename((m + "/etc/rename-me").c_str(), (m + "/etc/renamed").c_str()), 0);
  { std::ofstream(m + "/etc/touched", std::ios::app); }         // opened for writing, unchanged
  ASSERT_EQ(::chmod((m + "/etc/untouched").c_str(), 0644), 0);  // chmod to its own mode
  fs::remove_all(m + "/data/gone");
  fs::remove_all(m + "/data/recreate");
  fs::create_directory(m + "/data/recreate");
  w("data/recreate/d", "d");
  w("data/recreate/e", "e");
  fs::remove(m + "/data/f2d");
  fs::create_directory(m + "/data/f2d");
  fs::remove_all(m + "/data/d2f");
  w("data/d2f", "now a file");
  if (rename_dirs_in_place) {
    ASSERT_EQ(::rename((m + "/data/mvdir").c_str(), (m + "/data/moved").c_str()), 0)
        << std::strerror(errno);
    ASSERT_EQ(::rename((m + "/data/dir/sub").c_str(), (m + "/etc/sub").c_str()), 0)
        << std::strerror(errno);
  } else {
    // Without redirect_dir, rename(2) of a lower dir fails with EXDEV (mv then copies).
    EXPECT_EQ(::rename((m + "/data/mvdir").c_str(), (m + "/data/moved").c_str()), -1);
    EXPECT_EQ(errno, EXDEV);
  }
  fs::remove(m + "/bin/sh");
  ASSERT_EQ(::symlink("/bin/busybox", (m + "/bin/sh").c_str()), 0);
  ASSERT_EQ(::link((m + "/lib/linked").c_str(), (m + "/lib/linked3").c_str()), 0);
  ASSERT_EQ(::mknod((m + "/etc/fifo").c_str(), S_IFIFO | 0644, 0), 0);
  ASSERT_EQ(::lsetxattr((m + "/etc/passwd").c_str(), "user.tag", "1", 1, 0), 0)
      << std::strerror(errno);
  ASSERT_EQ(::chmod((m + "/bin/tool").c_str(), 0700), 0);  // metacopy when enabled
}

void expect_matches_kernel(const std::string& options, bool rename_dirs_in_place) {
  Tree t;
  populate_lower(t);
  t.mount(options);
  change_through(t, rename_dirs_in_place);
  const Strings want = reference_diff(t.lower(), t.merged());
  // Offline and online alike: the upper dir is the whole story.
  Diff mounted = diff_of(t);
  EXPECT_EQ(sorted_by_path(mounted.lines()), want) << "overlay options: " << options;
  EXPECT_GE(want.size(), 15u);
  if (std::getenv("FW_DIFF_TEST_VERBOSE") != nullptr) {
    for (const auto& l : mounted.lines()) std::cerr << options << ": " << l << "\n";
  }
  t.unmount();
  Diff offline = diff_of(t);
  EXPECT_EQ(offline.lines(), mounted.lines());
  EXPECT_GE(offline.stat.copied_up_unchanged, 2u);  // touched, untouched
  if (options.find("metacopy=on") != std::string::npos) {
    ASSERT_NE(offline.find("/bin/tool"), nullptr);
    EXPECT_TRUE(offline.entry("/bin/tool").metacopy);
    EXPECT_EQ(offline.entry("/bin/tool").changes, kChangeMode);
  }
}

TEST(ComputeDiffKernel, MatchesTheMergedTreeWithDefaultOptions) {
  REQUIRE_ROOT();
  expect_matches_kernel("", false);
}

TEST(ComputeDiffKernel, MatchesTheMergedTreeWithRedirectDirAndMetacopy) {
  REQUIRE_ROOT();
  expect_matches_kernel("redirect_dir=on,metacopy=on", true);
}

TEST(ComputeDiffKernel, MatchesTheMergedTreeWithIndex) {
  REQUIRE_ROOT();
  expect_matches_kernel("redirect_dir=on,index=on", true);
}

}  // namespace
}  // namespace fw::core
