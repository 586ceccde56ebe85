#include "firmwared/server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "firmwared/base/log.h"
#include "firmwared/base/service_manager.h"
#include "firmwared/protocol/commands.h"

namespace fw::server {

namespace {

// Descriptors the daemon needs besides one per client: the catalogue, monitors' pidfds and
// pipes, net helpers, and a terminal per console relay (up to one per client).
constexpr size_t kOtherFds = 256;
// How long the listener pauses when even the spare descriptor cannot be had back.
constexpr timeval kAcceptPause{0, 100 * 1000};

}  // namespace

Responder::Sink reply_sink(std::weak_ptr<Session> session) {
  // Responder calls its sink once: that is the end of the request.
  return [weak = std::move(session)](const protocol::Json& reply) {
    if (auto s = weak.lock(); s && !s->closed()) {
      s->end_request();
      s->send(protocol::encode(reply));
    }
  };
}

Server::Server(event_base* base, Dispatcher& dispatcher, ServerLimits limits)
    : base_(base), dispatcher_(dispatcher), limits_(limits) {}

Server::~Server() {
  // Sessions first: their bufferevents belong to base_.
  sessions_.clear();
  if (listener_ != nullptr) evconnlistener_free(listener_);
  signal_events_.clear();
  drain_timer_.reset();
  resume_timer_.reset();
  sweep_timer_.reset();
  if (socket_.created && !socket_.path.empty() && !shutting_down_) ::unlink(socket_.path.c_str());
}

Status Server::listen(const std::string& socket_path) {
  FW_ASSIGN_OR_RETURN(std::optional<ListeningSocket> passed, adopt_activated(socket_path));
  if (passed) {
    socket_ = std::move(*passed);
  } else {
    FW_ASSIGN_OR_RETURN(socket_, listen_unix(socket_path));
  }
  listener_ =
      evconnlistener_new(base_, accept_cb, this, LEV_OPT_CLOSE_ON_EXEC, -1, socket_.fd.get());
  if (listener_ == nullptr) {
    if (socket_.created) ::unlink(socket_path.c_str());
    return make_error(ENOMEM, "creating the libevent listener for '" + socket_path + "'");
  }
  evconnlistener_set_error_cb(listener_, accept_error_cb);
  FW_TRY(start_timers());
  const size_t wanted = 2 * limits_.max_connections + kOtherFds;
  if (const size_t got = raise_fd_limit(wanted); got < wanted) {
    log::warning("RLIMIT_NOFILE allows " + std::to_string(got) + " descriptors, max_connections " +
                 std::to_string(limits_.max_connections) + " wants " + std::to_string(wanted) +
                 ": clients may be refused with EMFILE before the limit, ignoring");
  }
  log::info((socket_.created ? "listening on " : "listening on the socket systemd passed, ") +
            socket_path);
  return {};
}

Status Server::start_timers() {
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!spare_fd_) return errno_error("opening the spare descriptor /dev/null");
  FW_ASSIGN_OR_RETURN(resume_timer_, host::Event::timer(base_, /*persist=*/false, resume_cb, this,
                                                        "the listener's resume timer"));
  FW_ASSIGN_OR_RETURN(sweep_timer_, host::Event::timer(base_, /*persist=*/true, sweep_cb, this,
                                                       "the client timeout sweep"));
  const timeval second{1, 0};
  return sweep_timer_.add(&second);
}

