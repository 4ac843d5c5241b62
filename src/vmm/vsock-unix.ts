/**
 * Host sockets for hybrid vsock over Unix domain sockets, with Firecracker's
 * conventions: host clients connect to `uds` and send "CONNECT <port>\n";
 * guest connections to host port P go to the socket at `<uds>_<P>`.
 *
 * Everything is non-blocking and synchronous (the device thread has no event
 * loop). Readiness is collected in an epoll set of its own: `epollFd` becomes
 * readable whenever a watched socket is ready, so the device thread adds that
 * one fd to its main epoll and calls device.onBackendReady() when it fires.
 */
import * as fs from 'node:fs';
import type { VsockHostSockets } from '../devices/virtio/vsock/host-sockets.js';
import { SysError } from '../sys/errors.js';
import { check, EPOLLIN, EPOLLOUT, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, native } from '../sys/native.js';

const EAGAIN = 11;
const ECONNREFUSED = 111;
const SHUT_WR = 1;
/** accept() errors that mean "no resources now" (EMFILE, ENFILE, ENOBUFS, ENOMEM). */
const RESOURCE_ERRORS = new Set([24, 23, 105, 12]);
/** epoll data tag of the listener; other sockets are tagged with their fd. */
const LISTENER_TAG = 0xffffffff;

export class UnixVsockSockets implements VsockHostSockets {
  readonly epollFd: number;
  private listener: number;
  /** Current epoll registration per socket (absent = not registered). */
  private readonly registered = new Map<number, number>();
  /** Every socket handed to the device and not yet closed (closed by dispose() if the device did not). */
  private readonly open = new Set<number>();
  private readonly events = new Uint32Array(64 * 2);
  private listenerPaused = false;

  private constructor(readonly udsPath: string, listener: number, epollFd: number) {
    this.listener = listener;
    this.epollFd = epollFd;
  }

  /** Listens on `udsPath`; a stale socket file left by a dead VMM is replaced, a live one is an error. */
  static listen(udsPath: string): UnixVsockSockets {
    removeStaleSocket(udsPath);
    const listener = native().unixListen(udsPath, 128);
    if (listener < 0) throw new Error(`vsock: cannot listen on ${udsPath}: ${new SysError(-listener, 'listen').code}`);
    const epollFd = native().epollCreate();
    if (epollFd < 0) {
      native().close(listener);
      throw new SysError(-epollFd, 'epoll_create');
    }
    check(native().epollCtl(epollFd, EPOLL_CTL_ADD, listener, EPOLLIN, LISTENER_TAG), 'epoll_ctl vsock listener');
    return new UnixVsockSockets(udsPath, listener, epollFd);
  }

  accept(): number | null {
    const fd = native().accept(this.listener);
    if (fd < 0) {
      // Out of descriptors: the listener stays readable, so stop watching it until a socket closes
      // (level-triggered epoll would otherwise spin the device thread).
      if (RESOURCE_ERRORS.has(-fd)) this.pauseListener();
      return null; // EAGAIN: nothing pending; ECONNABORTED: a client that gave up
    }
    this.open.add(fd);
    return fd;
  }

  connect(port: number): number {
    const path = `${this.udsPath}_${port >>> 0}`;
    const fd = native().unixConnect(path);
    if (fd < 0) throw new SysError(-fd, `connect ${path}`);
    this.open.add(fd);
    return fd;
  }

  read(socket: number, into: Uint8Array): number | null {
    const n = native().read(socket, into);
    if (n === -EAGAIN) return null;
    if (n < 0) throw new SysError(-n, 'read vsock host socket');
    return n;
  }

  write(socket: number, from: Uint8Array): number | null {
    const n = native().write(socket, from);
    if (n === -EAGAIN) return null;
    if (n < 0) throw new SysError(-n, 'write vsock host socket');
    return n;
  }

  shutdownWrite(socket: number): void {
    native().shutdown(socket, SHUT_WR);
  }

  close(socket: number): void {
    if (!this.open.delete(socket)) return; // not ours, or already closed: never close a reused fd number
    this.registered.delete(socket); // close() removes it from the epoll set
    native().close(socket);
    this.resumeListener();
  }

  /**
   * No interest means no registration at all: epoll reports EPOLLHUP/EPOLLERR
   * even with an empty event mask, and a hung-up socket we are not reading
   * would otherwise wake the device thread forever.
   */
  setInterest(socket: number, readable: boolean, writable: boolean): void {
    const events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
    const current = this.registered.get(socket);
    if (current === events) return;
    if (events === 0) {
      if (current !== undefined) native().epollCtl(this.epollFd, EPOLL_CTL_DEL, socket, 0, 0);
      this.registered.delete(socket);
      return;
    }
    const op = current === undefined ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    check(native().epollCtl(this.epollFd, op, socket, events, socket), 'epoll_ctl vsock socket');
    this.registered.set(socket, events);
  }

  private pauseListener(): void {
    if (this.listenerPaused) return;
    native().epollCtl(this.epollFd, EPOLL_CTL_DEL, this.listener, 0, 0);
    this.listenerPaused = true;
  }

  private resumeListener(): void {
    if (!this.listenerPaused || this.listener < 0) return;
    if (native().epollCtl(this.epollFd, EPOLL_CTL_ADD, this.listener, EPOLLIN, LISTENER_TAG) === 0) this.listenerPaused = false;
  }

  /** Waits up to `timeoutMs` for a watched socket to be ready; returns how many are (tests and simple loops). */
  waitReady(timeoutMs: number): number {
    const n = native().epollWait(this.epollFd, this.events, timeoutMs);
    if (n === -4) return 0; // EINTR
    return check(n, 'epoll_wait vsock');
  }

  /** Closes the listener, every registered socket and the epoll set, and removes the socket file. */
  dispose(): void {
    for (const socket of [...this.open]) this.close(socket);
    if (this.listener >= 0) {
      native().close(this.listener);
      this.listener = -1;
      fs.rmSync(this.udsPath, { force: true });
    }
    native().close(this.epollFd);
  }
}

function removeStaleSocket(path: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) throw new Error(`vsock: ${path} exists and is not a socket`);
  const probe = native().unixConnect(path);
  if (probe >= 0) {
    native().close(probe);
    throw new Error(`vsock: ${path} is in use by a live listener`);
  }
  if (probe !== -ECONNREFUSED) throw new Error(`vsock: cannot check ${path}: ${new SysError(-probe, 'connect').code}`);
  fs.rmSync(path);
}
