/**
 * Builds the virtio-pci functions a VmConfig asks for (block, net, vsock,
 * rng, console, balloon) and their host backends, on the device thread.
 * Each one is a VirtioPciTransport on the PCI root with MSI-X through KVM
 * irqfds; the device worker polls `pollFds` and calls `onReady`.
 */
import { native, MADV_DONTNEED } from '../sys/native.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { VirtioPciTransport, type VirtioPciStateV1 } from '../devices/virtio/transport/pci.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import { VirtioBlockDevice } from '../devices/virtio/block/device.js';
import { VirtioNet } from '../devices/virtio/net/net.js';
import { VirtioRng } from '../devices/virtio/rng/rng.js';
import { VirtioConsole } from '../devices/virtio/console/console.js';
import { VirtioBalloon, type BalloonStats } from '../devices/virtio/balloon/balloon.js';
import { VirtioVsockDevice } from '../devices/virtio/vsock/device.js';
import type { PciRoot } from '../devices/pci/root.js';
import { openDisk } from '../block/open.js';
import type { VmConfig } from './config.js';
import type { InterruptRouter } from './irq-routing.js';
import type { SharedGuestRam } from './guest-ram.js';
import { Tap, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN } from './tap.js';
import { UnixVsockSockets } from './vsock-unix.js';

const PAGE = 4096;

export interface VirtioFunction {
  readonly name: string;
  readonly transport: VirtioPciTransport;
  /** Host fds whose readiness means "backend ready" (tap, vsock epoll). */
  readonly pollFds: number[];
  /**
   * Watch `pollFds` edge-triggered. A tap must be: virtio-net stops reading it while the guest has no
   * receive buffers (the packets wait in the tap) and resumes on the guest's next receive-queue kick, so
   * a level-triggered watch would wake the device thread in a loop for as long as the guest is behind.
   */
  readonly pollEdgeTriggered: boolean;
  close(): void;
}

export interface VirtioSet {
  functions: VirtioFunction[];
  consoleInput(bytes: Uint8Array): void;
  balloon: VirtioBalloon | undefined;
  latestBalloonStats(): BalloonStats | undefined;
}

/** A locally administered, stable MAC for NIC `index` of a VM without one. */
function defaultMac(index: number): Uint8Array {
  return Uint8Array.from([0x52, 0x54, 0x00, 0x7e, 0x00, index & 0xff]);
}

function parseMac(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function createVirtioDevices(opts: {
  config: VmConfig;
  memory: GuestMemory;
  ram: SharedGuestRam;
  router: InterruptRouter;
  pci: PciRoot;
  onConsoleOutput(bytes: Uint8Array): void;
  onDeviceError(name: string, error: unknown): void;
}): VirtioSet {
  const { config, memory, router, pci } = opts;
  const functions: VirtioFunction[] = [];
  const add = (device: VirtioDevice, pollFds: number[], close: () => void, pollEdgeTriggered = false): VirtioPciTransport => {
    const msi = router.msiController();
    const transport = new VirtioPciTransport(device, {
      memory,
      msi,
      onDeviceError: (e) => opts.onDeviceError(device.name, e),
    });
    pci.addDevice(transport);
    functions.push({
      name: device.name,
      transport,
      pollFds,
      pollEdgeTriggered,
      close: () => {
        close();
        msi.close();
      },
    });
    return transport;
  };

  config.disks.forEach((d) => {
    const backend = openDisk(d.path, { readonly: d.readonly, ...(d.format ? { format: d.format } : {}) });
    add(new VirtioBlockDevice({ backend, readonly: d.readonly, ...(d.serial ? { serial: d.serial } : {}) }), [], () => backend.close());
  });

  config.nets.forEach((n, i) => {
    const tap = Tap.open(n.tap);
    const device = new VirtioNet({
      backend: tap,
      mac: n.mac ? parseMac(n.mac) : defaultMac(i),
      setOffloads: (o) =>
        tap.setOffloads((o.csum ? TUN_F_CSUM : 0) | (o.tso4 ? TUN_F_TSO4 : 0) | (o.tso6 ? TUN_F_TSO6 : 0) | (o.ecn ? TUN_F_TSO_ECN : 0)),
    });
    add(device, [tap.fd], () => tap.close(), true);
  });

  if (config.vsock) {
    const sockets = UnixVsockSockets.listen(config.vsock.uds);
    add(new VirtioVsockDevice({ guestCid: config.vsock.cid, sockets }), [sockets.epollFd], () => sockets.dispose());
  }

  if (config.rng) add(new VirtioRng(), [], () => undefined);

  const pendingInput: Uint8Array[] = [];
  let virtioConsole: VirtioConsole | undefined;
  let consoleTransport: VirtioPciTransport | undefined;
  if (config.virtioConsole) {
    virtioConsole = new VirtioConsole({
      output: (bytes) => opts.onConsoleOutput(bytes),
      readInput: () => pendingInput.shift() ?? null,
    });
    consoleTransport = add(virtioConsole, [], () => undefined);
  }

  let balloon: VirtioBalloon | undefined;
  let stats: BalloonStats | undefined;
  if (config.balloon) {
    balloon = new VirtioBalloon({
      onInflate: (pfns) => releasePages(opts.ram, pfns),
      onDeflate: () => undefined, // pages come back on first touch
      onStats: (s) => (stats = s),
      statsQueue: true,
      deflateOnOom: true,
    });
    add(balloon, [], () => undefined);
  }

  return {
    functions,
    consoleInput: (bytes) => {
      if (!consoleTransport) return;
      pendingInput.push(bytes);
      consoleTransport.backendReady();
    },
    balloon,
    latestBalloonStats: () => stats,
  };
}

/**
 * Gives pages the guest ballooned back to the host with MADV_DONTNEED: anonymous RAM drops the page (it reads as
 * zeros if the guest takes it back), RAM mapped privately from a snapshot file drops its copy (the page reverts to
 * the file's, which the guest no longer cares about).
 */
function releasePages(ram: SharedGuestRam, pfns: number[]): void {
  for (const pfn of pfns) {
    const gpa = pfn * PAGE;
    const r = ram.ranges.find((x) => gpa >= x.gpa && gpa + PAGE <= x.gpa + x.size);
    if (r) native().madvise(r.address + BigInt(gpa - r.gpa), PAGE, MADV_DONTNEED);
  }
}

export type VirtioStatesV1 = VirtioPciStateV1[];
