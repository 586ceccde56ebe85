// NetHelper (host/net_helper.h): the choice between one serving helper and an exec per
// call, and how a serving helper's requests fare.

#include "firmwared/host/net_helper.h"

#include <event2/event.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/host/process_runner.h"

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

// NetHelper on a real loop with fake helpers (shell scripts): pipelining, deadlines, a
// helper that dies or breaks the protocol, and the fallback to one exec per call.
namespace {

class NetHelperLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = event_base_new();
    ASSERT_NE(base_, nullptr);
    char tmpl[] = "/tmp/fw_net_helper_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    helper_.reset();
    runner_.reset();
    event_base_free(base_);
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  // Writes an executable script; returns its path.
  std::string script(const std::string& name, const std::string& body) {
    const std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "w");
    EXPECT_NE(f, nullptr);
    std::fputs(("#!/bin/sh\n" + body).c_str(), f);
    std::fclose(f);
    ::chmod(path.c_str(), 0755);
    return path;
  }
  void make(const std::string& program) {
    runner_ = std::make_unique<fw::host::ProcessRunner>(base_);
    helper_ = std::make_unique<fw::host::NetHelper>(base_, *runner_, program, "test");
  }
  // Queues a call; its outcome lands in outcomes_[index].
  void call(const std::string& action, int timeout_ms = 5000) {
    const size_t index = outcomes_.size();
    outcomes_.emplace_back();
    ++pending_;
    helper_->call({action, "--x", "a b"}, "owner:1", timeout_ms,
                  [this, index](fw::host::ProcessOutcome o) {
                    outcomes_[index] = std::move(o);
                    if (--pending_ == 0) event_base_loopbreak(base_);
                  });
  }
  // Runs the loop until every call completed (or 10 s passed).
  void run() {
    const timeval limit{10, 0};
    event_base_loopexit(base_, &limit);
    if (pending_ > 0) event_base_dispatch(base_);
    EXPECT_EQ(pending_, 0);
  }

  event_base* base_ = nullptr;
  std::string dir_;
  std::unique_ptr<fw::host::ProcessRunner> runner_;
  std::unique_ptr<fw::host::NetHelper> helper_;
  std::vector<std::optional<fw::host::ProcessOutcome>> outcomes_;
  int pending_ = 0;
};

// Answers "ID 0 ACTION+OWNER+ARGS" (spaces made _; its pid on request "pid"); "hang"
// sleeps, "die" exits, "garble" writes a line that is no answer.
constexpr char kServing[] = R"SH(
[ "$1" = serve ] || exit 3
echo "net_hook serve 1 test"
while read -r id owner action rest; do
  args=$(echo "$rest" | tr ' ' _)
  case $action in
    hang) sleep 5 ;;
    die) exit 9 ;;
    garble) echo nonsense ;;
    pid) echo "$id 0 $$" ;;
    *) echo "$id 0 $action+$owner+$args" ;;
  esac
done
)SH";

TEST_F(NetHelperLoop, PipelinedRequestsAreAnsweredInOrderByOneProcess) {
  make(script("serving", kServing));
  call("a");
  call("pid");
  call("b");
  call("pid");
  run();
  EXPECT_EQ(helper_->mode(), HelperMode::kServe);
  ASSERT_TRUE(outcomes_[0] && outcomes_[2]);
  EXPECT_EQ(outcomes_[0]->exit_status, 0);
  // "a b" travels as one escaped field (a%20b), echoed back and unescaped in the answer.
  EXPECT_EQ(outcomes_[0]->output, "a+owner:1+--x_a b");
  EXPECT_EQ(outcomes_[2]->output, "b+owner:1+--x_a b");
  EXPECT_EQ(outcomes_[1]->output, outcomes_[3]->output);  // the same process
}

TEST_F(NetHelperLoop, AMissedDeadlineFailsThatRequestAndANewHelperTakesTheRest) {
  make(script("serving", kServing));
  call("pid");
  call("hang", 300);
  call("pid");
  run();
  ASSERT_TRUE(outcomes_[1]);
  EXPECT_TRUE(outcomes_[1]->timed_out);
  EXPECT_NE(outcomes_[1]->exit_status, 0);
  EXPECT_NE(outcomes_[1]->output.find("timed out"), std::string::npos) << outcomes_[1]->output;
  EXPECT_NE(outcomes_[1]->output.find("while running 'hang'"), std::string::npos);
  EXPECT_EQ(outcomes_[2]->exit_status, 0);
  EXPECT_NE(outcomes_[0]->output, outcomes_[2]->output);  // another process
  EXPECT_EQ(helper_->mode(), HelperMode::kServe);
}

TEST_F(NetHelperLoop, ADeadHelperFailsItsRequestAndIsReplaced) {
  make(script("serving", kServing));
  call("die");
  call("after");
  run();
  ASSERT_TRUE(outcomes_[0] && outcomes_[1]);
  EXPECT_EQ(outcomes_[0]->exit_status, 9);
  EXPECT_FALSE(outcomes_[0]->timed_out);
  EXPECT_NE(outcomes_[0]->output.find("ended (exit status 9) while running 'die'"),
            std::string::npos)
      << outcomes_[0]->output;
  EXPECT_EQ(outcomes_[1]->exit_status, 0);
  EXPECT_EQ(outcomes_[1]->output, "after+owner:1+--x_a b");
}

TEST_F(NetHelperLoop, ALineThatIsNoAnswerEndsTheHelper) {
  make(script("serving", kServing));
  call("garble");
  call("after");
  run();
  ASSERT_TRUE(outcomes_[0] && outcomes_[1]);
  EXPECT_NE(outcomes_[0]->exit_status, 0);
  EXPECT_NE(outcomes_[0]->output.find("broke the protocol with 'nonsense'"), std::string::npos)
      << outcomes_[0]->output;
  EXPECT_EQ(outcomes_[1]->exit_status, 0);
}

TEST_F(NetHelperLoop, AHelperThatRefusesServeIsExecutedPerCall) {
  // Like examples/net_hook.sh: an unknown action is a usage error.
  make(script("script", R"([ "$1" = serve ] && exit 2
echo "$* owner=$FIRMWARED_OWNER" >&2
)"));
  call("a");
  call("b");
  run();
  EXPECT_EQ(helper_->mode(), HelperMode::kExec);
  ASSERT_TRUE(outcomes_[0] && outcomes_[1]);
  EXPECT_EQ(outcomes_[0]->exit_status, 0);
  EXPECT_EQ(outcomes_[0]->output, "a --x a b owner=owner:1");
  EXPECT_EQ(outcomes_[1]->output, "b --x a b owner=owner:1");
}

TEST_F(NetHelperLoop, AProgramThatCannotRunFailsEveryCallWith127) {
  make(dir_ + "/missing");
  call("a");
  run();
  ASSERT_TRUE(outcomes_[0]);
  EXPECT_EQ(outcomes_[0]->exit_status, 127);
  EXPECT_EQ(helper_->mode(), HelperMode::kExec);
}

}  // namespace
