// Unit tests of the daemon's privilege check (pure: uid and capability mask given).

#include <linux/capability.h>

#include <string>

#include <gtest/gtest.h>

#include "firmwared/sys/privileges.h"

namespace fw::sys {
namespace {

uint64_t all_needed(bool apparmor) {
  uint64_t mask = 0;
  for (const auto& c : needed_capabilities(apparmor)) mask |= uint64_t{1} << c.number;
  return mask;
}

TEST(PrivilegesTest, RootWithEveryNeededCapabilityPasses) {
  EXPECT_EQ(privilege_problem(0, all_needed(false), false), "");
  EXPECT_EQ(privilege_problem(0, all_needed(true), true), "");
  EXPECT_EQ(privilege_problem(0, ~uint64_t{0}, true), "");
}

TEST(PrivilegesTest, DockerDefaultCapabilitiesLackSysAdminAndNetAdmin) {
  // Docker's default set: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
  // SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
  uint64_t docker = 0;
  for (int c : {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW,
                CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE,
                CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE}) {
    docker |= uint64_t{1} << c;
  }
  const std::string m = privilege_problem(0, docker, false);
  EXPECT_NE(m.find("lacks CAP_SYS_ADMIN"), std::string::npos) << m;
  EXPECT_NE(m.find("CAP_NET_ADMIN"), std::string::npos) << m;
  EXPECT_EQ(m.find("CAP_MKNOD"), std::string::npos) << m;
  EXPECT_NE(m.find("--privileged"), std::string::npos) << m;
}

TEST(PrivilegesTest, AppArmorAddsMacAdmin) {
  const uint64_t without_mac = all_needed(true) & ~(uint64_t{1} << CAP_MAC_ADMIN);
  EXPECT_EQ(privilege_problem(0, without_mac, false), "");
  EXPECT_NE(privilege_problem(0, without_mac, true).find("CAP_MAC_ADMIN"), std::string::npos);
}

TEST(PrivilegesTest, NonRootIsNamedWhateverItsCapabilities) {
  const std::string m = privilege_problem(1000, all_needed(true), true);
  EXPECT_NE(m.find("uid 1000, not root"), std::string::npos) << m;
}

TEST(PrivilegesTest, EffectiveCapabilitiesAreReadable) {
  auto caps = effective_capabilities();
  ASSERT_TRUE(caps.ok()) << caps.error().message;
}

}  // namespace
}  // namespace fw::sys
