#pragma once
// An instance's resource limits as users write them (properties memory_max, pids_max,
// cpu_weight; "" = no limit), checked and converted for its cgroup.

#include <cstdint>
#include <optional>
#include <string>

#include "firmwared/base/result.h"

namespace fw::core {

inline constexpr uint64_t kMinMemoryMax = 4ULL << 20;  // below this nothing boots
inline constexpr uint64_t kMaxPids = 4194304;          // the kernel's PID_MAX_LIMIT

// Bytes: digits with an optional binary suffix K, M, G or T (as cgroup's memory.max and
// systemd's MemoryMax= read them): "512M", "1G", "1073741824". At least 4M. "512MB",
// "1.5G" and the like are EINVAL naming the accepted forms.
Result<std::optional<uint64_t>> parse_memory_max(const std::string& value);
// 1 to 4194304 processes.
Result<std::optional<uint64_t>> parse_pids_max(const std::string& value);
// 1 to 10000, cgroup2's cpu.weight (100 is the default share).
Result<std::optional<uint32_t>> parse_cpu_weight(const std::string& value);

}  // namespace fw::core
