#include "firmwared/sys/sha1.h"

// OpenSSL's low-level SHA1_Init/Update/Final, not EVP: they are deprecated since OpenSSL
// 3.0 but still built, and they run the same assembly (SHA-NI, AVX2) without what EVP's
// first use costs: loading openssl.cnf, the default provider and its algorithm tables,
// ~2.2 MiB of resident memory in the daemon for hashing names and images. SHA-1 here
// names content; it is not a security boundary.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <array>

#include "firmwared/base/paths.h"
#include "firmwared/base/strings.h"

namespace fw::sys {

std::string sha1_hex(std::string_view data) {
  Sha1 sha1;
  if (!sha1.init().ok()) return "";
  sha1.update(data.data(), data.size());
  auto hex = sha1.final_hex();
  return hex.ok() ? *hex : "";
}

struct Sha1::State {
  SHA_CTX ctx;
};

Sha1::Sha1() : state_(std::make_unique<State>()) {}

Sha1::~Sha1() = default;

Status Sha1::init() {
  if (SHA1_Init(&state_->ctx) != 1) {
    return make_error(EIO, "OpenSSL could not start a SHA-1 computation");
  }
  return {};
}

void Sha1::update(const char* data, size_t n) { SHA1_Update(&state_->ctx, data, n); }

Result<std::string> Sha1::final_hex() {
  std::array<unsigned char, SHA_DIGEST_LENGTH> md{};
  if (SHA1_Final(md.data(), &state_->ctx) != 1) {
    return make_error(EIO, "OpenSSL could not finish a SHA-1 computation");
  }
  return to_hex(md.data(), md.size());
}

std::string daemon_owner_id(const std::string& mount_path) {
  return sha1_hex(canonical_dir(mount_path)).substr(0, 16);
}

}  // namespace fw::sys
