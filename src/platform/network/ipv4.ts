/**
 * IPv4 subnet arithmetic for network definitions: parsing CIDRs, overlap
 * checks, and the gateway / DHCP range the platform derives from a subnet.
 */
import { badRequest } from '../storage/names.js';

export interface Ipv4Subnet {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
}

export function parseIpv4(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    if (part.length > 1 && part.startsWith('0')) return null; // no octal-looking octets
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses "a.b.c.d/n". The host part must be zero (a typo like 10.0.0.5/24 is refused
 * rather than silently widened), and /8../29 only: a bridge needs room for a gateway and leases.
 */
export function parseSubnet(cidr: unknown, field = 'subnet'): Ipv4Subnet {
  if (typeof cidr !== 'string') throw badRequest(`${field} must be a CIDR string like 10.77.0.0/24`, field);
  const [addr, prefixText, extra] = cidr.split('/');
  const address = addr === undefined ? null : parseIpv4(addr);
  const prefix = prefixText !== undefined && /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (address === null || extra !== undefined || !(prefix >= 8 && prefix <= 29)) {
    throw badRequest(`${field} ${JSON.stringify(cidr)} is not an IPv4 CIDR with a prefix from /8 to /29`, field);
  }
  const network = (address & maskOf(prefix)) >>> 0;
  if (network !== address) {
    throw badRequest(`${field} ${cidr} has host bits set; did you mean ${formatIpv4(network)}/${prefix}?`, field);
  }
  const first = address >>> 24;
  if (first === 0 || first === 127 || first >= 224) {
    throw badRequest(`${field} ${cidr} is not a usable unicast range`, field);
  }
  return { network, prefix };
}

export function formatSubnet(s: Ipv4Subnet): string {
  return `${formatIpv4(s.network)}/${s.prefix}`;
}

export function subnetSize(s: Ipv4Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function subnetsOverlap(a: Ipv4Subnet, b: Ipv4Subnet): boolean {
  const aEnd = a.network + subnetSize(a) - 1;
  const bEnd = b.network + subnetSize(b) - 1;
  return a.network <= bEnd && b.network <= aEnd;
}

export function subnetContains(s: Ipv4Subnet, address: number): boolean {
  return address >= s.network && address < s.network + subnetSize(s);
}

export interface SubnetPlan {
  /** First host address: the bridge's address, default route and DNS for guests. */
  gateway: string;
  netmask: string;
  prefix: number;
  dhcpStart: string;
  dhcpEnd: string;
  broadcast: string;
}

/** Gateway = first host; DHCP hands out from the second host to the last host before broadcast. */
export function planSubnet(s: Ipv4Subnet): SubnetPlan {
  const size = subnetSize(s);
  return {
    gateway: formatIpv4(s.network + 1),
    netmask: formatIpv4(maskOf(s.prefix)),
    prefix: s.prefix,
    dhcpStart: formatIpv4(s.network + 2),
    dhcpEnd: formatIpv4(s.network + size - 2),
    broadcast: formatIpv4(s.network + size - 1),
  };
}
