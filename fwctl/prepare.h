#pragma once
// fwctl prepare FOLDER PATH|ID [--name NAME] [--label KEY=VALUE]...: PREPARE with its
// optional words (name=NAME, label=KEY=VALUE; docs/protocol.md).

#include <optional>
#include <string>
#include <vector>

namespace fwctl {

// PREPARE's wire arguments for the parsed options: FOLDER, SOURCE, then name=NAME when
// given and one label=KEY=VALUE per label, in order. Values are checked by the daemon.
std::vector<std::string> prepare_request_args(const std::string& folder, const std::string& source,
                                              const std::optional<std::string>& name,
                                              const std::vector<std::string>& labels);

}  // namespace fwctl
