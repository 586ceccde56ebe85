#pragma once
// Logging to stderr with syslog priority prefixes ("<3>message") so journald reads the
// level. Log once, where the decision is made.

#include <string_view>

namespace fw::log {

enum class Level { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// Messages above this level are dropped (default kInfo; kDebug when verbose).
void set_max_level(Level level);
Level max_level();

void write(Level level, std::string_view message);
inline void error(std::string_view m) { write(Level::kError, m); }
inline void warning(std::string_view m) { write(Level::kWarning, m); }
inline void notice(std::string_view m) { write(Level::kNotice, m); }
inline void info(std::string_view m) { write(Level::kInfo, m); }
inline void debug(std::string_view m) { write(Level::kDebug, m); }

}  // namespace fw::log
