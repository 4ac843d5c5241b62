/*
 * typevisor native addon: thin N-API wrappers over Linux system calls.
 *
 * Rule (ARCHITECTURE.md): system calls only, no VMM logic. Every function here
 * maps to one system call (or a tiny group that only makes sense together)
 * and reports failure as a negative errno so the TypeScript layer (src/sys)
 * decides what is an error. Nothing here knows what KVM is.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#define CHECK(call)                                                       \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, NULL, "typevisor_native: N-API call failed"); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static napi_value make_bigint(napi_env env, uint64_t v) {
  napi_value out;
  napi_create_bigint_uint64(env, v, &out);
  return out;
}

/* Reads a number or a bigint argument as a 64-bit unsigned value. */
static int get_u64(napi_env env, napi_value v, uint64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_uint64(env, v, out, &lossless) == napi_ok ? 0 : -1;
  }
  if (t == napi_number) {
    int64_t i;
    if (napi_get_value_int64(env, v, &i) != napi_ok) return -1;
    *out = (uint64_t)i;
    return 0;
  }
  return -1;
}

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

/* Pointer to the bytes of a TypedArray, DataView, Buffer or ArrayBuffer. */
static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    void *base;
    if (napi_get_typedarray_info(env, v, &type, &length, &base, &ab, &offset) != napi_ok) return -1;
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    *data = base;
    *len = length * elem;
    return 0;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset;
    return napi_get_dataview_info(env, v, len, data, &ab, &offset) == napi_ok ? 0 : -1;
  }
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    return napi_get_arraybuffer_info(env, v, data, len) == napi_ok ? 0 : -1;
  }
  return -1;
}

#define ARGS(n)                     \
  size_t argc = (n);                \
  napi_value argv[(n) > 0 ? (n) : 1]; \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL))

/* open(path, flags, mode) -> fd or -errno */
static napi_value n_open(napi_env env, napi_callback_info info) {
  ARGS(3);
  char path[4096];
  size_t len;
  int32_t flags = 0, mode = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  if (argc > 1) get_i32(env, argv[1], &flags);
  if (argc > 2) get_i32(env, argv[2], &mode);
  int fd = open(path, flags | O_CLOEXEC, mode);
  return make_int(env, fd < 0 ? -errno : fd);
}

/* close(fd) -> 0 or -errno */
static napi_value n_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  return make_int(env, close(fd) < 0 ? -errno : 0);
}

/*
 * ioctl(fd, request, arg) -> result or -errno.
 * arg is a buffer (its address is passed), a number/bigint (passed by value) or undefined.
 */
static napi_value n_ioctl(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd;
  uint64_t req;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (get_u64(env, argv[1], &req) < 0) {
    napi_throw_type_error(env, NULL, "ioctl: request must be a number or bigint");
    return NULL;
  }
  unsigned long arg = 0;
  if (argc > 2) {
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t == napi_number || t == napi_bigint) {
      uint64_t v;
      get_u64(env, argv[2], &v);
      arg = (unsigned long)v;
    } else if (t != napi_undefined && t != napi_null) {
      void *data;
      size_t len;
      if (get_bytes(env, argv[2], &data, &len) < 0) {
        napi_throw_type_error(env, NULL, "ioctl: arg must be a buffer, a number or a bigint");
        return NULL;
      }
      arg = (unsigned long)data;
    }
  }
  int r = ioctl(fd, (unsigned long)req, arg);
  return make_int(env, r < 0 ? -errno : r);
}

/* Address of the first byte of a buffer (for structs that embed user pointers). */
static napi_value n_address_of(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *data;
  size_t len;
  if (get_bytes(env, argv[0], &data, &len) < 0) {
    napi_throw_type_error(env, NULL, "addressOf: not a buffer");
    return NULL;
  }
  return make_bigint(env, (uint64_t)(uintptr_t)data);
}

static void noop_finalize(napi_env env, void *data, void *hint) {}

/*
 * An ArrayBuffer over memory this addon maps, hidden from V8's external-memory accounting. V8 counts an external
 * buffer's length as memory a GC could free, and a guest-RAM-sized count (hundreds of MiB at once) forces a full
 * mark-compact on the spot ("external memory pressure"): ~10 ms natively, ~200 ms under the KVM lab's TCG, in the
 * middle of a boot or a snapshot restore. Collecting these buffers frees nothing (munmap does), the reason V8 itself
 * gives buffers with an empty deleter an accounting length of 0; N-API cannot ask for that, so the count is taken
 * back in advance here and given back by munmap.
 */
