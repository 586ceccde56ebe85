#include "fwctl/logs.h"

#include <time.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <deque>
#include <iostream>

#include "firmwared/sys/console_log.h"

namespace fwctl {

namespace {

using fw::protocol::Json;
using fw::protocol::Message;

volatile std::sig_atomic_t g_stop = 0;

Deadline reply_deadline(const Context& ctx) {
  if (ctx.timeout <= 0) return std::nullopt;
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(ctx.timeout * 1000));
}

int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
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

void write_out(std::string_view s) { std::fwrite(s.data(), 1, s.size(), stdout); }

// One console line with what the index says of it; time_ns < 0: not known (a log from
// before the index, or a line cut by the rotation bound).
struct Line {
  std::string text;  // with its "\r\n" or "\n" when it has one
  int64_t time_ns = -1;
  uint32_t run = 0;
  bool separator = false;
};

// Cuts the LOGS chunks into lines, each with the record of its first byte.
class LineSplitter {
 public:
  // Lines completed by `reply`'s data (a reply starting elsewhere than where the previous
  // ended first ends the pending line).
  std::vector<Line> feed(const Json& reply) {
    std::vector<Line> out;
    const auto start = fw::protocol::field_or(reply, "start", uint64_t{0});
    const std::string data = fw::protocol::field_or(reply, "data", "");
    if (start != next_ && has_pending_) out.push_back(take_pending());
    std::vector<fw::sys::LineRecord> records;
    if (auto it = reply.find("lines"); it != reply.end() && it->is_array()) {
      for (const auto& r : *it) {
        if (!r.is_array() || r.size() != 4 || !r[0].is_number_unsigned() ||
            !r[1].is_number_integer() || !r[2].is_number_unsigned() || !r[3].is_number_integer())
          continue;  // not from a daemon that speaks this protocol: no time for that line
        records.push_back({r[0].get<uint64_t>(), r[1].get<int64_t>(), r[2].get<uint32_t>(),
                           r[3].get<int>() != 0});
      }
    }
    size_t rec = 0;
    for (size_t at = 0; at < data.size();) {
      const uint64_t pos = start + at;
      if (!has_pending_) {
        has_pending_ = true;
        pending_ = Line{};
        while (rec < records.size() && records[rec].offset < pos) ++rec;
        if (rec < records.size() && records[rec].offset == pos) {
          pending_.time_ns = records[rec].time_ns;
          pending_.run = records[rec].run;
          pending_.separator = records[rec].separator;
        } else {
          pending_.time_ns = last_time_;  // no record: the time of the line before
          pending_.run = last_run_;
        }
        if (pending_.time_ns >= 0) last_time_ = pending_.time_ns;
        last_run_ = pending_.run;
      }
      const size_t nl = data.find('\n', at);
      const size_t end = nl == std::string::npos ? data.size() : nl + 1;
      pending_.text.append(data, at, end - at);
      at = end;
      if (nl != std::string::npos) out.push_back(take_pending());
    }
    next_ = start + data.size();
    return out;
  }
  // The last line when it has no newline yet (the end of the history).
  std::optional<Line> flush() {
    if (!has_pending_) return std::nullopt;
    return take_pending();
  }

 private:
  Line take_pending() {
    has_pending_ = false;
    return std::move(pending_);
  }
  Line pending_;
  bool has_pending_ = false;
  uint64_t next_ = 0;
  int64_t last_time_ = -1;
  uint32_t last_run_ = 0;
};

// Prints lines as the options ask: filtered by --since, held back for --tail until the
// history is read, prefixed by --timestamps or as --json objects.
class LinePrinter {
 public:
  LinePrinter(const Context& ctx, const LogsOptions& o, std::optional<int64_t> since)
      : json_(ctx.json), timestamps_(o.timestamps), since_(since), tail_(o.tail) {}

  void add(Line line) {
    if (since_ && line.time_ns >= 0 && line.time_ns < *since_) {
      before_since_ = true;
      return;
    }
    if (since_ && line.time_ns < 0 && !before_since_) return;  // unknown, before any kept
    ++kept_;
    if (tail_ && holding_) {
      held_.push_back(std::move(line));
      if (held_.size() > *tail_) held_.pop_front();
      return;
    }
    print(line);
  }
  // The history up to now is read: print what --tail held back, print the rest as it comes.
  void caught_up() {
    holding_ = false;
    for (const auto& l : held_) print(l);
    held_.clear();
    std::fflush(stdout);
  }
  // Whether lines that would have been printed may have been lost to rotation.
  bool wanted_earlier() const {
    if (tail_) return kept_ < *tail_;
    if (since_) return !before_since_;
    return true;
  }

