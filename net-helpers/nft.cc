#include "net-helpers/nft.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "firmwared/base/fd.h"
#include "net-helpers/nft_rules.h"

namespace fw::net {

namespace {

// The first line of libnftables' error output ("Error: Could not process rule: ..."); the
// lines after it repeat the command and point at it with carets.
std::string first_line(const char* text) {
  std::string s = text == nullptr ? "" : text;
  const size_t nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  if (s.rfind("Error: ", 0) == 0) s.erase(0, 7);
  return s.empty() ? "nftables refused the commands" : s;
}

struct CtxDeleter {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};
using Ctx = std::unique_ptr<nft_ctx, CtxDeleter>;

// Runs `commands` (one transaction); with `json`, returns the listing they print.
Result<std::string> run(const std::string& commands, bool json, const std::string& what) {
  Ctx ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return make_error(ENOMEM, what + ": cannot create an nftables context");
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    return make_error(ENOMEM, what + ": cannot buffer nftables output");
  }
  if (json) nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON);
  if (nft_run_cmd_from_buffer(ctx.get(), commands.c_str()) != 0) {
    return make_error(EIO, what + ": " + first_line(nft_ctx_get_error_buffer(ctx.get())));
  }
  const char* out = nft_ctx_get_output_buffer(ctx.get());
  return std::string(out == nullptr ? "" : out);
}

// Serialises every action on `table` (each is list-then-change): without it, an unfilter
// that found its instance alone could delete the table right after another instance's
// filter was installed in it. The lock is on a file of /run (root's tmpfs), named from the
// table, so daemons with different prefixes never wait for each other.
Result<Fd> lock_table(const std::string& table) {
  const std::string path = "/run/" + table + ".nft.lock";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return errno_error("opening the lock '" + path + "'");
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return errno_error("locking '" + path + "'");
  }
  return fd;
}

// The ruleset's generation id (NFT_MSG_GETGEN): every committed nftables transaction, of
// any table and any process, changes it.
Result<uint32_t> generation() {
  Fd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  if (!sock) return errno_error("opening a netfilter netlink socket");
  struct {
    nlmsghdr header;
    nfgenmsg gen;
  } request{};
  request.header.nlmsg_len = sizeof(request);
  request.header.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
  request.header.nlmsg_flags = NLM_F_REQUEST;
  request.header.nlmsg_seq = 1;
  request.gen.nfgen_family = AF_UNSPEC;
  request.gen.version = NFNETLINK_V0;
  if (::send(sock.get(), &request, sizeof(request), 0) != sizeof(request)) {
    return errno_error("asking for the nftables generation");
  }
  alignas(nlmsghdr) char buf[512];
  const ssize_t n = ::recv(sock.get(), buf, sizeof(buf), 0);
  if (n < 0) return errno_error("reading the nftables generation");
  const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
  if (!NLMSG_OK(h, static_cast<size_t>(n)) || h->nlmsg_type == NLMSG_ERROR) {
    return make_error(EPROTO, "reading the nftables generation: the kernel refused");
  }
  // Attributes after the nfgenmsg header: NFTA_GEN_ID, a big-endian u32.
  const size_t start = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  for (size_t off = start; off + sizeof(nlattr) <= h->nlmsg_len;) {
    nlattr a;
    std::memcpy(&a, buf + off, sizeof(a));
    if (a.nla_len < sizeof(nlattr) || off + a.nla_len > h->nlmsg_len) break;
    if ((a.nla_type & NLA_TYPE_MASK) == NFTA_GEN_ID && a.nla_len >= NLA_HDRLEN + 4) {
      uint32_t id;
      std::memcpy(&id, buf + off + NLA_HDRLEN, sizeof(id));
      return ntohl(id);
    }
    off += NLA_ALIGN(a.nla_len);
  }
  return make_error(EPROTO, "reading the nftables generation: no NFTA_GEN_ID");
}

// A serving helper's knowledge of its table (keep_table_contents()): what it held right
// after this process's last change, and the ruleset generation then. Valid while the
// generation has not moved (nothing was committed since, by anyone); only read and
// written under the table's lock.
struct Known {
  std::string table;
  uint32_t generation = 0;
  TableContents contents;
};
bool g_keep = false;
std::optional<Known> g_known;

