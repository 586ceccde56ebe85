// The daemon → EXEC waiter orders (sys/exec_control.h): the record format, what the waiter
// refuses, and the pipe's non-blocking behaviour.

#include "firmwared/sys/exec_control.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>

namespace fw::sys {
namespace {

TEST(ExecOrder, SignalRoundTrips) {
  ExecOrder o;
  o.kind = ExecOrder::Kind::kSignal;
  o.signal = SIGINT;
  const auto rec = encode_exec_order(o);
  auto back = decode_exec_order(rec.data(), rec.size());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, ExecOrder::Kind::kSignal);
  EXPECT_EQ(back->signal, SIGINT);
}

TEST(ExecOrder, ResizeRoundTrips) {
  ExecOrder o;
  o.kind = ExecOrder::Kind::kResize;
  o.rows = 65535;
  o.cols = 1;
  const auto rec = encode_exec_order(o);
  auto back = decode_exec_order(rec.data(), rec.size());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, ExecOrder::Kind::kResize);
  EXPECT_EQ(back->rows, 65535);
  EXPECT_EQ(back->cols, 1);
}

TEST(ExecOrder, RefusesSignalsOutOfRange) {
  for (int sig : {0, -1, 65, 1000}) {
    ExecOrder o;
    o.signal = sig;
    const auto rec = encode_exec_order(o);
    EXPECT_FALSE(decode_exec_order(rec.data(), rec.size())) << sig;
  }
  ExecOrder last;
  last.signal = 64;
  const auto rec = encode_exec_order(last);
  EXPECT_TRUE(decode_exec_order(rec.data(), rec.size()));
}

TEST(ExecOrder, RefusesEmptySizesUnknownKindsAndShortRecords) {
  ExecOrder o;
  o.kind = ExecOrder::Kind::kResize;
  o.rows = 0;
  o.cols = 80;
  auto rec = encode_exec_order(o);
  EXPECT_FALSE(decode_exec_order(rec.data(), rec.size()));
  o.rows = 24;
  o.cols = 0;
  rec = encode_exec_order(o);
  EXPECT_FALSE(decode_exec_order(rec.data(), rec.size()));
  o.cols = 80;
  rec = encode_exec_order(o);
  EXPECT_FALSE(decode_exec_order(rec.data(), rec.size() - 1));
  rec[0] = 3;
  EXPECT_FALSE(decode_exec_order(rec.data(), rec.size()));
  rec[0] = 0;
  EXPECT_FALSE(decode_exec_order(rec.data(), rec.size()));
}

TEST(ExecControl, OrdersArriveWholeAndInOrder) {
  auto made = ExecControl::create();
  ASSERT_TRUE(made.ok()) << made.error().message;
  auto& [control, reader] = *made;
  ExecOrder sig;
  sig.signal = SIGTERM;
  ExecOrder size;
  size.kind = ExecOrder::Kind::kResize;
  size.rows = 50;
  size.cols = 132;
  ASSERT_TRUE(control.send(sig).ok());
  ASSERT_TRUE(control.send(size).ok());
  char rec[kExecOrderBytes];
  ASSERT_EQ(::read(reader.get(), rec, sizeof(rec)), static_cast<ssize_t>(sizeof(rec)));
  auto first = decode_exec_order(rec, sizeof(rec));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->signal, SIGTERM);
  ASSERT_EQ(::read(reader.get(), rec, sizeof(rec)), static_cast<ssize_t>(sizeof(rec)));
  auto second = decode_exec_order(rec, sizeof(rec));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->rows, 50);
  EXPECT_EQ(second->cols, 132);
}

TEST(ExecControl, ClosingIsTheEndTheWaiterSees) {
  auto made = ExecControl::create();
  ASSERT_TRUE(made.ok());
  auto& [control, reader] = *made;
  EXPECT_TRUE(control.open());
  control.close();
  EXPECT_FALSE(control.open());
  char c;
  EXPECT_EQ(::read(reader.get(), &c, 1), 0);
  EXPECT_EQ(control.send(ExecOrder{}).error().code, EBADF);
}

TEST(ExecControl, AFullPipeIsEagainNotABlock) {
  auto made = ExecControl::create();
  ASSERT_TRUE(made.ok());
  auto& [control, reader] = *made;
  ExecOrder o;
  o.signal = SIGUSR1;
  Status last;
  for (int i = 0; i < 100000 && last.ok(); ++i) last = control.send(o);
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code, EAGAIN);
}

TEST(ExecControl, AGoneWaiterIsEsrch) {
  std::signal(SIGPIPE, SIG_IGN);
  auto made = ExecControl::create();
  ASSERT_TRUE(made.ok());
  auto& [control, reader] = *made;
  reader.reset();
  ExecOrder o;
  o.signal = SIGINT;
  EXPECT_EQ(control.send(o).error().code, ESRCH);
}

}  // namespace
}  // namespace fw::sys
