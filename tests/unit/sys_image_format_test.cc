#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "firmwared/base/fd.h"
#include "firmwared/sys/image_format.h"

namespace fw::sys {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/fwtest-sys.XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

bool have_tool(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

void put16(std::vector<unsigned char>& b, size_t off, uint16_t v) {
  b[off] = v & 0xff;
  b[off + 1] = v >> 8;
}
void put32(std::vector<unsigned char>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = (v >> (8 * i)) & 0xff;
}
void put64(std::vector<unsigned char>& b, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[off + i] = (v >> (8 * i)) & 0xff;
}

constexpr unsigned char kUuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                     0x53, 0xef, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
constexpr char kUuidText[] = "12345678-9abc-def0-53ef-0a0b0c0d0e0f";

// A minimal ext superblock: 8 blocks of 1 KiB (the file is exactly 8 KiB), revision 1.
std::vector<unsigned char> ext_image(uint32_t compat, uint32_t incompat, uint32_t ro_compat) {
  std::vector<unsigned char> b(8192, 0);
  const size_t sb = 1024;
  put32(b, sb + 4, 8);   // s_blocks_count_lo
  put32(b, sb + 24, 0);  // s_log_block_size: 1 KiB
  put16(b, sb + 56, 0xEF53);
  put32(b, sb + 76, 1);  // s_rev_level: dynamic
  put32(b, sb + 92, compat);
  put32(b, sb + 96, incompat);
  put32(b, sb + 100, ro_compat);
  std::memcpy(&b[sb + 104], kUuid, 16);
  return b;
}

std::vector<unsigned char> squashfs_image(uint16_t major, uint64_t bytes_used, size_t size) {
  std::vector<unsigned char> b(size, 0);
  std::memcpy(b.data(), "hsqs", 4);
  put16(b, 28, major);
  put64(b, 40, bytes_used);
  return b;
}

std::vector<unsigned char> erofs_image(uint32_t blocks, uint32_t incompat, uint16_t blocks_hi) {
  std::vector<unsigned char> b(8192, 0);
  const size_t sb = 1024;
  put32(b, sb, 0xE0F5E1E2);
  b[sb + 12] = 12;  // blkszbits: 4 KiB
  put16(b, sb + 14, blocks_hi);
  put32(b, sb + 36, blocks);
  std::memcpy(&b[sb + 48], kUuid, 16);
  put32(b, sb + 80, incompat);
  return b;
}

Result<ImageInfo> probe_bytes(const TempDir& dir, const std::vector<unsigned char>& bytes) {
  std::string path = dir / "image";
  write_file(path, bytes);
  return probe_image_path(path);
}

void expect_einval(const Result<ImageInfo>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "expected an error containing: " << needle;
  EXPECT_EQ(r.error().code, EINVAL) << r.error().message;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

TEST(ImageFormat, NamesAreMountTypes) {
  EXPECT_STREQ(format_name(ImageFormat::kExt2), "ext2");
  EXPECT_STREQ(format_name(ImageFormat::kExt3), "ext3");
  EXPECT_STREQ(format_name(ImageFormat::kExt4), "ext4");
  EXPECT_STREQ(format_name(ImageFormat::kSquashfs), "squashfs");
  EXPECT_STREQ(format_name(ImageFormat::kErofs), "erofs");
}

TEST(ImageFormat, ExtWithoutJournalIsExt2) {
  TempDir dir;
  // ext_attr|resize_inode|dir_index; filetype; sparse_super|large_file.
  auto r = probe_bytes(dir, ext_image(0x38, 0x2, 0x3));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->format, ImageFormat::kExt2);
  EXPECT_EQ(r->uuid, kUuidText);
  EXPECT_EQ(r->fs_bytes, 8192u);
}

TEST(ImageFormat, ExtWithJournalIsExt3) {
  TempDir dir;
  auto r = probe_bytes(dir, ext_image(0x3c, 0x2 | 0x4 | 0x10, 0x3 | 0x4));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->format, ImageFormat::kExt3);
}

TEST(ImageFormat, AnyExt4OnlyFeatureMakesExt4) {
  TempDir dir;
  struct Case {
    const char* feature;
    uint32_t incompat;
    uint32_t ro_compat;
  };
  const Case cases[] = {{"extents", 0x40, 0},       {"64bit", 0x80, 0},
                        {"flex_bg", 0x200, 0},      {"huge_file", 0, 0x8},
                        {"dir_nlink", 0, 0x20},     {"extra_isize", 0, 0x40},
                        {"metadata_csum", 0, 0x400}};
  for (const Case& c : cases) {
    for (uint32_t compat : {0u, 0x4u}) {  // with and without a journal
      auto r = probe_bytes(dir, ext_image(compat, 0x2 | c.incompat, c.ro_compat));
      ASSERT_TRUE(r.ok()) << c.feature << ": " << r.error().message;
      EXPECT_EQ(r->format, ImageFormat::kExt4) << c.feature;
    }
  }
}

TEST(ImageFormat, ExtRevisionZeroIgnoresFeatureWords) {
  TempDir dir;
  auto bytes = ext_image(0x4, 0x40, 0x400);
  put32(bytes, 1024 + 76, 0);
  auto r = probe_bytes(dir, bytes);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->format, ImageFormat::kExt2);
}

