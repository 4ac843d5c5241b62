/**
 * Typed view of the native addon (native/typevisor_native.c).
 *
 * The addon reports failures as a negative errno; `check()` turns those into
 * SysError so callers never compare magic numbers.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SysError } from './errors.js';

export interface MmapResult {
  readonly address: bigint;
  readonly buffer: ArrayBuffer;
}

export interface NativeAddon {
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): number;
  ioctl(fd: number, request: number | bigint, arg?: ArrayBufferView | ArrayBuffer | number | bigint): number;
  addressOf(buffer: ArrayBufferView | ArrayBuffer): bigint;
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): MmapResult | number;
  bufferAt(address: bigint, length: number): ArrayBuffer;
  munmap(address: bigint, length: number): number;
  madvise(address: bigint, length: number, advice: number): number;
  eventfd(initval: number, flags: number): number;
  eventfdWrite(fd: number, value?: number | bigint): number;
  eventfdRead(fd: number): bigint | number;
  epollCreate(): number;
  epollCtl(epfd: number, op: number, fd: number, events: number, data: number): number;
  epollWait(epfd: number, out: Uint32Array, timeoutMs: number): number;
  installKickSignal(signo: number): number;
  sigrtmin(): number;
  gettid(): number;
  tgkill(tid: number, signo: number): number;
  unblockSignal(signo: number): number;
  fallocate(fd: number, mode: number, offset: number, length: number): number;
  read(fd: number, buffer: ArrayBufferView): number;
  write(fd: number, buffer: ArrayBufferView): number;
  pread(fd: number, buffer: ArrayBufferView, offset: number): number;
  pwrite(fd: number, buffer: ArrayBufferView, offset: number): number;
  timerfdCreate(): number;
  timerfdSettime(fd: number, firstMs: number, intervalMs: number): number;
  unixListen(path: string, backlog?: number): number;
  unixConnect(path: string): number;
  accept(fd: number): number;
  shutdown(fd: number, how: number): number;
  setNonBlocking(fd: number, on: boolean): number;
  /**
   * preadv(2)/pwritev(2)/writev(2) over ranges of `regions` (guest RAM mappings): `triples` holds (region index,
   * byte offset, length) for each buffer, and the call takes `count` (1..1024) of them from index `first`. The
   * addon checks every range against its region. Bytes moved, or -errno (-EFAULT for a range outside its region).
   */
  preadvRanges(fd: number, regions: readonly Uint8Array[], triples: Float64Array, first: number, count: number, offset: number): number;
  pwritevRanges(fd: number, regions: readonly Uint8Array[], triples: Float64Array, first: number, count: number, offset: number): number;
  writevRanges(fd: number, regions: readonly Uint8Array[], triples: Float64Array, first: number, count: number): number;
  strerror(errno: number): string;
}

function locateAddon(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // Works from src/sys (tsx) and from dist/src/sys (compiled).
  for (const up of ['../..', '../../..']) {
    const candidate = join(here, up, 'native/build/Release/typevisor_native.node');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    'typevisor native addon not built: run `npm install` (or `npx node-gyp rebuild --directory native`)',
  );
}

let cached: NativeAddon | undefined;

/** The addon, loaded on first use so that pure code paths never need it. */
export function native(): NativeAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    cached = require(locateAddon()) as NativeAddon;
  }
  return cached;
}

/** Throws SysError for a negative-errno result; returns the value otherwise. */
export function check(result: number, what: string): number {
  if (result < 0) throw new SysError(-result, what);
  return result;
}

// Constants from Linux uapi headers (asm-generic; x86_64).
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
/** Linux's limit on buffers in one readv/writev/preadv/pwritev (UIO_MAXIOV; the addon's ranges calls too). */
export const IOV_MAX = 1024;
/** errno values the VMM acts on (asm-generic/errno-base.h). */
export const EINTR = 4;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MADV_DONTNEED = 4;
export const MADV_REMOVE = 9;
export const MADV_DONTFORK = 10;
export const MADV_MERGEABLE = 12;
export const MADV_HUGEPAGE = 14;
export const EFD_NONBLOCK = 0o4000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
/** Edge-triggered (epoll(7)); bit 31, so combine as `(EPOLLIN | EPOLLET) >>> 0`. */
export const EPOLLET = 0x80000000;
export const SEEK_SET = 0;
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;
