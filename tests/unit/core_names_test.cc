#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "firmwared/core/names.h"

namespace fw::core {
namespace {

using Words = std::vector<std::string>;

WordLists lists(Words adjectives, Words nouns) {
  auto r = WordLists::from_words(std::move(adjectives), std::move(nouns));
  EXPECT_TRUE(r.ok()) << r.error().message;
  return std::move(*r);
}

// A temporary directory, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "core_names_test.XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ + "/" + name) << content;
  }

 private:
  std::string path_;
};

TEST(WordLists, NameAtWalksNounsFastestAndAdjectivesSlowest) {
  WordLists w = lists({"brave", "calm"}, {"turing", "hopper", "lovelace"});
  ASSERT_EQ(w.combinations(), 6u);
  const Words expected = {"brave_turing", "brave_hopper", "brave_lovelace",
                          "calm_turing",  "calm_hopper",  "calm_lovelace"};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(w.name_at(i), expected[i]) << i;
}

TEST(WordLists, FromWordsRejectsBadLists) {
  struct Case {
    Words adjectives, nouns;
    std::string message;
  };
  const Case cases[] = {
      {{}, {"cat"}, "the adjective list has no word"},
      {{"red"}, {}, "the noun list has no word"},
      {{"red", "Blue"},
       {"cat"},
       "adjective #2: 'Blue' is not a word of 2 to 12 lowercase letters a-z"},
      {{"red"}, {"cat", "x"}, "noun #2: 'x' is not a word of 2 to 12 lowercase letters a-z"},
      {{"red"},
       {"abcdefghijklm"},
       "noun #1: 'abcdefghijklm' is not a word of 2 to 12 lowercase letters a-z"},
      {{"red"}, {""}, "noun #1: '' is not a word of 2 to 12 lowercase letters a-z"},
      {{"red"}, {"ca t"}, "noun #1: 'ca t' is not a word of 2 to 12 lowercase letters a-z"},
      {{"red", "big", "red"}, {"cat"}, "adjective #3: word 'red' repeats adjective #1"},
  };
  for (const Case& c : cases) {
    auto r = WordLists::from_words(c.adjectives, c.nouns);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_EQ(r.error().message, c.message);
  }
  EXPECT_TRUE(WordLists::from_words({"ab", "abcdefghijkl"}, {"zz"}).ok());
}

TEST(WordLists, LoadReadsBothFilesSkippingEmptyLines) {
  TempDir dir;
  dir.write("adjectives.txt", "brave\n\ncalm\n");
  dir.write("nouns.txt", "turing\nhopper");  // no final newline
  auto r = WordLists::load(dir.path());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->adjectives(), (Words{"brave", "calm"}));
  EXPECT_EQ(r->nouns(), (Words{"turing", "hopper"}));
  EXPECT_EQ(r->combinations(), 4u);
}