TEST(ImageFormat, ExtNilUuidIsEmpty) {
  TempDir dir;
  auto bytes = ext_image(0, 0x2, 0);
  std::memset(&bytes[1024 + 104], 0, 16);
  auto r = probe_bytes(dir, bytes);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->uuid, "");
}

TEST(ImageFormat, Ext64BitBlockCountCountsHighWord) {
  TempDir dir;
  auto bytes = ext_image(0, 0x2 | 0x80, 0);
  put32(bytes, 1024 + 0x150, 1);  // s_blocks_count_hi
  expect_einval(probe_bytes(dir, bytes), "superblock describes " +
                                             std::to_string(((1ull << 32) + 8) * 1024) +
                                             " bytes but the file has 8192");
}

TEST(ImageFormat, ExtExternalJournalIsNotAnImage) {
  TempDir dir;
  expect_einval(probe_bytes(dir, ext_image(0, 0x8, 0)), "external journal");
}

TEST(ImageFormat, ExtInsaneBlockSizeIsRejected) {
  TempDir dir;
  auto bytes = ext_image(0, 0x2, 0);
  put32(bytes, 1024 + 24, 40);
  expect_einval(probe_bytes(dir, bytes), "is not a known filesystem image");
}

TEST(ImageFormat, SquashfsV4) {
  TempDir dir;
  auto r = probe_bytes(dir, squashfs_image(4, 3000, 4096));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->format, ImageFormat::kSquashfs);
  EXPECT_EQ(r->uuid, "");
  EXPECT_EQ(r->fs_bytes, 3000u);
}

TEST(ImageFormat, SquashfsOldVersionsAreRejected) {
  TempDir dir;
  expect_einval(probe_bytes(dir, squashfs_image(3, 3000, 4096)), "squashfs version 3");
  auto big_endian = squashfs_image(4, 3000, 4096);
  std::memcpy(big_endian.data(), "sqsh", 4);
  expect_einval(probe_bytes(dir, big_endian), "big-endian squashfs");
}

TEST(ImageFormat, Erofs) {
  TempDir dir;
  auto r = probe_bytes(dir, erofs_image(2, 0, 0));
  ASSERT_TRUE(r.ok()) << r.error().message;
  // The uuid holds 0xEF53 where an ext magic would be: erofs must still win.
  EXPECT_EQ(r->format, ImageFormat::kErofs);
  EXPECT_EQ(r->uuid, kUuidText);
  EXPECT_EQ(r->fs_bytes, 8192u);
}

TEST(ImageFormat, Erofs48BitBlockCount) {
  TempDir dir;
  expect_einval(probe_bytes(dir, erofs_image(2, 0x80, 1)),
                "describes " + std::to_string(((1ull << 32) + 2) * 4096) + " bytes");
  // Without the feature bit the same field is the root nid, not a block count.
  auto r = probe_bytes(dir, erofs_image(2, 0, 1));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->fs_bytes, 8192u);
}

TEST(ImageFormat, SyntheticTruncation) {
  TempDir dir;
  expect_einval(probe_bytes(dir, squashfs_image(4, 5000, 4096)),
                "'" + (dir / "image") + "' is truncated: its superblock describes 5000 bytes " +
                    "but the file has 4096");
  auto cut = ext_image(0, 0x2, 0);
  cut.resize(1100);
  expect_einval(probe_bytes(dir, cut), "is truncated");
}

TEST(ImageFormat, EmptyFile) {
  TempDir dir;
  expect_einval(probe_bytes(dir, {}), "'" + (dir / "image") + "' is empty");
}

TEST(ImageFormat, RandomBytesAreUnknown) {
  TempDir dir;
  std::mt19937 rng(42);
  std::vector<unsigned char> bytes(65536);
  for (auto& b : bytes) b = static_cast<unsigned char>(rng());
  expect_einval(
      probe_bytes(dir, bytes),
      "'" + (dir / "image") + "' is not a known filesystem image (ext2/3/4, squashfs, erofs)");
}

TEST(ImageFormat, FifoDoesNotBlock) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  expect_einval(probe_image_path(dir / "fifo"), "'" + (dir / "fifo") + "' is a fifo");
}

TEST(ImageFormat, SocketIsNamed) {
  TempDir dir;
  Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = dir / "sock";
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  expect_einval(probe_image_path(path), "is a socket");
}

TEST(ImageFormat, DirectoryIsNamed) {
  TempDir dir;
  expect_einval(probe_image_path(dir.path()), "'" + dir.path() + "' is a directory");
}

TEST(ImageFormat, CharacterDeviceIsNamed) {
  expect_einval(probe_image_path("/dev/null"), "'/dev/null' is a character device");
}

