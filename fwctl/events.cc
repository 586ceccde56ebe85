#include "fwctl/events.h"

#include <csignal>
#include <iostream>

#include "firmwared/base/strings.h"
#include "fwctl/format.h"

namespace fwctl {

namespace {

using fw::protocol::Message;

volatile std::sig_atomic_t g_interrupted = 0;

void on_signal(int) { g_interrupted = 1; }

// Without SA_RESTART; the loop below also wakes every 200 ms, since Client retries a poll
// interrupted by a signal (EINTR) and would otherwise sleep through it.
void install_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// The text a filter value is compared with: strings as is, other scalars as JSON.
std::string field_text(const fw::protocol::Json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

fw::Result<EventFilter> parse_event_filter(const std::string& expr) {
  EventFilter f;
  const size_t eq = expr.find('=');
  if (eq == std::string::npos) {
    f.key = "event";
    f.values = {expr};
  } else {
    f.key = expr.substr(0, eq);
    f.values = split_commas(expr.substr(eq + 1));
  }
  if (f.key.empty()) return fw::make_error(EINVAL, "--filter '" + expr + "' has no key");
  for (const auto& v : f.values) {
    if (v.empty()) return fw::make_error(EINVAL, "--filter '" + expr + "' has an empty value");
  }
  return f;
}

bool event_matches(const Message& event, const std::vector<EventFilter>& filters) {
  for (const auto& f : filters) {
    auto it = event.body.find(f.key);
    if (it == event.body.end()) return false;
    const std::string text = field_text(*it);
    bool any = false;
    for (const auto& v : f.values) any = any || v == text;
    if (!any) return false;
  }
  return true;
}

int run_events(Context& ctx, const Args& args) {
  std::vector<EventFilter> filters;
  for (const auto& expr : args.values("filter")) {
    auto f = parse_event_filter(expr);
    if (!f.ok()) {
      std::cerr << "fwctl: " << f.error().message
                << "\nfwctl: usage: " << find_verb("events")->usage() << "\n";
      return kExitError;
    }
    filters.push_back(std::move(*f));
  }
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) return report_error(ctx, client.error(), false);
  fw::protocol::Request req;
  req.command = "SUBSCRIBE";
  Deadline deadline;
  if (ctx.timeout > 0) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<int64_t>(ctx.timeout * 1000));
  }
  install_handlers();
  auto reply = client->call(req, deadline);
  if (!reply.ok()) return report_error(ctx, reply.error(), false);
  if (reply->is_error()) return report_error(ctx, reply->error(), true);
  while (!g_interrupted) {
    auto msg =
        client->read_message(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
    if (!msg.ok()) {
      if (msg.error().code == ETIMEDOUT) continue;
      return g_interrupted ? kExitOk : report_error(ctx, msg.error(), false);
    }
    if (msg->kind != Message::Kind::kEvent) continue;
    if (event_matches(*msg, filters)) {
      std::cout << (ctx.json ? msg->body.dump() : format_event(*msg)) << std::endl;
    }
    if (msg->name == "BYEBYE") return kExitOk;
  }
  return kExitOk;
}

}  // namespace fwctl
