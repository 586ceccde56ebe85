#pragma once
// AppArmor, the confinement layer that needs the kernel's help (docs/security.md):
// per-instance profiles generated from a template, loaded with apparmor_parser, listed and
// removed through the kernel's AppArmor filesystem. Applying a profile at exec is done by
// sys::Confinement (async-signal-safe); this file is the daemon-side half.

#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::sys::apparmor {

// Every profile firmwared loads is named kProfilePrefix + <instance sha1>.
inline constexpr std::string_view kProfilePrefix = "firmwared_";
// The template's placeholders, replaced by generate().
inline constexpr std::string_view kTemplateName = "firmwared_instance";
inline constexpr std::string_view kRootVariable = "@{root}";

// OK when the kernel enforces AppArmor (aa_is_enabled(3)). Otherwise an Error whose
// message says why: ENOSYS (the kernel has no AppArmor), ECANCELED (disabled at boot),
// ENOENT (securityfs is not mounted), EPERM/EACCES (not allowed to query it), ...
Status available();

// "firmwared_<sha1>".
std::string profile_name(const std::string& sha1);

// Generates the profile of instance `sha1` from `template_text` (read from
// `template_origin`, which only names it in messages): the line defining @{root} gets the
// value `workspace` (quoted), and the profile header `profile firmwared_instance` becomes
// `profile firmwared_<sha1>`. EINVAL naming the template when it has not exactly one of
// each; EINVAL when `workspace` is not absolute or holds characters AppArmor would read as
// a pattern or a quote (* ? [ ] { } ^ " \ , # and control characters).
Result<std::string> generate(std::string_view template_text, std::string_view template_origin,
                             const std::string& sha1, const std::string& workspace);

// Loads or replaces profile `name` whose text is `profile_text` (`apparmor_parser --replace
// -K`, the text on its stdin). On failure, an Error carrying the parser's own message:
// EINVAL when it rejected the profile or the kernel refused it, ENOENT when apparmor_parser
// is not installed.
Status load(const std::string& name, std::string_view profile_text);

// Compiles the profile in `path` without touching the kernel or the cache
// (`apparmor_parser -Q -K -o /dev/null`); same errors as load(). Works without AppArmor in
// the kernel: tests use it.
Status compile(const std::string& path);

// Runs `apparmor_parser ARGS...` with `input` on its stdin and returns what it printed on
// stdout and stderr, with its exit status (tests read its `-d` dump). ENOENT when not
// installed.
struct ParserRun {
  int exit_status = 0;
  std::string output;
};
Result<ParserRun> run_parser(const std::vector<std::string>& args, std::string_view input = {});

// Removes profile `name` from the kernel (its AppArmor filesystem's .remove). A profile that
// is not loaded counts as removed. Errors carry errno (EPERM without CAP_MAC_ADMIN, ...).
Status remove(const std::string& name);

// Names of the profiles loaded in the kernel whose name starts with `prefix` (the AppArmor
// filesystem's `profiles` list). ENOENT when that filesystem is not mounted.
Result<std::vector<std::string>> loaded_profiles(std::string_view prefix);

// True when profile `name` is loaded (false on any error: AppArmor absent, ...).
bool is_loaded(const std::string& name);

}  // namespace fw::sys::apparmor
