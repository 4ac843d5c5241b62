/**
 * The hook through which storage, networks, images and cloud-init take part
 * in a VM's life (the storage engineer's code implements VmResources; the
 * daemon injects it into VmManager and the route schemas).
 *
 * `DirectResources` is the built-in implementation: disks are host image
 * paths, NICs are existing tap devices.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BootSpec, DiskSpec, NicSpec } from '../engines/engine.js';
import { badRequest } from '../http/api-error.js';
import type { JsonSchema, VmRecord, VmSpec } from './vm-model.js';

export interface PreparedResources {
  disks: DiskSpec[];
  nics: NicSpec[];
  /** Boot from the resources (e.g. an image's kernel) when the VM defines none. */
  boot?: BootSpec;
  /** Appended to the kernel command line (e.g. a root= for an image disk). */
  extraCmdline?: string;
}

export interface VmResources {
  /** JSON Schema of one `disks[]` item and one `nics[]` item in create/update bodies. */
  readonly diskSchema: JsonSchema;
  readonly nicSchema: JsonSchema;
  /** Extra top-level properties accepted by create/update (e.g. `image`, `cloudInit`); stored in spec.extra. */
  readonly extraProperties: Record<string, JsonSchema>;
  /**
   * Check a definition before it is stored (throw ApiError naming the field) and fill in
   * generated values (e.g. MAC addresses). Returns the spec to store.
   */
  validate(name: string, spec: VmSpec, previous: VmRecord | null): Promise<VmSpec>;
  /** After the VM row exists (e.g. clone an image disk). A throw undoes the create. */
  created(vm: VmRecord): Promise<void>;
  /** Before the engine starts: everything the launch spec needs. */
  prepare(vm: VmRecord): Promise<PreparedResources>;
  /** After the engine process is gone (stop, poweroff, crash). */
  release(vm: VmRecord): Promise<void>;
  /** The VM is being deleted: free what `created` made. */
  deleted(vm: VmRecord): Promise<void>;
  /** Optional live facts merged into the VM's API view (e.g. each NIC's DHCP-leased ipv4). */
  describe?(vm: VmRecord): Record<string, unknown>;
}

const MAC_PATTERN = '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$';
const TAP_PATTERN = '^[a-zA-Z0-9_.-]{1,15}$';

/** A locally administered unicast MAC (IEEE 802: bit 1 of the first octet set, bit 0 clear). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function requireFile(path: string, field: string): void {
  if (!isAbsolute(path)) throw badRequest(`${field} must be an absolute path, got ${JSON.stringify(path)}`, field);
  if (!existsSync(path) || !statSync(path).isFile()) throw badRequest(`${field}: no such file ${JSON.stringify(path)}`, field);
}

export class DirectResources implements VmResources {
  readonly diskSchema: JsonSchema = {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      path: { type: 'string', minLength: 1, maxLength: 4096, description: 'absolute host path of the disk image' },
      format: { type: 'string', enum: ['raw', 'qcow2'] },
      readonly: { type: 'boolean' },
      serial: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,20}$' },
    },
  };
  readonly nicSchema: JsonSchema = {
    type: 'object',
    additionalProperties: false,
    required: ['tap'],
    properties: {
      tap: { type: 'string', pattern: TAP_PATTERN, description: 'existing host tap device' },
      mac: { type: 'string', pattern: MAC_PATTERN },
    },
  };
  readonly extraProperties: Record<string, JsonSchema> = {};

  async validate(_name: string, spec: VmSpec): Promise<VmSpec> {
    if (!spec.boot) throw badRequest('boot is required (kernel, initrd, cmdline)', 'boot');
    spec.disks.forEach((d, i) => requireFile(String(d['path']), `disks[${i}].path`));
    return {
      ...spec,
      disks: spec.disks.map((d) => ({ format: 'raw', readonly: false, ...d })),
      nics: spec.nics.map((n) => ({ mac: randomMac(), ...n })),
    };
  }

  async created(): Promise<void> {}

  async prepare(vm: VmRecord): Promise<PreparedResources> {
    return {
      disks: vm.spec.disks.map((d) => ({
        path: String(d['path']),
        format: d['format'] === 'qcow2' ? 'qcow2' : 'raw',
        readonly: d['readonly'] === true,
        serial: typeof d['serial'] === 'string' ? d['serial'] : undefined,
      })),
      nics: vm.spec.nics.map((n) => ({ tap: String(n['tap']), mac: String(n['mac']) })),
    };
  }

  async release(): Promise<void> {}
  async deleted(): Promise<void> {}
}

export { requireFile };