TEST(ImageFormat, SymlinkLoopIsEloop) {
  TempDir dir;
  ASSERT_EQ(::symlink("b", (dir / "a").c_str()), 0);
  ASSERT_EQ(::symlink("a", (dir / "b").c_str()), 0);
  auto r = probe_image_path(dir / "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ELOOP);
  EXPECT_NE(r.error().message.find(dir / "a"), std::string::npos) << r.error().message;
}

TEST(ImageFormat, MissingFileIsEnoent) {
  TempDir dir;
  auto r = probe_image_path(dir / "missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message.find(dir / "missing"), std::string::npos) << r.error().message;
}

TEST(ImageFormat, ProbeByFdKeepsTheOffsetAndNamesTheFile) {
  TempDir dir;
  write_file(dir / "image", squashfs_image(4, 3000, 4096));
  Fd fd(::open((dir / "image").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::lseek(fd.get(), 123, SEEK_SET), 123);
  auto r = probe_image(fd.get());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 123);

  write_file(dir / "empty", {});
  Fd empty(::open((dir / "empty").c_str(), O_RDONLY | O_CLOEXEC));
  expect_einval(probe_image(empty.get()), "'" + (dir / "empty") + "' is empty");
  expect_einval(probe_image(empty.get(), "firmware.img"), "'firmware.img' is empty");
}

// Real images made by the real tools, in a directory holding a few files.
class RealImages : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((dir_ / "content").c_str(), 0755), 0);
    std::ofstream(dir_ / "content/hello.txt") << "hello\n";
    ASSERT_EQ(::mkdir((dir_ / "content/etc").c_str(), 0755), 0);
    std::ofstream(dir_ / "content/etc/hostname") << "firmware\n";
  }
  void make(const std::string& cmd) {
    ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
  }
  std::string blkid_uuid(const std::string& path) {
    return run_capture("blkid -p -o value -s UUID '" + path + "' 2>/dev/null");
  }
  TempDir dir_;
};

TEST_F(RealImages, Ext2Ext3Ext4FromMke2fs) {
  const struct {
    const char* type;
    ImageFormat format;
    const char* uuid;
  } cases[] = {{"ext2", ImageFormat::kExt2, "0f2c29a8-6a4e-4c2b-9a60-000000000002"},
               {"ext3", ImageFormat::kExt3, "0f2c29a8-6a4e-4c2b-9a60-000000000003"},
               {"ext4", ImageFormat::kExt4, "0f2c29a8-6a4e-4c2b-9a60-000000000004"}};
  for (const auto& c : cases) {
    std::string image = dir_ / (std::string(c.type) + ".img");
    make("mke2fs -q -F -t " + std::string(c.type) + " -U " + c.uuid + " -d '" + (dir_ / "content") +
         "' '" + image + "' 4M");
    auto r = probe_image_path(image);
    ASSERT_TRUE(r.ok()) << c.type << ": " << r.error().message;
    EXPECT_EQ(r->format, c.format) << c.type;
    EXPECT_EQ(r->uuid, c.uuid) << c.type;
    EXPECT_EQ(r->uuid, blkid_uuid(image)) << c.type;
    EXPECT_EQ(r->fs_bytes, 4u << 20) << c.type;
  }
}

TEST_F(RealImages, SquashfsFromMksquashfs) {
  std::string image = dir_ / "fw.squashfs";
  make("mksquashfs '" + (dir_ / "content") + "' '" + image + "' -noappend -quiet");
  auto r = probe_image_path(image);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->format, ImageFormat::kSquashfs);
  EXPECT_EQ(r->uuid, "");
  EXPECT_GT(r->fs_bytes, 96u);
  EXPECT_LE(r->fs_bytes, std::filesystem::file_size(image));
}

TEST_F(RealImages, ErofsFromMkfsErofs) {
  if (!have_tool("mkfs.erofs")) GTEST_SKIP() << "mkfs.erofs is not installed";
  std::string image = dir_ / "fw.erofs";
  make("mkfs.erofs '" + image + "' '" + (dir_ / "content") + "'");
  auto r = probe_image_path(image);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->format, ImageFormat::kErofs);
  EXPECT_EQ(r->uuid.size(), 36u);
  EXPECT_EQ(r->uuid, blkid_uuid(image));
  EXPECT_EQ(r->fs_bytes, std::filesystem::file_size(image));
}

TEST_F(RealImages, TruncatedToHalfIsDetected) {
  std::string ext4 = dir_ / "ext4.img";
  make("mke2fs -q -F -t ext4 -d '" + (dir_ / "content") + "' '" + ext4 + "' 4M");
  ASSERT_EQ(::truncate(ext4.c_str(), 2 << 20), 0);
  expect_einval(probe_image_path(ext4), "'" + ext4 + "' is truncated: its superblock describes " +
                                            std::to_string(4 << 20) + " bytes but the file has " +
                                            std::to_string(2 << 20));

  std::string squashfs = dir_ / "fw.squashfs";
  make("mksquashfs '" + (dir_ / "content") + "' '" + squashfs + "' -noappend -quiet");
  auto whole = probe_image_path(squashfs);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  ASSERT_EQ(::truncate(squashfs.c_str(), static_cast<off_t>(whole->fs_bytes / 2)), 0);
  expect_einval(probe_image_path(squashfs), "'" + squashfs + "' is truncated");
}

}  // namespace
}  // namespace fw::sys
