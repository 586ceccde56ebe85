// Shared helpers of escape_probe (escape_probe.c, escape_probe_kernel.c,
// escape_probe_cgroup.c, escape_probe_net.c): the verdict lines, the arguments the driver
// passes in, the scratch space. See escape_probe.c for the contract.
#pragma once
#include <stddef.h>
#include <sys/types.h>

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

// The scratch directory (the `dir` argument) and the fresh devtmpfs ("" if none).
extern char g_dir[256];
extern char g_devtmp[300];
// OUT = BASE/NAME.
void path_in(char* out, size_t len, const char* base, const char* name);
// MAJOR:MINOR into DEV; -1 if TEXT is NULL or malformed.
int parse_dev(const char* text, dev_t* dev);
// A node of DEV: one made with mknod in the scratch directory, else the fresh devtmpfs's;
// reports the mknod under MKNOD_NAME when not NULL. Returns OUT or NULL.
const char* device_node(char* out, size_t len, const char* mknod_name, const char* file,
                        mode_t type, dev_t dev);

// The kernel probes (escape_probe_kernel.c).
void probe_modules(void);
void probe_kexec(void);
void probe_clock(void);
void probe_ptrace(void);
void probe_handles(void);
void probe_bpf(void);
void probe_perf(void);
void probe_userfaultfd(void);
void probe_keys(void);
void probe_userns(void);
// The cgroup probes (escape_probe_cgroup.c).
void probe_cgroup(void);
// The network probes (escape_probe_net.c).
void probe_host_tcp_service(void);
void probe_unix_sockets(void);
void probe_netns_setns(void);
void probe_netns_host_links(void);
void probe_netns_move_veth_out(void);
