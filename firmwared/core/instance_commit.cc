#include "firmwared/core/instance_commit.h"

#include <ctime>
#include <filesystem>
#include <memory>

#include "firmwared/base/fault.h"
#include "firmwared/base/log.h"
#include "firmwared/core/tree_copy.h"
#include "firmwared/sys/mount.h"

namespace fw::core {

namespace {

// A copied tree that is not a firmware yet: removed when destroyed unless released.
// Destroy it on a worker thread (the tree can be as large as the firmware).
// std::filesystem reports errors through the error_code: nothing throws here.
class PartialTree {
 public:
  explicit PartialTree(std::string path) : path_(std::move(path)) {}
  PartialTree(const PartialTree&) = delete;
  PartialTree& operator=(const PartialTree&) = delete;
  ~PartialTree() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (ec) log::warning("removing '" + path_ + "': " + ec.message() + ", ignoring");
  }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

// What the steps of one COMMIT share.
struct Commit {
  std::string what, merged, dest;
  uint32_t id_base = 0;
  Status copied = make_error(ECANCELED, "the copy did not finish");
  std::unique_ptr<PartialTree> tree;
};

// Rolls `c`'s copy back on a worker.
void discard(Executor& executor, const std::shared_ptr<Commit>& c) {
  executor.run([c]() { c->tree.reset(); }, []() {});
}

}  // namespace

void InstanceCommit::commit(const std::string& id, CommitDone done) {
  auto rec = instances_.find(id);
  if (!rec.ok()) return done(rec.error());
  auto c = std::make_shared<Commit>();
  c->what = "committing instance " + rec->name;
  c->merged = instances_.workspace(rec->sha1).merged();
  auto mounted = sys::is_mount_point(c->merged);
  if (!mounted.ok() || !*mounted) {
    return done(make_error(
        EBUSY, c->what + ": its merged tree is not mounted at " + c->merged + " (REMOUNT it)"));
  }
  c->dest = config_.repository_path() + "/" + rec->name + "." + std::to_string(::time(nullptr)) +
            ".rootfs";
  // In a user namespace the merged tree shows the instance's ids shifted to its range.
  c->id_base = instances_.userns_effective(*rec) ? rec->uid_base : 0;
  executor_.run(
      [c]() {
        c->tree = std::make_unique<PartialTree>(c->dest);
        c->copied = copy_tree(c->merged, c->dest, c->id_base);
        // EEXIST: the destination was there before us.
        if (!c->copied.ok() && c->copied.error().code == EEXIST) c->tree->release();
        if (!c->copied.ok()) c->tree.reset();
      },
      [this, c, done]() {
        if (!c->copied.ok()) return done(c->copied.error().wrap(c->what));
        FW_FAULT_POINT("commit.copied");
        firmwares_.prepare(c->dest, std::nullopt, [this, c, done](Result<EntitySummary> s) {
          if (!s.ok()) {
            discard(executor_, c);
            return done(s.error().wrap(c->what));
          }
          c->tree->release();
          done(std::move(s));
        });
      });
}

}  // namespace fw::core
