#include "firmwared/core/firmwares.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "firmwared/base/defer.h"
#include "firmwared/base/fault.h"
#include "firmwared/base/fd.h"
#include "firmwared/base/log.h"
#include "firmwared/base/signals.h"
#include "firmwared/base/strings.h"
#include "firmwared/core/identifiers.h"
#include "firmwared/core/shell_words.h"
#include "firmwared/sys/credentials.h"
#include "firmwared/sys/hash_copy.h"
#include "firmwared/sys/image_format.h"
#include "firmwared/sys/init_kind.h"
#include "firmwared/sys/sha1.h"

namespace fw::core {

namespace {

constexpr const char* kFolder = "firmwares";
constexpr const char* kTmpPrefix = ".import-";

const std::vector<std::string>& builtin_names() {
  static const std::vector<std::string> names = {"name", "sha1",   "base_workspace", "path",
                                                 "uuid", "format", "size",           "stop_signal"};
  return names;
}

const char* type_name(mode_t mode) {
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 0 &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The repository file name: <basename>.<sha1>.firmware, the basename reduced to safe
// characters so a hostile name cannot make the repository hard to handle.
std::string repository_name(const std::string& source, const std::string& sha1) {
  std::string base = source.substr(source.rfind('/') + 1);
  std::string safe;
  for (char c : base) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    safe += ok ? c : '_';
  }
  if (safe.size() > 100) safe.resize(100);
  while (!safe.empty() && safe[0] == '.') safe.erase(0, 1);
  if (safe.empty()) safe = "image";
  return safe + "." + sha1 + ".firmware";
}

Status make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return errno_error("creating directory '" + path + "'");
  }
  return {};
}

// RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). Anything else before "://"
// is part of a path.
bool is_url_scheme(const std::string& s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<FirmwareSource> resolve_firmware_source(const std::string& arg,
                                               const std::optional<std::string>& cwd) {
  std::string path = arg;
  if (auto pos = arg.find("://"); pos != std::string::npos && is_url_scheme(arg.substr(0, pos))) {
    const std::string scheme = arg.substr(0, pos);
    if (to_lower(scheme) != "file") {
      return make_error(EPROTONOSUPPORT, "cannot import " + quote(arg) + ": URL scheme " +
                                             quote(scheme) +
                                             " is not supported (only file:// and paths)");
    }
    // RFC 8089: file://HOST/path with HOST empty or "localhost".
    std::string rest = arg.substr(pos + 3);
    if (to_lower(rest.substr(0, 9)) == "localhost") rest = rest.substr(9);
    path = percent_decode(rest);
    if (path.empty() || path[0] != '/') {
      return make_error(EINVAL, "file URL " + quote(arg) + " must name an absolute path");
    }
  }
  if (path.empty()) return make_error(EINVAL, "empty firmware path");
  if (path.find('\0') != std::string::npos) {
    return make_error(EINVAL, "firmware path contains a NUL byte");
  }
  if (path[0] != '/') {
    if (!cwd) {
      return make_error(
          EINVAL, "relative path " + quote_path(path) + " needs the client's working directory");
    }
    path = *cwd + "/" + path;
  }
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr) {
    return errno_error("firmware path " + quote_path(path));
  }
  struct stat st {};
  if (::stat(real, &st) != 0) return errno_error("inspecting firmware path " + quote_path(real));
  if (S_ISDIR(st.st_mode)) {
    if (std::string(real) == "/") {
      return make_error(EINVAL, "refusing the host's root directory as a firmware");
    }
    return FirmwareSource{real, true};
  }
  if (S_ISREG(st.st_mode)) return FirmwareSource{real, false};
  return make_error(EINVAL, "firmware path " + quote_path(real) + " is " + type_name(st.st_mode) +
                                ", not a rootfs directory or a filesystem image");
}

