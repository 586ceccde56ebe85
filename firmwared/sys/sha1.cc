#include "firmwared/sys/sha1.h"

#include <openssl/evp.h>

#include <array>

#include "firmwared/base/paths.h"
#include "firmwared/base/strings.h"

namespace fw::sys {

std::string sha1_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha1(), nullptr) != 1) {
    return "";  // only when OpenSSL cannot allocate its context
  }
  return to_hex(md.data(), len);
}

void Sha1::FreeCtx::operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }

Sha1::Sha1() : ctx_(EVP_MD_CTX_new()) {}

Sha1::~Sha1() = default;

Status Sha1::init() {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha1(), nullptr) != 1) {
    return make_error(EIO, "OpenSSL could not start a SHA-1 computation");
  }
  return {};
}

void Sha1::update(const char* data, size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }

Result<std::string> Sha1::final_hex() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), md.data(), &len) != 1) {
    return make_error(EIO, "OpenSSL could not finish a SHA-1 computation");
  }
  return to_hex(md.data(), len);
}

std::string daemon_owner_id(const std::string& mount_path) {
  return sha1_hex(canonical_dir(mount_path)).substr(0, 16);
}

}  // namespace fw::sys
