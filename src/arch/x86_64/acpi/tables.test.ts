import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionGuestMemory } from '../../../memory/guest-memory.js';
import { getField } from '../byte-layout.js';
import { MiB, PCI_ECAM_START, RSDP_START } from '../layout.js';
import { writeAcpiTables } from './tables.js';
import { checksumIsValid, SdtHeader } from './sdt.js';
import { Rsdp } from './rsdp.js';
import { Fadt, FadtFlags } from './fadt.js';
import { buildDsdt } from './dsdt.js';
import { McfgAllocation } from './mcfg.js';

function setup(vcpus = 4) {
  const mem = RegionGuestMemory.anonymous(2 * MiB);
  const result = writeAcpiTables(mem, { vcpus });
  const table = (signature: string) => {
    const t = result.tables.find((x) => x.signature === signature);
    assert.ok(t, `${signature} written`);
    return mem.slice(t.address, t.length);
  };
  return { mem, result, table };
}

test('every table has a valid checksum and its header length', () => {
  const { result, table, mem } = setup();
  assert.equal(result.rsdpAddress, RSDP_START);
  for (const sig of ['DSDT', 'FACP', 'APIC', 'MCFG', 'XSDT']) {
    const t = table(sig);
    assert.ok(checksumIsValid(t), `${sig} checksum`);
    assert.equal(getField(t, SdtHeader.LENGTH), t.length);
    assert.equal(new TextDecoder().decode(t.subarray(0, 4)), sig);
  }
  const rsdp = mem.slice(RSDP_START, Rsdp.SIZE);
  assert.equal(new TextDecoder().decode(rsdp.subarray(0, 8)), 'RSD PTR ');
  assert.ok(checksumIsValid(rsdp.subarray(0, 20)), 'RSDP v1 checksum');
  assert.ok(checksumIsValid(rsdp), 'RSDP extended checksum');
  assert.equal(getField(rsdp, Rsdp.REVISION), 2);
  // A corrupted byte breaks the checksum (the check can fail).
  const copy = table('APIC').slice();
  copy[40]! ^= 1;
  assert.ok(!checksumIsValid(copy));
});

test('XSDT lists FADT, MADT and MCFG; FADT points at DSDT and FACS', () => {
  const { result, table, mem } = setup();
  const address = (sig: string) => result.tables.find((t) => t.signature === sig)!.address;
  const xsdt = table('XSDT');
  assert.equal(getField(mem.slice(RSDP_START, 36), Rsdp.XSDT_ADDRESS), address('XSDT'));
  const entries = Array.from({ length: (xsdt.length - 36) / 8 }, (_, i) => Number(new DataView(xsdt.buffer, xsdt.byteOffset).getBigUint64(36 + i * 8, true)));
  assert.deepEqual(entries, [address('FACP'), address('APIC'), address('MCFG')]);
  const fadt = table('FACP');
  assert.equal(getField(fadt, Fadt.X_DSDT), address('DSDT'));
  assert.equal(getField(fadt, Fadt.DSDT), address('DSDT'));
  assert.equal(getField(fadt, Fadt.FIRMWARE_CTRL), address('FACS'));
  assert.equal(address('FACS') % 64, 0);
  assert.equal(getField(fadt, SdtHeader.REVISION), 6);
  assert.equal(getField(fadt, Fadt.SCI_INT), 9);
  assert.equal(getField(fadt, Fadt.SMI_CMD), 0);
  assert.equal(getField(fadt, Fadt.PM1A_EVT_BLK), 0x600);
  assert.equal(getField(fadt, Fadt.PM1A_CNT_BLK), 0x604);
  assert.equal(getField(fadt, Fadt.PM_TMR_BLK), 0x608);
  const flags = getField(fadt, Fadt.FLAGS);
  assert.ok(flags & FadtFlags.RESET_REG_SUP);
  assert.equal(flags & FadtFlags.PWR_BUTTON, 0, 'fixed-feature power button');
  assert.deepEqual([...fadt.subarray(Fadt.RESET_REG, Fadt.RESET_REG + 4)], [1, 8, 0, 1]);
  assert.equal(getField(fadt, { offset: Fadt.RESET_REG + 4, size: 8 }), 0x60c);
  assert.equal(getField(fadt, Fadt.RESET_VALUE), 1);
  assert.equal(getField(fadt, Fadt.IAPC_BOOT_ARCH) & 2, 2, '8042 present');
});

test('MADT: one enabled local APIC per vCPU, IOAPIC, IRQ0->GSI2 and SCI overrides', () => {
  const { table } = setup(3);
  const madt = table('APIC');
  assert.equal(getField(madt, { offset: 36, size: 4 }), 0xfee00000);
  assert.equal(getField(madt, { offset: 40, size: 4 }), 1);
  const entries: number[][] = [];
  for (let at = 44; at < madt.length; at += madt[at + 1]!) entries.push([...madt.subarray(at, at + madt[at + 1]!)]);
  const lapics = entries.filter((e) => e[0] === 0);
  assert.deepEqual(lapics.map((e) => [e[2], e[3], e[4]]), [[0, 0, 1], [1, 1, 1], [2, 2, 1]]);
  const ioapic = entries.find((e) => e[0] === 1)!;
  assert.deepEqual(ioapic.slice(0, 12), [1, 12, 0, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0]);
  const overrides = entries.filter((e) => e[0] === 2).map((e) => [e[3], e[4], e[8]! | (e[9]! << 8)]);
  assert.deepEqual(overrides, [[0, 2, 0], [9, 9, 0x0d]]);
  assert.throws(() => writeAcpiTables(RegionGuestMemory.anonymous(2 * MiB), { vcpus: 0 }), /vCPU count/);
});

