/**
 * KVM interrupt plumbing for devices on the device thread: legacy lines via
 * KVM_IRQ_LINE and MSI/MSI-X via GSI routes + irqfd (KVM API doc 4.52, 4.75).
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, so the default routes of the
 * in-kernel PIC and IOAPIC are always included again. The VM starts with those
 * routes already (createVmShell installs defaultGsiRoutes()), so a router only
 * commits when MSI routes change.
 */
import { check, EFD_NONBLOCK, native } from '../sys/native.js';
import type { GsiRoute, Vm } from '../kvm/vm.js';
import {
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
} from '../kvm/ioctls.js';
import { FIRST_MSI_GSI } from '../arch/x86_64/layout.js';
import { legacyIrqRoutes } from '../arch/x86_64/irq-routing.js';
import type { IrqLine, MsiController, MsiMessage } from '../devices/interrupts.js';

/** Max GSIs KVM accepts (KVM_MAX_IRQ_ROUTES is 4096 on x86). */
const MAX_GSI = 4095;

/** What devices need from the interrupt plumbing (GsiRouter on KVM; recording doubles in tests). */
export interface InterruptRouter {
  legacyLine(gsi: number): IrqLine;
  msiController(): MsiController & { close(): void };
}

export class GsiRouter implements InterruptRouter {
  private readonly msiRoutes = new Map<number, MsiMessage>();
  private nextGsi = FIRST_MSI_GSI;
  private readonly freeGsis: number[] = [];

  constructor(private readonly vm: Vm) {}

  /** While > 0, route changes are collected and committed once when the outermost batch ends. */
  private batchDepth = 0;
  private dirty = false;

  private commit(): void {
    if (this.batchDepth > 0) {
      this.dirty = true;
      return;
    }
    this.install();
  }

  /**
   * Commits what a batch collected so far. At the batch's end, and before an interrupt is sent: an irqfd whose GSI
   * has no route yet drops the interrupt (a device restore can complete requests, and signal them, in its batch).
   */
  private flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.install();
  }

  private install(): void {
    const routes = defaultGsiRoutes();
    for (const [gsi, m] of this.msiRoutes) routes.push({ gsi, kind: 'msi', address: m.address, data: m.data });
    this.vm.setGsiRouting(routes);
  }

  /**
   * Runs `fn` with route changes committed once at its end instead of once each: KVM_SET_GSI_ROUTING waits for
   * an SRCU grace period (tens of ms under nested KVM), and restoring devices programs every MSI-X vector.
   */
  batch<T>(fn: () => T): T {
    this.batchDepth++;
    try {
      return fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) this.flush();
    }
  }

  allocateGsi(): number {
    const reused = this.freeGsis.pop();
    if (reused !== undefined) return reused;
    if (this.nextGsi > MAX_GSI) throw new Error('out of GSIs for MSI routes');
    return this.nextGsi++;
  }

  setMsiRoute(gsi: number, message: MsiMessage | null): void {
    if (message) this.msiRoutes.set(gsi, message);
    else this.msiRoutes.delete(gsi);
    this.commit();
  }

  /** An ISA interrupt line (edge devices pulse, level devices hold). */
  legacyLine(gsi: number): IrqLine {
    const vm = this.vm;
    return {
      setLevel(asserted: boolean) {
        vm.irqLine(gsi, asserted);
      },
      pulse() {
        vm.irqLine(gsi, true);
        vm.irqLine(gsi, false);
      },
    };
  }

  /** MSI-X for one PCI function: a GSI and an irqfd per programmed vector; trigger is one eventfd write. */
  msiController(): MsiController & { close(): void } {
    const vectors = new Map<number, { gsi: number; eventFd: number; routed: boolean }>();
    const vm = this.vm;
    return {
      update: (vector: number, message: MsiMessage | null) => {
        let v = vectors.get(vector);
        if (!v) {
          if (!message) return;
          const eventFd = check(native().eventfd(0, EFD_NONBLOCK), 'eventfd');
          v = { gsi: this.allocateGsi(), eventFd, routed: false };
          vectors.set(vector, v);
        }
        this.setMsiRoute(v.gsi, message);
        if (message && !v.routed) {
          vm.irqfd(v.eventFd, v.gsi);
          v.routed = true;
        } else if (!message && v.routed) {
          vm.irqfd(v.eventFd, v.gsi, true);
          v.routed = false;
        }
      },
      trigger: (vector: number) => {
        const v = vectors.get(vector);
        if (!v?.routed) return;
        this.flush();
        native().eventfdWrite(v.eventFd, 1);
      },
      close: () => {
        for (const v of vectors.values()) {
          if (v.routed) vm.irqfd(v.eventFd, v.gsi, true);
          native().close(v.eventFd);
          this.msiRoutes.delete(v.gsi);
          this.freeGsis.push(v.gsi);
        }
        vectors.clear();
      },
    };
  }
}

/** The legacy (PIC + IOAPIC) routes every VM starts with, as KVM_SET_GSI_ROUTING entries (see legacyIrqRoutes). */
export function defaultGsiRoutes(): GsiRoute[] {
  const chips = { 'pic-master': KVM_IRQCHIP_PIC_MASTER, 'pic-slave': KVM_IRQCHIP_PIC_SLAVE, ioapic: KVM_IRQCHIP_IOAPIC } as const;
  return legacyIrqRoutes().map((r) => ({ gsi: r.gsi, kind: 'irqchip', chip: chips[r.chip], pin: r.pin }));
}
