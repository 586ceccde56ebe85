#include "firmwared/core/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace fw::core {

namespace {

using overlay::FileType;
using overlay::MergedDir;
using overlay::MergedEntry;
using overlay::Node;
using overlay::Reader;

struct ArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
struct ResolverFree {
  void operator()(archive_entry_linkresolver* r) const { archive_entry_linkresolver_free(r); }
};

// ENOENT: the entry went away while we read it (a running instance): skip it.
bool vanished(const Status& s) { return !s.ok() && s.error().code == ENOENT; }

class TarWriter {
 public:
  Status open(int fd) {
    a_.reset(archive_write_new());
    links_.reset(archive_entry_linkresolver_new());
    if (!a_ || !links_) return make_error(ENOMEM, "creating the archive writer");
    // pax headers only where ustar cannot hold an entry (long names, xattrs, big ids; a name
    // the locale cannot translate is stored as raw bytes, hdrcharset=BINARY). xattrs in
    // SCHILY.xattr records only, the ones GNU tar reads (not also LIBARCHIVE.xattr).
    if (archive_write_set_format_pax_restricted(a_.get()) != ARCHIVE_OK ||
        archive_write_set_format_option(a_.get(), "pax", "xattrheader", "SCHILY") < ARCHIVE_OK) {
      return failure("setting up the tar format");
    }
    archive_entry_linkresolver_set_strategy(links_.get(), archive_format(a_.get()));
    // libarchive pads the last block to 10 KiB for a device, a FIFO, and any descriptor 1:
    // the helper writes to its descriptor 1, but only the kind of file decides, so that the
    // tar is the same wherever it is written from (a file is not padded).
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errno_error("stat of the archive's output");
    const bool pad = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode);
    if (archive_write_set_bytes_in_last_block(a_.get(), pad ? 0 : 1) != ARCHIVE_OK) {
      return failure("setting up the last block");
    }
    if (archive_write_open_fd(a_.get(), fd) != ARCHIVE_OK) return failure("opening the archive");
    return {};
  }

  // One entry: metadata from `n`, the symlink `target`, the data of regular files read
  // from `data` (at most the size recorded in the header; zeros if the file shrank).
  Status add(const std::string& path, const Node& n,
             const std::map<std::string, std::string>& xattrs, const std::string& target,
             int data) {
    if (n.type == FileType::kSocket) {
      ++stat_.skipped;
      return {};
    }
    std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
    if (!e) return make_error(ENOMEM, "creating an archive entry");
    archive_entry_copy_stat(e.get(), &n.st);
    archive_entry_set_pathname(e.get(), path.c_str());
    if (n.type != FileType::kFile) archive_entry_set_size(e.get(), 0);
    if (n.type == FileType::kSymlink) archive_entry_set_symlink(e.get(), target.c_str());
    for (const auto& [k, v] : xattrs) {
      archive_entry_xattr_add_entry(e.get(), k.c_str(), v.data(), v.size());
    }
    // The tar strategy never defers: later links become hard links without data.
    archive_entry* entry = e.get();
    archive_entry* spare = nullptr;
    archive_entry_linkify(links_.get(), &entry, &spare);
    if (entry == nullptr) return {};
    return write(entry, n.type == FileType::kFile ? data : -1, path);
  }

