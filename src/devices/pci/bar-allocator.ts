/**
 * Assigns guest-physical addresses to memory BARs, the job firmware does on
 * real machines (typevisor boots Linux directly, so the VMM pre-programs
 * BARs and Linux keeps them). Naturally aligned bump allocation over the
 * 32-bit and 64-bit PCI windows from layout.ts; nothing is freed (devices
 * are not hot-unplugged).
 */
import { PCI_MMIO32_SIZE, PCI_MMIO32_START, PCI_MMIO64_SIZE, PCI_MMIO64_START } from '../../arch/x86_64/layout.js';
import type { PciBarDefinition } from './config-space.js';

export interface PciWindow {
  readonly start: number;
  readonly size: number;
}

export class BarAllocationError extends Error {}

export class BarAllocator {
  private next32: number;
  private next64: number;

  constructor(
    readonly window32: PciWindow = { start: PCI_MMIO32_START, size: PCI_MMIO32_SIZE },
    readonly window64: PciWindow = { start: PCI_MMIO64_START, size: PCI_MMIO64_SIZE },
    /**
     * Put 64-bit BARs above 4 GiB. Off by default: small 64-bit BARs go in
     * the 32-bit window, which works even when the ACPI _CRS of the host
     * bridge declares only that window.
     */
    readonly prefer64BitWindow = false,
  ) {
    this.next32 = window32.start;
    this.next64 = window64.start;
  }

  /** Returns a size-aligned address for the BAR. */
  allocate(def: PciBarDefinition): number {
    if (def.kind === 'io') throw new BarAllocationError(`BAR ${def.index}: I/O BARs are not supported`);
    if (def.kind === 'memory64' && this.prefer64BitWindow) return this.take64(def.size);
    const at = alignUp(this.next32, def.size);
    if (at + def.size <= this.window32.start + this.window32.size) {
      this.next32 = at + def.size;
      return at;
    }
    if (def.kind === 'memory64') return this.take64(def.size);
    throw new BarAllocationError(`32-bit PCI window is full: cannot place a ${def.size}-byte BAR`);
  }

  private take64(size: number): number {
    const at = alignUp(this.next64, size);
    if (at + size > this.window64.start + this.window64.size) {
      throw new BarAllocationError(`64-bit PCI window is full: cannot place a ${size}-byte BAR`);
    }
    this.next64 = at + size;
    return at;
  }
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
