#include "fwctl/prepare.h"

namespace fwctl {

std::vector<std::string> prepare_request_args(const std::string& folder, const std::string& source,
                                              const std::optional<std::string>& name,
                                              const std::vector<std::string>& labels) {
  std::vector<std::string> out = {folder, source};
  if (name) out.push_back("name=" + *name);
  for (const auto& l : labels) out.push_back("label=" + l);
  return out;
}

}  // namespace fwctl
