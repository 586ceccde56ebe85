// Unit tests (no root) of the cgroup layout parser and the device policy's two encodings.
// The BPF program is run by a small interpreter of the few instructions it uses, so its
// decisions are checked without loading it (the root test loads and attaches it).

#include <linux/bpf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "firmwared/sys/cgroup.h"
#include "firmwared/sys/cgroup_devices.h"

namespace fw::sys {
namespace {

// This machine's shape: v1 controllers on their own mounts, cgroup2 at .../unified.
constexpr char kHybridMountinfo[] =
    "22 1 0:20 / /sys rw,nosuid - sysfs sysfs rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
    "33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
    "rw,xattr,release_agent=/x,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
    "41 1 0:31 /sub /mnt/memsub rw - cgroup cgroup rw,memory\n"
    "42 1 0:31 / /mnt/mem\\040again rw - cgroup cgroup rw,memory\n";
constexpr char kHybridSelf[] =
    "10:name=fwesc5:/\n"
    "9:name=systemd:/user.slice\n"
    "8:pids:/\n"
    "5:devices:/\n"
    "4:memory:/process_api/896d\n"
    "3:cpuset:/\n"
    "1:cpuacct,cpu:/\n"
    "0::/\n";

TEST(CgroupLayoutTest, HybridHostListsTheUsedHierarchiesWithThisProcessCgroups) {
  auto layout = CgroupLayout::discover_from(kHybridMountinfo, kHybridSelf);
  ASSERT_TRUE(layout.ok()) << layout.error().message;
  EXPECT_FALSE(layout->unified_host);
  ASSERT_EQ(layout->hierarchies.size(), 6u);  // no cpuset; the memory re-mount is a duplicate
  const CgroupHierarchy& cpu = layout->hierarchies[0];
  EXPECT_EQ(cpu.mount, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(cpu.controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ(cpu.self, "/");
  ASSERT_NE(layout->v1("memory"), nullptr);
  EXPECT_EQ(layout->v1("memory")->self, "/process_api/896d");
  EXPECT_EQ(layout->v1("memory")->self_dir(), "/sys/fs/cgroup/memory/process_api/896d");
  ASSERT_NE(layout->v1("name=systemd"), nullptr);
  EXPECT_EQ(layout->v1("name=systemd")->controllers, (std::vector<std::string>{"name=systemd"}));
  EXPECT_EQ(layout->v1("name=systemd")->self, "/user.slice");
  ASSERT_NE(layout->unified(), nullptr);
  EXPECT_EQ(layout->unified()->mount, "/sys/fs/cgroup/unified");
  EXPECT_EQ(layout->unified()->self, "/");
  EXPECT_TRUE(layout->unified()->controllers.empty());  // discover() reads them
  EXPECT_EQ(layout->v1("cpuset"), nullptr);
  EXPECT_EQ(layout->v1("devices")->mount, "/sys/fs/cgroup/devices");
}

TEST(CgroupLayoutTest, UnifiedHostHasOneHierarchy) {
  const char mountinfo[] =
      "25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n"
      "26 20 0:22 /lxc/c1 /var/lib/c1/cgroup rw - cgroup2 cgroup2 rw\n";
  auto layout = CgroupLayout::discover_from(mountinfo, "0::/system.slice/firmwared.service\n");
  ASSERT_TRUE(layout.ok()) << layout.error().message;
  EXPECT_TRUE(layout->unified_host);
  ASSERT_EQ(layout->hierarchies.size(), 1u);
  EXPECT_TRUE(layout->hierarchies[0].unified);
  EXPECT_EQ(layout->hierarchies[0].self_dir(), "/sys/fs/cgroup/system.slice/firmwared.service");
}

TEST(CgroupLayoutTest, MountedButUnlistedHierarchyIsLeftOut) {
  const char mountinfo[] =
      "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "38 30 0:35 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
  auto layout = CgroupLayout::discover_from(mountinfo, "4:memory:/\n");
  ASSERT_TRUE(layout.ok()) << layout.error().message;
  ASSERT_EQ(layout->hierarchies.size(), 1u);
  EXPECT_EQ(layout->hierarchies[0].mount, "/sys/fs/cgroup/memory");
}

TEST(CgroupLayoutTest, NoCgroupMountIsENOENT) {
  auto layout = CgroupLayout::discover_from("22 1 0:20 / /sys rw - sysfs sysfs rw\n", "0::/\n");
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.error().code, ENOENT);
}

TEST(CgroupLayoutTest, MalformedLinesAreEINVAL) {
  EXPECT_EQ(CgroupLayout::discover_from("31 30 0:28 / /x rw cgroup\n", "0::/\n").error().code,
            EINVAL);
  EXPECT_EQ(CgroupLayout::discover_from(kHybridMountinfo, "garbage\n").error().code, EINVAL);
  EXPECT_EQ(CgroupLayout::discover_from(kHybridMountinfo, "0::relative\n").error().code, EINVAL);
}

TEST(CgroupDevicesTest, V1LinesDenyBlockDevicesAndExpandPtyMajors) {
  const std::vector<std::string> lines = device_rules_v1(instance_device_rules());
  EXPECT_EQ(lines.front(), "c *:* m");
  EXPECT_NE(std::find(lines.begin(), lines.end(), "c 1:3 rwm"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "c 10:200 rwm"), lines.end());
  for (int major = 136; major <= 143; ++major) {
    EXPECT_NE(std::find(lines.begin(), lines.end(), "c " + std::to_string(major) + ":* rwm"),
              lines.end());
  }
  for (const std::string& l : lines) EXPECT_EQ(l[0], 'c') << l;
}

// Runs the program on one access; supports exactly the instructions the builder emits.
int run(const std::vector<bpf_insn>& prog, int type, int access, uint32_t major, uint32_t minor) {
  const bpf_cgroup_dev_ctx ctx{static_cast<uint32_t>(access << 16 | type), major, minor};
  uint64_t r[11] = {};
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const bpf_insn& i = prog[pc];
    uint64_t& dst = r[i.dst_reg];
    const uint64_t imm = static_cast<uint64_t>(static_cast<int64_t>(i.imm));
    switch (i.code) {
      case BPF_LDX | BPF_MEM | BPF_W: {
        EXPECT_EQ(i.src_reg, 1);
        uint32_t v;
        std::memcpy(&v, reinterpret_cast<const char*>(&ctx) + i.off, 4);
        dst = v;
        break;
      }
      case BPF_ALU64 | BPF_AND | BPF_K:
        dst &= imm;
        break;
      case BPF_ALU64 | BPF_RSH | BPF_K:
        dst >>= imm;
        break;
      case BPF_ALU64 | BPF_MOV | BPF_K:
        dst = imm;
        break;
      case BPF_ALU64 | BPF_MOV | BPF_X:
        dst = r[i.src_reg];
        break;
      case BPF_JMP | BPF_JNE | BPF_K:
        if (dst != imm) pc += i.off;
        break;
      case BPF_JMP | BPF_JLT | BPF_K:
        if (dst < imm) pc += i.off;
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        if (dst > imm) pc += i.off;
        break;
      case BPF_JMP | BPF_EXIT:
        return static_cast<int>(r[0]);
      default:
        ADD_FAILURE() << "unexpected opcode " << int(i.code);
        return -1;
    }
  }
  ADD_FAILURE() << "ran off the end";
  return -1;
}

TEST(CgroupDevicesTest, ProgramAllowsTheListAndMknodOfCharDevicesOnly) {
  const auto prog = device_rules_program(instance_device_rules());
  const int c = BPF_DEVCG_DEV_CHAR, b = BPF_DEVCG_DEV_BLOCK;
  const int rd = BPF_DEVCG_ACC_READ, wr = BPF_DEVCG_ACC_WRITE, mk = BPF_DEVCG_ACC_MKNOD;
  EXPECT_EQ(run(prog, c, rd | wr, 1, 3), 1);    // null
  EXPECT_EQ(run(prog, c, rd, 1, 9), 1);         // urandom
  EXPECT_EQ(run(prog, c, rd | wr, 5, 2), 1);    // ptmx
  EXPECT_EQ(run(prog, c, rd | wr, 136, 0), 1);  // pts/0
  EXPECT_EQ(run(prog, c, rd | wr, 143, 77), 1);
  EXPECT_EQ(run(prog, c, rd | wr, 10, 200), 1);  // tun
  EXPECT_EQ(run(prog, c, mk, 1, 1), 1);          // mknod of /dev/mem: allowed, not its use
  EXPECT_EQ(run(prog, c, rd, 1, 1), 0);          // /dev/mem
  EXPECT_EQ(run(prog, c, rd, 1, 11), 0);         // /dev/kmsg
  EXPECT_EQ(run(prog, c, rd | mk, 1, 11), 0);
  EXPECT_EQ(run(prog, c, rd, 135, 0), 0);
  EXPECT_EQ(run(prog, c, rd, 144, 0), 0);
  EXPECT_EQ(run(prog, c, rd, 10, 229), 0);  // fuse
  EXPECT_EQ(run(prog, b, rd, 7, 0), 0);     // loop0
  EXPECT_EQ(run(prog, b, mk, 7, 0), 0);
  EXPECT_EQ(run(prog, b, rd, 1, 3), 0);
}

}  // namespace
}  // namespace fw::sys
