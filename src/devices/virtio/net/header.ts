/**
 * struct virtio_net_hdr_v1 (virtio 1.2 §5.1.6): 12 bytes in front of every
 * frame on both queues. typevisor passes it through to the tap unchanged
 * (the tap is opened with IFF_VNET_HDR and TUNSETVNETHDRSZ = 12), except
 * num_buffers on receive, which only the device knows.
 */
export const VirtioNetHeader = {
  SIZE: 12,
  FLAGS: 0, // u8
  GSO_TYPE: 1, // u8
  HDR_LEN: 2, // le16
  GSO_SIZE: 4, // le16
  CSUM_START: 6, // le16
  CSUM_OFFSET: 8, // le16
  NUM_BUFFERS: 10, // le16
} as const;

export const VirtioNetHeaderFlags = {
  NEEDS_CSUM: 1,
  DATA_VALID: 2,
} as const;

export const VirtioNetGsoType = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  ECN: 0x80,
} as const;

/** Ethernet frame limit we accept in either direction: a 64 KiB GSO super-frame plus link headers. */
export const MAX_NET_FRAME = 65536 + 64;
/** Largest buffer (header + frame) exchanged with the backend. */
export const MAX_NET_PACKET = VirtioNetHeader.SIZE + MAX_NET_FRAME;