Result<std::string> check_rootfs(const std::string& dir) {
  struct stat st {};
  int found = 0;
  for (const char* sub : {"bin", "sbin", "usr", "etc", "lib"}) {
    if (::lstat((dir + "/" + sub).c_str(), &st) == 0) ++found;
  }
  if (found == 0) {
    return make_error(EINVAL, "directory " + quote_path(dir) +
                                  " does not look like a root filesystem (no bin, sbin, usr, "
                                  "etc or lib)");
  }
  // /sbin/init is often an absolute symlink into the rootfs itself: lstat, do not follow.
  if (::lstat((dir + "/sbin/init").c_str(), &st) != 0) {
    return "directory " + quote_path(dir) + " has no /sbin/init: set cmdline to start it";
  }
  return std::string();
}

struct Firmwares::Import {
  uint64_t id = 0;
  FirmwareSource source;
  sys::ImageInfo info;
  uint64_t size = 0;
  Fd src;
  Fd repo_dir;
  std::string tmp_name;
  std::atomic<bool> cancelled{false};
  std::atomic<int> last_percent{-1};
  Result<std::string> sha1 = make_error(ECANCELED, "import did not run");
  // sha1s of catalogued images of the same size: if the source hashes to one of them, it
  // is not copied at all (PREPARE of a known image must not need repository space).
  std::vector<std::string> same_size;
  bool copied = false;
};

Firmwares::Firmwares(FirmwaresDeps deps)
    : d_(deps), custom_(deps.catalogue, kFolder), rng_(std::random_device{}()) {}

Firmwares::~Firmwares() { cancel_imports(); }

void Firmwares::cancel_imports() {
  for (auto& [id, imp] : imports_) imp->cancelled = true;
}

std::string Firmwares::mount_point(const std::string& sha1) const {
  return d_.config.mount_path() + "/firmwares/" + sha1;
}

Result<std::string> Firmwares::new_name() {
  return pick_name(
      d_.words,
      [this](const std::string& n) {
        auto taken = d_.catalogue.name_taken(kFolder, n);
        return !taken.ok() || *taken;  // on a catalogue error, do not pick it
      },
      rng_);
}

Status Firmwares::restore() {
  const std::string mounts = d_.config.mount_path() + "/firmwares";
  FW_TRY(make_dir(mounts));
  FW_TRY_CTX(d_.mounter.clean_stale(mounts, d_.config.repository_path()),
             "cleaning stale firmware mounts");
  // Half-imported copies of a crashed daemon.
  if (DIR* dir = ::opendir(d_.config.repository_path().c_str()); dir != nullptr) {
    DEFER { ::closedir(dir); };
    while (dirent* e = ::readdir(dir)) {
      if (std::strncmp(e->d_name, kTmpPrefix, std::strlen(kTmpPrefix)) == 0) {
        const std::string p = d_.config.repository_path() + "/" + e->d_name;
        log::notice("removing half-imported file " + p);
        ::unlink(p.c_str());
      }
    }
  }
  FW_ASSIGN_OR_RETURN(auto records, d_.catalogue.list_firmwares());
  remove_uncatalogued(records);
  for (const auto& r : records) {
    if (::access(r.path.c_str(), F_OK) != 0 && errno == ENOENT) {
      log::error("firmware " + r.name + " [" + r.sha1 + "] left unmounted, unusable: " + r.path +
                     " is gone (DROP it to forget it), ignoring",
                 log::firmware(r.name, r.sha1));
      continue;
    }
    const std::string target = mount_point(r.sha1);
    Status s = make_dir(target);
    if (s.ok()) s = d_.mounter.mount(r.path, r.format, target);
    if (s.ok() && r.stop_signal.empty()) {
      // Imported before stop signals existed: chosen now, as an import would.
      auto updated = r;
      updated.stop_signal = detect_stop_signal(target, r.name);
      if (auto put = d_.catalogue.put_firmware(updated); !put.ok()) {
        log::warning("firmware " + r.name + ": recording its stop signal: " + put.error().message +
                         ", ignoring",
                     log::firmware(r.name, r.sha1));
      }
    }
    if (!s.ok()) {
      // Instances of it refuse to mount an empty lower (Instances::mount_workspace).
      log::error("firmware " + r.name + " [" + r.sha1 +
                     "] left unmounted, unusable: " + s.error().message + ", ignoring",
                 log::firmware(r.name, r.sha1));
    }
  }
  log::info("restored " + std::to_string(records.size()) + " firmware(s)");
  return {};
}