 private:
  void print(const Line& l) const {
    if (json_) {
      std::string text = l.text;
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      Json o = Json::object();
      if (l.time_ns >= 0) {
        o["time"] = fw::sys::format_utc(l.time_ns, true);
        o["time_epoch"] = static_cast<double>(l.time_ns) / 1e9;
        o["time_ns"] = l.time_ns;
      } else {
        o["time"] = nullptr;
        o["time_epoch"] = nullptr;
        o["time_ns"] = nullptr;
      }
      o["run"] = l.run;
      if (l.separator) {
        o["event"] = "start";  // the run separator: never a "line"
      } else {
        o["line"] = text;
      }
      std::cout << o.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
      return;
    }
    if (timestamps_) {
      const std::string t = l.time_ns >= 0 ? fw::sys::format_utc(l.time_ns, true)
                                           : std::string("-                             ");
      write_out(t + " ");
    }
    write_out(l.text);
    if (timestamps_ && !l.text.empty() && l.text.back() != '\n') write_out("\n");
  }

  bool json_, timestamps_;
  std::optional<int64_t> since_;
  std::optional<size_t> tail_;
  bool holding_ = true;
  bool before_since_ = false;
  size_t kept_ = 0;
  std::deque<Line> held_;
};

fw::Result<size_t> parse_count(const std::string& text) {
  size_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end) {
    return fw::make_error(EINVAL, "--tail '" + text + "' is not a number of lines");
  }
  return v;
}

}  // namespace

int run_logs(Context& ctx, const std::string& id, const LogsOptions& o) {
  std::optional<int64_t> since;
  if (o.since) {
    auto t = fw::sys::parse_since(*o.since, now_ns());
    if (!t.ok()) {
      std::cerr << "fwctl: --since: " << t.error().message << "\n";
      return kExitError;
    }
    since = *t;
  }
  const bool follow = o.follow || o.follow_restarts;
  // Without a filter, a prefix or --json, the bytes go out as they are (separators are in
  // the log); otherwise line by line.
  const bool by_line = ctx.json || o.timestamps || o.since || o.tail;
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) return report_error(ctx, client.error(), false);
  if (follow) {
    g_stop = 0;
    std::signal(SIGINT, [](int) { g_stop = 1; });
    std::signal(SIGTERM, [](int) { g_stop = 1; });
  }
  LineSplitter splitter;
  LinePrinter printer(ctx, o, since);
  fw::protocol::Request req;
  req.command = "LOGS";
  req.args = {id, "0"};
  std::optional<uint64_t> history_end;  // the end when we began: reading up to it is "caught up"
  bool lost_at_start = false, caught_up = false;
  auto catch_up = [&] {
    if (caught_up) return;
    caught_up = true;
    if (!by_line) return;
    // A line still being written stays pending while following; without -f it is the end.
    if (!follow) {
      if (auto l = splitter.flush()) printer.add(std::move(*l));
    }
    // Said only when what was asked for reaches back into what is gone.
    if (lost_at_start && printer.wanted_earlier()) {
      std::cerr << "fwctl: earlier output was rotated away\n";
    }
    printer.caught_up();
  };
  for (bool first = true; first || !g_stop; first = false) {
    // -f ends once the instance is ready (its run over) and what it wrote is read: the
    // state is asked before the read, so nothing written before the end is missed.
    const bool last = follow && !o.follow_restarts && !may_write(*client, ctx, id);
    auto reply = client->call(req, reply_deadline(ctx));
    if (!reply.ok()) return g_stop ? kExitOk : report_error(ctx, reply.error(), false);
    if (reply->is_error()) return report_error(ctx, reply->error(), true);
    const Json& body = reply->body;
    const auto offset = fw::protocol::field_or(body, "offset", uint64_t{0});
    const auto end = fw::protocol::field_or(body, "end", uint64_t{0});
    if (!history_end) history_end = end;
    if (fw::protocol::field_or(body, "truncated", false)) {
      if (first) {
        lost_at_start = true;
        if (!by_line) std::cerr << "fwctl: earlier output was rotated away\n";
      } else {
        std::cerr << "fwctl: output was rotated away before it could be read\n";
      }
    }
    if (fw::protocol::field_or(body, "rotated", false) && !first) {
      std::cerr << "fwctl: the console log was reset, reading it again from its start\n";
    }
    const std::string data = fw::protocol::field_or(body, "data", "");
    if (by_line) {
      for (auto& l : splitter.feed(body)) printer.add(std::move(l));
    } else {
      write_out(data);
    }
    req.args = {id, std::to_string(offset)};
    if (offset < *history_end && !data.empty()) continue;  // the history: page on at once
    catch_up();
    if (!follow) break;
    std::fflush(stdout);
    if (offset < end && !data.empty()) continue;  // more is waiting: read on without pausing
    if (last) break;
    sleep_ms(kLogsPollMs);
  }
  catch_up();
  if (by_line) {
    if (auto l = splitter.flush()) printer.add(std::move(*l));  // the run ended mid-line
  }
  std::fflush(stdout);
  return kExitOk;
}

int run_logs(Context& ctx, const Args& args) {
  LogsOptions o;
  o.follow = args.has("follow");
  o.follow_restarts = args.has("follow-restarts");
  o.timestamps = args.has("timestamps");
  o.since = args.value("since");
  if (auto n = args.value("tail")) {
    auto count = parse_count(*n);
    if (!count.ok()) {
      std::cerr << "fwctl: " << count.error().message << "\n";
      return kExitError;
    }
    o.tail = *count;
  }
  return run_logs(ctx, args.operands()[0], o);
}

}  // namespace fwctl
