#pragma once
// fwctl doctor: checks the host for what firmwared needs and says what to do about each
// problem. Exit 0 when nothing failed (warnings allowed), 1 otherwise.

#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

int run_doctor(Context& ctx, const Args& args);

}  // namespace fwctl
