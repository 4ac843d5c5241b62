import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDiskstats, parseMeminfo, parseNetDev, parseProcStat } from './procfs.js';

test('parses /proc/stat', () => {
  const t = parseProcStat('cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 1 2 3 4\n');
  assert.deepEqual(t, { busy: 160, total: 980 });
  assert.throws(() => parseProcStat('intr 1'), /aggregate cpu/);
});

test('parses /proc/meminfo', () => {
  const m = parseMeminfo('MemTotal:       16000 kB\nMemFree:  10 kB\nMemAvailable:    8000 kB\n');
  assert.deepEqual(m, { totalBytes: 16000 * 1024, availableBytes: 8000 * 1024 });
});

test('parses /proc/diskstats without counting partitions', () => {
  const text = [
    '   8       0 sda 100 0 10 0 50 0 20 0 0 0 0',
    '   8       1 sda1 100 0 10 0 50 0 20 0 0 0 0',
    ' 259       0 nvme0n1 1 0 2 0 1 0 4 0 0 0 0',
    ' 259       1 nvme0n1p1 1 0 2 0 1 0 4 0 0 0 0',
    '   7       0 loop0 1 0 1000 0 0 0 0 0 0 0 0',
  ].join('\n');
  assert.deepEqual(parseDiskstats(text), { readBytes: 12 * 512, writeBytes: 24 * 512 });
});

test('parses /proc/net/dev without loopback', () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0
  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0
`;
  assert.deepEqual(parseNetDev(text), { rxBytes: 1000, txBytes: 2000 });
});

test('the real files of this host parse', () => {
  assert.ok(parseProcStat(readFileSync('/proc/stat', 'utf8')).total > 0);
  assert.ok(parseMeminfo(readFileSync('/proc/meminfo', 'utf8')).totalBytes > 0);
  parseDiskstats(readFileSync('/proc/diskstats', 'utf8'));
  parseNetDev(readFileSync('/proc/net/dev', 'utf8'));
});
