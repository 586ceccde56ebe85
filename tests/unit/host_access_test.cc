// host_access: parsing and validation (base/host_access.h) and the nftables text the net
// helper sends for it (net-helpers/nft_rules.h).

#include <gtest/gtest.h>

#include "firmwared/base/host_access.h"
#include "net-helpers/nft_rules.h"

namespace {

using fw::HostAccess;
using fw::PortRange;
using Proto = fw::PortRange::Proto;

HostAccess parse_ok(const std::string& text) {
  auto r = fw::parse_host_access(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : HostAccess{};
}

std::string parse_error(const std::string& text) {
  auto r = fw::parse_host_access(text);
  EXPECT_FALSE(r.ok()) << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, EINVAL);
  return r.error().message;
}

TEST(HostAccess, NoneAllAndPortLists) {
  EXPECT_EQ(parse_ok("none").kind, HostAccess::Kind::kNone);
  EXPECT_EQ(parse_ok(" all ").kind, HostAccess::Kind::kAll);
  const HostAccess p = parse_ok("tcp:22 udp:53,tcp:8000-8010\ttcp:65535");
  EXPECT_EQ(p.kind, HostAccess::Kind::kPorts);
  const std::vector<PortRange> want = {{Proto::kTcp, 22, 22},
                                       {Proto::kUdp, 53, 53},
                                       {Proto::kTcp, 8000, 8010},
                                       {Proto::kTcp, 65535, 65535}};
  EXPECT_EQ(p.ports, want);
  EXPECT_EQ(fw::to_string(p), "tcp:22 udp:53 tcp:8000-8010 tcp:65535");
  for (const std::string text : {"none", "all", "tcp:1", "udp:1-65535 tcp:9-9"}) {
    EXPECT_EQ(fw::parse_host_access(fw::to_string(parse_ok(text))).value(), parse_ok(text));
  }
  EXPECT_EQ(fw::to_string(parse_ok("tcp:9-9")), "tcp:9");
}

TEST(HostAccess, RefusalsNameTheEntryAndTheRule) {
  EXPECT_EQ(parse_error(""),
            std::string("invalid host_access '': empty; must be ") + fw::host_access_rule());
  EXPECT_EQ(parse_error("tcp:22 sctp:9"),
            std::string("invalid host_access 'tcp:22 sctp:9': 'sctp:9' is not PROTO:PORT with "
                        "PROTO tcp or udp; must be ") +
                fw::host_access_rule());
  EXPECT_EQ(parse_error("tcp:0"),
            "invalid host_access 'tcp:0': 'tcp:0': ports are decimal numbers from 1 to 65535 "
            "without leading zeros (PORT or FIRST-LAST)");
  EXPECT_EQ(parse_error("udp:10-9"),
            "invalid host_access 'udp:10-9': 'udp:10-9': the range ends before it starts");
  EXPECT_EQ(parse_error("none tcp:22"),
            "invalid host_access 'none tcp:22': 'none' cannot be combined with ports");
  for (const std::string bad : {"tcp:65536", "tcp:022", "tcp:+1", "tcp:-1", "tcp:1-", "tcp:", "tcp",
                                ":22", "TCP:22", "tcp:22:23", "all all", "tcp:1--2"}) {
    EXPECT_TRUE(parse_error(bad).starts_with("invalid host_access")) << bad;
  }
  std::string many;
  for (int i = 1; i <= 65; ++i) many += "tcp:" + std::to_string(i) + " ";
  EXPECT_EQ(parse_error(many).substr(0, 19), "invalid host_access");
  EXPECT_TRUE(parse_error(many).ends_with(": more than 64 entries"));
}

TEST(HostAccess, TableIsNamedFromThePrefix) {
  EXPECT_EQ(fw::host_access_table("fd_veth", "0123456789abcdef"),
            "firmwared_fd_veth_0123456789abcdef");
  EXPECT_EQ(fw::net::check_table_name("firmwared_fd-veth"), "");
  EXPECT_NE(fw::net::check_table_name("filter"), "") << "never another's table";
  EXPECT_NE(fw::net::check_table_name("firmwared_"), "");
  EXPECT_NE(fw::net::check_table_name("firmwared_a b"), "");
  EXPECT_EQ(fw::net::check_table_name("firmwared_fd_veth_0123456789abcdef"), "");
  EXPECT_NE(fw::net::check_table_name("firmwared_" + std::string(33, 'a')), "");
  EXPECT_NE(fw::net::check_nft_word("fd.veth0"), "");
}

TEST(NftRules, PortSetsAreSortedAndMergedPerProtocol) {
  const HostAccess a = parse_ok("tcp:8000-8010 udp:53 tcp:22 tcp:8005-8020 tcp:23 tcp:8021");
  EXPECT_EQ(fw::net::port_set(a, Proto::kTcp), "22-23, 8000-8021");
  EXPECT_EQ(fw::net::port_set(a, Proto::kUdp), "53");
  EXPECT_EQ(fw::net::port_set(parse_ok("udp:1"), Proto::kTcp), "");
}

TEST(NftRules, InstallOfAPortList) {
  EXPECT_EQ(fw::net::install_commands("firmwared_fd_veth", "fd_veth3", "10.202.3.254",
                                      parse_ok("tcp:22 udp:53 tcp:8000-8010")),
            "add table inet firmwared_fd_veth\n"
            "add map inet firmwared_fd_veth input_if { type ifname : verdict; }\n"
            "add map inet firmwared_fd_veth forward_if { type ifname : verdict; }\n"
            "add chain inet firmwared_fd_veth input { type filter hook input priority filter; "
            "policy accept; }\n"
            "add chain inet firmwared_fd_veth forward { type filter hook forward priority filter; "
            "policy accept; }\n"
            "flush chain inet firmwared_fd_veth input\n"
            "flush chain inet firmwared_fd_veth forward\n"
            "add rule inet firmwared_fd_veth input iifname vmap @input_if\n"
            "add rule inet firmwared_fd_veth forward iifname vmap @forward_if\n"
            "add chain inet firmwared_fd_veth in_fd_veth3\n"
            "flush chain inet firmwared_fd_veth in_fd_veth3\n"
            "add rule inet firmwared_fd_veth in_fd_veth3 ct state established,related accept\n"
            "add rule inet firmwared_fd_veth in_fd_veth3 ip daddr 10.202.3.254 icmp type "
            "echo-request accept\n"
            "add rule inet firmwared_fd_veth in_fd_veth3 icmpv6 type { nd-neighbor-solicit, "
            "nd-neighbor-advert } accept\n"
            "add rule inet firmwared_fd_veth in_fd_veth3 ip daddr 10.202.3.254 tcp dport "
            "{ 22, 8000-8010 } accept\n"
            "add rule inet firmwared_fd_veth in_fd_veth3 ip daddr 10.202.3.254 udp dport { 53 } "
            "accept\n"
            "add rule inet firmwared_fd_veth in_fd_veth3 drop\n"
            "add chain inet firmwared_fd_veth fwd_fd_veth3\n"
            "flush chain inet firmwared_fd_veth fwd_fd_veth3\n"
            "add rule inet firmwared_fd_veth fwd_fd_veth3 ct state established,related accept\n"
            "add rule inet firmwared_fd_veth fwd_fd_veth3 drop\n"
            "add element inet firmwared_fd_veth input_if { \"fd_veth3\" : jump in_fd_veth3 }\n"
            "add element inet firmwared_fd_veth forward_if { \"fd_veth3\" : jump fwd_fd_veth3 }\n");
}

TEST(NftRules, InstallOfNoneHasNoPortRule) {
  const std::string s =
      fw::net::install_commands("firmwared_x", "x0", "10.1.0.254", parse_ok("none"));
  EXPECT_EQ(s.find("dport"), std::string::npos) << s;
  EXPECT_NE(s.find("add rule inet firmwared_x in_x0 drop\n"), std::string::npos) << s;
  EXPECT_NE(s.find("add rule inet firmwared_x fwd_x0 drop\n"), std::string::npos) << s;
}

fw::net::TableContents contents(std::set<std::string> ifs) {
  fw::net::TableContents c;
  c.exists = true;
  c.chains = {"input", "forward"};
  for (const auto& i : ifs) {
    c.chains.insert("in_" + i);
    c.chains.insert("fwd_" + i);
    c.input_entries.insert(i);
    c.forward_entries.insert(i);
  }
  return c;
}

bool same(const fw::net::TableContents& a, const fw::net::TableContents& b) {
  return a.exists == b.exists && a.chains == b.chains && a.input_entries == b.input_entries &&
         a.forward_entries == b.forward_entries;
}

// What a serving helper believes its table holds after its own changes must be what a
// listing would say.
TEST(NftRules, ContentsFollowedThroughInstallAndRemoval) {
  EXPECT_TRUE(same(fw::net::after_install({}, "x1"), contents({"x1"})));
  EXPECT_TRUE(same(fw::net::after_install(contents({"x1"}), "x2"), contents({"x1", "x2"})));
  EXPECT_TRUE(same(fw::net::after_install(contents({"x1"}), "x1"), contents({"x1"})));
  EXPECT_TRUE(same(fw::net::after_remove(contents({"x1", "x2"}), {"x1"}), contents({"x2"})));
  EXPECT_TRUE(same(fw::net::after_remove(contents({"x1", "x2"}), {"x3"}), contents({"x1", "x2"})));
  // The last one out deletes the table.
  EXPECT_TRUE(same(fw::net::after_remove(contents({"x1"}), {"x1"}), {}));
  EXPECT_TRUE(same(fw::net::after_remove(contents({"x1", "x2"}), {"x1", "x2"}), {}));
  EXPECT_TRUE(same(fw::net::after_remove({}, {"x1"}), {}));
}

TEST(NftRules, RemovalDeletesTheEntriesOrTheWholeTableWithTheLast) {
  EXPECT_EQ(fw::net::remove_commands("firmwared_x", contents({"x1", "x2"}), {"x1"}),
            "delete element inet firmwared_x input_if { \"x1\" }\n"
            "delete element inet firmwared_x forward_if { \"x1\" }\n"
            "flush chain inet firmwared_x in_x1\ndelete chain inet firmwared_x in_x1\n"
            "flush chain inet firmwared_x fwd_x1\ndelete chain inet firmwared_x fwd_x1\n");
  EXPECT_EQ(fw::net::remove_commands("firmwared_x", contents({"x1"}), {"x1"}),
            "delete table inet firmwared_x\n");
  EXPECT_EQ(fw::net::remove_commands("firmwared_x", contents({}), {"x1"}),
            "delete table inet firmwared_x\n")
      << "an empty table of ours goes too";
  EXPECT_EQ(fw::net::remove_commands("firmwared_x", fw::net::TableContents{}, {"x1"}), "")
      << "no table: nothing to do";
  // Only what exists is deleted (nft 1.0.6 has no 'destroy'): a chain without its entry.
  auto half = contents({"x2"});
  half.chains.insert("in_x1");
  EXPECT_EQ(fw::net::remove_commands("firmwared_x", half, {"x1"}),
            "flush chain inet firmwared_x in_x1\ndelete chain inet firmwared_x in_x1\n");
}

TEST(NftRules, ListingIsReadForOurTableOnly) {
  const std::string json = R"({"nftables": [
    {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
    {"table": {"family": "inet", "name": "firmwared_x", "handle": 1}},
    {"table": {"family": "inet", "name": "firewalld", "handle": 2}},
    {"table": {"family": "ip", "name": "firmwared_y", "handle": 3}},
    {"map": {"family": "inet", "name": "input_if", "table": "firmwared_x", "type": "ifname",
             "map": "verdict", "elem": [["x1", {"jump": {"target": "in_x1"}}],
                                        ["x2", {"jump": {"target": "in_x2"}}]]}},
    {"map": {"family": "inet", "name": "forward_if", "table": "firmwared_x", "type": "ifname",
             "map": "verdict"}},
    {"chain": {"family": "inet", "table": "firmwared_x", "name": "input", "handle": 2}},
    {"chain": {"family": "inet", "table": "firmwared_x", "name": "in_x1", "handle": 4}},
    {"chain": {"family": "inet", "table": "firmwared_x", "name": "fwd_x3", "handle": 5}},
    {"chain": {"family": "inet", "table": "firewalld", "name": "in_x9", "handle": 6}}]})";
  auto c = fw::net::parse_listing(json, "firmwared_x");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->exists);
  EXPECT_EQ(c->chains, (std::set<std::string>{"input", "in_x1", "fwd_x3"}));
  EXPECT_EQ(c->input_entries, (std::set<std::string>{"x1", "x2"}));
  EXPECT_TRUE(c->forward_entries.empty());
  EXPECT_EQ(c->interfaces(), (std::set<std::string>{"x1", "x2", "x3"}));
  auto other = fw::net::parse_listing(json, "firmwared_y");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->exists) << "family ip is not ours";
  EXPECT_EQ(fw::net::parse_listing("{", "firmwared_x").error().code, EPROTO);
}

}  // namespace
