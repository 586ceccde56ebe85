#pragma once
// One client connection: reads JSON lines, hands each complete line to the server, queues
// replies and notifications. A client that stops reading is dropped once kMaxPendingOutput
// bytes wait for it, so it can never make the daemon grow without bound.
//
// For CONSOLE a session leaves line mode: hold() parks it while the daemon waits for the
// instance to start, start_relay() turns the connection into a raw byte relay with a
// terminal, resume() brings a held session back to line mode.

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/host/event.h"
#include "firmwared/server/socket.h"

namespace fw::server {

inline constexpr size_t kMaxPendingOutput = 16 * 1024 * 1024;
// Raw relay: bytes queued per direction before the side that produces them stops being
// read (and bytes a held session buffers before it stops reading its client).
inline constexpr size_t kRelayBufferBytes = 64 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  enum class Mode { kLines, kHeld, kRelay };

  struct Callbacks {
    std::function<void(Session&, std::string_view line)> on_line;
    std::function<void(Session&, const std::string& why)> on_closed;
  };

  // Takes ownership of the connected socket `fd`. Call start() once owned by a shared_ptr.
  Session(event_base* base, int fd, uint64_t id, PeerCredentials peer, Callbacks callbacks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts reading, and makes the session findable by find() until it is destroyed.
  void start();
  // Queues one encoded line; drops the client when too much output is pending. Ignored in
  // relay mode (the connection carries raw bytes then).
  void send(const std::string& line);
  // Stops reading; the connection closes once everything queued has been written. In relay
  // mode the terminal side is closed at once.
  void close_after_flush();
  // Closes now; on_closed runs (at most once per session), then the close hooks.
  void close(const std::string& why);
  // Runs `hook` once when the session closes (at once when it is closed already): what a
  // command that outlives its request (a running EXEC) ties to its client.
  void on_close(std::function<void()> hook);

  // Parks the session (line mode → held): lines already received and those to come are not
  // handed to on_line, the client's input stays buffered (at most kRelayBufferBytes, then
  // it is no longer read) and no notification is sent. Replies can still be sent.
  void hold();
  // Held → line mode; handles the lines that arrived meanwhile.
  void resume();
  // Line or held mode → relay mode: from now on bytes from the client are written to
  // `peer` (a non-blocking terminal or socket fd, owned from now on) and bytes read from
  // `peer` are written to the client; each direction queues at most kRelayBufferBytes, then
  // its reading side pauses. The session closes when `peer` reports EOF or an error (EIO on
  // a pts whose master is gone), after flushing to the client what was read, or when the
  // client closes, after flushing its bytes to `peer`. Errors: ECONNRESET (closed session),
  // EINVAL (already relaying), ENOMEM.
  Status start_relay(Fd peer);

  // EXEC's descriptor hand-over: stops reading lines, then reads exactly one byte with
  // SCM_RIGHTS ancillary data straight from the socket (recvmsg: libevent's reads would
  // drop the descriptors), resumes line mode and calls `done` with what arrived (empty on
  // EOF, error, a byte without descriptors, or after `timeout_ms`). At most 8 descriptors
  // are kept; they are close-on-exec.
  void receive_fds(int timeout_ms, std::function<void(std::vector<Fd>)> done);

  // Request accounting, for the idle timeout: the server calls begin_request() when it
  // dispatches a line and end_request() when its reply is sent.
  void begin_request();
  void end_request();

  using Clock = std::chrono::steady_clock;
  // The timeouts of the connection at `now`: ETIMEDOUT when, in line mode, a request line
  // begun `line_timeout` ago is still not complete, or when the connection has been idle
  // for `idle_timeout` (no request in progress, not subscribed, no relay, no hold);
  // success otherwise. Held and relaying sessions never time out.
  Status check_timeouts(Clock::time_point now, Clock::duration line_timeout,
                        Clock::duration idle_timeout) const;
  // Whether the session has been closing (flushing its last output) for `grace` already:
  // a client that does not read its last reply is then closed without it.
  bool closing_for(Clock::time_point now, Clock::duration grace) const;

  uint64_t id() const { return id_; }
  const PeerCredentials& peer() const { return peer_; }
  // Subscribed and in line mode: held and relaying sessions get no notifications.
  bool subscribed() const { return subscribed_ && mode_ == Mode::kLines; }
  void set_subscribed(bool s) { subscribed_ = s; }
  bool closed() const { return bev_ == nullptr; }
  Mode mode() const { return mode_; }
  size_t pending_output() const;
  // The loop this session runs on (nullptr once closed).
  event_base* base() const;

  // The open session with id `id`, nullptr when unknown or closed. Lets a command handler,
  // which only receives the caller's session id, switch its session to relay mode.
  static std::shared_ptr<Session> find(uint64_t id);

 private:
  static void read_cb(bufferevent* bev, void* ctx) noexcept;
  static void write_cb(bufferevent* bev, void* ctx) noexcept;
  static void event_cb(bufferevent* bev, short what, void* ctx) noexcept;
  static void relay_read_cb(bufferevent* bev, void* ctx) noexcept;
  static void relay_write_cb(bufferevent* bev, void* ctx) noexcept;
  static void relay_event_cb(bufferevent* bev, short what, void* ctx) noexcept;
  void on_read();
  void note_partial_line();
  void on_client_eof();
  void on_relay_end(const std::string& why);
  void drop_relay();
  static void fds_cb(evutil_socket_t fd, short what, void* ctx) noexcept;
  void run_close_hooks();
  std::vector<std::function<void()>> close_hooks_;
  host::Event fds_event_;
  std::function<void(std::vector<Fd>)> fds_done_;

  bufferevent* bev_ = nullptr;
  bufferevent* relay_ = nullptr;  // the terminal side in relay mode
  uint64_t id_;
  PeerCredentials peer_;
  Callbacks callbacks_;
  Mode mode_ = Mode::kLines;
  bool subscribed_ = false;
  bool closing_ = false;
  bool client_eof_ = false;  // relay mode: the client sent EOF, flushing its bytes
  bool discarding_ = false;  // skipping the rest of an oversized line
  size_t in_flight_ = 0;     // requests dispatched and not answered yet
  Clock::time_point last_activity_ = Clock::now();  // last request or reply
  std::optional<Clock::time_point> partial_since_;  // first byte of an incomplete line
  std::optional<Clock::time_point> closing_since_;
};

}  // namespace fw::server
