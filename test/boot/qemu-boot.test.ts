/**
 * The typevisor kernel loader end to end, without KVM: the boot image
 * loadKernel + writeFirmwareTables produce (GDT, page tables, zero page or
 * hvm_start_info, e820, command line, ACPI, kernel, initrd) is replayed under
 * QEMU TCG by a small trampoline (trampoline.S) that copies each piece to its
 * guest-physical address and enters the kernel as the VMM's boot vCPU would.
 * Debian's cloud kernel must reach its initramfs' /init and see our command
 * line and memory map.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RegionGuestMemory } from '../../src/memory/guest-memory.js';
import { guestRamRanges } from '../../src/arch/x86_64/memory-map.js';
import { ACPI_TABLES_START, EBDA_START, MiB, PAGE_SIZE, RSDP_START } from '../../src/arch/x86_64/layout.js';
import { writeFirmwareTables } from '../../src/arch/x86_64/firmware-tables.js';
import { field, setField } from '../../src/arch/x86_64/byte-layout.js';
import { loadKernel, type BootSetup } from '../../src/boot/loader.js';
import { syntheticElf } from '../../src/boot/synthetic-kernels.js';

const repo = process.env.TYPEVISOR_REPO ?? process.cwd();
const here = join(fileURLToPath(import.meta.url), '..');
/** trampoline.S lives beside the test source; the compiled test runs from dist/. */
const trampolineSource = [join(here, 'trampoline.S'), join(repo, 'test/boot/trampoline.S')].find((p) => existsSync(p));
const MEMORY = 256 * MiB;
/** Where the trampoline and the staged image are loaded: above the kernel's footprint, below the initrd. */
const STAGING = 0x0a00_0000;

const Trampoline = {
  MODE: field(8, 4),
  ENTRY: field(12, 4),
  BOOT_INFO: field(16, 4),
  STACK: field(20, 4),
  COPY_COUNT: field(24, 4),
  COPIES: 28,
  MAX_COPIES: 8,
  SIZE: PAGE_SIZE,
} as const;

function tool(name: string, args: string[]): boolean {
  return spawnSync(name, args, { stdio: 'ignore' }).status === 0;
}

function buildTrampoline(dir: string): Uint8Array {
  execFileSync('as', ['--64', trampolineSource!, '-o', join(dir, 't.o')]);
  execFileSync('ld', ['-m', 'elf_x86_64', `-Ttext=0x${STAGING.toString(16)}`, '--oformat=binary', '-o', join(dir, 't.bin'), join(dir, 't.o')]);
  const code = readFileSync(join(dir, 't.bin'));
  assert.ok(code.length <= Trampoline.SIZE);
  const out = new Uint8Array(Trampoline.SIZE);
  out.set(code);
  return out;
}

function trimTrailingZeros(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.subarray(0, Math.ceil(end / PAGE_SIZE) * PAGE_SIZE);
}

