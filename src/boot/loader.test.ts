import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegionGuestMemory } from '../memory/guest-memory.js';
import { guestRamRanges } from '../arch/x86_64/memory-map.js';
import { BOOT_GDT_START, CMDLINE_START, MiB, PML4_START, PVH_MEMMAP_START, PVH_MODLIST_START, ZERO_PAGE_START } from '../arch/x86_64/layout.js';
import { translateIdentity } from '../arch/x86_64/page-tables.js';
import { getField } from '../arch/x86_64/byte-layout.js';
import { BootParams, SetupHeader } from './boot-params.js';
import { readE820FromBootParams } from './e820.js';
import { HvmModlistEntry, HvmMemmapEntry, HvmStartInfo } from './pvh.js';
import { KernelLoadError, loadKernel, type BootInput } from './loader.js';
import { syntheticBzImage, syntheticElf } from './synthetic-kernels.js';

function input(kernel: Uint8Array, memoryMiB = 64, extra: Partial<BootInput> = {}): BootInput {
  const bytes = memoryMiB * MiB;
  return {
    kernel,
    kernelPath: '/images/vmlinuz',
    cmdline: 'console=ttyS0 panic=-1',
    memory: RegionGuestMemory.anonymous(bytes),
    ramRanges: guestRamRanges(bytes),
    ...extra,
  };
}

const zeroPage = (i: BootInput) => i.memory.slice(ZERO_PAGE_START, 4096);

test('bzImage: protected-mode kernel at pref_address, 64-bit entry at +0x200, zero page filled', () => {
  const image = syntheticBzImage();
  const initrd = new Uint8Array(3 * 4096 + 5).fill(0x42);
  const i = input(image, 64, { initrd, acpiRsdpAddress: 0xe0000 });
  const setup = loadKernel(i);
  assert.equal(setup.format, 'bzImage');
  assert.equal(setup.protocolVersion, 0x020f);
  assert.equal(setup.kernelVersion, '6.1.0-test (synthetic) #1 SMP');
  assert.deepEqual(setup.kernelRange, { gpa: 0x1000000, size: 4 * MiB });
  assert.deepEqual(i.memory.slice(0x1000000, 64 * 1024), image.subarray(5 * 512));
  assert.equal(setup.entry.rip, 0x1000200);
  assert.equal(setup.entry.rsi, ZERO_PAGE_START);
  assert.equal(setup.entry.efer, 0x500);
  assert.equal(setup.bootInfoAddress, ZERO_PAGE_START);

  const zp = zeroPage(i);
  assert.equal(getField(zp, SetupHeader.BOOT_FLAG), 0xaa55);
  assert.equal(getField(zp, SetupHeader.HEADER), 0x53726448);
  assert.equal(getField(zp, SetupHeader.INIT_SIZE), 4 * MiB, 'setup header copied from the image');
  assert.equal(getField(zp, SetupHeader.TYPE_OF_LOADER), 0xff);
  assert.equal(getField(zp, SetupHeader.CODE32_START), 0x1000000);
  assert.equal(getField(zp, SetupHeader.LOADFLAGS), 0x81);
  assert.equal(getField(zp, SetupHeader.HEAP_END_PTR), 0xfe00);
  assert.equal(getField(zp, SetupHeader.VID_MODE), 0xffff);
  assert.equal(getField(zp, SetupHeader.CMD_LINE_PTR), CMDLINE_START);
  assert.equal(getField(zp, BootParams.ACPI_RSDP_ADDR), 0xe0000);
  assert.equal(getField(zp, BootParams.SENTINEL), 0);
  // initrd: page aligned, at the top of RAM, fully copied.
  assert.deepEqual(setup.initrdRange, { gpa: 64 * MiB - 4 * 4096, size: initrd.length });
  assert.equal(getField(zp, SetupHeader.RAMDISK_IMAGE), 64 * MiB - 4 * 4096);
  assert.equal(getField(zp, SetupHeader.RAMDISK_SIZE), initrd.length);
  assert.equal(getField(zp, BootParams.EXT_RAMDISK_IMAGE), 0);
  assert.deepEqual(i.memory.slice(setup.initrdRange!.gpa, initrd.length), initrd);
  assert.deepEqual(readE820FromBootParams(i.memory, ZERO_PAGE_START), setup.memoryMap);
  assert.equal(new TextDecoder().decode(i.memory.slice(CMDLINE_START, setup.cmdlineRange.size - 1)), 'console=ttyS0 panic=-1');
  // Boot structures for the 64-bit entry are in place.
  assert.equal(i.memory.readU64(BOOT_GDT_START + 8), 0x00af9b000000ffffn);
  assert.equal(translateIdentity(i.memory, PML4_START, 0x1000200n), 0x1000200n);
});

