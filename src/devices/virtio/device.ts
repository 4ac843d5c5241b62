/**
 * The interface every virtio device implements, independent of the transport
 * (virtio 1.2 §2 "Basic Facilities of a Virtio Device"). The transport
 * (transport/pci.ts) owns feature negotiation, status, queue configuration and
 * interrupts; the device owns its config space and request handling.
 *
 * Lifecycle, driven by the transport:
 *   construct -> [driver negotiates features, configures queues]
 *   -> activate(ctx) on DRIVER_OK -> processQueue(i) per notification,
 *      onBackendReady() when the VMM's backend fd is readable
 *   -> reset() when the driver writes status 0 (or the VMM resets the VM).
 * On restore: restore(state) first, then activate(ctx) if the driver had set
 * DRIVER_OK; activate() must keep the state restore() installed.
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { Virtqueue } from './queue/queue.js';

/** How a device tells the driver about completed work or configuration changes. */
export interface VirtioInterrupt {
  /**
   * Used buffers were pushed on queue `index`: raises the queue's MSI-X
   * vector if the driver wants a notification (Virtqueue.needsNotification()
   * decides: EVENT_IDX / NO_INTERRUPT). Call once after a batch of pushUsed().
   */
  signalUsed(index: number): void;
  /** The device config space changed (§4.1.4.3: bumps config_generation, raises msix_config). */
  signalConfigChange(): void;
}

/** What a device gets when the driver sets DRIVER_OK. */
export interface VirtioActivation {
  readonly memory: GuestMemory;
  /** Queues in device order; only queues the driver enabled are active (`queue.isActive`). */
  readonly queues: readonly Virtqueue[];
  readonly interrupt: VirtioInterrupt;
  /** Features the driver accepted (including the transport's VERSION_1 / EVENT_IDX / INDIRECT_DESC bits). */
  readonly features: bigint;
  /**
   * Reports a guest error caught outside processQueue/onBackendReady/activate
   * (host-initiated work: console input arriving, a stats request, an async
   * block completion). The transport sets DEVICE_NEEDS_RESET and calls the
   * device's reset(), so return right after calling it.
   */
  fail?(error: unknown): void;
}

/** Counters every device exposes; devices may add their own fields. */
export interface VirtioDeviceMetrics {
  /** Requests (chains) completed, over all queues. */
  requests: number;
  /** Payload bytes moved from the guest to the device (tx, writes). */
  bytesFromGuest: number;
  /** Payload bytes moved from the device to the guest (rx, reads). */
  bytesToGuest: number;
  /** Requests that failed (I/O error, malformed request answered with an error status). */
  errors: number;
  [extra: string]: number;
}

export function emptyMetrics(): VirtioDeviceMetrics {
  return { requests: 0, bytesFromGuest: 0, bytesToGuest: 0, errors: 0 };
}

export interface VirtioDevice {
  /** Virtio device id (VirtioDeviceType). */
  readonly deviceType: number;
  /** Short name for logs and metrics ("net", "rng", ...). */
  readonly name: string;
  /** Maximum size of each queue (a power of two); the length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /**
   * Device-specific feature bits offered to the driver. The transport adds
   * CORE_FEATURES (VERSION_1, INDIRECT_DESC, EVENT_IDX).
   */
  readonly features: bigint;
  /** Size in bytes of the device-specific configuration space (§4.1.4.6). */
  readonly configSize: number;

  /** Reads `data.length` bytes of device config at `offset` (bounds already checked by the transport). */
  readConfig(offset: number, data: Uint8Array): void;
  /** Driver write to device config (most fields are read-only: ignore those). */
  writeConfig(offset: number, data: Uint8Array): void;

  /** DRIVER_OK: start processing. Throwing a VirtqueueError marks the device DEVICE_NEEDS_RESET. */
  activate(ctx: VirtioActivation): void;
  /**
   * The driver notified queue `index` (ioeventfd or notify-region write).
   * Pop chains, handle them, pushUsed, then ctx.interrupt.signalUsed(index).
   * Guest errors: throw VirtqueueError / GuestMemoryError and the transport
   * sets DEVICE_NEEDS_RESET and calls reset(); per-request errors (bad request type, I/O error)
   * are answered through the request's status byte instead.
   */
  processQueue(index: number): void;
  /** The VMM's backend (tap fd, console input, host socket) became readable. Optional. */
  onBackendReady?(): void;
  /** Driver reset (status 0) or VM reset: drop the activation and per-session state, keep host configuration. */
  reset(): void;

  /** Device-specific state (JSON-able; each device names its own versioned type, e.g. NetStateV1). */
  save(): unknown;
  restore(state: unknown): void;

  metrics(): VirtioDeviceMetrics;
}
