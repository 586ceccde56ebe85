// Prints one sample of every protocol message, one JSON object per line, built by the real
// codec functions: a request per command, a reply per answer (defined and planned), ERROR
// replies (from decode_request failures and from make_error), and every event.
// validate_schemas.py checks each line against schemas/*.json; a line of unknown shape
// ({"missing_sample": ...}) makes it fail, so a command added to the table without a sample
// here (and a schema entry) is caught.

#include <cerrno>
#include <iostream>
#include <map>
#include <string>
#include <variant>

#include "firmwared/base/result.h"
#include "firmwared/base/version.h"
#include "firmwared/protocol/codec.h"
#include "firmwared/protocol/commands.h"

namespace fw::protocol {
namespace {

const char kSha1[] = "5f3a9c0e8b7d6a1f2e4c3b5a6d7e8f9012345678";
const char kFirmwareSha1[] = "d6d41c4c5e51819e373c1ab8ed8813a2030c506a";

Json names_of_commands() {
  Json names = Json::array();
  for (const auto& c : commands()) names.push_back(c.name);
  return names;
}

// Fields of a successful reply, by answer.
std::multimap<std::string, Json> reply_fields() {
  const CommandInfo& help = *find_command("PREPARE");
  return {
      {"PONG", Json::object()},
      {"VERSION", {{"version", FIRMWARED_VERSION}}},
      {"COMMANDS", {{"commands", names_of_commands()}}},
      {"FOLDERS", {{"folders", {"firmwares", "instances"}}}},
      {"CONFIG_KEYS", {{"keys", {"container_interface", "socket_path", "verbose_hook_scripts"}}}},
      {"GET_CONFIG", {{"key", "socket_path"}, {"value", "/run/firmwared.sock"}}},
      {"GET_CONFIG", {{"key", "prevent_removal"}, {"value", false}}},
      {"GET_CONFIG", {{"key", "client_idle_timeout"}, {"value", 300}}},
      {"HELP",
       {{"command", help.name},
        {"synopsis", help.synopsis},
        {"overview", help.overview},
        {"help", help.help}}},
      {"BYEBYE", Json::object()},
      {"SUBSCRIBED", {{"event_id", 0}}},
      // Planned shapes (docs/protocol.md), built the way the daemon will build them.
      {"PREPARED", {{"folder", "instances"}, {"sha1", kSha1}, {"name", "brave_turing"}}},
      {"LIST",
       {{"folder", "firmwares"},
        {"entities", {{{"name", "insidious_fionola"}, {"sha1", kFirmwareSha1}}}}}},
      {"SHOW",
       {{"folder", "instances"},
        {"sha1", kSha1},
        {"name", "brave_turing"},
        {"properties",
         {{{"name", "state"}, {"value", "ready"}},
          {{"name", "id"}, {"value", 3}},
          {{"name", "exit_status"}, {"value", nullptr}},
          {{"name", "time"}, {"value", "2026-12-05T04:12:33Z"}, {"epoch", 1796444993}},
          {{"name", "interface"}, {"value", "eth0"}}}}}},
      {"GET_PROPERTY", {{"value", "eth0"}}},
      {"GET_PROPERTY", {{"value", 3}}},
      {"GET_PROPERTY", {{"value", "2026-12-05T04:12:33Z"}, {"epoch", 1796444993}}},
      {"SET_PROPERTY", Json::object()},
      {"PROPERTIES", {{"properties", {"name", "sha1", "cmdline[]"}}}},
      {"PROPERTY_ADDED", {{"name", "owner"}}},
      {"DROPPED", {{"folder", "instances"}, {"sha1", kSha1}, {"name", "brave_turing"}}},
      {"STARTED", {{"sha1", kSha1}, {"name", "brave_turing"}}},
      {"KILLED",
       {{"sha1", kSha1},
        {"name", "brave_turing"},
        {"exit_status", 137},
        {"reason", "killed"},
        {"signal", "SIGKILL"}}},
      {"STOPPED",
       {{"folder", "instances"},
        {"sha1", kSha1},
        {"name", "brave_turing"},
        {"exit_status", 130},
        {"reason", "stopped"},
        {"signal", "SIGRTMIN+3"}}},
      {"STATS",
       {{"folder", "instances"},
        {"stats",
         {{{"sha1", kSha1},
           {"name", "brave_turing"},
           {"memory_current", 12582912},
           {"memory_peak", nullptr},
           {"memory_max", "512M"},
           {"cpu_usec", 250000},
           {"pids_current", 9},
           {"oom_kills", 0}}}}}},
      {"REMOUNTED", {{"sha1", kSha1}, {"name", "brave_turing"}}},
      {"RESTORED", {{"folder", "instances"}, {"sha1", kSha1}, {"name", "brave_turing"}}},
      {"CONSOLE", {{"sha1", kSha1}, {"name", "brave_turing"}, {"outer_pts", "/dev/pts/7"}}},
      {"EXECUTED", {{"name", "brave_turing"}, {"exit_status", 3}}},
      {"CONSOLE_RESIZED", {{"sha1", kSha1}, {"name", "brave_turing"}, {"rows", 50}, {"cols", 132}}},
      {"EXEC_SIGNALED", {{"name", "brave_turing"}, {"signal", "SIGRTMIN+3"}}},
      {"EXEC_RESIZED", {{"name", "brave_turing"}, {"rows", 50}, {"cols", 132}}},
      {"LOGS",
       {{"sha1", kSha1},
        {"name", "brave_turing"},
        {"data", "-- run 1 started 2026-12-05T04:12:33Z --\nfirmware booted\r\n"},
        {"start", 0},
        {"offset", 58},
        {"first", 0},
        {"end", 58},
        {"truncated", false},
        {"rotated", false},
        {"lines", {{0, 1796444953000125441, 1, 1}, {41, 1796444953204917003, 1, 0}}}}},
      {"DIFF",
       {{"sha1", kSha1},
        {"name", "brave_turing"},
        {"entries",
         {{{"status", "M"},
           {"path", "/etc/hostname"},
           {"type", "file"},
           {"size", 14},
           {"old_size", 9},
           {"mode", "0600"},
           {"old_mode", "0644"},
           {"uid", 0},
           {"gid", 0},
           {"changes", {"content", "mode"}}},
          {{"status", "A"},
           {"path", "/new"},
           {"type", "dir"},
           {"mode", "0755"},
           {"uid", 0},
           {"gid", 0},
           {"renamed_from", "/old"}},
          {{"status", "D"},
           {"path", "/bin/sh"},
           {"type", "symlink"},
           {"size", 7},
           {"target", "busybox"},
           {"mode", "0777"},
           {"uid", 0},
           {"gid", 0}},
          {{"status", "T"},
           {"path", "/dev/x"},
           {"type", "char"},
           {"rdev", "1:3"},
           {"old_type", "file"},
           {"old_size", 0},
           {"mode", "0644"},
           {"uid", 0},
           {"gid", 0}}}},
        {"stat",
         {{"added", 1},
          {"modified", 1},
          {"deleted", 1},
          {"type_changed", 1},
          {"total", 4},
          {"bytes_added", 0},
          {"bytes_deleted", 0},
          {"bytes_modified", 14},
          {"copied_up_unchanged", 2}}},
        {"truncated", false}}},
      {"DIFF_FILE",
       {{"sha1", kSha1},
        {"name", "brave_turing"},
        {"path", "/etc/hostname"},
        {"status", "M"},
        {"type", "file"},
        {"old_type", "file"},
        {"binary", false},
        {"diff", "--- a/etc/hostname\n+++ b/etc/hostname\n@@ -1 +1 @@\n-firmware\n+brave\n"},
        {"summary", ""},
        {"truncated", false}}},
      {"EXPORTED",
       {{"sha1", kSha1},
        {"name", "brave_turing"},
        {"path", "/home/me/changes.tar"},
        {"mode", "changes"},
        {"entries", 12},
        {"whiteouts", 2},
        {"skipped", 0},
        {"bytes", 20480}}},
  };
}

std::multimap<std::string, Json> event_fields() {
  return {
      {"BYEBYE", Json::object()},
      {"PREPARED",
       {{"folder", "firmwares"}, {"sha1", kFirmwareSha1}, {"name", "insidious_fionola"}}},
      {"PREPARE_PROGRESS", {{"folder", "firmwares"}, {"percent", 42}}},
      {"STARTED", {{"sha1", kSha1}, {"name", "brave_turing"}}},
      {"DEAD",
       {{"sha1", kSha1},
        {"name", "brave_turing"},
        {"exit_status", 129},
        {"reason", "reboot"},
        {"oom_kills", 0}}},
      {"DEAD",
       {{"sha1", kSha1},
        {"name", "brave_turing"},
        {"exit_status", nullptr},
        {"reason", ""},
        {"oom_kills", 0}}},
      {"REBOOTED", {{"folder", "instances"}, {"sha1", kSha1}, {"name", "brave_turing"}}},
      {"OOM",
       {{"folder", "instances"}, {"sha1", kSha1}, {"name", "brave_turing"}, {"oom_kills", 1}}},
      {"DROPPED", {{"folder", "instances"}, {"sha1", kSha1}, {"name", "brave_turing"}}},
      {"PROPERTY_SET",
       {{"folder", "instances"},
        {"sha1", kSha1},
        {"name", "brave_turing"},
        {"property", "interface"},
        {"value", "eth1"}}},
  };
}

void print_requests() {
  uint32_t seq = 1;
  for (const auto& c : commands()) {
    Request r{seq++, c.name, {}, std::nullopt};
    for (int i = 0; i < c.min_args; ++i) r.args.push_back("arg" + std::to_string(i));
    std::cout << encode_request(r);
  }
  std::cout << encode_request({seq++, "PREPARE", {"firmwares", "fw/ü \"x\"\n"}, "/home/me"});
  std::cout << encode_request({seq++, "get_config", {"SOCKET_PATH"}, std::nullopt});
  std::cout << encode_request({seq++, "LOGS", {"brave_turing", "65536"}, std::nullopt});
  std::cout << encode_request({seq++, "DIFF", {"brave_turing", "/etc", "/usr/bin"}, std::nullopt});
  std::cout << encode_request(
      {seq++, "EXPORT", {"brave_turing", "--full", "out.tar", "--force"}, "/home/me"});
  std::cout << encode_request({4294967295u, "PING", {}, std::nullopt});
}

void print_replies() {
  const auto fields = reply_fields();
  uint32_t seq = 100;
  for (const auto& c : commands()) {
    auto [first, last] = fields.equal_range(c.answer);
    if (first == last) {
      std::cout << encode(Json{{"missing_sample", "reply " + c.answer}});
      continue;
    }
    // Several samples for one answer show its typed variants (a number, null, a time).
    for (auto it = first; it != last; ++it)
      std::cout << encode(make_reply(seq++, c.answer, it->second));
  }
  // A console log is whatever PID 1 wrote: invalid UTF-8 and control bytes still give a
  // valid line.
  std::cout << encode(make_reply(seq++, "LOGS",
                                 {{"data", std::string("\x1b[1mboot\xff\xfe\x00\n", 12)},
                                  {"offset", 4294967296u * 3},
                                  {"rotated", true}}));
  // Names are file names: invalid UTF-8 must still give a valid line (U+FFFD).
  std::cout << encode(make_reply(
      seq++, "LIST",
      {{"folder", "firmwares"}, {"entities", {{{"name", "bad\xff\xfe"}, {"sha1", kSha1}}}}}));
}

void print_errors() {
  const char* bad_requests[] = {
      "",
      "not json",
      "[1, 2]",
      "{\"command\": \"PING\"}",
      "{\"seq\": -1, \"command\": \"PING\"}",
      "{\"seq\": 12, \"command\": \"FROB\"}",
      "{\"seq\": 13, \"command\": \"HELP\", \"args\": []}",
      "{\"seq\": 14, \"command\": \"PING\", \"extra\": true}",
      "{\"seq\": 15, \"command\": \"PING\", \"cwd\": \"relative\"}",
      "{\"seq\": 16, \"command\": \"HELP\", \"args\": [\"\xc0\xaf\"]}",
  };
  for (const char* line : bad_requests) {
    auto decoded = decode_request(line);
    if (const auto* f = std::get_if<DecodeFailure>(&decoded)) {
      std::cout << encode(make_error_reply(f->seq, f->error));
    } else {
      std::cout << encode(Json{{"missing_sample", std::string("error for ") + line}});
    }
  }
  std::cout << encode(
      make_error_reply(7, make_error(EBUSY, "instance brave_turing is started, not ready")));
  std::cout << encode(make_error_reply(8, make_error(ENOENT, "no entity 'nope' in instances")));
  std::cout << encode(make_error_reply(9, make_error(ESRCH, "no property 'colour' in instances")));
  std::cout << encode(make_error_reply(10, make_error(4000, "errno without a symbol")));
}

void print_events() {
  uint64_t id = 1;
  for (const auto& [name, fields] : event_fields()) {
    std::cout << encode(make_event(name, id++, fields));
  }
  std::cout << encode(make_event("BYEBYE", 18446744073709551615u));
}

}  // namespace
}  // namespace fw::protocol

int main() {
  fw::protocol::print_requests();
  fw::protocol::print_replies();
  fw::protocol::print_errors();
  fw::protocol::print_events();
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}
