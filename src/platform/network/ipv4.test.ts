import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSubnet, parseIpv4, parseSubnet, planSubnet, subnetsOverlap } from './ipv4.js';

test('parses addresses and CIDRs', () => {
  assert.equal(parseIpv4('10.0.0.1'), 0x0a000001);
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', 'a.b.c.d', '1.2.3.4.5']) assert.equal(parseIpv4(bad), null, bad);
  assert.equal(formatSubnet(parseSubnet('192.168.50.0/24')), '192.168.50.0/24');
});

test('refuses bad subnets with a reason', () => {
  assert.throws(() => parseSubnet('10.0.0.5/24'), /host bits set; did you mean 10.0.0.0\/24/);
  assert.throws(() => parseSubnet('10.0.0.0/30'), /prefix from \/8 to \/29/);
  assert.throws(() => parseSubnet('10.0.0.0'), /not an IPv4 CIDR/);
  assert.throws(() => parseSubnet('127.0.0.0/8'), /not a usable/);
  assert.throws(() => parseSubnet('224.0.0.0/24'), /not a usable/);
  assert.throws(() => parseSubnet(42), /must be a CIDR/);
});

test('overlap detection', () => {
  const a = parseSubnet('10.1.0.0/16');
  assert.equal(subnetsOverlap(a, parseSubnet('10.1.5.0/24')), true);
  assert.equal(subnetsOverlap(parseSubnet('10.1.5.0/24'), a), true);
  assert.equal(subnetsOverlap(a, parseSubnet('10.2.0.0/16')), false);
  assert.equal(subnetsOverlap(parseSubnet('10.0.0.0/24'), parseSubnet('10.0.1.0/24')), false);
  assert.equal(subnetsOverlap(parseSubnet('10.0.0.0/8'), parseSubnet('10.255.255.0/24')), true);
});

test('plan: gateway first host, DHCP range up to the last host', () => {
  assert.deepEqual(planSubnet(parseSubnet('10.77.0.0/24')), {
    gateway: '10.77.0.1',
    netmask: '255.255.255.0',
    prefix: 24,
    dhcpStart: '10.77.0.2',
    dhcpEnd: '10.77.0.254',
    broadcast: '10.77.0.255',
  });
  assert.equal(planSubnet(parseSubnet('10.0.0.8/29')).dhcpEnd, '10.0.0.14');
});
