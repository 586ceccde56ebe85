// firmwared: wires the modules together (config → socket → runtime dirs → catalogue →
// folders → commands → loop). Policy lives in the modules, not here.

#include <event2/event.h>

#include <cstring>
#include <iostream>
#include <memory>

#include "firmwared/base/fault.h"
#include "firmwared/base/log.h"
#include "firmwared/base/service_manager.h"
#include "firmwared/base/version.h"
#include "firmwared/catalogue/catalogue.h"
#include "firmwared/config/config.h"
#include "firmwared/core/firmware_mounter.h"
#include "firmwared/core/firmwares.h"
#include "firmwared/core/instance_mounter.h"
#include "firmwared/core/instances.h"
#include "firmwared/core/names.h"
#include "firmwared/core/profiles.h"
#include "firmwared/core/snapshots.h"
#include "firmwared/host/hook_network.h"
#include "firmwared/host/instance_spawner.h"
#include "firmwared/host/loop_executor.h"
#include "firmwared/host/monitor_launcher.h"
#include "firmwared/host/process_runner.h"
#include "firmwared/server/builtin_commands.h"
#include "firmwared/server/commit_command.h"
#include "firmwared/server/diff_commands.h"
#include "firmwared/server/dispatcher.h"
#include "firmwared/server/exec_commands.h"
#include "firmwared/server/folder_commands.h"
#include "firmwared/server/instance_commands.h"
#include "firmwared/server/server.h"
#include "firmwared/sys/apparmor.h"
#include "firmwared/sys/privileges.h"

