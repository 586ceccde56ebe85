#include "fwctl/ps.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

namespace fwctl {

namespace {

using fw::protocol::Json;
using fw::protocol::Message;
using fw::protocol::Request;

Deadline deadline_for(const Context& ctx, bool long_running) {
  if (long_running && !ctx.timeout_explicit) return std::nullopt;
  if (ctx.timeout <= 0) return std::nullopt;
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(ctx.timeout * 1000));
}

// Sends one request; a connection failure or an ERROR reply becomes the Error, marked as
// the daemon's in `from_daemon`.
fw::Result<Message> call(Client& client, const Context& ctx, const std::string& command,
                         std::vector<std::string> args, bool* from_daemon,
                         bool long_running = false) {
  Request req;
  req.command = command;
  req.args = std::move(args);
  auto reply = client.call(req, deadline_for(ctx, long_running));
  *from_daemon = reply.ok();
  if (!reply.ok()) return reply.error();
  if (reply->is_error()) return reply->error();
  return reply;
}

// Seconds since the process `pid` started (proc(5): field 22 of /proc/PID/stat, in clock
// ticks after boot), nullopt when it is gone.
std::optional<uint64_t> process_age(int64_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return std::nullopt;
  // The command name may hold spaces and parentheses: fields restart after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i != 22) continue;
    std::ifstream up("/proc/uptime");
    double uptime = 0;
    const long ticks = ::sysconf(_SC_CLK_TCK);
    if (!(up >> uptime) || ticks <= 0) return std::nullopt;
    const double started = std::stod(field) / static_cast<double>(ticks);
    return uptime > started ? static_cast<uint64_t>(uptime - started) : 0;
  }
  return std::nullopt;
}

struct Row {
  // id: the sha1's first 12 digits, which every command accepts (a unique prefix);
  // index: the daemon's instance counter; exit: PID 1's status of the last run.
  std::string name, id, index, state, pid, firmware, uptime, exit;  // "-" when none
  std::string sha1;
  std::optional<uint64_t> memory;  // bytes in its cgroup, started instances only
};

Row row_of(const Json& show, const std::map<std::string, std::string>& firmware_names) {
  std::map<std::string, std::string> p;
  for (const auto& prop : fw::protocol::field_or(show, "properties", Json::array())) {
    p[fw::protocol::field_or(prop, "name", "")] = fw::protocol::field_or(prop, "value", "");
  }
  Row r{p["name"],   p["sha1"].substr(0, 12), p["id"], p["state"], "-", "-", "-", "-", p["sha1"],
        std::nullopt};
  if (!p["exit_status"].empty() && r.state == "ready") r.exit = p["exit_status"];
  const std::string& fw_sha1 = p["firmware_sha1"];
  auto it = firmware_names.find(fw_sha1);
  r.firmware = it != firmware_names.end() ? it->second : fw_sha1.substr(0, 12);
  if (r.firmware.empty()) r.firmware = "-";
  if (r.state == "started" || r.state == "stopping") {
    const std::string& init_pid = p["init_pid"];
    if (!init_pid.empty() && init_pid != "0") {
      r.pid = init_pid;
      try {
        if (auto age = process_age(std::stoll(init_pid))) r.uptime = format_uptime(*age);
      } catch (const std::exception&) {
        // Not a number: leave "-".
      }
    }
  }
  return r;
}

Json json_of(const Row& r) {
  auto number_or_null = [](const std::string& s) -> Json {
    try {
      return s == "-" ? Json(nullptr) : Json(std::stoll(s));
    } catch (const std::exception&) {
      return Json(s);
    }
  };
  return {{"name", r.name},
          {"id", r.id},
          {"sha1", r.sha1},
          {"index", number_or_null(r.index)},
          {"state", r.state},
          {"pid", number_or_null(r.pid)},
          {"firmware", r.firmware},
          {"uptime", r.uptime == "-" ? Json(nullptr) : Json(r.uptime)},
          {"memory", r.memory ? Json(*r.memory) : Json(nullptr)},
          {"exit_status", number_or_null(r.exit)}};
}

