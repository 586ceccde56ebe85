#pragma once
// Logging, one message per call. Two sinks:
//  - stderr (default): one line with a syslog priority prefix ("<3>message") so journald
//    reads the level even through a plain pipe;
//  - the journal's native protocol (sd_journal_sendv(3)), chosen by use_journal() when
//    stderr is connected to the journal (stderr_is_journal()): PRIORITY, MESSAGE,
//    SYSLOG_IDENTIFIER and the caller's structured fields (FIRMWARED_INSTANCE=…), so
//    `journalctl FIRMWARED_INSTANCE=<id>` selects one instance's lines.
// Log once, where the decision is made.

#include <sys/types.h>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace fw::log {

enum class Level { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// A structured field of a journal entry: `key` is an upper-case journal field name (A-Z, 0-9,
// '_', not starting with '_'); stderr lines do not show them (the message says it all).
struct Field {
  const char* key;
  std::string value;
};
using Fields = std::vector<Field>;

// The field names firmwared uses.
inline constexpr const char* kInstance = "FIRMWARED_INSTANCE";           // instance id (sha1)
inline constexpr const char* kInstanceName = "FIRMWARED_INSTANCE_NAME";  // instance name
inline constexpr const char* kFirmware = "FIRMWARED_FIRMWARE";           // firmware id (sha1)
inline constexpr const char* kFirmwareName = "FIRMWARED_FIRMWARE_NAME";  // firmware name

// Fields naming an instance (and its firmware when known); empty values are left out.
Fields instance(std::string_view name, std::string_view sha1 = {});
Fields firmware(std::string_view name, std::string_view sha1 = {});
// `a` followed by `b`.
Fields operator+(Fields a, const Fields& b);

// Messages above this level are dropped (default kInfo; kDebug when verbose).
void set_max_level(Level level);
Level max_level();

// Parses JOURNAL_STREAM's "<device>:<inode>" (decimal, as systemd.exec(5) sets it); false
// when malformed.
bool parse_journal_stream(std::string_view text, dev_t* dev, ino_t* ino);
// True when `journal_stream` (JOURNAL_STREAM's value, nullptr when unset) names the file
// descriptor `fd`'s device and inode: the documented test that stderr still goes to the
// journal and not to a file or pipe a child set up in between (sd_journal_stream_fd(3)).
bool fd_is_journal(int fd, const char* journal_stream);
// fd_is_journal(2, getenv("JOURNAL_STREAM")).
bool stderr_is_journal();

// From now on, messages go to the journal with SYSLOG_IDENTIFIER=`identifier` (a message the
// journal refuses goes to stderr instead). Call once, before other threads log.
void use_journal(std::string identifier);
bool using_journal();

void write(Level level, std::string_view message, const Fields& fields = {});
inline void error(std::string_view m, const Fields& f = {}) { write(Level::kError, m, f); }
inline void warning(std::string_view m, const Fields& f = {}) { write(Level::kWarning, m, f); }
inline void notice(std::string_view m, const Fields& f = {}) { write(Level::kNotice, m, f); }
inline void info(std::string_view m, const Fields& f = {}) { write(Level::kInfo, m, f); }
inline void debug(std::string_view m, const Fields& f = {}) { write(Level::kDebug, m, f); }

}  // namespace fw::log
