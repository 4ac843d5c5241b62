import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cpuPercent,
  identify,
  isAlive,
  parseProcStat,
  parseRssBytes,
  readCmdline,
  readTapGuestBytes,
} from './proc.js';

test('parseProcStat handles a comm with spaces and parentheses', () => {
  const line = '4242 (qemu (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 987654 1000 200 18446744073709551615';
  const stat = parseProcStat(line);
  assert.equal(stat.pid, 4242);
  assert.equal(stat.comm, 'qemu (x) y');
  assert.equal(stat.state, 'S');
  assert.equal(stat.cpuTicks, 300);
  assert.equal(stat.startTicks, 987654);
  assert.throws(() => parseProcStat('garbage'), /malformed/);
  assert.throws(() => parseProcStat('1 (x) S 1 2'), /no field/);
});

test('this process is alive and identified; a wrong start time is not', async () => {
  const me = await identify(process.pid);
  assert.ok(me);
  assert.equal(await isAlive(me), true);
  assert.equal(await isAlive({ pid: process.pid, startTicks: me.startTicks + 1 }), false);
  assert.equal(await identify(0x3fffffff), null);
  const argv = await readCmdline(process.pid);
  assert.ok(argv && argv[0]!.includes('node'));
});

test('parseRssBytes reads VmRSS in kB', () => {
  assert.equal(parseRssBytes('Name:\tqemu\nVmRSS:\t  1234 kB\nThreads: 3\n'), 1234 * 1024);
  assert.equal(parseRssBytes('Name:\tzombie\n'), 0);
});

test('cpuPercent converts ticks to percent of one CPU', () => {
  assert.equal(cpuPercent(0, 100, 1000), 100);
  assert.equal(cpuPercent(100, 150, 1000), 50);
  assert.equal(cpuPercent(0, 10, 0), 0);
});

test('tap counters are swapped to the guest view, zero when missing, and names are checked', async () => {
  const root = await mkdtemp(join(tmpdir(), 'tapstats-'));
  try {
    await mkdir(join(root, 'tv0/statistics'), { recursive: true });
    await writeFile(join(root, 'tv0/statistics/tx_bytes'), '5000\n');
    await writeFile(join(root, 'tv0/statistics/rx_bytes'), '700\n');
    assert.deepEqual(await readTapGuestBytes('tv0', root), { rx: 5000, tx: 700 });
    assert.deepEqual(await readTapGuestBytes('gone0', root), { rx: 0, tx: 0 });
    await assert.rejects(readTapGuestBytes('../etc', root), /invalid tap/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
