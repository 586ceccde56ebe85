#include "firmwared/core/folder.h"

#include "firmwared/base/strings.h"

namespace fw::core {

Result<PrepareOptions> parse_prepare_options(const std::vector<std::string>& words) {
  PrepareOptions out;
  for (const std::string& w : words) {
    if (w.rfind("name=", 0) == 0) {
      if (out.name) return make_error(EINVAL, "PREPARE option " + quote(w) + ": name= given twice");
      out.name = w.substr(5);
    } else if (w.rfind("label=", 0) == 0) {
      out.labels.push_back(w.substr(6));
    } else {
      return make_error(
          EINVAL, "unknown PREPARE option " + quote(w) + ": expected name=NAME or label=KEY=VALUE");
    }
  }
  return out;
}

void Folder::prepare_with(const sys::ClientCredentials& client, const std::string& source,
                          const std::optional<std::string>& cwd, const PrepareOptions& options,
                          PrepareDone done) {
  if (!options.empty()) {
    return done(make_error(
        EINVAL, "PREPARE " + name() + " takes no name= or label= option (only instances do)"));
  }
  prepare_as(client, source, cwd, std::move(done));
}

}  // namespace fw::core