// Prints rows of cells (the first is the header) in columns two spaces apart.
void print_columns(const std::vector<std::vector<std::string>>& cells) {
  std::vector<size_t> width;
  for (const auto& c : cells) {
    width.resize(std::max(width.size(), c.size()), 0);
    for (size_t i = 0; i < c.size(); ++i) width[i] = std::max(width[i], c[i].size());
  }
  for (const auto& c : cells) {
    std::string line;
    for (size_t i = 0; i < c.size(); ++i) {
      line += c[i];
      if (i + 1 < c.size()) line += std::string(width[i] - c[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
  std::cout.flush();
}

void print_table(const std::vector<Row>& rows) {
  std::vector<std::vector<std::string>> cells = {
      {"NAME", "ID", "STATE", "PID", "FIRMWARE", "UPTIME", "MEMORY", "EXIT"}};
  for (const auto& r : rows) {
    cells.push_back({r.name, r.id, r.state, r.pid, r.firmware, r.uptime,
                     r.memory ? format_bytes(*r.memory) : "-", r.exit});
  }
  print_columns(cells);
}

// sha1 → the STATS entry of each started instance; empty when the daemon has no cgroups.
std::map<std::string, Json> stats_by_sha1(Client& client, const Context& ctx) {
  std::map<std::string, Json> out;
  bool from_daemon = false;
  auto st = call(client, ctx, "STATS", {}, &from_daemon);
  if (!st.ok()) return out;
  for (const auto& e : fw::protocol::field_or(st->body, "stats", Json::array())) {
    out[fw::protocol::field_or(e, "sha1", "")] = e;
  }
  return out;
}

std::optional<uint64_t> u64_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

}  // namespace

std::string format_bytes(uint64_t b) {
  const char* units[] = {"B", "K", "M", "G", "T"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%lluB", static_cast<unsigned long long>(b));
  } else {
    std::snprintf(buf, sizeof(buf), v < 10 ? "%.1f%s" : "%.0f%s", v, units[u]);
  }
  return buf;
}

std::string format_uptime(uint64_t s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%llus", static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof(buf), "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s % 86400 / 3600));
  }
  return buf;
}

int run_ps(Context& ctx, const Args&) {
  const bool json = ctx.json;
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) return report_error(ctx, client.error(), false);
  bool from_daemon = false;
  auto firmwares = call(*client, ctx, "LIST", {"firmwares"}, &from_daemon);
  if (!firmwares.ok()) return report_error(ctx, firmwares.error(), from_daemon);
  std::map<std::string, std::string> firmware_names;
  for (const auto& e : fw::protocol::field_or(firmwares->body, "entities", Json::array())) {
    firmware_names[fw::protocol::field_or(e, "sha1", "")] = fw::protocol::field_or(e, "name", "");
  }
  auto instances = call(*client, ctx, "LIST", {"instances"}, &from_daemon);
  if (!instances.ok()) return report_error(ctx, instances.error(), from_daemon);
  std::vector<Row> rows;
  for (const auto& e : fw::protocol::field_or(instances->body, "entities", Json::array())) {
    auto show = call(*client, ctx, "SHOW", {"instances", fw::protocol::field_or(e, "sha1", "")},
                     &from_daemon);
    if (!show.ok()) {
      if (from_daemon && show.error().code == ENOENT) continue;  // dropped meanwhile
      return report_error(ctx, show.error(), from_daemon);
    }
    rows.push_back(row_of(show->body, firmware_names));
  }
  const auto stats = stats_by_sha1(*client, ctx);
  for (Row& r : rows) {
    if (auto it = stats.find(r.sha1); it != stats.end())
      r.memory = u64_field(it->second, "memory_current");
  }
  if (json) {
    Json out = Json::array();
    for (const auto& r : rows) out.push_back(json_of(r));
    std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
  } else {
    print_table(rows);
  }
  return kExitOk;
}

