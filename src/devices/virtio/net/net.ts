/**
 * virtio-net (virtio 1.2 §5.1): one receive and one transmit queue, backed
 * by a NetBackend the VMM implements over a tap fd (IFF_VNET_HDR, vnet
 * header size 12). Frames cross with their virtio_net_hdr_v1 untouched, so
 * checksum and segmentation offloads flow between the guest and the host
 * kernel without the VMM looking at packets.
 *
 * Receive: when the backend is readable (onBackendReady) or the guest adds
 * receive buffers (processQueue(0)), frames are read until the backend is
 * empty or the guest has no buffers; a frame that found no buffers waits for
 * the next receive-queue notification. The VMM should register the tap in
 * epoll edge-triggered, because the device stops reading when blocked on
 * guest buffers and resumes on its own after the next rx kick.
 */
import { VirtioDeviceType, featureBit, hasFeature } from '../constants.js';
import { emptyMetrics, type VirtioActivation, type VirtioDevice, type VirtioDeviceMetrics } from '../device.js';
import { GuestIoRanges } from '../../../memory/io-ranges.js';
import { ChainReader, ChainWriter } from '../queue/chain.js';
import type { DescriptorChain } from '../queue/queue.js';
import { MAX_NET_PACKET, VirtioNetHeader } from './header.js';

/** Feature bits (§5.1.3). */
export const VirtioNetFeature = {
  CSUM: 0,
  GUEST_CSUM: 1,
  MTU: 3,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  GUEST_UFO: 10,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  HOST_UFO: 14,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
} as const;

/** struct virtio_net_config (§5.1.4), the fields typevisor offers. */
export const VirtioNetConfig = {
  MAC: 0, // u8[6]
  STATUS: 6, // le16
  MAX_VIRTQUEUE_PAIRS: 8, // le16
  SIZE: 10,
} as const;

export const VirtioNetStatus = { LINK_UP: 1, ANNOUNCE: 2 } as const;

export const NET_RECEIVE_QUEUE = 0;
/** Transmitted frames returned per used-idx update. */
const TX_USED_BATCH = 64;
export const NET_TRANSMIT_QUEUE = 1;

/** The VMM's side of the NIC: a tap fd opened with IFF_VNET_HDR and a 12-byte vnet header. */
export interface NetBackend {
  /** Reads one packet (vnet header + frame) into `frame`; returns its length, or -1 when nothing is waiting. */
  read(frame: Uint8Array): number;
  /** Writes one packet (vnet header + frame) straight from the guest buffers holding it (writev). */
  write(packet: GuestIoRanges): void;
}

/** Offloads the guest accepted on receive: the VMM mirrors them with TUNSETOFFLOAD. */
export interface NetOffloads {
  csum: boolean;
  tso4: boolean;
  tso6: boolean;
  ecn: boolean;
  ufo: boolean;
}

export interface NetOptions {
  backend: NetBackend;
  /** 6-byte MAC address. */
  mac: Uint8Array;
  queueSize?: number;
  /** Called on activation with the receive offloads the guest negotiated (TUNSETOFFLOAD). */
  setOffloads?: (offloads: NetOffloads) => void;
}

export interface NetStateV1 {
  version: 1;
  mac: string;
  linkUp: boolean;
  /** A received packet waiting for guest buffers, base64 (empty when none). */
  pendingRx: string;
  metrics: VirtioDeviceMetrics;
}

const OFFERED_FEATURES = [
  VirtioNetFeature.CSUM,
  VirtioNetFeature.GUEST_CSUM,
  VirtioNetFeature.MAC,
  VirtioNetFeature.GUEST_TSO4,
  VirtioNetFeature.GUEST_TSO6,
  VirtioNetFeature.GUEST_ECN,
  VirtioNetFeature.HOST_TSO4,
  VirtioNetFeature.HOST_TSO6,
  VirtioNetFeature.HOST_ECN,
  VirtioNetFeature.MRG_RXBUF,
  VirtioNetFeature.STATUS,
].reduce((mask, bit) => mask | featureBit(bit), 0n);

export class VirtioNet implements VirtioDevice {
  readonly deviceType = VirtioDeviceType.NET;
  readonly name = 'net';
  readonly queueMaxSizes: readonly number[];
  readonly features = OFFERED_FEATURES;
  readonly configSize = VirtioNetConfig.SIZE;
  private readonly mac: Uint8Array;
  private linkUp = true;
  private ctx: VirtioActivation | null = null;
  private mergeable = false;
  private readonly scratch = new Uint8Array(MAX_NET_PACKET);
  /** Length of the packet in `scratch` still waiting for guest buffers (0 = none). */
  private pendingLength = 0;
  private counters = emptyMetrics();
  /** The guest buffers of the frame being sent, reused from frame to frame. */
  private txRanges: GuestIoRanges | null = null;

