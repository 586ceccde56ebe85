// fwctl cp's path rules: which side is the instance, how a path splits, and which tar
// members from an instance may be written on the host (and under what name).
#include <gtest/gtest.h>

#include "fwctl/cp.h"

namespace fwctl {
namespace {

TEST(CpPath, InstanceSideHasAnIdBeforeTheColon) {
  EXPECT_EQ(parse_cp_path("brave_turing:/etc/x").id, "brave_turing");
  EXPECT_EQ(parse_cp_path("brave_turing:/etc/x").path, "/etc/x");
  EXPECT_EQ(parse_cp_path("b:").path, "");
}

TEST(CpPath, HostPathsStayOnTheHost) {
  EXPECT_EQ(parse_cp_path("/tmp/a:b").id, "");
  EXPECT_EQ(parse_cp_path("./a:b").id, "");
  EXPECT_EQ(parse_cp_path(":x").id, "");
  EXPECT_EQ(parse_cp_path("plain").path, "plain");
}

TEST(CpPath, SplitParent) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(split_parent("/a/b/"), (P{"/a", "b"}));
  EXPECT_EQ(split_parent("/a/b"), (P{"/a", "b"}));
  EXPECT_EQ(split_parent("b"), (P{".", "b"}));
  EXPECT_EQ(split_parent("/b"), (P{"/", "b"}));
  EXPECT_EQ(split_parent("/"), (P{"/", "."}));
  EXPECT_EQ(split_parent("///"), (P{"/", "."}));
  EXPECT_EQ(split_parent("d/."), (P{"d", "."}));
}

TEST(CpMember, RenamesTheTopComponent) {
  EXPECT_EQ(map_member("./etc", "etc", "copy"), "copy");
  EXPECT_EQ(map_member("./etc/", "etc", "copy"), "copy");
  EXPECT_EQ(map_member("./etc/a/b", "etc", "copy"), "copy/a/b");
  EXPECT_EQ(map_member("etc/a", "etc", "etc"), "etc/a");
  EXPECT_EQ(map_member("etc//a/./b", "etc", "x"), "x/a/b");
}

TEST(CpMember, ContentsOfADirectory) {
  EXPECT_EQ(map_member("./", ".", "."), ".");
  EXPECT_EQ(map_member("./a/b", ".", "."), "a/b");
  EXPECT_EQ(map_member("./a/b", ".", "dest"), "dest/a/b");
}

TEST(CpMember, RefusesWhatIsNotBelowTheSource) {
  EXPECT_EQ(map_member("./other/a", "etc", "copy"), "");
  EXPECT_EQ(map_member("./etc/../../x", "etc", "copy"), "");
  EXPECT_EQ(map_member("../x", ".", "."), "");
  EXPECT_EQ(map_member("/etc/passwd", "etc", "copy"), "");
  EXPECT_EQ(map_member("/etc/passwd", ".", "."), "");
  EXPECT_EQ(map_member("", "etc", "copy"), "");
  EXPECT_EQ(map_member("./", "etc", "copy"), "");
}

}  // namespace
}  // namespace fwctl
