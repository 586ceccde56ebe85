// fuzz_protocol_decode: one line off the wire (without its '\n'), decoded by both ends.
//   daemon: decode_request(); an accepted request must survive encode_request() and decode
//           again to the same request; a refused one must give an ERROR reply that encodes
//           within kMaxMessageBytes and that the client decodes back to the same errno;
//   fwctl:  decode_message(), then the text rendering of the reply or notification and the
//           error() of an ERROR reply.
// decode_request/decode_message document that they never throw, and fwctl's renderers
// have no error channel: any exception escaping is a finding (libFuzzer reports it as a
// crash through std::terminate).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "firmwared/protocol/codec.h"
#include "fuzz/fuzz_check.h"
#include "fwctl/format.h"

namespace {

using fw::protocol::DecodeFailure;
using fw::protocol::Request;

void check_request(const Request& r) {
  std::string line = fw::protocol::encode_request(r);
  FUZZ_CHECK(!line.empty() && line.back() == '\n', "an encoded request ends with a newline");
  line.pop_back();
  auto again = fw::protocol::decode_request(line);
  const auto* r2 = std::get_if<Request>(&again);
  FUZZ_CHECK(r2 != nullptr, "a re-encoded request decodes");
  FUZZ_CHECK(r2->seq == r.seq && r2->command == r.command && r2->args == r.args && r2->cwd == r.cwd,
             "a request survives encode/decode");
}

void check_failure(const DecodeFailure& f) {
  FUZZ_CHECK(f.error.code != 0 && !f.error.message.empty(), "a refusal has errno and message");
  std::string line = fw::protocol::encode(fw::protocol::make_error_reply(f.seq, f.error));
  FUZZ_CHECK(line.size() <= fw::protocol::kMaxMessageBytes, "an ERROR reply fits one message");
  line.pop_back();
  auto m = fw::protocol::decode_message(line);
  FUZZ_CHECK(m.ok() && m->is_error() && m->seq == f.seq, "the client reads the ERROR reply");
  FUZZ_CHECK(m->error().code == f.error.code, "the ERROR reply keeps the errno");
}

void render(const fw::protocol::Message& m) {
  if (m.kind == fw::protocol::Message::Kind::kEvent) {
    (void)fwctl::format_event(m);
  } else if (m.is_error()) {
    (void)m.error();
  } else {
    (void)fwctl::format_reply(m);
    (void)fwctl::format_reply(m, {"instances", "x"});
  }
  (void)fw::protocol::encode(m.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto decoded = fw::protocol::decode_request(line);
  if (const auto* r = std::get_if<Request>(&decoded)) {
    check_request(*r);
  } else {
    check_failure(std::get<DecodeFailure>(decoded));
  }
  if (auto m = fw::protocol::decode_message(line); m.ok()) render(*m);
  return 0;
}
