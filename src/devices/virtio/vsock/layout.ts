/**
 * virtio-vsock byte layouts and constants (virtio 1.2 §5.10).
 */

/** Queue indices (§5.10.2). */
export const VsockQueue = {
  RX: 0,
  TX: 1,
  EVENT: 2,
} as const;

/** struct virtio_vsock_config (§5.10.4): guest_cid u64 (only the low 32 bits are used). */
export const VsockConfig = {
  GUEST_CID: 0,
  SIZE: 8,
} as const;

/** struct virtio_vsock_hdr (§5.10.6), packed, little-endian. */
export const VsockHeader = {
  SRC_CID: 0, // u64
  DST_CID: 8, // u64
  SRC_PORT: 16, // u32
  DST_PORT: 20, // u32
  LEN: 24, // u32, payload bytes following the header
  TYPE: 28, // u16
  OP: 30, // u16
  FLAGS: 32, // u32
  BUF_ALLOC: 36, // u32, sender's receive buffer size for this connection
  FWD_CNT: 40, // u32, bytes the sender has consumed from its receive buffer (free-running)
  SIZE: 44,
} as const;

/** Packet operations (§5.10.6). */
export const VsockOp = {
  INVALID: 0,
  REQUEST: 1,
  RESPONSE: 2,
  RST: 3,
  SHUTDOWN: 4,
  RW: 5,
  CREDIT_UPDATE: 6,
  CREDIT_REQUEST: 7,
} as const;

/** Socket types (§5.10.6). Only streams are offered (no VIRTIO_VSOCK_F_SEQPACKET). */
export const VSOCK_TYPE_STREAM = 1;

/** SHUTDOWN flags (§5.10.6.5): the sender will receive / send no more data. */
export const VsockShutdown = {
  RCV: 1,
  SEND: 2,
  BOTH: 3,
} as const;

/** struct virtio_vsock_event (§5.10.6.7): id u32. */
export const VSOCK_EVENT_TRANSPORT_RESET = 0;
export const VSOCK_EVENT_SIZE = 4;

/** The host's CID (§5.10.4: 0/1 reserved, 2 is the host). */
export const VSOCK_HOST_CID = 2;
/** Largest payload in one packet (Linux VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
export const VSOCK_MAX_PAYLOAD = 64 * 1024;

export interface VsockPacketHeader {
  srcCid: bigint;
  dstCid: bigint;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

export function decodeVsockHeader(bytes: Uint8Array): VsockPacketHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, VsockHeader.SIZE);
  return {
    srcCid: v.getBigUint64(VsockHeader.SRC_CID, true),
    dstCid: v.getBigUint64(VsockHeader.DST_CID, true),
    srcPort: v.getUint32(VsockHeader.SRC_PORT, true),
    dstPort: v.getUint32(VsockHeader.DST_PORT, true),
    len: v.getUint32(VsockHeader.LEN, true),
    type: v.getUint16(VsockHeader.TYPE, true),
    op: v.getUint16(VsockHeader.OP, true),
    flags: v.getUint32(VsockHeader.FLAGS, true),
    bufAlloc: v.getUint32(VsockHeader.BUF_ALLOC, true),
    fwdCnt: v.getUint32(VsockHeader.FWD_CNT, true),
  };
}

export function encodeVsockHeader(h: VsockPacketHeader, out = new Uint8Array(VsockHeader.SIZE)): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, VsockHeader.SIZE);
  v.setBigUint64(VsockHeader.SRC_CID, h.srcCid, true);
  v.setBigUint64(VsockHeader.DST_CID, h.dstCid, true);
  v.setUint32(VsockHeader.SRC_PORT, h.srcPort >>> 0, true);
  v.setUint32(VsockHeader.DST_PORT, h.dstPort >>> 0, true);
  v.setUint32(VsockHeader.LEN, h.len >>> 0, true);
  v.setUint16(VsockHeader.TYPE, h.type, true);
  v.setUint16(VsockHeader.OP, h.op, true);
  v.setUint32(VsockHeader.FLAGS, h.flags >>> 0, true);
  v.setUint32(VsockHeader.BUF_ALLOC, h.bufAlloc >>> 0, true);
  v.setUint32(VsockHeader.FWD_CNT, h.fwdCnt >>> 0, true);
  return out;
}