/** The trampoline ELF: code + parameter block, then every piece of guest memory the loader wrote. */
function bootElf(dir: string, mem: RegionGuestMemory, setup: BootSetup): Uint8Array {
  const trampoline = buildTrampoline(dir);
  const pieces: Array<{ gpa: number; bytes: Uint8Array }> = [
    { gpa: 0, bytes: mem.slice(0, EBDA_START + 1024) }, // GDT, page tables, zero page / start_info, cmdline, MP table
    { gpa: RSDP_START, bytes: mem.slice(RSDP_START, ACPI_TABLES_START - RSDP_START + 0x1000) },
    { gpa: setup.kernelRange.gpa, bytes: trimTrailingZeros(mem.slice(setup.kernelRange.gpa, setup.kernelRange.size)) },
  ];
  if (setup.initrdRange) pieces.push({ gpa: setup.initrdRange.gpa, bytes: mem.slice(setup.initrdRange.gpa, setup.initrdRange.size) });
  const total = Trampoline.SIZE + pieces.reduce((n, p) => n + p.bytes.length, 0);
  assert.ok(STAGING + total <= (setup.initrdRange?.gpa ?? MEMORY), 'staging area overlaps the initrd');
  assert.ok(STAGING >= setup.kernelRange.gpa + setup.kernelRange.size, 'staging area overlaps the kernel');
  const image = new Uint8Array(total);
  image.set(trampoline);
  let at = Trampoline.SIZE;
  pieces.forEach((piece, i) => {
    image.set(piece.bytes, at);
    const entry = Trampoline.COPIES + i * 12;
    setField(image, field(entry, 4), STAGING + at);
    setField(image, field(entry + 4, 4), piece.gpa);
    setField(image, field(entry + 8, 4), piece.bytes.length);
    at += piece.bytes.length;
  });
  setField(image, Trampoline.COPY_COUNT, pieces.length);
  setField(image, Trampoline.MODE, setup.format === 'pvh' ? 1 : 0);
  setField(image, Trampoline.ENTRY, setup.entry.rip);
  setField(image, Trampoline.BOOT_INFO, setup.format === 'pvh' ? setup.entry.rbx : setup.entry.rsi); // 'elf' enters like bzImage
  setField(image, Trampoline.STACK, setup.entry.rsp);
  return syntheticElf({ entry: STAGING, pvhEntry: STAGING, pvhEntryBytes: 4, segments: [{ paddr: STAGING, data: image }] });
}

/** Run QEMU until `marker END` appears on the serial port (a file: a pipe can drop characters under load). */
function runQemu(elfPath: string, serialPath: string, marker: string, vcpus: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    writeFileSync(serialPath, '');
    const qemu = spawn('qemu-system-x86_64', [
      '-M', 'microvm,acpi=off,isa-serial=on,rtc=on,pit=on,pic=on',
      '-cpu', 'max', '-m', String(MEMORY / MiB), '-smp', String(vcpus),
      '-nographic', '-nodefaults', '-no-reboot', '-serial', `file:${serialPath}`,
      '-kernel', elfPath,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    qemu.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const read = () => readFileSync(serialPath, 'latin1');
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      qemu.kill('SIGKILL');
      resolve(`${read()}\n[${why}]${stderr ? `\n[qemu stderr] ${stderr}` : ''}`);
    };
    const timer = setTimeout(() => finish(`timed out after ${timeoutMs} ms`), timeoutMs);
    const poll = setInterval(() => {
      if (read().includes(`${marker} END`)) finish('marker seen');
    }, 200);
    qemu.on('exit', (code) => finish(`qemu exited with ${code}`));
  });
}

interface BootCase {
  name: string;
  file: string;
  format: 'bzImage' | 'pvh' | 'elf';
  elfEntry?: 'pvh' | '64bit';
  vcpus?: number;
  extraCmdline?: string;
  /** Kernel log lines proving the case did what it is for. */
  expectLines?: string[];
}

const kernels: BootCase[] = [
  { name: 'bzImage (64-bit boot protocol)', file: '.cache/kernels/cloud/vmlinuz', format: 'bzImage' },
  { name: 'ELF vmlinux (PVH entry)', file: '.cache/kernels/cloud/vmlinux', format: 'pvh' },
  { name: 'ELF vmlinux (64-bit entry, synthetic setup header)', file: '.cache/kernels/cloud/vmlinux', format: 'elf', elfEntry: '64bit' },
  {
    // Debian's generic kernel has CONFIG_X86_MPPARSE; with acpi=off it takes SMP and IOAPIC wiring from our MP table.
    name: 'generic bzImage with acpi=off (MP table, 2 vCPUs)',
    file: '.cache/kernels/generic/vmlinuz',
    format: 'bzImage',
    vcpus: 2,
    extraCmdline: 'acpi=off',
    expectLines: [
      'Intel MultiProcessor Specification v1.4',
      'MPTABLE: OEM ID: TYPVSR',
      'Processor #0 (Bootup-CPU)',
      'Processor #1',
      'smp: Brought up 1 node, 2 CPUs',
    ],
  },
];

