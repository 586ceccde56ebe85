#include "fwctl/wait.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <regex>
#include <thread>

#include "fwctl/format.h"

namespace fwctl {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kExitTimeout = 3;

Deadline deadline_after(double seconds) {
  if (seconds <= 0) return std::nullopt;
  return Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

bool expired(const Deadline& d) { return d && Clock::now() >= *d; }

// One request on `client`; prints a daemon error. nullopt on failure (exit code in *rc).
std::optional<fw::protocol::Message> ask(Client& client, const std::string& command,
                                         std::vector<std::string> args, int* rc) {
  fw::protocol::Request req;
  req.command = command;
  req.args = std::move(args);
  auto reply = client.call(req, Clock::now() + std::chrono::seconds(10));
  if (!reply.ok()) {
    std::cerr << "fwctl: " << reply.error().message << std::endl;
    *rc = kExitUnreachable;
    return std::nullopt;
  }
  if (reply->is_error()) {
    std::cerr << "firmwared error: " << reply->error().message << std::endl;
    *rc = kExitError;
    return std::nullopt;
  }
  return *reply;
}

}  // namespace

// Reads --timeout SECONDS into *out (unchanged when absent); false (message printed) when
// it is not a number of seconds.
bool timeout_option(const Args& args, double* out) {
  auto t = args.value("timeout");
  if (t && !parse_seconds(*t, out)) {
    std::cerr << "fwctl: --timeout '" << *t << "' is not a number of seconds\n";
    return false;
  }
  return true;
}

int run_wait(Context& ctx, const Args& args) {
  const std::string& id = args.operands()[0];
  const std::string state = args.value_or("state", "");
  double timeout = 0;
  if (!timeout_option(args, &timeout)) return kExitError;
  if (state != "ready" && state != "started") {
    std::cerr << "fwctl: wait: --state '" << state << "' is not ready or started\n"
              << "fwctl: usage: " << find_verb("wait")->usage() << "\n";
    return kExitError;
  }
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) {
    std::cerr << "fwctl: " << client.error().message << std::endl;
    return kExitUnreachable;
  }
  int rc = kExitOk;
  // Subscribe first, then read the state: no transition can slip between the two.
  if (!ask(*client, "SUBSCRIBE", {}, &rc)) return rc;
  const Deadline deadline = deadline_after(timeout);
  for (;;) {
    auto now = ask(*client, "GET_PROPERTY", {"instances", id, "state"}, &rc);
    if (!now) return rc;
    if (fw::protocol::field_or(now->body, "value", "") == state) return kExitOk;
    // Wait for the next lifecycle event (or a 1 s tick, in case one was missed).
    auto tick = Clock::now() + std::chrono::seconds(1);
    Deadline until = deadline && *deadline < tick ? deadline : Deadline(tick);
    auto msg = client->read_message(until);
    if (!msg.ok() && msg.error().code != ETIMEDOUT) {
      std::cerr << "fwctl: " << msg.error().message << std::endl;
      return kExitUnreachable;
    }
    if (expired(deadline)) {
      std::cerr << "fwctl: timeout: " << id << " is not " << state << " after " << timeout
                << " s\n";
      return kExitTimeout;
    }
  }
}

int run_start(Context& ctx, const Args& args) {
  const std::string& id = args.operands()[0];
  const bool wait_console = args.has("wait-console");
  const std::string pattern = args.value_or("wait-console", "");
  double timeout = 0;
  if (!timeout_option(args, &timeout)) return kExitError;
  if (args.has("timeout") && !wait_console) {
    std::cerr << "fwctl: start: --timeout bounds --wait-console, which is not given (the reply "
                 "timeout is --reply-timeout before the verb)\n"
              << "fwctl: usage: " << find_verb("start")->usage() << "\n";
    return kExitError;
  }
  std::regex re;
  if (wait_console) {
    try {
      re = std::regex(pattern, std::regex::extended);
    } catch (const std::regex_error& e) {
      std::cerr << "fwctl: --wait-console '" << pattern << "' is not a regex: " << e.what() << "\n";
      return kExitError;
    }
  }
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) {
    std::cerr << "fwctl: " << client.error().message << std::endl;
    return kExitUnreachable;
  }
  int rc = kExitOk;
  // Where the log ends before START: only what this run prints counts.
  std::string offset;
  if (wait_console) {
    auto before = ask(*client, "LOGS", {id}, &rc);
    if (!before) return rc;
    offset = std::to_string(fw::protocol::field_or(before->body, "offset", uint64_t{0}));
  }
  fw::protocol::Request req;
  req.command = "START";
  req.args = {id};
  auto reply = client->call(req, std::nullopt);
  if (!reply.ok()) {
    std::cerr << "fwctl: " << reply.error().message << std::endl;
    return kExitUnreachable;
  }
  if (ctx.json && !wait_console) std::cout << reply->body.dump() << std::endl;
  if (reply->is_error()) {
    if (!ctx.json) std::cerr << "firmwared error: " << reply->error().message << std::endl;
    return kExitError;
  }
  if (!ctx.json) std::cout << format_reply(*reply, {id}) << std::endl;
  if (!wait_console) return kExitOk;

  const Deadline deadline = deadline_after(timeout);
  std::string seen;  // the tail of the log since START, for matches across chunks
  for (;;) {
    auto chunk = ask(*client, "LOGS", {id, offset}, &rc);
    if (!chunk) return rc;
    seen += fw::protocol::field_or(chunk->body, "data", "");
    offset = std::to_string(fw::protocol::field_or(chunk->body, "offset", uint64_t{0}));
    if (std::regex_search(seen, re)) {
      if (ctx.json) std::cout << reply->body.dump() << std::endl;
      return kExitOk;
    }
    if (seen.size() > (1u << 20)) seen.erase(0, seen.size() - (1u << 19));
    auto state = ask(*client, "GET_PROPERTY", {"instances", id, "state"}, &rc);
    if (!state) return rc;
    if (fw::protocol::field_or(state->body, "value", "") == "ready") {
      std::cerr << "fwctl: " << id << " stopped before its console matched '" << pattern << "'\n";
      return kExitError;
    }
    if (expired(deadline)) {
      std::cerr << "fwctl: timeout: the console of " << id << " did not match '" << pattern
                << "' within " << timeout << " s\n";
      return kExitTimeout;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace fwctl
