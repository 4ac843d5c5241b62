/**
 * cloud-init NoCloud seeds (cloud-init docs, "NoCloud" datasource): a small
 * filesystem labelled `cidata` holding `meta-data`, `user-data` and
 * `network-config` (network config version 2). Our generated cloud-config is
 * written as JSON, which is valid YAML, so no YAML emitter is needed; user
 * supplied user-data is combined with it as a MIME multipart message, which
 * cloud-init merges itself (docs "User-data formats": mime multi-part).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { badRequest } from '../storage/names.js';

const execFileAsync = promisify(execFile);

export interface CloudInitInput {
  hostname?: string | undefined;
  sshAuthorizedKeys?: string[] | undefined;
  /** Raw user-data (#cloud-config, #!script, ...). */
  userData?: string | undefined;
  /** 'merge' (default): combined with the platform's cloud-config. 'verbatim': used alone, as given. */
  userDataMode?: 'merge' | 'verbatim' | undefined;
  /** network-config version 2 object; default: DHCPv4 on every NIC, matched by MAC. */
  networkConfig?: Record<string, unknown> | undefined;
}

export interface SeedFiles {
  'meta-data': string;
  'user-data': string;
  'network-config': string;
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const SSH_KEY = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( [^\r\n]*)?$/;
export const MAX_USER_DATA_BYTES = 64 * 1024;

/** Validates the `cloudInit` object of a VM create request. */
export function validateCloudInit(value: unknown): CloudInitInput {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('cloudInit must be an object', 'cloudInit');
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!['hostname', 'sshAuthorizedKeys', 'userData', 'userDataMode', 'networkConfig'].includes(key)) {
      throw badRequest(`cloudInit.${key} is not a known field`, `cloudInit.${key}`);
    }
  }
  const out: CloudInitInput = {};
  if (v['hostname'] !== undefined) {
    if (typeof v['hostname'] !== 'string' || !HOSTNAME.test(v['hostname'])) {
      throw badRequest('cloudInit.hostname must be a lower-case DNS name (RFC 1123)', 'cloudInit.hostname');
    }
    out.hostname = v['hostname'];
  }
  if (v['sshAuthorizedKeys'] !== undefined) {
    const keys = v['sshAuthorizedKeys'];
    if (!Array.isArray(keys) || keys.length > 64) throw badRequest('cloudInit.sshAuthorizedKeys must be an array of at most 64 keys', 'cloudInit.sshAuthorizedKeys');
    keys.forEach((k, i) => {
      if (typeof k !== 'string' || !SSH_KEY.test(k.trim())) {
        throw badRequest(`cloudInit.sshAuthorizedKeys[${i}] is not an OpenSSH public key line`, `cloudInit.sshAuthorizedKeys[${i}]`);
      }
    });
    out.sshAuthorizedKeys = (keys as string[]).map((k) => k.trim());
  }
  if (v['userData'] !== undefined) {
    if (typeof v['userData'] !== 'string') throw badRequest('cloudInit.userData must be a string', 'cloudInit.userData');
    if (Buffer.byteLength(v['userData']) > MAX_USER_DATA_BYTES) throw badRequest(`cloudInit.userData exceeds ${MAX_USER_DATA_BYTES} bytes`, 'cloudInit.userData');
    out.userData = v['userData'];
  }
  if (v['userDataMode'] !== undefined) {
    if (v['userDataMode'] !== 'merge' && v['userDataMode'] !== 'verbatim') throw badRequest('cloudInit.userDataMode must be "merge" or "verbatim"', 'cloudInit.userDataMode');
    out.userDataMode = v['userDataMode'];
  }
  if (v['networkConfig'] !== undefined) {
    const nc = v['networkConfig'];
    if (typeof nc !== 'object' || nc === null || Array.isArray(nc) || (nc as Record<string, unknown>)['version'] !== 2) {
      throw badRequest('cloudInit.networkConfig must be a network-config version 2 object ({"version": 2, ...})', 'cloudInit.networkConfig');
    }
    if (JSON.stringify(nc).length > MAX_USER_DATA_BYTES) throw badRequest('cloudInit.networkConfig is too large', 'cloudInit.networkConfig');
    out.networkConfig = nc as Record<string, unknown>;
  }
  return out;
}