for (const kernel of kernels) {
  test(`Debian cloud kernel boots to /init from our boot image: ${kernel.name}`, { timeout: 180_000 }, async (t) => {
    const kernelPath = join(repo, kernel.file);
    if (!existsSync(kernelPath)) return t.skip(`no kernel at ${kernelPath} (run scripts/fetch-kernels.sh)`);
    if (!trampolineSource) return t.skip('trampoline.S not found');
    if (!tool('qemu-system-x86_64', ['--version']) || !tool('as', ['--version']) || !existsSync('/bin/busybox')) {
      return t.skip('needs qemu-system-x86_64, binutils and busybox-static');
    }
    const dir = mkdtempSync(join(tmpdir(), 'typevisor-qemu-boot-'));
    try {
      const marker = `TVBOOT-${process.pid}`;
      const initrdPath = join(dir, 'initrd.cpio.gz');
      execFileSync('bash', [join(repo, 'scripts/build-initramfs.sh'), '--out', initrdPath, '--init-snippet',
        `echo "${marker} cmdline=$(cat /proc/cmdline)"; echo "${marker} END"`], { stdio: 'ignore' });
      const memory = RegionGuestMemory.anonymous(MEMORY);
      const vcpus = kernel.vcpus ?? 1;
      const { rsdpAddress } = writeFirmwareTables(memory, { vcpus });
      const cmdline = `console=ttyS0 panic=-1 typevisor.loader=${kernel.format} loglevel=7${kernel.extraCmdline ? ` ${kernel.extraCmdline}` : ''}`;
      const setup = loadKernel({
        kernel: readFileSync(kernelPath),
        kernelPath,
        initrd: readFileSync(initrdPath),
        cmdline,
        memory,
        ramRanges: guestRamRanges(MEMORY),
        acpiRsdpAddress: rsdpAddress,
        ...(kernel.elfEntry ? { elfEntry: kernel.elfEntry } : {}),
      });
      assert.equal(setup.format, kernel.format);
      const elfPath = join(dir, 'boot.elf');
      writeFileSync(elfPath, bootElf(dir, memory, setup));
      const log = await runQemu(elfPath, join(dir, 'serial.log'), marker, vcpus, 150_000);
      const expect = (what: string, ok: boolean) =>
        assert.ok(ok, `${what}\n--- serial log (head) ---\n${log.slice(0, 2500)}\n--- (tail) ---\n${log.slice(-2500)}`);
      expect('/init reports our command line', log.includes(`${marker} cmdline=${cmdline}`));
      // The kernel saw our memory map (BIOS-e820 for the zero page, the same lines for PVH's memmap).
      for (const line of [
        '[mem 0x0000000000000000-0x000000000009fbff] usable',
        '[mem 0x000000000009fc00-0x00000000000fffff] reserved',
        '[mem 0x0000000000100000-0x000000000fffffff] usable',
        '[mem 0x00000000e0000000-0x00000000e00fffff] reserved',
      ]) {
        expect(`e820 ${line}`, log.includes(`BIOS-e820: ${line}`));
      }
      if (!kernel.extraCmdline?.includes('acpi=off')) {
        expect('RSDP found', log.includes('ACPI: RSDP 0x00000000000E0000 000024 (v02 TYPVSR)'));
      }
      for (const line of kernel.expectLines ?? []) expect(line, log.includes(line));
      expect('initrd unpacked', /Trying to unpack rootfs image as initramfs/.test(log));
    } finally {
      // TYPEVISOR_KEEP_TEST_FILES=1 keeps boot.elf and the initrd for a manual qemu run.
      if (!process.env.TYPEVISOR_KEEP_TEST_FILES) rmSync(dir, { recursive: true, force: true });
      else t.diagnostic(`kept ${dir}`);
    }
  });
}
