#pragma once
// A folder: the commands every kind of entity answers. The server routes
// PREPARE, LIST, SHOW, GET_PROPERTY, SET_PROPERTY, PROPERTIES, ADD_PROPERTY and DROP here.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/sys/credentials.h"

namespace fw::core {

struct EntitySummary {
  std::string sha1;
  std::string name;
  bool existed = false;  // PREPARE found it already catalogued
  std::string warning;   // non-fatal remark for the user ("" none)
};

// How a property's value reads beyond its text, for typed JSON replies (SHOW, GET_PROPERTY).
enum class PropertyType {
  kString,
  kInteger,  // decimal text; "" when unset or unknown (JSON null)
  kTime,     // text as ctime(3) gives it (local time); `epoch` holds the instant
};

struct PropertyValue {
  std::string name;
  std::string value;  // the text fdc showed
  PropertyType type = PropertyType::kString;
  int64_t epoch = 0;  // kTime: seconds since 1970-01-01 UTC
};

using PrepareDone = std::function<void(Result<EntitySummary>)>;
using DropDone = std::function<void(Result<EntitySummary>)>;

// PREPARE's optional words after FOLDER and SOURCE (docs/protocol.md): `name=NAME` and
// `label=KEY=VALUE` (repeatable). Only instances take them.
struct PrepareOptions {
  std::optional<std::string> name;
  std::vector<std::string> labels;  // "KEY=VALUE", as given
  bool empty() const { return !name && labels.empty(); }
};

// Splits PREPARE's option words. EINVAL naming the word for one that is neither `name=...`
// nor `label=...`, or a second name=. Values are checked by the folder.
Result<PrepareOptions> parse_prepare_options(const std::vector<std::string>& words);

class Folder {
 public:
  virtual ~Folder() = default;
  virtual const std::string& name() const = 0;  // "firmwares"

  // Creates an entity from `source` (a path, URL or identifier; relative paths are
  // resolved against `cwd`). May complete later, on the loop thread.
  virtual void prepare(const std::string& source, const std::optional<std::string>& cwd,
                       PrepareDone done) = 0;
  // PREPARE on behalf of `client`: folders whose PREPARE reads host files on the client's
  // behalf (firmwares, and instances importing a path) override it to do so with the
  // client's rights. The default ignores who asks.
  virtual void prepare_as(const sys::ClientCredentials& client, const std::string& source,
                          const std::optional<std::string>& cwd, PrepareDone done) {
    (void)client;
    prepare(source, cwd, std::move(done));
  }
  // PREPARE with options: the default refuses any (EINVAL naming the folder) and otherwise
  // is prepare_as().
  virtual void prepare_with(const sys::ClientCredentials& client, const std::string& source,
                            const std::optional<std::string>& cwd, const PrepareOptions& options,
                            PrepareDone done);
  virtual Result<std::vector<EntitySummary>> list() = 0;
  // Every property, in PROPERTIES order.
  virtual Result<std::vector<PropertyValue>> show(const std::string& id) = 0;
  virtual Result<std::string> get_property(const std::string& id, const std::string& prop) = 0;
  virtual Status set_property(const std::string& id, const std::string& prop,
                              const std::string& value) = 0;
  // SET_PROPERTY on behalf of `client`: folders with properties reserved to root (or to an
  // allowlist) override it and answer EPERM. The default ignores who asks.
  virtual Status set_property_as(const sys::ClientCredentials& client, const std::string& id,
                                 const std::string& prop, const std::string& value) {
    (void)client;
    return set_property(id, prop, value);
  }
  virtual Result<std::vector<std::string>> property_names() = 0;
  // `name` or `name[]`; returns the property name as stored.
  virtual Result<std::string> add_property(const std::string& name) = 0;
  virtual Result<EntitySummary> drop(const std::string& id) = 0;
  // DROP as the server runs it: folders that must wait for something first answer later.
  virtual void drop_then(const std::string& id, DropDone done) { done(drop(id)); }
};

}  // namespace fw::core
