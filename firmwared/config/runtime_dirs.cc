// ensure_runtime_dirs(): the directories the daemon writes to, created at start.

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>

#include "firmwared/config/config.h"

namespace fw::config {
namespace {

// Directories shared with the rest of the system: a database configured directly in one of
// them must not make it root-only (chmod 0700 /var/lib would break the host).
constexpr std::array kSharedDirs = {"/",        "/tmp", "/var",      "/var/lib", "/var/tmp",
                                    "/var/run", "/run", "/etc",      "/usr",     "/home",
                                    "/srv",     "/opt", "/var/cache"};

bool is_shared_dir(const std::string& dir) {
  for (const char* d : kSharedDirs) {
    if (dir == d) return true;
  }
  return false;
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Makes an existing directory 0700 and owned by the daemon's uid and gid (root) when it is not
// already, and logs what it changed.
Status make_private(const std::string& dir, const struct stat& st) {
  // The daemon's own identity: root in production (the unit tests run unprivileged).
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (st.st_uid == uid && st.st_gid == gid && (st.st_mode & 07777) == 0700) return {};
  if (is_shared_dir(dir)) {
    log::warning("'" + dir + "' is a shared system directory: leaving its mode " +
                 octal(st.st_mode) + " as it is (configure the database in a directory of its " +
                 "own so that only root reaches it)");
    return {};
  }
  if ((st.st_uid != uid || st.st_gid != gid) && ::chown(dir.c_str(), uid, gid) != 0) {
    return errno_error("giving '" + dir + "' to uid " + std::to_string(uid));
  }
  if (::chmod(dir.c_str(), 0700) != 0) return errno_error("setting mode of '" + dir + "'");
  log::notice("'" + dir + "' was owner " + std::to_string(st.st_uid) + ":" +
              std::to_string(st.st_gid) + " mode " + octal(st.st_mode) + ": made it uid " +
              std::to_string(uid) +
              "'s, mode 0700, so that no other user reaches what is below it");
  return {};
}

// Makes `dir` an existing directory with `mode` (private: root-owned 0700, fixed when it
// exists with other rights).
Status make_dir(const std::string& dir, mode_t mode, bool fix) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode) && ::stat(dir.c_str(), &st) != 0) {
      return errno_error("inspecting '" + dir + "'");
    }
    if (!S_ISDIR(st.st_mode)) {
      return make_error(ENOTDIR, "'" + dir + "' exists and is not a directory");
    }
    return fix ? make_private(dir, st) : Status();
  }
  if (errno != ENOENT) return errno_error("inspecting '" + dir + "'");
  if (::mkdir(dir.c_str(), mode) != 0) {
    // Someone else created it in between: fine if it is a directory.
    if (errno == EEXIST) return make_dir(dir, mode, fix);
    return errno_error("creating directory '" + dir + "'");
  }
  // mkdir(2) applies the umask; the modes are part of the contract, so set them exactly.
  if (::chmod(dir.c_str(), mode) != 0) return errno_error("setting mode of '" + dir + "'");
  return {};
}

// mkdir -p: parents get 0755 (left as they are when they exist), `path` itself root 0700.
Status make_private_dirs(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (path[slash - 1] == '/') continue;  // "a//b"
    FW_TRY(make_dir(path.substr(0, slash), 0755, /*fix=*/false));
  }
  return make_dir(path, 0700, /*fix=*/true);
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

Status ensure_runtime_dirs(const Config& config) {
  const struct {
    const char* key;
    std::string path;
  } dirs[] = {
      // Workspaces hold the instances' files, setuid-root programs and device nodes
      // included; images may hold secrets of their vendors; the catalogue lists it all.
      {"mount_path", config.mount_path()},
      {"repository_path", config.repository_path()},
      {"database_path", parent_dir(config.database_path())},
  };
  for (const auto& d : dirs) {
    FW_TRY_CTX(make_private_dirs(d.path),
               std::string("creating runtime directory '") + d.path + "' (" + d.key + ")");
  }
  return {};
}

}  // namespace fw::config
