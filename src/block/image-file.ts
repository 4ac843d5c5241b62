/**
 * One open image file: positioned, complete reads and writes, fdatasync and
 * fallocate. Synchronous on purpose (device threads have no event loop);
 * node:fs *Sync calls work on worker threads.
 */
import * as fs from 'node:fs';
import type { DiskFileIdentity } from '../devices/virtio/block/backend.js';
import type { GuestIoRanges } from '../memory/io-ranges.js';
import { EINTR, IOV_MAX, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, native } from '../sys/native.js';

/** _IOR(0x12, 114, size_t) from linux/fs.h: a block device's size in bytes. */
const BLKGETSIZE64 = 0x80081272;

export class ImageFile {
  private fd: number;
  readonly path: string;
  readonly writable: boolean;
  /** Cleared after the first EOPNOTSUPP so we stop asking the filesystem. */
  private fallocateWorks = true;

  private constructor(path: string, fd: number, writable: boolean) {
    this.path = path;
    this.fd = fd;
    this.writable = writable;
  }

  static open(path: string, writable: boolean): ImageFile {
    let fd: number;
    try {
      fd = fs.openSync(path, writable ? 'r+' : 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(`cannot open disk image ${path} ${writable ? 'read-write' : 'read-only'}: ${code}`);
    }
    const st = fs.fstatSync(fd);
    if (!st.isFile() && !st.isBlockDevice()) {
      fs.closeSync(fd);
      throw new Error(`disk image ${path} is neither a regular file nor a block device`);
    }
    return new ImageFile(path, fd, writable);
  }

  /** Length in bytes; block devices report 0 in st_size, so ask the kernel (BLKGETSIZE64). */
  size(): number {
    const st = fs.fstatSync(this.liveFd());
    if (!st.isBlockDevice()) return st.size;
    const out = new BigUint64Array(1);
    const r = native().ioctl(this.liveFd(), BLKGETSIZE64, out);
    if (r < 0) throw new Error(`cannot read the size of block device ${this.path}: ${native().strerror(-r)}`);
    return Number(out[0]);
  }

  identity(): DiskFileIdentity {
    const st = fs.fstatSync(this.liveFd());
    return { path: this.path, size: st.size, mtimeMs: st.mtimeMs, inode: st.ino };
  }

  /**
   * Reads exactly `into.length` bytes; bytes past the end of the file read as zero. Through the addon's
   * pread rather than fs.readSync: this runs once per guest buffer of every request on the device thread,
   * and the addon call skips fs's argument checks and request objects.
   */
  readAt(offset: number, into: Uint8Array): void {
    let done = 0;
    while (done < into.length) {
      const n = native().pread(this.liveFd(), done === 0 ? into : into.subarray(done), offset + done);
      if (n === -EINTR) continue;
      if (n < 0) throw new Error(`read of ${this.path} at ${offset + done} failed: ${native().strerror(-n)}`);
      if (n === 0) {
        into.fill(0, done);
        return;
      }
      done += n;
    }
  }

  writeAt(offset: number, from: Uint8Array): void {
    let done = 0;
    while (done < from.length) {
      const n = native().pwrite(this.liveFd(), done === 0 ? from : from.subarray(done), offset + done);
      if (n === -EINTR) continue;
      if (n <= 0) throw new Error(`write to ${this.path} at ${offset + done} failed: ${n === 0 ? 'no progress' : native().strerror(-n)}`);
      done += n;
    }
  }

  /**
   * Reads into the guest buffers of `into` one after another from `offset`, as readAt would buffer by buffer, in
   * as few preadv calls as the buffers allow (1024 per call). Bytes past the end of the file read as zero.
   * Consumes `into`.
   */
  readvAt(offset: number, into: GuestIoRanges): void {
    this.vectored(offset, into, false);
  }

  /** Writes the guest buffers of `from` one after another from `offset` with pwritev (see readvAt). Consumes `from`. */
  writevAt(offset: number, from: GuestIoRanges): void {
    this.vectored(offset, from, true);
  }

  private vectored(offset: number, ranges: GuestIoRanges, write: boolean): void {
    let at = offset;
    while (ranges.count > 0) {
      const count = Math.min(ranges.count, IOV_MAX);
      const n = write
        ? native().pwritevRanges(this.liveFd(), ranges.regionBytes, ranges.triples, 0, count, at)
        : native().preadvRanges(this.liveFd(), ranges.regionBytes, ranges.triples, 0, count, at);
      if (n === -EINTR) continue;
      if (n < 0) throw new Error(`${write ? 'write to' : 'read of'} ${this.path} at ${at} failed: ${native().strerror(-n)}`);
      if (n === 0) {
        if (write) throw new Error(`write to ${this.path} at ${at} failed: no progress`);
        for (const view of ranges.views()) view.fill(0);
        ranges.clear();
        return;
      }
      // A short transfer (a signal, the file end, a full disk) or a batch of 1024 done: go on from there.
      at += n;
      ranges.consume(n);
    }
  }

  /** fdatasync: returns once written data (and the metadata needed to read it) is on stable storage. */
  datasync(): void {
    fs.fdatasyncSync(this.liveFd());
  }

  truncate(length: number): void {
    fs.ftruncateSync(this.liveFd(), length);
  }

  /** Deallocates the range (reads return zeroes afterwards); false when the filesystem cannot. */
  punchHole(offset: number, length: number): boolean {
    return this.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
  }

  /** Zeroes the range; unmap=true punches a hole, otherwise ZERO_RANGE keeps the blocks allocated. */
  zeroRange(offset: number, length: number, unmap: boolean): void {
    const mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (this.fallocate(mode, offset, length)) return;
    if (unmap && this.fallocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length)) return;
    // Fallback: write zeroes in bounded chunks.
    const chunk = new Uint8Array(Math.min(length, 1 << 20));
    for (let done = 0; done < length; done += chunk.length) {
      this.writeAt(offset + done, chunk.subarray(0, Math.min(chunk.length, length - done)));
    }
  }

  private fallocate(mode: number, offset: number, length: number): boolean {
    if (!this.fallocateWorks || length === 0) return false;
    const r = native().fallocate(this.liveFd(), mode, offset, length);
    if (r === 0) return true;
    // EOPNOTSUPP (95) / ENOSYS (38): the filesystem cannot; remember and fall back.
    if (r === -95 || r === -38) {
      this.fallocateWorks = false;
      return false;
    }
    if (r === -22) return false; // EINVAL: this mode/range is not supported here.
    throw new Error(`fallocate on ${this.path} failed: ${native().strerror(-r)}`);
  }

  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }

  private liveFd(): number {
    if (this.fd < 0) throw new Error(`disk image ${this.path} is closed`);
    return this.fd;
  }
}
