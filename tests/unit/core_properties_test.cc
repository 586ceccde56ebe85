#include <random>

#include <gtest/gtest.h>

#include "firmwared/base/strings.h"
#include "firmwared/core/property_ref.h"
#include "firmwared/core/shell_words.h"

namespace fw::core {
namespace {

using Words = std::vector<std::string>;
constexpr auto kNone = std::nullopt;

// ---- property references ----

TEST(ParsePropertyRef, AcceptsNamesAndIndexes) {
  struct Case {
    std::string text, name;
    std::optional<size_t> index;
    bool array_syntax;
  };
  const Case cases[] = {
      {"name", "name", kNone, false},
      {"cmdline", "cmdline", kNone, false},
      {"cmdline[]", "cmdline", kNone, true},
      {"cmdline[0]", "cmdline", 0, true},
      {"cmdline[12]", "cmdline", 12, true},
      {"cmdline[007]", "cmdline", 7, true},
      {"cmdline[999999999]", "cmdline", 999999999, true},
      {"My_Prop_2", "My_Prop_2", kNone, false},
      {"_", "_", kNone, false},
      {"9lives[1]", "9lives", 1, true},
      {std::string(64, 'p'), std::string(64, 'p'), kNone, false},
  };
  for (const Case& c : cases) {
    auto r = parse_property_ref(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.error().message;
    EXPECT_EQ(r->name, c.name) << c.text;
    EXPECT_EQ(r->index, c.index) << c.text;
    EXPECT_EQ(r->array_syntax, c.array_syntax) << c.text;
  }
}

TEST(ParsePropertyRef, RejectsMalformedReferences) {
  const std::string kIndex = "the index must be a decimal number of at most 9 digits";
  const std::string kChar =
      "') is not allowed, a property name is made of letters, digits "
      "and '_'";
  struct Case {
    std::string text, message;
  };
  const Case cases[] = {
      {"", "invalid property '': the property name is empty"},
      {"[1]", "invalid property '[1]': the property name is empty"},
      {"[]", "invalid property '[]': the property name is empty"},
      {"name[", "invalid property 'name[': missing ']' after '['"},
      {"name[1", "invalid property 'name[1': missing ']' after '['"},
      {"name[]x", "invalid property 'name[]x': unexpected text after ']'"},
      {"name[1][2]", "invalid property 'name[1][2]': unexpected text after ']'"},
      {"name[1] ", "invalid property 'name[1] ': unexpected text after ']'"},
      {"name[-1]", "invalid property 'name[-1]': " + kIndex},
      {"name[+1]", "invalid property 'name[+1]': " + kIndex},
      {"name[x]", "invalid property 'name[x]': " + kIndex},
      {"name[ 1]", "invalid property 'name[ 1]': " + kIndex},
      {"name[1.5]", "invalid property 'name[1.5]': " + kIndex},
      {"name[0x1]", "invalid property 'name[0x1]': " + kIndex},
      {"name[1000000000]", "invalid property 'name[1000000000]': " + kIndex},
      {"name[[1]]", "invalid property 'name[[1]]': unexpected text after ']'"},
      {"na-me", "invalid property 'na-me': byte 2 ('-" + kChar},
      {"na.me", "invalid property 'na.me': byte 2 ('." + kChar},
      {" name", "invalid property ' name': byte 0 (' " + kChar},
      {"name ", "invalid property 'name ': byte 4 (' " + kChar},
      {"name]", "invalid property 'name]': byte 4 (']" + kChar},
      {"n\xc3\xa9", "invalid property 'n\xc3\xa9': byte 1 ('\\xc3" + kChar},
      {"a\nb[1]", "invalid property 'a\\x0ab[1]': byte 1 ('\\x0a" + kChar},
      {std::string(65, 'p'),
       "invalid property '" + std::string(64, 'p') + "...': a property name has at most 64 bytes"},
  };
  for (const Case& c : cases) {
    auto r = parse_property_ref(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().code, EINVAL) << c.text;
    EXPECT_EQ(r.error().message, c.message);
  }
}

// ---- array_get ----

TEST(ArrayGet, ReadsElementsNilAndAll) {
  const Words v = {"/sbin/init", "--log-level", "debug"};
  struct Case {
    std::optional<size_t> index;
    std::string expected;
  };
  const Case cases[] = {
      {0, "/sbin/init"},
      {1, "--log-level"},
      {2, "debug"},
      {3, "nil"},
      {kNone, "/sbin/init --log-level debug"},
  };
  for (const Case& c : cases) {
    auto r = array_get("cmdline", v, c.index);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, c.expected);
  }
}

TEST(ArrayGet, QuotesElementsSoTheTextCanBeSetBack) {
  const Words v = {"/bin/sh", "-c", "echo 'hi there' \"$HOME\"", "", "a\tb", "it's"};
  auto r = array_get("cmdline", v, kNone);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "/bin/sh -c 'echo '\\''hi there'\\'' \"$HOME\"' '' 'a\tb' 'it'\\''s'");
  Words back = {"old"};
  ASSERT_TRUE(array_set("cmdline", back, kNone, *r).ok());
  EXPECT_EQ(back, v);
  // Elements are returned raw when read one by one.
  EXPECT_EQ(*array_get("cmdline", v, 2), "echo 'hi there' \"$HOME\"");
  EXPECT_EQ(*array_get("cmdline", v, 3), "");
}

TEST(ArrayGet, EmptyArray) {
  const Words v;
  EXPECT_EQ(*array_get("args", v, kNone), "");
  EXPECT_EQ(*array_get("args", v, 0), "nil");
  auto r = array_get("args", v, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ERANGE);
  EXPECT_EQ(r.error().message, "index 1 is past the end of args (0 elements)");
}

TEST(ArrayGet, PastTheEndIsERANGE) {
  const Words three = {"a", "b", "c"};
  auto r = array_get("cmdline", three, 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ERANGE);
  EXPECT_EQ(r.error().message, "index 5 is past the end of cmdline (3 elements)");
  auto one = array_get("cmdline", Words{"a"}, 2);
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.error().message, "index 2 is past the end of cmdline (1 element)");
}

