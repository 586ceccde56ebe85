// Shared helpers of escape_probe (escape_probe.c, escape_probe_net.c): the verdict lines
// and the arguments the driver passes in. See escape_probe.c for the contract.
#pragma once
#define _GNU_SOURCE
#include <stddef.h>

// One line on stdout, flushed (the console of a PID 1 may be the only witness):
//   PROBE <name> <refused|allowed|not-present> <detail>
void report(const char* name, const char* verdict, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

// The verdict of a failed call by its errno: EPERM, EACCES, EROFS are "refused"; ENOSYS,
// ENODEV, ENXIO, EOPNOTSUPP are "not-present" (the kernel lacks the feature); anything else
// means the call got past the permission checks ("allowed"): the probes give the kernel
// harmless junk on purpose, so that an allowed call fails later on the payload.
const char* verdict_of_errno(int err);

// Value of argument KEY=VALUE, or FALLBACK when it was not given (or given as "-").
const char* arg(const char* key, const char* fallback);

// Writes the string to the file at PATH (O_WRONLY|O_TRUNC, no O_CREAT); -1 and errno on
// failure, including a short write.
int write_file(const char* path, const char* text);
// Reads at most LEN-1 bytes of PATH into BUF (NUL-terminated, trailing newline cut); -1 and
// errno on failure.
int read_file(const char* path, char* buf, size_t len);

// The network probes (escape_probe_net.c).
void probe_host_tcp_service(void);
void probe_unix_sockets(void);
void probe_netns_setns(void);
void probe_netns_host_links(void);
void probe_netns_move_veth_out(void);
