// Unified diffs (firmwared/core/unified_diff.h): the exact format of small cases, and on
// random texts, that the hunks turn the old text into the new one and are as small as GNU
// diff --minimal's.

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "firmwared/core/unified_diff.h"

namespace fw::core {
namespace {

TEST(UnifiedDiff, EqualTextsGiveNothing) {
  EXPECT_EQ(unified_diff("a\nb\n", "a\nb\n", "a", "b"), "");
}

TEST(UnifiedDiff, OneChangedLineWithContext) {
  EXPECT_EQ(unified_diff("1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\nfive\n6\n7\n8\n", "a/f", "b/f"),
            "--- a/f\n+++ b/f\n"
            "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, EmptySidesAndMissingNewlines) {
  EXPECT_EQ(unified_diff("", "x\n", "/dev/null", "b/x"),
            "--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n");
  EXPECT_EQ(unified_diff("x\ny\n", "", "a/x", "/dev/null"),
            "--- a/x\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-x\n-y\n");
  EXPECT_EQ(unified_diff("x\n", "x", "a", "b"),
            "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+x\n\\ No newline at end of file\n");
}

TEST(UnifiedDiff, DistantChangesMakeSeparateHunks) {
  std::string a, b;
  for (int i = 1; i <= 20; ++i) {
    a += std::to_string(i) + "\n";
    b += (i == 2 || i == 19 ? "x" : std::to_string(i)) + "\n";
  }
  EXPECT_EQ(unified_diff(a, b, "a", "b"),
            "--- a\n+++ b\n"
            "@@ -1,5 +1,5 @@\n 1\n-2\n+x\n 3\n 4\n 5\n"
            "@@ -16,5 +16,5 @@\n 16\n 17\n 18\n-19\n+x\n 20\n");
}

TEST(LooksBinary, NulInTheFirst8000Bytes) {
  EXPECT_FALSE(looks_binary("text\n"));
  EXPECT_TRUE(looks_binary(std::string("a\0b", 3)));
  EXPECT_FALSE(looks_binary(std::string(8000, 'a') + std::string(1, '\0')));
}

// Applies unified diff hunks to `a` (lines only; headers skipped).
std::string apply_patch(const std::string& a, const std::string& patch) {
  std::vector<std::string> in;
  std::istringstream sa(a);
  for (std::string l; std::getline(sa, l);) in.push_back(l);
  std::vector<std::string> out;
  size_t pos = 0;
  std::istringstream sp(patch);
  std::string line;
  std::getline(sp, line);
  std::getline(sp, line);
  while (std::getline(sp, line)) {
    if (line.rfind("@@ -", 0) == 0) {
      size_t start = std::stoul(line.substr(4));
      size_t count = 1;
      if (auto c = line.find(','); c != std::string::npos && c < line.find(' ', 4)) {
        count = std::stoul(line.substr(c + 1));
      }
      size_t first = count == 0 ? start : start - 1;
      while (pos < first) out.push_back(in[pos++]);
    } else if (line[0] == ' ') {
      out.push_back(in[pos++]);
    } else if (line[0] == '-') {
      ++pos;
    } else if (line[0] == '+') {
      out.push_back(line.substr(1));
    }
  }
  while (pos < in.size()) out.push_back(in[pos++]);
  std::string r;
  for (auto& l : out) r += l + "\n";
  return r;
}

size_t changed_lines(const std::string& patch) {
  size_t n = 0;
  std::istringstream sp(patch);
  std::string line;
  for (int i = 0; std::getline(sp, line); ++i) {
    if (i >= 2 && (line[0] == '+' || line[0] == '-')) ++n;
  }
  return n;
}

// A private directory: several builds may run this test at once.
const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string t = testing::TempDir() + "fw_unified_diff.XXXXXX";
    if (::mkdtemp(t.data()) == nullptr) std::abort();
    return t;
  }();
  return dir;
}

std::string gnu_diff(const std::string& a, const std::string& b) {
  const std::string& dir = scratch_dir();
  std::ofstream(dir + "/ud_a") << a;
  std::ofstream(dir + "/ud_b") << b;
  FILE* p = ::popen(("diff --minimal -u " + dir + "/ud_a " + dir + "/ud_b").c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; p != nullptr && (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  if (p != nullptr) ::pclose(p);
  return out;
}

TEST(UnifiedDiff, RandomTextsPatchBackAndAreMinimal) {
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    std::string a, b;
    const int n = static_cast<int>(rng() % 40), m = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) a += std::string(1, static_cast<char>('a' + rng() % 4)) + "\n";
    for (int i = 0; i < m; ++i) b += std::string(1, static_cast<char>('a' + rng() % 4)) + "\n";
    const std::string d = unified_diff(a, b, "a", "b");
    ASSERT_EQ(apply_patch(a, d), b) << "a:\n" << a << "b:\n" << b << "diff:\n" << d;
    EXPECT_EQ(changed_lines(d), changed_lines(gnu_diff(a, b))) << d;
  }
  std::filesystem::remove_all(scratch_dir());
}

TEST(UnifiedDiff, OutOfBudgetStillGivesACorrectDiff) {
  std::string a, b;
  for (int i = 0; i < 300; ++i) {
    a += std::to_string(i * 7 % 13) + "\n";
    b += std::to_string(i * 5 % 11) + "\n";
  }
  const std::string d = unified_diff(a, b, "a", "b", 3, 10);
  EXPECT_EQ(apply_patch(a, d), b);
}

}  // namespace
}  // namespace fw::core