static napi_status create_unaccounted_buffer(napi_env env, void *p, uint64_t length, napi_value *ab) {
  int64_t ignored;
  napi_adjust_external_memory(env, -(int64_t)length, &ignored);
  napi_status status = napi_create_external_arraybuffer(env, p, (size_t)length, noop_finalize, NULL, ab);
  if (status != napi_ok) napi_adjust_external_memory(env, (int64_t)length, &ignored);
  return status;
}

/*
 * mmap(fd, length, prot, flags, offset) -> { address: bigint, buffer: ArrayBuffer } or -errno.
 * The ArrayBuffer is external: it does not own the mapping; munmap() ends it.
 * Pass fd = -1 with MAP_ANONYMOUS for anonymous memory.
 */
static napi_value n_mmap(napi_env env, napi_callback_info info) {
  ARGS(5);
  int32_t fd, prot, flags;
  uint64_t length, offset;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (get_u64(env, argv[1], &length) < 0 || get_u64(env, argv[4], &offset) < 0) {
    napi_throw_type_error(env, NULL, "mmap: length and offset must be numbers");
    return NULL;
  }
  CHECK(napi_get_value_int32(env, argv[2], &prot));
  CHECK(napi_get_value_int32(env, argv[3], &flags));
  void *p = mmap(NULL, (size_t)length, prot, flags, fd, (off_t)offset);
  if (p == MAP_FAILED) return make_int(env, -errno);
  napi_value out, ab;
  CHECK(napi_create_object(env, &out));
  if (create_unaccounted_buffer(env, p, length, &ab) != napi_ok) {
    /* Some embedders forbid external buffers; fall back to no buffer. */
    napi_get_undefined(env, &ab);
  }
  CHECK(napi_set_named_property(env, out, "address", make_bigint(env, (uint64_t)(uintptr_t)p)));
  CHECK(napi_set_named_property(env, out, "buffer", ab));
  return out;
}

/* Maps an existing address range again as an ArrayBuffer (for worker threads sharing one mapping). */
static napi_value n_buffer_at(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint64_t addr, length;
  if (get_u64(env, argv[0], &addr) < 0 || get_u64(env, argv[1], &length) < 0) {
    napi_throw_type_error(env, NULL, "bufferAt: address and length must be numbers");
    return NULL;
  }
  napi_value ab;
  CHECK(create_unaccounted_buffer(env, (void *)(uintptr_t)addr, length, &ab));
  return ab;
}

static napi_value n_munmap(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint64_t addr, length;
  get_u64(env, argv[0], &addr);
  get_u64(env, argv[1], &length);
  if (munmap((void *)(uintptr_t)addr, (size_t)length) < 0) return make_int(env, -errno);
  /* What create_unaccounted_buffer took back: V8 takes it off again when the buffer is collected. */
  int64_t ignored;
  napi_adjust_external_memory(env, (int64_t)length, &ignored);
  return make_int(env, 0);
}

static napi_value n_madvise(napi_env env, napi_callback_info info) {
  ARGS(3);
  uint64_t addr, length;
  int32_t advice;
  get_u64(env, argv[0], &addr);
  get_u64(env, argv[1], &length);
  CHECK(napi_get_value_int32(env, argv[2], &advice));
  return make_int(env, madvise((void *)(uintptr_t)addr, (size_t)length, advice) < 0 ? -errno : 0);
}

static napi_value n_eventfd(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t initval = 0, flags = 0;
  if (argc > 0) get_i32(env, argv[0], &initval);
  if (argc > 1) get_i32(env, argv[1], &flags);
  int fd = eventfd((unsigned)initval, flags | EFD_CLOEXEC);
  return make_int(env, fd < 0 ? -errno : fd);
}

/* eventfdWrite(fd, value) / eventfdRead(fd) -> value (bigint) or -errno (number). */
static napi_value n_eventfd_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  uint64_t v = 1;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (argc > 1) get_u64(env, argv[1], &v);
  ssize_t r = write(fd, &v, sizeof v);
  return make_int(env, r < 0 ? -errno : 0);
}

static napi_value n_eventfd_read(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  uint64_t v = 0;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  ssize_t r = read(fd, &v, sizeof v);
  if (r < 0) return make_int(env, -errno);
  return make_bigint(env, v);
}

static napi_value n_epoll_create(napi_env env, napi_callback_info info) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  return make_int(env, fd < 0 ? -errno : fd);
}

