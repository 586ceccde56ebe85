// Session on a socketpair and a real libevent loop: the line limit, the output cap, a
// half-closed client, and replies to a client that has gone.
#include "firmwared/server/session.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/protocol/codec.h"
#include "firmwared/server/dispatcher.h"
#include "firmwared/server/server.h"

namespace fw::server {
namespace {

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_.reset(event_base_new());
    ASSERT_NE(base_, nullptr);
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    client_.reset(sv[0]);
    Session::Callbacks cb{
        [this](Session& s, std::string_view line) {
          lines_.emplace_back(line);
          if (on_line_) on_line_(s, line);
        },
        [this](Session&, const std::string& why) { closed_ = why; },
    };
    session_ = std::make_shared<Session>(base_.get(), sv[1], 1, PeerCredentials{}, cb);
    session_->start();
  }

  // Runs the loop, writing `to_send` to the session and reading what it sends, until
  // `done` holds (or 10 s pass: a failure).
  void pump(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timed out";
      if (!to_send_.empty()) {
        ssize_t n = ::send(client_.get(), to_send_.data(), to_send_.size(), MSG_NOSIGNAL);
        if (n > 0) to_send_.erase(0, static_cast<size_t>(n));
      }
      if (read_) drain_client();
      event_base_loop(base_.get(), EVLOOP_NONBLOCK);
      ::usleep(1000);
    }
  }

  void drain_client() {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(client_.get(), buf, sizeof buf, 0);
      if (n > 0) {
        received_.append(buf, static_cast<size_t>(n));
      } else {
        if (n == 0) client_eof_ = true;
        return;
      }
    }
  }

  std::vector<std::string> received_lines() const {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t nl; (nl = received_.find('\n', start)) != std::string::npos; start = nl + 1) {
      out.push_back(received_.substr(start, nl - start));
    }
    return out;
  }

  // Sends one request line and returns the Responder its handler kept for later, whose
  // sink is the server's (reply_sink).
  std::optional<Responder> park_request(uint32_t seq) {
    std::optional<Responder> later;
    on_line_ = [&](Session& s, std::string_view) {
      s.begin_request();
      later.emplace(seq, "PONG", reply_sink(s.weak_from_this()));
    };
    to_send_ = "request\n";
    pump([&] { return later.has_value(); });
    on_line_ = nullptr;
    return later;
  }

  struct FreeBase {
    void operator()(event_base* b) const { event_base_free(b); }
  };
  // Destroyed in reverse: the session (and its bufferevent) before the loop.
  std::unique_ptr<event_base, FreeBase> base_;
  Fd client_;
  std::shared_ptr<Session> session_;
  std::function<void(Session&, std::string_view)> on_line_;
  std::vector<std::string> lines_;
  std::optional<std::string> closed_;
  std::string to_send_;
  std::string received_;
  bool read_ = true;
  bool client_eof_ = false;
};

TEST_F(SessionTest, HandsOverCompleteLinesOnly) {
  to_send_ = "one\ntwo\nthr";
  pump([&] { return lines_.size() == 2 && to_send_.empty(); });
  EXPECT_EQ(lines_, (std::vector<std::string>{"one", "two"}));
  to_send_ = "ee\n";
  pump([&] { return lines_.size() == 3; });
  EXPECT_EQ(lines_[2], "three");
}

TEST_F(SessionTest, ALineOverTheLimitIsAnsweredOnceAndSkippedToItsNewline) {
  on_line_ = [](Session& s, std::string_view line) { s.send(std::string(line) + "-ok\n"); };
  to_send_ = std::string(protocol::kMaxMessageBytes + 100000, 'x') + "\nnext\n";
  pump([&] { return !lines_.empty(); });
  pump([&] { return received_lines().size() == 2; });
  EXPECT_EQ(lines_, std::vector<std::string>{"next"});
  const auto got = received_lines();
  EXPECT_NE(got[0].find("\"E2BIG\""), std::string::npos) << got[0];
  EXPECT_EQ(got[1], "next-ok");
  EXPECT_FALSE(closed_);
  EXPECT_FALSE(session_->closed());
}

TEST_F(SessionTest, AClientThatLetsTooMuchOutputPileUpIsDropped) {
  read_ = false;
  const std::string mib(1024 * 1024 - 1, 'r');
  // Nothing is written before the loop runs: exactly kMaxPendingOutput bytes may wait.
  for (size_t i = 0; i < kMaxPendingOutput / (1024 * 1024); ++i) session_->send(mib + "\n");
  EXPECT_FALSE(session_->closed());
  EXPECT_EQ(session_->pending_output(), kMaxPendingOutput);
  session_->send("one byte too many\n");
  EXPECT_TRUE(session_->closed());
  ASSERT_TRUE(closed_);
  EXPECT_NE(closed_->find("does not read its replies"), std::string::npos) << *closed_;
}

TEST_F(SessionTest, AHalfClosedClientStillGetsItsQueuedReplies) {
  // A reply larger than the socket buffer is still queued when the client's EOF arrives.
  const std::string big(4 * 1024 * 1024, 'b');
  on_line_ = [&](Session& s, std::string_view) { s.send(big + "\n"); };
  read_ = false;
  to_send_ = "request\n";
  pump([&] { return !lines_.empty(); });
  ASSERT_GT(session_->pending_output(), 0u);
  ASSERT_EQ(::shutdown(client_.get(), SHUT_WR), 0);
  read_ = true;
  pump([&] { return client_eof_; });
  EXPECT_EQ(received_, big + "\n");
  ASSERT_TRUE(closed_);
  EXPECT_TRUE(session_->closed());
}

TEST_F(SessionTest, AReplyToAClientThatHasGoneIsDropped) {
  std::optional<Responder> later = park_request(1);
  client_.reset();
  pump([&] { return closed_.has_value(); });
  later->ok();  // the session is closed: nothing is sent, nothing breaks
  session_.reset();
  later->ok();  // and gone altogether
  EXPECT_TRUE(received_.empty());
}

TEST_F(SessionTest, AReplyEndsTheRequestAndReachesTheClient) {
  std::optional<Responder> later = park_request(4);
  later->ok();
  pump([&] { return !received_lines().empty(); });
  const auto reply = protocol::Json::parse(received_lines()[0]);
  EXPECT_EQ(reply["seq"], 4);
  EXPECT_EQ(reply["answer"], "PONG");
}

// A running EXEC ends its command when its client goes away: the hook must run once, when
// the client closes, and at once for a session closed already.
TEST_F(SessionTest, CloseHooksRunOnceWhenTheClientGoes) {
  int runs = 0;
  session_->on_close([&] { ++runs; });
  pump([&] { return true; });
  EXPECT_EQ(runs, 0);
  client_.reset();
  pump([&] { return closed_.has_value(); });
  EXPECT_EQ(runs, 1);
  session_->close("again");
  EXPECT_EQ(runs, 1);
  int late = 0;
  session_->on_close([&] { ++late; });
  EXPECT_EQ(late, 1);
}

}  // namespace
}  // namespace fw::server