TEST(WordLists, LoadNamesFileAndLineOfABadWord) {
  struct Case {
    std::string adjectives, nouns, message;
  };
  const Case cases[] = {
      {"brave\n\nCalm\n", "cat\n",
       "word list {}/adjectives.txt:3: 'Calm' is not a word of 2 to 12 lowercase letters a-z"},
      {"brave\n", "cat\ndog\r\n",
       "word list {}/nouns.txt:2: 'dog\\x0d' is not a word of 2 to 12 lowercase letters a-z"},
      {"brave\n", "cat\n dog\n",
       "word list {}/nouns.txt:2: ' dog' is not a word of 2 to 12 lowercase letters a-z"},
      {"brave\n", "cat\n\ndog\ncat\n", "word list {}/nouns.txt:4: word 'cat' repeats line 1"},
      {"\n\n", "cat\n", "word list '{}/adjectives.txt' has no word"},
      {"brave\n", "", "word list '{}/nouns.txt' has no word"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    dir.write("adjectives.txt", c.adjectives);
    dir.write("nouns.txt", c.nouns);
    std::string expected = c.message;
    expected.replace(expected.find("{}"), 2, dir.path());
    auto r = WordLists::load(dir.path());
    ASSERT_FALSE(r.ok()) << expected;
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_EQ(r.error().message, expected);
  }
}

TEST(WordLists, LoadReportsAMissingFileWithENOENT) {
  TempDir dir;
  dir.write("adjectives.txt", "brave\n");
  auto r = WordLists::load(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().message,
            "opening word list '" + dir.path() + "/nouns.txt': No such file or directory");

  auto missing_dir = WordLists::load(dir.path() + "/nowhere");
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_EQ(missing_dir.error().code, ENOENT);
  EXPECT_EQ(missing_dir.error().message, "opening word list '" + dir.path() +
                                             "/nowhere/adjectives.txt': No such file or "
                                             "directory");
}

TEST(PickName, ReturnsAFreeNameWhenTheSpaceIsEmpty) {
  WordLists w = lists({"brave", "calm"}, {"turing", "hopper"});
  std::mt19937_64 rng(1);
  auto r = pick_name(
      w, [](const std::string&) { return false; }, rng);
  ASSERT_TRUE(r.ok());
  const std::set<std::string> all = {"brave_turing", "brave_hopper", "calm_turing", "calm_hopper"};
  EXPECT_TRUE(all.count(*r)) << *r;
}

TEST(PickName, FindsTheLastFreeNameWhenAllOthersAreTaken) {
  Words adjectives, nouns;
  for (char a = 'a'; a <= 'z'; ++a) adjectives.push_back(std::string(2, a));
  for (char a = 'a'; a <= 'z'; ++a) nouns.push_back(std::string(3, a));
  WordLists w = lists(adjectives, nouns);
  ASSERT_EQ(w.combinations(), 676u);
  for (size_t free_index : {size_t{0}, size_t{337}, size_t{675}}) {
    const std::string free_name = w.name_at(free_index);
    for (uint64_t seed = 0; seed < 20; ++seed) {
      std::mt19937_64 rng(seed);
      int calls = 0;
      auto r = pick_name(
          w,
          [&](const std::string& n) {
            ++calls;
            return n != free_name;
          },
          rng);
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_EQ(*r, free_name);
      EXPECT_LE(calls, 8 + 676);
    }
  }
}

TEST(PickName, AllTakenIsENOSPC) {
  WordLists w = lists({"brave", "calm", "eager"}, {"turing", "hopper"});
  std::mt19937_64 rng(7);
  std::set<std::string> asked;
  auto r = pick_name(
      w,
      [&](const std::string& n) {
        asked.insert(n);
        return true;
      },
      rng);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOSPC);
  EXPECT_EQ(r.error().message, "all 6 names are taken");
  EXPECT_EQ(asked.size(), 6u);  // every name was tried before giving up
}

TEST(PickName, IsDeterministicForASeedAndSpreadsOverTheSpace) {
  Words adjectives, nouns;
  for (char a = 'a'; a <= 'z'; ++a) adjectives.push_back(std::string(2, a));
  for (char a = 'a'; a <= 'z'; ++a) nouns.push_back(std::string(2, a));
  WordLists w = lists(adjectives, nouns);
  auto sequence = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::set<std::string> taken;
    Words picked;
    for (int i = 0; i < 50; ++i) {
      auto r = pick_name(
          w, [&](const std::string& n) { return taken.count(n) > 0; }, rng);
      EXPECT_TRUE(r.ok());
      taken.insert(*r);
      picked.push_back(*r);
    }
    return picked;
  };
  const Words a = sequence(42);
  EXPECT_EQ(a, sequence(42));
  EXPECT_NE(a, sequence(43));
  EXPECT_EQ(std::set<std::string>(a.begin(), a.end()).size(), 50u);
  // Random picks, not a scan from index 0: the first name is not always "aa_aa".
  std::set<std::string> firsts;
  for (uint64_t seed = 0; seed < 10; ++seed) firsts.insert(sequence(seed).front());
  EXPECT_GT(firsts.size(), 5u);
}

