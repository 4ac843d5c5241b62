import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../memory/guest-memory.js';
import { guestRamRanges } from '../arch/x86_64/memory-map.js';
import { MiB } from '../arch/x86_64/layout.js';
import { KernelLoadError, loadKernel } from './loader.js';
import { syntheticBzImage, syntheticElf } from './synthetic-kernels.js';

/** Deterministic xorshift32 so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function mutate(image: Uint8Array, random: () => number, hotRange: number): Uint8Array {
  const out = image.slice(0, random() < 0.2 ? Math.floor(random() * image.length) : image.length);
  const flips = 1 + Math.floor(random() * 8);
  for (let i = 0; i < flips && out.length > 0; i++) {
    const at = Math.floor(random() * Math.min(out.length, hotRange));
    out[at] = random() < 0.5 ? Math.floor(random() * 256) : [0, 0xff, 0x7f, 0x80][Math.floor(random() * 4)]!;
  }
  return out;
}

const memory = RegionGuestMemory.anonymous(48 * MiB);
const ramRanges = guestRamRanges(48 * MiB);

function tryLoad(kernel: Uint8Array, seed: number): void {
  try {
    loadKernel({ kernel, kernelPath: 'fuzz', cmdline: 'console=ttyS0', memory, ramRanges, initrd: new Uint8Array(8192) });
  } catch (error) {
    assert.ok(error instanceof KernelLoadError, `seed ${seed}: ${String(error)}`);
  }
}

test('mutated bzImages either load or fail with KernelLoadError', () => {
  const base = syntheticBzImage({ protectedModeSize: 8192, initSize: 1 * MiB });
  for (let seed = 1; seed <= 1500; seed++) tryLoad(mutate(base, rng(seed), 0x280), seed);
});

test('mutated ELF kernels either load or fail with KernelLoadError', () => {
  const base = syntheticElf({
    entry: 0x1000000,
    pvhEntry: 0x1000010,
    segments: [
      { paddr: 0x1000000, data: new Uint8Array(512).fill(1) },
      { paddr: 0x1200000, data: new Uint8Array(256).fill(2), memSize: 4096 },
    ],
  });
  for (let seed = 1; seed <= 1500; seed++) tryLoad(mutate(base, rng(seed), base.length), seed);
});
