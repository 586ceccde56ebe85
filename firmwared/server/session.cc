#include "firmwared/server/session.h"

#include <sys/socket.h>

#include <event2/buffer.h>

#include <map>

#include "firmwared/base/log.h"
#include "firmwared/protocol/codec.h"

namespace fw::server {

namespace {

// Sessions by id, for Session::find. The loop is single-threaded: no lock.
std::map<uint64_t, std::weak_ptr<Session>>& registry() {
  static std::map<uint64_t, std::weak_ptr<Session>> sessions;
  return sessions;
}

// Moves what `from` has read to the output of `to`, as far as that output has room; what
// stays behind keeps `from`'s input at its high watermark, which pauses reading it.
void move_bounded(bufferevent* from, bufferevent* to) {
  evbuffer* out = bufferevent_get_output(to);
  const size_t queued = evbuffer_get_length(out);
  if (queued >= kRelayBufferBytes) return;
  evbuffer_remove_buffer(bufferevent_get_input(from), out, kRelayBufferBytes - queued);
}

}  // namespace

Session::Session(event_base* base, int fd, uint64_t id, PeerCredentials peer, Callbacks callbacks)
    : bev_(bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)),
      id_(id),
      peer_(peer),
      callbacks_(std::move(callbacks)) {}

Session::~Session() {
  fds_event_.reset();
  drop_relay();
  if (bev_ != nullptr) bufferevent_free(bev_);
  // Our own entry has expired by now; a newer session with the same id is left alone.
  auto& reg = registry();
  if (auto it = reg.find(id_); it != reg.end() && it->second.expired()) reg.erase(it);
}

std::shared_ptr<Session> Session::find(uint64_t id) {
  auto& reg = registry();
  auto it = reg.find(id);
  if (it == reg.end()) return nullptr;
  auto s = it->second.lock();
  return s && !s->closed() ? s : nullptr;
}

void Session::start() {
  if (bev_ == nullptr) {
    close("out of memory creating the connection buffer");
    return;
  }
  registry()[id_] = weak_from_this();
  bufferevent_setcb(bev_, read_cb, write_cb, event_cb, this);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
}

event_base* Session::base() const { return bev_ == nullptr ? nullptr : bufferevent_get_base(bev_); }

size_t Session::pending_output() const {
  return bev_ == nullptr ? 0 : evbuffer_get_length(bufferevent_get_output(bev_));
}

void Session::send(const std::string& line) {
  if (bev_ == nullptr || mode_ == Mode::kRelay) return;
  if (pending_output() + line.size() > kMaxPendingOutput) {
    close("client does not read its replies (" + std::to_string(pending_output()) +
          " bytes pending)");
    return;
  }
  bufferevent_write(bev_, line.data(), line.size());
  last_activity_ = Clock::now();
}

void Session::begin_request() {
  ++in_flight_;
  last_activity_ = Clock::now();
}

void Session::end_request() {
  if (in_flight_ > 0) --in_flight_;
  last_activity_ = Clock::now();
}

Status Session::check_timeouts(Clock::time_point now, Clock::duration line_timeout,
                               Clock::duration idle_timeout) const {
  if (bev_ == nullptr || closing_ || mode_ != Mode::kLines) return {};
  auto seconds = [](Clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  };
  if (partial_since_ && now - *partial_since_ >= line_timeout) {
    return make_error(ETIMEDOUT, "closing the connection: a request line begun " +
                                     seconds(line_timeout) +
                                     " s ago is still not complete (client_line_timeout)");
  }
  const bool busy = in_flight_ > 0 || subscribed_ || fds_event_ || partial_since_;
  if (!busy && now - last_activity_ >= idle_timeout) {
    return make_error(ETIMEDOUT, "closing the connection: no request for " + seconds(idle_timeout) +
                                     " s (client_idle_timeout)");
  }
  return {};
}

bool Session::closing_for(Clock::time_point now, Clock::duration grace) const {
  return bev_ != nullptr && closing_since_ && now - *closing_since_ >= grace;
}

// Starts or ends the line timeout: it runs while the input holds an incomplete line.
void Session::note_partial_line() {
  if (bev_ == nullptr || mode_ != Mode::kLines) return;
  const bool partial = discarding_ || evbuffer_get_length(bufferevent_get_input(bev_)) > 0;
  if (!partial) {
    partial_since_.reset();
  } else if (!partial_since_) {
    partial_since_ = Clock::now();
  }
}

void Session::drop_relay() {
  if (relay_ == nullptr) return;
  bufferevent_free(relay_);  // BEV_OPT_CLOSE_ON_FREE: closes the terminal fd
  relay_ = nullptr;
}

