// net_hook's command line (net-helpers/args.h): every action's valid forms, and each usage
// error with the message that names the argument and the rule it breaks.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net-helpers/args.h"

namespace {

using fw::net::Action;
using fw::net::Command;
using fw::net::Options;

Options parse_ok(const std::vector<std::string>& args) {
  auto r = fw::net::parse_args(args);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r.ok()) return {};
  EXPECT_EQ(r->kind, Command::Kind::kRun);
  return r->options;
}

std::string parse_error(const std::vector<std::string>& args) {
  auto r = fw::net::parse_args(args);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, EINVAL);
  return r.error().message;
}

const std::vector<std::string> kCreate = {
    "create", "--netns",     "/run/x/netns", "--host-if",    "fwi0",       "--inner-if",
    "eth0",   "--host-addr", "10.0.0.1/24",  "--inner-addr", "10.0.0.2/24"};

std::vector<std::string> with(std::vector<std::string> args, const std::string& flag,
                              const std::string& value) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == flag) {
      args[i + 1] = value;
      return args;
    }
  }
  args.push_back(flag);
  args.push_back(value);
  return args;
}

std::vector<std::string> without(std::vector<std::string> args, const std::string& flag) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == flag) {
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      break;
    }
  }
  return args;
}

TEST(NetArgs, CreateTakesEveryValue) {
  const Options o = parse_ok(kCreate);
  EXPECT_EQ(o.action, Action::kCreate);
  EXPECT_EQ(o.netns_path, "/run/x/netns");
  EXPECT_EQ(o.host_if, "fwi0");
  EXPECT_EQ(o.inner_if, "eth0");
  EXPECT_EQ(o.host_addr.prefix, 24);
  EXPECT_EQ(o.host_addr.text, "10.0.0.1/24");
  EXPECT_EQ(o.inner_addr.text, "10.0.0.2/24");
}

TEST(NetArgs, PidNamesItsNamespaceAndEqualsFormWorks) {
  const Options o = parse_ok(with(without(kCreate, "--netns"), "--pid", "42"));
  EXPECT_EQ(o.netns_path, "/proc/42/ns/net");
  std::vector<std::string> eq = {"clean", "--host-if=fwi3"};
  EXPECT_EQ(parse_ok(eq).host_if, "fwi3");
}

TEST(NetArgs, StealReleaseCleanFilterUnfilterSweep) {
  Options o = parse_ok({"steal", "--pid", "7", "--iface", "dummy0", "--new-name", "eth1", "--addr",
                        "192.168.1.2/16"});
  EXPECT_EQ(o.action, Action::kSteal);
  EXPECT_EQ(o.iface, "dummy0");
  EXPECT_EQ(o.new_name, "eth1");
  ASSERT_TRUE(o.addr.has_value());
  EXPECT_EQ(o.addr->prefix, 16);

  o = parse_ok(
      {"release", "--netns", "/n", "--iface", "eth1", "--host-name", "dummy0", "--missing-ok"});
  EXPECT_EQ(o.action, Action::kRelease);
  EXPECT_TRUE(o.missing_ok);
  EXPECT_EQ(o.host_name, "dummy0");

  o = parse_ok({"filter", "--table", "firmwared_x", "--host-if", "fwi0", "--host-addr",
                "10.0.0.1/24", "--access", "tcp:22 udp:53"});
  EXPECT_EQ(o.action, Action::kFilter);
  EXPECT_EQ(o.table, "firmwared_x");

  o = parse_ok({"unfilter", "--table", "firmwared_x", "--host-if", "fwi0"});
  EXPECT_EQ(o.action, Action::kUnfilter);

  o = parse_ok({"sweep", "--table", "firmwared_x", "--keep", " fwi0  fwi1 "});
  EXPECT_EQ(o.action, Action::kSweep);
  EXPECT_EQ(o.keep, (std::set<std::string>{"fwi0", "fwi1"}));
}

