#include "firmwared/server/session.h"

#include <event2/buffer.h>

#include "firmwared/base/log.h"
#include "firmwared/protocol/codec.h"

namespace fw::server {

Session::Session(event_base* base, int fd, uint64_t id, PeerCredentials peer,
                 Callbacks callbacks)
    : bev_(bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)),
      id_(id),
      peer_(peer),
      callbacks_(std::move(callbacks)) {}

Session::~Session() {
  if (bev_ != nullptr) bufferevent_free(bev_);
}

void Session::start() {
  if (bev_ == nullptr) {
    close("out of memory creating the connection buffer");
    return;
  }
  bufferevent_setcb(bev_, read_cb, write_cb, event_cb, this);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
}

size_t Session::pending_output() const {
  return bev_ == nullptr ? 0 : evbuffer_get_length(bufferevent_get_output(bev_));
}

void Session::send(const std::string& line) {
  if (bev_ == nullptr) return;
  if (pending_output() + line.size() > kMaxPendingOutput) {
    close("client does not read its replies (" + std::to_string(pending_output()) +
          " bytes pending)");
    return;
  }
  bufferevent_write(bev_, line.data(), line.size());
}

void Session::close_after_flush() {
  if (bev_ == nullptr) return;
  closing_ = true;
  bufferevent_disable(bev_, EV_READ);
  if (pending_output() == 0) close("closed by the daemon");
}

void Session::close(const std::string& why) {
  if (bev_ == nullptr) return;
  bufferevent_free(bev_);
  bev_ = nullptr;
  // on_closed may drop the last reference to *this: keep it alive until we return.
  auto self = weak_from_this().lock();
  if (callbacks_.on_closed) callbacks_.on_closed(*this, why);
}

void Session::on_read() {
  auto self = shared_from_this();
  evbuffer* in = bufferevent_get_input(bev_);
  while (bev_ != nullptr && !closing_) {
    evbuffer_ptr eol = evbuffer_search_eol(in, nullptr, nullptr, EVBUFFER_EOL_LF);
    if (eol.pos < 0) {
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
      continue;
    }
    std::string line(line_len, '\0');
    evbuffer_remove(in, line.data(), line_len);
    evbuffer_drain(in, 1);
    if (callbacks_.on_line) callbacks_.on_line(*this, line);
  }
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
  if (s->closing_ && s->pending_output() == 0) s->close("closed by the daemon");
}

void Session::event_cb(bufferevent*, short what, void* ctx) noexcept {
  auto* s = static_cast<Session*>(ctx);
  if (what & BEV_EVENT_EOF) {
    // A half-closed client (shutdown(SHUT_WR)) still gets the replies already queued.
    s->close_after_flush();
  } else if (what & BEV_EVENT_ERROR) {
    s->close(std::string("connection error: ") + evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
  }
}

}  // namespace fw::server