void Firmwares::remove_uncatalogued(const std::vector<catalogue::FirmwareRecord>& records) {
  const std::string repo = d_.config.repository_path();
  std::vector<std::string> names;
  if (DIR* dir = ::opendir(repo.c_str()); dir != nullptr) {
    DEFER { ::closedir(dir); };
    while (dirent* e = ::readdir(dir)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        names.emplace_back(e->d_name);
      }
    }
  }
  for (const auto& name : names) {
    const std::string path = repo + "/" + name;
    if (std::any_of(records.begin(), records.end(),
                    [&](const catalogue::FirmwareRecord& r) { return r.path == path; })) {
      continue;
    }
    // A published image whose row was never written, an image or COMMIT copy whose DROP
    // was cut short, a COMMIT copy never registered: the client got no answer or an
    // answer saying it is gone, so it is not ours to keep.
    log::notice("removing " + path + ", not catalogued (left by an interrupted PREPARE, " +
                "COMMIT or DROP)");
    remove_later(path);
  }
}

void Firmwares::remove_later(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      log::warning("removing " + path + ": " + std::strerror(errno) + ", ignoring");
    }
    return;
  }
  // A directory tree (a committed firmware) can be huge: deleted off the loop.
  d_.executor.run(
      [path]() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
        if (ec) log::warning("removing " + path + ": " + ec.message() + ", ignoring");
      },
      []() {});
}

void Firmwares::prepare(const std::string& source, const std::optional<std::string>& cwd,
                        PrepareDone done) {
  prepare_as(sys::ClientCredentials{}, source, cwd, std::move(done));
}

void Firmwares::prepare_as(const sys::ClientCredentials& client, const std::string& source,
                           const std::optional<std::string>& cwd, PrepareDone done) {
  // Resolved with the client's rights: a path it cannot traverse is EACCES, as for the
  // client's own programs.
  auto src = [&]() {
    sys::AsClient as(client);
    return resolve_firmware_source(source, cwd);
  }();
  if (!src.ok()) {
    if (client.is_root()) return done(src.error());
    return done(src.error().wrap("importing as " + client.describe()));
  }
  if (src->is_dir && !client.is_root()) {
    // A real rootfs always holds root-only files (/root, /etc/shadow) and the instance's
    // root reads them all: checking the client's right to read the top directory would mean
    // nothing, so directories are for root clients only.
    return done(make_error(
        EPERM, "cannot import directory " + quote_path(src->path) + " as " + client.describe() +
                   ": directory firmwares are reserved to root (an instance reads every file "
                   "of it, root-only ones included); import a filesystem image instead"));
  }
  if (src->is_dir) return done(prepare_dir(*src));
  prepare_image(*src, client, std::move(done));
}

Result<EntitySummary> Firmwares::register_firmware(catalogue::FirmwareRecord record) {
  const std::string target = mount_point(record.sha1);
  FW_TRY(make_dir(target));
  bool keep = false;
  DEFER {
    if (!keep) ::rmdir(target.c_str());
  };
  FW_ASSIGN_OR_RETURN(record.name, new_name());
  FW_TRY_CTX(d_.mounter.mount(record.path, record.format, target),
             "mounting firmware " + quote_path(record.source_path));
  record.stop_signal = detect_stop_signal(target, record.name);
  record.created = static_cast<int64_t>(::time(nullptr));
  FW_FAULT_POINT("prepare_image.mounted");
  if (auto s = d_.catalogue.put_firmware(record); !s.ok()) {
    (void)d_.mounter.unmount(target);
    return s.error().wrap("recording firmware " + record.name);
  }
  keep = true;
  log::info(
      "firmware " + record.name + " [" + record.sha1 + "] prepared from " + record.source_path,
      log::firmware(record.name, record.sha1));
  d_.events.emit("PREPARED",
                 {{"folder", std::string(kFolder)}, {"sha1", record.sha1}, {"name", record.name}});
  return EntitySummary{record.sha1, record.name, false, ""};
}

