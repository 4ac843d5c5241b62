/*
 * diskbench: a small static block-device benchmark for Linux test guests
 * (used by `npm run bench:io` instead of fio; see bench/io.ts for why).
 *
 *   diskbench seqread|seqwrite|randread DEVICE BLOCK_BYTES QUEUE_DEPTH SECONDS
 *
 * Opens DEVICE with O_DIRECT (no guest page cache: every block is a virtio
 * request) and runs QUEUE_DEPTH threads, each with one aligned buffer doing
 * synchronous pread/pwrite in a loop, so up to QUEUE_DEPTH requests are in
 * flight at once (what fio's psync engine does with numjobs=QUEUE_DEPTH).
 * Sequential modes share one offset counter (the threads together sweep the
 * device from 0, wrapping at its end); randread picks block-aligned offsets
 * uniformly from a per-thread xorshift generator. Prints one line:
 *   DISKBENCH mode=M bs=B qd=Q seconds=S ops=N bytes=N mbps=X iops=Y
 * where mbps is MB/s (10^6 bytes) over the measured time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mode { SEQREAD, SEQWRITE, RANDREAD };

static enum mode mode;
static int fd;
static uint64_t block_bytes, device_blocks;
static double deadline;
static uint64_t next_block; /* shared by the sequential threads (atomic) */

struct worker {
  pthread_t thread;
  uint64_t ops;
  uint64_t rng;
  int error;
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static void *run(void *arg) {
  struct worker *w = arg;
  void *buf;
  if (posix_memalign(&buf, 4096, block_bytes) != 0) {
    w->error = ENOMEM;
    return NULL;
  }
  memset(buf, 0xa5, block_bytes);
  while (now() < deadline) {
    uint64_t block = mode == RANDREAD ? xorshift(&w->rng) % device_blocks
                                      : __atomic_fetch_add(&next_block, 1, __ATOMIC_RELAXED) % device_blocks;
    off_t offset = (off_t)(block * block_bytes);
    ssize_t n = mode == SEQWRITE ? pwrite(fd, buf, block_bytes, offset) : pread(fd, buf, block_bytes, offset);
    if (n != (ssize_t)block_bytes) {
      w->error = n < 0 ? errno : EIO;
      break;
    }
    w->ops++;
  }
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: diskbench seqread|seqwrite|randread DEVICE BLOCK_BYTES QUEUE_DEPTH SECONDS\n");
    return 2;
  }
  if (!strcmp(argv[1], "seqread")) mode = SEQREAD;
  else if (!strcmp(argv[1], "seqwrite")) mode = SEQWRITE;
  else if (!strcmp(argv[1], "randread")) mode = RANDREAD;
  else {
    fprintf(stderr, "diskbench: unknown mode %s\n", argv[1]);
    return 2;
  }
  block_bytes = strtoull(argv[3], NULL, 0);
  int depth = atoi(argv[4]);
  double seconds = atof(argv[5]);
  if (block_bytes < 512 || block_bytes % 512 || depth < 1 || depth > 256 || !(seconds > 0)) {
    fprintf(stderr, "diskbench: bad block size, queue depth or duration\n");
    return 2;
  }
  fd = open(argv[2], (mode == SEQWRITE ? O_RDWR : O_RDONLY) | O_DIRECT);
  if (fd < 0) {
    fprintf(stderr, "diskbench: open %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  /* lseek to the end gives the size of a block device and of a regular file alike. */
  off_t end = lseek(fd, 0, SEEK_END);
  uint64_t device_bytes = end < 0 ? 0 : (uint64_t)end;
  if (device_bytes < block_bytes) {
    fprintf(stderr, "diskbench: %s: cannot get its size or smaller than one block\n", argv[2]);
    return 1;
  }
  device_blocks = device_bytes / block_bytes;

  struct worker *workers = calloc((size_t)depth, sizeof *workers);
  double start = now();
  deadline = start + seconds;
  for (int i = 0; i < depth; i++) {
    workers[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    if (pthread_create(&workers[i].thread, NULL, run, &workers[i]) != 0) {
      fprintf(stderr, "diskbench: cannot start thread %d\n", i);
      return 1;
    }
  }
  uint64_t ops = 0;
  int error = 0;
  for (int i = 0; i < depth; i++) {
    pthread_join(workers[i].thread, NULL);
    ops += workers[i].ops;
    if (workers[i].error) error = workers[i].error;
  }
  double elapsed = now() - start;
  if (error) {
    fprintf(stderr, "diskbench: %s on %s: %s\n", argv[1], argv[2], strerror(error));
    return 1;
  }
  if (mode == SEQWRITE && fdatasync(fd) != 0) {
    fprintf(stderr, "diskbench: fdatasync: %s\n", strerror(errno));
    return 1;
  }
  double bytes = (double)ops * (double)block_bytes;
  printf("DISKBENCH mode=%s bs=%llu qd=%d seconds=%.3f ops=%llu bytes=%.0f mbps=%.2f iops=%.1f\n", argv[1],
         (unsigned long long)block_bytes, depth, elapsed, (unsigned long long)ops, bytes, bytes / elapsed / 1e6,
         (double)ops / elapsed);
  return 0;
}
