#include "firmwared/server/server.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "firmwared/base/log.h"
#include "firmwared/protocol/commands.h"

namespace fw::server {

Server::Server(event_base* base, Dispatcher& dispatcher) : base_(base), dispatcher_(dispatcher) {}

Server::~Server() {
  // Sessions first: their bufferevents belong to base_.
  sessions_.clear();
  if (listener_ != nullptr) evconnlistener_free(listener_);
  for (event* e : signal_events_) event_free(e);
  if (drain_timer_ != nullptr) event_free(drain_timer_);
  if (!socket_.path.empty() && !shutting_down_) ::unlink(socket_.path.c_str());
}

Status Server::listen(const std::string& socket_path) {
  FW_ASSIGN_OR_RETURN(socket_, listen_unix(socket_path));
  listener_ =
      evconnlistener_new(base_, accept_cb, this, LEV_OPT_CLOSE_ON_EXEC, -1, socket_.fd.get());
  if (listener_ == nullptr) {
    ::unlink(socket_path.c_str());
    return make_error(ENOMEM, "creating the libevent listener for '" + socket_path + "'");
  }
  log::info("listening on " + socket_path);
  return {};
}

Status Server::install_signal_handlers() {
  ::signal(SIGPIPE, SIG_IGN);  // a client closing early must not kill the daemon
  for (int sig : {SIGTERM, SIGINT, SIGQUIT}) {
    event* e = evsignal_new(base_, sig, signal_cb, this);
    if (e == nullptr || evsignal_add(e, nullptr) != 0) {
      if (e != nullptr) event_free(e);
      return make_error(ENOMEM, std::string("installing the handler of ") + strsignal(sig));
    }
    signal_events_.push_back(e);
  }
  return {};
}

void Server::accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* ctx) noexcept {
  try {
    static_cast<Server*>(ctx)->on_accept(fd);
  } catch (const std::exception& e) {
    log::error(std::string("accepting a client: ") + e.what() + ", ignoring");
    ::close(fd);
  }
}

void Server::reject(int fd, const Error& error) {
  // Best effort: the refusal fits in the socket buffer, so a blocking-free send suffices.
  const std::string line = protocol::encode(protocol::make_error_reply(0, error));
  ssize_t n = ::send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)n;
  ::close(fd);
}

void Server::on_accept(int fd) {
  if (shutting_down_) {
    reject(fd, make_error(ESHUTDOWN, "firmwared is shutting down"));
    return;
  }
  auto peer = check_peer(fd);
  if (!peer.ok()) {
    log::warning("refusing a client: " + peer.error().message);
    reject(fd, peer.error());
    return;
  }
  if (!peer->allowed) {
    log::notice("refusing client pid " + std::to_string(peer->pid) + " uid " +
                std::to_string(peer->uid) + ": neither root nor in group firmwared");
    reject(fd, make_error(EACCES, "permission denied: uid " + std::to_string(peer->uid) +
                                      " is neither root nor a member of group firmwared"));
    return;
  }
  if (sessions_.size() >= kMaxSessions) {
    reject(fd, make_error(EMFILE, "too many clients (" + std::to_string(kMaxSessions) + ")"));
    return;
  }
  const uint64_t id = next_session_id_++;
  Session::Callbacks cb{
      [this](Session& s, std::string_view line) { on_line(s, line); },
      [this](Session& s, const std::string& why) { on_closed(s, why); },
  };
  auto session = std::make_shared<Session>(base_, fd, id, *peer, std::move(cb));
  sessions_[id] = session;
  log::debug("client " + std::to_string(id) + " (pid " + std::to_string(peer->pid) + ") connected");
  session->start();
}

void Server::on_line(Session& session, std::string_view line) {
  std::weak_ptr<Session> weak = session.weak_from_this();
  auto sink = [weak](const protocol::Json& reply) {
    if (auto s = weak.lock(); s && !s->closed()) s->send(protocol::encode(reply));
  };
  auto decoded = protocol::decode_request(line);
  if (auto* failure = std::get_if<protocol::DecodeFailure>(&decoded)) {
    Responder(failure->seq, "ERROR", sink).fail(failure->error);
    return;
  }
  const auto& request = std::get<protocol::Request>(decoded);
  const protocol::CommandInfo* info = protocol::find_command(request.command);
  Responder responder(request.seq, info->answer, sink);
  if (shutting_down_) {
    responder.fail(make_error(ESHUTDOWN, "firmwared is shutting down"));
    return;
  }
  dispatcher_.dispatch(request, Caller{session.id(), session.peer()}, responder);
}

void Server::on_closed(Session& session, const std::string& why) {
  log::debug("client " + std::to_string(session.id()) + " gone: " + why);
  sessions_.erase(session.id());
}

void Server::subscribe(uint64_t session_id) {
  if (auto it = sessions_.find(session_id); it != sessions_.end()) {
    it->second->set_subscribed(true);
  }
}

uint64_t Server::notify(const std::string& event, protocol::Json fields) {
  const uint64_t id = next_event_id_++;
  const std::string line = protocol::encode(protocol::make_event(event, id, std::move(fields)));
  // Copy: send() may close a slow session, which erases it from sessions_.
  auto sessions = sessions_;
  for (auto& [sid, s] : sessions) {
    if (s->subscribed()) s->send(line);
  }
  return id;
}

void Server::signal_cb(evutil_socket_t sig, short, void* ctx) noexcept {
  try {
    static_cast<Server*>(ctx)->shutdown(std::string("received ") + strsignal(sig));
  } catch (...) {
    event_base_loopbreak(static_cast<Server*>(ctx)->base_);
  }
}

void Server::shutdown(const std::string& why) {
  if (shutting_down_) return;
  shutting_down_ = true;
  log::notice("shutting down: " + why);
  if (listener_ != nullptr) {
    evconnlistener_free(listener_);
    listener_ = nullptr;
  }
  socket_.fd.reset();  // the listener was made without LEV_OPT_CLOSE_ON_FREE
  if (!socket_.path.empty()) ::unlink(socket_.path.c_str());
  notify("BYEBYE");
  auto sessions = sessions_;
  for (auto& [sid, s] : sessions) s->close_after_flush();
  drain_timer_ = event_new(base_, -1, EV_PERSIST, drain_cb, this);
  timeval tick{0, 10 * 1000};
  if (drain_timer_ == nullptr || event_add(drain_timer_, &tick) != 0) event_base_loopbreak(base_);
}

void Server::drain_cb(evutil_socket_t, short, void* ctx) noexcept {
  auto* self = static_cast<Server*>(ctx);
  // Leave once every client got its BYEBYE, or after one second for clients not reading.
  if (self->sessions_.empty() || ++self->drain_ticks_ >= 100) event_base_loopbreak(self->base_);
}

}  // namespace fw::server
