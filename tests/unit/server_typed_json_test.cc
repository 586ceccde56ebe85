// Typed JSON of the replies: SHOW and GET_PROPERTY values by property type, GET_CONFIG values
// by key type, times as ISO 8601 UTC with their epoch.
#include "firmwared/server/typed_json.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "firmwared/server/dispatcher.h"
#include "firmwared/server/folder_commands.h"

namespace fw::server {
namespace {

using core::PropertyType;
using core::PropertyValue;
using protocol::Json;

TEST(TypedJson, Iso8601IsUtcWithWholeSecondsAndAZ) {
  EXPECT_EQ(iso8601_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(iso8601_utc(1796444993), "2026-12-05T04:29:53Z");
  EXPECT_EQ(iso8601_utc(951782400), "2000-02-29T00:00:00Z");
}

TEST(TypedJson, IntegerPropertiesAreNumbersAndEmptyIsNull) {
  EXPECT_EQ(property_value_json({"id", "0", PropertyType::kInteger}), Json(0));
  EXPECT_TRUE(property_value_json({"id", "0", PropertyType::kInteger}).is_number_integer());
  EXPECT_EQ(property_value_json({"time_offset", "-3600", PropertyType::kInteger}), Json(-3600));
  EXPECT_TRUE(property_value_json({"exit_status", "", PropertyType::kInteger}).is_null());
  // Text that is not a whole number is never turned into something else.
  EXPECT_EQ(property_value_json({"pids_max", "12x", PropertyType::kInteger}), Json("12x"));
  EXPECT_EQ(property_value_json({"pids_max", "1.5", PropertyType::kInteger}), Json("1.5"));
  EXPECT_EQ(property_value_json({"pids_max", "99999999999999999999", PropertyType::kInteger}),
            Json("99999999999999999999"));
}

TEST(TypedJson, StringPropertiesStayStringsEvenWhenTheyLookLikeNumbers) {
  EXPECT_EQ(property_value_json({"foo", "42"}), Json("42"));
  EXPECT_EQ(property_value_json({"foo", ""}), Json(""));
}

TEST(TypedJson, ATimeIsIsoUtcWithItsEpochBeside) {
  const PropertyValue t{"time", "Sat Dec  5 05:29:53 2026", PropertyType::kTime, 1796444993};
  EXPECT_EQ(property_json(t),
            (Json{{"name", "time"}, {"value", "2026-12-05T04:29:53Z"}, {"epoch", 1796444993}}));
  Json reply = Json::object();
  put_property_value(t, reply);
  EXPECT_EQ(reply, (Json{{"value", "2026-12-05T04:29:53Z"}, {"epoch", 1796444993}}));
  Json plain = Json::object();
  put_property_value({"id", "3", PropertyType::kInteger}, plain);
  EXPECT_EQ(plain, (Json{{"value", 3}})) << "no epoch for what is not a time";
}

TEST(TypedJson, ConfigValuesFollowTheirKeysRule) {
  EXPECT_EQ(config_value_json("prevent_removal", "n"), Json(false));
  EXPECT_EQ(config_value_json("disable_apparmor", "y"), Json(true));
  EXPECT_EQ(config_value_json("client_idle_timeout", "300"), Json(300));
  EXPECT_EQ(config_value_json("max_connections", "512"), Json(512));
  EXPECT_EQ(config_value_json("socket_path", "/run/firmwared.sock"), Json("/run/firmwared.sock"));
  // userns is auto, y or n: not a boolean.
  EXPECT_EQ(config_value_json("userns", "y"), Json("y"));
  EXPECT_EQ(config_value_json("net_first_two_bytes", "10.202."), Json("10.202."));
  EXPECT_EQ(config_value_json("no_such_key", "1"), Json("1"));
}

// A folder with one entity, "e", holding one property of each type.
class FakeFolder final : public core::Folder {
 public:
  const std::string& name() const override { return name_; }
  void prepare(const std::string&, const std::optional<std::string>&,
               core::PrepareDone done) override {
    done(make_error(ENOTSUP, "not here"));
  }
  Result<std::vector<core::EntitySummary>> list() override {
    return std::vector<core::EntitySummary>{{"a1", "e", false, ""}};
  }
  Result<std::vector<PropertyValue>> show(const std::string& id) override {
    if (id != "e") return make_error(ENOENT, "no entity " + id);
    return values_;
  }
  Result<std::string> get_property(const std::string& id, const std::string& prop) override {
    if (id != "e") return make_error(ENOENT, "no entity " + id);
    if (prop == "cmdline[0]") return std::string("/sbin/init");
    for (const auto& p : values_) {
      if (p.name == prop) return p.value;
    }
    return make_error(ESRCH, "no property " + prop);
  }
  Status set_property(const std::string&, const std::string&, const std::string&) override {
    return {};
  }
  Result<std::vector<std::string>> property_names() override {
    std::vector<std::string> names;
    for (const auto& p : values_) names.push_back(p.name);
    return names;
  }
  Result<std::string> add_property(const std::string& n) override { return n; }
  Result<core::EntitySummary> drop(const std::string&) override {
    return core::EntitySummary{"a1", "e", false, ""};
  }

 private:
  std::string name_ = "things";
  std::vector<PropertyValue> values_ = {
      {"name", "e"},
      {"id", "7", PropertyType::kInteger},
      {"exit_status", "", PropertyType::kInteger},
      {"time", "whatever ctime says", PropertyType::kTime, 1796444993},
      {"count", "12"},
  };
};

class FolderReplies : public ::testing::Test {
 protected:
  FolderReplies() { register_folder_commands(d_, folders_); }
  Json call(const std::string& command, std::vector<std::string> args) {
    protocol::Request req;
    req.seq = 1;
    req.command = command;
    req.args = std::move(args);
    std::vector<Json> sent;
    d_.dispatch(req, Caller{}, Responder(1, command, [&](const Json& j) { sent.push_back(j); }));
    EXPECT_EQ(sent.size(), 1u);
    return sent.empty() ? Json() : sent[0];
  }
  FakeFolder folder_;
  std::map<std::string, core::Folder*> folders_{{"things", &folder_}};
  Dispatcher d_;
};

TEST_F(FolderReplies, ShowEntriesAreTyped) {
  const Json show = call("SHOW", {"things", "e"});
  const Json expected = Json::array({
      {{"name", "name"}, {"value", "e"}},
      {{"name", "id"}, {"value", 7}},
      {{"name", "exit_status"}, {"value", nullptr}},
      {{"name", "time"}, {"value", "2026-12-05T04:29:53Z"}, {"epoch", 1796444993}},
      {{"name", "count"}, {"value", "12"}},
  });
  EXPECT_EQ(show["properties"], expected) << show.dump();
  EXPECT_EQ(show["name"], "e");
}

TEST_F(FolderReplies, GetPropertyHasTheTypeShowGives) {
  EXPECT_EQ(call("GET_PROPERTY", {"things", "e", "id"})["value"], Json(7));
  EXPECT_TRUE(call("GET_PROPERTY", {"things", "e", "exit_status"})["value"].is_null());
  const Json t = call("GET_PROPERTY", {"things", "e", "time"});
  EXPECT_EQ(t["value"], "2026-12-05T04:29:53Z");
  EXPECT_EQ(t["epoch"], 1796444993);
  EXPECT_EQ(call("GET_PROPERTY", {"things", "e", "count"})["value"], Json("12"));
  // An array element is text.
  EXPECT_EQ(call("GET_PROPERTY", {"things", "e", "cmdline[0]"})["value"], Json("/sbin/init"));
  EXPECT_EQ(call("GET_PROPERTY", {"things", "e", "nope"})["error"], "ESRCH");
}

}  // namespace
}  // namespace fw::server
