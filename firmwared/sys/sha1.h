#pragma once
// SHA-1 through OpenSSL: of a string (the names of firmwares, instances and snapshots are
// derived from one) and incrementally (a firmware image hashed while it is copied).
//
// Thread safety: every computation has its own OpenSSL context; nothing is shared.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "firmwared/base/result.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace fw::sys {

// Returns the SHA-1 of `data` as 40 lowercase hex digits ("" only when OpenSSL cannot
// allocate its context).
std::string sha1_hex(std::string_view data);

// An incremental SHA-1: init(), update() per chunk, final_hex() once.
class Sha1 {
 public:
  Sha1();
  ~Sha1();
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;

  // EIO when OpenSSL cannot start the computation (no context: out of memory).
  Status init();
  void update(const char* data, size_t n);
  // The digest as 40 lowercase hex digits; EIO when OpenSSL cannot finish it.
  Result<std::string> final_hex();

 private:
  struct FreeCtx {
    void operator()(EVP_MD_CTX* ctx) const noexcept;
  };
  std::unique_ptr<EVP_MD_CTX, FreeCtx> ctx_;
};

}  // namespace fw::sys
