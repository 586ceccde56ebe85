#include "firmwared/monitor/trim.h"

#include <elf.h>
#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace fw::monitor {

namespace {

int drop_read_only_segments(dl_phdr_info* info, size_t, void* data) {
  const auto page = *static_cast<uintptr_t*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0) continue;
    // Whole pages inside the segment only: a page shared with a writable neighbour stays.
    const uintptr_t start = (info->dlpi_addr + ph.p_vaddr + page - 1) & ~(page - 1);
    const uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz) & ~(page - 1);
    if (end > start) ::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
  }
  return 1;  // the program itself comes first; its libraries (if any) are shared anyway
}

}  // namespace

void release_setup_pages() {
  ::malloc_trim(0);
  uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  ::dl_iterate_phdr(drop_read_only_segments, &page);
}

}  // namespace fw::monitor
