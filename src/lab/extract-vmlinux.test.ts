import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './artifacts.js';

/** Setup-header fields the script reads (Linux x86 boot protocol, Documentation/arch/x86/boot.rst). */
const BootHeader = {
  setupSects: 0x1f1,
  magic: 0x202,
  version: 0x206,
  payloadOffset: 0x248,
  payloadLength: 0x24c,
} as const;
const SECTOR = 512;
const SETUP_SECTS = 1;
const PAYLOAD_OFFSET = 0x100;

/** A minimal bzImage: a setup header pointing at `compressed` plus the 4-byte size the kernel build appends. */
function fakeBzImage(compressed: Buffer, uncompressedSize: number, version = 0x20f): Buffer {
  const start = (SETUP_SECTS + 1) * SECTOR + PAYLOAD_OFFSET;
  const size = Buffer.alloc(4);
  size.writeUInt32LE(uncompressedSize);
  const payload = Buffer.concat([compressed, size]);
  const image = Buffer.alloc(start + payload.length + 64);
  image.writeUInt8(SETUP_SECTS, BootHeader.setupSects);
  image.write('HdrS', BootHeader.magic, 'latin1');
  image.writeUInt16LE(version, BootHeader.version);
  image.writeUInt32LE(PAYLOAD_OFFSET, BootHeader.payloadOffset);
  image.writeUInt32LE(payload.length, BootHeader.payloadLength);
  payload.copy(image, start);
  return image;
}

function extract(image: Buffer): { status: number | null; stderr: string; out: Buffer | undefined } {
  const dir = mkdtempSync(join(tmpdir(), 'extract-vmlinux-'));
  try {
    writeFileSync(join(dir, 'bzImage'), image);
    const run = spawnSync('bash', [join(repoRoot(), 'scripts/extract-vmlinux.sh'), join(dir, 'bzImage'), join(dir, 'vmlinux')], { encoding: 'utf8' });
    let out: Buffer | undefined;
    try {
      out = readFileSync(join(dir, 'vmlinux'));
    } catch {
      out = undefined;
    }
    return { status: run.status, stderr: run.stderr, out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), randomBytes(8192)]);

for (const [name, command] of [
  ['xz', ['xz', '-c', '--check=crc32']],
  ['zstd', ['zstd', '-c', '-q']],
  ['gzip', ['gzip', '-c']],
] as const) {
  test(`extract-vmlinux: ${name} payload located through the boot header and decompressed`, () => {
    const compressed = execFileSync(command[0], command.slice(1), { input: elf });
    const result = extract(fakeBzImage(compressed, elf.length));
    assert.equal(result.status, 0, result.stderr);
    assert.ok(result.out?.equals(elf), 'the extracted kernel is the original');
  });
}

test('extract-vmlinux: refuses non-bzImages, old protocols, bad payload bounds and non-ELF payloads', () => {
  const compressed = execFileSync('gzip', ['-c'], { input: elf });
  const noMagic = fakeBzImage(compressed, elf.length);
  noMagic.write('XXXX', BootHeader.magic, 'latin1');
  assert.match(extract(noMagic).stderr, /not a bzImage/);
  assert.match(extract(fakeBzImage(compressed, elf.length, 0x207)).stderr, /boot protocol 0x207/);
  const outOfBounds = fakeBzImage(compressed, elf.length);
  outOfBounds.writeUInt32LE(0x7fffffff, BootHeader.payloadLength);
  assert.match(extract(outOfBounds).stderr, /lies outside/);
  const unknown = fakeBzImage(Buffer.from('plain text, not compressed'), 10);
  assert.match(extract(unknown).stderr, /unknown payload compression/);
  const notElf = fakeBzImage(execFileSync('gzip', ['-c'], { input: Buffer.from('not an ELF file') }), 15);
  const result = extract(notElf);
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /not an ELF file/);
  assert.equal(result.out, undefined, 'no output left behind');
});
