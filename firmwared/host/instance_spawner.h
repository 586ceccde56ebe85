#pragma once
// core::ExecSpawner for real: sys::spawn_in_instance (setns into PID 1's namespaces, fork
// the command, confine it).

#include "firmwared/core/instance_exec.h"
#include "firmwared/sys/exec.h"

namespace fw::host {

class InstanceSpawner final : public core::ExecSpawner {
 public:
  Result<sys::Child> spawn(int init_pidfd, const sys::InstanceExecSpec& spec) override {
    return sys::spawn_in_instance(init_pidfd, spec);
  }
};

}  // namespace fw::host
