import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtioPciTestDriver } from '../transport/test-driver.js';
import { BALLOON_DEFLATE_QUEUE, BALLOON_INFLATE_QUEUE, BALLOON_STATS_QUEUE, BalloonStat, VirtioBalloon, VirtioBalloonConfig } from './balloon.js';

function pfnList(pfns: number[]): Uint8Array {
  const b = new Uint8Array(pfns.length * 4);
  const v = new DataView(b.buffer);
  pfns.forEach((p, i) => v.setUint32(i * 4, p, true));
  return b;
}

function statsBuffer(entries: Array<[number, bigint]>): Uint8Array {
  const b = new Uint8Array(entries.length * BalloonStat.SIZE);
  const v = new DataView(b.buffer);
  entries.forEach(([tag, value], i) => {
    v.setUint16(i * BalloonStat.SIZE, tag, true);
    v.setBigUint64(i * BalloonStat.SIZE + 2, value, true);
  });
  return b;
}

function setup() {
  const inflated: number[][] = [];
  const deflated: number[][] = [];
  const balloon = new VirtioBalloon({ onInflate: (p) => inflated.push(p), onDeflate: (p) => deflated.push(p) });
  const driver = new VirtioPciTestDriver(balloon);
  return { balloon, driver, inflated, deflated };
}

test('target pages are set by the host (config interrupt) and actual is written by the driver', () => {
  const { balloon, driver } = setup();
  driver.initialize();
  balloon.setTargetPages(1024);
  assert.equal(driver.deviceConfigRead(VirtioBalloonConfig.NUM_PAGES, 4), 1024);
  assert.equal(driver.interruptsFor(0), 1);
  driver.deviceConfigWrite(VirtioBalloonConfig.ACTUAL, 4, 512);
  assert.equal(balloon.actual, 512);
  assert.throws(() => balloon.setTargetPages(-1), RangeError);
});

test('inflate and deflate report PFNs inside guest RAM only', () => {
  const { driver, inflated, deflated, balloon } = setup();
  driver.initialize();
  const inflate = driver.queues[BALLOON_INFLATE_QUEUE]!;
  inflate.addChain([{ data: pfnList([0x100, 0x101, 0xfffff]) }]);
  driver.kick(BALLOON_INFLATE_QUEUE);
  assert.deepEqual(inflated, [[0x100, 0x101]]);
  assert.equal(balloon.metrics().invalidPfns, 1);
  assert.equal(inflate.takeUsed().length, 1);
  driver.queues[BALLOON_DEFLATE_QUEUE]!.addChain([{ data: pfnList([0x100]) }]);
  driver.kick(BALLOON_DEFLATE_QUEUE);
  assert.deepEqual(deflated, [[0x100]]);
});

test('stats: the device holds the buffer, returns it on request, and parses the refreshed values', () => {
  const { driver, balloon } = setup();
  driver.initialize();
  const stats = driver.queues[BALLOON_STATS_QUEUE]!;
  const head = stats.addChain([{ data: statsBuffer([[4, 1000n], [5, 4000n], [99, 1n]]) }]);
  driver.kick(BALLOON_STATS_QUEUE);
  assert.deepEqual(balloon.latestStats()?.values, { freeMemory: 1000, totalMemory: 4000 });
  assert.deepEqual(stats.takeUsed(), [], 'buffer held by the device');
  assert.equal(balloon.requestStats(), true);
  assert.deepEqual(stats.takeUsed(), [{ head, len: 0 }]);
  assert.equal(balloon.requestStats(), false, 'no buffer held until the driver re-adds it');
  stats.addChain([{ data: statsBuffer([[4, 2000n]]) }]);
  driver.kick(BALLOON_STATS_QUEUE);
  assert.equal(balloon.latestStats()?.values.freeMemory, 2000);
  const saved = JSON.parse(JSON.stringify(balloon.save()));
  assert.notEqual(saved.statsHead, null);
});