int run_restart(Context& ctx, const Args& args) {
  const bool graceful = args.has("graceful");
  const std::string& id = args.operands()[0];
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) return report_error(ctx, client.error(), false);
  bool from_daemon = false;
  auto killed = call(*client, ctx, graceful ? "STOP" : "KILL", {id}, &from_daemon, true);
  // ECHILD: not started, nothing to stop.
  if (!killed.ok() && !(from_daemon && killed.error().code == ECHILD)) {
    return report_error(ctx, killed.error(), from_daemon);
  }
  auto remounted = call(*client, ctx, "REMOUNT", {id}, &from_daemon);
  if (!remounted.ok()) return report_error(ctx, remounted.error(), from_daemon);
  auto started = call(*client, ctx, "START", {id}, &from_daemon, true);
  if (!started.ok()) return report_error(ctx, started.error(), from_daemon);
  if (ctx.json) {
    std::cout << started->body.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
  } else {
    std::cout << id << " restarted" << std::endl;
  }
  return kExitOk;
}

int run_stop(Context& ctx, const Args& args) {
  const std::vector<std::string>& ids = args.operands();
  const std::string signal = args.value_or("signal", "");
  const std::string timeout = args.value_or("timeout", "");
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) return report_error(ctx, client.error(), false);
  bool from_daemon = false;
  std::vector<std::string> req = {ids[0], signal};
  if (!timeout.empty()) req.push_back(timeout);
  auto stopped = call(*client, ctx, "STOP", req, &from_daemon, true);
  if (!stopped.ok()) return report_error(ctx, stopped.error(), from_daemon);
  if (ctx.json) {
    std::cout << stopped->body.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
    return kExitOk;
  }
  const std::string reason = fw::protocol::field_or(stopped->body, "reason", "");
  const std::string sig = fw::protocol::field_or(stopped->body, "signal", "");
  std::cout << ids[0]
            << (reason == "stop-timeout" ? " killed: still running after its stop timeout"
                                         : " stopped")
            << " (" << sig << ")" << std::endl;
  return kExitOk;
}

int run_stats(Context& ctx, const Args& args) {
  const bool json = ctx.json;
  const std::vector<std::string>& ids = args.operands();
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) return report_error(ctx, client.error(), false);
  bool from_daemon = false;
  auto st = call(*client, ctx, "STATS", ids, &from_daemon);
  if (!st.ok()) return report_error(ctx, st.error(), from_daemon);
  const Json list = fw::protocol::field_or(st->body, "stats", Json::array());
  if (json) {
    std::cout << list.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
    return kExitOk;
  }
  std::vector<std::vector<std::string>> cells = {
      {"NAME", "MEMORY", "PEAK", "LIMIT", "CPU", "PIDS", "OOM_KILLS"}};
  auto bytes = [](const std::optional<uint64_t>& v) { return v ? format_bytes(*v) : "-"; };
  for (const auto& e : list) {
    const auto cpu = u64_field(e, "cpu_usec");
    char cpu_text[32] = "-";
    if (cpu) std::snprintf(cpu_text, sizeof(cpu_text), "%.2fs", static_cast<double>(*cpu) / 1e6);
    const auto pids = u64_field(e, "pids_current");
    const std::string limit = fw::protocol::field_or(e, "memory_max", "");
    cells.push_back({fw::protocol::field_or(e, "name", ""), bytes(u64_field(e, "memory_current")),
                     bytes(u64_field(e, "memory_peak")), limit.empty() ? "-" : limit, cpu_text,
                     pids ? std::to_string(*pids) : "-",
                     std::to_string(u64_field(e, "oom_kills").value_or(0))});
  }
  print_columns(cells);
  return kExitOk;
}

}  // namespace fwctl
