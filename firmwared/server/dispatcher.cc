#include "firmwared/server/dispatcher.h"

#include "firmwared/base/log.h"

namespace fw::server {

Responder::Responder(uint32_t seq, std::string answer, Sink sink)
    : seq_(seq),
      answer_(std::move(answer)),
      sink_(std::make_shared<Sink>(std::move(sink))),
      answered_(std::make_shared<bool>(false)) {}

void Responder::ok(protocol::Json fields) const {
  if (*answered_) return;
  *answered_ = true;
  (*sink_)(protocol::make_reply(seq_, answer_, std::move(fields)));
}

void Responder::fail(const Error& error) const {
  if (*answered_) return;
  *answered_ = true;
  (*sink_)(protocol::make_error_reply(seq_, error));
}

void Responder::reply(const Result<protocol::Json>& result) const {
  if (result.ok()) {
    ok(result.value());
  } else {
    fail(result.error());
  }
}

void Dispatcher::add(const std::string& command, Handler handler) {
  handlers_[command] = std::move(handler);
}

void Dispatcher::dispatch(const protocol::Request& request, const Caller& caller,
                          Responder responder) {
  auto it = handlers_.find(request.command);
  if (it == handlers_.end()) {
    responder.fail(make_error(
        ENOSYS, "command " + request.command + " is not implemented by this firmwared yet"));
    return;
  }
  try {
    it->second(request, caller, responder);
  } catch (const std::exception& e) {
    // Handlers report errors as values; an exception here is a bug, not a client error.
    log::error("handler of " + request.command + " threw: " + e.what());
    responder.fail(
        make_error(EIO, "internal error while running " + request.command + ": " + e.what()));
  }
}

}  // namespace fw::server
