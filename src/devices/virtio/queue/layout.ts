/**
 * Byte layout of a split virtqueue (virtio 1.2 §2.7): descriptor table,
 * driver area (available ring) and device area (used ring). All fields are
 * little-endian.
 */

/** struct virtq_desc (§2.7.5): 16 bytes. */
export const VirtqDesc = {
  SIZE: 16,
  ALIGN: 16,
  ADDR: 0, // le64
  LEN: 8, // le32
  FLAGS: 12, // le16
  NEXT: 14, // le16
} as const;

/** virtq_desc.flags (§2.7.5). */
export const VirtqDescFlags = {
  NEXT: 1,
  WRITE: 2,
  INDIRECT: 4,
} as const;

/** struct virtq_avail (§2.7.6): flags, idx, ring[size], used_event. */
export const VirtqAvail = {
  ALIGN: 2,
  FLAGS: 0,
  IDX: 2,
  RING: 4,
  ENTRY_SIZE: 2,
  /** VIRTQ_AVAIL_F_NO_INTERRUPT: the driver does not want used-buffer notifications (ignored with EVENT_IDX). */
  F_NO_INTERRUPT: 1,
  /** Offset of used_event (only meaningful with VIRTIO_F_EVENT_IDX). */
  usedEventOffset: (size: number): number => 4 + 2 * size,
  /** Total bytes, including used_event. */
  byteSize: (size: number): number => 6 + 2 * size,
} as const;

/** struct virtq_used (§2.7.8): flags, idx, ring[size] of {id le32, len le32}, avail_event. */
export const VirtqUsed = {
  ALIGN: 4,
  FLAGS: 0,
  IDX: 2,
  RING: 4,
  ENTRY_SIZE: 8,
  ENTRY_ID: 0,
  ENTRY_LEN: 4,
  /** VIRTQ_USED_F_NO_NOTIFY: the device does not want available-buffer notifications. */
  F_NO_NOTIFY: 1,
  availEventOffset: (size: number): number => 4 + 8 * size,
  byteSize: (size: number): number => 6 + 8 * size,
} as const;

/** Largest queue size a split virtqueue can have (§2.7: 16-bit indices, size <= 32768). */
export const MAX_QUEUE_SIZE = 32768;
