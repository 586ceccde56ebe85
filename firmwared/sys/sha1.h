#pragma once
// SHA-1 through OpenSSL's low-level functions (not EVP: see sha1.cc): of a string (the
// names of firmwares, instances and snapshots are derived from one) and incrementally (a
// firmware image hashed while it is copied).
//
// Thread safety: every computation has its own context; nothing is shared.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "firmwared/base/result.h"

namespace fw::sys {

// Returns the SHA-1 of `data` as 40 lowercase hex digits ("" only when OpenSSL fails).
std::string sha1_hex(std::string_view data);

// The id of a daemon's state: the first 16 hex digits of the SHA-1 of its mount_path made
// canonical ("/var/lib/fw/", "/var/lib//fw" or a symlink to it name one state). It marks
// the kernel objects a daemon owns (the ifalias "firmwared:<id>" of its host veths, its
// nftables table), so that two daemons with their own state never touch each other's.
std::string daemon_owner_id(const std::string& mount_path);

// An incremental SHA-1: init(), update() per chunk, final_hex() once.
class Sha1 {
 public:
  Sha1();
  ~Sha1();
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;

  // EIO when OpenSSL cannot start the computation.
  Status init();
  void update(const char* data, size_t n);
  // The digest as 40 lowercase hex digits; EIO when OpenSSL cannot finish it.
  Result<std::string> final_hex();

 private:
  struct State;  // OpenSSL's SHA_CTX, kept out of this header
  std::unique_ptr<State> state_;
};

}  // namespace fw::sys
