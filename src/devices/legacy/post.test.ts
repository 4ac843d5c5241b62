import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../bus.js';
import { POST_PORT } from '../../arch/x86_64/layout.js';
import { BOOT_SINK_PORTS, PortSink } from './post.js';

test('POST port keeps the last value and counts accesses', () => {
  const bus = new Bus();
  const post = new PortSink();
  bus.insert(POST_PORT, 1, post, 'post');
  assert.equal(post.lastValue, null);
  bus.write(POST_PORT, Uint8Array.of(0x12));
  bus.write(POST_PORT, Uint8Array.of(0x34));
  assert.equal(post.lastValue, 0x34);
  assert.equal(post.writes, 2);
  const d = new Uint8Array(1);
  assert.equal(bus.read(POST_PORT, d), true);
  assert.equal(d[0], 0xff);
  assert.equal(post.reads, 1);
});

test('a sink can read a fixed value; bad values are rejected', () => {
  const sink = new PortSink(0);
  const d = new Uint8Array(2).fill(7);
  sink.read(0, d);
  assert.deepEqual([...d], [0, 0]);
  assert.throws(() => new PortSink(256), /readValue/);
});

test('all boot sink ports map without overlap', () => {
  const bus = new Bus();
  for (const { port, name } of BOOT_SINK_PORTS) bus.insert(port, 1, new PortSink(), name);
  assert.equal(bus.list().length, BOOT_SINK_PORTS.length);
});
