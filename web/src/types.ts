/** Shapes of the REST API's JSON (see /api/v1/openapi.json). */
export type VmState = 'stopped' | 'starting' | 'running' | 'paused' | 'stopping' | 'crashed';
export const VM_STATES: VmState[] = ['running', 'starting', 'paused', 'stopping', 'stopped', 'crashed'];

export interface Nic { network?: string; tap?: string; mac?: string; ipv4?: string | null; index?: number }
export interface Disk { volume?: string; pool?: string; sizeBytes?: number; path?: string; format?: 'raw' | 'qcow2'; readonly?: boolean; serial?: string }

export interface Vm {
  id: string;
  name: string;
  engine: 'typevisor' | 'qemu';
  engineReason: string;
  state: VmState;
  stateReason: string;
  vcpus: number;
  memoryMiB: number;
  boot: { kernel: string; initrd?: string; cmdline?: string } | null;
  disks: Disk[];
  nics: Nic[];
  image?: string;
  cloudInit?: { hostname?: string; sshAuthorizedKeys?: string[] };
  restartPolicy: 'no' | 'on-crash';
  pid: number | null;
  createdAt: string;
  updatedAt: string;
}

export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export interface Task {
  id: string;
  kind: string;
  target: string | null;
  status: TaskStatus;
  progress: number;
  log?: string[];
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface NodeSample {
  time: number; cpuPercent: number; memoryTotalBytes: number; memoryUsedBytes: number;
  diskReadBytes: number; diskWriteBytes: number; netRxBytes: number; netTxBytes: number; load1: number;
}
export interface VmSample {
  time: number; cpuPercent: number; memoryBytes: number; diskReadBytes: number; diskWriteBytes: number; netRxBytes: number; netTxBytes: number;
}

export interface NodeInfo {
  hostname: string;
  cpus: number;
  uptimeSeconds: number;
  version: string;
  storage?: { path: string; totalBytes: number; freeBytes: number };
  defaultEngine: { name: string; reason: string };
  engines: Record<string, { available: boolean; reason: string }>;
  vms: Partial<Record<VmState, number>>;
  metrics: NodeSample | null;
}

export interface Pool { name: string; kind: string; path: string; capacityBytes: number; freeBytes: number }
export interface Volume {
  pool: string; name: string; format: 'raw' | 'qcow2'; virtualSizeBytes: number; actualSizeBytes: number; path: string;
  base?: { pool: string; name: string }; clones?: { pool: string; name: string }[]; attachedTo?: { vmId: string; role: string }[];
}
export interface Network {
  name: string; subnet: string; nat: boolean; bridge: string; gateway: string; dhcp: { start: string; end: string };
  dnsmasq: { running: boolean; pid?: number }; nics: number; createdAt: string;
}
export interface Image {
  name: string; recipe: string; status: 'building' | 'ready';
  disk: { pool: string; volume: string; virtualSizeBytes?: number; actualSizeBytes?: number };
  boot: { kernel: string; initrd?: string; cmdline?: string } | null;
  taskId: string | null; buildSeconds: number | null; createdAt: string; clones: number;
}
export interface Recipe { name: string; description: string }
export interface DiskSnapshot { name: string; dateSec: number; volumes: string[] }

export type PlatformEvent =
  | { type: 'hello'; time: string }
  | { type: 'vm.created' | 'vm.updated'; vm: Vm; time: string }
  | { type: 'vm.deleted'; id: string; name: string; time: string }
  | { type: 'vm.state'; id: string; name: string; state: VmState; stateReason: string; time: string }
  | { type: 'task.created' | 'task.finished'; task: Task; time: string }
  | { type: 'task.progress'; id: string; progress: number; time: string }
  | { type: 'task.log'; id: string; line: string; time: string };
