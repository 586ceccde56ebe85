// host::run_archive_helper: the daemon's side of firmwared-archive. Fake helpers (shell
// scripts) check what the daemon makes of every way a helper can end; the real helper,
// when built, writes a tar the tests read back.
#include "firmwared/host/archive_helper.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "firmwared/base/fd.h"
#include "firmwared/core/export.h"

namespace fw::host {
namespace {

class ArchiveHelper : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/fwtest.archive.XXXXXX";
    ASSERT_NE(::mkdtemp(t), nullptr);
    dir_ = t;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // A fake helper: `body` run by /bin/sh with the helper's arguments.
  std::string script(const std::string& body) {
    const std::string path = dir_ + "/helper";
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }
  Fd out() {
    Fd fd(::open((dir_ + "/out.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    EXPECT_TRUE(fd.valid());
    return fd;
  }
  std::string read(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string dir_;
};

const ArchiveJob kChanges{false, "/up per", "/low", "/merged"};

TEST_F(ArchiveHelper, CommandLinesOfBothModes) {
  EXPECT_EQ(archive_helper_argv("/h", kChanges),
            (std::vector<std::string>{"/h", "changes", "/up per", "/low"}));
  EXPECT_EQ(archive_helper_argv("/h", {true, "/u", "/l", "/m"}),
            (std::vector<std::string>{"/h", "full", "/m"}));
}

TEST_F(ArchiveHelper, TheCountsOfACompleteArchiveAndItsDataOnTheOutput) {
  // Its arguments and the descriptors it got: 1 the output, 3 the report, nothing else.
  const std::string h =
      script("printf '%s|' \"$@\" >&1; ls /proc/self/fd | sort -n | tr '\\n' ' ' >" + dir_ +
             "/fds; echo 'ok 7 2 1 4096' >&3");
  Fd o = out();
  auto r = run_archive_helper(h, kChanges, o.get());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->entries, 7u);
  EXPECT_EQ(r->whiteouts, 2u);
  EXPECT_EQ(r->skipped, 1u);
  EXPECT_EQ(r->bytes, 4096u);
  EXPECT_EQ(read("out.tar"), "changes|/up per|/low|");
  // 0-3, and the one ls opens to list them.
  EXPECT_EQ(read("fds").substr(0, 8), "0 1 2 3 ");
  EXPECT_LE(read("fds").size(), 10u);
  EXPECT_TRUE(o.valid());  // the caller's descriptor stays open
}

TEST_F(ArchiveHelper, TheHelpersErrorComesBackWithItsErrno) {
  const std::string h = script("echo 'error 28 writing%20the%20data%20of%20%27a%27' >&3; exit 1");
  Fd o = out();
  auto r = run_archive_helper(h, kChanges, o.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOSPC);
  EXPECT_EQ(r.error().message, "writing the data of 'a'");
}

TEST_F(ArchiveHelper, EndingWithoutAReportIsEioNamingHow) {
  Fd o = out();
  auto crashed = run_archive_helper(script("kill -SEGV $$"), kChanges, o.get());
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.error().code, EIO);
  EXPECT_NE(crashed.error().message.find("without a report (killed by signal 11)"),
            std::string::npos)
      << crashed.error().message;
  auto silent = run_archive_helper(script("exit 0"), kChanges, o.get());
  ASSERT_FALSE(silent.ok());
  EXPECT_NE(silent.error().message.find("without a report (exit status 0)"), std::string::npos)
      << silent.error().message;
  auto missing = run_archive_helper(dir_ + "/no-such-helper", kChanges, o.get());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, EIO);
  EXPECT_NE(missing.error().message.find(dir_ + "/no-such-helper"), std::string::npos);
  EXPECT_NE(missing.error().message.find("could not be executed"), std::string::npos)
      << missing.error().message;
}

TEST_F(ArchiveHelper, ABadOrContradictoryReportIsAnError) {
  Fd o = out();
  auto bad = run_archive_helper(script("echo 'ok 1 2' >&3"), kChanges, o.get());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, EPROTO);
  auto failed = run_archive_helper(script("echo 'ok 1 2 3 4' >&3; exit 3"), kChanges, o.get());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, EIO);
  EXPECT_NE(failed.error().message.find("exit status 3"), std::string::npos);
}

// A process that keeps a copy of the report pipe open (as one forked meanwhile by another
// thread would) does not hold the wait once the helper is gone.
TEST_F(ArchiveHelper, TheHelpersExitEndsTheWait) {
  Fd o = out();
  auto r = run_archive_helper(
      script("echo 'ok 1 0 0 512' >&3; sleep 30 & echo $! >" + dir_ + "/bg; exit 0"), kChanges,
      o.get());
  const pid_t bg = static_cast<pid_t>(std::atol(read("bg").c_str()));
  if (bg > 0) ::kill(bg, SIGKILL);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->entries, 1u);
}

#ifdef FW_ARCHIVE_HELPER
TEST_F(ArchiveHelper, TheRealHelperWritesTheTree) {
  ASSERT_EQ(std::system(("mkdir -p " + dir_ + "/tree/etc && echo hi >" + dir_ +
                         "/tree/etc/hostname && ln -s hostname " + dir_ + "/tree/etc/link")
                            .c_str()),
            0);
  Fd o = out();
  auto r = run_archive_helper(FW_ARCHIVE_HELPER, {true, "", "", dir_ + "/tree"}, o.get());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->entries, 3u);
  EXPECT_GT(r->bytes, 0u);
  struct stat st {};
  ASSERT_EQ(::fstat(o.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), r->bytes);
  FILE* p = ::popen(("tar -tf " + dir_ + "/out.tar | sort").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string names;
  for (int c; (c = std::fgetc(p)) != EOF;) names += static_cast<char>(c);
  ::pclose(p);
  EXPECT_EQ(names, "etc/\netc/hostname\netc/link\n");
  // Byte for byte the tar the same code writes in this process to a file: the helper's
  // descriptor 1 changes nothing (libarchive pads a descriptor 1 unless told otherwise).
  {
    Fd same(::open((dir_ + "/same.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(same.valid());
    auto in_process = core::export_tree(dir_ + "/tree", same.get());
    ASSERT_TRUE(in_process.ok()) << in_process.error().message;
    EXPECT_EQ(in_process->bytes, r->bytes);
  }
  EXPECT_EQ(read("same.tar"), read("out.tar"));
  // A tree that is not there: the helper's own error, naming it.
  auto gone = run_archive_helper(FW_ARCHIVE_HELPER, {true, "", "", dir_ + "/gone"}, o.get());
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ENOENT);
  EXPECT_NE(gone.error().message.find(dir_ + "/gone"), std::string::npos) << gone.error().message;
  // A usage error.
  auto usage = run_archive_helper(FW_ARCHIVE_HELPER, {false, "", "", ""}, o.get());
  ASSERT_FALSE(usage.ok());
}

// The helper reads under a seccomp filter that refuses every write and escape: its own
// check (writes, unlink, rename, chmod, mkdir, fork, socket, execve refused; reads work).
TEST_F(ArchiveHelper, TheRealHelperChangesNothing) {
  const std::string cmd = std::string(FW_ARCHIVE_HELPER) + " check-read-only " + dir_ + " 3>" +
                          dir_ + "/report </dev/null >/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << read("report");
  EXPECT_EQ(read("report"), "ok 0 0 0 0\n");
  struct stat st {};
  EXPECT_EQ(::stat((dir_ + "/existing").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_NE(::stat((dir_ + "/created").c_str(), &st), 0);
}
#endif

}  // namespace
}  // namespace fw::host
