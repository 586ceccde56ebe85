#pragma once
// START, KILL, REMOUNT and RESTORE: the instance lifecycle commands.

#include "firmwared/core/instances.h"
#include "firmwared/server/dispatcher.h"

namespace fw::server {

void register_instance_commands(Dispatcher& dispatcher, core::Instances& instances);

}  // namespace fw::server
