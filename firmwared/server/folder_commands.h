#pragma once
// The folder commands (PREPARE, LIST, SHOW, GET_PROPERTY, SET_PROPERTY, PROPERTIES,
// ADD_PROPERTY, DROP) routed to core::Folder implementations, and the EventSink that turns
// core notifications into protocol events.

#include <map>
#include <string>

#include "firmwared/core/events.h"
#include "firmwared/core/folder.h"
#include "firmwared/server/dispatcher.h"
#include "firmwared/server/server.h"

namespace fw::server {

class ServerEventSink final : public core::EventSink {
 public:
  explicit ServerEventSink(Server& server) : server_(server) {}
  void emit(const std::string& event, core::EventFields fields) override;

 private:
  Server& server_;
};

// `folders` maps folder names ("firmwares") to their implementation; they must outlive the
// dispatcher's use.
void register_folder_commands(Dispatcher& dispatcher,
                              const std::map<std::string, core::Folder*>& folders);

}  // namespace fw::server
