/**
 * An address bus (port I/O or MMIO): ranges mapped to devices.
 *
 * A device sees offsets relative to the start of its range and a byte array
 * whose length is the access size (1, 2, 4 or 8). Reads fill `data`; writes
 * consume it. Accesses to nothing read as all-ones and writes are dropped, as
 * on a real PC bus.
 */

export interface BusDevice {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

interface BusRange {
  readonly base: number;
  readonly length: number;
  readonly device: BusDevice;
  readonly name: string;
}

export class BusConflictError extends Error {}

export class Bus {
  private ranges: BusRange[] = [];

  insert(base: number, length: number, device: BusDevice, name = 'device'): void {
    if (length <= 0) throw new BusConflictError(`${name}: empty bus range`);
    for (const r of this.ranges) {
      if (base < r.base + r.length && r.base < base + length) {
        throw new BusConflictError(
          `${name} at 0x${base.toString(16)}+0x${length.toString(16)} overlaps ${r.name} at 0x${r.base.toString(16)}`,
        );
      }
    }
    this.ranges.push({ base, length, device, name });
    this.ranges.sort((a, b) => a.base - b.base);
  }

  /** Removes the range starting at `base` (BAR relocation). Returns whether one was removed. */
  remove(base: number): boolean {
    const before = this.ranges.length;
    this.ranges = this.ranges.filter((r) => r.base !== base);
    return this.ranges.length !== before;
  }

  private find(address: number, size: number): BusRange | undefined {
    // Binary search: buses hold a few dozen ranges, but exits are hot.
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid]!;
      if (address < r.base) hi = mid - 1;
      else if (address >= r.base + r.length) lo = mid + 1;
      else return address + size <= r.base + r.length ? r : undefined;
    }
    return undefined;
  }

  /** Returns false (and fills 0xff) when nothing is mapped there. */
  read(address: number, data: Uint8Array): boolean {
    const r = this.find(address, data.length);
    if (!r) {
      data.fill(0xff);
      return false;
    }
    r.device.read(address - r.base, data);
    return true;
  }

  write(address: number, data: Uint8Array): boolean {
    const r = this.find(address, data.length);
    if (!r) return false;
    r.device.write(address - r.base, data);
    return true;
  }

  /** The mapped ranges, for diagnostics and `typevisor info`. */
  list(): Array<{ base: number; length: number; name: string }> {
    return this.ranges.map(({ base, length, name }) => ({ base, length, name }));
  }
}