/* epollCtl(epfd, op, fd, events, data: u32) */
static napi_value n_epoll_ctl(napi_env env, napi_callback_info info) {
  ARGS(5);
  int32_t epfd, op, fd, events = 0;
  uint32_t data = 0;
  CHECK(napi_get_value_int32(env, argv[0], &epfd));
  CHECK(napi_get_value_int32(env, argv[1], &op));
  CHECK(napi_get_value_int32(env, argv[2], &fd));
  if (argc > 3) get_i32(env, argv[3], &events);
  if (argc > 4) napi_get_value_uint32(env, argv[4], &data);
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = (uint32_t)events;
  ev.data.u64 = data;
  return make_int(env, epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0);
}

/*
 * epollWait(epfd, out: Uint32Array, timeoutMs) -> count or -errno.
 * out receives pairs [events, data] for each ready fd; its length / 2 is maxevents.
 * Blocks the calling thread (meant for device threads, never the main thread).
 */
static napi_value n_epoll_wait(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t epfd, timeout;
  void *data;
  size_t len;
  CHECK(napi_get_value_int32(env, argv[0], &epfd));
  if (get_bytes(env, argv[1], &data, &len) < 0) {
    napi_throw_type_error(env, NULL, "epollWait: out must be a Uint32Array");
    return NULL;
  }
  CHECK(napi_get_value_int32(env, argv[2], &timeout));
  int max = (int)(len / 8);
  if (max <= 0) return make_int(env, -EINVAL);
  if (max > 256) max = 256;
  struct epoll_event evs[256];
  int n = epoll_wait(epfd, evs, max, timeout);
  if (n < 0) return make_int(env, -errno);
  uint32_t *o = (uint32_t *)data;
  for (int i = 0; i < n; i++) {
    o[2 * i] = evs[i].events;
    o[2 * i + 1] = (uint32_t)evs[i].data.u64;
  }
  return make_int(env, n);
}

static void kick_handler(int sig) { (void)sig; }

/*
 * installKickSignal(signo): a no-op handler without SA_RESTART, so that a
 * signal sent to a thread blocked in an ioctl (KVM_RUN) makes it return EINTR.
 */
static napi_value n_install_kick_signal(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t sig;
  CHECK(napi_get_value_int32(env, argv[0], &sig));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = kick_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  return make_int(env, sigaction(sig, &sa, NULL) < 0 ? -errno : 0);
}

static napi_value n_sigrtmin(napi_env env, napi_callback_info info) { return make_int(env, SIGRTMIN); }

static napi_value n_gettid(napi_env env, napi_callback_info info) {
  return make_int(env, (int64_t)syscall(SYS_gettid));
}

static napi_value n_tgkill(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t tid, sig;
  CHECK(napi_get_value_int32(env, argv[0], &tid));
  CHECK(napi_get_value_int32(env, argv[1], &sig));
  long r = syscall(SYS_tgkill, getpid(), tid, sig);
  return make_int(env, r < 0 ? -errno : 0);
}

/* Unblocks a signal in the calling thread (workers inherit masks). */
static napi_value n_unblock_signal(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t sig;
  CHECK(napi_get_value_int32(env, argv[0], &sig));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  int r = pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  return make_int(env, r != 0 ? -r : 0);
}

/* fallocate(fd, mode, offset, len) for discard (punch hole) and write-zeroes. */
static napi_value n_fallocate(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t fd, mode;
  uint64_t off, len;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_int32(env, argv[1], &mode));
  get_u64(env, argv[2], &off);
  get_u64(env, argv[3], &len);
  return make_int(env, fallocate(fd, mode, (off_t)off, (off_t)len) < 0 ? -errno : 0);
}

/* read/write/pread/pwrite that report -errno instead of throwing (EAGAIN is routine on taps). */
static napi_value n_read(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  void *data;
  size_t len;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (get_bytes(env, argv[1], &data, &len) < 0) return make_int(env, -EINVAL);
  ssize_t r = read(fd, data, len);
  return make_int(env, r < 0 ? -errno : r);
}

static napi_value n_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  void *data;
  size_t len;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (get_bytes(env, argv[1], &data, &len) < 0) return make_int(env, -EINVAL);
  ssize_t r = write(fd, data, len);
  return make_int(env, r < 0 ? -errno : r);
}

static napi_value n_pread(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd;
  void *data;
  size_t len;
  uint64_t off;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (get_bytes(env, argv[1], &data, &len) < 0) return make_int(env, -EINVAL);
  get_u64(env, argv[2], &off);
  ssize_t r = pread(fd, data, len, (off_t)off);
  return make_int(env, r < 0 ? -errno : r);
}