test('acpi_rsdp_addr is only written for boot protocol 2.14 and newer', () => {
  const old = input(syntheticBzImage({ version: 0x020d }), 64, { acpiRsdpAddress: 0xe0000 });
  loadKernel(old);
  assert.equal(getField(zeroPage(old), BootParams.ACPI_RSDP_ADDR), 0);
  const elf = input(syntheticElf({ entry: 0x1000000, segments: [{ paddr: 0x1000000, data: new Uint8Array(4096) }] }), 64, { acpiRsdpAddress: 0xe0000 });
  loadKernel(elf);
  assert.equal(getField(zeroPage(elf), BootParams.ACPI_RSDP_ADDR), 0xe0000, 'the synthetic header claims 2.15');
});

test('bzImage without pref_address loads at 1 MiB; no initrd leaves ramdisk fields zero', () => {
  const i = input(syntheticBzImage({ prefAddress: 0 }));
  const setup = loadKernel(i);
  assert.equal(setup.entry.rip, 0x100200);
  assert.equal(setup.initrdRange, undefined);
  assert.equal(getField(zeroPage(i), SetupHeader.RAMDISK_IMAGE), 0);
  assert.equal(getField(zeroPage(i), BootParams.ACPI_RSDP_ADDR), 0);
});

test('bad kernels are refused with clear messages', () => {
  const passwd = new TextEncoder().encode('root:x:0:0:root:/root:/bin/bash\n'.repeat(40));
  assert.throws(() => loadKernel(input(passwd)), (e: unknown) => e instanceof KernelLoadError && /\/images\/vmlinuz is not a Linux kernel/.test(e.message));
  assert.throws(() => loadKernel(input(new Uint8Array(0))), /not a Linux kernel/);
  const image = syntheticBzImage();
  assert.throws(() => loadKernel(input(image.subarray(0, image.length - 100))), /truncated bzImage \/images\/vmlinuz/);
  assert.throws(() => loadKernel(input(image.subarray(0, 0x210))), /truncated bzImage/);
  assert.throws(() => loadKernel(input(syntheticBzImage({ version: 0x020a }))), /boot protocol 2\.10; 2\.12 or newer/);
  assert.throws(() => loadKernel(input(syntheticBzImage({ xloadflags: 0 }))), /no 64-bit entry point/);
  assert.throws(() => loadKernel(input(syntheticBzImage({ prefAddress: 0x1000123 }))), /unusable pref_address/);
  // init_size reaches past the end of RAM.
  assert.throws(() => loadKernel(input(syntheticBzImage({ initSize: 60 * MiB }), 64)), /init_size 60 MiB at 0x1000000\) needs guest memory .* RAM below 4 GiB ends at 64 MiB/);
});

test('command line longer than the kernel accepts is refused', () => {
  const i = input(syntheticBzImage({ cmdlineSize: 255 }), 64, { cmdline: 'x'.repeat(256) });
  assert.throws(() => loadKernel(i), /256 bytes, longer than the limit of 255 bytes set by the kernel/);
  assert.doesNotThrow(() => loadKernel({ ...i, cmdline: 'x'.repeat(255) }));
});

test('initrd too big for the guest is refused', () => {
  const i = input(syntheticBzImage(), 64, { initrd: new Uint8Array(62 * MiB) });
  assert.throws(() => loadKernel(i), /initrd \(62 MiB\) does not fit in guest memory \(64 MiB\)/);
});

test('initrd stays below the kernel\'s initrd_addr_max', () => {
  const i = input(syntheticBzImage({ initrdAddrMax: 48 * MiB - 1 }), 64, { initrd: new Uint8Array(4096) });
  assert.equal(loadKernel(i).initrdRange!.gpa, 48 * MiB - 4096);
});

const text = new Uint8Array(0x3000).fill(0xc3);
const data = new Uint8Array(0x800).fill(0x5a);

