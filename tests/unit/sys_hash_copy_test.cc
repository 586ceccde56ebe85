#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "firmwared/base/fd.h"
#include "firmwared/sys/hash_copy.h"
#include "firmwared/sys/sha1.h"

namespace fw::sys {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/fwtest-sys.XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
    fd_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  int fd() const { return fd_.get(); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      out.push_back(e.path().filename());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::string path_;
  Fd fd_;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_random(const std::string& path, size_t size) {
  std::mt19937_64 rng(7);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << data;
}

std::string sha1sum(const std::string& path) {
  std::string out;
  FILE* p = ::popen(("sha1sum '" + path + "'").c_str(), "r");
  if (p == nullptr) return out;
  char buf[128];
  if (std::fgets(buf, sizeof buf, p) != nullptr) out = buf;
  ::pclose(p);
  return out.substr(0, 40);
}

Fd open_ro(const std::string& path) { return Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)); }

TEST(Sha1Hex, KnownVectors) {
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1_hex("The quick brown fox jumps over the lazy dog"),
            "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
  EXPECT_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Sha1OfFd, MatchesSha1sumAndKeepsTheOffset) {
  TempDir dir;
  write_random(dir / "src", 3 * 1024 * 1024 + 17);
  Fd src = open_ro(dir / "src");
  ASSERT_EQ(::lseek(src.get(), 99, SEEK_SET), 99);
  auto r = sha1_of_fd(src.get(), nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, sha1sum(dir / "src"));
  EXPECT_EQ(::lseek(src.get(), 0, SEEK_CUR), 99);
}

TEST(Sha1OfFd, EmptyFileReportsDoneEqualsTotalZero) {
  TempDir dir;
  std::ofstream(dir / "empty").close();
  Fd src = open_ro(dir / "empty");
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  auto r = sha1_of_fd(src.get(), [&](uint64_t done, uint64_t total) {
    calls.push_back({done, total});
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, sha1_hex(""));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_pair(uint64_t{0}, uint64_t{0}));
}

