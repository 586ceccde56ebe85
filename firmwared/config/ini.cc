#include "firmwared/config/ini.h"

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

namespace fw::config::internal {
namespace {

namespace pt = boost::property_tree;

// The same trimming as Boost's ini_parser (isspace in the classic locale).
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// (in a section?, section, key) -> line number. Boost's ini_parser reports no line for a
// key, so this walks the text the way read_ini() does (boost/property_tree/ini_parser.hpp),
// once read_ini() has accepted it.
using LineMap = std::map<std::tuple<bool, std::string, std::string>, unsigned long>;

LineMap key_lines(std::string_view text) {
  LineMap lines;
  std::optional<std::string> section;
  unsigned long line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t eol = text.find('\n');
    std::string_view line = trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    if (line[0] == '[') {
      section = std::string(trim(line.substr(1, line.find(']') - 1)));
    } else if (size_t eq = line.find('='); eq != std::string_view::npos) {
      lines.try_emplace(
          {section.has_value(), section.value_or(""), std::string(trim(line.substr(0, eq)))},
          line_no);
    }
  }
  return lines;
}

}  // namespace

Result<std::vector<IniEntry>> parse_ini(std::string_view text, std::string_view origin) {
  pt::ptree tree;
  try {
    std::istringstream in{std::string(text)};
    pt::read_ini(in, tree);
  } catch (const pt::ini_parser_error& e) {
    return make_error(EINVAL,
                      std::string(origin) + ":" + std::to_string(e.line()) + ": " + e.message());
  } catch (const std::exception& e) {
    return make_error(EINVAL, std::string(origin) + ": " + e.what());
  }
  const LineMap lines = key_lines(text);
  auto line_of = [&](bool in_section, const std::string& section, const std::string& key) {
    auto it = lines.find({in_section, section, key});
    return it == lines.end() ? 0UL : it->second;
  };
  // read_ini() drops empty sections, so a top-level node without children is a key.
  std::vector<IniEntry> entries;
  for (const auto& [name, node] : tree) {
    if (node.empty()) {
      entries.push_back({false, "", name, node.data(), line_of(false, "", name)});
      continue;
    }
    for (const auto& [key, child] : node) {
      entries.push_back({true, name, key, child.data(), line_of(true, name, key)});
    }
  }
  return entries;
}

}  // namespace fw::config::internal
