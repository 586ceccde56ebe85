#pragma once
// The daemon's front: the libevent loop's listening socket, the client sessions, the
// notification bus and the clean shutdown (BYEBYE, socket unlinked unless systemd passed it).

#include <event2/event.h>
#include <event2/listener.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "firmwared/base/result.h"
#include "firmwared/host/event.h"
#include "firmwared/protocol/codec.h"
#include "firmwared/server/dispatcher.h"
#include "firmwared/server/session.h"
#include "firmwared/server/socket.h"

namespace fw::server {

// How many clients may connect, and how long they may stay silent (firmwared.conf(5)).
struct ServerLimits {
  size_t max_connections = 512;         // all clients; the last kRootReserve only for root
  size_t max_connections_per_uid = 64;  // per non-root uid
  std::chrono::seconds line_timeout{10};
  std::chrono::seconds idle_timeout{300};
};
// Connections under max_connections that only uid 0 may take, so that root can always
// reach a daemon that non-root clients flood.
inline constexpr size_t kRootReserve = 32;

// The sink of the Responder of a request read from `session`: ends the request and sends
// the reply, or drops it when the session has closed (the client went away meanwhile).
Responder::Sink reply_sink(std::weak_ptr<Session> session);

class Server {
 public:
  Server(event_base* base, Dispatcher& dispatcher, ServerLimits limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Takes the socket systemd passed (adopt_activated), else creates it (listen_unix), and
  // starts accepting clients.
  Status listen(const std::string& socket_path);
  // Handles SIGTERM, SIGINT and SIGQUIT by a clean shutdown; ignores SIGPIPE.
  Status install_signal_handlers();

  // Sends a notification to every subscribed client; returns its event_id.
  uint64_t notify(const std::string& event, protocol::Json fields = protocol::Json::object());
  uint64_t last_event_id() const { return next_event_id_ - 1; }
  void subscribe(uint64_t session_id);

  // Stops accepting, unlinks the socket, notifies BYEBYE, then leaves the loop once every
  // client's output is flushed (at most one second later).
  void shutdown(const std::string& why);
  bool shutting_down() const { return shutting_down_; }
  // Work of the daemon's own to finish at shutdown: `begin` is called when it starts, and the
  // loop is left only once `settled` says so too (at most three seconds later).
  void on_shutdown(std::function<void()> begin, std::function<bool()> settled) {
    shutdown_begin_ = std::move(begin);
    shutdown_settled_ = std::move(settled);
  }
  size_t session_count() const { return sessions_.size(); }

 private:
  static void accept_cb(evconnlistener* l, evutil_socket_t fd, sockaddr* addr, int len,
                        void* ctx) noexcept;
  static void signal_cb(evutil_socket_t sig, short what, void* ctx) noexcept;
  static void drain_cb(evutil_socket_t fd, short what, void* ctx) noexcept;
  static void accept_error_cb(evconnlistener* l, void* ctx) noexcept;
  static void resume_cb(evutil_socket_t fd, short what, void* ctx) noexcept;
  static void sweep_cb(evutil_socket_t fd, short what, void* ctx) noexcept;
  Status start_timers();
  void on_accept(int fd);
  Status admit(const PeerCredentials& peer) const;
  void on_out_of_fds(int err);
  void sweep();
  void on_line(Session& session, std::string_view line);
  void on_closed(Session& session, const std::string& why);
  void reject(int fd, const Error& error);

  event_base* base_;
  Dispatcher& dispatcher_;
  ServerLimits limits_;
  ListeningSocket socket_;
  Fd spare_fd_;               // closed to accept-and-refuse when out of descriptors
  host::Event resume_timer_;  // re-enables the listener after a pause
  host::Event sweep_timer_;   // timeouts, once a second
  std::chrono::steady_clock::time_point last_fd_warning_{};
  std::map<uid_t, size_t> per_uid_;  // open sessions per uid
  evconnlistener* listener_ = nullptr;
  std::vector<host::Event> signal_events_;
  host::Event drain_timer_;
  int drain_ticks_ = 0;
  std::function<void()> shutdown_begin_;
  std::function<bool()> shutdown_settled_;
  std::map<uint64_t, std::shared_ptr<Session>> sessions_;
  uint64_t next_session_id_ = 1;
  uint64_t next_event_id_ = 1;
  bool shutting_down_ = false;
};

}  // namespace fw::server