  constructor(private readonly options: NetOptions) {
    if (options.mac.length !== 6) throw new RangeError(`virtio-net MAC must be 6 bytes, got ${options.mac.length}`);
    this.mac = Uint8Array.from(options.mac);
    const size = options.queueSize ?? 256;
    this.queueMaxSizes = [size, size];
    Object.assign(this.counters, { rxPackets: 0, txPackets: 0, rxDropped: 0, txDropped: 0 });
  }

  /** True while a received packet waits for the guest to post receive buffers. */
  get rxBlocked(): boolean {
    return this.pendingLength > 0;
  }

  /** Host: link carrier change (VIRTIO_NET_S_LINK_UP), announced with a config interrupt. */
  setLinkUp(up: boolean): void {
    if (this.linkUp === up) return;
    this.linkUp = up;
    if (this.ctx && hasFeature(this.ctx.features, VirtioNetFeature.STATUS)) this.ctx.interrupt.signalConfigChange();
  }

  readConfig(offset: number, data: Uint8Array): void {
    const image = new Uint8Array(VirtioNetConfig.SIZE);
    image.set(this.mac, VirtioNetConfig.MAC);
    const v = new DataView(image.buffer);
    v.setUint16(VirtioNetConfig.STATUS, this.linkUp ? VirtioNetStatus.LINK_UP : 0, true);
    v.setUint16(VirtioNetConfig.MAX_VIRTQUEUE_PAIRS, 1, true);
    data.set(image.subarray(offset, offset + data.length));
  }

  /** §5.1.4: the MAC is read-only for a modern driver (VIRTIO_NET_F_CTRL_MAC_ADDR is not offered). */
  writeConfig(): void {}

  activate(ctx: VirtioActivation): void {
    this.ctx = ctx;
    const f = ctx.features;
    this.mergeable = hasFeature(f, VirtioNetFeature.MRG_RXBUF);
    this.options.setOffloads?.({
      csum: hasFeature(f, VirtioNetFeature.GUEST_CSUM),
      tso4: hasFeature(f, VirtioNetFeature.GUEST_TSO4),
      tso6: hasFeature(f, VirtioNetFeature.GUEST_TSO6),
      ecn: hasFeature(f, VirtioNetFeature.GUEST_ECN),
      ufo: hasFeature(f, VirtioNetFeature.GUEST_UFO),
    });
    this.receive();
  }

  processQueue(index: number): void {
    if (index === NET_RECEIVE_QUEUE) this.receive();
    else if (index === NET_TRANSMIT_QUEUE) this.transmit();
  }

  onBackendReady(): void {
    this.receive();
  }

  // ---- Transmit (§5.1.6.2) ----------------------------------------------------