  // An empty regular file: a ".wh." whiteout or the ".wh..wh..opq" opaque marker.
  Status marker(const std::string& path) {
    std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
    if (!e) return make_error(ENOMEM, "creating an archive entry");
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0);
    archive_entry_set_size(e.get(), 0);
    ++stat_.whiteouts;
    return write(e.get(), -1, path);
  }

  Result<ExportStat> finish() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return failure("finishing the archive");
    stat_.bytes = static_cast<uint64_t>(archive_filter_bytes(a_.get(), -1));
    return stat_;
  }

 private:
  Status write(archive_entry* entry, int data, const std::string& path) {
    const int r = archive_write_header(a_.get(), entry);
    if (r == ARCHIVE_FAILED) {  // this entry only (a type tar cannot hold)
      ++stat_.skipped;
      return {};
    }
    if (r < ARCHIVE_WARN) return failure("writing the header of '" + path + "'");
    la_int64_t left = archive_entry_size(entry);
    std::vector<char> buf(left > 0 && data >= 0 ? 64 * 1024 : 0);
    while (left > 0 && data >= 0) {
      const ssize_t n = ::read(data, buf.data(), std::min<size_t>(buf.size(), left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error("reading '" + path + "'");
      if (n == 0) break;  // shrank meanwhile: finish_entry pads with zeros
      if (archive_write_data(a_.get(), buf.data(), static_cast<size_t>(n)) < 0) {
        return failure("writing the data of '" + path + "'");
      }
      left -= n;
    }
    if (archive_write_finish_entry(a_.get()) < ARCHIVE_WARN) {
      return failure("finishing '" + path + "'");
    }
    ++stat_.entries;
    return {};
  }

  Error failure(const std::string& what) {
    const int e = archive_errno(a_.get());
    const char* msg = archive_error_string(a_.get());
    return make_error(e > 0 ? e : EIO, what + ": " + (msg != nullptr ? msg : "libarchive error"));
  }

  std::unique_ptr<archive, ArchiveFree> a_;
  std::unique_ptr<archive_entry_linkresolver, ResolverFree> links_;
  ExportStat stat_;
};

// The metadata, xattrs, target and data of one entry, then the entry.
Status write_entry(TarWriter& w, const std::string& path, const Node& n, int dirfd,
                   const std::string& name, const std::string& prefix,
                   const std::function<Result<Fd>()>& open_data) {
  FW_ASSIGN_OR_RETURN(auto xattrs, overlay::visible_xattrs(dirfd, name, prefix));
  std::string target;
  if (n.type == FileType::kSymlink) {
    FW_ASSIGN_OR_RETURN(target, overlay::read_link(dirfd, name));
  }
  Fd data;
  if (n.type == FileType::kFile) {
    FW_ASSIGN_OR_RETURN(data, open_data());
  }
  return w.add(path, n, xattrs, target, data.get());
}

class ChangesExporter {
 public:
  ChangesExporter(const Reader& r, TarWriter& w) : r_(r), w_(w) {}

  // The upper entries of `m` (at `prefix`), with whiteouts as ".wh." markers.
  Status layer(const MergedDir& m, const std::string& prefix) {
    FW_ASSIGN_OR_RETURN(auto names, overlay::list_dir(m.upper.get()));
    for (const auto& name : names) {
      Status s = layer_entry(m, name, prefix);
      if (!s.ok() && !vanished(s)) return s;
    }
    return {};
  }

 private:
  Status layer_entry(const MergedDir& m, const std::string& name, const std::string& prefix) {
    FW_ASSIGN_OR_RETURN(MergedEntry e, r_.entry(m, name));
    const std::string path = prefix + name;
    if (e.whiteout) return w_.marker(prefix + ".wh." + name);
    if (!e.exists) return {};
    FW_TRY(put(e, name, path));
    if (e.node.type != FileType::kDir) return {};
    FW_ASSIGN_OR_RETURN(MergedDir child, r_.child_dir(m, name, e));
    if (e.opaque) {
      FW_TRY(w_.marker(path + "/.wh..wh..opq"));
      return layer(child, path + "/");
    }
    if (!e.redirected_from.empty()) {
      // No renames in OCI layers: the whole directory, hiding what the firmware has here.
      FW_TRY(w_.marker(path + "/.wh..wh..opq"));
      return whole(child, path + "/");
    }
    return layer(child, path + "/");
  }

  // Every entry of the merged dir `m`, whatever layer it comes from.
  Status whole(const MergedDir& m, const std::string& prefix) {
    FW_ASSIGN_OR_RETURN(auto names, r_.names(m));
    for (const auto& name : names) {
      Status s = whole_entry(m, name, prefix);
      if (!s.ok() && !vanished(s)) return s;
    }
    return {};
  }

  Status whole_entry(const MergedDir& m, const std::string& name, const std::string& prefix) {
    FW_ASSIGN_OR_RETURN(MergedEntry e, r_.entry(m, name));
    if (!e.exists) return {};
    const std::string path = prefix + name;
    FW_TRY(put(e, name, path));
    if (e.node.type != FileType::kDir) return {};
    FW_ASSIGN_OR_RETURN(MergedDir child, r_.child_dir(m, name, e));
    return whole(child, path + "/");
  }

  Status put(const MergedEntry& e, const std::string& name, const std::string& path) {
    return write_entry(w_, path, e.node, e.dirfd, name, r_.prefix(),
                       [&]() { return r_.open_data(e, name); });
  }

  const Reader& r_;
  TarWriter& w_;
};

// A plain directory tree, not entering other mounts.
Status write_tree(TarWriter& w, int dirfd, dev_t dev, const std::string& prefix) {
  FW_ASSIGN_OR_RETURN(auto names, overlay::list_dir(dirfd));
  for (const auto& name : names) {
    FW_ASSIGN_OR_RETURN(auto n, overlay::stat_entry(dirfd, name));
    if (!n) continue;
    const std::string path = prefix + name;
    Status s = write_entry(w, path, *n, dirfd, name, overlay::kTrustedPrefix,
                           [&]() { return overlay::open_file(dirfd, name); });
    if (vanished(s)) continue;
    FW_TRY(s);
    if (n->type != FileType::kDir || n->st.st_dev != dev) continue;
    auto child = overlay::open_dir(dirfd, name);
    if (!child.ok() && child.error().code == ENOENT) continue;
    FW_TRY(child);
    FW_TRY(write_tree(w, child->get(), dev, path + "/"));
  }
  return {};
}

}  // namespace

Result<ExportStat> export_changes(const std::string& upper, const std::string& lower, int fd,
                                  const std::string& xattr_prefix) {
  FW_ASSIGN_OR_RETURN(Reader reader, Reader::open(upper, lower, xattr_prefix));
  TarWriter w;
  FW_TRY(w.open(fd));
  FW_ASSIGN_OR_RETURN(MergedDir root, reader.root());
  ChangesExporter x(reader, w);
  FW_TRY(x.layer(root, ""));
  return w.finish();
}

Result<ExportStat> export_tree(const std::string& root, int fd) {
  FW_ASSIGN_OR_RETURN(Fd dir, overlay::open_root(root));
  struct stat st {};
  if (::fstat(dir.get(), &st) != 0) return errno_error("stat of '" + root + "'");
  TarWriter w;
  FW_TRY(w.open(fd));
  FW_TRY(write_tree(w, dir.get(), st.st_dev, ""));
  return w.finish();
}

}  // namespace fw::core
