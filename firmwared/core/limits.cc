#include "firmwared/core/limits.h"

#include "firmwared/base/strings.h"

namespace fw::core {

namespace {

// A whole number of at most 19 digits (no sign, no blank).
std::optional<uint64_t> parse_digits(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

Result<std::optional<uint64_t>> parse_memory_max(const std::string& value) {
  if (value.empty()) return std::optional<uint64_t>();
  const Error bad = make_error(
      EINVAL, "invalid memory_max " + quote(value) +
                  ": must be a number of bytes with an optional K, M, G or T suffix (powers of "
                  "1024, e.g. 512M or 2G), at least 4M; empty for no limit");
  std::string digits = value;
  uint64_t unit = 1;
  switch (value.back()) {
    case 'K':
    case 'k':
      unit = 1ULL << 10;
      break;
    case 'M':
    case 'm':
      unit = 1ULL << 20;
      break;
    case 'G':
    case 'g':
      unit = 1ULL << 30;
      break;
    case 'T':
    case 't':
      unit = 1ULL << 40;
      break;
    default:
      break;
  }
  if (unit != 1) digits.pop_back();
  auto n = parse_digits(digits);
  if (!n || *n > (UINT64_MAX >> 1) / unit) return bad;
  const uint64_t bytes = *n * unit;
  if (bytes < kMinMemoryMax) return bad;
  return std::optional<uint64_t>(bytes);
}

Result<std::optional<uint64_t>> parse_pids_max(const std::string& value) {
  if (value.empty()) return std::optional<uint64_t>();
  auto n = parse_digits(value);
  if (!n || *n < 1 || *n > kMaxPids) {
    return make_error(EINVAL, "invalid pids_max " + quote(value) +
                                  ": must be a number of processes from 1 to " +
                                  std::to_string(kMaxPids) + "; empty for no limit");
  }
  return std::optional<uint64_t>(*n);
}

Result<std::optional<uint32_t>> parse_cpu_weight(const std::string& value) {
  if (value.empty()) return std::optional<uint32_t>();
  auto n = parse_digits(value);
  if (!n || *n < 1 || *n > 10000) {
    return make_error(EINVAL, "invalid cpu_weight " + quote(value) +
                                  ": must be a number from 1 to 10000 (100 is an ordinary "
                                  "share); empty for none");
  }
  return std::optional<uint32_t>(static_cast<uint32_t>(*n));
}

}  // namespace fw::core