TEST(NetArgs, HelpAnywhereAndVersionAlone) {
  auto r = fw::net::parse_args({"create", "--bogus", "--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Command::Kind::kHelp);
  r = fw::net::parse_args({"--version"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Command::Kind::kVersion);
}

TEST(NetArgs, ActionErrors) {
  EXPECT_EQ(parse_error({}), "missing action");
  EXPECT_EQ(parse_error({"--netns", "x"}),
            "the action (create, steal, release, clean, ...) must come first, got '--netns'");
  EXPECT_EQ(parse_error({"destroy"}),
            "unknown action 'destroy' (expected create, steal, release, clean, filter, "
            "unfilter or sweep)");
}

TEST(NetArgs, FlagErrors) {
  EXPECT_EQ(parse_error({"clean", "fwi0"}),
            "unexpected argument 'fwi0' (arguments are named: --flag VALUE)");
  EXPECT_EQ(parse_error({"clean", "--iface", "x"}), "unknown option --iface for clean");
  EXPECT_EQ(parse_error({"clean", "--nope", "x"}), "unknown option --nope for clean");
  EXPECT_EQ(parse_error({"clean", "--host-if", "a", "--host-if", "b"}), "--host-if given twice");
  EXPECT_EQ(parse_error({"release", "--pid", "1", "--iface", "a", "--missing-ok=yes"}),
            "--missing-ok takes no value");
  EXPECT_EQ(parse_error({"clean", "--host-if"}), "--host-if needs a value");
  EXPECT_EQ(parse_error({"clean", "--host-if", "--x"}), "--host-if needs a value");
  EXPECT_EQ(parse_error({"clean", "--host-if="}), "--host-if has an empty value");
  EXPECT_EQ(parse_error({"clean"}), "--host-if is required");
}

TEST(NetArgs, NamespaceErrors) {
  EXPECT_EQ(parse_error(with(kCreate, "--pid", "3")), "--netns and --pid are exclusive");
  EXPECT_EQ(parse_error(without(kCreate, "--netns")),
            "the namespace is required: --netns PATH or --pid PID");
  for (const char* bad : {"0", "012", "-1", "abc", "4194305", "12345678"}) {
    EXPECT_EQ(parse_error(with(without(kCreate, "--netns"), "--pid", bad)),
              std::string("--pid '") + bad + "': not a process id (decimal, 1..4194304)");
  }
}

TEST(NetArgs, InterfaceNameErrors) {
  EXPECT_EQ(parse_error(with(kCreate, "--host-if", "a23456789012345x")),
            "--host-if 'a23456789012345x': must be 1 to 15 bytes long");
  EXPECT_EQ(parse_error(with(kCreate, "--inner-if", "..")),
            "--inner-if '..': must not be '.' or '..'");
  EXPECT_EQ(parse_error(with(kCreate, "--inner-if", "a/b")),
            "--inner-if 'a/b': must not contain '/' or ':'");
  EXPECT_EQ(parse_error(with(kCreate, "--inner-if", "a b")),
            "--inner-if 'a b': must not contain whitespace or control characters");
  EXPECT_EQ(parse_error({"unfilter", "--table", "firmwared_x", "--host-if", "fw.0"}),
            "--host-if 'fw.0': must hold only A-Z a-z 0-9 _ - (it names nftables chains)");
  EXPECT_EQ(fw::net::check_ifname("eth0"), "");
}

TEST(NetArgs, AddressErrors) {
  EXPECT_EQ(parse_error(with(kCreate, "--host-addr", "10.0.0.1")),
            "--host-addr '10.0.0.1': expected A.B.C.D/N");
  EXPECT_EQ(parse_error(with(kCreate, "--host-addr", "10.0.0/8")),
            "--host-addr '10.0.0/8': '10.0.0' is not an IPv4 address (A.B.C.D)");
  for (const char* bad : {"10.0.0.1/0", "10.0.0.1/33", "10.0.0.1/08", "10.0.0.1/", "10.0.0.1/x"}) {
    EXPECT_EQ(
        parse_error(with(kCreate, "--host-addr", bad)),
        std::string("--host-addr '") + bad + "': the prefix length must be a number from 1 to 32");
  }
  EXPECT_EQ(parse_error(with(kCreate, "--inner-addr", "10.0.0.1/24")),
            "--host-addr and --inner-addr are the same address");
  EXPECT_EQ(parse_error(without(kCreate, "--inner-addr")), "--inner-addr is required");
}

TEST(NetArgs, FilterErrors) {
  const std::vector<std::string> filter = {"filter",      "--table",  "firmwared_x",
                                           "--host-if",   "fwi0",     "--host-addr",
                                           "10.0.0.1/24", "--access", "all"};
  EXPECT_EQ(parse_ok(filter).action, Action::kFilter);
  EXPECT_EQ(parse_error(without(filter, "--table")), "--table is required");
  EXPECT_EQ(parse_error(with(filter, "--table", "other")),
            "--table 'other': must start with 'firmwared_' (only those are ours)");
  EXPECT_EQ(parse_error(with(filter, "--table", "firmwared_a.b")),
            "--table 'firmwared_a.b': must hold only A-Z a-z 0-9 _ - after 'firmwared_'");
  EXPECT_EQ(parse_error(without(filter, "--access")), "--access is required");
  EXPECT_EQ(parse_error(with(filter, "--access", "tcp:0")).rfind("--access ", 0), 0u);
  EXPECT_EQ(parse_error({"sweep", "--table", "firmwared_x", "--keep", "ok bad.name"}),
            "--keep 'bad.name': must hold only A-Z a-z 0-9 _ - (it names nftables chains)");
}

}  // namespace

namespace {

TEST(NetArgsServe, ServeAloneIsTheServeCommand) {
  auto r = fw::net::parse_args({"serve"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kind, Command::Kind::kServe);
}

TEST(NetArgsServe, ServeTakesNoArgument) {
  EXPECT_EQ(parse_error({"serve", "--table", "firmwared_x"}),
            "serve takes no argument, got '--table'");
}

}  // namespace
