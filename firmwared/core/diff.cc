#include "firmwared/core/diff.h"

#include <fcntl.h>

#include <algorithm>
#include <iterator>

#include "firmwared/base/strings.h"

namespace fw::core {

namespace {

using overlay::MergedDir;
using overlay::MergedEntry;
using overlay::Node;
using overlay::Reader;

// The firmware's directory at the path of the merged directory being walked (invalid: the
// firmware has no directory there). Usually the very directory merged there: then borrowed.
struct BaseDir {
  Fd owned;
  int fd = -1;
  std::string path;  // relative to the lower root
  bool valid() const { return fd >= 0; }
  static BaseDir own(Fd f, std::string p) {
    BaseDir b;
    b.fd = f.get();
    b.owned = std::move(f);
    b.path = std::move(p);
    return b;
  }
};

Result<EntryInfo> info_of(const Node& n, int dirfd, const std::string& name) {
  EntryInfo i;
  i.type = n.type;
  i.perm = n.perm;
  i.uid = n.uid;
  i.gid = n.gid;
  if (n.type == FileType::kFile || n.type == FileType::kSymlink) i.size = n.size;
  if (n.type == FileType::kChar || n.type == FileType::kBlock) i.rdev = n.rdev;
  if (n.type == FileType::kSymlink) {
    FW_ASSIGN_OR_RETURN(i.target, overlay::read_link(dirfd, name));
  }
  return i;
}

std::string child_path(const std::string& dir, const std::string& name) {
  return dir + "/" + name;  // the root is ""
}

class Walker {
 public:
  Walker(const Reader& reader, const DiffOptions& options, const DiffSink& sink)
      : r_(reader), o_(options), sink_(sink) {}

  Status run() {
    FW_ASSIGN_OR_RETURN(MergedDir root, r_.root());
    BaseDir base;
    base.fd = r_.lower_root();
    // The merged root's metadata is the upper root's (overlayfs.rst, "Directories").
    FW_ASSIGN_OR_RETURN(auto up, overlay::stat_entry(root.upper.get(), "."));
    FW_ASSIGN_OR_RETURN(auto low, overlay::stat_entry(base.fd, "."));
    if (up && low && in_scope("")) {
      MergedEntry e;
      e.exists = e.from_upper = true;
      e.node = *up;
      e.dirfd = root.upper.get();
      FW_ASSIGN_OR_RETURN(e.xattr_names, overlay::xattr_names(e.dirfd, "."));
      FW_TRY(compare_same(e, ".", *low, base, "/", nullptr));
    }
    return walk_dir("", root, base);
  }

  const DiffStat& stat() const { return stat_; }

 private:
  // Every entry of the merged dir `m` (at `path`) against the firmware's dir `b`.
  Status walk_dir(const std::string& path, const MergedDir& m, const BaseDir& b) {
    // Same lower dir merged as compared: only the names in upper can differ.
    const bool same_source = m.lower.valid() && b.valid() && m.lower_path == b.path;
    std::vector<std::string> names;
    if (m.upper.valid()) {
      FW_ASSIGN_OR_RETURN(names, overlay::list_dir(m.upper.get()));
    }
    if (!same_source) {
      for (int fd : {m.lower.get(), b.fd}) {
        if (fd < 0) continue;
        FW_ASSIGN_OR_RETURN(auto more, overlay::list_dir(fd));
        std::vector<std::string> all;
        std::set_union(names.begin(), names.end(), more.begin(), more.end(),
                       std::back_inserter(all));
        names = std::move(all);
      }
    }
    for (const auto& name : names) {
      const std::string p = child_path(path, name);
      if (!relevant(p)) continue;
      Status s = visit(p, name, m, b, same_source);
      // An entry removed by the running instance meanwhile: it is simply not there.
      if (!s.ok() && s.error().code != ENOENT) return s;
    }
    return {};
  }

