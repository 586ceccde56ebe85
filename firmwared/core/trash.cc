#include "firmwared/core/trash.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "firmwared/base/defer.h"
#include "firmwared/base/log.h"

namespace fw::core {

Trash::Trash(std::string dir, InstanceMounter& mounter, Executor* executor)
    : dir_(std::move(dir)), mounter_(mounter), executor_(executor), rng_(std::random_device{}()) {}

Result<std::string> Trash::move_in(const std::string& path, const std::string& tag) {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return errno_error("creating the trash '" + dir_ + "'");
  }
  char suffix[17];
  std::snprintf(suffix, sizeof(suffix), "%016llx", static_cast<unsigned long long>(rng_()));
  const std::string entry = dir_ + "/" + tag + "." + suffix;
  // rename(2) is atomic within one filesystem: the entry exists under exactly one name.
  if (::rename(path.c_str(), entry.c_str()) != 0) {
    return errno_error("moving '" + path + "' to the trash '" + entry + "'");
  }
  return entry;
}

void Trash::purge(const std::string& entry) {
  auto result = std::make_shared<Status>();
  ++pending_;
  // The work holds the mounter, not this trash: a deletion still running when the daemon
  // exits outlives the instances folder (not the mounter, which outlives the executor).
  auto work = [mounter = &mounter_, entry, result]() {
    // A mount below the entry (the netns pin of a workspace a crash moved here with its
    // standby's network up) would fail the deletion, which never crosses a mount: unmounted
    // first.
    *result = mounter->unmount_all_below(entry);
    if (result->ok()) *result = mounter->remove_tree(entry);
  };
  auto done = [this, entry, result]() {
    --pending_;
    if (!result->ok()) {
      log::warning("emptying the trash: " + result->error().message + ", ignoring");
    } else {
      log::debug("deleted " + entry);
    }
  };
  if (executor_ == nullptr) {
    work();
    return done();
  }
  executor_->run(std::move(work), std::move(done));
}

Status Trash::purge_all() {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return errno_error("creating the trash '" + dir_ + "'");
  }
  std::vector<std::string> entries;
  {
    DIR* d = ::opendir(dir_.c_str());
    if (d == nullptr) return errno_error("reading the trash '" + dir_ + "'");
    DEFER { ::closedir(d); };
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        entries.push_back(dir_ + "/" + e->d_name);
      }
    }
  }
  for (const auto& e : entries) {
    log::notice("deleting " + e + ", left in the trash by an interrupted DROP");
    purge(e);
  }
  return {};
}

bool Trash::holds(const std::string& tag) const {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return false;
  DEFER { ::closedir(d); };
  const std::string prefix = tag + ".";
  while (dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) return true;
  }
  return false;
}

}  // namespace fw::core