test('ELF vmlinux: segments at p_paddr, bss zeroed, 64-bit entry at e_entry with a synthetic header', () => {
  const elf = syntheticElf({
    entry: 0x1000000,
    segments: [
      { paddr: 0x1000000, data: text },
      { paddr: 0x1400000, data, memSize: 0x4000 },
    ],
  });
  const i = input(elf, 64, { initrd: new Uint8Array(8192).fill(1) });
  i.memory.fill(0x1400000, 0x4000, 0xee); // stale bytes where the bss goes
  const setup = loadKernel(i);
  assert.equal(setup.format, 'elf');
  assert.equal(setup.entry.rip, 0x1000000);
  assert.equal(setup.entry.rsi, ZERO_PAGE_START);
  assert.deepEqual(setup.kernelRange, { gpa: 0x1000000, size: 0x404000 });
  assert.deepEqual(i.memory.slice(0x1000000, text.length), text);
  assert.deepEqual(i.memory.slice(0x1400000, data.length), data);
  assert.ok(i.memory.slice(0x1400000 + data.length, 0x4000 - data.length).every((b) => b === 0));
  const zp = zeroPage(i);
  assert.equal(getField(zp, SetupHeader.BOOT_FLAG), 0xaa55);
  assert.equal(getField(zp, SetupHeader.HEADER), 0x53726448);
  assert.equal(getField(zp, SetupHeader.TYPE_OF_LOADER), 0xff);
  assert.equal(getField(zp, SetupHeader.KERNEL_ALIGNMENT), 0x1000000);
  assert.equal(getField(zp, SetupHeader.CMD_LINE_PTR), CMDLINE_START);
  assert.equal(getField(zp, SetupHeader.RAMDISK_SIZE), 8192);
  assert.ok(getField(zp, BootParams.E820_ENTRIES) >= 4);
});

for (const pvhEntryBytes of [4, 8] as const) {
  test(`ELF with a ${pvhEntryBytes}-byte PVH note: 32-bit entry, EBX = hvm_start_info`, () => {
    const elf = syntheticElf({ entry: 0x1000000, pvhEntry: 0x1000850, pvhEntryBytes, segments: [{ paddr: 0x1000000, data: text }] });
    const initrd = new Uint8Array(4096 * 3).fill(9);
    const i = input(elf, 64, { initrd, acpiRsdpAddress: 0xe0000 });
    const setup = loadKernel(i);
    assert.equal(setup.format, 'pvh');
    assert.equal(setup.entry.rip, 0x1000850);
    assert.equal(setup.entry.rbx, setup.bootInfoAddress);
    assert.equal(setup.entry.cr0 & 0x80000001, 1, 'protected mode, paging off');
    assert.equal(setup.entry.efer, 0);
    const info = i.memory.slice(setup.bootInfoAddress, HvmStartInfo.SIZE);
    assert.equal(getField(info, HvmStartInfo.MAGIC), 0x336ec578);
    assert.equal(getField(info, HvmStartInfo.VERSION), 1);
    assert.equal(getField(info, HvmStartInfo.CMDLINE_PADDR), CMDLINE_START);
    assert.equal(getField(info, HvmStartInfo.RSDP_PADDR), 0xe0000);
    assert.equal(getField(info, HvmStartInfo.NR_MODULES), 1);
    assert.equal(getField(info, HvmStartInfo.MODLIST_PADDR), PVH_MODLIST_START);
    const module = i.memory.slice(PVH_MODLIST_START, HvmModlistEntry.BYTES);
    assert.equal(getField(module, HvmModlistEntry.PADDR), setup.initrdRange!.gpa);
    assert.equal(getField(module, HvmModlistEntry.SIZE), initrd.length);
    assert.equal(getField(info, HvmStartInfo.MEMMAP_PADDR), PVH_MEMMAP_START);
    assert.equal(getField(info, HvmStartInfo.MEMMAP_ENTRIES), setup.memoryMap.length);
    const last = setup.memoryMap.length - 1;
    const entry = i.memory.slice(PVH_MEMMAP_START + last * HvmMemmapEntry.BYTES, HvmMemmapEntry.BYTES);
    assert.deepEqual(
      [getField(entry, HvmMemmapEntry.ADDR), getField(entry, HvmMemmapEntry.SIZE), getField(entry, HvmMemmapEntry.TYPE)],
      [setup.memoryMap[last]!.addr, setup.memoryMap[last]!.size, setup.memoryMap[last]!.type],
    );
  });
}