  Status visit(const std::string& p, const std::string& name, const MergedDir& m, const BaseDir& b,
               bool same_source) {
    FW_ASSIGN_OR_RETURN(MergedEntry e, r_.entry(m, name));
    std::optional<Node> bn;
    if (same_source && e.lower_looked_up) {
      bn = e.lower_node;
    } else if (b.valid()) {
      FW_ASSIGN_OR_RETURN(bn, overlay::stat_entry(b.fd, name));
    }
    if (!e.exists && !bn) return {};
    if (!e.exists) {
      FW_TRY(emit_side(DiffStatus::kDeleted, p, *bn, b.fd, name));
      return bn->type == FileType::kDir ? delete_tree(p, b, name) : Status();
    }
    const bool is_dir = e.node.type == FileType::kDir;
    if (!bn) {
      FW_TRY(emit_side(DiffStatus::kAdded, p, e.node, e.dirfd, name, &e));
      return is_dir ? walk_child(p, name, m, e, BaseDir()) : Status();
    }
    if (bn->type != e.node.type) {
      if (in_scope(p)) {
        DiffEntry d;
        d.status = DiffStatus::kTypeChanged;
        d.path = p;
        FW_ASSIGN_OR_RETURN(d.before, info_of(*bn, b.fd, name));
        FW_ASSIGN_OR_RETURN(d.after, info_of(e.node, e.dirfd, name));
        annotate(d, e);
        emit(std::move(d));
      }
      if (bn->type == FileType::kDir) FW_TRY(delete_tree(p, b, name));
      return is_dir ? walk_child(p, name, m, e, BaseDir()) : Status();
    }
    if (!e.from_upper && e.lower_path == overlay::join_rel(b.path, name)) return {};
    FW_TRY(compare_same(e, name, *bn, b, p, &e));
    if (!is_dir) return {};
    FW_ASSIGN_OR_RETURN(MergedDir child, r_.child_dir(m, name, e));
    const std::string base_path = overlay::join_rel(b.path, name);
    BaseDir base;
    if (child.lower.valid() && child.lower_path == base_path) {
      base.fd = child.lower.get();
      base.path = base_path;
    } else {
      FW_ASSIGN_OR_RETURN(Fd fd, overlay::open_dir(b.fd, name));
      base = BaseDir::own(std::move(fd), base_path);
    }
    return walk_dir(p, child, base);
  }

  Status walk_child(const std::string& p, const std::string& name, const MergedDir& m,
                    const MergedEntry& e, const BaseDir& b) {
    FW_ASSIGN_OR_RETURN(MergedDir child, r_.child_dir(m, name, e));
    return walk_dir(p, child, b);
  }

  // D for every entry below the firmware's directory `name` of `parent`.
  Status delete_tree(const std::string& path, const BaseDir& parent, const std::string& name) {
    auto dir = overlay::open_dir(parent.fd, name);
    if (!dir.ok()) return dir.error().code == ENOTDIR ? Status() : Status(dir.error());
    BaseDir b = BaseDir::own(std::move(*dir), overlay::join_rel(parent.path, name));
    FW_ASSIGN_OR_RETURN(auto names, overlay::list_dir(b.fd));
    for (const auto& n : names) {
      const std::string p = child_path(path, n);
      if (!relevant(p)) continue;
      FW_ASSIGN_OR_RETURN(auto node, overlay::stat_entry(b.fd, n));
      if (!node) continue;
      FW_TRY(emit_side(DiffStatus::kDeleted, p, *node, b.fd, n));
      if (node->type == FileType::kDir) FW_TRY(delete_tree(p, b, n));
    }
    return {};
  }

