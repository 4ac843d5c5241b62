/* Time for delays and timeouts: the TSC, calibrated once against the ACPI PM timer (ACPI 6.5 §4.8.4.3,
 * 3.579545 MHz). Reading the TSC does not leave the guest under KVM, so busy-waits (the count test runs for
 * minutes during pause/snapshot tests) cost the VMM nothing; reading the PM timer would exit on every poll.
 * Without a PM timer the TSC is assumed to run at 1 GHz (only pacing gets less exact). */
#include "tvg.h"

#define PM_TIMER_HZ 3579545ull
#define PM_TIMER_MASK 0xffffffu
#define CALIBRATION_TICKS (PM_TIMER_HZ / 100) /* 10 ms */
#define CALIBRATION_SCALE 100                 /* 1 s / 10 ms */
#define TSC_GUESS_HZ 1000000000ull

static uint64_t tsc_hz = TSC_GUESS_HZ;
static bool calibrated;

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

void timer_init(uint32_t pm_timer_port) {
  if (!pm_timer_port) return;
  uint16_t port = (uint16_t)pm_timer_port;
  uint32_t start = inl(port) & PM_TIMER_MASK;
  uint64_t tsc_start = rdtsc();
  uint32_t elapsed = 0;
  /* Bounded: a PM timer that does not count must not hang us (10 M polls, then keep the guess). */
  for (uint32_t polls = 0; elapsed < CALIBRATION_TICKS && polls < 10000000; polls++)
    elapsed = (inl(port) - start) & PM_TIMER_MASK;
  if (elapsed < CALIBRATION_TICKS) return;
  uint64_t tsc_delta = rdtsc() - tsc_start;
  /* scale to the ticks actually elapsed (we may overshoot the 10 ms by a poll) */
  uint64_t hz = tsc_delta * CALIBRATION_TICKS / elapsed * CALIBRATION_SCALE;
  if (hz) {
    tsc_hz = hz;
    calibrated = true;
  }
}

uint64_t timer_tsc_khz(void) { return tsc_hz / 1000; }
bool timer_calibrated(void) { return calibrated; }

uint64_t timer_now_us(void) {
  uint64_t t = rdtsc();
  return t / tsc_hz * 1000000ull + t % tsc_hz * 1000000ull / tsc_hz;
}

void delay_us(uint64_t us) {
  uint64_t end = timer_now_us() + us;
  while (timer_now_us() < end) cpu_relax();
}
