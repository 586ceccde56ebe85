#pragma once
// Routes decoded requests to handlers. A handler answers exactly once through its
// Responder, now or later (long commands answer from a completion callback); answers to a
// client that has gone away are dropped.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "firmwared/protocol/codec.h"
#include "firmwared/server/socket.h"

namespace fw::server {

class Responder {
 public:
  using Sink = std::function<void(const protocol::Json&)>;
  Responder(uint32_t seq, std::string answer, Sink sink);

  // Sends the successful reply with `fields` merged in.
  void ok(protocol::Json fields = protocol::Json::object()) const;
  // Sends an ERROR reply.
  void fail(const Error& error) const;
  // ok() or fail() depending on `result`.
  void reply(const Result<protocol::Json>& result) const;
  uint32_t seq() const { return seq_; }

 private:
  uint32_t seq_;
  std::string answer_;
  std::shared_ptr<Sink> sink_;
  std::shared_ptr<bool> answered_;
};

struct Caller {
  uint64_t session_id = 0;
  PeerCredentials peer;
};

class Dispatcher {
 public:
  using Handler = std::function<void(const protocol::Request&, const Caller&, Responder)>;

  // Registers the handler of `command` (upper case, present in protocol::commands()).
  void add(const std::string& command, Handler handler);
  // Runs the handler; a command without one answers ENOSYS.
  void dispatch(const protocol::Request& request, const Caller& caller, Responder responder);
  bool handles(const std::string& command) const { return handlers_.count(command) != 0; }

 private:
  std::map<std::string, Handler> handlers_;
};

}  // namespace fw::server
