#pragma once
// What a monitor that has finished its setup gives back while it waits: the pages of its
// own code and read-only data (they come back from the page cache on the next use) and the
// free memory of its heap.

namespace fw::monitor {

// Drops the monitor program's read-only, file-backed pages from its resident set
// (madvise(MADV_DONTNEED) on each non-writable PT_LOAD segment, whole pages only) and
// returns the heap's free memory to the kernel (malloc_trim). Nothing is lost: those
// segments are never written (the program is linked with -z text, so no relocation touches
// them), and a page used again is mapped back from the page cache. A monitor runs the
// whole setup of an instance once, then waits for hours in a loop that touches a small
// part of its code; without this, the kernel's fault-around keeps nearly all of the static
// binary resident in every monitor. Best effort: errors are ignored.
void release_setup_pages();

}  // namespace fw::monitor
