// Signal names as users write them and as the daemon shows them (base/signals.h), and the
// shift qemu-user applies to real-time signals.

#include <signal.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "firmwared/base/signals.h"

namespace fw {
namespace {

using Strings = std::vector<std::string>;

TEST(ParseSignal, NamesWithOrWithoutSigInAnyCase) {
  for (const char* text : {"SIGTERM", "TERM", "sigterm", "term", "SigTerm", "tErM"}) {
    auto r = parse_signal(text);
    ASSERT_TRUE(r.ok()) << text << ": " << r.error().message;
    EXPECT_EQ(*r, SIGTERM) << text;
  }
  EXPECT_EQ(*parse_signal("USR2"), SIGUSR2);
  EXPECT_EQ(*parse_signal("sigusr1"), SIGUSR1);
  EXPECT_EQ(*parse_signal("SIGINT"), SIGINT);
  EXPECT_EQ(*parse_signal("HUP"), SIGHUP);
  EXPECT_EQ(*parse_signal("SIGPWR"), SIGPWR);
  EXPECT_EQ(*parse_signal("STKFLT"), SIGSTKFLT);
  // Valid here: the caller decides whether it may send them.
  EXPECT_EQ(*parse_signal("SIGKILL"), SIGKILL);
  EXPECT_EQ(*parse_signal("stop"), SIGSTOP);
}

TEST(ParseSignal, NumbersFromOneToSigrtmax) {
  EXPECT_EQ(*parse_signal("1"), 1);
  EXPECT_EQ(*parse_signal("15"), SIGTERM);
  EXPECT_EQ(*parse_signal("32"), 32);
  EXPECT_EQ(*parse_signal(std::to_string(SIGRTMAX)), SIGRTMAX);
}

TEST(ParseSignal, RealTimeSignalsRelativeToRtminAndRtmax) {
  EXPECT_EQ(*parse_signal("SIGRTMIN"), SIGRTMIN);
  EXPECT_EQ(*parse_signal("rtmax"), SIGRTMAX);
  EXPECT_EQ(*parse_signal("SIGRTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(*parse_signal("rtmin+3"), SIGRTMIN + 3);
  EXPECT_EQ(*parse_signal("RTMIN+0"), SIGRTMIN);
  EXPECT_EQ(*parse_signal("SIGRTMAX-0"), SIGRTMAX);
  EXPECT_EQ(*parse_signal("SIGRTMAX-2"), SIGRTMAX - 2);
  const int span = SIGRTMAX - SIGRTMIN;
  EXPECT_EQ(*parse_signal("RTMIN+" + std::to_string(span)), SIGRTMAX) << "the last one";
  EXPECT_EQ(*parse_signal("RTMAX-" + std::to_string(span)), SIGRTMIN) << "the first one";
  EXPECT_FALSE(parse_signal("RTMIN+" + std::to_string(span + 1)).ok()) << "past SIGRTMAX";
  EXPECT_FALSE(parse_signal("RTMAX-" + std::to_string(span + 1)).ok()) << "below SIGRTMIN";
}

TEST(ParseSignal, GarbageIsEinvalNamingTheText) {
  const Strings bad = {"SIGFOO",  "FOO", "RTMIN+99",   "RTMAX-99", "RTMIN+", "RTMIN-1",  "RTMAX+1",
                       "RTMIN+x", "0",   "65",         "",         "-1",     "15x",      " 15",
                       "15 ",     "SIG", "SIGSIGTERM", "+15",      "0x0f",   "SIGTERM ", "1000"};
  for (const std::string& text : bad) {
    auto r = parse_signal(text);
    ASSERT_FALSE(r.ok()) << "'" << text << "' parsed as " << *r;
    EXPECT_EQ(r.error().code, EINVAL) << text;
    EXPECT_NE(r.error().message.find("'" + text + "'"), std::string::npos) << r.error().message;
  }
}

// A sign in the offset is refused: "RTMIN+-1" would be 33 (not a real-time signal) and
// "RTMAX--1" 65 (not a signal at all). Found by this test, kept.
TEST(ParseSignal, NegativeOffsetsAreEinval) {
  for (const std::string text : {"RTMIN+-1", "SIGRTMAX--1", "RTMIN+-3", "RTMAX--5"}) {
    auto r = parse_signal(text);
    EXPECT_FALSE(r.ok()) << "'" << text << "' parsed as " << *r;
  }
}

TEST(ParseSignal, AVeryLongTextIsEinvalWithAShortMessage) {
  const std::string text = "SIG" + std::string(100000, 'A');
  auto r = parse_signal(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_NE(r.error().message.find("unknown signal 'SIGAAAA"), std::string::npos);
  EXPECT_LT(r.error().message.size(), 400u) << "the text is cut, not echoed whole";
  EXPECT_FALSE(parse_signal(std::string(1000, '1')).ok());
  EXPECT_FALSE(parse_signal("RTMIN+" + std::string(1000, '0') + "1").ok());
}

TEST(SignalName, NamesStandardAndRealTimeSignals) {
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_name(SIGUSR2), "SIGUSR2");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGRTMIN), "SIGRTMIN");
  EXPECT_EQ(signal_name(SIGRTMIN + 3), "SIGRTMIN+3");
  EXPECT_EQ(signal_name(SIGRTMAX), "SIGRTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN));
  EXPECT_EQ(signal_name(0), "SIG0");
  EXPECT_EQ(signal_name(SIGRTMAX + 1), "SIG" + std::to_string(SIGRTMAX + 1));
}

// Every signal's name parses back to it, so what `show` prints can be set again: also
// "SIG32" and "SIG33", the two glibc reserves below SIGRTMIN (found by this test, kept).
TEST(SignalName, RoundTripsThroughParseSignalForEverySignal) {
  for (int sig = 1; sig <= SIGRTMAX; ++sig) {
    const std::string name = signal_name(sig);
    auto back = parse_signal(name);
    ASSERT_TRUE(back.ok()) << sig << " named '" << name << "': " << back.error().message;
    EXPECT_EQ(*back, sig) << name;
    auto number = parse_signal(std::to_string(sig));
    ASSERT_TRUE(number.ok()) << sig;
    EXPECT_EQ(signal_name(*number), name);
  }
}

TEST(QemuUserHostSignal, ShiftsRealTimeSignalsByTwo) {
  EXPECT_EQ(qemu_user_host_signal(SIGRTMIN + 3), SIGRTMIN + 5) << "systemd's stop signal";
  EXPECT_EQ(qemu_user_host_signal(SIGRTMIN), SIGRTMIN + 2);
  EXPECT_EQ(qemu_user_host_signal(SIGRTMAX - 2), SIGRTMAX);
}

TEST(QemuUserHostSignal, LeavesStandardAndUnshiftableSignalsAlone) {
  for (int sig : {SIGTERM, SIGUSR2, SIGINT, SIGKILL, SIGHUP, 1, 31}) {
    EXPECT_EQ(qemu_user_host_signal(sig), sig) << sig;
  }
  EXPECT_EQ(qemu_user_host_signal(SIGRTMAX), SIGRTMAX);
  EXPECT_EQ(qemu_user_host_signal(SIGRTMAX - 1), SIGRTMAX - 1);
}

}  // namespace
}  // namespace fw
