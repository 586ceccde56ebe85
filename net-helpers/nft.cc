#include "net-helpers/nft.h"

#include <fcntl.h>
#include <nftables/libnftables.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

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

Result<TableContents> list(const std::string& table) {
  // "list table" of a missing table fails with a message in the locale's words: look for
  // the table among the inet tables first.
  FW_ASSIGN_OR_RETURN(std::string tables, run("list tables inet", true, "listing tables"));
  FW_ASSIGN_OR_RETURN(TableContents found, parse_listing(tables, table));
  if (!found.exists) return found;
  FW_ASSIGN_OR_RETURN(std::string json,
                      run("list table inet " + table, true, "listing table inet " + table));
  return parse_listing(json, table);
}

Status remove(const std::string& table, const std::set<std::string>& victims,
              const std::string& what) {
  FW_ASSIGN_OR_RETURN(TableContents contents, list(table));
  const std::string commands = remove_commands(table, contents, victims);
  if (commands.empty()) return {};
  FW_TRY(run(commands, false, what));
  return {};
}

}  // namespace

Status filter(const std::string& table, const std::string& host_if, const std::string& host_ip,
              const HostAccess& access) {
  FW_ASSIGN_OR_RETURN(Fd lock, lock_table(table));
  if (access.kind == HostAccess::Kind::kAll) {
    return remove(table, {host_if}, "removing the filter of " + host_if + " (host_access all)");
  }
  FW_TRY(run(install_commands(table, host_if, host_ip, access), false,
             "installing the filter of " + host_if + " in table inet " + table));
  return {};
}

Status unfilter(const std::string& table, const std::string& host_if) {
  FW_ASSIGN_OR_RETURN(Fd lock, lock_table(table));
  return remove(table, {host_if},
                "removing the filter of " + host_if + " from table inet " + table);
}

Status sweep(const std::string& table, const std::set<std::string>& keep) {
  FW_ASSIGN_OR_RETURN(Fd lock, lock_table(table));
  FW_ASSIGN_OR_RETURN(TableContents contents, list(table));
  std::set<std::string> victims;
  for (const std::string& i : contents.interfaces()) {
    if (keep.count(i) == 0) victims.insert(i);
  }
  const std::string commands = remove_commands(table, contents, victims);
  if (commands.empty()) return {};
  FW_TRY(run(commands, false, "sweeping table inet " + table));
  return {};
}

}  // namespace fw::net
