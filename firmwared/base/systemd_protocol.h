#pragma once
// The two datagram protocols firmwared speaks to systemd, written out here instead of
// linking libsystemd: the library pulls libgcrypt, liblz4, libzstd, liblzma and libcap into
// every process that links fw_base (about 0.9 MiB of resident pages in the daemon and in
// each monitor), for two sendmsg(2) calls. A static monitor cannot link it at all (Debian
// ships no libsystemd.a).
//  - the service manager's notifications (sd_notify(3)): one datagram to $NOTIFY_SOCKET;
//  - the journal's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL, what
//    sd_journal_sendv(3) sends): one datagram of fields to /run/systemd/journal/socket, or
//    a sealed memfd passed with SCM_RIGHTS when the entry is too large for a datagram.
// Thread safety: both may be called from any thread; the journal socket is opened once.

#include <string>
#include <string_view>
#include <vector>

namespace fw::systemd {

inline constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

// Encodes journal fields ("KEY=value" each, KEY without '=' and not empty) as the native
// protocol's datagram: "KEY=value\n" when the value holds no newline, otherwise
// "KEY\n" <value size, 64-bit little endian> value "\n". An item without '=' is skipped.
std::string encode_journal_entry(const std::vector<std::string>& fields);

// Sends one entry to the journal socket at `socket_path` (a datagram; a sealed memfd when
// the datagram is too large, EMSGSIZE/ENOBUFS). Returns 0 or -errno (ENOENT or
// ECONNREFUSED when no journal listens there), like sd_journal_sendv(3).
int send_journal(const std::vector<std::string>& fields,
                 const std::string& socket_path = kJournalSocket);

// Sends `state` ("READY=1\nSTATUS=...") to the socket named by $NOTIFY_SOCKET (a path, or
// "@name" for the abstract namespace), like sd_notify(0, state): 0 when NOTIFY_SOCKET is
// unset, > 0 once sent, -errno on failure (EAFNOSUPPORT for an address form other than a
// unix socket, EINVAL when it is too long).
int notify(std::string_view state);

// The first descriptor the service manager passes (sd_listen_fds(3)).
inline constexpr int kListenFdsStart = 3;

// Like sd_listen_fds(1): the number of descriptors passed from kListenFdsStart on, when
// LISTEN_PID names this process (0 when it names another or is unset); marks them
// close-on-exec and unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES. -EINVAL when
// LISTEN_PID or LISTEN_FDS is not a number, -errno when a descriptor cannot be marked.
int listen_fds();

// Like sd_is_socket_unix(fd, SOCK_STREAM, 1, path, path.size()): 1 when `fd` is a listening
// AF_UNIX stream socket (bound to `path` when not empty; "@name" for an abstract name),
// 0 when it is something else, -errno when it cannot be inspected.
int is_listening_unix_stream(int fd, std::string_view path = {});

}  // namespace fw::systemd
