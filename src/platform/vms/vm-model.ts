/**
 * The VM as the platform sees it: its stored definition, its state, and the
 * JSON Schemas of the create / update request bodies.
 */
import type { BootSpec, EngineName } from '../engines/engine.js';

export type VmState = 'stopped' | 'starting' | 'running' | 'paused' | 'stopping' | 'crashed';
export const VM_STATES: VmState[] = ['stopped', 'starting', 'running', 'paused', 'stopping', 'crashed'];
export const ENGINE_NAMES: EngineName[] = ['typevisor', 'qemu'];
export type RestartPolicy = 'no' | 'on-crash';

/** DNS-label-like: lower case, digits, dashes; used in paths and host names, so nothing else is allowed. */
export const VM_NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
export const MAX_VCPUS = 32;
export const MIN_MEMORY_MIB = 16;
export const MAX_MEMORY_MIB = 1024 * 1024;

/** What the user defines (stored as JSON in `vms.spec`). */
export interface VmSpec {
  vcpus: number;
  memoryMiB: number;
  boot: BootSpec | null;
  /** Item shapes are owned by the VmResources hook (see resources.ts). */
  disks: Record<string, unknown>[];
  nics: Record<string, unknown>[];
  restartPolicy: RestartPolicy;
  /** Extra create fields declared by the VmResources hook (e.g. image, cloudInit). */
  extra: Record<string, unknown>;
}

export interface VmRecord {
  id: string;
  name: string;
  engine: EngineName;
  engineReason: string;
  spec: VmSpec;
  state: VmState;
  stateReason: string;
  createdAt: number;
  updatedAt: number;
}

/** The API's VM object. */
export interface VmView {
  id: string;
  name: string;
  engine: EngineName;
  engineReason: string;
  state: VmState;
  stateReason: string;
  vcpus: number;
  memoryMiB: number;
  boot: BootSpec | null;
  disks: Record<string, unknown>[];
  nics: Record<string, unknown>[];
  restartPolicy: RestartPolicy;
  pid: number | null;
  createdAt: string;
  updatedAt: string;
  [extra: string]: unknown;
}

export function toView(r: VmRecord, pid: number | null): VmView {
  return {
    ...r.spec.extra,
    id: r.id,
    name: r.name,
    engine: r.engine,
    engineReason: r.engineReason,
    state: r.state,
    stateReason: r.stateReason,
    vcpus: r.spec.vcpus,
    memoryMiB: r.spec.memoryMiB,
    boot: r.spec.boot,
    disks: r.spec.disks,
    nics: r.spec.nics,
    restartPolicy: r.spec.restartPolicy,
    pid,
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

export type JsonSchema = Record<string, unknown>;

export const bootSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kernel'],
  properties: {
    kernel: { type: 'string', minLength: 1, maxLength: 4096, description: 'absolute host path of the kernel (bzImage)' },
    initrd: { type: 'string', minLength: 1, maxLength: 4096, description: 'absolute host path of the initramfs' },
    cmdline: { type: 'string', maxLength: 4096, description: 'kernel command line' },
  },
};

/** Properties shared by create and update; `extra` comes from the VmResources hook. */
export function vmDefinitionProperties(disk: JsonSchema, nic: JsonSchema, extra: Record<string, JsonSchema>): Record<string, JsonSchema> {
  return {
    ...extra,
    name: { type: 'string', pattern: VM_NAME_PATTERN, description: 'unique; lower-case letters, digits and dashes' },
    engine: { type: 'string', enum: ENGINE_NAMES, description: 'default: chosen from the host flavour' },
    vcpus: { type: 'integer', minimum: 1, maximum: MAX_VCPUS },
    memoryMiB: { type: 'integer', minimum: MIN_MEMORY_MIB, maximum: MAX_MEMORY_MIB },
    boot: bootSchema,
    disks: { type: 'array', maxItems: 16, items: disk },
    nics: { type: 'array', maxItems: 8, items: nic },
    restartPolicy: { type: 'string', enum: ['no', 'on-crash'] },
  };
}

export interface VmCreateBody {
  name: string;
  engine?: EngineName;
  vcpus?: number;
  memoryMiB?: number;
  boot?: BootSpec;
  disks?: Record<string, unknown>[];
  nics?: Record<string, unknown>[];
  restartPolicy?: RestartPolicy;
  [extra: string]: unknown;
}

export type VmUpdateBody = Partial<VmCreateBody>;

/** Defaults for a VM created without vcpus / memoryMiB. */
export const VM_DEFAULTS = { vcpus: 1, memoryMiB: 512 } as const;
