#include "firmwared/sys/bind_spec.h"

#include <cctype>
#include <vector>

#include "firmwared/base/strings.h"

namespace fw::sys {

namespace {

// Why `path` is not a normalized absolute path ("" when it is).
std::string path_problem(const std::string& path) {
  if (path.empty()) return "is empty";
  if (path.size() > kMaxBindPathBytes) {
    return "is longer than " + std::to_string(kMaxBindPathBytes) + " bytes";
  }
  if (path[0] != '/') return "is not absolute";
  if (path == "/") return "is the root directory";
  for (char c : path) {
    if (std::iscntrl(static_cast<unsigned char>(c))) return "holds a control character";
  }
  if (path.back() == '/') return "ends with '/'";
  size_t start = 1;
  for (;;) {
    const size_t slash = path.find('/', start);
    const std::string part = path.substr(start, slash - start);
    if (part.empty()) return "holds an empty component ('//')";
    if (part == "." || part == "..") return "holds a '" + part + "' component";
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return "";
}

}  // namespace

bool path_within(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

std::string BindSpec::to_string() const {
  return host + ":" + target + (read_only ? ":ro" : ":rw");
}

Result<BindSpec> parse_bind(const std::string& value) {
  auto bad = [&](const std::string& why) {
    return make_error(EINVAL, "invalid bind " + quote_path(value) + ": " + why +
                                  " (expected HOST_PATH:INSTANCE_PATH[:ro|rw])");
  };
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t colon = value.find(':', start);
    parts.push_back(value.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) {
    return bad("paths must not hold ':'; give two paths and an optional mode");
  }
  BindSpec b;
  b.host = parts[0];
  b.target = parts[1];
  if (parts.size() == 3) {
    if (parts[2] != "ro" && parts[2] != "rw")
      return bad("mode " + quote(parts[2]) + " is not ro or rw");
    b.read_only = parts[2] == "ro";
  }
  if (auto p = path_problem(b.host); !p.empty())
    return bad("host path " + quote_path(b.host) + " " + p);
  if (auto p = path_problem(b.target); !p.empty()) {
    return bad("instance path " + quote_path(b.target) + " " + p);
  }
  for (const char* dir : {"/proc", "/sys", "/dev"}) {
    if (path_within(b.host, dir)) {
      return bad("host path " + quote_path(b.host) + " is in " + dir +
                 " (the host kernel's controls and devices are never bound)");
    }
    if (path_within(b.target, dir)) {
      return bad("instance path " + quote_path(b.target) + " is in " + dir +
                 " (firmwared mounts the instance's own " + dir + ")");
    }
  }
  return b;
}

}  // namespace fw::sys
