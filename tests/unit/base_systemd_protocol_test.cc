// Unit tests of base/systemd_protocol: the journal's native encoding, the journal and
// notification datagrams as a listener receives them, the large-entry memfd, and the
// socket-activation helpers (LISTEN_PID/LISTEN_FDS, the listening-socket check).
#include "firmwared/base/systemd_protocol.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "firmwared/base/fd.h"

namespace fw::systemd {
namespace {

class SocketDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fw-sd-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    ::unlink((dir_ + "/sock").c_str());
    ::rmdir(dir_.c_str());
    ::unsetenv("NOTIFY_SOCKET");
  }
  // A datagram listener bound at dir_/sock.
  Fd listen_dgram() {
    Fd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, (dir_ + "/sock").c_str());
    EXPECT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return s;
  }
  // Receives one datagram; a passed descriptor (SCM_RIGHTS) is read whole instead.
  static std::string receive(int sock) {
    std::string buf(1 << 20, '\0');
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(sock, &msg, MSG_DONTWAIT);
    if (n < 0) return "<nothing>";
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c), sizeof(fd));
      Fd owned(fd);
      std::string out(8 << 20, '\0');
      const ssize_t m = ::pread(fd, out.data(), out.size(), 0);
      out.resize(m > 0 ? static_cast<size_t>(m) : 0);
      return "memfd:" + out;
    }
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  std::string dir_;
};

std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

TEST(JournalEncoding, PlainFieldsAreKeyEqualsValueLines) {
  EXPECT_EQ(encode_journal_entry({"PRIORITY=5", "MESSAGE=hello", "EMPTY="}),
            "PRIORITY=5\nMESSAGE=hello\nEMPTY=\n");
}

TEST(JournalEncoding, ValuesWithNewlinesUseTheBinaryForm) {
  EXPECT_EQ(encode_journal_entry({"MESSAGE=a\nb", "X=1"}), "MESSAGE\n" + le64(3) + "a\nb\nX=1\n");
}

TEST(JournalEncoding, ItemsWithoutAKeyAreSkipped) {
  EXPECT_EQ(encode_journal_entry({"no equals sign", "=value", "K=v"}), "K=v\n");
}

TEST_F(SocketDir, JournalEntryArrivesAsOneDatagram) {
  Fd l = listen_dgram();
  EXPECT_EQ(send_journal({"PRIORITY=3", "MESSAGE=two\nlines"}, dir_ + "/sock"), 0);
  EXPECT_EQ(receive(l.get()), "PRIORITY=3\nMESSAGE\n" + le64(9) + "two\nlines\n");
}

TEST_F(SocketDir, ALargeJournalEntryGoesAsASealedMemfd) {
  Fd l = listen_dgram();
  const std::string big(4 << 20, 'x');  // larger than any datagram the socket takes
  EXPECT_EQ(send_journal({"MESSAGE=" + big}, dir_ + "/sock"), 0);
  EXPECT_EQ(receive(l.get()), "memfd:MESSAGE=" + big + "\n");
}

TEST_F(SocketDir, NoJournalListeningIsAnError) {
  EXPECT_EQ(send_journal({"MESSAGE=x"}, dir_ + "/sock"), -ENOENT);
}

TEST_F(SocketDir, NotifyIsANoOpWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(notify("READY=1"), 0);
}

TEST_F(SocketDir, NotifySendsTheStateToNotifySocket) {
  Fd l = listen_dgram();
  ::setenv("NOTIFY_SOCKET", (dir_ + "/sock").c_str(), 1);
  EXPECT_GT(notify("READY=1\nSTATUS=up"), 0);
  EXPECT_EQ(receive(l.get()), "READY=1\nSTATUS=up");
}

TEST_F(SocketDir, NotifyReachesAnAbstractSocket) {
  const std::string name = "fw-sd-test-" + std::to_string(::getpid());
  Fd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, name.data(), name.size());
  ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
            0);
  ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  EXPECT_GT(notify("STOPPING=1"), 0);
  EXPECT_EQ(receive(s.get()), "STOPPING=1");
}

TEST_F(SocketDir, NotifyRefusesOtherAddressForms) {
  ::setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
  EXPECT_EQ(notify("READY=1"), -EAFNOSUPPORT);
}

TEST(ListenFds, NoneWithoutListenPidAndForAnotherProcess) {
  ::unsetenv("LISTEN_PID");
  EXPECT_EQ(listen_fds(), 0);
  ::setenv("LISTEN_PID", std::to_string(::getpid() + 1).c_str(), 1);
  ::setenv("LISTEN_FDS", "1", 1);
  EXPECT_EQ(listen_fds(), 0);
  EXPECT_EQ(::getenv("LISTEN_PID"), nullptr) << "unset after reading";
  EXPECT_EQ(::getenv("LISTEN_FDS"), nullptr);
}

TEST(ListenFds, CountsOursAndRejectsGarbage) {
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDS", "0", 1);
  ::setenv("LISTEN_FDNAMES", "x", 1);
  EXPECT_EQ(listen_fds(), 0);
  EXPECT_EQ(::getenv("LISTEN_FDNAMES"), nullptr);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDS", "two", 1);
  EXPECT_EQ(listen_fds(), -EINVAL);
  ::setenv("LISTEN_PID", "12x", 1);
  EXPECT_EQ(listen_fds(), -EINVAL);
}

TEST_F(SocketDir, ListeningUnixStreamSocketIsRecognisedWithItsPath) {
  const std::string path = dir_ + "/sock";
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, path.c_str());
  ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(is_listening_unix_stream(s.get()), 0) << "bound but not listening";
  ASSERT_EQ(::listen(s.get(), 1), 0);
  EXPECT_EQ(is_listening_unix_stream(s.get()), 1);
  EXPECT_EQ(is_listening_unix_stream(s.get(), path), 1);
  EXPECT_EQ(is_listening_unix_stream(s.get(), path + "x"), 0);
  EXPECT_EQ(is_listening_unix_stream(s.get(), path.substr(0, path.size() - 1)), 0);
  Fd d = Fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(is_listening_unix_stream(d.get()), 0) << "a datagram socket";
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd r(p[0]), w(p[1]);
  EXPECT_EQ(is_listening_unix_stream(r.get()), 0) << "a pipe";
  EXPECT_EQ(is_listening_unix_stream(999), -EBADF);
}

}  // namespace
}  // namespace fw::systemd
