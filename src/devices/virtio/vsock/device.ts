/**
 * virtio-vsock (virtio 1.2 §5.10), hybrid like Firecracker's: guest stream
 * sockets are connected to host sockets through VsockHostSockets.
 *
 * - Host-initiated: a host client connects to the listener and writes
 *   "CONNECT <port>\n"; we send the guest a REQUEST to <port> and, on its
 *   RESPONSE, answer "OK <local port>\n"; then bytes flow both ways.
 * - Guest-initiated: a REQUEST to host CID 2 port P opens the host socket for
 *   port P (`<uds>_<P>`); RESPONSE on success, RST if nobody listens.
 * The guest is untrusted: malformed packets are dropped, protocol violations
 * reset the connection, and the numbers of connections and of queued control
 * packets are bounded.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { VirtioDeviceType } from '../constants.js';
import { emptyMetrics, type VirtioActivation, type VirtioDevice, type VirtioDeviceMetrics } from '../device.js';
import { ChainReader, ChainWriter } from '../queue/chain.js';
import type { DescriptorChain, Virtqueue } from '../queue/queue.js';
import { CONNECTION_BUFFER, VsockConnection, VsockProtocolError, connectionKey } from './connection.js';
import type { VsockHostSockets } from './host-sockets.js';
import {
  VSOCK_EVENT_SIZE, VSOCK_EVENT_TRANSPORT_RESET, VSOCK_HOST_CID, VSOCK_MAX_PAYLOAD, VSOCK_TYPE_STREAM, VsockConfig,
  VsockHeader, VsockOp, VsockQueue, VsockShutdown, decodeVsockHeader, encodeVsockHeader, type VsockPacketHeader,
} from './layout.js';
import { checkVsockState, type VsockStateV1 } from './state.js';

export interface VirtioVsockOptions {
  /** The guest's CID (3 .. 0xfffffffe). */
  readonly guestCid: number;
  readonly sockets: VsockHostSockets;
  readonly queueSize?: number;
  /** Monotonic milliseconds (tests inject their own); defaults to performance.now. */
  readonly now?: () => number;
}

/**
 * How long the guest has to answer our REQUEST, or to RST after our SHUTDOWN,
 * before the connection is dropped (Firecracker uses 2 s for both). Checked
 * whenever the device runs; there is no timer.
 */
export const VSOCK_HANDSHAKE_TIMEOUT_MS = 2000;

/** Open connections per device; a guest REQUEST beyond this is refused with RST. */
export const MAX_CONNECTIONS = 1024;
/** Control packets waiting for rx buffers; beyond this the tx queue is left alone until the guest reads. */
const MAX_PENDING_CONTROL = 1024;
/** "CONNECT <port>\n" is short; a longer first line is not a vsock client. */
const MAX_CONNECT_LINE = 32;
/** Host-initiated connections get local ports from here up (Firecracker does the same). */
const FIRST_LOCAL_PORT = 1 << 30;

interface ControlPacket {
  localPort: number;
  peerPort: number;
  op: number;
  flags: number;
  type: number;
}

export class VirtioVsockDevice implements VirtioDevice {
  readonly deviceType = VirtioDeviceType.VSOCK;
  readonly name = 'vsock';
  readonly queueMaxSizes: readonly number[];
  /** No feature bits: stream sockets only (§5.10.3). */
  readonly features = 0n;
  readonly configSize = VsockConfig.SIZE;
  readonly guestCid: number;
  private readonly sockets: VsockHostSockets;
  private readonly now: () => number;
  private ctx: VirtioActivation | null = null;
  private readonly connections = new Map<string, VsockConnection>();
  /** Accepted host sockets still sending their "CONNECT <port>\n" line. */
  private readonly handshakes = new Map<number, number[]>();
  private readonly control: ControlPacket[] = [];
  private nextLocalPort = FIRST_LOCAL_PORT;
  private rxStarved = false;
  private transportResetPending = false;
  private readonly counters = { packetsFromGuest: 0, packetsToGuest: 0, bytesFromGuest: 0, bytesToGuest: 0, dropped: 0, resets: 0, opened: 0, transportResets: 0 };

  constructor(options: VirtioVsockOptions) {
    const cid = options.guestCid;
    if (!Number.isInteger(cid) || cid < 3 || cid >= 0xffffffff) throw new RangeError(`vsock: guest CID ${cid} must be 3..0xfffffffe`);
    this.guestCid = cid;
    this.sockets = options.sockets;
    this.now = options.now ?? (() => performance.now());
    const size = options.queueSize ?? 256;
    this.queueMaxSizes = [size, size, size];
  }