TEST(ValidateName, AcceptsGoodNames) {
  for (std::string_view name :
       {"a", "Z", "0a", "brave_turing", "my-firmware.v2", "a.b-c_d", "_x", "x.", "x-", "cafe",
        "abcde",                                      // hex, but shorter than a sha1 prefix
        "0123456789abcdef0123456789abcdef012345678",  // 41 hex digits: no sha1 starts so
        "g123456789abcdef0123456789abcdef01234567",   // 40 chars, not all hex
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {  // 64 bytes
    Status s = validate_name(name);
    EXPECT_TRUE(s.ok()) << name << ": " << s.error().message;
  }
}

TEST(ValidateName, RejectsBadNamesNamingTheRule) {
  const std::string kChars =
      "') is not allowed, a name may only contain letters, digits, "
      "'.', '_' and '-'";
  struct Case {
    std::string name, message;
  };
  const Case cases[] = {
      {"", "invalid name '': a name cannot be empty"},
      {std::string(65, 'a'),
       "invalid name '" + std::string(64, 'a') + "..." + "': a name has at most 64 bytes, not 65"},
      {".", "invalid name '.': a name cannot start with '-' or '.'"},
      {"..", "invalid name '..': a name cannot start with '-' or '.'"},
      {".hidden", "invalid name '.hidden': a name cannot start with '-' or '.'"},
      {"-rf", "invalid name '-rf': a name cannot start with '-' or '.'"},
      {"a/b", "invalid name 'a/b': byte 1 ('/" + kChars},
      {"../x", "invalid name '../x': byte 2 ('/" + kChars},
      {"a b", "invalid name 'a b': byte 1 (' " + kChars},
      {"a\tb", "invalid name 'a\\x09b': byte 1 ('\\x09" + kChars},
      {"a\nb", "invalid name 'a\\x0ab': byte 1 ('\\x0a" + kChars},
      {std::string("a\0b", 3), "invalid name 'a\\x00b': byte 1 ('\\x00" + kChars},
      {"caf\xc3\xa9", "invalid name 'caf\xc3\xa9': byte 3 ('\\xc3" + kChars},
      {"a\xff", "invalid name 'a\\xff': byte 1 ('\\xff" + kChars},
      {"a:b", "invalid name 'a:b': byte 1 (':" + kChars},
      {"a'b", "invalid name 'a'b': byte 1 (''" + kChars},
      {"da39a3ee5e6b4b0d3255bfef95601890afd80709",
       "invalid name 'da39a3ee5e6b4b0d3255bfef95601890afd80709': a name cannot be 40 hex "
       "digits, it would shadow a sha1"},
      {"0", "invalid name '0': a name cannot be only digits, it would look like an index"},
      {"42", "invalid name '42': a name cannot be only digits, it would look like an index"},
      {"deadbeef",
       "invalid name 'deadbeef': a name cannot be 6 to 40 hex digits, it would shadow a sha1 "
       "prefix"},
      {"0123456789abcdef0123456789abcdef0123456",
       "invalid name '0123456789abcdef0123456789abcdef0123456': a name cannot be 6 to 40 hex "
       "digits, it would shadow a sha1 prefix"},
      {"CAFE42",
       "invalid name 'CAFE42': a name cannot be 6 to 40 hex digits, it would shadow "
       "a sha1 prefix"},
      {"DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
       "invalid name 'DA39A3EE5E6B4B0D3255BFEF95601890AFD80709': a name cannot be 40 hex "
       "digits, it would shadow a sha1"},
  };
  for (const Case& c : cases) {
    Status s = validate_name(c.name);
    ASSERT_FALSE(s.ok()) << c.message;
    EXPECT_EQ(s.error().code, EINVAL);
    EXPECT_EQ(s.error().message, c.message);
  }
}

TEST(ValidateName, LongBadNamesAreCutInTheMessage) {
  Status s = validate_name(std::string(1000, 'x'));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "invalid name '" + std::string(64, 'x') +
                                   "...': a name has at most 64 bytes, not 1000");
}

}  // namespace
}  // namespace fw::core
