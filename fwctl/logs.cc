#include "fwctl/logs.h"

#include <time.h>

#include <csignal>
#include <cstdio>
#include <iostream>

namespace fwctl {

namespace {

using fw::protocol::Message;

volatile std::sig_atomic_t g_stop = 0;

Deadline reply_deadline(const Context& ctx) {
  if (ctx.timeout <= 0) return std::nullopt;
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(ctx.timeout * 1000));
}

// Prints one reply: the log text as is, or the reply itself with --json.
void print(const Context& ctx, const Message& reply) {
  if (ctx.json) {
    std::cout << reply.body.dump(-1, ' ', false, fw::protocol::Json::error_handler_t::replace)
              << std::endl;
    return;
  }
  const std::string data = fw::protocol::field_or(reply.body, "data", "");
  std::fwrite(data.data(), 1, data.size(), stdout);
  std::fflush(stdout);
}

// Whether instance `id` has a run that can still write to its console (anything but
// "ready"); true when it cannot be told, so a follower never stops early on an error.
bool may_write(Client& client, const Context& ctx, const std::string& id) {
  fw::protocol::Request req;
  req.command = "GET_PROPERTY";
  req.args = {"instances", id, "state"};
  auto reply = client.call(req, reply_deadline(ctx));
  if (!reply.ok() || reply->is_error()) return true;
  return fw::protocol::field_or(reply->body, "value", "") != "ready";
}

void sleep_ms(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  ::nanosleep(&ts, nullptr);  // a signal cuts it short: the caller checks g_stop
}

}  // namespace

int run_logs(Context& ctx, const Args& args) {
  const std::vector<std::string>& ids = args.operands();
  const bool follow_restarts = args.has("follow-restarts");
  const bool follow = args.has("follow") || follow_restarts;
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) return report_error(ctx, client.error(), false);
  fw::protocol::Request req;
  req.command = "LOGS";
  req.args = {ids[0]};
  if (follow) {
    g_stop = 0;
    std::signal(SIGINT, [](int) { g_stop = 1; });
    std::signal(SIGTERM, [](int) { g_stop = 1; });
  }
  for (bool first = true; first || !g_stop; first = false) {
    // -f ends once the instance is ready (its run over) and what it wrote is read: the
    // state is asked before the read, so nothing written before the end is missed.
    const bool last = follow && !follow_restarts && !may_write(*client, ctx, ids[0]);
    auto reply = client->call(req, reply_deadline(ctx));
    if (!reply.ok()) return g_stop ? kExitOk : report_error(ctx, reply.error(), false);
    if (reply->is_error()) return report_error(ctx, reply->error(), true);
    const std::string data = fw::protocol::field_or(reply->body, "data", "");
    if (!data.empty() || first || !ctx.json) print(ctx, *reply);
    if (!follow) return kExitOk;
    req.args = {ids[0], std::to_string(fw::protocol::field_or(reply->body, "offset", uint64_t{0}))};
    // A full chunk means more is waiting: read on without pausing.
    if (data.size() >= 60 * 1024) continue;
    if (last) return kExitOk;
    sleep_ms(kLogsPollMs);
  }
  return kExitOk;
}

}  // namespace fwctl
