// Unit tests of base/log's journal detection (JOURNAL_STREAM) and its field lists.

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "firmwared/base/log.h"

namespace fw::log {
namespace {

TEST(JournalStreamTest, ParsesDeviceColonInode) {
  dev_t dev = 0;
  ino_t ino = 0;
  ASSERT_TRUE(parse_journal_stream("8:1234567", &dev, &ino));
  EXPECT_EQ(dev, 8u);
  EXPECT_EQ(ino, 1234567u);
  for (const char* bad : {"", ":", "8:", ":12", "8", "a:1", "8:1x", "8:-1", "8 :1", "8:1:2"}) {
    EXPECT_FALSE(parse_journal_stream(bad, &dev, &ino)) << bad;
  }
}

TEST(JournalStreamTest, MatchesOnlyTheDescriptorsOwnDeviceAndInode) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(p[1], &st), 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  const std::string other = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  EXPECT_TRUE(fd_is_journal(p[1], mine.c_str()));
  EXPECT_FALSE(fd_is_journal(p[1], other.c_str()));  // stderr redirected since: not the journal
  EXPECT_FALSE(fd_is_journal(p[1], nullptr));        // JOURNAL_STREAM unset
  EXPECT_FALSE(fd_is_journal(p[1], "garbage"));
  ::close(p[0]);
  ::close(p[1]);
  EXPECT_FALSE(fd_is_journal(p[1], mine.c_str()));  // closed descriptor
}

TEST(LogFieldsTest, InstanceAndFirmwareFieldsLeaveEmptyValuesOut) {
  const Fields f = instance("web", "0123") + firmware("", "abcd");
  ASSERT_EQ(f.size(), 3u);
  EXPECT_STREQ(f[0].key, "FIRMWARED_INSTANCE");
  EXPECT_EQ(f[0].value, "0123");
  EXPECT_STREQ(f[1].key, "FIRMWARED_INSTANCE_NAME");
  EXPECT_EQ(f[1].value, "web");
  EXPECT_STREQ(f[2].key, "FIRMWARED_FIRMWARE");
  EXPECT_EQ(f[2].value, "abcd");
  EXPECT_TRUE(instance("", "").empty());
}

}  // namespace
}  // namespace fw::log
