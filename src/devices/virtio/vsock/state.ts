/**
 * Persisted virtio-vsock state. Connections end at a snapshot (their host
 * sockets cannot be saved); the restored device sends TRANSPORT_RESET so the
 * guest drops them too (virtio 1.2 §5.10.6.7).
 */
export interface VsockStateV1 {
  version: 1;
  kind: 'virtio-vsock';
  guestCid: number;
}

export function checkVsockState(state: unknown, guestCid: number): void {
  const s = state as Partial<VsockStateV1> | null;
  if (!s || typeof s !== 'object' || s.kind !== 'virtio-vsock') throw new Error('virtio-vsock restore: not a virtio-vsock state');
  if (s.version !== 1) throw new Error(`virtio-vsock restore: unsupported state version ${String(s.version)}`);
  if (s.guestCid !== guestCid) throw new Error(`virtio-vsock restore: guest CID was ${String(s.guestCid)}, the device has ${guestCid}`);
}
