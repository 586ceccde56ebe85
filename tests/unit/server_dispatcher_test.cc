// Dispatcher and Responder: every request gets exactly one reply, whatever its handler does.
#include "firmwared/server/dispatcher.h"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <vector>

namespace fw::server {
namespace {

using protocol::Json;

struct Replies {
  std::vector<Json> sent;
  Responder::Sink sink() {
    return [this](const Json& reply) { sent.push_back(reply); };
  }
};

protocol::Request request(uint32_t seq, const std::string& command) {
  protocol::Request r;
  r.seq = seq;
  r.command = command;
  return r;
}

TEST(Responder, AnswersOnceWhateverTheHandlerCalls) {
  Replies replies;
  Responder r(7, "PONG", replies.sink());
  const Responder copy = r;  // copies share one answer
  r.ok({{"a", 1}});
  r.fail(make_error(EIO, "late failure"));
  copy.ok();
  copy.reply(make_error(EINVAL, "too late"));
  ASSERT_EQ(replies.sent.size(), 1u);
  EXPECT_EQ(replies.sent[0]["seq"], 7);
  EXPECT_EQ(replies.sent[0]["answer"], "PONG");
  EXPECT_EQ(replies.sent[0]["a"], 1);
}

TEST(Responder, ReplyOfAnErrorIsAnErrorReply) {
  Replies replies;
  Responder(3, "PONG", replies.sink()).reply(Result<Json>(make_error(ENOENT, "no such thing")));
  ASSERT_EQ(replies.sent.size(), 1u);
  EXPECT_EQ(replies.sent[0]["answer"], "ERROR");
  EXPECT_EQ(replies.sent[0]["error"], "ENOENT");
  EXPECT_EQ(replies.sent[0]["seq"], 3);
}

TEST(Dispatcher, RunsTheHandlerOfTheCommand) {
  Dispatcher d;
  Replies replies;
  Caller seen;
  d.add("PING", [&](const protocol::Request&, const Caller& c, Responder r) {
    seen = c;
    r.ok();
  });
  EXPECT_TRUE(d.handles("PING"));
  EXPECT_FALSE(d.handles("VERSION"));
  d.dispatch(request(1, "PING"), Caller{42, {}}, Responder(1, "PONG", replies.sink()));
  ASSERT_EQ(replies.sent.size(), 1u);
  EXPECT_EQ(replies.sent[0]["answer"], "PONG");
  EXPECT_EQ(seen.session_id, 42u);
}

TEST(Dispatcher, ACommandWithoutHandlerAnswersEnosys) {
  Dispatcher d;
  Replies replies;
  d.dispatch(request(5, "VERSION"), Caller{}, Responder(5, "VERSION", replies.sink()));
  ASSERT_EQ(replies.sent.size(), 1u);
  EXPECT_EQ(replies.sent[0]["answer"], "ERROR");
  EXPECT_EQ(replies.sent[0]["error"], "ENOSYS");
  EXPECT_EQ(replies.sent[0]["seq"], 5);
}

TEST(Dispatcher, AThrowingHandlerAnswersEioAndTheNextRequestsStillRun) {
  Dispatcher d;
  Replies replies;
  d.add("PING", [](const protocol::Request&, const Caller&, Responder) {
    throw std::runtime_error("boom");
  });
  d.add("VERSION", [](const protocol::Request&, const Caller&, Responder r) { r.ok(); });
  d.dispatch(request(1, "PING"), Caller{}, Responder(1, "PONG", replies.sink()));
  d.dispatch(request(2, "VERSION"), Caller{}, Responder(2, "VERSION", replies.sink()));
  ASSERT_EQ(replies.sent.size(), 2u);
  EXPECT_EQ(replies.sent[0]["error"], "EIO");
  EXPECT_NE(replies.sent[0]["message"].get<std::string>().find("boom"), std::string::npos);
  EXPECT_EQ(replies.sent[1]["answer"], "VERSION");
}

// A handler that answered before throwing has answered: the EIO is not sent on top.
TEST(Dispatcher, AHandlerThatAnsweredThenThrewAnswersOnce) {
  Dispatcher d;
  Replies replies;
  d.add("PING", [](const protocol::Request&, const Caller&, Responder r) {
    r.ok();
    throw std::runtime_error("after the reply");
  });
  d.dispatch(request(1, "PING"), Caller{}, Responder(1, "PONG", replies.sink()));
  ASSERT_EQ(replies.sent.size(), 1u);
  EXPECT_EQ(replies.sent[0]["answer"], "PONG");
}

TEST(Dispatcher, AResponderKeptByTheHandlerAnswersLater) {
  Dispatcher d;
  Replies replies;
  std::optional<Responder> later;
  d.add("PING", [&](const protocol::Request&, const Caller&, Responder r) { later = r; });
  d.dispatch(request(9, "PING"), Caller{}, Responder(9, "PONG", replies.sink()));
  EXPECT_TRUE(replies.sent.empty());
  later->ok({{"late", true}});
  later->ok();
  ASSERT_EQ(replies.sent.size(), 1u);
  EXPECT_EQ(replies.sent[0]["seq"], 9);
  EXPECT_EQ(replies.sent[0]["late"], true);
}

}  // namespace
}  // namespace fw::server
