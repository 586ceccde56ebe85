// The AppArmor template and its generation (sys::apparmor): a profile generated for a fake
// workspace compiles with `apparmor_parser -Q -K` (no kernel needed), carries the
// instance's name and @{root}, and keeps every deny rule of the security model.

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "firmwared/base/paths.h"
#include "firmwared/sys/apparmor.h"

namespace fw::sys::apparmor {
namespace {

constexpr const char* kSha1 = "0123456789abcdef0123456789abcdef01234567";

bool must_run() {
  const char* v = ::getenv("FW_TESTS_MUST_RUN");
  return v != nullptr && std::string(v) == "1";
}

std::string template_path() {
  return std::string(FW_SOURCE_DIR) + "/apparmor-profiles/firmwared-instance";
}

class ProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/fw-apparmor.XXXXXX";
    ASSERT_NE(::mkdtemp(d), nullptr);
    dir_ = d;
    // A workspace with a space: the generator must quote it.
    workspace_ = dir_ + "/mount points/instances/" + kSha1;
    auto t = read_small_file(template_path());
    ASSERT_TRUE(t.ok()) << t.error().message;
    template_ = *t;
  }
  void TearDown() override {
    for (const auto& f : files_) ::unlink(f.c_str());
    ::rmdir(dir_.c_str());
  }

  // Writes `text` to a file of the test directory and returns its path.
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }

  void require_parser() {
    if (::access("/usr/sbin/apparmor_parser", X_OK) != 0 &&
        ::access("/sbin/apparmor_parser", X_OK) != 0) {
      if (must_run()) FAIL() << "apparmor_parser is missing and FW_TESTS_MUST_RUN=1";
      GTEST_SKIP() << "apparmor_parser is not installed";
    }
  }

  std::string dir_, workspace_, template_;
  std::vector<std::string> files_;
};

TEST_F(ProfileTest, TemplateItselfCompiles) {
  require_parser();
  const Status s = compile(template_path());
  EXPECT_TRUE(s.ok()) << s.error().message;
}

TEST_F(ProfileTest, GeneratedProfileCompiles) {
  require_parser();
  auto text = generate(template_, template_path(), kSha1, workspace_);
  ASSERT_TRUE(text.ok()) << text.error().message;
  const Status s = compile(write("generated", *text));
  EXPECT_TRUE(s.ok()) << s.error().message;
}

TEST_F(ProfileTest, GeneratedProfileHasTheInstanceNameAndRoot) {
  auto text = generate(template_, template_path(), kSha1, workspace_);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(profile_name(kSha1), std::string("firmwared_") + kSha1);
  EXPECT_NE(text->find("\nprofile firmwared_" + std::string(kSha1) + " flags="), std::string::npos);
  EXPECT_EQ(text->find("profile firmwared_instance"), std::string::npos);
  EXPECT_NE(text->find("\n@{root}=\"" + workspace_ + "\"\n"), std::string::npos);
}

TEST_F(ProfileTest, GeneratedProfileKeepsTheDenyRules) {
  auto text = generate(template_, template_path(), kSha1, workspace_);
  ASSERT_TRUE(text.ok()) << text.error().message;
  for (const char* rule :
       {"deny capability sys_time,", "deny capability wake_alarm,", "deny capability sys_module,",
        "deny capability sys_rawio,", "deny capability mac_admin,", "deny capability mac_override,",
        "deny /proc/sysrq-trigger rwklx,", "deny /proc/kcore rwklx,",
        "deny /dev/{sd,hd,vd,xvd}* rwklx,", "deny /dev/nvme* rwklx,", "deny /dev/mmcblk* rwklx,",
        "deny /dev/loop* w,", "deny /dev/{mem,kmem,port} rwklx,", "deny /dev/watchdog* rwklx,",
        "deny /proc/sys/vm/** wl,", "deny /sys/firmware/** rwklx,",
        "deny mount fstype=devtmpfs,"}) {
    EXPECT_NE(text->find("\n  " + std::string(rule)), std::string::npos) << rule;
  }
  // No allow rule may grant what a deny takes back.
  EXPECT_EQ(text->find("\n  capability sys_time"), std::string::npos);
}

// The parser's own view (-d: the rules as it built them, variables expanded).
TEST_F(ProfileTest, ParserSeesTheNameDeniedCapabilitiesAndRoot) {
  require_parser();
  auto text = generate(template_, template_path(), kSha1, workspace_);
  ASSERT_TRUE(text.ok()) << text.error().message;
  auto run = run_parser({"-Q", "-K", "-d", write("generated", *text)});
  ASSERT_TRUE(run.ok()) << run.error().message;
  ASSERT_EQ(run->exit_status, 0) << run->output;
  EXPECT_NE(run->output.find("Name:\t\tfirmwared_" + std::string(kSha1) + "\n"), std::string::npos)
      << run->output;
  EXPECT_NE(
      run->output.find("Deny Caps: mac_admin mac_override syslog sys_module sys_rawio sys_time "
                       "wake_alarm\n"),
      std::string::npos)
      << run->output;
  EXPECT_NE(run->output.find("Name:\t(" + workspace_ + "/union/**)"), std::string::npos)
      << run->output;
  EXPECT_NE(run->output.find("Name:\t(/proc/sysrq-trigger)"), std::string::npos);
}

TEST_F(ProfileTest, ParserRejectionCarriesItsMessage) {
  require_parser();
  const Status s = compile(write("broken", "profile broken {\n  not a rule,\n}\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EINVAL);
  EXPECT_NE(s.error().message.find("apparmor_parser: "), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("broken"), std::string::npos) << s.error().message;
}

TEST_F(ProfileTest, WorkspacesThatWouldBePatternsAreRefused) {
  for (const char* bad : {"relative/path", "/a/{b}", "/a/*", "/a/\"q", "/a,b", "/a\nb", "/a#b"}) {
    auto text = generate(template_, template_path(), kSha1, bad);
    ASSERT_FALSE(text.ok()) << bad;
    EXPECT_EQ(text.error().code, EINVAL);
    EXPECT_NE(text.error().message.find("cannot be named in an AppArmor profile"),
              std::string::npos);
  }
}

TEST_F(ProfileTest, TemplateWithoutPlaceholdersIsRefused) {
  auto no_root = generate("profile firmwared_instance {\n}\n", "t1", kSha1, workspace_);
  ASSERT_FALSE(no_root.ok());
  EXPECT_EQ(no_root.error().message,
            "AppArmor template 't1' must define @{root}= on exactly one line");
  auto no_name = generate("@{root}=/x\nprofile other {\n}\n", "t2", kSha1, workspace_);
  ASSERT_FALSE(no_name.ok());
  EXPECT_EQ(no_name.error().message,
            "AppArmor template 't2' must hold exactly one 'profile firmwared_instance {' header");
  auto two_roots = generate("@{root}=/x\n@{root}=/y\nprofile firmwared_instance {\n}\n", "t3",
                            kSha1, workspace_);
  EXPECT_FALSE(two_roots.ok());
}

TEST(AppArmorKernel, AvailabilityIsReportedWithAReason) {
  const Status s = available();
  if (!s.ok()) {
    EXPECT_NE(s.error().code, 0);
    EXPECT_NE(s.error().message.find("AppArmor"), std::string::npos) << s.error().message;
    EXPECT_FALSE(is_loaded(profile_name(kSha1)));
  }
}

}  // namespace
}  // namespace fw::sys::apparmor
