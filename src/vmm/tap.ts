/**
 * A tap device for virtio-net: opened with the virtio-net header (IFF_VNET_HDR,
 * 12-byte virtio_net_hdr_v1 per virtio 1.2 §5.1.6) so checksum and
 * segmentation offloads pass between guest and host untouched
 * (linux/if_tun.h; Documentation/networking/tuntap.rst).
 */
import { check, IOV_MAX, native, O_NONBLOCK, O_RDWR } from '../sys/native.js';
import { SysError } from '../sys/errors.js';
import type { NetBackend } from '../devices/virtio/net/net.js';
import type { GuestIoRanges } from '../memory/io-ranges.js';


const TUNSETIFF = 0x400454ca; // _IOW('T', 202, int)
const TUNSETOFFLOAD = 0x400454d0; // _IOW('T', 208, unsigned int)
const TUNSETVNETHDRSZ = 0x400454d8; // _IOW('T', 216, int)
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
const VNET_HDR_SIZE = 12;

export class Tap implements NetBackend {
  private constructor(
    readonly fd: number,
    readonly name: string,
  ) {}

  /** Opens (or creates) tap `name`. Needs CAP_NET_ADMIN unless the tap is owned by this user. */
  static open(name: string): Tap {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new Error(`tap name "${name}" is not a valid interface name`);
    const fd = native().open('/dev/net/tun', O_RDWR | O_NONBLOCK);
    if (fd < 0) throw new Error(`cannot open /dev/net/tun: ${native().strerror(-fd)}`);
    try {
      const ifr = new Uint8Array(IFREQ_SIZE);
      ifr.set(Buffer.from(name, 'ascii').subarray(0, IFNAMSIZ - 1));
      new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, true);
      const r = native().ioctl(fd, TUNSETIFF, ifr);
      if (r < 0) throw new Error(`cannot attach to tap ${name}: ${new SysError(-r, 'TUNSETIFF').code} (${native().strerror(-r)})`);
      check(native().ioctl(fd, TUNSETVNETHDRSZ, new Int32Array([VNET_HDR_SIZE])), 'TUNSETVNETHDRSZ');
      return new Tap(fd, name);
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  /** The receive offloads the guest can take (what it negotiated): TUN_F_* bits. */
  setOffloads(flags: number): void {
    check(native().ioctl(this.fd, TUNSETOFFLOAD, flags), 'TUNSETOFFLOAD');
  }

  read(frame: Uint8Array): number {
    const n = native().read(this.fd, frame);
    return n < 0 ? -1 : n;
  }

  write(packet: GuestIoRanges): void {
    // A full tap queue drops the packet, as a real NIC would; TCP retransmits. A packet is at most 64 KiB plus the
    // header (MAX_NET_PACKET), in fewer buffers than one writev takes (IOV_MAX) unless the driver sent it in
    // tiny pieces: such a packet is dropped rather than sent in two writes, which would make two packets.
    if (packet.count > 0 && packet.count <= IOV_MAX) native().writevRanges(this.fd, packet.regionBytes, packet.triples, 0, packet.count);
  }

  close(): void {
    native().close(this.fd);
  }
}
