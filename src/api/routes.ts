/**
 * The VMM control API's routes: Firecracker-shaped resources (field names as
 * Firecracker's, so its users feel at home), each with a JSON schema that
 * validates requests and feeds the OpenAPI document (openapi.ts).
 */

export type JsonSchema = Record<string, unknown>;

export interface RouteSpec {
  method: 'GET' | 'PUT' | 'PATCH';
  url: string;
  summary: string;
  /** VM states in which the route acts (documentation; Vmm enforces). */
  allowedIn: string;
  params?: JsonSchema;
  body?: JsonSchema;
}

const str = { type: 'string', minLength: 1, maxLength: 4096 };
const idParam = (name: string): JsonSchema => ({
  type: 'object',
  required: [name],
  properties: { [name]: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
});

export const ROUTES: RouteSpec[] = [
  { method: 'GET', url: '/', summary: 'VMM and VM information', allowedIn: 'any' },
  { method: 'GET', url: '/vm/info', summary: 'VM id and state (Not started, Running, Paused)', allowedIn: 'any' },
  { method: 'GET', url: '/vm/config', summary: 'The full VM configuration', allowedIn: 'any' },
  { method: 'GET', url: '/vm/metrics', summary: 'Per-device counters (block/net bytes) and exits', allowedIn: 'any' },
  { method: 'GET', url: '/machine-config', summary: 'vCPUs and memory', allowedIn: 'any' },
  {
    method: 'PUT',
    url: '/machine-config',
    summary: 'Set vCPUs (1..32) and memory (MiB)',
    allowedIn: 'not-started',
    body: {
      type: 'object',
      required: ['vcpu_count', 'mem_size_mib'],
      additionalProperties: false,
      properties: {
        vcpu_count: { type: 'integer', minimum: 1, maximum: 32 },
        mem_size_mib: { type: 'integer', minimum: 16, maximum: 1048576 },
      },
    },
  },
  {
    method: 'PUT',
    url: '/boot-source',
    summary: 'Kernel, initrd and command line',
    allowedIn: 'not-started',
    body: {
      type: 'object',
      required: ['kernel_image_path'],
      additionalProperties: false,
      properties: { kernel_image_path: str, initrd_path: str, boot_args: { type: 'string', maxLength: 65535 } },
    },
  },
  {
    method: 'PUT',
    url: '/drives/:drive_id',
    summary: 'Add or replace a virtio-blk drive',
    allowedIn: 'not-started',
    params: idParam('drive_id'),
    body: {
      type: 'object',
      required: ['drive_id', 'path_on_host', 'is_read_only'],
      additionalProperties: false,
      properties: {
        drive_id: { type: 'string' },
        path_on_host: str,
        is_read_only: { type: 'boolean' },
        is_root_device: { type: 'boolean' },
        format: { type: 'string', enum: ['raw', 'qcow2'] },
        serial: { type: 'string', maxLength: 20 },
      },
    },
  },
  {
    method: 'PUT',
    url: '/network-interfaces/:iface_id',
    summary: 'Add or replace a virtio-net interface on a tap device',
    allowedIn: 'not-started',
    params: idParam('iface_id'),
    body: {
      type: 'object',
      required: ['iface_id', 'host_dev_name'],
      additionalProperties: false,
      properties: {
        iface_id: { type: 'string' },
        host_dev_name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' },
        guest_mac: { type: 'string', pattern: '^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$' },
      },
    },
  },
  {
    method: 'PUT',
    url: '/vsock',
    summary: 'Hybrid vsock over a Unix socket',
    allowedIn: 'not-started',
    body: {
      type: 'object',
      required: ['guest_cid', 'uds_path'],
      additionalProperties: false,
      properties: { guest_cid: { type: 'integer', minimum: 3, maximum: 4294967295 }, uds_path: str, vsock_id: { type: 'string' } },
    },
  },
  {
    method: 'PUT',
    url: '/actions',
    summary: 'InstanceStart; PowerButton (clean ACPI shutdown); Reset (reboot); SendCtrlAltDel',
    allowedIn: 'InstanceStart: not-started; others: running',
    body: {
      type: 'object',
      required: ['action_type'],
      additionalProperties: false,
      properties: { action_type: { type: 'string', enum: ['InstanceStart', 'PowerButton', 'SendPowerButton', 'Reset', 'SendCtrlAltDel'] } },
    },
  },
  {
    method: 'PATCH',
    url: '/vm',
    summary: 'Pause or resume the VM',
    allowedIn: 'Paused: running; Resumed: paused',
    body: {
      type: 'object',
      required: ['state'],
      additionalProperties: false,
      properties: { state: { type: 'string', enum: ['Paused', 'Resumed'] } },
    },
  },
  {
    method: 'PUT',
    url: '/balloon',
    summary: 'Before boot: add a balloon device; running: set its target size (MiB the guest gives back)',
    allowedIn: 'not-started, running, paused',
    body: {
      type: 'object',
      required: ['amount_mib'],
      additionalProperties: false,
      properties: { amount_mib: { type: 'integer', minimum: 0, maximum: 1048576 }, stats_polling_interval_s: { type: 'integer', minimum: 0 } },
    },
  },
  { method: 'GET', url: '/balloon', summary: 'Balloon target and actual size (MiB)', allowedIn: 'running, paused' },
  { method: 'GET', url: '/balloon/statistics', summary: 'The guest memory statistics the balloon driver last reported', allowedIn: 'running, paused' },
  { method: 'GET', url: '/metrics', summary: 'Counters: exits by reason, uptime', allowedIn: 'any' },
  {
    method: 'PUT',
    url: '/snapshot/create',
    summary: 'Write a snapshot directory (the VM must be paused)',
    allowedIn: 'paused',
    body: {
      type: 'object',
      required: ['snapshot_path'],
      additionalProperties: false,
      properties: { snapshot_path: str },
    },
  },
  {
    method: 'PUT',
    url: '/snapshot/load',
    summary: 'Restore a snapshot into this (not yet started) VMM',
    allowedIn: 'not-started',
    body: {
      type: 'object',
      required: ['snapshot_path'],
      additionalProperties: false,
      properties: { snapshot_path: str, resume_vm: { type: 'boolean' } },
    },
  },
];
