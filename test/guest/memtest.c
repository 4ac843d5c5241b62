/* tvg.test=memtest: proves the e820 map is backed by real, distinct memory. Writes one address-derived qword into
 * every 4 KiB page of usable RAM between the end of our image and 4 GiB (what the entry page tables map), then
 * reads them all back: a page mapped twice, missing, or read-only shows up as an error. */
#include "tvg.h"

#define PAGE 4096ull
#define MAPPED_LIMIT (4ull << 30)
#define PATTERN 0x5a5aa5a5c3c33c3cull
#define MAX_REPORTED_ERRORS 4

extern char __bss_end[];

static uint64_t pattern_for(uint64_t page) { return page ^ PATTERN; }

/* Writes (verify=false) or checks (verify=true) every page of usable RAM we may touch; returns the count. */
static uint64_t for_each_page(const struct memory_range *map, uint32_t count, uint64_t *errors, bool verify) {
  uint64_t low = ((uint64_t)(uintptr_t)__bss_end + PAGE - 1) & ~(PAGE - 1);
  uint64_t pages = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (map[i].type != 1) continue;
    uint64_t start = (map[i].addr + PAGE - 1) & ~(PAGE - 1);
    uint64_t end = (map[i].addr + map[i].size) & ~(PAGE - 1);
    if (start < low) start = low;
    if (end > MAPPED_LIMIT) end = MAPPED_LIMIT;
    for (uint64_t p = start; p < end; p += PAGE) {
      volatile uint64_t *q = (volatile uint64_t *)(uintptr_t)p;
      if (!verify) {
        *q = pattern_for(p);
      } else if (*q != pattern_for(p)) {
        if (*errors < MAX_REPORTED_ERRORS) {
          line_begin("memtest mismatch at ");
          put_hex(p);
          line_end();
        }
        (*errors)++;
      }
      pages++;
    }
  }
  return pages;
}

void test_memtest(const struct memory_range *map, uint32_t count) {
  uint64_t errors = 0;
  for_each_page(map, count, &errors, false);
  uint64_t pages = for_each_page(map, count, &errors, true);
  line_begin("memtest pages ");
  put_dec(pages);
  put_str(" errors ");
  put_dec(errors);
  line_end();
}