Result<EntitySummary> Firmwares::prepare_dir(const FirmwareSource& src) {
  const std::string sha1 = sys::sha1_hex(src.path);
  FW_ASSIGN_OR_RETURN(auto existing, d_.catalogue.get_firmware(sha1));
  if (existing) return EntitySummary{sha1, existing->name, true, ""};
  FW_ASSIGN_OR_RETURN(std::string warning, check_rootfs(src.path));
  if (!warning.empty()) log::warning(warning);
  catalogue::FirmwareRecord r;
  r.sha1 = sha1;
  r.path = src.path;
  r.source_path = src.path;
  r.format = "dir";
  FW_ASSIGN_OR_RETURN(EntitySummary summary, register_firmware(std::move(r)));
  summary.warning = warning;
  return summary;
}

void Firmwares::prepare_image(const FirmwareSource& src, const sys::ClientCredentials& client,
                              PrepareDone done) {
  auto imp = std::make_shared<Import>();
  imp->id = next_import_++;
  imp->source = src;
  int open_errno = 0;
  {
    // The client reads the image, not root: its own permissions (and groups) decide.
    // O_NONBLOCK|O_NOCTTY: a FIFO or a terminal swapped in after resolving must not block
    // or become our controlling terminal; fstat below refuses it.
    sys::AsClient as(client);
    imp->src.reset(
        ::open(src.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
    open_errno = errno;
  }
  if (!imp->src) {
    return done(errno_error(open_errno, "opening firmware image " + quote_path(src.path) +
                                            (client.is_root() ? "" : " as " + client.describe())));
  }
  struct stat st {};
  if (::fstat(imp->src.get(), &st) != 0)
    return done(errno_error("inspecting " + quote_path(src.path)));
  if (!S_ISREG(st.st_mode)) {
    return done(make_error(EINVAL, "firmware path " + quote_path(src.path) + " is " +
                                       type_name(st.st_mode) + ", not a filesystem image"));
  }
  auto info = sys::probe_image(imp->src.get(), src.path);
  if (!info.ok()) return done(info.error());
  imp->info = *info;
  imp->size = static_cast<uint64_t>(st.st_size);
  imp->repo_dir.reset(
      ::open(d_.config.repository_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!imp->repo_dir) {
    return done(errno_error("opening repository '" + d_.config.repository_path() + "'"));
  }
  imp->tmp_name =
      std::string(kTmpPrefix) + std::to_string(::getpid()) + "-" + std::to_string(imp->id) + ".tmp";
  imports_[imp->id] = imp;

  Executor& exec = d_.executor;
  EventSink& events = d_.events;
  if (auto all = d_.catalogue.list_firmwares(); all.ok()) {
    for (const auto& r : *all) {
      if (r.format != "dir" && r.size == imp->size) imp->same_size.push_back(r.sha1);
    }
  }
  auto work = [imp, &exec, &events]() {
    // Worker thread: touch only the import and post progress back to the loop.
    if (!imp->same_size.empty()) {
      auto sha1 = sys::sha1_of_fd(imp->src.get(),
                                  [imp](uint64_t, uint64_t) { return !imp->cancelled.load(); });
      if (sha1.ok() &&
          std::find(imp->same_size.begin(), imp->same_size.end(), *sha1) != imp->same_size.end()) {
        imp->sha1 = *sha1;
        return;
      }
      if (::lseek(imp->src.get(), 0, SEEK_SET) != 0) {
        imp->sha1 = errno_error("rewinding " + quote_path(imp->source.path));
        return;
      }
    }
    imp->copied = true;
    imp->sha1 = sys::copy_with_sha1(
        imp->src.get(), imp->repo_dir.get(), imp->tmp_name,
        [imp, &exec, &events](uint64_t done_bytes, uint64_t total) {
          if (imp->cancelled) return false;
          const int pct = total == 0 ? 100 : static_cast<int>(done_bytes * 100 / total);
          if (pct != imp->last_percent.exchange(pct)) {
            const std::string path = imp->source.path;
            exec.post([&events, path, pct]() {
              events.emit(
                  "PREPARE_PROGRESS",
                  {{"folder", std::string(kFolder)}, {"path", path}, {"percent", int64_t{pct}}});
            });
          }
          return true;
        });
  };
  auto finish = [this, imp, done = std::move(done)]() {
    imports_.erase(imp->id);
    done(finish_import(*imp));
  };
  d_.executor.run(std::move(work), std::move(finish));
}

Result<EntitySummary> Firmwares::finish_import(Import& imp) {
  if (!imp.sha1.ok()) {
    return imp.sha1.error().wrap("importing " + quote_path(imp.source.path));
  }
  const std::string sha1 = *imp.sha1;
  FW_ASSIGN_OR_RETURN(auto existing, d_.catalogue.get_firmware(sha1));
  if (existing) {
    if (imp.copied) sys::discard(imp.repo_dir.get(), imp.tmp_name);
    return EntitySummary{sha1, existing->name, true, ""};
  }
  if (!imp.copied) {  // dropped meanwhile: import it for real
    return make_error(EAGAIN, "firmware " + quote_path(imp.source.path) +
                                  " was dropped during PREPARE: prepare it again");
  }
  const std::string final_name = repository_name(imp.source.path, sha1);
  FW_FAULT_POINT("prepare_image.copied");
  if (auto s = sys::publish(imp.repo_dir.get(), imp.tmp_name, final_name); !s.ok()) {
    // Same name = same content (the name holds the sha1): a copy left by a crash.
    sys::discard(imp.repo_dir.get(), imp.tmp_name);
    if (s.error().code != EEXIST) return s.error();
  }
  catalogue::FirmwareRecord r;
  r.sha1 = sha1;
  r.path = d_.config.repository_path() + "/" + final_name;
  r.source_path = imp.source.path;
  r.format = sys::format_name(imp.info.format);
  r.uuid = imp.info.uuid;
  r.size = imp.size;
  FW_FAULT_POINT("prepare_image.published");
  auto summary = register_firmware(r);
  if (!summary.ok()) ::unlinkat(imp.repo_dir.get(), final_name.c_str(), 0);
  return summary;
}

Result<catalogue::FirmwareRecord> Firmwares::find(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_firmwares());
  std::vector<EntityRef> refs;
  for (const auto& r : all) refs.push_back({r.sha1, r.name});
  FW_ASSIGN_OR_RETURN(std::string sha1, resolve_identifier("firmware", id, refs));
  for (auto& r : all) {
    if (r.sha1 == sha1) return r;
  }
  return make_error(ENOENT, "firmware " + quote(id) + " vanished");
}

Result<std::vector<EntitySummary>> Firmwares::list() {
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_firmwares());
  std::vector<EntitySummary> out;
  for (const auto& r : all) out.push_back({r.sha1, r.name, true, ""});
  return out;
}

std::vector<PropertyValue> Firmwares::builtin_values(const catalogue::FirmwareRecord& r) const {
  return {{"name", r.name},
          {"sha1", r.sha1},
          {"base_workspace", mount_point(r.sha1)},
          {"path", r.path},
          {"uuid", r.uuid},
          {"format", r.format},
          {"size", std::to_string(r.size), PropertyType::kInteger},
          {"stop_signal", r.stop_signal.empty() ? std::string("SIGTERM") : r.stop_signal}};
}

std::string Firmwares::detect_stop_signal(const std::string& root, const std::string& name) {
  auto init = sys::detect_init(root);
  if (!init.ok()) {
    log::warning("firmware " + name + ": finding its init: " + init.error().message +
                     ", stopping it with SIGTERM",
                 log::firmware(name));
    return "SIGTERM";
  }
  log::info("firmware " + name + ": init " + (init->path.empty() ? "not found" : init->path) +
                " (" + sys::init_kind_name(init->kind) + "), stop signal " +
                sys::default_stop_signal(init->kind),
            log::firmware(name));
  return sys::default_stop_signal(init->kind);
}

Result<std::vector<PropertyValue>> Firmwares::show(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  std::vector<PropertyValue> out = builtin_values(r);
  FW_TRY(custom_.append_values(r.sha1, &out));
  return out;
}

Result<std::string> Firmwares::get_property(const std::string& id, const std::string& prop) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(prop));
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  for (auto& p : builtin_values(r)) {
    if (p.name == ref.name) {
      FW_TRY(reject_index_on_scalar(kFolder, ref));
      return p.value;
    }
  }
  return custom_.get_named(r.sha1, ref);
}

