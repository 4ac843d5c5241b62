import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { buildTestGuest } from './build.js';

/** ELF64 header and program header fields we check (System V ABI, ELF-64 Object File Format 1.5). */
const Elf = {
  MAGIC: 0x464c457f,
  CLASS_64: 2,
  DATA_LSB: 1,
  ET_EXEC: 2,
  EM_X86_64: 62,
  PT_LOAD: 1,
  PT_NOTE: 4,
  header: { ident_class: 4, ident_data: 5, type: 16, machine: 18, entry: 24, phoff: 32, phentsize: 54, phnum: 56 },
  phdr: { type: 0, flags: 4, offset: 8, vaddr: 16, paddr: 24, filesz: 32, memsz: 40 },
} as const;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const HIGH_RAM_START = 0x100000;
const CLI = 0xfa;

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

function parse(elf: Buffer) {
  const h = Elf.header;
  const segments: Segment[] = [];
  const phoff = Number(elf.readBigUInt64LE(h.phoff));
  for (let i = 0; i < elf.readUInt16LE(h.phnum); i++) {
    const p = phoff + i * elf.readUInt16LE(h.phentsize);
    segments.push({
      type: elf.readUInt32LE(p + Elf.phdr.type),
      offset: Number(elf.readBigUInt64LE(p + Elf.phdr.offset)),
      vaddr: Number(elf.readBigUInt64LE(p + Elf.phdr.vaddr)),
      paddr: Number(elf.readBigUInt64LE(p + Elf.phdr.paddr)),
      filesz: Number(elf.readBigUInt64LE(p + Elf.phdr.filesz)),
      memsz: Number(elf.readBigUInt64LE(p + Elf.phdr.memsz)),
    });
  }
  return { entry: Number(elf.readBigUInt64LE(h.entry)), segments };
}

/** The byte at a physical address, from the PT_LOAD segment holding it. */
function byteAt(elf: Buffer, segments: Segment[], address: number): number {
  const s = segments.find((x) => x.type === Elf.PT_LOAD && address >= x.paddr && address < x.paddr + x.filesz);
  assert.ok(s, `0x${address.toString(16)} is not in a loaded segment`);
  return elf[s.offset + address - s.paddr]!;
}

test('the test guest builds into an x86-64 ELF64 executable linked at 1 MiB', { timeout: 120_000 }, async () => {
  const path = await buildTestGuest();
  const elf = await readFile(path);
  assert.equal(elf.readUInt32LE(0), Elf.MAGIC);
  assert.equal(elf[Elf.header.ident_class], Elf.CLASS_64);
  assert.equal(elf[Elf.header.ident_data], Elf.DATA_LSB);
  assert.equal(elf.readUInt16LE(Elf.header.type), Elf.ET_EXEC);
  assert.equal(elf.readUInt16LE(Elf.header.machine), Elf.EM_X86_64);
  const { entry, segments } = parse(elf);
  const loads = segments.filter((s) => s.type === Elf.PT_LOAD);
  assert.ok(loads.length >= 1);
  for (const s of loads) {
    assert.equal(s.paddr, s.vaddr, 'identity-linked');
    assert.ok(s.paddr >= HIGH_RAM_START, `segment at 0x${s.paddr.toString(16)} below 1 MiB`);
    assert.ok(s.paddr + s.memsz < 16 * 1024 * 1024, 'fits the minimum guest RAM');
    assert.ok(s.memsz >= s.filesz);
  }
  assert.equal(entry, HIGH_RAM_START, 'the 64-bit entry is the first byte of the image');
  assert.equal(byteAt(elf, segments, entry), CLI, '64-bit entry starts with cli');
});

test('the guest carries a PVH entry note pointing at 32-bit code in the image', { timeout: 120_000 }, async () => {
  const elf = await readFile(await buildTestGuest());
  const { segments } = parse(elf);
  const notes = segments.filter((s) => s.type === Elf.PT_NOTE);
  assert.equal(notes.length, 1);
  const note = notes[0]!;
  let pvhEntry: number | undefined;
  for (let p = note.offset; p < note.offset + note.filesz; ) {
    const namesz = elf.readUInt32LE(p);
    const descsz = elf.readUInt32LE(p + 4);
    const type = elf.readUInt32LE(p + 8);
    const name = elf.subarray(p + 12, p + 12 + namesz - 1).toString('latin1');
    const desc = p + 12 + Math.ceil(namesz / 4) * 4;
    if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) {
      pvhEntry = descsz === 8 ? Number(elf.readBigUInt64LE(desc)) : elf.readUInt32LE(desc);
    }
    p = desc + Math.ceil(descsz / 4) * 4;
  }
  assert.ok(pvhEntry !== undefined, 'XEN_ELFNOTE_PHYS32_ENTRY present');
  assert.ok(pvhEntry < 2 ** 32, 'a 32-bit entry');
  assert.equal(byteAt(elf, segments, pvhEntry), CLI, 'PVH entry starts with cli');
});

test('builds are cached by source hash', { timeout: 120_000 }, async () => {
  const first = await buildTestGuest();
  const started = Date.now();
  const second = await buildTestGuest();
  assert.equal(second, first);
  assert.ok(Date.now() - started < 1000);
  assert.match(first, /\.cache\/test-guest\/[0-9a-f]{16}\/guest\.elf$/);
});

test('addresses hard-coded in the guest sources agree with src/arch/x86_64/layout.ts', async () => {
  const layout = await import('../../src/arch/x86_64/layout.js');
  const { TEST_GUEST_SOURCE_DIR } = await import('./build.js');
  const defines = new Map<string, number>();
  for (const file of ['entry.S', 'smp.c', 'linux64-shim.c']) {
    const text = await readFile(`${TEST_GUEST_SOURCE_DIR}/${file}`, 'utf8');
    for (const m of text.matchAll(/^#define (\w+) (0x[0-9a-f]+)\b/gm)) {
      const value = Number(m[2]);
      const seen = defines.get(m[1]!);
      assert.ok(seen === undefined || seen === value, `${m[1]} differs between files`);
      defines.set(m[1]!, value);
    }
  }
  const expected: Record<string, number> = {
    AP_TRAMPOLINE_BASE: layout.TEST_GUEST_AP_TRAMPOLINE_START,
    ZERO_PAGE_START: layout.ZERO_PAGE_START,
    CMDLINE_START: layout.CMDLINE_START,
    PML4_START: layout.PML4_START,
    PDPTE_START: layout.PDPTE_START,
    PDE_START: layout.PDE_START,
    BOOT_STACK_POINTER: layout.BOOT_STACK_POINTER,
  };
  for (const [name, value] of Object.entries(expected)) {
    assert.equal(defines.get(name), value, `${name} in test/guest`);
  }
});
