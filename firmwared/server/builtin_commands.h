#pragma once
// The daemon's own commands: PING, VERSION, COMMANDS, FOLDERS, CONFIG_KEYS, GET_CONFIG,
// HELP, QUIT, SUBSCRIBE.

#include "firmwared/config/config.h"
#include "firmwared/server/dispatcher.h"
#include "firmwared/server/server.h"

namespace fw::server {

// `folders` lists the folder names FOLDERS answers with.
void register_builtin_commands(Dispatcher& dispatcher, Server& server, const config::Config& config,
                               std::vector<std::string> folders);

}  // namespace fw::server
