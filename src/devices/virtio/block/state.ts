/**
 * Persisted virtio-blk state. Requests complete synchronously, so there is no
 * in-flight I/O to save; the state records what the guest was shown so a
 * restore onto a different disk (size, read-only-ness, queues) is refused.
 */
export interface BlockStateV1 {
  version: 1;
  kind: 'virtio-blk';
  capacitySectors: number;
  readonly: boolean;
  serial: string;
  numQueues: number;
}

/** Throws a clear error unless `state` is a BlockStateV1 matching the device being restored into. */
export function checkBlockState(state: unknown, current: BlockStateV1): void {
  const s = state as Partial<BlockStateV1> | null;
  if (!s || typeof s !== 'object' || s.kind !== 'virtio-blk') throw new Error('virtio-blk restore: not a virtio-blk state');
  if (s.version !== 1) throw new Error(`virtio-blk restore: unsupported state version ${String(s.version)}`);
  for (const key of ['capacitySectors', 'readonly', 'serial', 'numQueues'] as const) {
    if (s[key] !== current[key]) {
      throw new Error(`virtio-blk restore: ${key} was ${String(s[key])} when saved but the disk now has ${String(current[key])}`);
    }
  }
}
