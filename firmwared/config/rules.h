#pragma once
// Internal to fw_config: the key table and the value rules behind keys() and validation.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fw::config::internal {

enum class Rule {
  kBool,          // y or n
  kIfacePrefix,   // host_interface_prefix
  kIfaceName,     // container_interface
  kIfaceList,     // stealable_interfaces: interface names, comma- or space-separated
  kNetPrefix,     // net_first_two_bytes
  kPath,          // absolute path
  kSocketPath,    // absolute path fitting sun_path
  kOptionalPath,  // empty or absolute path
  kLogLevel,      // error, warning, notice, info, debug
  kSeconds,       // a timeout: integer 1..86400
  kConnections,   // max_connections: integer 64..65536 (above the root reserve)
  kPerUid,        // max_connections_per_uid: integer 1..65536
  kUserns,        // userns: auto, y or n
  kIdPool,        // userns_pool: FIRST:BLOCKS, FIRST a multiple of 65536
  kHostAccess,    // host_access: none, all or a port list (base/host_access.h)
  kCgroupName,    // cgroup: one directory name, 1..64 of A-Z a-z 0-9 _ - .
  kLogSize,       // console_log_max: bytes, 4096..1073741824
};

struct KeySpec {
  const char* name;
  Rule rule;
  const char* fixed_default;  // nullptr: a shipped file, resolved by shipped_paths()
  const char* description;
};

// Returns every key, sorted by name.
std::span<const KeySpec> key_specs();
// Returns the spec of `name` (exact, lower case), nullptr when unknown.
const KeySpec* find_key(std::string_view name);

// Returns true when `value` satisfies `rule` (the length limit is checked separately).
bool satisfies(Rule rule, std::string_view value);
// Returns the rule as a phrase completing "must be ...".
std::string rule_text(Rule rule);

// The integer value of a key whose rule is kSeconds, kConnections, kPerUid or kLogSize
// (validated).
long parse_count(std::string_view value);

// The first id and the number of 65,536-id blocks of a kIdPool value (validated).
struct IdPool {
  uint32_t first = 0;
  uint32_t blocks = 0;
};
IdPool parse_id_pool(std::string_view value);

// Splits a kIfaceList value at commas and whitespace (empty items dropped).
std::vector<std::string> split_iface_list(std::string_view value);

}  // namespace fw::config::internal
