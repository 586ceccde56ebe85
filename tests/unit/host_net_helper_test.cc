// NetHelper's choice between one serving helper and an exec per call (host/net_helper.h).

#include "firmwared/host/net_helper.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using fw::host::decide_mode;
using fw::host::HelperMode;

TEST(NetHelperMode, ServesOnlyAfterTheBannerOfThisVersion) {
  std::string why;
  EXPECT_EQ(decide_mode("net_hook serve 1 0.1.0", false, &why), HelperMode::kServe);
  EXPECT_EQ(why, "");
}

TEST(NetHelperMode, AnythingElseFallsBackToExecWithTheReason) {
  std::string why;
  EXPECT_EQ(decide_mode("net_hook serve 2 9.0", false, &why), HelperMode::kExec);
  EXPECT_EQ(why, "its first line 'net_hook serve 2 9.0' is not 'net_hook serve 1 VERSION'");
  EXPECT_EQ(decide_mode("usage: net_hook.sh create ...", false, &why), HelperMode::kExec);
  EXPECT_EQ(why,
            "its first line 'usage: net_hook.sh create ...' is not 'net_hook serve 1 VERSION'");
  // A script that exits at once on an unknown action (examples/net_hook.sh: status 2).
  EXPECT_EQ(decide_mode(std::nullopt, false, &why), HelperMode::kExec);
  EXPECT_EQ(why, "it ended without a banner");
  // One that waits for input: killed after the probe's time.
  EXPECT_EQ(decide_mode(std::nullopt, true, &why), HelperMode::kExec);
  EXPECT_EQ(why, "it wrote nothing within 2000 ms");
}

TEST(NetHelperMode, ALongFirstLineIsShortenedInTheReason) {
  std::string why;
  EXPECT_EQ(decide_mode(std::string(500, 'x'), false, &why), HelperMode::kExec);
  EXPECT_LT(why.size(), 200u);
}

}  // namespace