// ---- array_set ----

TEST(ArraySet, IndexedWrites) {
  struct Case {
    Words before;
    size_t index;
    std::string value;
    Words after;
  };
  const Case cases[] = {
      {{"a", "b", "c"}, 0, "x", {"x", "b", "c"}},       // replace first
      {{"a", "b", "c"}, 2, "x y", {"a", "b", "x y"}},   // replace last, kept verbatim
      {{"a", "b", "c"}, 3, "d", {"a", "b", "c", "d"}},  // append
      {{}, 0, "/sbin/init", {"/sbin/init"}},            // append to empty
      {{"a", "b", "c"}, 1, "", {"a", "", "c"}},         // empty element
      {{"a", "b", "c"}, 1, "'q'", {"a", "'q'", "c"}},   // no unquoting with an index
      {{"a", "b", "c"}, 1, "nil", {"a"}},               // truncate in the middle
      {{"a", "b", "c"}, 0, "nil", {}},                  // truncate at 0
      {{"a", "b", "c"}, 3, "nil", {"a", "b", "c"}},     // truncate at size: no-op
      {{}, 0, "nil", {}},                               // truncate empty at 0
      {{"a", "b", "c"}, 1, "NIL", {"a", "NIL", "c"}},   // only exactly "nil"
      {{"a", "b", "c"}, 1, " nil", {"a", " nil", "c"}},
  };
  for (const Case& c : cases) {
    Words v = c.before;
    Status s = array_set("cmdline", v, c.index, c.value);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(v, c.after) << c.index << " " << c.value;
  }
}

TEST(ArraySet, IndexPastTheEndIsERANGEAndChangesNothing) {
  struct Case {
    Words before;
    size_t index;
    std::string value, message;
  };
  const Case cases[] = {
      {{"a", "b", "c"}, 4, "x", "index 4 is past the end of cmdline (3 elements)"},
      {{"a", "b", "c"}, 5, "nil", "index 5 is past the end of cmdline (3 elements)"},
      {{}, 1, "x", "index 1 is past the end of cmdline (0 elements)"},
      {{}, 1, "nil", "index 1 is past the end of cmdline (0 elements)"},
  };
  for (const Case& c : cases) {
    Words v = c.before;
    Status s = array_set("cmdline", v, c.index, c.value);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ERANGE);
    EXPECT_EQ(s.error().message, c.message);
    EXPECT_EQ(v, c.before);
  }
}

TEST(ArraySet, WholeValueIsSplitLikeAShell) {
  struct Case {
    std::string value;
    Words after;
  };
  const Case cases[] = {
      {"/sbin/init", {"/sbin/init"}},
      {"a b 'c d'", {"a", "b", "c d"}},
      {"/bin/sh -c \"echo $HOME; rm -rf /\"", {"/bin/sh", "-c", "echo $HOME; rm -rf /"}},
      {"", {}},
      {"   ", {}},
      {"nil", {"nil"}},
      {"''", {""}},
  };
  for (const Case& c : cases) {
    Words v = {"old", "values"};
    Status s = array_set("cmdline", v, kNone, c.value);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(v, c.after) << c.value;
  }
}

TEST(ArraySet, BadQuotingIsEINVALAndChangesNothing) {
  Words v = {"old"};
  Status s = array_set("cmdline", v, kNone, "a 'b");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EINVAL);
  EXPECT_EQ(s.error().message, "bad value for cmdline: unterminated single quote at byte 2");
  EXPECT_EQ(v, Words{"old"});
}

