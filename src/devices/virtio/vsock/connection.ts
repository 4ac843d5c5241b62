/**
 * One vsock stream between a guest port and a host socket, with the
 * credit-based flow control of virtio 1.2 §5.10.6.3:
 *   - we advertise buf_alloc (how much guest data we will hold for the host
 *     socket) and fwd_cnt (how much of it we have passed on);
 *   - the guest may have at most buf_alloc - (its tx_cnt - our fwd_cnt) bytes
 *     in flight, and we obey the same rule with the guest's numbers.
 * Counters are free-running u32 values.
 */
import type { VsockHostSockets } from './host-sockets.js';

/** Guest data we buffer per connection when the host socket is slow (our buf_alloc). */
export const CONNECTION_BUFFER = 256 * 1024;
/** Send a CREDIT_UPDATE once the guest could be this far behind on our fwd_cnt. */
export const CREDIT_UPDATE_THRESHOLD = CONNECTION_BUFFER / 4;

export type ConnectionState =
  /** Host-initiated: REQUEST sent to the guest, waiting for RESPONSE. */
  | 'connecting'
  | 'established'
  /** We told the guest there is no more data (SHUTDOWN); waiting for its RST. */
  | 'closing';

/** Thrown when a guest breaks the protocol on this connection (the device answers with RST). */
export class VsockProtocolError extends Error {}

export class VsockConnection {
  state: ConnectionState;
  /** Guest data not yet accepted by the host socket. */
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Bytes passed on to the host socket (our fwd_cnt). */
  fwdCnt = 0;
  /** fwd_cnt last told to the guest. */
  fwdCntSent = 0;
  /** Bytes sent to the guest (our tx_cnt). */
  txCnt = 0;
  peerBufAlloc = 0;
  peerFwdCnt = 0;
  /** The host closed its side for writing: nothing more to read. */
  hostEof = false;
  /** The guest said it will send / receive no more (SHUTDOWN flags). */
  guestNoSend = false;
  guestNoReceive = false;
  /** Shut the host socket for writing once `pending` drains. */
  shutdownHostWhenDrained = false;
  /** We asked the guest for credit and have not heard back. */
  creditRequested = false;
  interestRead = false;
  interestWrite = false;

  constructor(
    readonly localPort: number,
    readonly peerPort: number,
    readonly socket: number,
    state: ConnectionState,
  ) {
    this.state = state;
  }

  get key(): string {
    return connectionKey(this.localPort, this.peerPort);
  }

  /** What we may send to the guest now (§5.10.6.3). */
  peerCredit(): number {
    const inFlight = (this.txCnt - this.peerFwdCnt) >>> 0;
    return Math.max(0, this.peerBufAlloc - inFlight);
  }

  updatePeerCredit(bufAlloc: number, fwdCnt: number): void {
    this.peerBufAlloc = bufAlloc;
    this.peerFwdCnt = fwdCnt;
    if (this.peerCredit() > 0) this.creditRequested = false;
  }

  get hasPendingToHost(): boolean {
    return this.pendingBytes > 0;
  }

  /** Guest data for the host socket: written now as far as the socket takes it, the rest buffered. */
  sendToHost(sockets: VsockHostSockets, data: Uint8Array): void {
    if (this.pendingBytes + data.length > CONNECTION_BUFFER) {
      throw new VsockProtocolError(`guest sent ${data.length} bytes beyond the ${CONNECTION_BUFFER}-byte credit`);
    }
    let offset = 0;
    if (this.pendingBytes === 0) offset = this.writeSome(sockets, data);
    if (offset < data.length) {
      this.pending.push(data.slice(offset));
      this.pendingBytes += data.length - offset;
    }
  }

  /** Writes buffered guest data to the host socket; returns true when all of it went. */
  flushToHost(sockets: VsockHostSockets): boolean {
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      const n = this.writeSome(sockets, head);
      this.pendingBytes -= n;
      if (n < head.length) {
        this.pending[0] = head.subarray(n);
        return false;
      }
      this.pending.shift();
    }
    if (this.shutdownHostWhenDrained) {
      this.shutdownHostWhenDrained = false;
      sockets.shutdownWrite(this.socket);
    }
    return true;
  }

  private writeSome(sockets: VsockHostSockets, data: Uint8Array): number {
    let offset = 0;
    while (offset < data.length) {
      const n = sockets.write(this.socket, data.subarray(offset));
      if (n === null || n === 0) break;
      offset += n;
    }
    this.fwdCnt = (this.fwdCnt + offset) >>> 0;
    return offset;
  }

  /** Whether the guest may be waiting on credit we have freed since we last told it. */
  needsCreditUpdate(): boolean {
    return ((this.fwdCnt - this.fwdCntSent) >>> 0) >= CREDIT_UPDATE_THRESHOLD;
  }
}

export function connectionKey(localPort: number, peerPort: number): string {
  return `${localPort >>> 0}:${peerPort >>> 0}`;
}
