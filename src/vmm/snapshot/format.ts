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
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { lazyBuiltin } from '../../sys/lazy-builtin.js';

export const SNAPSHOT_MAGIC = Buffer.from('TVSNAP\r\n', 'latin1');
export const SNAPSHOT_VERSION = 1;
export const STATE_FILE = 'state.tvs';
export const MEMORY_FILE = 'memory.bin';
const HEADER_SIZE = 56;

// node:crypto is loaded on first use: `typevisor run` imports the snapshot code but never reads a snapshot.
const crypto = lazyBuiltin<typeof import('node:crypto')>('node:crypto');
function sha256(payload: Uint8Array): Buffer {
  return crypto().createHash('sha256').update(payload).digest();
}

/** Loads and compiles the state codec ahead of a snapshot load (a `typevisor vmm` does this while it waits). */
export function warmUpStateCodec(): void {
  decodeState(encodeState({}));
}

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
  sha256(payload).copy(header, 24);
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
  const digest = sha256(payload);
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
 * Writes guest memory as a sparse file: all-zero chunks become holes (they
 * read back as zeros, also through a MAP_PRIVATE mapping at restore), so a
 * mostly idle guest's snapshot costs what it uses, not what it was given.
 * `extents`, one list per region, names the byte ranges [start, end) of each
 * region that may hold data (GuestRam.dataExtents: the pages the guest
 * touched); the rest is not read at all. Runs of non-zero chunks go out in
 * one write. Returns the bytes actually written.
 */
export function writeSparseFile(path: string, chunks: readonly Uint8Array[], options: { extents?: ReadonlyArray<ReadonlyArray<readonly [number, number]>> } = {}): number {
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
    chunks.forEach((c, index) => {
      for (const [from, to] of options.extents?.[index] ?? [[0, c.length] as const]) {
        let run = -1; // start (in c) of the current run of non-zero chunks
        for (let at = from; at < to; at += SPARSE_CHUNK) {
          const end = Math.min(at + SPARSE_CHUNK, to);
          if (allZero(c.subarray(at, end))) {
            if (run >= 0) flush(c, run, at, offset);
            run = -1;
          } else if (run < 0) run = at;
        }
        if (run >= 0) flush(c, run, to, offset);
      }
      offset += c.length;
    });
    ftruncateSync(fd, offset);
  } finally {
    closeSync(fd);
  }
  return written;
}