static napi_value n_pwrite(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd;
  void *data;
  size_t len;
  uint64_t off;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (get_bytes(env, argv[1], &data, &len) < 0) return make_int(env, -EINVAL);
  get_u64(env, argv[2], &off);
  ssize_t r = pwrite(fd, data, len, (off_t)off);
  return make_int(env, r < 0 ? -errno : r);
}

/* timerfd for device threads that need a periodic tick without an event loop. */
static napi_value n_timerfd_create(napi_env env, napi_callback_info info) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  return make_int(env, fd < 0 ? -errno : fd);
}

static napi_value n_timerfd_settime(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd;
  double first_ms, interval_ms;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_double(env, argv[1], &first_ms));
  CHECK(napi_get_value_double(env, argv[2], &interval_ms));
  struct itimerspec its;
  its.it_value.tv_sec = (time_t)(first_ms / 1000);
  its.it_value.tv_nsec = (long)((first_ms - its.it_value.tv_sec * 1000.0) * 1e6);
  its.it_interval.tv_sec = (time_t)(interval_ms / 1000);
  its.it_interval.tv_nsec = (long)((interval_ms - its.it_interval.tv_sec * 1000.0) * 1e6);
  return make_int(env, timerfd_settime(fd, 0, &its, NULL) < 0 ? -errno : 0);
}

/* Unix stream sockets for hybrid vsock and control sockets on device threads (no event loop there). */
static int fill_sockaddr_un(napi_env env, napi_value v, struct sockaddr_un *sa) {
  size_t len;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (napi_get_value_string_utf8(env, v, sa->sun_path, sizeof sa->sun_path, &len) != napi_ok) return -1;
  if (len >= sizeof sa->sun_path - 1) return -1;
  return 0;
}

/* unixListen(path, backlog) -> fd (non-blocking) or -errno */
static napi_value n_unix_listen(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct sockaddr_un sa;
  int32_t backlog = 64;
  if (fill_sockaddr_un(env, argv[0], &sa) < 0) return make_int(env, -ENAMETOOLONG);
  if (argc > 1) get_i32(env, argv[1], &backlog);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_int(env, -errno);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0) {
    int e = errno;
    close(fd);
    return make_int(env, -e);
  }
  return make_int(env, fd);
}

/* unixConnect(path) -> fd (non-blocking, connected) or -errno */
static napi_value n_unix_connect(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct sockaddr_un sa;
  if (fill_sockaddr_un(env, argv[0], &sa) < 0) return make_int(env, -ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_int(env, -errno);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return make_int(env, -e);
  }
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  return make_int(env, fd);
}

/* accept(fd) -> new non-blocking fd or -errno */
static napi_value n_accept(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return make_int(env, c < 0 ? -errno : c);
}

/* shutdown(fd, how) */
static napi_value n_shutdown(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, how;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_int32(env, argv[1], &how));
  return make_int(env, shutdown(fd, how) < 0 ? -errno : 0);
}

/* setNonBlocking(fd, on) */
static napi_value n_set_nonblocking(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  bool on;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_bool(env, argv[1], &on));
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return make_int(env, -errno);
  fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  return make_int(env, fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0);
}

/*
 * Vectored I/O over guest RAM given as ranges: (regions, triples, first, count[, offset]) where `regions` is an array
 * of Uint8Arrays (the guest RAM mappings) and `triples` a Float64Array of (region index, byte offset, length). One
 * typed array for the whole vector instead of one per buffer: a 1 MiB disk request is up to 256 buffers. Every range
 * is checked against its region here too. Returns bytes moved or -errno.
 */
enum ranges_op { RANGES_PREADV, RANGES_PWRITEV, RANGES_WRITEV };

#define RANGES_MAX_REGIONS 8
#define RANGES_MAX_IOV 1024

