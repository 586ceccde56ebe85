// Labels of instances and PREPARE's option words (core/labels.h, core/folder.h).

#include "firmwared/core/labels.h"

#include <gtest/gtest.h>

#include "firmwared/core/folder.h"

namespace fw::core {
namespace {

TEST(ParseLabel, SplitsAtTheFirstEqualsSign) {
  auto l = parse_label("ci.example/job=build-42");
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->first, "ci.example/job");
  EXPECT_EQ(l->second, "build-42");
  auto empty = parse_label("flag=");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->second, "");
  auto rich = parse_label("k=user@host:8080/a+b_c.d");
  ASSERT_TRUE(rich.ok()) << rich.error().message;
}

TEST(ParseLabel, RejectsBadLabelsNamingThem) {
  struct Case {
    std::string label, message;
  };
  const std::string kKeyChars =
      "') is not allowed, a key may only contain letters, digits, '.', '_', '/' and '-'";
  const Case cases[] = {
      {"novalue", "invalid label 'novalue': expected KEY=VALUE"},
      {"=v", "invalid label key '': a key cannot be empty"},
      {"-k=v", "invalid label key '-k': a key starts with a letter or a digit"},
      {"a b=v", "invalid label key 'a b': byte 1 (' " + kKeyChars},
      {"a:b=v", "invalid label key 'a:b': byte 1 (':" + kKeyChars},
      {std::string(64, 'k') + "=v",
       "invalid label key '" + std::string(64, 'k') + "': a key has at most 63 bytes, not 64"},
      {"k=a b",
       "invalid value 'a b' of label 'k': byte 1 (' ') is not allowed, a value may only contain "
       "letters, digits, '.', '_', '/', '-', ':', '@' and '+'"},
      {"k=a=b", "invalid value 'a=b' of label 'k': byte 1 ('=') is not allowed"},
      {"k=a,b", "invalid value 'a,b' of label 'k': byte 1 (',') is not allowed"},
      {"k=" + std::string(128, 'v'), "a value has at most 127 bytes, not 128"},
  };
  for (const Case& c : cases) {
    auto l = parse_label(c.label);
    ASSERT_FALSE(l.ok()) << c.label;
    EXPECT_EQ(l.error().code, EINVAL);
    EXPECT_NE(l.error().message.find(c.message), std::string::npos)
        << l.error().message << "\n  wanted: " << c.message;
  }
  EXPECT_TRUE(parse_label(std::string(63, 'k') + "=" + std::string(127, 'v')).ok());
}

TEST(ParseLabels, RefusesARepeatedKeyAndTooManyLabels) {
  auto twice = parse_labels({"a=1", "b=2", "a=3"});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "label key 'a' is given twice");
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxLabels; ++i) many.push_back("k" + std::to_string(i) + "=v");
  auto too_many = parse_labels(many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().code, E2BIG);
  EXPECT_EQ(too_many.error().message, "too many labels: 33, an instance has at most 32");
  many.pop_back();
  auto enough = parse_labels(many);
  ASSERT_TRUE(enough.ok());
  EXPECT_EQ(enough->size(), kMaxLabels);
}

TEST(ParseLabels, ListsThemSortedByKey) {
  auto l = parse_labels({"zone=b", "arch=arm64", "ci="});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(label_list(*l), (std::vector<std::string>{"arch=arm64", "ci=", "zone=b"}));
  EXPECT_TRUE(label_list({}).empty());
}

TEST(ParsePrepareOptions, TakesNameAndLabels) {
  auto o = parse_prepare_options({"label=a=1", "name=web1", "label=b="});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->name, "web1");
  EXPECT_EQ(o->labels, (std::vector<std::string>{"a=1", "b="}));
  auto none = parse_prepare_options({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto empty_name = parse_prepare_options({"name="});
  ASSERT_TRUE(empty_name.ok());
  EXPECT_EQ(empty_name->name, "");  // the folder refuses it, naming the rule
}

TEST(ParsePrepareOptions, RefusesUnknownWordsAndASecondName) {
  auto unknown = parse_prepare_options({"colour=red"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, EINVAL);
  EXPECT_EQ(unknown.error().message,
            "unknown PREPARE option 'colour=red': expected name=NAME or label=KEY=VALUE");
  auto twice = parse_prepare_options({"name=a", "name=b"});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "PREPARE option 'name=b': name= given twice");
}

}  // namespace
}  // namespace fw::core