  private transmit(): void {
    const ctx = this.ctx;
    const queue = ctx?.queues[NET_TRANSMIT_QUEUE];
    if (!ctx || !queue?.isActive) return;
    // Completions are published together: one used-idx store and one interrupt decision per kick (§2.7.8
    // allows any grouping), not one per frame.
    const used: Array<{ head: number; len: number }> = [];
    const requestsBefore = this.counters.requests;
    const ranges = (this.txRanges = GuestIoRanges.reuse(this.txRanges, ctx.memory));
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      const length = chain.readableLength;
      if (length < VirtioNetHeader.SIZE || length > MAX_NET_PACKET) {
        this.counters.txDropped!++;
        this.counters.errors++;
      } else {
        ranges.clear();
        new ChainReader(ctx.memory, chain.readable).ranges(length, ranges);
        try {
          this.options.backend.write(ranges);
          this.counters.txPackets!++;
          this.counters.bytesFromGuest += length - VirtioNetHeader.SIZE;
        } catch {
          // Host-side failure (tap gone, ENOBUFS): the frame is lost, as on a congested wire.
          this.counters.txDropped!++;
          this.counters.errors++;
        }
      }
      used.push({ head: chain.head, len: 0 });
      this.counters.requests++;
      // Bounded so the driver gets buffers back while a long burst is still being sent.
      if (used.length >= TX_USED_BATCH) queue.pushUsedBatch(used.splice(0));
    }
    if (used.length > 0) queue.pushUsedBatch(used);
    if (this.counters.requests !== requestsBefore) ctx.interrupt.signalUsed(NET_TRANSMIT_QUEUE);
  }

  // ---- Receive (§5.1.6.3, §5.1.6.4) -------------------------------------------

  private receive(): void {
    const ctx = this.ctx;
    const queue = ctx?.queues[NET_RECEIVE_QUEUE];
    if (!ctx || !queue?.isActive) return;
    let delivered = 0;
    // Bounded even against a backend that never runs dry of undeliverable packets. The budget exceeds
    // what a tap holds (txqueuelen 1000), so with the tap watched edge-triggered a leftover is only
    // possible under a flood, and the flood's next packet (a new edge) or the next rx kick resumes it.
    for (let budget = 4 * queue.size + 64; budget > 0; budget--) {
      if (this.pendingLength === 0) {
        const n = this.readBackend();
        if (n < 0) break;
        if (n < VirtioNetHeader.SIZE) {
          this.counters.rxDropped!++;
          continue;
        }
        this.pendingLength = n;
      }
      const outcome = this.mergeable ? this.deliverMergeable() : this.deliverSingle();
      if (outcome === 'no-buffers') break;
      this.pendingLength = 0;
      if (outcome === 'delivered') delivered++;
    }
    if (delivered > 0) ctx.interrupt.signalUsed(NET_RECEIVE_QUEUE);
  }

  private readBackend(): number {
    let n: number;
    try {
      n = this.options.backend.read(this.scratch);
    } catch {
      this.counters.errors++;
      return -1;
    }
    return Number.isInteger(n) && n >= 0 ? Math.min(n, this.scratch.length) : -1;
  }

  /** One packet into one chain (no MRG_RXBUF: the guest posts buffers big enough for any packet it accepts). */
  private deliverSingle(): 'delivered' | 'dropped' | 'no-buffers' {
    const ctx = this.ctx!;
    const queue = ctx.queues[NET_RECEIVE_QUEUE]!;
    const chain = queue.pop();
    if (!chain) return 'no-buffers';
    const length = this.pendingLength;
    if (chain.writableLength < length) {
      // Too big for what the driver posted: drop the packet, keep the buffer for the next one.
      queue.undoPop();
      this.counters.rxDropped!++;
      return 'dropped';
    }
    this.setNumBuffers(1);
    new ChainWriter(ctx.memory, chain.writable).write(this.scratch.subarray(0, length));
    queue.pushUsed(chain.head, length);
    this.countRx(length);
    return 'delivered';
  }

  /** One packet over as many chains as needed, num_buffers telling the driver how many (§5.1.6.4.2). */
  private deliverMergeable(): 'delivered' | 'dropped' | 'no-buffers' {
    const ctx = this.ctx!;
    const queue = ctx.queues[NET_RECEIVE_QUEUE]!;
    const length = this.pendingLength;
    const chains: DescriptorChain[] = [];
    let room = 0;
    while (room < length) {
      const chain = queue.pop();
      if (!chain) {
        queue.undoPop(chains.length);
        return 'no-buffers';
      }
      chains.push(chain);
      room += chain.writableLength;
      if (chains.length > queue.size) break;
    }
    if (room < length) {
      queue.undoPop(chains.length);
      this.counters.rxDropped!++;
      return 'dropped';
    }
    this.setNumBuffers(chains.length);
    const used: Array<{ head: number; len: number }> = [];
    let at = 0;
    for (const chain of chains) {
      const n = new ChainWriter(ctx.memory, chain.writable).writeSome(this.scratch.subarray(at, length));
      used.push({ head: chain.head, len: n });
      at += n;
    }
    queue.pushUsedBatch(used);
    this.countRx(length);
    return 'delivered';
  }

  private setNumBuffers(count: number): void {
    this.scratch[VirtioNetHeader.NUM_BUFFERS] = count & 0xff;
    this.scratch[VirtioNetHeader.NUM_BUFFERS + 1] = count >> 8;
  }

  private countRx(length: number): void {
    this.counters.rxPackets!++;
    this.counters.requests++;
    this.counters.bytesToGuest += length - VirtioNetHeader.SIZE;
  }

  reset(): void {
    this.ctx = null;
    this.mergeable = false;
    this.pendingLength = 0;
  }

  save(): NetStateV1 {
    return {
      version: 1,
      mac: Buffer.from(this.mac).toString('hex'),
      linkUp: this.linkUp,
      pendingRx: Buffer.from(this.scratch.subarray(0, this.pendingLength)).toString('base64'),
      metrics: { ...this.counters },
    };
  }

  restore(state: unknown): void {
    const s = state as NetStateV1;
    if (s?.version !== 1) throw new Error('virtio-net state: unsupported version');
    const pending = Buffer.from(s.pendingRx, 'base64');
    if (pending.length > this.scratch.length) throw new Error('virtio-net state: pending packet too large');
    this.linkUp = s.linkUp;
    this.scratch.set(pending);
    this.pendingLength = pending.length;
    this.counters = { ...emptyMetrics(), ...s.metrics };
  }

  metrics(): VirtioDeviceMetrics {
    return { ...this.counters };
  }
}
