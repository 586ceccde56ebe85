#include "fuzz/overlay_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <string_view>
#include <vector>

#include "firmwared/core/overlay_tree.h"

namespace fw::fuzz {
namespace {

constexpr size_t kMaxOperations = 48;
constexpr size_t kMaxDepth = 6;

enum Op : uint8_t {
  kMkdir,
  kFile,
  kSymlink,
  kWhiteout,
  kXattr,
  kHardlink,
  kSpecial,
  kChown,
  kSparse,
  kOpCount
};

const std::array<std::string_view, 14> kNames = {
    "a",
    "b",
    "c",
    "etc",
    "bin",
    "x",
    ".wh.a",
    ".wh..wh..opq",
    "sp ace",
    "nl\nx",
    "\xff\xfe",
    "-rf",
    "ü",
    std::string_view("llllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                     "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllll")};

// Overlay markers, and ordinary xattrs that must be compared (escaped and plain).
const std::array<std::string_view, 8> kXattrSuffixes = {
    "opaque", "redirect", "metacopy", "whiteout", "origin", "overlay.opaque", "", ""};
const std::array<std::string_view, 13> kXattrValues = {
    "y", "x", "", "/a", "a", "/a/b", "b/c", "/", "//a/", "../a", "..", "/..", "/a/../.."};

struct Entry {
  std::string rel;  // below the layer root, "" = the root
  bool dir = false;
  bool file = false;
  size_t depth = 0;
};

class Builder {
 public:
  Builder(const uint8_t* data, size_t size, const std::string& upper, const std::string& lower)
      : data_(data), size_(size), root_(geteuid() == 0) {
    layers_[0].root = lower;
    layers_[1].root = upper;
    for (auto& l : layers_) l.entries.push_back({"", true, false, 0});
  }

  BuiltTree run() {
    BuiltTree t;
    t.flags = byte();
    t.prefix =
        (t.flags & kFlagUserXattrs) ? core::overlay::kUserPrefix : core::overlay::kTrustedPrefix;
    while (pos_ < size_ && t.operations < kMaxOperations) {
      const uint8_t op = byte();
      apply(static_cast<Op>((op & 0x0f) % kOpCount), layers_[(op >> 4) & 1], t.prefix);
      ++t.operations;
    }
    return t;
  }

 private:
  struct Layer {
    std::string root;
    std::vector<Entry> entries;
  };

  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::string bytes(size_t n) {
    std::string s;
    while (n-- > 0 && pos_ < size_) s += static_cast<char>(data_[pos_++]);
    return s;
  }
  std::string path(const Layer& l, const std::string& rel) const {
    return rel.empty() ? l.root : l.root + "/" + rel;
  }
  const Entry& pick(const Layer& l, bool dirs_only) {
    std::vector<const Entry*> c;
    for (const auto& e : l.entries) {
      if (!dirs_only || e.dir) c.push_back(&e);
    }
    return *c[byte() % c.size()];
  }
  // A new entry's place: a directory of the layer and a name from the table; false when
  // too deep.
  bool place(Layer& l, Entry* out) {
    const Entry& parent = pick(l, true);
    const std::string name(kNames[byte() % kNames.size()]);
    if (parent.depth >= kMaxDepth) return false;
    out->rel = parent.rel.empty() ? name : parent.rel + "/" + name;
    out->depth = parent.depth + 1;
    return true;
  }

  void apply(Op op, Layer& l, const std::string& prefix) {
    switch (op) {
      case kMkdir:
        return make_dir(l);
      case kFile:
      case kSparse:
        return make_file(l, op == kSparse);
      case kSymlink:
        return make_symlink(l);
      case kWhiteout:
        return make_node(l, S_IFCHR, makedev(0, 0));
      case kXattr:
        return set_xattr(l, prefix);
      case kHardlink:
        return make_link(l);
      case kSpecial: {
        static constexpr std::array<std::pair<mode_t, int>, 5> kinds = {
            {{S_IFCHR, 0x103}, {S_IFBLK, 0x700}, {S_IFIFO, 0}, {S_IFSOCK, 0}, {S_IFCHR, 0x1}}};
        const auto& k = kinds[byte() % kinds.size()];
        return make_node(l, k.first, makedev(k.second >> 8, k.second & 0xff));
      }
      case kChown: {
        const Entry& e = pick(l, false);
        const uint8_t who = byte();
        if (root_) (void)::lchown(path(l, e.rel).c_str(), (who & 3) * 1000, (who >> 2 & 3) * 1000);
        return;
      }
      case kOpCount:
        return;
    }
  }

  void make_dir(Layer& l) {
    Entry e;
    if (!place(l, &e)) return;
    static constexpr std::array<mode_t, 4> modes = {0755, 0700, 0555, 01777};
    // Without root a read-only directory could not be emptied afterwards.
    const mode_t mode = modes[byte() % modes.size()] | (root_ ? 0 : 0200);
    if (::mkdir(path(l, e.rel).c_str(), mode) != 0) return;
    ::chmod(path(l, e.rel).c_str(), mode);  // not filtered by the umask
    e.dir = true;
    l.entries.push_back(e);
  }

  void make_file(Layer& l, bool sparse) {
    Entry e;
    if (!place(l, &e)) return;
    static constexpr std::array<mode_t, 4> modes = {0644, 0600, 0755, 04755};
    const mode_t mode = modes[byte() % modes.size()];
    const std::string content = sparse ? std::string() : bytes(byte() % 48);
    const int fd = ::open(path(l, e.rel).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return;
    if (sparse) {
      (void)::ftruncate(fd, byte() * 37);
    } else {
      (void)::write(fd, content.data(), content.size());
    }
    ::fchmod(fd, mode);
    ::close(fd);
    e.file = true;
    l.entries.push_back(e);
  }

  void make_symlink(Layer& l) {
    Entry e;
    if (!place(l, &e)) return;
    std::string target = bytes(byte() % 24);
    for (char& c : target) c = c == '\0' ? '/' : c;
    if (target.empty()) target = "..";
    if (::symlink(target.c_str(), path(l, e.rel).c_str()) == 0) l.entries.push_back(e);
  }

  void make_node(Layer& l, mode_t type, dev_t dev) {
    Entry e;
    if (!place(l, &e)) return;
    if (!root_ && type != S_IFIFO && type != S_IFSOCK) return;  // CAP_MKNOD
    if (::mknod(path(l, e.rel).c_str(), type | 0644, dev) == 0) l.entries.push_back(e);
  }

  void make_link(Layer& l) {
    std::vector<const Entry*> files;
    for (const auto& e : l.entries) {
      if (e.file) files.push_back(&e);
    }
    const uint8_t which = byte();
    Entry e;
    if (!place(l, &e) || files.empty()) return;
    const Entry& src = *files[which % files.size()];
    if (::link(path(l, src.rel).c_str(), path(l, e.rel).c_str()) == 0) {
      e.file = true;
      l.entries.push_back(e);
    }
  }

  void set_xattr(Layer& l, const std::string& prefix) {
    const Entry& e = pick(l, false);
    const uint8_t k = byte();
    const std::string_view suffix = kXattrSuffixes[k % kXattrSuffixes.size()];
    // The two last slots are plain xattrs, outside the overlay's namespace.
    std::string name =
        suffix.empty() ? (k & 0x80 ? "user.fuzz" : "trusted.fuzz") : prefix + std::string(suffix);
    if (!root_ && name.rfind("trusted.", 0) == 0) return;  // CAP_SYS_ADMIN
    const uint8_t v = byte();
    const std::string value =
        v < 0x80 ? std::string(kXattrValues[v % kXattrValues.size()]) : bytes(v % 16);
    (void)::lsetxattr(path(l, e.rel).c_str(), name.c_str(), value.data(), value.size(), 0);
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  bool root_;
  std::array<Layer, 2> layers_;
};

}  // namespace

BuiltTree build_tree(const uint8_t* data, size_t size, const std::string& upper,
                     const std::string& lower) {
  return Builder(data, size, upper, lower).run();
}

}  // namespace fw::fuzz
