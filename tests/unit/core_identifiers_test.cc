#include <gtest/gtest.h>

#include "firmwared/core/identifiers.h"

namespace fw::core {
namespace {

const std::string kA = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
const std::string kB = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd4";  // shares 39 digits
const std::string kC = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
const std::string kD = "0123456789abcdef0123456789abcdef01234567";

const std::vector<EntityRef> kEntities = {
    {kC, "calm_hopper"},
    {kA, "brave_turing"},
    {kB, "a_twin"},
    {kD, "da39a3"},  // a name that reads like a prefix of kC
};

std::string resolve_ok(std::string_view id) {
  auto r = resolve_identifier("firmware", id, kEntities);
  EXPECT_TRUE(r.ok()) << id << ": " << r.error().message;
  return r.ok() ? *r : "";
}

TEST(IsSha1, AcceptsExactly40HexDigitsInEitherCase) {
  EXPECT_TRUE(is_sha1(kA));
  EXPECT_TRUE(is_sha1("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"));
  EXPECT_TRUE(is_sha1("Da39a3ee5e6b4b0d3255bfef95601890afd80709"));
  EXPECT_FALSE(is_sha1(""));
  EXPECT_FALSE(is_sha1(kA.substr(0, 39)));
  EXPECT_FALSE(is_sha1(kA + "0"));
  EXPECT_FALSE(is_sha1("g94a8fe5ccb19ba61c4c0873d391e987982fbbd3"));
  EXPECT_FALSE(is_sha1(" 94a8fe5ccb19ba61c4c0873d391e987982fbbd3"));
}

TEST(ResolveIdentifier, FindsEntities) {
  struct Case {
    std::string id, sha1;
  };
  const Case cases[] = {
      {"calm_hopper", kC},
      {"brave_turing", kA},
      {kA, kA},
      {kB, kB},
      {"DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", kC},  // full sha1, upper case
      {"da39a3ee5e6b", kC},                              // 12-digit prefix
      {"da39a3e", kC},                                   // 7-digit prefix
      {"DA39A3E", kC},                                   // prefixes ignore case too
      {"012345", kD},                                    // 6-digit prefix
      {"da39a3", kD},  // an exact name wins over the sha1 prefix it looks like
  };
  for (const Case& c : cases) {
    EXPECT_EQ(resolve_ok(c.id), c.sha1) << c.id;
  }
}

TEST(ResolveIdentifier, ReturnsTheSha1AsStored) {
  const std::vector<EntityRef> upper = {{"DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", "x"}};
  auto full = resolve_identifier("instance", "da39a3ee5e6b4b0d3255bfef95601890afd80709", upper);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(*full, upper[0].sha1);
  auto prefix = resolve_identifier("instance", "da39a3", upper);
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(*prefix, upper[0].sha1);
}

TEST(ResolveIdentifier, ReportsUnknownIdentifiersWithWordingFittingTheId) {
  struct Case {
    std::string id;
    int code;
    std::string message;
  };
  const Case cases[] = {
      {"", EINVAL, "empty firmware identifier"},
      {"sad_lamport", ENOENT, "no firmware named 'sad_lamport'"},
      {"ffffff", ENOENT, "no firmware named 'ffffff' or with sha1 starting with 'ffffff'"},
      {"FFFFFF0123", ENOENT,
       "no firmware named 'FFFFFF0123' or with sha1 starting with 'FFFFFF0123'"},
      // 5 digits are refused even though they would start only kC.
      {"da39a", ENOENT, "no firmware named 'da39a' (a sha1 prefix needs at least 6 hex digits)"},
      {"a", ENOENT, "no firmware named 'a' (a sha1 prefix needs at least 6 hex digits)"},
      {"ffffffffffffffffffffffffffffffffffffffff", ENOENT,
       "no firmware named 'ffffffffffffffffffffffffffffffffffffffff' or with sha1 "
       "'ffffffffffffffffffffffffffffffffffffffff'"},
      {kA + "0", ENOENT, "no firmware named '" + kA + "0'"},  // 41 digits
      {"da39a3x", ENOENT, "no firmware named 'da39a3x'"},
      {"bad\nid", ENOENT, "no firmware named 'bad\\x0aid'"},
      {"CALM_HOPPER", ENOENT, "no firmware named 'CALM_HOPPER'"},  // names are exact
  };
  for (const Case& c : cases) {
    auto r = resolve_identifier("firmware", c.id, kEntities);
    ASSERT_FALSE(r.ok()) << c.id;
    EXPECT_EQ(r.error().code, c.code) << c.id;
    EXPECT_EQ(r.error().message, c.message);
  }
}

TEST(ResolveIdentifier, AmbiguousPrefixListsEveryCandidateSorted) {
  auto r = resolve_identifier("firmware", "a94a8fe5cc", kEntities);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_EQ(r.error().message,
            "ambiguous identifier 'a94a8fe5cc': it starts the sha1 of several firmwares: "
            "a_twin[" +
                kB + "], brave_turing[" + kA + "]");

  // 39 digits still are a prefix, and still ambiguous here.
  auto r39 = resolve_identifier("instance", kA.substr(0, 39), kEntities);
  ASSERT_FALSE(r39.ok());
  EXPECT_EQ(r39.error().code, EINVAL);
  EXPECT_EQ(r39.error().message, "ambiguous identifier '" + kA.substr(0, 39) +
                                     "': it starts the sha1 of several instances: a_twin[" + kB +
                                     "], brave_turing[" + kA + "]");
}

TEST(ResolveIdentifier, NoEntities) {
  auto r = resolve_identifier("instance", "brave_turing", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().message, "no instance named 'brave_turing'");
}

}  // namespace
}  // namespace fw::core