test('MCFG: ECAM base, segment 0, buses 0..0', () => {
  const mcfg = setup().table('MCFG').subarray(36);
  assert.equal(getField(mcfg, McfgAllocation.BASE_ADDRESS), PCI_ECAM_START);
  assert.equal(getField(mcfg, McfgAllocation.SEGMENT), 0);
  assert.equal(getField(mcfg, McfgAllocation.START_BUS), 0);
  assert.equal(getField(mcfg, McfgAllocation.END_BUS), 0);
});

function iaslAvailable(): boolean {
  try {
    execFileSync('iasl', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('iasl disassembles the DSDT without errors and finds _S5_, PCI0 and COM1', (t) => {
  if (!iaslAvailable()) {
    t.skip('iasl not installed (apt-get install acpica-tools)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'typevisor-dsdt-'));
  try {
    writeFileSync(join(dir, 'dsdt.dat'), buildDsdt());
    const out = execFileSync('iasl', ['-d', 'dsdt.dat'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.doesNotMatch(out, /error/i);
    const asl = readFileSync(join(dir, 'dsdt.dsl'), 'utf8');
    assert.match(asl, /_S5_/);
    assert.match(asl, /Device \(PCI0\)/);
    assert.match(asl, /EisaId \("PNP0A08"\)/);
    assert.match(asl, /QWordMemory .*\n.*\n.*0x0000001000000000, \/\/ Range Minimum/);
    assert.match(asl, /Device \(COM1\)/);
    assert.match(asl, /IRQNoFlags \(\)\s*\{4\}/);
    // The disassembly compiles back without errors or warnings.
    const compiled = execFileSync('iasl', ['dsdt.dsl'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(compiled, /0 Errors, 0 Warnings/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('iasl decodes the data tables without checksum or length complaints', (t) => {
  if (!iaslAvailable()) {
    t.skip('iasl not installed (apt-get install acpica-tools)');
    return;
  }
  const { table } = setup(2);
  const dir = mkdtempSync(join(tmpdir(), 'typevisor-acpi-'));
  try {
    for (const sig of ['FACP', 'APIC', 'MCFG', 'XSDT']) {
      writeFileSync(join(dir, `${sig}.dat`), table(sig));
      const out = execFileSync('iasl', ['-d', `${sig}.dat`], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.doesNotMatch(out, /error|warning/i, sig);
      const dsl = readFileSync(join(dir, `${sig}.dsl`), 'utf8');
      assert.doesNotMatch(dsl, /Incorrect checksum|Invalid|\*\*\*\*/i, sig);
    }
    assert.match(readFileSync(join(dir, 'APIC.dsl'), 'utf8'), /Interrupt Source Override/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function acpiexecAvailable(): boolean {
  try {
    execFileSync('acpiexec', ['-v'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

test('ACPICA (acpiexec) loads the tables without warnings and evaluates _S5_, _STA and _CRS', (t) => {
  if (!acpiexecAvailable()) {
    t.skip('acpiexec not installed (apt-get install acpica-tools)');
    return;
  }
  const { table, mem, result } = setup(2);
  const dir = mkdtempSync(join(tmpdir(), 'typevisor-acpiexec-'));
  try {
    const files = ['DSDT', 'FACP', 'APIC', 'MCFG'].map((sig) => {
      writeFileSync(join(dir, `${sig}.dat`), table(sig));
      return `${sig}.dat`;
    });
    const facs = result.tables.find((x) => x.signature === 'FACS')!;
    writeFileSync(join(dir, 'FACS.dat'), mem.slice(facs.address, facs.length));
    files.push('FACS.dat');
    const commands = 'evaluate \\_S5; evaluate \\_SB.COM1._STA; evaluate \\_SB.PCI0._CRS; evaluate \\_SB.MBRS._CRS';
    const out = execFileSync('acpiexec', ['-b', commands, ...files], { cwd: dir, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.doesNotMatch(out, /Firmware Warning|ACPI Error|ACPI Warning|Exception/);
    assert.match(out, /\\_S5 returned .*\n\s*\[Package\] Contains 4 Elements:\n\s*\[Integer\] = 0000000000000005\n\s*\[Integer\] = 0000000000000005/);
    assert.match(out, /\\_SB\.COM1\._STA returned .*\n\s*\[Integer\] = 000000000000000F/);
    assert.match(out, /\\_SB\.PCI0\._CRS returned .*\n\s*\[Buffer\] Length 82/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
