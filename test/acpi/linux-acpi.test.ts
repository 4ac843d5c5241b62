/**
 * Our ACPI tables as a real Linux kernel reads them, without KVM: QEMU TCG
 * runs a microvm with its own ACPI tables turned off, our tables are copied
 * to RSDP_START with `-device loader`, and Debian's cloud kernel finds the
 * RSDP by scanning 0xE0000..0xFFFFF. The kernel has no root filesystem; it
 * panics after probing ACPI, PCI and the serial port, which is all we read.
 *
 * The microvm has no ACPI PM hardware behind our FADT's ports, so PM-timer
 * and PM1 complaints are expected here and not checked.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionGuestMemory } from '../../src/memory/guest-memory.js';
import { MiB, RSDP_START } from '../../src/arch/x86_64/layout.js';
import { writeAcpiTables } from '../../src/arch/x86_64/acpi/tables.js';

const repo = process.env.TYPEVISOR_REPO ?? process.cwd();
const kernel = join(repo, '.cache/kernels/cloud/vmlinuz');
const VCPUS = 2;

function qemuAvailable(): boolean {
  return spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
}

function acpiBlob(): Uint8Array {
  const mem = RegionGuestMemory.anonymous(1 * MiB);
  const { tables } = writeAcpiTables(mem, { vcpus: VCPUS });
  const end = Math.max(...tables.map((t) => t.address + t.length));
  return mem.slice(RSDP_START, end - RSDP_START).slice();
}

test('Linux (Debian cloud kernel under QEMU TCG) accepts our ACPI tables', { timeout: 120_000 }, (t) => {
  if (!existsSync(kernel)) {
    t.skip(`no kernel at ${kernel} (run scripts/fetch-kernels.sh)`);
    return;
  }
  if (!qemuAvailable()) {
    t.skip('qemu-system-x86_64 not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'typevisor-linux-acpi-'));
  try {
    const blob = join(dir, 'acpi.bin');
    writeFileSync(blob, acpiBlob());
    const run = spawnSync(
      'qemu-system-x86_64',
      [
        '-M', 'microvm,acpi=off,isa-serial=on,rtc=on,pit=on,pic=on',
        '-m', '256', '-smp', String(VCPUS),
        '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
        '-kernel', kernel,
        '-append', 'console=ttyS0 panic=-1 loglevel=7',
        '-device', `loader,file=${blob},addr=0x${RSDP_START.toString(16)},force-raw=on`,
      ],
      { encoding: 'utf8', timeout: 100_000, maxBuffer: 16 * MiB },
    );
    const log = run.stdout + run.stderr;
    const expect = (pattern: RegExp) => assert.match(log, pattern, `missing ${pattern} in the kernel log:\n${log.slice(-4000)}`);
    expect(/ACPI: RSDP 0x00000000000E0000 000024 \(v02 TYPVSR\)/);
    expect(/ACPI: FACP 0x[0-9A-F]+ 000114 \(v06 TYPVSR TYPEVISR/);
    expect(/ACPI: PM-Timer IO Port: 0x608/);
    expect(/IOAPIC\[0\]: apic_id 0, version \d+, address 0xfec00000, GSI 0-23/);
    expect(/ACPI: INT_SRC_OVR \(bus 0 bus_irq 0 global_irq 2 dfl dfl\)/);
    expect(/ACPI: INT_SRC_OVR \(bus 0 bus_irq 9 global_irq 9 high level\)/);
    expect(/ACPI: Using ACPI \(MADT\) for SMP configuration information/);
    expect(new RegExp(`smp: Brought up 1 node, ${VCPUS} CPUs`));
    expect(/ACPI: Interpreter enabled/);
    expect(/ACPI: PM: \(supports S0 S5\)/);
    expect(/ACPI: PCI Root Bridge \[PCI0\] \(domain 0000 \[bus 00\]\)/);
    expect(/root bus resource \[io {2}0x0000-0x0cf7 window\]/);
    expect(/root bus resource \[mem 0xc0000000-0xdfffffff window\]/);
    expect(/root bus resource \[mem 0x1000000000-0x1fffffffff window\]/);
    expect(/MMCONFIG at \[mem 0xe0000000-0xe00fffff\] reserved in ACPI motherboard resources/);
    expect(/00:0\d: ttyS0 at I\/O 0x3f8 \(irq = 4, base_baud = 115200\) is a 16550A/);
    assert.doesNotMatch(log, /ACPI BIOS Error|Firmware Bug|FW_BUG|\[Firmware Warn\]/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
