/* Time for delays and timeouts: the ACPI PM timer (ACPI 6.5 §4.8.3.3: 3.579545 MHz, 24 bits here) extended to
 * 64 bits by sampling; without one, the TSC at an assumed 1 GHz (only the count test's pacing gets less exact). */
#include "tvg.h"

#define PM_TIMER_HZ 3579545ull
#define PM_TIMER_MASK 0xffffffu
#define TSC_GUESS_HZ 1000000000ull

static uint16_t pm_timer_port;
static uint32_t last_sample;
static uint64_t elapsed_ticks;

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

void timer_init(uint32_t port) {
  pm_timer_port = (uint16_t)port;
  if (pm_timer_port) last_sample = inl(pm_timer_port) & PM_TIMER_MASK;
}

/* Microseconds since timer_init (PM timer) or since reset (TSC). Call at least every 4 s (the 24-bit wrap). */
uint64_t timer_now_us(void) {
  if (!pm_timer_port) return rdtsc() / (TSC_GUESS_HZ / 1000000ull);
  uint32_t now = inl(pm_timer_port) & PM_TIMER_MASK;
  elapsed_ticks += (now - last_sample) & PM_TIMER_MASK;
  last_sample = now;
  return elapsed_ticks * 1000000ull / PM_TIMER_HZ;
}

void delay_us(uint64_t us) {
  uint64_t end = timer_now_us() + us;
  while (timer_now_us() < end) cpu_relax();
}
