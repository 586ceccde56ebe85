#include "fwctl/collect.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>

#include "firmwared/base/fd.h"
#include "fwctl/logs.h"

namespace fwctl {

namespace {

// Args with these operands and options (name, value; "" for a flag).
Args make_args(const std::vector<std::string>& operands,
               const std::vector<std::pair<std::string, std::string>>& options = {}) {
  Args a;
  for (const auto& o : operands) a.add_operand(o);
  for (const auto& [name, value] : options) {
    a.add(name, value.empty() ? std::nullopt : std::optional<std::string>(value));
  }
  return a;
}

// Creates `dir`, or accepts it when it is an empty directory; "" or what is wrong.
std::string prepare_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) return "";
  if (errno != EEXIST) return dir + ": " + std::strerror(errno);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return dir + ": " + std::strerror(errno);
  bool empty = true;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) empty = false;
  }
  ::closedir(d);
  return empty ? "" : dir + ": exists and is not empty";
}

// Runs `f` with stdout (descriptor 1, std::cout) going to a new file `name` in directory
// `dirfd`. Returns f's exit code, or 1 when the file cannot be created.
int to_file(int dirfd, const std::string& name, const std::function<int()>& f) {
  fw::Fd out(
      ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!out) {
    std::cerr << "fwctl: collect: creating " << name << ": " << std::strerror(errno) << "\n";
    return kExitError;
  }
  std::cout.flush();
  fw::Fd saved(::fcntl(1, F_DUPFD_CLOEXEC, 3));
  if (!saved || ::dup2(out.get(), 1) < 0) {
    std::cerr << "fwctl: collect: redirecting stdout: " << std::strerror(errno) << "\n";
    return kExitError;
  }
  const int rc = f();
  std::cout.flush();
  ::dup2(saved.get(), 1);
  return rc;
}

}  // namespace

int run_collect(Context& ctx, const std::string& id, const std::string& dir) {
  // The instance first: a wrong ID must not leave an empty directory behind.
  {
    auto client = Client::connect(ctx.socket_path);
    if (!client.ok()) return report_error(ctx, client.error(), false);
    fw::protocol::Request req;
    req.command = "SHOW";
    req.args = {"instances", id};
    auto reply = client->call(req, std::nullopt);
    if (!reply.ok()) return report_error(ctx, reply.error(), false);
    if (reply->is_error()) return report_error(ctx, reply->error(), true);
  }
  if (const std::string e = prepare_dir(dir); !e.empty()) {
    std::cerr << "fwctl: collect: " << e << "\n";
    return kExitError;
  }
  fw::Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  char real[PATH_MAX];
  if (!dirfd || ::realpath(dir.c_str(), real) == nullptr) {
    std::cerr << "fwctl: collect: " << dir << ": " << std::strerror(errno) << "\n";
    return kExitError;
  }
  const Context text = [&] {
    Context c = ctx;
    c.json = false;
    return c;
  }();
  const Context json = [&] {
    Context c = ctx;
    c.json = true;
    return c;
  }();
  const Verb* show = find_verb("show");
  const Verb* diff = find_verb("diff");
  const Verb* exp = find_verb("export");
  std::vector<std::string> failed;
  auto step = [&](const std::string& name, const Context& c,
                  const std::function<int(Context&)>& f) {
    Context mine = c;
    if (to_file(dirfd.get(), name, [&] { return f(mine); }) != kExitOk) failed.push_back(name);
  };
  step("console.log", text, [&](Context& c) { return run_logs(c, make_args({id})); });
  step("show.txt", text, [&](Context& c) { return show->run(c, make_args({"instances", id})); });
  step("show.json", json, [&](Context& c) { return show->run(c, make_args({"instances", id})); });
  step("diff.txt", text, [&](Context& c) { return diff->run(c, make_args({id})); });
  step("diff.json", json, [&](Context& c) { return diff->run(c, make_args({id})); });
  // STATS answers for a started instance only: otherwise its ERROR reply is the file.
  step("stats.json", json, [&](Context& c) {
    auto client = Client::connect(c.socket_path);
    if (!client.ok()) return report_error(c, client.error(), false);
    fw::protocol::Request req;
    req.command = "STATS";
    req.args = {id};
    auto reply = client->call(req, std::nullopt);
    if (!reply.ok()) return report_error(c, reply.error(), false);
    if (reply->is_error()) {
      std::cout << reply->body.dump() << std::endl;
      return kExitOk;
    }
    std::cout << fw::protocol::field_or(reply->body, "stats", fw::protocol::Json::array()).dump()
              << std::endl;
    return kExitOk;
  });
  // EXPORT writes the file itself (as us); its summary line is not an artefact.
  {
    const std::string tar = std::string(real) + "/changes.tar";
    fw::Fd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    std::cout.flush();
    fw::Fd saved(::fcntl(1, F_DUPFD_CLOEXEC, 3));
    Context c = text;
    int rc = kExitError;
    if (null && saved && ::dup2(null.get(), 1) >= 0) {
      rc = exp->run(c, make_args({id, tar}, {{"changes", ""}}));
      std::cout.flush();
      ::dup2(saved.get(), 1);
    }
    if (rc != kExitOk) failed.push_back("changes.tar");
  }
  if (!failed.empty()) {
    std::cerr << "fwctl: collect: not collected:";
    for (const auto& f : failed) std::cerr << " " << f;
    std::cerr << "\n";
    return kExitError;
  }
  if (ctx.json) {
    std::cout << fw::protocol::Json{{"name", id}, {"dir", real}}.dump() << std::endl;
  } else {
    std::cout << "collected " << id << " into " << dir << std::endl;
  }
  return kExitOk;
}

int run_collect_verb(Context& ctx, const Args& args) {
  return run_collect(ctx, args.operands()[0], args.operands()[1]);
}

}  // namespace fwctl