static ssize_t ranges_io(napi_env env, napi_callback_info info, enum ranges_op op) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < (op == RANGES_WRITEV ? 5 : 6)) return -EINVAL;
  int32_t fd;
  uint32_t nregions, first, count;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) return -EINVAL;
  if (napi_get_array_length(env, argv[1], &nregions) != napi_ok || nregions == 0 || nregions > RANGES_MAX_REGIONS) return -EINVAL;
  uint8_t *region_base[RANGES_MAX_REGIONS];
  size_t region_len[RANGES_MAX_REGIONS];
  for (uint32_t i = 0; i < nregions; i++) {
    napi_value el;
    void *data;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok || get_bytes(env, el, &data, &region_len[i]) < 0) return -EINVAL;
    region_base[i] = data;
  }
  napi_typedarray_type type;
  size_t ntriples_f64;
  void *triples_data;
  napi_value ab;
  size_t ab_offset;
  bool is;
  if (napi_is_typedarray(env, argv[2], &is) != napi_ok || !is) return -EINVAL;
  if (napi_get_typedarray_info(env, argv[2], &type, &ntriples_f64, &triples_data, &ab, &ab_offset) != napi_ok ||
      type != napi_float64_array) return -EINVAL;
  if (napi_get_value_uint32(env, argv[3], &first) != napi_ok || napi_get_value_uint32(env, argv[4], &count) != napi_ok) return -EINVAL;
  if (count == 0 || count > RANGES_MAX_IOV || (size_t)first + count > ntriples_f64 / 3) return -EINVAL;
  uint64_t off = 0;
  if (op != RANGES_WRITEV && get_u64(env, argv[5], &off) < 0) return -EINVAL;
  const double *t = (const double *)triples_data + (size_t)first * 3;
  struct iovec iov[RANGES_MAX_IOV];
  for (uint32_t i = 0; i < count; i++, t += 3) {
    double r = t[0], o = t[1], l = t[2];
    if (!(r >= 0 && r < nregions && o >= 0 && l >= 0 && o + l <= (double)region_len[(uint32_t)r])) return -EFAULT;
    iov[i].iov_base = region_base[(uint32_t)r] + (size_t)o;
    iov[i].iov_len = (size_t)l;
  }
  ssize_t n;
  switch (op) {
    case RANGES_PREADV: n = preadv(fd, iov, (int)count, (off_t)off); break;
    case RANGES_PWRITEV: n = pwritev(fd, iov, (int)count, (off_t)off); break;
    default: n = writev(fd, iov, (int)count); break;
  }
  return n < 0 ? -errno : n;
}

/* preadvRanges(fd, regions, triples, first, count, offset) */
static napi_value n_preadv_ranges(napi_env env, napi_callback_info info) {
  return make_int(env, ranges_io(env, info, RANGES_PREADV));
}

/* pwritevRanges(fd, regions, triples, first, count, offset) */
static napi_value n_pwritev_ranges(napi_env env, napi_callback_info info) {
  return make_int(env, ranges_io(env, info, RANGES_PWRITEV));
}

/* writevRanges(fd, regions, triples, first, count): one packet to a tap from guest buffers. */
static napi_value n_writev_ranges(napi_env env, napi_callback_info info) {
  return make_int(env, ranges_io(env, info, RANGES_WRITEV));
}

static napi_value n_strerror(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t e;
  CHECK(napi_get_value_int32(env, argv[0], &e));
  napi_value s;
  CHECK(napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &s));
  return s;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}
      FN("open", n_open),
      FN("close", n_close),
      FN("ioctl", n_ioctl),
      FN("addressOf", n_address_of),
      FN("mmap", n_mmap),
      FN("bufferAt", n_buffer_at),
      FN("munmap", n_munmap),
      FN("madvise", n_madvise),
      FN("eventfd", n_eventfd),
      FN("eventfdWrite", n_eventfd_write),
      FN("eventfdRead", n_eventfd_read),
      FN("epollCreate", n_epoll_create),
      FN("epollCtl", n_epoll_ctl),
      FN("epollWait", n_epoll_wait),
      FN("installKickSignal", n_install_kick_signal),
      FN("sigrtmin", n_sigrtmin),
      FN("gettid", n_gettid),
      FN("tgkill", n_tgkill),
      FN("unblockSignal", n_unblock_signal),
      FN("fallocate", n_fallocate),
      FN("read", n_read),
      FN("write", n_write),
      FN("pread", n_pread),
      FN("pwrite", n_pwrite),
      FN("timerfdCreate", n_timerfd_create),
      FN("timerfdSettime", n_timerfd_settime),
      FN("unixListen", n_unix_listen),
      FN("unixConnect", n_unix_connect),
      FN("accept", n_accept),
      FN("shutdown", n_shutdown),
      FN("setNonBlocking", n_set_nonblocking),
      FN("preadvRanges", n_preadv_ranges),
      FN("pwritevRanges", n_pwritev_ranges),
      FN("writevRanges", n_writev_ranges),
      FN("strerror", n_strerror),
#undef FN
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
