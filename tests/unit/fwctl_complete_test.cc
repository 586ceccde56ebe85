// fwctl's shell completion (fwctl __complete): what it offers for each kind of word, from
// the verb table and a fake daemon.
#include <gtest/gtest.h>

#include <map>

#include "fwctl/complete.h"

namespace fwctl {
namespace {

using Words = std::vector<std::string>;

class FakeDaemon final : public CompletionSource {
 public:
  std::vector<std::string> folders() override {
    ++calls;
    return {"firmwares", "instances", "snapshots"};
  }
  std::vector<Entity> entities(const std::string& folder) override {
    ++calls;
    asked_entities.push_back(folder);
    if (folder == "instances") return {{"brave_turing", "5f3a9c"}, {"bold_lovelace", "77aa01"}};
    if (folder == "firmwares") return {{"insidious_fionola", "d6d41c"}};
    return {};
  }
  std::vector<std::string> properties(const std::string& folder) override {
    ++calls;
    if (folder == "instances") return {"cmdline", "state", "stop_signal"};
    return {"name", "path"};
  }
  std::vector<std::string> config_keys() override {
    ++calls;
    return {"log_level", "mount_path", "socket_path"};
  }
  int calls = 0;
  std::vector<std::string> asked_entities;
};

Completion run(const Words& before, const std::string& current, FakeDaemon* d = nullptr) {
  FakeDaemon local;
  return complete(before, current, d != nullptr ? *d : local);
}

TEST(FwctlComplete, VerbsByPrefixWithoutAskingTheDaemon) {
  FakeDaemon d;
  EXPECT_EQ(run({}, "st", &d).words, (Words{"start", "stats", "stop"}));
  EXPECT_EQ(d.calls, 0);
  Completion all = run({}, "");
  EXPECT_GT(all.words.size(), 20u);
  EXPECT_NE(std::find(all.words.begin(), all.words.end(), "exec"), all.words.end());
  EXPECT_EQ(all.files, Completion::Files::kNone);
  // After global options, with their values.
  EXPECT_EQ(run({"--json", "--socket", "/tmp/s"}, "pi").words, (Words{"ping"}));
  EXPECT_EQ(run({"--reply-timeout=3"}, "pi").words, (Words{"ping"}));
  EXPECT_EQ(run({"--timeout", "3"}, "pi").words, (Words{"ping"}));
}

TEST(FwctlComplete, GlobalOptionsAndTheirValues) {
  Completion c = run({}, "--j");
  EXPECT_EQ(c.words, (Words{"--json"}));
  EXPECT_EQ(run({"--socket"}, "").files, Completion::Files::kAll);
  EXPECT_TRUE(run({"--socket"}, "").words.empty());
}

TEST(FwctlComplete, FoldersThenTheirEntities) {
  FakeDaemon d;
  EXPECT_EQ(run({"list"}, "", &d).words, (Words{"firmwares", "instances", "snapshots"}));
  EXPECT_EQ(run({"show"}, "i").words, (Words{"instances"}));
  EXPECT_EQ(run({"show", "instances"}, "").words, (Words{"bold_lovelace", "brave_turing"}));
  EXPECT_EQ(run({"drop", "firmwares"}, "").words, (Words{"insidious_fionola"}));
  // A sha1 once the word starts one.
  EXPECT_EQ(run({"show", "instances"}, "5f").words, (Words{"5f3a9c"}));
  // Nothing past the last operand.
  EXPECT_TRUE(run({"show", "instances", "brave_turing"}, "").words.empty());
}

TEST(FwctlComplete, InstanceIdsOfVerbsWithoutAFolder) {
  FakeDaemon d;
  EXPECT_EQ(run({"start"}, "br", &d).words, (Words{"brave_turing"}));
  EXPECT_EQ(d.asked_entities, (Words{"instances"}));
  EXPECT_EQ(run({"stats", "brave_turing"}, "").words, (Words{"bold_lovelace", "brave_turing"}));
  // Options of the verb anywhere before.
  EXPECT_EQ(run({"logs", "-f", "--tail", "10"}, "b").words,
            (Words{"bold_lovelace", "brave_turing"}));
}

TEST(FwctlComplete, PropertiesPerFolderAndConfigKeys) {
  EXPECT_EQ(run({"get_property", "instances", "brave_turing"}, "s").words,
            (Words{"state", "stop_signal"}));
  EXPECT_EQ(run({"set_property", "firmwares", "x"}, "").words, (Words{"name", "path"}));
  EXPECT_TRUE(run({"set_property", "instances", "x", "state"}, "").words.empty());
  EXPECT_EQ(run({"get_config"}, "").words, (Words{"log_level", "mount_path", "socket_path"}));
  EXPECT_EQ(run({"help"}, "exe").words, (Words{"exec"}));
}

TEST(FwctlComplete, VerbOptionsAndTheirValues) {
  Completion c = run({"stop"}, "--");
  EXPECT_NE(std::find(c.words.begin(), c.words.end(), "--signal"), c.words.end());
  EXPECT_NE(std::find(c.words.begin(), c.words.end(), "--timeout"), c.words.end());
  EXPECT_NE(std::find(c.words.begin(), c.words.end(), "--json"), c.words.end());  // global
  EXPECT_EQ(run({"stop", "--signal"}, "SIGT").words, (Words{"SIGTERM"}));
  EXPECT_EQ(run({"wait", "x", "--state"}, "").words, (Words{"ready", "started"}));
  EXPECT_EQ(run({"ps", "--filter"}, "").words, (Words{"label=", "name=", "state="}));
  EXPECT_EQ(run({"exec", "--workdir"}, "").files, Completion::Files::kDirs);
  EXPECT_EQ(run({"exec", "-w"}, "").files, Completion::Files::kDirs);
  // A value being typed behind '='.
  EXPECT_EQ(run({"ps"}, "--filter=la").words, (Words{"--filter=label="}));
  EXPECT_EQ(run({"wait", "x"}, "--state=").words, (Words{"--state=ready", "--state=started"}));
  EXPECT_EQ(run({}, "--socket=/tm").files, Completion::Files::kAll);
  EXPECT_EQ(run({"list"}, "--socket=").files, Completion::Files::kAll);
  EXPECT_TRUE(run({"list"}, "--json=").words.empty());
  // A value attached with '=' is not waited for.
  EXPECT_EQ(run({"logs", "--tail=5"}, "bra").words, (Words{"brave_turing"}));
}

TEST(FwctlComplete, PathsAndCommands) {
  Completion prep = run({"prepare", "firmwares"}, "");
  EXPECT_EQ(prep.files, Completion::Files::kAll);
  EXPECT_EQ(prep.words, (Words{"insidious_fionola"}));
  Completion inst = run({"prepare", "instances"}, "");
  EXPECT_EQ(inst.files, Completion::Files::kNone);
  EXPECT_EQ(inst.words, (Words{"insidious_fionola"}));
  EXPECT_EQ(run({"exec", "brave_turing"}, "").files, Completion::Files::kAll);
  EXPECT_EQ(run({"exec", "brave_turing", "--"}, "").files, Completion::Files::kAll);
  EXPECT_EQ(run({"exec", "brave_turing", "ls"}, "-").files, Completion::Files::kAll);
  EXPECT_EQ(run({"run", "insidious_fionola", "--"}, "").files, Completion::Files::kAll);
  EXPECT_EQ(run({"collect", "brave_turing"}, "").files, Completion::Files::kDirs);
  Completion cp = run({"cp"}, "bra");
  EXPECT_EQ(cp.files, Completion::Files::kAll);
  EXPECT_EQ(cp.words, (Words{"brave_turing:"}));
}

TEST(FwctlComplete, UnknownVerbOffersNothing) {
  FakeDaemon d;
  EXPECT_TRUE(run({"frobnicate"}, "", &d).words.empty());
  EXPECT_EQ(d.calls, 0);
}

TEST(FwctlComplete, SocketFromTheLine) {
  EXPECT_EQ(completion_socket({"--socket", "/tmp/a", "list"}, "/run/x"), "/tmp/a");
  EXPECT_EQ(completion_socket({"list", "--socket=/tmp/b"}, "/run/x"), "/tmp/b");
  EXPECT_EQ(completion_socket({"list"}, "/run/x"), "/run/x");
  EXPECT_EQ(completion_socket({"exec", "i", "--", "--socket", "/no"}, "/run/x"), "/run/x");
}

}  // namespace
}  // namespace fwctl