void Session::close_after_flush() {
  if (bev_ == nullptr) return;
  closing_ = true;
  if (!closing_since_) closing_since_ = Clock::now();
  drop_relay();
  bufferevent_disable(bev_, EV_READ);
  if (pending_output() == 0) close("closed by the daemon");
}

void Session::close(const std::string& why) {
  if (bev_ == nullptr) return;
  drop_relay();
  bufferevent_free(bev_);
  bev_ = nullptr;
  // on_closed may drop the last reference to *this: keep it alive until we return.
  auto self = weak_from_this().lock();
  if (callbacks_.on_closed) callbacks_.on_closed(*this, why);
  run_close_hooks();
}

void Session::on_close(std::function<void()> hook) {
  if (bev_ == nullptr) {
    hook();
    return;
  }
  close_hooks_.push_back(std::move(hook));
}

void Session::run_close_hooks() {
  auto hooks = std::move(close_hooks_);
  close_hooks_.clear();
  for (auto& h : hooks) {
    try {
      h();
    } catch (const std::exception& e) {
      log::error(std::string("closing client ") + std::to_string(id_) + ": " + e.what() +
                 ", ignoring");
    }
  }
}

void Session::hold() {
  if (bev_ == nullptr || mode_ != Mode::kLines) return;
  mode_ = Mode::kHeld;
  bufferevent_setwatermark(bev_, EV_READ, 0, kRelayBufferBytes);
}

void Session::resume() {
  if (bev_ == nullptr || mode_ != Mode::kHeld) return;
  mode_ = Mode::kLines;
  bufferevent_setwatermark(bev_, EV_READ, 0, 0);  // libevent's default: no limit
  on_read();
}

Status Session::start_relay(Fd peer) {
  if (bev_ == nullptr || closing_) return make_error(ECONNRESET, "the client has gone away");
  if (mode_ == Mode::kRelay) return make_error(EINVAL, "the connection is already a relay");
  relay_ = bufferevent_socket_new(bufferevent_get_base(bev_), peer.get(), BEV_OPT_CLOSE_ON_FREE);
  if (relay_ == nullptr) return make_error(ENOMEM, "creating the relay buffer");
  peer.release();
  mode_ = Mode::kRelay;
  // Read high watermarks pause the reading side; write low watermarks call the write
  // callbacks once half of the queue is gone, to move the next bytes.
  for (bufferevent* b : {bev_, relay_}) {
    bufferevent_setwatermark(b, EV_READ, 0, kRelayBufferBytes);
    bufferevent_setwatermark(b, EV_WRITE, kRelayBufferBytes / 2, 0);
  }
  bufferevent_setcb(relay_, relay_read_cb, relay_write_cb, relay_event_cb, this);
  bufferevent_enable(relay_, EV_READ | EV_WRITE);
  // Bytes the client sent right after its request (or while held) go to the terminal.
  move_bounded(bev_, relay_);
  return {};
}

void Session::on_read() {
  auto self = shared_from_this();
  evbuffer* in = bufferevent_get_input(bev_);
  if (mode_ == Mode::kRelay) {
    if (relay_ != nullptr && !client_eof_) move_bounded(bev_, relay_);
    return;
  }
  // A handler may hold the session or turn it into a relay: stop parsing lines then.
  while (bev_ != nullptr && !closing_ && mode_ == Mode::kLines) {
    evbuffer_ptr eol = evbuffer_search_eol(in, nullptr, nullptr, EVBUFFER_EOL_LF);
    if (eol.pos < 0) {
      note_partial_line();
      const size_t len = evbuffer_get_length(in);
      if (len >= protocol::kMaxMessageBytes) {
        // The line is already too long: answer once, then skip up to its newline so the
        // connection stays usable for the next request.
        if (!discarding_) {
          send(protocol::encode(protocol::make_error_reply(
              0, make_error(E2BIG, "request exceeds the 1 MiB limit, discarded"))));
        }
        discarding_ = true;
        evbuffer_drain(in, len);
      }
      return;
    }
    const size_t line_len = static_cast<size_t>(eol.pos);
    if (discarding_) {
      evbuffer_drain(in, line_len + 1);
      discarding_ = false;
      partial_since_.reset();
      continue;
    }
    std::string line(line_len, '\0');
    evbuffer_remove(in, line.data(), line_len);
    evbuffer_drain(in, 1);
    partial_since_.reset();  // the next line's clock starts with its first byte
    if (callbacks_.on_line) callbacks_.on_line(*this, line);
  }
}