namespace {

constexpr const char* kUsage =
    "usage: firmwared [CONFIG_FILE]\n"
    "       firmwared --help | --version\n"
    "Runs firmware root filesystems as isolated instances. CONFIG_FILE defaults to\n"
    "/etc/firmwared.conf (optional); FIRMWARED_<KEY> environment variables override it.\n"
    "See firmwared(8) and firmwared.conf(5).\n";

int fail(const std::string& step, const fw::Error& e) {
  fw::log::error("firmwared: " + step + ": " + e.message);
  return 1;
}

// Everything after the configuration; returns the exit status.
int serve(const fw::config::Config& config, event_base* base) {
  fw::server::Dispatcher dispatcher;
  fw::server::ServerLimits limits;
  limits.max_connections = static_cast<size_t>(config.max_connections());
  limits.max_connections_per_uid = static_cast<size_t>(config.max_connections_per_uid());
  limits.line_timeout = std::chrono::seconds(config.client_line_timeout());
  limits.idle_timeout = std::chrono::seconds(config.client_idle_timeout());
  fw::server::Server server(base, dispatcher, limits);
  // Take the socket (and its lock) first: nothing else may be touched while another
  // daemon runs.
  if (auto s = server.listen(config.socket_path()); !s.ok())
    return fail("opening the socket", s.error());
  if (auto s = fw::config::ensure_runtime_dirs(config); !s.ok()) {
    return fail("creating runtime directories", s.error());
  }
  auto catalogue = fw::catalogue::Catalogue::open(config.database_path());
  if (!catalogue.ok()) return fail("opening the catalogue", catalogue.error());
  auto words = fw::core::WordLists::load(config.resources_dir());
  if (!words.ok()) return fail("loading the name word lists", words.error());

  fw::server::ServerEventSink events(server);
  // Before the executor: a trash deletion still running at exit uses it until the executor
  // joins its thread.
  fw::core::KernelInstanceMounter instance_mounter;
  fw::host::LoopExecutor executor(base);
  if (auto s = executor.init(); !s.ok()) return fail("starting the executor", s.error());
  // A directory firmware must not hold the daemon's own state (it would expose the
  // workspaces, the repository and the catalogue to every instance of it).
  const std::string& db = config.database_path();
  fw::core::KernelFirmwareMounter mounter(
      {config.mount_path(), config.repository_path(), db.substr(0, db.find_last_of('/'))});
  fw::core::Firmwares firmwares({*catalogue, config, executor, events, *words, mounter});
  if (auto s = firmwares.restore(); !s.ok()) return fail("restoring firmwares", s.error());

  fw::host::MonitorLauncher launcher(base, fw::host::default_monitor_path());
  fw::host::ProcessRunner runner(base);
  fw::host::HookNetwork network(runner, config);
  fw::core::AppArmorProfiles profiles(config);  // warns here when AppArmor is missing
  // The daemon's directory in every cgroup hierarchy, holding one cgroup per instance.
  auto cgroups = fw::core::KernelInstanceCgroups::open(config.cgroup());
  if (!cgroups.ok()) {
    fw::log::error("no cgroups for instances (no limits, device policy or stats): " +
                   cgroups.error().message);
  }
  fw::core::Instances instances({*catalogue, config, events, *words, firmwares, instance_mounter,
                                 launcher, executor, &network, &profiles, &executor,
                                 cgroups.ok() ? cgroups->get() : nullptr});
  if (auto s = instances.check_id_pool(); !s.ok()) return fail("checking userns_pool", s.error());
  if (config.userns() == "n") {
    fw::log::warning(
        "userns=n: instances run privileged by default; without AppArmor their root can reach "
        "host root");
  }
  if (auto s = instances.restore(); !s.ok()) return fail("restoring instances", s.error());
  if (auto all = instances.workspaces(); all.ok()) {
    profiles.restore(*all);
  } else {
    fw::log::warning("listing instances for their AppArmor profiles: " + all.error().message +
                     ", ignoring");
  }
  {
    auto keep = instances.running_host_interfaces();
    network.remove_leftover_veths({keep.begin(), keep.end()});
    network.sweep_filters({keep.begin(), keep.end()});
  }

  server.on_shutdown([&instances]() { instances.shutdown(); },
                     [&instances]() { return instances.settled(); });
  fw::core::Snapshots snapshots(*catalogue, events, instances);
  const std::map<std::string, fw::core::Folder*> folders = {
      {"firmwares", &firmwares}, {"instances", &instances}, {"snapshots", &snapshots}};
  fw::server::register_builtin_commands(dispatcher, server, config,
                                        {"firmwares", "instances", "snapshots"});
  fw::server::register_folder_commands(dispatcher, folders);
  fw::server::register_instance_commands(dispatcher, instances);
  fw::core::InstancesExecTargets exec_targets(instances);
  fw::host::InstanceSpawner exec_spawner;
  fw::core::InstanceExec exec(exec_targets, &profiles, exec_spawner);
  fw::server::register_exec_commands(dispatcher, exec, base);
  fw::server::register_diff_commands(dispatcher, instances, firmwares, executor);
  fw::core::InstanceCommit commit(instances, firmwares, executor, config);
  fw::server::register_commit_command(dispatcher, commit);
  if (auto s = server.install_signal_handlers(); !s.ok()) {
    return fail("installing signal handlers", s.error());
  }
  fw::log::notice("firmwared " FIRMWARED_VERSION " ready on " + config.socket_path());
  fw::service_manager::notify_ready("ready on " + config.socket_path());
  const int rc = event_base_dispatch(base) < 0 ? 1 : 0;
  firmwares.cancel_imports();
  fw::log::notice("firmwared stopped");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  if (argc > 2) {
    std::cerr << kUsage;
    return 2;
  }
  if (argc == 2) {
    if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
      std::cout << kUsage;
      return 0;
    }
    if (std::strcmp(argv[1], "--list-fault-points") == 0) {
      // Only builds with FW_FAULT_INJECTION have any.
      for (const auto& point : fw::fault::fault_points()) std::cout << point << "\n";
      return 0;
    }
    if (std::strcmp(argv[1], "--version") == 0) {
      std::cout << "firmwared " FIRMWARED_VERSION "\n";
      return 0;
    }
    config_path = argv[1];
  }
  // Under systemd with stderr on the journal, log natively (structured fields).
  if (fw::log::stderr_is_journal()) fw::log::use_journal("firmwared");
  if (auto s = fw::fault::check_test_switches(); !s.ok()) return fail("starting", s.error());
  if (fw::fault::unconfined_clock()) {
    fw::log::warning(std::string("test switch ") + fw::fault::kUnconfinedClockVariable +
                     "=1: instances keep CAP_SYS_TIME and their clock calls are not filtered "
                     "(only AppArmor, where enforced, refuses them)");
  }
  auto config = fw::config::Config::load(config_path, fw::config::current_environment());
  if (!config.ok()) return fail("loading the configuration", config.error());
  fw::log::set_max_level(config->log_level());
  // Before anything is touched: without these the daemon would fail at its first mount.
  const bool apparmor = !config->disable_apparmor() && fw::sys::apparmor::available().ok();
  if (const std::string problem = fw::sys::check_privileges(apparmor); !problem.empty()) {
    fw::log::error(problem);
    return 1;
  }

  std::unique_ptr<event_base, decltype(&event_base_free)> base(event_base_new(), event_base_free);
  if (!base) return fail("creating the event loop", fw::make_error(ENOMEM, "event_base_new"));
  return serve(*config, base.get());
}