test('elfEntry "64bit" enters a PVH-capable ELF through e_entry with boot_params', () => {
  const elf = syntheticElf({ entry: 0x1000000, pvhEntry: 0x1000850, segments: [{ paddr: 0x1000000, data: text }] });
  const setup = loadKernel(input(elf, 64, { elfEntry: '64bit' }));
  assert.equal(setup.format, 'elf');
  assert.equal(setup.entry.rip, 0x1000000);
  assert.equal(setup.entry.rsi, ZERO_PAGE_START);
});

test('bad ELF kernels are refused with clear messages', () => {
  const good = { entry: 0x1000000, segments: [{ paddr: 0x1000000, data: text }] };
  assert.throws(() => loadKernel(input(syntheticElf({ ...good, elfClass: 1 }))), /32-bit ELF/);
  assert.throws(() => loadKernel(input(syntheticElf({ ...good, machine: 183 }))), /machine 183, not x86_64/);
  const elf = syntheticElf(good);
  assert.throws(() => loadKernel(input(elf.subarray(0, elf.length - 1))), /truncated ELF .*segment 0 .*runs past the end of the file/);
  assert.throws(
    () => loadKernel(input(syntheticElf({ entry: 0x1000000, segments: [{ paddr: 0x1000000, data: text, memSize: 80 * MiB }] }))),
    /segment 0 needs guest memory 0x1000000\.\.0x6000000 \(96 MiB\), but guest RAM below 4 GiB ends at 64 MiB/,
  );
  assert.throws(() => loadKernel(input(syntheticElf({ entry: 0x1000, segments: [{ paddr: 0x1000, data: text }] }))), /overlaps the boot structures/);
  assert.throws(() => loadKernel(input(syntheticElf({ ...good, entry: 0x2000000 }))), /entry point 0x2000000 is not inside a loaded segment/);
  assert.throws(() => loadKernel(input(syntheticElf({ ...good, segments: [] }))), /no PT_LOAD segments/);
});

/** Debian kernels unpacked by scripts/fetch-kernels.sh (<repo>/.cache/kernels/<flavour>/vmlinuz|vmlinux) or in /boot. */
function realKernels(): { bzImages: string[]; elfs: string[] } {
  const repo = process.env.TYPEVISOR_REPO ?? process.cwd();
  const cache = join(repo, '.cache/kernels');
  const flavours = existsSync(cache) ? readdirSync(cache).map((f) => join(cache, f)) : [];
  const boot = existsSync('/boot') ? readdirSync('/boot').map((f) => join('/boot', f)) : [];
  return {
    bzImages: [...flavours.map((d) => join(d, 'vmlinuz')), ...boot.filter((f) => /\/vmlinuz-/.test(f))].filter((f) => existsSync(f)),
    elfs: flavours.map((d) => join(d, 'vmlinux')).filter((f) => existsSync(f)),
  };
}

test('real Debian kernels parse and load (bzImage, and ELF vmlinux through its PVH note)', (t) => {
  const { bzImages, elfs } = realKernels();
  if (bzImages.length + elfs.length === 0) {
    t.skip('no Debian kernel under .cache/kernels or /boot (run scripts/fetch-kernels.sh)');
    return;
  }
  for (const path of bzImages) {
    const setup = loadKernel(input(readFileSync(path), 160, { kernelPath: path, initrd: new Uint8Array(MiB) }));
    assert.equal(setup.format, 'bzImage', path);
    assert.ok(setup.protocolVersion! >= 0x020c, path);
    assert.match(setup.kernelVersion ?? '', /^\d+\.\d+/, path);
    assert.equal(setup.entry.rip, setup.kernelRange.gpa + 0x200);
    assert.ok(setup.initrdRange!.gpa >= setup.kernelRange.gpa + setup.kernelRange.size, path);
  }
  for (const path of elfs) {
    const setup = loadKernel(input(readFileSync(path), 160, { kernelPath: path }));
    assert.equal(setup.format, 'pvh', `${path}: Debian kernels are built with CONFIG_PVH`);
    assert.ok(setup.entry.rip > setup.kernelRange.gpa && setup.entry.rip < setup.kernelRange.gpa + setup.kernelRange.size, path);
  }
});