/** DHCPv4 on each NIC, matched by MAC so the guest's interface naming does not matter. */
export function defaultNetworkConfig(macs: string[]): Record<string, unknown> {
  const ethernets: Record<string, unknown> = {};
  macs.forEach((mac, i) => {
    ethernets[`nic${i}`] = { match: { macaddress: mac }, 'set-name': `eth${i}`, dhcp4: true };
  });
  return { version: 2, ethernets };
}

export function seedFiles(instanceId: string, input: CloudInitInput, macs: string[]): SeedFiles {
  const hostname = input.hostname;
  const metaData = [`instance-id: ${JSON.stringify(instanceId)}`];
  if (hostname) metaData.push(`local-hostname: ${JSON.stringify(hostname)}`);

  const platformConfig: Record<string, unknown> = {};
  if (hostname) {
    platformConfig['hostname'] = hostname.split('.')[0];
    if (hostname.includes('.')) platformConfig['fqdn'] = hostname;
    platformConfig['preserve_hostname'] = false;
  }
  if (input.sshAuthorizedKeys?.length) platformConfig['ssh_authorized_keys'] = input.sshAuthorizedKeys;
  const platformPart = `#cloud-config\n${JSON.stringify(platformConfig, null, 2)}\n`;

  let userData: string;
  if (input.userData === undefined) userData = platformPart;
  else if (input.userDataMode === 'verbatim') userData = input.userData;
  else userData = multipart([platformPart, input.userData]);

  return {
    'meta-data': metaData.join('\n') + '\n',
    'user-data': userData,
    'network-config': JSON.stringify(input.networkConfig ?? defaultNetworkConfig(macs), null, 2) + '\n',
  };
}

/** MIME type cloud-init expects for each part, from the part's first line. */
function partType(text: string): string {
  if (text.startsWith('#cloud-config')) return 'text/cloud-config';
  if (text.startsWith('#!')) return 'text/x-shellscript';
  if (text.startsWith('#cloud-boothook')) return 'text/cloud-boothook';
  if (text.startsWith('#include')) return 'text/x-include-url';
  return 'text/plain';
}

function multipart(parts: string[]): string {
  const boundary = `==typevisor-${randomUUID()}==`;
  const out = ['Content-Type: multipart/mixed; boundary="' + boundary + '"', 'MIME-Version: 1.0', ''];
  parts.forEach((text, i) => {
    out.push(`--${boundary}`, `Content-Type: ${partType(text)}; charset="utf-8"`, 'MIME-Version: 1.0', `Content-Disposition: attachment; filename="part-${i}"`);
    // Later cloud-config parts extend lists and override keys of earlier ones.
    if (partType(text) === 'text/cloud-config') out.push('Merge-Type: list(append)+dict(recurse_array,no_replace)+str()');
    out.push('', text.endsWith('\n') ? text.slice(0, -1) : text);
  });
  out.push(`--${boundary}--`, '');
  return out.join('\n');
}

export type SeedKind = 'vfat' | 'iso';

/** Writes the seed image to `outFile` (through a temporary name, renamed when complete). */
export async function writeSeedImage(files: SeedFiles, outFile: string, kind: SeedKind = 'vfat'): Promise<void> {
  const dir = await fs.mkdtemp(path.join(path.dirname(outFile), '.seed-'));
  const tmp = path.join(dir, 'seed.img');
  try {
    for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(dir, name), text);
    const names = Object.keys(files).map((n) => path.join(dir, n));
    if (kind === 'vfat') {
      // 1 MiB FAT12 is ample (user-data is capped at 64 KiB); label CIDATA (FAT labels are upper-case; cloud-init accepts both).
      await execFileAsync('mkfs.vfat', ['-C', '-n', 'CIDATA', tmp, '1024']);
      await execFileAsync('mcopy', ['-o', '-i', tmp, ...names, '::/']);
    } else {
      await execFileAsync('xorriso', ['-as', 'mkisofs', '-quiet', '-output', tmp, '-volid', 'cidata', '-joliet', '-rock', ...names]);
    }
    await fs.rename(tmp, outFile);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
