/**
 * virtio-blk byte layouts and constants (virtio 1.2 §5.2).
 */

/** Device feature bits (§5.2.3). */
export const BlockFeatureBit = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  MQ: 12,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

/** struct virtio_blk_config field offsets (§5.2.4); all little-endian. */
export const BlockConfig = {
  CAPACITY: 0, // u64, in 512-byte sectors
  SIZE_MAX: 8, // u32
  SEG_MAX: 12, // u32
  GEOMETRY: 16, // cylinders u16, heads u8, sectors u8
  BLK_SIZE: 20, // u32
  TOPOLOGY: 24, // physical_block_exp u8, alignment_offset u8, min_io_size u16, opt_io_size u32
  WRITEBACK: 32, // u8
  NUM_QUEUES: 34, // u16
  MAX_DISCARD_SECTORS: 36, // u32
  MAX_DISCARD_SEG: 40, // u32
  DISCARD_SECTOR_ALIGNMENT: 44, // u32
  MAX_WRITE_ZEROES_SECTORS: 48, // u32
  MAX_WRITE_ZEROES_SEG: 52, // u32
  WRITE_ZEROES_MAY_UNMAP: 56, // u8
  /** Through unused1[3]; the secure-erase fields that follow are not offered. */
  SIZE: 60,
} as const;

/** struct virtio_blk_req header (§5.2.6): type u32, reserved u32, sector u64. */
export const BlockRequestHeader = {
  TYPE: 0,
  RESERVED: 4,
  SECTOR: 8,
  SIZE: 16,
} as const;

/** Request types (§5.2.6). */
export const BlockRequestType = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  GET_LIFETIME: 10,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
} as const;

/** Status byte values (§5.2.6). */
export const BlockStatus = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
} as const;

/** struct virtio_blk_discard_write_zeroes (§5.2.6): sector u64, num_sectors u32, flags u32. */
export const DiscardSegment = {
  SECTOR: 0,
  NUM_SECTORS: 8,
  FLAGS: 12,
  SIZE: 16,
  /** flags bit 0: the device may deallocate (write zeroes only). */
  FLAG_UNMAP: 1,
} as const;

/** Sectors are always 512 bytes in virtio-blk, whatever blk_size says (§5.2.6). */
export const SECTOR_SIZE = 512;
export const SECTOR_SHIFT = 9;
/** GET_ID answers with a 20-byte serial, NUL-padded (not terminated when exactly 20 bytes). */
export const BLOCK_ID_BYTES = 20;