  // Same type on both sides: M when something compared differs.
  Status compare_same(const MergedEntry& e, const std::string& name, const Node& bn,
                      const BaseDir& b, const std::string& p, const MergedEntry* annotated) {
    unsigned changes = 0;
    const Node& n = e.node;
    if (n.perm != bn.perm) changes |= kChangeMode;
    if (n.uid != bn.uid || n.gid != bn.gid) changes |= kChangeOwner;
    FW_ASSIGN_OR_RETURN(bool same, same_content(e, name, bn, b));
    if (!same) changes |= kChangeContent;
    FW_ASSIGN_OR_RETURN(auto xa, overlay::visible_xattrs(e.dirfd, name, r_.prefix(),
                                                         e.from_upper ? &e.xattr_names : nullptr));
    FW_ASSIGN_OR_RETURN(auto xb, overlay::visible_xattrs(b.fd, name, r_.prefix()));
    std::vector<std::string> xattrs;
    for (const auto& [k, v] : xa) {
      if (auto it = xb.find(k); it == xb.end() || it->second != v) xattrs.push_back(k);
    }
    for (const auto& [k, v] : xb) {
      if (xa.count(k) == 0) xattrs.push_back(k);
    }
    std::sort(xattrs.begin(), xattrs.end());
    if (!xattrs.empty()) changes |= kChangeXattrs;
    if (!in_scope(p == "/" ? "" : p)) return {};
    if (changes == 0) {
      if (e.from_upper && n.type != FileType::kDir) ++stat_.copied_up_unchanged;
      return {};
    }
    DiffEntry d;
    d.status = DiffStatus::kModified;
    d.path = p;
    d.changes = changes;
    d.xattrs = std::move(xattrs);
    FW_ASSIGN_OR_RETURN(d.before, info_of(bn, b.fd, name));
    FW_ASSIGN_OR_RETURN(d.after, info_of(n, e.dirfd, name));
    if (annotated != nullptr) annotate(d, *annotated);
    emit(std::move(d));
    return {};
  }

  Result<bool> same_content(const MergedEntry& e, const std::string& name, const Node& bn,
                            const BaseDir& b) {
    switch (e.node.type) {
      case FileType::kFile: {
        if (e.node.size != bn.size) return false;
        // Metadata-only copy-up of this very file: its data is the firmware's.
        if (e.lower_path && *e.lower_path == overlay::join_rel(b.path, name)) return true;
        FW_ASSIGN_OR_RETURN(Fd mine, r_.open_data(e, name));
        FW_ASSIGN_OR_RETURN(Fd theirs, overlay::open_file(b.fd, name));
        return overlay::same_content(mine.get(), theirs.get());
      }
      case FileType::kSymlink: {
        FW_ASSIGN_OR_RETURN(auto mine, overlay::read_link(e.dirfd, name));
        FW_ASSIGN_OR_RETURN(auto theirs, overlay::read_link(b.fd, name));
        return mine == theirs;
      }
      case FileType::kChar:
      case FileType::kBlock:
        return e.node.rdev == bn.rdev;
      default:
        return true;
    }
  }

  void annotate(DiffEntry& d, const MergedEntry& e) {
    d.metacopy = e.metacopy;
    if (e.node.type == FileType::kDir && !e.redirected_from.empty()) {
      d.renamed_from = "/" + e.redirected_from;
    }
  }

  // An A or D entry: one side only.
  Status emit_side(DiffStatus status, const std::string& p, const Node& n, int dirfd,
                   const std::string& name, const MergedEntry* e = nullptr) {
    if (!in_scope(p)) return {};
    DiffEntry d;
    d.status = status;
    d.path = p;
    FW_ASSIGN_OR_RETURN(EntryInfo info, info_of(n, dirfd, name));
    (status == DiffStatus::kDeleted ? d.before : d.after) = std::move(info);
    if (e != nullptr) annotate(d, *e);
    emit(std::move(d));
    return {};
  }

  void emit(DiffEntry&& d) {
    auto file_size = [](const std::optional<EntryInfo>& i) {
      return i && i->type == FileType::kFile ? i->size : 0;
    };
    switch (d.status) {
      case DiffStatus::kAdded:
        ++stat_.added;
        stat_.bytes_added += file_size(d.after);
        break;
      case DiffStatus::kDeleted:
        ++stat_.deleted;
        stat_.bytes_deleted += file_size(d.before);
        break;
      case DiffStatus::kTypeChanged:
        ++stat_.type_changed;
        stat_.bytes_added += file_size(d.after);
        stat_.bytes_deleted += file_size(d.before);
        break;
      case DiffStatus::kModified:
        ++stat_.modified;
        if (d.changes & kChangeContent) stat_.bytes_modified += file_size(d.after);
        break;
    }
    sink_(std::move(d));
  }

  // The walk must enter `p`: it is at, above or below a requested path.
  bool relevant(const std::string& p) const {
    if (o_.paths.empty()) return true;
    for (const auto& f : o_.paths) {
      if (f == "/" || f == p || starts_with(f, p + "/") || starts_with(p, f + "/")) return true;
    }
    return false;
  }