  readConfig(offset: number, data: Uint8Array): void {
    const config = new Uint8Array(VsockConfig.SIZE);
    new DataView(config.buffer).setBigUint64(VsockConfig.GUEST_CID, BigInt(this.guestCid), true);
    data.set(config.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // guest_cid is read-only for the driver.
  }

  activate(ctx: VirtioActivation): void {
    this.ctx = ctx;
    if (this.transportResetPending) this.sendTransportReset();
    this.processTx();
    this.fillRx();
  }

  processQueue(index: number): void {
    if (!this.ctx) return;
    if (index === VsockQueue.EVENT) {
      if (this.transportResetPending) this.sendTransportReset();
      return;
    }
    this.expireStaleConnections();
    // Either way both directions may move: new rx buffers unblock control packets and
    // host reads; tx packets produce replies.
    this.processTx();
    this.fillRx();
    if (this.control.length > 0 && !this.rxStarved) this.processTx();
  }

  onBackendReady(): void {
    this.expireStaleConnections();
    for (let socket = this.sockets.accept(); socket !== null; socket = this.sockets.accept()) {
      if (!this.ctx) {
        this.sockets.close(socket); // no driver to connect to yet
        continue;
      }
      this.handshakes.set(socket, []);
      this.sockets.setInterest(socket, true, false);
    }
    for (const [socket, line] of [...this.handshakes]) this.readConnectLine(socket, line);
    for (const conn of [...this.connections.values()]) {
      if (!conn.hasPendingToHost) continue;
      try {
        conn.flushToHost(this.sockets);
      } catch {
        this.resetConnection(conn);
        continue;
      }
      if (conn.needsCreditUpdate()) this.queueControl(conn, VsockOp.CREDIT_UPDATE);
    }
    if (this.ctx) this.fillRx();
    this.updateAllInterest();
  }

  reset(): void {
    for (const conn of this.connections.values()) this.sockets.close(conn.socket);
    for (const socket of this.handshakes.keys()) this.sockets.close(socket);
    this.connections.clear();
    this.handshakes.clear();
    this.control.length = 0;
    this.rxStarved = false;
    this.ctx = null;
  }

  // ---- guest -> host (tx queue) ---------------------------------------------------------------

  private processTx(): void {
    const ctx = this.ctx!;
    const queue = ctx.queues[VsockQueue.TX];
    if (!queue?.isActive) return;
    let completed = 0;
    while (this.control.length < MAX_PENDING_CONTROL) {
      const chain = queue.pop();
      if (!chain) break;
      this.handleTxPacket(ctx.memory, chain);
      queue.pushUsed(chain.head, 0);
      completed++;
    }
    if (completed > 0) ctx.interrupt.signalUsed(VsockQueue.TX);
    this.updateAllInterest();
  }

  private handleTxPacket(memory: GuestMemory, chain: DescriptorChain): void {
    const reader = new ChainReader(memory, chain.readable);
    if (reader.remaining < VsockHeader.SIZE) {
      this.counters.dropped++;
      return;
    }
    const hdr = decodeVsockHeader(reader.read(VsockHeader.SIZE));
    if (hdr.len > reader.remaining || hdr.len > VSOCK_MAX_PAYLOAD || hdr.dstCid !== BigInt(VSOCK_HOST_CID) || hdr.srcCid !== BigInt(this.guestCid)) {
      this.counters.dropped++;
      return;
    }
    this.counters.packetsFromGuest++;
    if (hdr.type !== VSOCK_TYPE_STREAM) {
      if (hdr.op !== VsockOp.RST) this.queueReset(hdr);
      return;
    }
    const conn = this.connections.get(connectionKey(hdr.dstPort, hdr.srcPort));
    if (!conn) {
      if (hdr.op === VsockOp.REQUEST) this.connectToHost(hdr);
      else if (hdr.op !== VsockOp.RST) this.queueReset(hdr);
      return;
    }
    conn.updatePeerCredit(hdr.bufAlloc, hdr.fwdCnt);
    try {
      this.handleConnectionPacket(conn, hdr, reader);
    } catch {
      // Socket errors and protocol violations end the connection.
      this.resetConnection(conn);
    }
  }

  private handleConnectionPacket(conn: VsockConnection, hdr: VsockPacketHeader, reader: ChainReader): void {
    switch (hdr.op) {
      case VsockOp.RESPONSE:
        if (conn.state !== 'connecting') throw new VsockProtocolError('unexpected RESPONSE');
        conn.state = 'established';
        conn.deadline = null;
        conn.sendPreamble(this.sockets, new TextEncoder().encode(`OK ${conn.localPort}\n`));
        return;
      case VsockOp.RW: {
        if (conn.state === 'connecting' || conn.guestNoSend) throw new VsockProtocolError('data on a connection not open for it');
        if (conn.state === 'closing') return; // we are tearing down; the guest's late data is dropped
        for (const view of reader.views(hdr.len)) conn.sendToHost(this.sockets, view);
        this.counters.bytesFromGuest += hdr.len;
        if (conn.needsCreditUpdate()) this.queueControl(conn, VsockOp.CREDIT_UPDATE);
        return;
      }
      case VsockOp.CREDIT_UPDATE:
        return; // credit already taken from the header
      case VsockOp.CREDIT_REQUEST:
        this.queueControl(conn, VsockOp.CREDIT_UPDATE);
        return;
      case VsockOp.SHUTDOWN: {
        if (hdr.flags & VsockShutdown.RCV) conn.guestNoReceive = true;
        if (hdr.flags & VsockShutdown.SEND) conn.guestNoSend = true;
        if (conn.guestNoReceive && conn.guestNoSend) {
          // The guest closed: pass on what we can and end with RST, which the guest waits for.
          conn.flushToHost(this.sockets);
          this.resetConnection(conn);
        } else if (conn.guestNoSend) {
          conn.shutdownHostWhenDrained = true;
          conn.flushToHost(this.sockets);
        }
        return;
      }
      case VsockOp.RST:
        this.closeConnection(conn);
        return;
      case VsockOp.REQUEST:
      default:
        throw new VsockProtocolError(`unexpected op ${hdr.op}`);
    }
  }

  private connectToHost(hdr: VsockPacketHeader): void {
    if (this.connections.size >= MAX_CONNECTIONS) {
      this.queueReset(hdr);
      return;
    }
    let socket: number;
    try {
      socket = this.sockets.connect(hdr.dstPort);
    } catch {
      this.queueReset(hdr);
      return;
    }
    const conn = new VsockConnection(hdr.dstPort, hdr.srcPort, socket, 'established');
    conn.updatePeerCredit(hdr.bufAlloc, hdr.fwdCnt);
    this.connections.set(conn.key, conn);
    this.counters.opened++;
    this.queueControl(conn, VsockOp.RESPONSE);
  }

  // ---- host -> guest (rx queue) ---------------------------------------------------------------

  private fillRx(): void {
    const ctx = this.ctx!;
    const queue = ctx.queues[VsockQueue.RX];
    if (!queue?.isActive) return;
    let completed = 0;
    this.rxStarved = false;
    outer: for (let progress = true; progress; ) {
      progress = false;
      while (this.control.length > 0) {
        const chain = queue.pop();
        if (!chain) {
          this.rxStarved = true;
          break outer;
        }
        this.writeControl(ctx.memory, queue, chain, this.control.shift()!);
        completed++;
      }
      for (const conn of [...this.connections.values()]) {
        if (!this.canReadHost(conn)) continue;
        const chain = queue.pop();
        if (!chain) {
          this.rxStarved = true;
          break outer;
        }
        let used: number | null;
        try {
          used = this.readHostInto(ctx.memory, conn, chain);
        } catch {
          queue.undoPop();
          this.resetConnection(conn); // its RST goes out on the next pass
          progress = true;
          continue;
        }
        if (used === null) {
          queue.undoPop();
          continue;
        }
        queue.pushUsed(chain.head, used);
        completed++;
        progress = true;
      }
    }
    if (completed > 0) ctx.interrupt.signalUsed(VsockQueue.RX);
    this.updateAllInterest();
  }

  private canReadHost(conn: VsockConnection): boolean {
    return conn.state === 'established' && !conn.hostEof && !conn.guestNoReceive && conn.peerCredit() > 0;
  }

  /**
   * Reads host data straight into the chain's payload area. Returns the used
   * length, or null when the socket had nothing (the chain is given back).
   * End of stream becomes SHUTDOWN in the same chain.
   */
  private readHostInto(memory: GuestMemory, conn: VsockConnection, chain: DescriptorChain): number | null {
    const writer = new ChainWriter(memory, chain.writable);
    if (writer.remaining < VsockHeader.SIZE) {
      this.counters.dropped++;
      return 0; // an rx buffer that cannot hold a header: consume it, unused
    }
    if (writer.remaining === VsockHeader.SIZE) {
      // No room for payload: Linux never posts such buffers. Consume it, or we would retry it forever.
      this.counters.dropped++;
      return 0;
    }
    const headerViews = writer.views(VsockHeader.SIZE);
    let total = 0;
    let eof = false;
    for (const view of writer.views(Math.min(writer.remaining, conn.peerCredit(), VSOCK_MAX_PAYLOAD))) {
      const n = this.sockets.read(conn.socket, view);
      if (n === null) break;
      if (n === 0) {
        eof = true;
        break;
      }
      total += n;
      if (n < view.length) break;
    }
    if (total > 0) {
      conn.txCnt = (conn.txCnt + total) >>> 0;
      this.counters.bytesToGuest += total;
      this.writeHeader(headerViews, this.packetFor(conn, VsockOp.RW, 0, total));
      return VsockHeader.SIZE + total;
    }
    if (!eof) return null;
    // The host closed: tell the guest nothing more will come either way; it answers with RST.
    conn.hostEof = true;
    conn.state = 'closing';
    conn.deadline = this.now() + VSOCK_HANDSHAKE_TIMEOUT_MS;
    this.writeHeader(headerViews, this.packetFor(conn, VsockOp.SHUTDOWN, VsockShutdown.BOTH, 0));
    return VsockHeader.SIZE;
  }

  private writeControl(memory: GuestMemory, queue: Virtqueue, chain: DescriptorChain, packet: ControlPacket): void {
    const writer = new ChainWriter(memory, chain.writable);
    if (writer.remaining < VsockHeader.SIZE) {
      this.counters.dropped++;
      queue.pushUsed(chain.head, 0);
      return;
    }
    const conn = this.connections.get(connectionKey(packet.localPort, packet.peerPort));
    const header = conn
      ? this.packetFor(conn, packet.op, packet.flags, 0)
      : { ...this.packetFor(null, packet.op, packet.flags, 0), srcPort: packet.localPort, dstPort: packet.peerPort, type: packet.type };
    this.writeHeader(writer.views(VsockHeader.SIZE), header);
    queue.pushUsed(chain.head, VsockHeader.SIZE);
  }

  /** A packet header from the host side of `conn` (credit fields included, §5.10.6.3). */
  private packetFor(conn: VsockConnection | null, op: number, flags: number, len: number): VsockPacketHeader {
    if (conn) conn.fwdCntSent = conn.fwdCnt;
    this.counters.packetsToGuest++;
    return {
      srcCid: BigInt(VSOCK_HOST_CID),
      dstCid: BigInt(this.guestCid),
      srcPort: conn?.localPort ?? 0,
      dstPort: conn?.peerPort ?? 0,
      len,
      type: VSOCK_TYPE_STREAM,
      op,
      flags,
      bufAlloc: conn ? CONNECTION_BUFFER : 0,
      fwdCnt: conn?.fwdCnt ?? 0,
    };
  }

  private writeHeader(views: Uint8Array[], header: VsockPacketHeader): void {
    const bytes = encodeVsockHeader(header);
    let at = 0;
    for (const view of views) {
      view.set(bytes.subarray(at, at + view.length));
      at += view.length;
    }
  }

  // ---- host connections -----------------------------------------------------------------------

  /** Reads the "CONNECT <port>\n" line a byte at a time, so no stream data after it is consumed. */
  private readConnectLine(socket: number, line: number[]): void {
    const byte = new Uint8Array(1);
    for (;;) {
      let n: number | null;
      try {
        n = this.sockets.read(socket, byte);
      } catch {
        n = 0;
      }
      if (n === null) return;
      if (n === 0 || line.length >= MAX_CONNECT_LINE) {
        this.dropHandshake(socket);
        return;
      }
      if (byte[0] !== 0x0a) {
        line.push(byte[0]!);
        continue;
      }
      const match = /^CONNECT (\d{1,10})$/.exec(String.fromCharCode(...line).trim());
      const port = match ? Number(match[1]) : -1;
      if (port < 0 || port > 0xffffffff || this.connections.size >= MAX_CONNECTIONS) {
        this.dropHandshake(socket);
        return;
      }
      this.handshakes.delete(socket);
      const conn = new VsockConnection(this.allocateLocalPort(port), port, socket, 'connecting');
      conn.deadline = this.now() + VSOCK_HANDSHAKE_TIMEOUT_MS;
      this.connections.set(conn.key, conn);
      this.counters.opened++;
      this.queueControl(conn, VsockOp.REQUEST);
      this.updateInterest(conn);
      return;
    }
  }

  /** A guest that never answers our REQUEST, or never RSTs after our SHUTDOWN, loses the connection. */
  private expireStaleConnections(): void {
    let now: number | undefined;
    for (const conn of [...this.connections.values()]) {
      if (conn.deadline === null) continue;
      now ??= this.now();
      if (now >= conn.deadline) this.resetConnection(conn);
    }
  }

  private dropHandshake(socket: number): void {
    this.handshakes.delete(socket);
    this.sockets.close(socket);
  }

  private allocateLocalPort(peerPort: number): number {
    for (;;) {
      const port = this.nextLocalPort;
      this.nextLocalPort = this.nextLocalPort >= 0xfffffffe ? FIRST_LOCAL_PORT : this.nextLocalPort + 1;
      if (!this.connections.has(connectionKey(port, peerPort))) return port;
    }
  }

  private queueControl(conn: VsockConnection, op: number, flags = 0): void {
    this.control.push({ localPort: conn.localPort, peerPort: conn.peerPort, op, flags, type: VSOCK_TYPE_STREAM });
  }

  /** RST for a packet that matches no connection (ports swapped: we answer the sender). */
  private queueReset(hdr: VsockPacketHeader): void {
    this.counters.resets++;
    this.control.push({ localPort: hdr.dstPort, peerPort: hdr.srcPort, op: VsockOp.RST, flags: 0, type: hdr.type });
  }

  /** Ends a connection with RST to the guest. */
  private resetConnection(conn: VsockConnection): void {
    this.closeConnection(conn);
    this.counters.resets++;
    this.control.push({ localPort: conn.localPort, peerPort: conn.peerPort, op: VsockOp.RST, flags: 0, type: VSOCK_TYPE_STREAM });
  }

  private closeConnection(conn: VsockConnection): void {
    this.connections.delete(conn.key);
    this.sockets.close(conn.socket);
  }

  private updateAllInterest(): void {
    for (const conn of this.connections.values()) this.updateInterest(conn);
  }

  /** Level-triggered readiness: only ask for what we can act on now (§ see VsockHostSockets.setInterest). */
  private updateInterest(conn: VsockConnection): void {
    const read = this.canReadHost(conn) && !this.rxStarved;
    const write = conn.hasPendingToHost;
    if (read === conn.interestRead && write === conn.interestWrite) return;
    conn.interestRead = read;
    conn.interestWrite = write;
    this.sockets.setInterest(conn.socket, read, write);
  }

  // ---- events, state, metrics -----------------------------------------------------------------

  /** §5.10.6.7: after a restore the guest must drop its connections (their host sockets are gone). */
  private sendTransportReset(): void {
    const ctx = this.ctx!;
    const queue = ctx.queues[VsockQueue.EVENT];
    if (!queue?.isActive) return;
    const chain = queue.pop();
    if (!chain) return; // retried when the driver adds an event buffer
    const writer = new ChainWriter(ctx.memory, chain.writable);
    const event = new Uint8Array(VSOCK_EVENT_SIZE);
    new DataView(event.buffer).setUint32(0, VSOCK_EVENT_TRANSPORT_RESET, true);
    const written = writer.writeSome(event);
    queue.pushUsed(chain.head, written);
    ctx.interrupt.signalUsed(VsockQueue.EVENT);
    this.transportResetPending = written < VSOCK_EVENT_SIZE;
    if (!this.transportResetPending) this.counters.transportResets++;
  }

  /** Host sockets cannot be saved: a restored guest is told to reset its connections. */
  save(): VsockStateV1 {
    return { version: 1, kind: 'virtio-vsock', guestCid: this.guestCid };
  }

  restore(state: unknown): void {
    checkVsockState(state, this.guestCid);
    const ctx = this.ctx;
    this.reset();
    this.ctx = ctx;
    this.transportResetPending = true;
  }

  metrics(): VirtioDeviceMetrics {
    const c = this.counters;
    return {
      ...emptyMetrics(),
      requests: c.packetsFromGuest + c.packetsToGuest,
      bytesFromGuest: c.bytesFromGuest,
      bytesToGuest: c.bytesToGuest,
      errors: c.dropped,
      packetsFromGuest: c.packetsFromGuest,
      packetsToGuest: c.packetsToGuest,
      connections: this.connections.size,
      connectionsOpened: c.opened,
      resets: c.resets,
      transportResets: c.transportResets,
    };
  }
}
