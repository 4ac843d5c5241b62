/**
 * MAC addresses for VM NICs: 52:54:00 is the locally administered prefix
 * QEMU/KVM guests traditionally use; the low three bytes are random and the
 * caller retries against its unique index on a collision.
 */
import { randomBytes } from 'node:crypto';

export const MAC_PREFIX = '52:54:00';

export function randomMac(random: (n: number) => Buffer = randomBytes): string {
  const tail = [...random(3)].map((b) => b.toString(16).padStart(2, '0'));
  return `${MAC_PREFIX}:${tail.join(':')}`;
}

export function isValidMac(mac: string): boolean {
  // Unicast (bit 0 of the first octet clear) so a guest cannot be given a multicast address.
  return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0;
}

/** Picks a MAC not in `taken`; gives up after many tries (a /24-sized space of 16M addresses never fills). */
export function allocateMac(taken: (mac: string) => boolean, random: (n: number) => Buffer = randomBytes): string {
  for (let i = 0; i < 1000; i++) {
    const mac = randomMac(random);
    if (!taken(mac)) return mac;
  }
  throw new Error('could not find a free MAC address after 1000 tries');
}