Status Server::install_signal_handlers() {
  ::signal(SIGPIPE, SIG_IGN);  // a client closing early must not kill the daemon
  for (int sig : {SIGTERM, SIGINT, SIGQUIT}) {
    const std::string what = std::string("the handler of ") + strsignal(sig);
    auto e = host::Event::signal(base_, sig, signal_cb, this, what.c_str());
    if (!e.ok()) return e.error();
    FW_TRY_CTX(e->add(), "installing " + what);
    signal_events_.push_back(std::move(*e));
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
  if (auto s = admit(*peer); !s.ok()) {
    log::notice("refusing client pid " + std::to_string(peer->pid) + ": " + s.error().message);
    reject(fd, s.error());
    return;
  }
  const uint64_t id = next_session_id_++;
  ++per_uid_[peer->uid];
  Session::Callbacks cb{
      [this](Session& s, std::string_view line) { on_line(s, line); },
      [this](Session& s, const std::string& why) { on_closed(s, why); },
  };
  auto session = std::make_shared<Session>(base_, fd, id, *peer, std::move(cb));
  sessions_[id] = session;
  log::debug("client " + std::to_string(id) + " (pid " + std::to_string(peer->pid) + ") connected");
  session->start();
}

Status Server::admit(const PeerCredentials& peer) const {
  const size_t open = sessions_.size();
  if (peer.uid == 0) {
    if (open < limits_.max_connections) return {};
    return make_error(EAGAIN, "too many connections: " + std::to_string(open) +
                                  " open, max_connections is " +
                                  std::to_string(limits_.max_connections));
  }
  const auto it = per_uid_.find(peer.uid);
  const size_t mine = it == per_uid_.end() ? 0 : it->second;
  if (mine >= limits_.max_connections_per_uid) {
    return make_error(EUSERS, "too many connections: uid " + std::to_string(peer.uid) +
                                  " already has " + std::to_string(mine) +
                                  " open, max_connections_per_uid is " +
                                  std::to_string(limits_.max_connections_per_uid));
  }
  if (open + kRootReserve >= limits_.max_connections) {
    return make_error(EAGAIN, "too many connections: " + std::to_string(open) + " open, the last " +
                                  std::to_string(kRootReserve) + " of max_connections " +
                                  std::to_string(limits_.max_connections) + " are kept for root");
  }
  return {};
}

void Server::accept_error_cb(evconnlistener*, void* ctx) noexcept {
  const int err = EVUTIL_SOCKET_ERROR();
  try {
    static_cast<Server*>(ctx)->on_out_of_fds(err);
  } catch (const std::exception& e) {
    log::error(std::string("handling an accept(2) failure: ") + e.what() + ", ignoring");
  }
}

// accept(2) failed (libevent already retries EAGAIN and EINTR). Out of descriptors
// (EMFILE, ENFILE), the pending connection stays in the backlog and the level-triggered
// listener would fire again at once, spinning: give back the spare descriptor, accept the
// client to refuse it, and take the spare again; when that fails, pause accepting 100 ms.
void Server::on_out_of_fds(int err) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_fd_warning_ >= std::chrono::seconds(1)) {
    last_fd_warning_ = now;
    log::warning(std::string("accepting a client: ") + std::strerror(err) +
                 (err == EMFILE || err == ENFILE ? ", refusing clients until descriptors are free"
                                                 : ", ignoring"));
  }
  if (err != EMFILE && err != ENFILE) return;  // ECONNABORTED and the like: next one
  spare_fd_.reset();
  if (int fd = ::accept4(socket_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC); fd >= 0) {
    reject(fd, make_error(err, "firmwared is out of file descriptors, try again later"));
  }
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!spare_fd_ && listener_ != nullptr && resume_timer_) {
    evconnlistener_disable(listener_);
    if (auto st = resume_timer_.add(&kAcceptPause); !st.ok()) {
      // Left disabled, the listener would never accept again.
      log::error("pausing the listener: " + st.error().message + ", accepting again at once");
      evconnlistener_enable(listener_);
    }
  }
}

void Server::resume_cb(evutil_socket_t, short, void* ctx) noexcept {
  auto* self = static_cast<Server*>(ctx);
  if (!self->spare_fd_) self->spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (self->listener_ != nullptr) evconnlistener_enable(self->listener_);
}

void Server::sweep_cb(evutil_socket_t, short, void* ctx) noexcept {
  try {
    static_cast<Server*>(ctx)->sweep();
  } catch (const std::exception& e) {
    log::error(std::string("checking client timeouts: ") + e.what() + ", ignoring");
  }
}

// Closes the clients whose line or idle timeout expired (each gets one ERROR line), and
// those that did not read that last line within the line timeout.
void Server::sweep() {
  const auto now = Session::Clock::now();
  auto sessions = sessions_;  // closing erases from sessions_
  for (auto& [sid, s] : sessions) {
    if (s->closing_for(now, limits_.line_timeout)) {
      s->close("did not read its last reply");
      continue;
    }
    auto st = s->check_timeouts(now, limits_.line_timeout, limits_.idle_timeout);
    if (st.ok()) continue;
    log::debug("client " + std::to_string(sid) + ": " + st.error().message);
    s->send(protocol::encode(protocol::make_error_reply(0, st.error())));
    s->close_after_flush();
  }
}

void Server::on_line(Session& session, std::string_view line) {
  session.begin_request();
  auto sink = reply_sink(session.weak_from_this());
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
  if (sessions_.erase(session.id()) != 0) {
    if (auto it = per_uid_.find(session.peer().uid); it != per_uid_.end() && --it->second == 0) {
      per_uid_.erase(it);
    }
  }
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
  service_manager::notify_stopping("shutting down: " + why);
  if (listener_ != nullptr) {
    evconnlistener_free(listener_);
    listener_ = nullptr;
  }
  resume_timer_.del();
  socket_.fd.reset();  // the listener was made without LEV_OPT_CLOSE_ON_FREE
  // A passed socket's file stays: the service manager made it and listens on it again to
  // start the next daemon when a client connects (socket activation).
  if (socket_.created && !socket_.path.empty()) ::unlink(socket_.path.c_str());
  notify("BYEBYE");
  auto sessions = sessions_;
  for (auto& [sid, s] : sessions) s->close_after_flush();
  if (shutdown_begin_) shutdown_begin_();
  auto drain = host::Event::timer(base_, /*persist=*/true, drain_cb, this, "the shutdown drain");
  const timeval tick{0, 10 * 1000};
  if (!drain.ok() || !drain->add(&tick).ok()) {
    event_base_loopbreak(base_);
    return;
  }
  drain_timer_ = std::move(*drain);
}

void Server::drain_cb(evutil_socket_t, short, void* ctx) noexcept {
  auto* self = static_cast<Server*>(ctx);
  // Leave once every client got its BYEBYE, or after one second for clients not reading,
  // and once the daemon's own work is settled (three seconds at most).
  ++self->drain_ticks_;
  const bool settled = !self->shutdown_settled_ || self->shutdown_settled_();
  if ((self->sessions_.empty() || self->drain_ticks_ >= 100) &&
      (settled || self->drain_ticks_ >= 300)) {
    event_base_loopbreak(self->base_);
  }
}

}  // namespace fw::server
