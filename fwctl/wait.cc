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
// wait --exit: PID 1's own status is the exit code, so a timeout uses timeout(1)'s 124
// rather than 3, a common exit status.
constexpr int kExitWaitExitTimeout = 124;

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

// A connection subscribed to the notifications, made before the state is first read so that
// no transition (a DEAD) can slip between the two; nullopt, *rc set and said, on failure.
std::optional<Client> subscribed(const Context& ctx, int* rc) {
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) {
    std::cerr << "fwctl: " << client.error().message << std::endl;
    *rc = kExitUnreachable;
    return std::nullopt;
  }
  if (!ask(*client, "SUBSCRIBE", {}, rc)) return std::nullopt;
  return std::move(*client);
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
  const bool exit = args.has("exit");
  if (exit == args.has("state")) {
    std::cerr << "fwctl: wait: give either --state or --exit\n"
              << "fwctl: usage: " << find_verb("wait")->usage() << "\n";
    return kExitError;
  }
  if (exit) return wait_exit(ctx, id, timeout);
  if (state != "ready" && state != "started") {
    std::cerr << "fwctl: wait: --state '" << state << "' is not ready or started\n"
              << "fwctl: usage: " << find_verb("wait")->usage() << "\n";
    return kExitError;
  }
  return wait_state(ctx, id, state, timeout);
}

int wait_state(Context& ctx, const std::string& id, const std::string& state, double timeout) {
  int rc = kExitOk;
  auto client = subscribed(ctx, &rc);
  if (!client) return rc;
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

namespace {

// What SHOW says of an instance's last run.
struct RunState {
  std::string sha1, name, state, exit_status, exit_reason;
};

RunState run_state_of(const fw::protocol::Message& show) {
  RunState r;
  for (const auto& p :
       fw::protocol::field_or(show.body, "properties", fw::protocol::Json::array())) {
    const std::string key = fw::protocol::field_or(p, "name", "");
    const std::string value = property_text(p);  // exit_status is a number, or null
    if (key == "sha1") r.sha1 = value;
    if (key == "name") r.name = value;
    if (key == "state") r.state = value;
    if (key == "exit_status") r.exit_status = value;
    if (key == "exit_reason") r.exit_reason = value;
  }
  return r;
}

// Prints PID 1's status and returns it as fwctl's exit code; `status` "" is unknown.
int report_exit(const Context& ctx, const std::string& id, const RunState& r,
                const std::string& status, const std::string& reason) {
  int code = -1;
  try {
    code = status.empty() ? -1 : std::stoi(status);
  } catch (const std::exception&) {
    code = -1;
  }
  if (code < 0 || code > 255) code = -1;
  if (ctx.json) {
    fw::protocol::Json j = {
        {"sha1", r.sha1},
        {"name", r.name},
        {"exit_status", code < 0 ? fw::protocol::Json(nullptr) : fw::protocol::Json(code)},
        {"reason", reason}};
    std::cout << j.dump() << std::endl;
  } else if (code >= 0) {
    std::cout << id << " exited: status " << code << (reason.empty() ? "" : " (" + reason + ")")
              << std::endl;
  }
  if (code < 0) {
    std::cerr << "fwctl: " << id << " ended but its exit status is unknown\n";
    return kExitError;
  }
  return code;
}

}  // namespace

int wait_exit(Context& ctx, const std::string& id, double timeout) {
  int rc = kExitOk;
  auto client = subscribed(ctx, &rc);
  if (!client) return rc;
  const Deadline deadline = deadline_after(timeout);
  for (;;) {
    auto show = ask(*client, "SHOW", {"instances", id}, &rc);
    if (!show) return rc;
    const RunState r = run_state_of(*show);
    if (r.state == "ready") {
      if (r.exit_status.empty() && r.exit_reason.empty()) {
        std::cerr << "fwctl: " << id << " has not run since it was prepared: no exit status\n";
        return kExitError;
      }
      return report_exit(ctx, id, r, r.exit_status, r.exit_reason);
    }
    // Until the DEAD of this instance (or a 1 s tick, in case one was missed).
    const auto tick = Clock::now() + std::chrono::seconds(1);
    const Deadline until = deadline && *deadline < tick ? deadline : Deadline(tick);
    for (;;) {
      auto msg = client->read_message(until);
      if (!msg.ok() && msg.error().code != ETIMEDOUT) {
        std::cerr << "fwctl: " << msg.error().message << std::endl;
        return kExitUnreachable;
      }
      if (!msg.ok()) break;
      if (msg->kind != fw::protocol::Message::Kind::kEvent || msg->name != "DEAD" ||
          fw::protocol::field_or(msg->body, "sha1", "") != r.sha1) {
        continue;
      }
      const auto status = msg->body.find("exit_status");
      const std::string text = status != msg->body.end() && status->is_number_integer()
                                   ? std::to_string(status->get<int64_t>())
                                   : "";
      return report_exit(ctx, id, r, text, fw::protocol::field_or(msg->body, "reason", ""));
    }
    if (expired(deadline)) {
      std::cerr << "fwctl: timeout: PID 1 of " << id << " still runs after " << timeout << " s\n";
      return kExitWaitExitTimeout;
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