std::optional<TableContents> known(const std::string& table) {
  if (!g_keep || !g_known || g_known->table != table) return std::nullopt;
  auto gen = generation();
  if (!gen.ok() || *gen != g_known->generation) return std::nullopt;
  return g_known->contents;
}

// Records `contents` as the table's after a change of ours (still under the lock).
void remember(const std::string& table, TableContents contents) {
  if (!g_keep) return;
  auto gen = generation();
  if (!gen.ok()) {
    g_known.reset();
    return;
  }
  g_known = Known{table, *gen, std::move(contents)};
}

Result<TableContents> list_table(const std::string& table) {
  // "list table" of a missing table fails with a message in the locale's words: look for
  // the table among the inet tables first.
  FW_ASSIGN_OR_RETURN(std::string tables, run("list tables inet", true, "listing tables"));
  FW_ASSIGN_OR_RETURN(TableContents found, parse_listing(tables, table));
  if (!found.exists) return found;
  FW_ASSIGN_OR_RETURN(std::string json,
                      run("list table inet " + table, true, "listing table inet " + table));
  return parse_listing(json, table);
}

// The table's contents: what this process knows when nothing changed since, else listed.
Result<TableContents> list(const std::string& table) {
  if (auto k = known(table)) return *k;
  g_known.reset();
  return list_table(table);
}

// Applies `commands` (built from `before`); what the table holds afterwards is `after`.
// When `before` came from what this process knew and the kernel refuses, someone changed
// the table behind its back: listed again and retried once.
Status change(const std::string& table, const std::string& commands, const TableContents& after,
              const std::string& what) {
  if (!commands.empty()) {
    if (auto r = run(commands, false, what); !r.ok()) {
      g_known.reset();
      return r.error();
    }
  }
  remember(table, after);
  return {};
}

Status remove(const std::string& table, const std::set<std::string>& victims,
              const std::string& what) {
  std::optional<TableContents> was_known = known(table);
  TableContents contents;
  if (was_known) {
    contents = std::move(*was_known);
  } else {
    g_known.reset();
    FW_ASSIGN_OR_RETURN(contents, list_table(table));
  }
  Status st = change(table, remove_commands(table, contents, victims),
                     after_remove(contents, victims), what);
  if (st.ok() || !was_known.has_value()) return st;
  FW_ASSIGN_OR_RETURN(contents, list_table(table));
  return change(table, remove_commands(table, contents, victims), after_remove(contents, victims),
                what);
}

}  // namespace

Status filter(const std::string& table, const std::string& host_if, const std::string& host_ip,
              const HostAccess& access) {
  FW_ASSIGN_OR_RETURN(Fd lock, lock_table(table));
  if (access.kind == HostAccess::Kind::kAll) {
    return remove(table, {host_if}, "removing the filter of " + host_if + " (host_access all)");
  }
  // A serving helper lists its table once, then follows it through its own changes.
  std::optional<TableContents> before;
  if (g_keep) {
    auto c = list(table);
    if (c.ok()) before = std::move(*c);
  }
  const std::string what = "installing the filter of " + host_if + " in table inet " + table;
  if (!before) {
    FW_TRY(run(install_commands(table, host_if, host_ip, access), false, what));
    return {};
  }
  return change(table, install_commands(table, host_if, host_ip, access),
                after_install(*before, host_if), what);
}

Status unfilter(const std::string& table, const std::string& host_if) {
  FW_ASSIGN_OR_RETURN(Fd lock, lock_table(table));
  return remove(table, {host_if},
                "removing the filter of " + host_if + " from table inet " + table);
}

Status sweep(const std::string& table, const std::set<std::string>& keep) {
  FW_ASSIGN_OR_RETURN(Fd lock, lock_table(table));
  g_known.reset();  // at a daemon's start: what is there now, not what was known
  FW_ASSIGN_OR_RETURN(TableContents contents, list(table));
  std::set<std::string> victims;
  for (const std::string& i : contents.interfaces()) {
    if (keep.count(i) == 0) victims.insert(i);
  }
  return change(table, remove_commands(table, contents, victims), after_remove(contents, victims),
                "sweeping table inet " + table);
}

void keep_table_contents() { g_keep = true; }

}  // namespace fw::net
