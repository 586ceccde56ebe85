#include "firmwared/host/event.h"

#include <cerrno>
#include <string>

namespace fw::host {

Result<Event> Event::make(event_base* base, evutil_socket_t fd, short what, event_callback_fn cb,
                          void* arg, const char* what_for) {
  event* ev = event_new(base, fd, what, cb, arg);
  if (ev == nullptr) return make_error(ENOMEM, std::string("creating the event for ") + what_for);
  return Event(ev);
}

Status Event::add(const timeval* timeout) {
  if (ev_ == nullptr) return make_error(EINVAL, "adding an empty event");
  if (event_add(ev_, timeout) != 0) return make_error(EIO, "adding an event to the loop");
  return {};
}

}  // namespace fw::host
