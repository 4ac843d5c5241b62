/**
 * The host side of hybrid vsock (Firecracker semantics), as the pure device
 * sees it: stream sockets named by numbers, non-blocking, with readiness
 * reported through VirtioVsockDevice.onBackendReady(). src/vmm/vsock-unix.ts
 * implements it with Unix sockets: the listener at `uds` (host-initiated
 * connections, which start with "CONNECT <port>\n") and `<uds>_<port>` for
 * guest-initiated connections to host port <port>.
 */
export interface VsockHostSockets {
  /** One pending host-initiated connection from the `uds` listener, or null when none is waiting. */
  accept(): number | null;
  /** Connects to the host service for guest connections to host `port`; throws when nobody listens. */
  connect(port: number): number;
  /** Bytes read into `into`; 0 at end of stream; null when nothing is available now. Throws on a socket error. */
  read(socket: number, into: Uint8Array): number | null;
  /** Bytes written (possibly fewer than offered); null when the socket cannot take any now. Throws on a socket error. */
  write(socket: number, from: Uint8Array): number | null;
  /** Half-close: the host peer reads end of stream. */
  shutdownWrite(socket: number): void;
  close(socket: number): void;
  /**
   * Which readiness the device wants onBackendReady() for. The listener is
   * always watched. Level-triggered: a socket left readable but unread must
   * have its read interest cleared, or the device thread would spin.
   */
  setInterest(socket: number, readable: boolean, writable: boolean): void;
}