  // `p` ("" = the root) is at or below a requested path.
  bool in_scope(const std::string& p) const {
    if (o_.paths.empty()) return true;
    for (const auto& f : o_.paths) {
      if (f == "/" || f == p || starts_with(p, f + "/")) return true;
    }
    return false;
  }

  const Reader& r_;
  const DiffOptions& o_;
  const DiffSink& sink_;
  DiffStat stat_;
};

std::vector<std::string> components(const std::string& normalized) {
  std::vector<std::string> parts;
  size_t start = 1;
  while (start < normalized.size()) {
    size_t slash = normalized.find('/', start);
    if (slash == std::string::npos) slash = normalized.size();
    parts.push_back(normalized.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

}  // namespace

char status_letter(DiffStatus status) {
  switch (status) {
    case DiffStatus::kAdded:
      return 'A';
    case DiffStatus::kModified:
      return 'M';
    case DiffStatus::kDeleted:
      return 'D';
    case DiffStatus::kTypeChanged:
      return 'T';
  }
  return '?';
}

Result<std::string> normalize_diff_path(const std::string& path) {
  if (path.find('\0') != std::string::npos) {
    return make_error(EINVAL, "a path holds a NUL byte");
  }
  std::string out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    const std::string part = path.substr(start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return make_error(EINVAL, "path " + quote(path) + " holds '..': give a path from the root");
    }
    out += "/" + part;
  }
  return out.empty() ? std::string("/") : out;
}

Result<DiffStat> compute_diff(const std::string& upper, const std::string& lower,
                              const DiffOptions& options, const DiffSink& sink) {
  FW_ASSIGN_OR_RETURN(Reader reader, Reader::open(upper, lower, options.xattr_prefix));
  Walker w(reader, options, sink);
  FW_TRY(w.run());
  return w.stat();
}

Result<FilePair> open_file_pair(const std::string& upper, const std::string& lower,
                                const std::string& path, const std::string& xattr_prefix) {
  FW_ASSIGN_OR_RETURN(Reader reader, Reader::open(upper, lower, xattr_prefix));
  const auto parts = components(path);
  if (parts.empty()) return make_error(EISDIR, "'/' is a directory");
  FW_ASSIGN_OR_RETURN(MergedDir m, reader.root());
  bool merged = true;
  FW_ASSIGN_OR_RETURN(Fd base, overlay::open_dir_path(reader.lower_root(), ""));
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (merged) {
      FW_ASSIGN_OR_RETURN(MergedEntry e, reader.entry(m, parts[i]));
      merged = e.exists && e.node.type == FileType::kDir;
      if (merged) {
        FW_ASSIGN_OR_RETURN(m, reader.child_dir(m, parts[i], e));
      }
    }
    if (base.valid()) {
      auto next = overlay::open_dir(base.get(), parts[i]);
      base = next.ok() ? std::move(*next) : Fd();
    }
  }
  const std::string& name = parts.back();
  FilePair pair;
  if (merged) {
    FW_ASSIGN_OR_RETURN(MergedEntry e, reader.entry(m, name));
    if (e.exists) {
      FW_ASSIGN_OR_RETURN(pair.after, info_of(e.node, e.dirfd, name));
      if (e.node.type == FileType::kFile) {
        FW_ASSIGN_OR_RETURN(pair.after_data, reader.open_data(e, name));
      }
    }
  }
  if (base.valid()) {
    FW_ASSIGN_OR_RETURN(auto bn, overlay::stat_entry(base.get(), name));
    if (bn) {
      FW_ASSIGN_OR_RETURN(pair.before, info_of(*bn, base.get(), name));
      if (bn->type == FileType::kFile) {
        FW_ASSIGN_OR_RETURN(pair.before_data, overlay::open_file(base.get(), name));
      }
    }
  }
  if (!pair.before && !pair.after) {
    return make_error(ENOENT, quote(path) + " is neither in the firmware nor in the instance");
  }
  const auto is_dir = [](const std::optional<EntryInfo>& i) {
    return !i || i->type == FileType::kDir;
  };
  if (is_dir(pair.before) && is_dir(pair.after)) {
    return make_error(EISDIR, quote(path) + " is a directory");
  }
  return pair;
}

}  // namespace fw::core
