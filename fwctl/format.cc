#include "fwctl/format.h"

#include <algorithm>
#include <cstdio>

#include "firmwared/base/strings.h"

namespace fwctl {

using fw::protocol::Json;

namespace {

std::string scalar(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

std::string words(const Json& array) {
  std::vector<std::string> parts;
  if (array.is_array()) {
    for (const auto& v : array) parts.push_back(scalar(v));
  }
  return fw::join(parts, " ");
}

}  // namespace

std::string property_text(const Json& holder) {
  if (auto e = holder.find("epoch"); e != holder.end() && e->is_number_integer()) {
    return fw::ctime_string(e->get<int64_t>());
  }
  return scalar(fw::protocol::field_or(holder, "value", Json()));
}

std::string config_text(const Json& value) {
  if (value.is_boolean()) return value.get<bool>() ? "y" : "n";
  return scalar(value);
}

std::string format_reply(const fw::protocol::Message& reply, const std::vector<std::string>& args) {
  const Json& b = reply.body;
  const std::string& a = reply.name;
  if (a == "PONG") return "PONG";
  if (a == "BYEBYE") return "firmwared said bye bye";
  if (a == "VERSION") return scalar(fw::protocol::field_or(b, "version", Json()));
  // fdc's list ended with RESTART, the client-side verb (KILL then START): scripts check it.
  if (a == "COMMANDS") {
    std::string list = words(fw::protocol::field_or(b, "commands", Json::array()));
    return list.empty() ? "RESTART" : list + " RESTART";
  }
  if (a == "FOLDERS") return words(fw::protocol::field_or(b, "folders", Json::array()));
  if (a == "CONFIG_KEYS") return words(fw::protocol::field_or(b, "keys", Json::array()));
  if (a == "GET_CONFIG") return config_text(fw::protocol::field_or(b, "value", Json()));
  if (a == "SUBSCRIBED") return "";
  // fdc printed the value it set (its answer carried it back).
  if (a == "SET_PROPERTY") return args.size() >= 4 ? args[3] : "";
  if (a == "PREPARED") {
    const std::string folder = scalar(fw::protocol::field_or(b, "folder", Json()));
    std::string head = fw::protocol::field_or(b, "existed", false)
                           ? "entity already in " + folder + " folder"
                           : "new entity in " + folder + " folder created";
    return head + "\nsha1: " + scalar(fw::protocol::field_or(b, "sha1", Json())) +
           "\nname: " + scalar(fw::protocol::field_or(b, "name", Json()));
  }
  if (a == "LIST") {
    std::vector<std::string> parts;
    for (const auto& e : fw::protocol::field_or(b, "entities", Json::array())) {
      parts.push_back(scalar(fw::protocol::field_or(e, "name", Json())) + "[" +
                      scalar(fw::protocol::field_or(e, "sha1", Json())) + "]");
    }
    return fw::join(parts, " ");
  }
  if (a == "SHOW") {
    std::string out;
    for (const auto& p : fw::protocol::field_or(b, "properties", Json::array())) {
      if (!out.empty()) out += "\n";
      out += scalar(fw::protocol::field_or(p, "name", Json())) + ": " + property_text(p);
    }
    return out;
  }
  if (a == "GET_PROPERTY") return property_text(b);
  if (a == "PROPERTIES") return words(fw::protocol::field_or(b, "properties", Json::array()));
  if (a == "PROPERTY_ADDED")
    return "property " + scalar(fw::protocol::field_or(b, "name", Json())) + " added";
  if (a == "STARTED" || a == "KILLED" || a == "REMOUNTED" || a == "RESTORED") {
    const std::string id =
        args.empty() ? scalar(fw::protocol::field_or(b, "name", Json())) : args[0];
    const std::string verb = a == "STARTED"    ? "started"
                             : a == "KILLED"   ? "killed"
                             : a == "RESTORED" ? "restored"
                                               : "remounted";
    return id + " " + verb;
  }
  if (a == "DROPPED") {
    return (args.size() >= 2 ? args[1] : scalar(fw::protocol::field_or(b, "name", Json()))) +
           " dropped";
  }
  if (a == "HELP") {
    std::string out = "Command " + scalar(fw::protocol::field_or(b, "command", Json())) +
                      "\nSynopsis: " + scalar(fw::protocol::field_or(b, "synopsis", Json())) +
                      "\nOverview: " + scalar(fw::protocol::field_or(b, "overview", Json()));
    for (const auto& line : fw::protocol::field_or(b, "help", Json::array()))
      out += "\n" + scalar(line);
    return out;
  }
  // Unknown to this fwctl (a newer daemon): show every field.
  std::string out;
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (it.key() == "seq" || it.key() == "answer") continue;
    if (!out.empty()) out += "\n";
    out += it.key() + ": " + (it->is_array() ? words(*it) : scalar(*it));
  }
  return out;
}

std::string format_event(const fw::protocol::Message& event) {
  std::string out = event.name;
  for (auto it = event.body.begin(); it != event.body.end(); ++it) {
    if (it.key() == "event") continue;
    out += " " + it.key() + "=" + (it->is_array() ? words(*it) : scalar(*it));
  }
  return out;
}

}  // namespace fwctl

namespace fwctl {

std::string format_progress(int percent, const std::string& path) {
  percent = std::clamp(percent, 0, 100);
  const int width = 30;
  const int filled = percent * width / 100;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  char pct[8];
  std::snprintf(pct, sizeof(pct), "%3d%%", percent);
  return "[" + bar + "] " + pct + " " + path;
}

}  // namespace fwctl
