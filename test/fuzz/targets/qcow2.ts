/**
 * Fuzz target: qcow2 images from an untrusted source (uploads, old VMs).
 * A valid image is mutated (header fields, L1/L2/refcount entries, bytes,
 * truncation), then opened and driven with random I/O. Property: every
 * failure is a clear, typed disk error (Qcow2FormatError, DiskRangeError or a
 * message naming the image); never a TypeError/RangeError, a hang, or a
 * crash.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createQcow2, openDisk } from '../../../src/block/open.js';
import { QCOW2_HEADER } from '../../../src/block/qcow2-format.js';
import { FuzzPropertyError, type FuzzRandom, type FuzzTarget } from '../harness.js';

// tmpfs when available: every iteration writes an image and fdatasyncs it.
const dir = fs.mkdtempSync(join(fs.existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'typevisor-fuzz-qcow2-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const workPath = join(dir, 'work.qcow2');

/** Valid images to start from: small clusters (many tables) and the default 64 KiB. */
const bases: Uint8Array[] = [9, 12, 16].map((clusterBits) => {
  const path = join(dir, `base-${clusterBits}.qcow2`);
  createQcow2(path, { sizeBytes: 4 << 20, clusterBits });
  const disk = openDisk(path, { readonly: false });
  for (const at of [0, 70_000, 1 << 20, (4 << 20) - 4096]) disk.write(at, new Uint8Array(4096).fill(at & 0xff));
  disk.close();
  return new Uint8Array(fs.readFileSync(path));
});

function isClearDiskError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'Qcow2FormatError' || error.name === 'DiskRangeError') return true;
  return /^(qcow2 image|cannot open disk image|disk image|backing chain)/.test(error.message);
}

const HEADER_FIELDS: Array<[number, 4 | 8]> = [
  [QCOW2_HEADER.version, 4], [QCOW2_HEADER.backingFileOffset, 8], [QCOW2_HEADER.backingFileSize, 4],
  [QCOW2_HEADER.clusterBits, 4], [QCOW2_HEADER.size, 8], [QCOW2_HEADER.cryptMethod, 4], [QCOW2_HEADER.l1Size, 4],
  [QCOW2_HEADER.l1TableOffset, 8], [QCOW2_HEADER.refcountTableOffset, 8], [QCOW2_HEADER.refcountTableClusters, 4],
  [QCOW2_HEADER.nbSnapshots, 4], [QCOW2_HEADER.incompatibleFeatures, 8], [QCOW2_HEADER.autoclearFeatures, 8],
  [QCOW2_HEADER.refcountOrder, 4], [QCOW2_HEADER.headerLength, 4],
];

function mutate(random: FuzzRandom, image: Uint8Array): Uint8Array {
  let bytes = image.slice();
  const view = new DataView(bytes.buffer);
  for (let n = 1 + random.int(4); n > 0; n--) {
    switch (random.int(5)) {
      case 0: {
        const [offset, width] = random.pick(HEADER_FIELDS);
        if (width === 4) view.setUint32(offset, random.interestingU32(), false);
        else view.setBigUint64(offset, BigInt(random.interestingU32()) << BigInt(random.pick([0, 9, 16, 32])), false);
        break;
      }
      case 1: {
        // A table entry somewhere in the metadata (8-byte aligned), set to an interesting offset.
        const at = random.int(Math.floor(Math.min(bytes.length, 1 << 20) / 8)) * 8;
        view.setBigUint64(at, (BigInt(random.interestingU32()) << BigInt(random.pick([0, 9, 16]))) | (random.chance(0.5) ? 1n << 63n : 0n), false);
        break;
      }
      case 2:
        for (let k = random.int(16); k >= 0; k--) bytes[random.int(bytes.length)] = random.u32() & 0xff;
        break;
      case 3:
        bytes = bytes.slice(0, random.int(bytes.length));
        return bytes;
      default:
        bytes[random.int(Math.min(bytes.length, 512))] ^= 1 << random.int(8);
    }
  }
  return bytes;
}

export const target: FuzzTarget = {
  name: 'qcow2',
  description: 'mutated qcow2 images (header, tables, truncation) opened and driven with random I/O',
  run(random: FuzzRandom): void {
    fs.writeFileSync(workPath, mutate(random, random.pick(bases)));
    const started = Date.now();
    let disk;
    try {
      disk = openDisk(workPath, { readonly: random.chance(0.3), format: 'qcow2' });
    } catch (error) {
      if (isClearDiskError(error)) return;
      throw new FuzzPropertyError(`open failed with an unclear error: ${(error as Error).stack ?? String(error)}`);
    }
    let closeFailure: Error | undefined;
    try {
      const size = disk.sizeBytes;
      for (let n = 0; n < 8; n++) {
        const length = Math.min(random.int(3) * 65536 + random.int(70_000), 1 << 20);
        const offset = random.chance(0.9) ? random.int(Math.max(1, size - length)) : random.interestingU32();
        const buffer = new Uint8Array(length);
        try {
          switch (random.int(5)) {
            case 0: case 1: disk.read(offset, buffer); break;
            case 2: disk.write(offset, buffer.fill(0x5a)); break;
            case 3: disk.writeZeroes(offset, length, random.chance(0.5)); break;
            default: disk.discard(offset, length);
          }
          if (random.chance(0.2)) disk.flush();
        } catch (error) {
          if (!isClearDiskError(error)) throw new FuzzPropertyError(`I/O failed with an unclear error: ${(error as Error).stack ?? String(error)}`);
        }
      }
    } finally {
      try {
        disk.close();
      } catch (error) {
        // Recorded, not thrown here: a throw in `finally` would hide the iteration's own failure.
        if (!isClearDiskError(error)) closeFailure = new FuzzPropertyError(`close failed with an unclear error: ${(error as Error).stack ?? String(error)}`);
      }
    }
    if (closeFailure) throw closeFailure;
    if (Date.now() - started > 5000) throw new FuzzPropertyError('one image took more than 5 s');
  },
};