TEST(ArraySet, Limits) {
  const std::string max_element(kMaxArrayElementBytes, 'x');
  const std::string too_long(kMaxArrayElementBytes + 1, 'x');

  Words v = {"a"};
  ASSERT_TRUE(array_set("cmdline", v, 0, max_element).ok());
  ASSERT_TRUE(array_set("cmdline", v, 1, max_element).ok());
  EXPECT_EQ(v.size(), 2u);
  for (std::optional<size_t> index : {std::optional<size_t>(0), std::optional<size_t>(2)}) {
    Words before = v;
    Status s = array_set("cmdline", v, index, too_long);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, E2BIG);
    EXPECT_EQ(s.error().message, "element " + std::to_string(*index) +
                                     " of cmdline would be 65537 bytes long, more than the "
                                     "maximum of 65536");
    EXPECT_EQ(v, before);
  }
  Status whole = array_set("cmdline", v, kNone, "a " + too_long);
  ASSERT_FALSE(whole.ok());
  EXPECT_EQ(whole.error().code, E2BIG);
  EXPECT_EQ(whole.error().message,
            "element 1 of cmdline would be 65537 bytes long, more than the maximum of 65536");
  EXPECT_TRUE(array_set("cmdline", v, kNone, "a " + max_element).ok());

  Words full(kMaxArrayElements, "w");
  Status append = array_set("args", full, kMaxArrayElements, "w");
  ASSERT_FALSE(append.ok());
  EXPECT_EQ(append.error().code, E2BIG);
  EXPECT_EQ(append.error().message, "args would have 1025 elements, more than the maximum of 1024");
  EXPECT_EQ(full.size(), kMaxArrayElements);
  EXPECT_TRUE(array_set("args", full, kMaxArrayElements - 1, "replaced").ok());
  EXPECT_TRUE(array_set("args", full, kMaxArrayElements, "nil").ok());

  std::string words_1024, words_1025;
  for (size_t i = 0; i < kMaxArrayElements; ++i) words_1024 += "w ";
  words_1025 = words_1024 + "w";
  Words w;
  EXPECT_TRUE(array_set("args", w, kNone, words_1024).ok());
  EXPECT_EQ(w.size(), 1024u);
  Status split = array_set("args", w, kNone, words_1025);
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.error().code, E2BIG);
  EXPECT_EQ(split.error().message, "args would have 1025 elements, more than the maximum of 1024");
  EXPECT_EQ(w.size(), 1024u);
}

// ---- shell_split ----

