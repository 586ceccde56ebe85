#pragma once
// The nftables text of net_hook's filter actions, built without touching the kernel (so unit
// tests pin it). Layout of a daemon's table (docs/net-helper.md, "filter"):
//
//   table inet firmwared_<prefix>
//     map input_if    ifname : verdict      host end -> jump in_<host end>
//     map forward_if  ifname : verdict      host end -> jump fwd_<host end>
//     chain input     hook input,   priority filter, policy accept: iifname vmap @input_if
//     chain forward   hook forward, priority filter, policy accept: iifname vmap @forward_if
//     chain in_<if>   established/related, ping of host_ip, the listed ports at host_ip,
//                     IPv6 neighbour discovery; drop
//     chain fwd_<if>  established/related; drop
//
// An instance whose host_access is `all` has no entry. Interfaces without an entry (the
// host's own, other daemons', other software's) go through both base chains untouched.

#include <set>
#include <string>
#include <vector>

#include "firmwared/base/host_access.h"
#include "firmwared/base/result.h"

namespace fw::net {

// What a listing of the table holds: the interfaces with a chain or a map entry.
struct TableContents {
  bool exists = false;
  std::set<std::string> chains;           // every chain name
  std::set<std::string> input_entries;    // keys of input_if
  std::set<std::string> forward_entries;  // keys of forward_if
  // The interfaces having anything in the table (from in_/fwd_ chains and map keys).
  std::set<std::string> interfaces() const;
};

// Returns "" when `name` can be used in our chain names and in a table name unquoted (nft
// 1.0.6 takes no quoted names): 1 to 15 of A-Z a-z 0-9 _ -; otherwise the rule.
std::string check_nft_word(const std::string& name);
// Returns "" when `table` is ours to touch: "firmwared_" followed by a valid word.
std::string check_table_name(const std::string& table);

// The batch installing (or replacing) the filter of `host_if` for `access` (kNone or kPorts)
// with `host_ip` (dotted quad) the host end's address. Creates the table, maps and base
// chains when missing; adding the base rule again is harmless because the batch flushes
// the base chains first. Atomic: nft applies a batch as one transaction.
std::string install_commands(const std::string& table, const std::string& host_if,
                             const std::string& host_ip, const HostAccess& access);

// The batch removing the entries of `victims` from the table described by `contents`;
// when nothing else would remain, deleting the whole table instead. "" when there is
// nothing to do.
std::string remove_commands(const std::string& table, const TableContents& contents,
                            const std::set<std::string>& victims);

// What the table holds once install_commands(table, host_if, ...) was applied to `before`
// (access none or ports), and once remove_commands(table, before, victims) was: a serving
// helper keeps its table's contents this way instead of listing it before every change.
TableContents after_install(TableContents before, const std::string& host_if);
TableContents after_remove(const TableContents& before, const std::set<std::string>& victims);

// Reads what a JSON listing (libnftables' output of `list tables inet` or `list table inet
// TABLE`) says about the inet table `table`; objects of other tables are ignored.
Result<TableContents> parse_listing(const std::string& json, const std::string& table);

// The port ranges of `access` of one protocol, sorted, overlapping and adjacent ones merged,
// as an nft set body ("22, 8000-8010"); "" when there is none.
std::string port_set(const HostAccess& access, PortRange::Proto proto);

}  // namespace fw::net
