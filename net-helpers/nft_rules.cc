#include "net-helpers/nft_rules.h"

#include <algorithm>
#include <cerrno>

#include <nlohmann/json.hpp>

namespace fw::net {

namespace {

constexpr const char* kInputMap = "input_if";
constexpr const char* kForwardMap = "forward_if";

std::string in_chain(const std::string& host_if) { return "in_" + host_if; }
std::string fwd_chain(const std::string& host_if) { return "fwd_" + host_if; }

// Words nft 1.0.6 takes unquoted, as chain and table names.
bool is_nft_word(const std::string& name) {
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::set<std::string> TableContents::interfaces() const {
  std::set<std::string> out(input_entries.begin(), input_entries.end());
  out.insert(forward_entries.begin(), forward_entries.end());
  for (const std::string& c : chains) {
    if (c.rfind("in_", 0) == 0) out.insert(c.substr(3));
    if (c.rfind("fwd_", 0) == 0) out.insert(c.substr(4));
  }
  return out;
}

std::string check_nft_word(const std::string& name) {
  if (name.empty() || name.size() > 15) return "must be 1 to 15 bytes long";
  if (!is_nft_word(name)) return "must hold only A-Z a-z 0-9 _ - (it names nftables chains)";
  return "";
}

std::string check_table_name(const std::string& table) {
  const std::string prefix = "firmwared_";
  if (table.rfind(prefix, 0) != 0) return "must start with 'firmwared_' (only those are ours)";
  // A daemon's table: its prefix (at most 15 bytes), '_' and its 16-hex owner id.
  const std::string rest = table.substr(prefix.size());
  if (rest.empty() || rest.size() > 32) return "must have 1 to 32 bytes after 'firmwared_'";
  if (!is_nft_word(rest)) return "must hold only A-Z a-z 0-9 _ - after 'firmwared_'";
  return "";
}

std::string port_set(const HostAccess& access, PortRange::Proto proto) {
  std::vector<std::pair<int, int>> ranges;
  for (const PortRange& r : access.ports) {
    if (r.proto == proto) ranges.emplace_back(r.first, r.last);
  }
  std::sort(ranges.begin(), ranges.end());
  // nft refuses overlapping intervals in one set: merge them (and adjacent ones).
  std::vector<std::pair<int, int>> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  std::string out;
  for (const auto& [first, last] : merged) {
    if (!out.empty()) out += ", ";
    out += std::to_string(first);
    if (last != first) out += "-" + std::to_string(last);
  }
  return out;
}

std::string install_commands(const std::string& table, const std::string& host_if,
                             const std::string& host_ip, const HostAccess& access) {
  const std::string t = "inet " + table;
  const std::string in = in_chain(host_if);
  const std::string fwd = fwd_chain(host_if);
  std::string s;
  auto line = [&s](const std::string& l) { s += l + "\n"; };
  line("add table " + t);
  line("add map " + t + " " + kInputMap + " { type ifname : verdict; }");
  line("add map " + t + " " + kForwardMap + " { type ifname : verdict; }");
  line("add chain " + t + " input { type filter hook input priority filter; policy accept; }");
  line("add chain " + t + " forward { type filter hook forward priority filter; policy accept; }");
  line("flush chain " + t + " input");
  line("flush chain " + t + " forward");
  line("add rule " + t + " input iifname vmap @" + kInputMap);
  line("add rule " + t + " forward iifname vmap @" + kForwardMap);
  // Traffic to the host: replies to what the host (or the instance's peers) started, ping
  // of host_ip, the listed ports at host_ip only; IPv6 neighbour discovery so that the
  // host can still reach the instance's link-local address (conntrack does not track it).
  line("add chain " + t + " " + in);
  line("flush chain " + t + " " + in);
  line("add rule " + t + " " + in + " ct state established,related accept");
  line("add rule " + t + " " + in + " ip daddr " + host_ip + " icmp type echo-request accept");
  line("add rule " + t + " " + in +
       " icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept");
  for (auto proto : {PortRange::Proto::kTcp, PortRange::Proto::kUdp}) {
    const std::string set = port_set(access, proto);
    if (set.empty()) continue;
    line("add rule " + t + " " + in + " ip daddr " + host_ip +
         (proto == PortRange::Proto::kTcp ? " tcp" : " udp") + " dport { " + set + " } accept");
  }
  line("add rule " + t + " " + in + " drop");
  // Traffic through the host: only replies (to connections made to the instance).
  line("add chain " + t + " " + fwd);
  line("flush chain " + t + " " + fwd);
  line("add rule " + t + " " + fwd + " ct state established,related accept");
  line("add rule " + t + " " + fwd + " drop");
  line("add element " + t + " " + kInputMap + " { \"" + host_if + "\" : jump " + in + " }");
  line("add element " + t + " " + kForwardMap + " { \"" + host_if + "\" : jump " + fwd + " }");
  return s;
}

std::string remove_commands(const std::string& table, const TableContents& contents,
                            const std::set<std::string>& victims) {
  if (!contents.exists) return "";
  const std::string t = "inet " + table;
  std::set<std::string> rest;
  for (const std::string& i : contents.interfaces()) {
    if (victims.count(i) == 0) rest.insert(i);
  }
  // Our base chains and maps alone: the table goes, so no firmwared rule stays behind.
  if (rest.empty()) return "delete table " + t + "\n";
  std::string s;
  for (const std::string& v : victims) {
    if (contents.input_entries.count(v) != 0) {
      s += "delete element " + t + " " + kInputMap + " { \"" + v + "\" }\n";
    }
    if (contents.forward_entries.count(v) != 0) {
      s += "delete element " + t + " " + kForwardMap + " { \"" + v + "\" }\n";
    }
    // A chain still jumped to cannot be deleted: the elements go first in the same batch.
    for (const std::string& c : {in_chain(v), fwd_chain(v)}) {
      if (contents.chains.count(c) != 0) {
        s += "flush chain " + t + " " + c + "\ndelete chain " + t + " " + c + "\n";
      }
    }
  }
  return s;
}

TableContents after_install(TableContents before, const std::string& host_if) {
  before.exists = true;
  before.chains.insert({"input", "forward", in_chain(host_if), fwd_chain(host_if)});
  before.input_entries.insert(host_if);
  before.forward_entries.insert(host_if);
  return before;
}

TableContents after_remove(const TableContents& before, const std::set<std::string>& victims) {
  if (!before.exists) return before;
  bool rest = false;
  for (const std::string& i : before.interfaces()) rest = rest || victims.count(i) == 0;
  if (!rest) return {};  // remove_commands deleted the table
  TableContents after = before;
  for (const std::string& v : victims) {
    after.input_entries.erase(v);
    after.forward_entries.erase(v);
    after.chains.erase(in_chain(v));
    after.chains.erase(fwd_chain(v));
  }
  return after;
}

Result<TableContents> parse_listing(const std::string& json, const std::string& table) {
  TableContents out;
  // Only objects of family inet in `table` count: a listing of every table names others'.
  auto ours = [&table](const nlohmann::json& o, const char* table_key) {
    return o.value("family", "") == "inet" && o.value(table_key, "") == table;
  };
  try {
    const auto doc = nlohmann::json::parse(json);
    for (const auto& item : doc.at("nftables")) {
      if (item.contains("table") && ours(item["table"], "name")) out.exists = true;
      if (item.contains("chain") && ours(item["chain"], "table")) {
        out.chains.insert(item["chain"].at("name").get<std::string>());
      }
      if (!item.contains("map") || !ours(item["map"], "table")) continue;
      const auto& map = item["map"];
      const std::string name = map.at("name").get<std::string>();
      if (!map.contains("elem") || (name != kInputMap && name != kForwardMap)) continue;
      auto& keys = name == kInputMap ? out.input_entries : out.forward_entries;
      for (const auto& e : map["elem"]) {
        // An element is [key, verdict]; libnftables writes older ones as {"elem": {...}}.
        if (e.is_array() && !e.empty() && e[0].is_string()) keys.insert(e[0].get<std::string>());
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return make_error(EPROTO, std::string("reading the nftables listing: ") + e.what());
  }
  return out;
}

}  // namespace fw::net