TEST(ShellSplit, SplitsWithoutExpanding) {
  struct Case {
    std::string text;
    Words words;
  };
  const Case cases[] = {
      {"", {}},
      {" \t\n ", {}},
      {"a", {"a"}},
      {"a b c", {"a", "b", "c"}},
      {"  a   b  ", {"a", "b"}},
      {"a\tb\nc", {"a", "b", "c"}},
      {"a\rb\vc\f", {"a\rb\vc\f"}},  // only space, tab and newline are blanks
      {"'a b'", {"a b"}},
      {"'a \"b\" \\c $d'", {"a \"b\" \\c $d"}},
      {"'\n'", {"\n"}},
      {"\"a b\"", {"a b"}},
      {"\"a 'b' c\"", {"a 'b' c"}},
      {"\"\\\" \\\\ \\$ \\`\"", {"\" \\ $ `"}},
      {"\"\\a \\n \\'\"", {"\\a \\n \\'"}},  // other backslashes stay in double quotes
      {"\"a\\\nb\"", {"ab"}},                // backslash-newline vanishes in double quotes
      {"\"a\nb\"", {"a\nb"}},
      {"a\\ b", {"a b"}},
      {"\\'a\\'", {"'a'"}},
      {"\\\"", {"\""}},
      {"\\\\", {"\\"}},
      {"\\a\\b", {"ab"}},
      {"a\\\nb", {"ab"}},        // line continuation
      {"a \\\n b", {"a", "b"}},  // a continuation alone makes no word
      {"\\\n", {}},
      {"\\ ", {" "}},
      {"\"a\"'b'c", {"abc"}},
      {"a'b'\"c\"d", {"abcd"}},
      {"''", {""}},
      {"\"\"", {""}},
      {"a '' b", {"a", "", "b"}},
      {"'' \"\"", {"", ""}},
      {"x''", {"x"}},
      {"$HOME", {"$HOME"}},
      {"\"$HOME\"", {"$HOME"}},
      {"${HOME}/x", {"${HOME}/x"}},
      {"$(rm -rf /)", {"$(rm", "-rf", "/)"}},
      {"\"$(rm -rf /)\"", {"$(rm -rf /)"}},
      {"`x`", {"`x`"}},
      {"\"`reboot`\"", {"`reboot`"}},
      {"*.txt ~ ~/x ?", {"*.txt", "~", "~/x", "?"}},
      {"a;b && c | d > e", {"a;b", "&&", "c", "|", "d", ">", "e"}},
      {"# not a comment", {"#", "not", "a", "comment"}},
      {"caf\xc3\xa9 \xe2\x82\xac", {"caf\xc3\xa9", "\xe2\x82\xac"}},
      {"'it'\\''s'", {"it's"}},
      {"/bin/sh -c 'echo hi; exit 3'", {"/bin/sh", "-c", "echo hi; exit 3"}},
  };
  for (const Case& c : cases) {
    auto r = shell_split(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.error().message;
    EXPECT_EQ(*r, c.words) << "text: [" << c.text << "]";
  }
}

TEST(ShellSplit, RejectsBadQuotingNamingTheOffset) {
  struct Case {
    std::string text, message;
  };
  const Case cases[] = {
      {"'", "unterminated single quote at byte 0"},
      {"a 'b c", "unterminated single quote at byte 2"},
      {"\"", "unterminated double quote at byte 0"},
      {"ab \"c 'd' e", "unterminated double quote at byte 3"},
      {"\"a\\\"", "unterminated double quote at byte 0"},  // the escaped quote does not close
      {"'a'\"", "unterminated double quote at byte 3"},
      {"\\", "trailing backslash at byte 0"},
      {"a b\\", "trailing backslash at byte 3"},
      {"\"a\"\\", "trailing backslash at byte 3"},
  };
  for (const Case& c : cases) {
    auto r = shell_split(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_EQ(r.error().message, c.message);
  }
}

// ---- shell_quote ----

TEST(ShellQuote, QuotesOnlyWhenNeeded) {
  struct Case {
    std::string word, quoted;
  };
  const Case cases[] = {
      {"abc", "abc"},
      {"/sbin/init", "/sbin/init"},
      {"--a=b,c:d@e%f+g.h_i-J0", "--a=b,c:d@e%f+g.h_i-J0"},
      {"", "''"},
      {"a b", "'a b'"},
      {"it's", "'it'\\''s'"},
      {"'", "''\\'''"},
      {"$HOME", "'$HOME'"},
      {"a\"b", "'a\"b'"},
      {"a\\b", "'a\\b'"},
      {"a\nb", "'a\nb'"},
      {"*", "'*'"},
      {"~", "'~'"},
      {"#", "'#'"},
      {"caf\xc3\xa9", "'caf\xc3\xa9'"},
  };
  for (const Case& c : cases) EXPECT_EQ(shell_quote(c.word), c.quoted) << c.word;
}

TEST(ShellQuote, RoundTripsThroughShellSplit) {
  // Bytes chosen to hit every special case: quotes, backslashes, blanks, expansions-looking
  // characters, safe characters and UTF-8 (whole characters and stray bytes).
  const std::vector<std::string> atoms = {"a",
                                          "Z",
                                          "0",
                                          "_",
                                          "-",
                                          "/",
                                          ".",
                                          ",",
                                          "=",
                                          " ",
                                          "\t",
                                          "\n",
                                          "'",
                                          "\"",
                                          "\\",
                                          "$",
                                          "`",
                                          "*",
                                          "~",
                                          "#",
                                          "(",
                                          ")",
                                          ";",
                                          "&",
                                          "|",
                                          "<",
                                          ">",
                                          "?",
                                          "[",
                                          "]",
                                          "{",
                                          "}",
                                          "!",
                                          "\r",
                                          "'\\''",
                                          "\xc3\xa9",
                                          "\xe2\x82\xac",
                                          "\xf0\x9f\x98\x80",
                                          "\xff",
                                          "\x80",
                                          "nil",
                                          "$(x)"};
  std::mt19937_64 rng(20240601);
  std::uniform_int_distribution<size_t> word_count(0, 6);
  std::uniform_int_distribution<size_t> atom_count(0, 8);
  std::uniform_int_distribution<size_t> atom(0, atoms.size() - 1);
  for (int iteration = 0; iteration < 2000; ++iteration) {
    Words words(word_count(rng));
    for (std::string& w : words) {
      for (size_t k = atom_count(rng); k > 0; --k) w += atoms[atom(rng)];
    }
    std::vector<std::string> quoted;
    for (const std::string& w : words) quoted.push_back(shell_quote(w));
    const std::string text = join(quoted, " ");
    auto r = shell_split(text);
    ASSERT_TRUE(r.ok()) << "iteration " << iteration << ": " << r.error().message;
    ASSERT_EQ(*r, words) << "iteration " << iteration << ", text [" << text << "]";
    // array_get/array_set round trip on the same words.
    auto got = array_get("p", words, kNone);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, text);
  }
}

}  // namespace
}  // namespace fw::core
