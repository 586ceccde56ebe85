#pragma once
// One client connection: reads JSON lines, hands each complete line to the server, queues
// replies and notifications. A client that stops reading is dropped once kMaxPendingOutput
// bytes wait for it, so it can never make the daemon grow without bound.

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "firmwared/server/socket.h"

namespace fw::server {

inline constexpr size_t kMaxPendingOutput = 16 * 1024 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  struct Callbacks {
    std::function<void(Session&, std::string_view line)> on_line;
    std::function<void(Session&, const std::string& why)> on_closed;
  };

  // Takes ownership of the connected socket `fd`. Call start() once owned by a shared_ptr.
  Session(event_base* base, int fd, uint64_t id, PeerCredentials peer, Callbacks callbacks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Queues one encoded line; drops the client when too much output is pending.
  void send(const std::string& line);
  // Stops reading; the connection closes once everything queued has been written.
  void close_after_flush();
  // Closes now; on_closed runs (at most once per session).
  void close(const std::string& why);

  uint64_t id() const { return id_; }
  const PeerCredentials& peer() const { return peer_; }
  bool subscribed() const { return subscribed_; }
  void set_subscribed(bool s) { subscribed_ = s; }
  bool closed() const { return bev_ == nullptr; }
  size_t pending_output() const;

 private:
  static void read_cb(bufferevent* bev, void* ctx) noexcept;
  static void write_cb(bufferevent* bev, void* ctx) noexcept;
  static void event_cb(bufferevent* bev, short what, void* ctx) noexcept;
  void on_read();

  bufferevent* bev_ = nullptr;
  uint64_t id_;
  PeerCredentials peer_;
  Callbacks callbacks_;
  bool subscribed_ = false;
  bool closing_ = false;
  bool discarding_ = false;  // skipping the rest of an oversized line
};

}  // namespace fw::server
