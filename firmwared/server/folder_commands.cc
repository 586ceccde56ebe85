#include "firmwared/server/folder_commands.h"

#include <type_traits>

#include "firmwared/base/strings.h"
#include "firmwared/core/shell_words.h"
#include "firmwared/server/typed_json.h"

namespace fw::server {

using protocol::Json;
using protocol::Request;

void ServerEventSink::emit(const std::string& event, core::EventFields fields) {
  Json j = Json::object();
  for (auto& [k, v] : fields) {
    if (const auto* s = std::get_if<std::string>(&v)) {
      j[k] = *s;
    } else if (const auto* n = std::get_if<int64_t>(&v)) {
      j[k] = *n;
    } else {
      j[k] = nullptr;
    }
  }
  server_.notify(event, std::move(j));
}

namespace {

using Folders = std::map<std::string, core::Folder*>;

Result<core::Folder*> folder_of(const Folders& folders, const std::string& name) {
  auto it = folders.find(to_lower(name));
  if (it == folders.end()) {
    std::vector<std::string> names;
    for (const auto& [n, f] : folders) names.push_back(n);
    return make_error(ENOENT,
                      "unknown folder " + quote(name) + " (folders: " + join(names, ", ") + ")");
  }
  return it->second;
}

Json summary_json(const std::string& folder, const core::EntitySummary& s) {
  Json j = {{"folder", folder}, {"sha1", s.sha1}, {"name", s.name}};
  if (s.existed) j["existed"] = true;
  if (!s.warning.empty()) j["warning"] = s.warning;
  return j;
}

// GET_PROPERTY's value with the type SHOW gives the same property (a whole property, not
// an element such as cmdline[0], which stays text).
core::PropertyValue typed_property(core::Folder& f, const std::string& id, const std::string& prop,
                                   const std::string& text) {
  core::PropertyValue out{prop, text};
  if (prop.find('[') != std::string::npos) return out;
  auto all = f.show(id);
  if (!all.ok()) return out;
  for (const auto& p : *all) {
    if (p.name == prop) {
      out.type = p.type;
      out.epoch = p.epoch;
    }
  }
  return out;
}

// Wraps a handler that resolves the folder from args[0].
template <typename F>
Dispatcher::Handler with_folder(const Folders& folders, F f) {
  return [&folders, f](const Request& req, const Caller& caller, Responder r) {
    auto folder = folder_of(folders, req.args[0]);
    if (!folder.ok()) return r.fail(folder.error());
    if constexpr (std::is_invocable_v<F, core::Folder&, const Request&, Responder,
                                      const sys::ClientCredentials&>) {
      f(**folder, req, r, caller.peer.client());
    } else {
      f(**folder, req, r);
    }
  };
}

}  // namespace

void register_folder_commands(Dispatcher& d, const Folders& folders) {
  d.add("PREPARE", with_folder(folders, [](core::Folder& f, const Request& req, Responder r,
                                           const sys::ClientCredentials& client) {
          const std::string folder = f.name();
          auto options = core::parse_prepare_options({req.args.begin() + 2, req.args.end()});
          if (!options.ok()) return r.fail(options.error());
          f.prepare_with(
              client, req.args[1], req.cwd, *options, [r, folder](Result<core::EntitySummary> s) {
                if (!s.ok()) return r.fail(s.error());
                Json j = summary_json(folder, *s);
                j["existed"] = s->existed;  // always there: a boolean, never a missing key
                r.ok(j);
              });
        }));
  d.add("LIST", with_folder(folders, [](core::Folder& f, const Request&, Responder r) {
          auto all = f.list();
          if (!all.ok()) return r.fail(all.error());
          Json entities = Json::array();
          for (const auto& e : *all) entities.push_back({{"name", e.name}, {"sha1", e.sha1}});
          r.ok({{"folder", f.name()}, {"entities", entities}});
        }));
  d.add("SHOW", with_folder(folders, [](core::Folder& f, const Request& req, Responder r) {
          auto props = f.show(req.args[1]);
          if (!props.ok()) return r.fail(props.error());
          Json list = Json::array();
          std::string sha1, name;
          for (const auto& p : *props) {
            list.push_back(property_json(p));
            if (p.name == "sha1") sha1 = p.value;
            if (p.name == "name") name = p.value;
          }
          r.ok({{"folder", f.name()}, {"sha1", sha1}, {"name", name}, {"properties", list}});
        }));
  d.add("GET_PROPERTY", with_folder(folders, [](core::Folder& f, const Request& req, Responder r) {
          auto v = f.get_property(req.args[1], req.args[2]);
          if (!v.ok()) return r.fail(v.error());
          Json reply = Json::object();
          put_property_value(typed_property(f, req.args[1], req.args[2], *v), reply);
          r.ok(reply);
        }));
  d.add("SET_PROPERTY", with_folder(folders, [](core::Folder& f, const Request& req, Responder r,
                                                const sys::ClientCredentials& client) {
          auto s = f.set_property_as(client, req.args[1], req.args[2], req.args[3]);
          if (!s.ok()) return r.fail(s.error());
          r.ok();
        }));
  d.add("PROPERTIES", with_folder(folders, [](core::Folder& f, const Request&, Responder r) {
          auto names = f.property_names();
          if (!names.ok()) return r.fail(names.error());
          r.ok({{"properties", *names}});
        }));
  d.add("ADD_PROPERTY", with_folder(folders, [](core::Folder& f, const Request& req, Responder r) {
          auto name = f.add_property(req.args[1]);
          if (!name.ok()) return r.fail(name.error());
          r.ok({{"name", *name}});
        }));
  d.add("DROP", with_folder(folders, [](core::Folder& f, const Request& req, Responder r) {
          const std::string folder = f.name();
          f.drop_then(req.args[1], [r, folder](Result<core::EntitySummary> s) {
            if (!s.ok()) return r.fail(s.error());
            r.ok(summary_json(folder, *s));
          });
        }));
}

}  // namespace fw::server
