import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsmasqConfig, leasesByMac, parseLeases } from './dnsmasq-config.js';
import { parseSubnet, planSubnet } from './ipv4.js';
import { allocateMac, isValidMac, randomMac } from './mac.js';

const base = {
  bridge: 'tvbr3',
  plan: planSubnet(parseSubnet('10.77.0.0/24')),
  dir: '/data/networks/lab',
  leaseFile: '/data/networks/lab/leases',
  pidFile: '/data/networks/lab/dnsmasq.pid',
  domain: 'lab',
};

test('isolated network config binds the bridge only and has no router or upstream DNS', () => {
  const lines = dnsmasqConfig({ ...base, nat: false }).split('\n');
  for (const want of [
    'bind-interfaces',
    'interface=tvbr3',
    'except-interface=lo',
    'listen-address=10.77.0.1',
    'dhcp-range=10.77.0.2,10.77.0.254,255.255.255.0,3600',
    'dhcp-leasefile=/data/networks/lab/leases',
    'pid-file=/data/networks/lab/dnsmasq.pid',
    'dhcp-option=option:router',
    'no-resolv',
  ]) {
    assert.ok(lines.includes(want), want);
  }
  assert.ok(!lines.some((l) => l.startsWith('dhcp-option=option:router,')));
});

test('NAT network config gives the gateway as router and uses upstream DNS', () => {
  const lines = dnsmasqConfig({ ...base, nat: true }).split('\n');
  assert.ok(lines.includes('dhcp-option=option:router,10.77.0.1'));
  assert.ok(!lines.includes('no-resolv'));
});

test('lease parsing skips junk and expired leases, latest wins', () => {
  const text = [
    '1900000000 52:54:00:aa:bb:cc 10.77.0.23 guest1 01:52:54:00:aa:bb:cc',
    'garbage line',
    '1000 52:54:00:00:00:01 10.77.0.9 * *',
    '0 52:54:00:00:00:02 10.77.0.10 * *',
    '1900000000 52:54:00:AA:BB:CC 10.77.0.24 guest1 *',
    '1900000000 zz:54:00:00:00:02 10.77.0.10 * *',
    '',
  ].join('\n');
  const leases = parseLeases(text);
  assert.equal(leases.length, 4);
  const byMac = leasesByMac(leases, 1_800_000_000);
  assert.equal(byMac.get('52:54:00:aa:bb:cc')?.ipv4, '10.77.0.24');
  assert.equal(byMac.get('52:54:00:aa:bb:cc')?.hostname, 'guest1');
  assert.equal(byMac.has('52:54:00:00:00:01'), false);
  assert.equal(byMac.get('52:54:00:00:00:02')?.hostname, undefined);
});

test('MACs are 52:54:00 unicast and unique against the taken set', () => {
  for (let i = 0; i < 100; i++) assert.ok(isValidMac(randomMac()));
  assert.equal(isValidMac('53:54:00:00:00:01'), false);
  const seq = [Buffer.from([1, 2, 3]), Buffer.from([1, 2, 3]), Buffer.from([4, 5, 6])];
  const mac = allocateMac((m) => m === '52:54:00:01:02:03', () => seq.shift() ?? Buffer.from([9, 9, 9]));
  assert.equal(mac, '52:54:00:04:05:06');
});