Status Firmwares::set_property(const std::string& id, const std::string& prop,
                               const std::string& value) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(prop));
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (ref.name == "stop_signal") {
    FW_TRY(reject_index_on_scalar(kFolder, ref));
    FW_ASSIGN_OR_RETURN(const int sig, parse_signal(value));
    r.stop_signal = signal_name(sig);
    FW_TRY(d_.catalogue.put_firmware(r));
    d_.events.emit("PROPERTY_SET", {{"folder", std::string(kFolder)},
                                    {"sha1", r.sha1},
                                    {"name", r.name},
                                    {"property", ref.name}});
    return {};
  }
  for (const auto& b : builtin_names()) {
    if (b == ref.name) {
      return make_error(EPERM, "property " + quote(ref.name) + " of firmwares is read-only");
    }
  }
  FW_TRY(custom_.set_named(r.sha1, ref, value));
  d_.events.emit(
      "PROPERTY_SET",
      {{"folder", std::string(kFolder)}, {"sha1", r.sha1}, {"name", r.name}, {"property", prop}});
  return {};
}

Result<std::vector<std::string>> Firmwares::property_names() {
  std::vector<std::string> out = builtin_names();
  FW_ASSIGN_OR_RETURN(auto customs, custom_.names());
  out.insert(out.end(), customs.begin(), customs.end());
  return out;
}

