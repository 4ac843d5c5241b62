/**
 * A KVM virtual machine fd: memory slots, in-kernel irqchip and PIT, GSI
 * routing, irqfd/ioeventfd, clock, and vCPU creation.
 */
import { check, native } from '../sys/native.js';
import * as I from './ioctls.js';
import {
  KVM_IRQCHIP_SIZE,
  KVM_PIT_STATE2_SIZE,
  kvmClockData,
  kvmIoeventfd,
  kvmIrqLevel,
  kvmIrqRoutingEntry,
  kvmIrqRoutingHeader,
  kvmIrqfd,
  kvmMsi,
  kvmPitConfig,
  kvmUserspaceMemoryRegion,
} from './structs.js';
import type { Kvm } from './kvm.js';

export type GsiRoute =
  | { gsi: number; kind: 'irqchip'; chip: number; pin: number }
  | { gsi: number; kind: 'msi'; address: bigint; data: number };

export class Vm {
  constructor(
    readonly fd: number,
    readonly kvm?: Kvm,
  ) {}

  setUserMemoryRegion(slot: number, guestPhysAddr: number, size: number, hostAddress: bigint, flags = 0): void {
    const buf = kvmUserspaceMemoryRegion.encode({
      slot,
      flags,
      guest_phys_addr: BigInt(guestPhysAddr),
      memory_size: BigInt(size),
      userspace_addr: hostAddress,
    });
    check(native().ioctl(this.fd, I.KVM_SET_USER_MEMORY_REGION, buf), 'KVM_SET_USER_MEMORY_REGION');
  }

  /** Intel needs a 3-page TSS region and an identity-map page inside the 32-bit hole (KVM API doc 4.48). */
  setTssAddress(address: number): void {
    check(native().ioctl(this.fd, I.KVM_SET_TSS_ADDR, address), 'KVM_SET_TSS_ADDR');
  }

  setIdentityMapAddress(address: number): void {
    const buf = new BigUint64Array([BigInt(address)]);
    check(native().ioctl(this.fd, I.KVM_SET_IDENTITY_MAP_ADDR, buf), 'KVM_SET_IDENTITY_MAP_ADDR');
  }

  createIrqchip(): void {
    check(native().ioctl(this.fd, I.KVM_CREATE_IRQCHIP, 0), 'KVM_CREATE_IRQCHIP');
  }

  createPit2(): void {
    const buf = kvmPitConfig.encode({ flags: I.KVM_PIT_SPEAKER_DUMMY });
    check(native().ioctl(this.fd, I.KVM_CREATE_PIT2, buf), 'KVM_CREATE_PIT2');
  }

  /** Drives a GSI (IOAPIC pin / PIC line) to a level. */
  irqLine(gsi: number, level: boolean): void {
    const buf = kvmIrqLevel.encode({ irq: gsi, level: level ? 1 : 0 });
    check(native().ioctl(this.fd, I.KVM_IRQ_LINE, buf), 'KVM_IRQ_LINE');
  }

  /** Replaces the whole GSI routing table (KVM API doc 4.52). */
  setGsiRouting(routes: readonly GsiRoute[]): void {
    const buf = new Uint8Array(kvmIrqRoutingHeader.size + routes.length * kvmIrqRoutingEntry.size);
    kvmIrqRoutingHeader.set(buf, 'nr', routes.length);
    routes.forEach((r, i) => {
      const base = kvmIrqRoutingHeader.size + i * kvmIrqRoutingEntry.size;
      if (r.kind === 'irqchip') {
        kvmIrqRoutingEntry.write(buf, { gsi: r.gsi, type: I.KVM_IRQ_ROUTING_IRQCHIP, irqchip: r.chip, pin: r.pin }, base);
      } else {
        kvmIrqRoutingEntry.write(
          buf,
          {
            gsi: r.gsi,
            type: I.KVM_IRQ_ROUTING_MSI,
            address_lo: Number(r.address & 0xffffffffn),
            address_hi: Number(r.address >> 32n),
            data: r.data,
          },
          base,
        );
      }
    });
    check(native().ioctl(this.fd, I.KVM_SET_GSI_ROUTING, buf), 'KVM_SET_GSI_ROUTING');
  }

  irqfd(eventFd: number, gsi: number, deassign = false): void {
    const buf = kvmIrqfd.encode({ fd: eventFd, gsi, flags: deassign ? I.KVM_IRQFD_FLAG_DEASSIGN : 0 });
    check(native().ioctl(this.fd, I.KVM_IRQFD, buf), 'KVM_IRQFD');
  }

  /** Registers an eventfd signalled when the guest writes `address` (MMIO, or a port with pio). */
  ioeventfd(eventFd: number, address: number, length: number, opts: { pio?: boolean; deassign?: boolean } = {}): void {
    let flags = 0;
    if (opts.pio) flags |= I.KVM_IOEVENTFD_FLAG_PIO;
    if (opts.deassign) flags |= I.KVM_IOEVENTFD_FLAG_DEASSIGN;
    const buf = kvmIoeventfd.encode({ addr: BigInt(address), len: length, fd: eventFd, flags });
    check(native().ioctl(this.fd, I.KVM_IOEVENTFD, buf), 'KVM_IOEVENTFD');
  }

  signalMsi(address: bigint, data: number): number {
    const buf = kvmMsi.encode({
      address_lo: Number(address & 0xffffffffn),
      address_hi: Number(address >> 32n),
      data,
    });
    return check(native().ioctl(this.fd, I.KVM_SIGNAL_MSI, buf), 'KVM_SIGNAL_MSI');
  }

  getClock(): { clock: bigint; flags: number } {
    const buf = kvmClockData.alloc();
    check(native().ioctl(this.fd, I.KVM_GET_CLOCK, buf), 'KVM_GET_CLOCK');
    return { clock: kvmClockData.get(buf, 'clock'), flags: kvmClockData.get(buf, 'flags') };
  }

  setClock(clock: bigint): void {
    const buf = kvmClockData.encode({ clock });
    check(native().ioctl(this.fd, I.KVM_SET_CLOCK, buf), 'KVM_SET_CLOCK');
  }

  /** Raw kvm_irqchip for chip 0 (PIC master), 1 (PIC slave), 2 (IOAPIC): saved and restored as bytes. */
  getIrqchip(chip: number): Uint8Array {
    const buf = new Uint8Array(KVM_IRQCHIP_SIZE);
    new DataView(buf.buffer).setUint32(0, chip, true);
    check(native().ioctl(this.fd, I.KVM_GET_IRQCHIP, buf), 'KVM_GET_IRQCHIP');
    return buf;
  }

  setIrqchip(state: Uint8Array): void {
    check(native().ioctl(this.fd, I.KVM_SET_IRQCHIP, state), 'KVM_SET_IRQCHIP');
  }

  getPit2(): Uint8Array {
    const buf = new Uint8Array(KVM_PIT_STATE2_SIZE);
    check(native().ioctl(this.fd, I.KVM_GET_PIT2, buf), 'KVM_GET_PIT2');
    return buf;
  }

  setPit2(state: Uint8Array): void {
    check(native().ioctl(this.fd, I.KVM_SET_PIT2, state), 'KVM_SET_PIT2');
  }

  createVcpuFd(index: number): number {
    return check(native().ioctl(this.fd, I.KVM_CREATE_VCPU, index), 'KVM_CREATE_VCPU');
  }

  close(): void {
    native().close(this.fd);
  }
}
