// ensure_runtime_dirs(): the directories the daemon writes to, created at start (§7).

#include <sys/stat.h>

#include "firmwared/config/config.h"

namespace fw::config {
namespace {

// Makes `dir` an existing directory. Returns true when this call created it.
Result<bool> make_dir(const std::string& dir, mode_t mode) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return false;
    return make_error(ENOTDIR, "'" + dir + "' exists and is not a directory");
  }
  if (errno != ENOENT) return errno_error("inspecting '" + dir + "'");
  if (::mkdir(dir.c_str(), mode) != 0) {
    // Someone else created it in between: fine if it is a directory.
    if (errno == EEXIST) return make_dir(dir, mode);
    return errno_error("creating directory '" + dir + "'");
  }
  // mkdir(2) applies the umask; the modes are part of the contract, so set them exactly.
  if (::chmod(dir.c_str(), mode) != 0) return errno_error("setting mode of '" + dir + "'");
  return true;
}

// mkdir -p: parents get 0755, `path` itself gets `mode`.
Status make_dirs(const std::string& path, mode_t mode) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (path[slash - 1] == '/') continue;  // "a//b"
    FW_TRY(make_dir(path.substr(0, slash), 0755));
  }
  FW_TRY(make_dir(path, mode));
  return {};
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
    mode_t mode;
  } dirs[] = {
      {"mount_path", config.mount_path(), 0755},
      // Imported images may hold secrets of their vendors: only root reads them.
      {"repository_path", config.repository_path(), 0700},
      {"database_path", parent_dir(config.database_path()), 0755},
  };
  for (const auto& d : dirs) {
    FW_TRY_CTX(make_dirs(d.path, d.mode),
               std::string("creating runtime directory '") + d.path + "' (" + d.key + ")");
  }
  return {};
}

}  // namespace fw::config
