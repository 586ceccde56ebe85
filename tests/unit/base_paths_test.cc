#include "firmwared/base/paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace fw {
namespace {

TEST(IsBelow, ADirectoryHoldsItselfAndWholeComponentsBelowIt) {
  EXPECT_TRUE(is_below("/a/b", "/a/b"));
  EXPECT_TRUE(is_below("/a/b/c", "/a/b"));
  EXPECT_TRUE(is_below("/a/b/c/d", "/a/b"));
  EXPECT_FALSE(is_below("/a/bc", "/a/b"));
  EXPECT_FALSE(is_below("/a", "/a/b"));
  EXPECT_FALSE(is_below("/x/b", "/a/b"));
}

TEST(IsBelow, RootHoldsEveryAbsolutePathItselfIncluded) {
  EXPECT_TRUE(is_below("/", "/"));
  EXPECT_TRUE(is_below("/x", "/"));
  EXPECT_TRUE(is_below("/x/y", "/"));
}

// A directory that failed to resolve ("" or relative) must never match the host's mounts.
TEST(IsBelow, RelativeOrEmptyPathsAreBelowNothing) {
  EXPECT_FALSE(is_below("", "/"));
  EXPECT_FALSE(is_below("x", "/"));
  EXPECT_FALSE(is_below("/x", ""));
  EXPECT_FALSE(is_below("/", ""));
  EXPECT_FALSE(is_below("a/b", "a"));
  EXPECT_FALSE(is_below("", ""));
}

TEST(CanonicalDir, DropsTrailingSlashesAndResolvesSymlinks) {
  EXPECT_EQ(canonical_dir("/"), "/");
  EXPECT_EQ(canonical_dir("///"), "/");
  EXPECT_EQ(canonical_dir("/no/such/dir/"), "/no/such/dir");

  char tmpl[] = "/tmp/fw-paths-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  char* real = ::realpath(tmpl, nullptr);
  ASSERT_NE(real, nullptr);
  const std::string real_dir = real;
  std::free(real);
  ASSERT_EQ(::mkdir((dir + "/d").c_str(), 0700), 0);
  ASSERT_EQ(::symlink("d", (dir + "/link").c_str()), 0);
  EXPECT_EQ(canonical_dir(dir + "/link/"), real_dir + "/d");
  EXPECT_EQ(canonical_dir(dir + "/d//"), real_dir + "/d");
  ::unlink((dir + "/link").c_str());
  ::rmdir((dir + "/d").c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace fw
