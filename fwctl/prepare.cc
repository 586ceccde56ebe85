#include "fwctl/prepare.h"

#include <iostream>

namespace fwctl {

std::vector<std::string> prepare_request_args(const std::string& folder, const std::string& source,
                                              const std::optional<std::string>& name,
                                              const std::vector<std::string>& labels) {
  std::vector<std::string> out = {folder, source};
  if (name) out.push_back("name=" + *name);
  for (const auto& l : labels) out.push_back("label=" + l);
  return out;
}

std::optional<std::vector<std::string>> parse_prepare_args(const std::vector<std::string>& args) {
  const char* usage =
      "fwctl: usage: fwctl prepare FOLDER PATH|ID [--name NAME] [--label KEY=VALUE]...\n";
  std::vector<std::string> operands;
  std::optional<std::string> name;
  std::vector<std::string> labels;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag, std::string* out) {
      if (a.rfind(flag + "=", 0) == 0) {
        *out = a.substr(flag.size() + 1);
        return true;
      }
      if (a == flag && i + 1 < args.size()) {
        *out = args[++i];
        return true;
      }
      return false;
    };
    std::string v;
    if (value("--name", &v)) {
      if (name) {
        std::cerr << "fwctl: --name given twice\n";
        return std::nullopt;
      }
      name = v;
    } else if (value("--label", &v)) {
      labels.push_back(v);
    } else if (a.rfind("--", 0) == 0) {
      std::cerr << usage;
      return std::nullopt;
    } else {
      operands.push_back(a);
    }
  }
  // Further operands pass through as PREPARE's own words (name=..., label=...).
  if (operands.size() < 2) {
    std::cerr << usage;
    return std::nullopt;
  }
  auto out = prepare_request_args(operands[0], operands[1], name, labels);
  out.insert(out.end(), operands.begin() + 2, operands.end());
  return out;
}

}  // namespace fwctl
