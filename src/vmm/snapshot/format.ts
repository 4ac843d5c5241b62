/**
 * The snapshot file format (issue 4): a directory holding
 *
 *   state.tvs    header + JSON state of vCPUs, irqchip, PIT, clock and devices
 *   memory.bin   guest RAM, the ranges back to back (mapped private at restore)
 *
 * state.tvs layout (little-endian):
 *   0  magic "TVSNAP\r\n" (8 bytes; the CR LF catches text-mode mangling)
 *   8  format version u32
 *  12  reserved u32 (0)
 *  16  payload length u64
 *  24  SHA-256 of the payload (32 bytes)
 *  56  payload: UTF-8 JSON (SnapshotStateV1)
 *
 * Writing is atomic: everything goes to a temporary sibling directory that is
 * renamed to the final name only when complete and fsynced.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ENXIO, native, SEEK_DATA, SEEK_HOLE } from '../../sys/native.js';

export const SNAPSHOT_MAGIC = Buffer.from('TVSNAP\r\n', 'latin1');
export const SNAPSHOT_VERSION = 1;
export const STATE_FILE = 'state.tvs';
export const MEMORY_FILE = 'memory.bin';
const HEADER_SIZE = 56;

export class SnapshotFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotFormatError';
  }
}

export function encodeState(state: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(state), 'utf8');
  const header = Buffer.alloc(HEADER_SIZE);
  SNAPSHOT_MAGIC.copy(header, 0);
  header.writeUInt32LE(SNAPSHOT_VERSION, 8);
  header.writeBigUInt64LE(BigInt(payload.length), 16);
  createHash('sha256').update(payload).digest().copy(header, 24);
  return Buffer.concat([header, payload]);
}

export function decodeState(bytes: Buffer, where = STATE_FILE): unknown {
  if (bytes.length < HEADER_SIZE) throw new SnapshotFormatError(`${where} is truncated (${bytes.length} bytes, header needs ${HEADER_SIZE})`);
  if (!bytes.subarray(0, 8).equals(SNAPSHOT_MAGIC)) throw new SnapshotFormatError(`${where} is not a typevisor snapshot (bad magic)`);
  const version = bytes.readUInt32LE(8);
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotFormatError(`${where} has snapshot format version ${version}; this typevisor reads version ${SNAPSHOT_VERSION}`);
  }
  const length = Number(bytes.readBigUInt64LE(16));
  if (bytes.length !== HEADER_SIZE + length) {
    throw new SnapshotFormatError(`${where} is truncated or has trailing bytes (payload ${bytes.length - HEADER_SIZE} of ${length} bytes)`);
  }
  const payload = bytes.subarray(HEADER_SIZE);
  const digest = createHash('sha256').update(payload).digest();
  if (!digest.equals(bytes.subarray(24, 56))) throw new SnapshotFormatError(`${where} is corrupted (checksum mismatch)`);
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch (e) {
    throw new SnapshotFormatError(`${where} holds invalid JSON: ${(e as Error).message}`);
  }
}

export function readStateFile(dir: string): unknown {
  const path = join(dir, STATE_FILE);
  if (!existsSync(dir)) throw new SnapshotFormatError(`snapshot ${dir} does not exist`);
  if (!existsSync(path)) throw new SnapshotFormatError(`snapshot ${dir} has no ${STATE_FILE}`);
  return decodeState(readFileSync(path), path);
}

/**
 * Creates `finalDir` atomically: `fill(tmpDir)` writes the files, which are
 * fsynced, then the directory is renamed. On failure nothing is left behind.
 */
export async function writeSnapshotDir(finalDir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  if (existsSync(finalDir)) throw new SnapshotFormatError(`snapshot ${finalDir} already exists`);
  const parent = dirname(finalDir);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) throw new SnapshotFormatError(`directory ${parent} does not exist`);
  const tmp = join(parent, `.${basename(finalDir)}.partial-${process.pid}-${Date.now()}`);
  mkdirSync(tmp);
  try {
    await fill(tmp);
    for (const f of [STATE_FILE, MEMORY_FILE]) {
      const fd = openSync(join(tmp, f), 'r');
      fsyncSync(fd);
      closeSync(fd);
    }
    renameSync(tmp, finalDir);
    const dfd = openSync(parent, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export function writeFileFully(path: string, chunks: Iterable<Uint8Array>): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += writeSync(fd, c, off, c.length - off);
    }
  } finally {
    closeSync(fd);
  }
}

/** Granule for skipping zero memory: large enough to keep writes few, small enough to find holes. */
const SPARSE_CHUNK = 64 * 1024;
const ZERO_CHUNK = Buffer.alloc(SPARSE_CHUNK);

/** memcmp against zeros (Buffer#equals is native), not a loop over the bytes in JavaScript. */
function allZero(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).equals(ZERO_CHUNK.subarray(0, bytes.length));
}

/**
 * The byte ranges [start, end) of `fd` between `from` and `to` that hold data, from SEEK_DATA / SEEK_HOLE
 * (lseek(2)): in a memfd, pages the guest never touched are holes and are skipped without reading them
 * (reading them through the mapping would allocate them). Without the addon's lseek, the whole range.
 */
function dataExtents(fd: number | undefined, from: number, to: number): Array<[number, number]> {
  const lseek = fd === undefined ? undefined : native().lseek;
  if (fd === undefined || !lseek) return [[from, to]];
  const out: Array<[number, number]> = [];
  let at = from;
  while (at < to) {
    const data = lseek(fd, at, SEEK_DATA);
    if (data === -ENXIO) break; // only a hole from here to the end of the file
    if (data < 0) return [[from, to]]; // this file system cannot tell: treat everything as data
    if (data >= to) break;
    const hole = lseek(fd, data, SEEK_HOLE);
    const end = hole < 0 ? to : Math.min(hole, to);
    out.push([data, end]);
    at = end;
  }
  return out;
}

/**
 * Writes guest memory as a sparse file: all-zero chunks become holes (they
 * read back as zeros, also through a MAP_PRIVATE mapping at restore), so a
 * mostly idle guest's snapshot costs what it uses, not what it was given.
 * `backingFd`, when the chunks are the mapping of a file holding them back to
 * back from offset 0 (guest RAM's memfd), lets the holes of that file be
 * skipped without reading them. Runs of non-zero chunks go out in one write.
 * Returns the bytes actually written.
 */
export function writeSparseFile(path: string, chunks: Iterable<Uint8Array>, options: { backingFd?: number } = {}): number {
  const fd = openSync(path, 'w', 0o600);
  let offset = 0;
  let written = 0;
  const flush = (c: Uint8Array, start: number, end: number, base: number): void => {
    let done = 0;
    const part = c.subarray(start, end);
    while (done < part.length) done += writeSync(fd, part, done, part.length - done, base + start + done);
    written += part.length;
  };
  try {
    for (const c of chunks) {
      for (const [from, to] of dataExtents(options.backingFd, offset, offset + c.length)) {
        let run = -1; // start (in c) of the current run of non-zero chunks
        for (let at = from - offset; at < to - offset; at += SPARSE_CHUNK) {
          const end = Math.min(at + SPARSE_CHUNK, to - offset);
          if (allZero(c.subarray(at, end))) {
            if (run >= 0) flush(c, run, at, offset);
            run = -1;
          } else if (run < 0) run = at;
        }
        if (run >= 0) flush(c, run, to - offset, offset);
      }
      offset += c.length;
    }
    ftruncateSync(fd, offset);
  } finally {
    closeSync(fd);
  }
  return written;
}