TEST(CopyWithSha1, CopiesAndHashesInOnePass) {
  TempDir dir;
  const size_t size = 5 * 1024 * 1024;
  write_random(dir / "src", size);
  Fd src = open_ro(dir / "src");
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  auto r = copy_with_sha1(src.get(), dir.fd(), "copy.tmp", [&](uint64_t done, uint64_t total) {
    calls.push_back({done, total});
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, sha1sum(dir / "src"));
  EXPECT_EQ(read_all(dir / "copy.tmp"), read_all(dir / "src"));
  struct stat st {};
  ASSERT_EQ(::stat((dir / "copy.tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  ASSERT_FALSE(calls.empty());
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].second, size);
    EXPECT_LE(calls[i].first, calls[i].second);
    if (i > 0) {
      EXPECT_GT(calls[i].first, calls[i - 1].first);
    }
  }
  EXPECT_EQ(calls.back().first, size);
}

TEST(CopyWithSha1, CancelRemovesTheTemporaryFile) {
  TempDir dir;
  write_random(dir / "src", 5 * 1024 * 1024);
  Fd src = open_ro(dir / "src");
  int calls = 0;
  auto r = copy_with_sha1(src.get(), dir.fd(), "copy.tmp",
                          [&](uint64_t, uint64_t) { return ++calls < 2; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ECANCELED);
  EXPECT_NE(r.error().message.find(dir / "copy.tmp"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("byte 2097152"), std::string::npos) << r.error().message;
  EXPECT_EQ(dir.names(), std::vector<std::string>{"src"});
}

TEST(CopyWithSha1, ReadErrorRemovesTheTemporaryFile) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0755), 0);
  // read(2) of a directory fails with EISDIR: a read error after the copy was created.
  Fd src(::open((dir / "sub").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto r = copy_with_sha1(src.get(), dir.fd(), "copy.tmp", nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EISDIR);
  EXPECT_NE(r.error().message.find("reading at byte 0"), std::string::npos) << r.error().message;
  EXPECT_EQ(dir.names(), std::vector<std::string>{"sub"});
}

TEST(CopyWithSha1, ExistingTemporaryNameIsLeftAlone) {
  TempDir dir;
  write_random(dir / "src", 1000);
  std::ofstream(dir / "copy.tmp") << "someone else's";
  Fd src = open_ro(dir / "src");
  auto r = copy_with_sha1(src.get(), dir.fd(), "copy.tmp", nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EEXIST);
  EXPECT_EQ(read_all(dir / "copy.tmp"), "someone else's");
}

// The copy and its hash equal a one-pass reference (sha1_hex of the whole content) at
// every boundary of the chunking: empty, one byte, a chunk less one, a chunk, a chunk and
// one byte, several chunks and a tail.
TEST(CopyWithSha1, MatchesAOnePassReferenceAtEveryChunkBoundary) {
  for (size_t size : {size_t{0}, size_t{1}, kHashCopyChunk - 1, kHashCopyChunk, kHashCopyChunk + 1,
                      5 * kHashCopyChunk + 12345}) {
    SCOPED_TRACE("size " + std::to_string(size));
    TempDir dir;
    write_random(dir / "src", size);
    const std::string content = read_all(dir / "src");
    ASSERT_EQ(content.size(), size);
    Fd src = open_ro(dir / "src");
    uint64_t last_done = 0, last_total = 1;
    auto r = copy_with_sha1(src.get(), dir.fd(), "copy.tmp", [&](uint64_t done, uint64_t total) {
      last_done = done;
      last_total = total;
      return true;
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, sha1_hex(content));
    EXPECT_EQ(read_all(dir / "copy.tmp"), content);
    EXPECT_EQ(last_done, size);
    EXPECT_EQ(last_total, size);

    auto h = sha1_of_fd(src.get(), nullptr);
    ASSERT_TRUE(h.ok()) << h.error().message;
    EXPECT_EQ(*h, sha1_hex(content));
  }
}

// From another filesystem type (tmpfs to /tmp's), copy_file_range(2) refuses (EXDEV) or
// is not used: the read+write path copies and hashes the same.
TEST(CopyWithSha1, CopiesFromAnotherFilesystem) {
  if (::access("/dev/shm", W_OK) != 0) GTEST_SKIP() << "no writable /dev/shm";
  TempDir dir;
  const std::string src_path = "/dev/shm/fwtest-hash-copy-" + std::to_string(::getpid());
  write_random(src_path, 3 * kHashCopyChunk + 7);
  const std::string content = read_all(src_path);
  Fd src = open_ro(src_path);
  ::unlink(src_path.c_str());
  auto r = copy_with_sha1(src.get(), dir.fd(), "copy.tmp", nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, sha1_hex(content));
  EXPECT_EQ(read_all(dir / "copy.tmp"), content);
}

// A write error mid-copy: RLIMIT_FSIZE makes the kernel refuse to grow the copy past
// 2.5 MiB (EFBIG, setrlimit(2); SIGXFSZ ignored so the write fails instead of killing the
// test). The error names the step and the copy, and no half file is left.
TEST(CopyWithSha1, WriteErrorFailsClearlyAndLeavesNoHalfFile) {
  TempDir dir;
  write_random(dir / "src", 5 * kHashCopyChunk);
  Fd src = open_ro(dir / "src");
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 5 * kHashCopyChunk / 2;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = copy_with_sha1(src.get(), dir.fd(), "copy.tmp", nullptr);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EFBIG) << r.error().message;
  EXPECT_NE(r.error().message.find("writing at byte 2621440"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find(dir / "copy.tmp"), std::string::npos) << r.error().message;
  EXPECT_EQ(dir.names(), std::vector<std::string>{"src"});
}

// A source that fails after some data was copied (no read(2) error can be made at a given
// offset without root, so the source is truncated while it is copied): the copy fails
// with EAGAIN naming the sizes, and no half file is left.
TEST(CopyWithSha1, SourceShrinkingMidCopyFailsAndLeavesNoHalfFile) {
  TempDir dir;
  write_random(dir / "src", 4 * kHashCopyChunk);
  Fd src = open_ro(dir / "src");
  int calls = 0;
  auto r = copy_with_sha1(src.get(), dir.fd(), "copy.tmp", [&](uint64_t, uint64_t) {
    if (++calls == 1) {
      EXPECT_EQ(::truncate((dir / "src").c_str(), 2 * kHashCopyChunk), 0);
    }
    return true;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EAGAIN) << r.error().message;
  EXPECT_NE(r.error().message.find("changed size"), std::string::npos) << r.error().message;
  EXPECT_EQ(dir.names(), std::vector<std::string>{"src"});
}

TEST(Publish, RenamesWithoutReplacing) {
  TempDir dir;
  std::ofstream(dir / "a.tmp") << "new";
  ASSERT_TRUE(publish(dir.fd(), "a.tmp", "final").ok());
  EXPECT_EQ(dir.names(), std::vector<std::string>{"final"});
  EXPECT_EQ(read_all(dir / "final"), "new");

  std::ofstream(dir / "b.tmp") << "newer";
  Status st = publish(dir.fd(), "b.tmp", "final");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EEXIST);
  EXPECT_NE(st.error().message.find("final"), std::string::npos) << st.error().message;
  EXPECT_EQ(read_all(dir / "final"), "new");
  EXPECT_EQ(dir.names(), (std::vector<std::string>{"b.tmp", "final"}));

  discard(dir.fd(), "b.tmp");
  discard(dir.fd(), "b.tmp");  // already gone: still fine
  EXPECT_EQ(dir.names(), std::vector<std::string>{"final"});
}

TEST(Publish, MissingTemporaryIsEnoent) {
  TempDir dir;
  Status st = publish(dir.fd(), "nope.tmp", "final");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ENOENT);
}

}  // namespace
}  // namespace fw::sys