Result<std::string> Firmwares::add_property(const std::string& name) {
  return custom_.add(name, builtin_names());
}

Result<EntitySummary> Firmwares::drop(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  FW_ASSIGN_OR_RETURN(auto users, d_.catalogue.instances_of_firmware(r.sha1));
  if (!users.empty()) {
    std::vector<std::string> names;
    for (const auto& u : users) {
      auto inst = d_.catalogue.get_instance(u);
      names.push_back(inst.ok() && *inst ? (*inst)->name : u);
    }
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return make_error(EBUSY, "firmware " + r.name + " is used by instance(s) " + list);
  }
  FW_ASSIGN_OR_RETURN(auto snapshots, d_.catalogue.list_snapshots());
  std::string snapshot_names;
  for (const auto& s : snapshots) {
    if (s.firmware_sha1 == r.sha1) snapshot_names += (snapshot_names.empty() ? "" : ", ") + s.name;
  }
  if (!snapshot_names.empty()) {
    return make_error(EBUSY, "firmware " + r.name + " is used by snapshot(s) " + snapshot_names);
  }
  const std::string target = mount_point(r.sha1);
  FW_TRY_CTX(d_.mounter.unmount(target), "dropping firmware " + r.name);
  ::rmdir(target.c_str());
  FW_TRY_CTX(d_.catalogue.delete_firmware(r.sha1), "dropping firmware " + r.name);
  FW_FAULT_POINT("drop_firmware.row_deleted");
  // Only our repository copy of an image is ours to delete, never a user's directory.
  const std::string repo = d_.config.repository_path() + "/";
  if (r.format != "dir" && r.path.compare(0, repo.size(), repo) == 0) {
    if (::unlink(r.path.c_str()) != 0 && errno != ENOENT) {
      log::warning("removing " + r.path + ": " + std::strerror(errno) + ", ignoring");
    }
  } else if (r.format == "dir" && r.path.compare(0, repo.size(), repo) == 0 &&
             r.path.find('/', repo.size()) == std::string::npos) {
    // A committed firmware (COMMIT): a directory made by us in the repository.
    remove_later(r.path);
  }
  log::info("firmware " + r.name + " [" + r.sha1 + "] dropped", log::firmware(r.name, r.sha1));
  d_.events.emit("DROPPED", {{"folder", std::string(kFolder)}, {"sha1", r.sha1}, {"name", r.name}});
  return EntitySummary{r.sha1, r.name, true, ""};
}

}  // namespace fw::core
