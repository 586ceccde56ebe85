#pragma once
// `net_hook serve`: the helper as one long-lived process. Writes the banner, then answers
// each request line read from `in` on `out`, in order, until `in` reaches end of file
// (firmwared/base/helper_wire.h, docs/net-helper.md "Serve mode").

#include <string>

#include "firmwared/base/helper_wire.h"

namespace fw::net {

// What an exec with the request's arguments and FIRMWARED_OWNER would have exited with and
// printed on stderr (the synopsis after a usage error left out). A malformed line gets
// status 2 and a sentence saying what is wrong with it.
helper_wire::Answer answer_line(const std::string& line);

// Requests read together are answered in order; consecutive `clean`s among them are done
// as one (clean_all in actions.h). Serves until end of file on `in`; returns 0, or 1 when an answer
// could not be written (the requests read after that are still run, unanswered: the client went
// away).
int serve(int in, int out);

// `s` with its line breaks turned into spaces: a failure is always one line.
std::string one_line(std::string s);

}  // namespace fw::net
