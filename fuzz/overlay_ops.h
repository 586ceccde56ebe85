#pragma once
// The tree builder of fuzz_overlay_reader: decodes fuzz input bytes into a small list of
// filesystem operations applied to a lower and an upper directory (a fake overlayfs layer
// pair, never mounted). Format (docs/fuzzing.md): byte 0 holds flags (kFlag*), then each
// operation is one opcode byte (low nibble: the operation, bit 4: the layer, 1 = upper)
// followed by its operand bytes; missing bytes read as 0. Names come from a fixed table
// (bounded paths, and the names that matter: ".wh.*", non-UTF-8, a long one).

#include <cstddef>
#include <cstdint>
#include <string>

namespace fw::fuzz {

inline constexpr uint8_t kFlagUserXattrs = 1;  // user.overlay.* instead of trusted.overlay.*
inline constexpr uint8_t kFlagExport = 2;      // also export_changes() the upper layer
inline constexpr uint8_t kFlagPathFilter = 4;  // also diff with DiffOptions::paths

struct BuiltTree {
  uint8_t flags = 0;
  std::string prefix;  // overlay::kTrustedPrefix or kUserPrefix
  size_t operations = 0;
};

// Applies the operations of `data` below `upper` and `lower` (existing empty directories).
// Without root, whiteouts (mknod 0:0 needs CAP_MKNOD), trusted.* xattrs, devices and chown
// are skipped. Failing operations (EEXIST, ...) are ignored: the tree is whatever was made.
BuiltTree build_tree(const uint8_t* data, size_t size, const std::string& upper,
                     const std::string& lower);

}  // namespace fw::fuzz