void Session::on_client_eof() {
  if (mode_ != Mode::kRelay || relay_ == nullptr) {
    // A half-closed client (shutdown(SHUT_WR)) still gets the replies already queued.
    close_after_flush();
    return;
  }
  // The client detached: what it typed last still reaches the terminal, then we close.
  client_eof_ = true;
  bufferevent_disable(bev_, EV_READ);
  bufferevent_disable(relay_, EV_READ);
  evbuffer_add_buffer(bufferevent_get_output(relay_), bufferevent_get_input(bev_));
  if (evbuffer_get_length(bufferevent_get_output(relay_)) == 0) close("client detached");
}

void Session::on_relay_end(const std::string& why) {
  log::debug("client " + std::to_string(id_) + ": relay ended: " + why);
  if (client_eof_) {
    close("relay ended: " + why);
    return;
  }
  // What the terminal wrote before it went away still reaches the client (bounded: at most
  // kRelayBufferBytes were read and not yet moved).
  evbuffer_add_buffer(bufferevent_get_output(bev_), bufferevent_get_input(relay_));
  close_after_flush();
}

void Session::read_cb(bufferevent*, void* ctx) noexcept {
  try {
    static_cast<Session*>(ctx)->on_read();
  } catch (const std::exception& e) {
    static_cast<Session*>(ctx)->close(std::string("internal error: ") + e.what());
  }
}

void Session::write_cb(bufferevent*, void* ctx) noexcept {
  auto* s = static_cast<Session*>(ctx);
  // Relay: the client drained its queue, so take more from the terminal.
  if (s->relay_ != nullptr && !s->client_eof_) move_bounded(s->relay_, s->bev_);
  if (s->closing_ && s->pending_output() == 0) s->close("closed by the daemon");
}

void Session::event_cb(bufferevent*, short what, void* ctx) noexcept {
  auto* s = static_cast<Session*>(ctx);
  try {
    if (what & BEV_EVENT_EOF) {
      s->on_client_eof();
    } else if (what & BEV_EVENT_ERROR) {
      s->close(std::string("connection error: ") +
               evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
  } catch (const std::exception& e) {
    s->close(std::string("internal error: ") + e.what());
  }
}

void Session::relay_read_cb(bufferevent*, void* ctx) noexcept {
  auto* s = static_cast<Session*>(ctx);
  if (s->bev_ != nullptr && s->relay_ != nullptr) move_bounded(s->relay_, s->bev_);
}

void Session::relay_write_cb(bufferevent*, void* ctx) noexcept {
  auto* s = static_cast<Session*>(ctx);
  if (s->bev_ == nullptr || s->relay_ == nullptr) return;
  if (!s->client_eof_) {
    move_bounded(s->bev_, s->relay_);
  } else if (evbuffer_get_length(bufferevent_get_output(s->relay_)) == 0) {
    s->close("client detached");
  }
}

void Session::relay_event_cb(bufferevent*, short what, void* ctx) noexcept {
  auto* s = static_cast<Session*>(ctx);
  try {
    // A pts whose master closed (the monitor exited) reads EIO (pty(7)); EOF likewise.
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
      s->on_relay_end((what & BEV_EVENT_EOF) ? std::string("end of file")
                                             : evutil_socket_error_to_string(errno));
    }
  } catch (const std::exception& e) {
    s->close(std::string("internal error: ") + e.what());
  }
}

}  // namespace fw::server

namespace fw::server {

void Session::receive_fds(int timeout_ms, std::function<void(std::vector<Fd>)> done) {
  if (bev_ == nullptr || fds_event_) return done({});
  auto ev = host::Event::make(bufferevent_get_base(bev_), bufferevent_getfd(bev_), EV_READ, fds_cb,
                              this, "the descriptor hand-over");
  const timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  if (!ev.ok() || !ev->add(&tv).ok()) return done({});
  bufferevent_disable(bev_, EV_READ);
  fds_done_ = std::move(done);
  fds_event_ = std::move(*ev);
}

void Session::fds_cb(evutil_socket_t fd, short what, void* ctx) noexcept {
  auto* s = static_cast<Session*>(ctx);
  auto self = s->shared_from_this();
  std::vector<Fd> fds;
  if (what & EV_READ) {
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    // MSG_CMSG_CLOEXEC: the received descriptors never leak into other children.
    if (::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) == 1) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int* in = reinterpret_cast<const int*>(CMSG_DATA(c));
        for (size_t i = 0; i < n; ++i) fds.emplace_back(in[i]);
      }
    }
  }
  s->fds_event_.reset();
  auto done = std::move(s->fds_done_);
  if (s->bev_ != nullptr) bufferevent_enable(s->bev_, EV_READ);
  try {
    if (done) done(std::move(fds));
  } catch (const std::exception& e) {
    log::error(std::string("handing descriptors over: ") + e.what());
  }
}

}  // namespace fw::server
