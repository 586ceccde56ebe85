// An instance's resource limits as users write them (core/limits.h): memory_max, pids_max
// and cpu_weight, "" meaning no limit.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "firmwared/core/limits.h"

namespace fw::core {
namespace {

using Strings = std::vector<std::string>;

template <typename T>
std::optional<T> value_of(const Result<std::optional<T>>& r, const std::string& text) {
  EXPECT_TRUE(r.ok()) << "'" << text << "': " << r.error().message;
  return r.ok() ? *r : std::nullopt;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(MemoryMax, EmptyIsNoLimit) {
  auto r = parse_memory_max("");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, std::nullopt);
}

TEST(MemoryMax, BinarySuffixesAndPlainBytes) {
  EXPECT_EQ(value_of(parse_memory_max("512M"), "512M"), std::optional<uint64_t>(512ULL << 20));
  EXPECT_EQ(value_of(parse_memory_max("1G"), "1G"), std::optional<uint64_t>(1ULL << 30));
  EXPECT_EQ(value_of(parse_memory_max("4M"), "4M"), std::optional<uint64_t>(kMinMemoryMax));
  EXPECT_EQ(value_of(parse_memory_max("2g"), "2g"), std::optional<uint64_t>(2ULL << 30));
  EXPECT_EQ(value_of(parse_memory_max("4096K"), "4096K"), std::optional<uint64_t>(4ULL << 20));
  EXPECT_EQ(value_of(parse_memory_max("1T"), "1T"), std::optional<uint64_t>(1ULL << 40));
  EXPECT_EQ(value_of(parse_memory_max("1073741824"), "1073741824"),
            std::optional<uint64_t>(1ULL << 30));
  EXPECT_EQ(value_of(parse_memory_max("4194304"), "4194304"),
            std::optional<uint64_t>(kMinMemoryMax))
      << "exactly the minimum";
}

TEST(MemoryMax, MalformedBelowMinimumAndOverflowingAreEinval) {
  const Strings bad = {"512MB",
                       "1.5G",
                       "3M",
                       "4194303",
                       "4095K",
                       "-1",
                       "0",
                       "M",
                       " 512M",
                       "512M ",
                       "512 M",
                       "0x100M",
                       "+512M",
                       "1e9",
                       "max",
                       "99999999999999999999T",
                       "18446744073709551615",
                       "9999999999999999999",
                       "16777216T",
                       "8388608T"};
  for (const std::string& text : bad) {
    auto r = parse_memory_max(text);
    ASSERT_FALSE(r.ok()) << "'" << text << "' accepted";
    EXPECT_EQ(r.error().code, EINVAL) << text;
    EXPECT_TRUE(contains(r.error().message, "invalid memory_max '" + text + "'"))
        << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "K, M, G or T")) << r.error().message;
  }
}

TEST(MemoryMax, LargestAcceptedValuesDoNotWrap) {
  // 2^63 - 1 bytes is the most it takes; one more unit of T past it is refused.
  auto r = parse_memory_max("8388607T");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(**r, 8388607ULL << 40);
  auto bytes = parse_memory_max("9223372036854775807");
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  EXPECT_EQ(**bytes, UINT64_MAX >> 1);
}

TEST(PidsMax, RangeIsOneToPidMaxLimit) {
  auto none = parse_pids_max("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, std::nullopt);
  EXPECT_EQ(value_of(parse_pids_max("1"), "1"), std::optional<uint64_t>(1));
  EXPECT_EQ(value_of(parse_pids_max("512"), "512"), std::optional<uint64_t>(512));
  EXPECT_EQ(value_of(parse_pids_max("4194304"), "4194304"), std::optional<uint64_t>(kMaxPids));
  for (const std::string text :
       {"0", "4194305", "-1", "1.5", "10k", " 5", "max", "99999999999999999999", "+5"}) {
    auto r = parse_pids_max(text);
    ASSERT_FALSE(r.ok()) << "'" << text << "' accepted";
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_TRUE(contains(r.error().message, "invalid pids_max '" + text + "'"))
        << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "from 1 to 4194304")) << r.error().message;
  }
}

TEST(CpuWeight, RangeIsOneToTenThousand) {
  auto none = parse_cpu_weight("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, std::nullopt);
  EXPECT_EQ(value_of(parse_cpu_weight("1"), "1"), std::optional<uint32_t>(1));
  EXPECT_EQ(value_of(parse_cpu_weight("100"), "100"), std::optional<uint32_t>(100));
  EXPECT_EQ(value_of(parse_cpu_weight("10000"), "10000"), std::optional<uint32_t>(10000));
  for (const std::string text : {"0", "10001", "-1", "50%", "1.0", "idle", "4294967396"}) {
    auto r = parse_cpu_weight(text);
    ASSERT_FALSE(r.ok()) << "'" << text << "' accepted";
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_TRUE(contains(r.error().message, "invalid cpu_weight '" + text + "'"))
        << r.error().message;
  }
}

}  // namespace
}  // namespace fw::core
