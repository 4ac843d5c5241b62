/**
 * Guest RAM: one memfd per VM, mapped shared once per RAM range and given to
 * KVM as memory slots. A memfd (rather than anonymous memory) lets snapshots
 * write the memory out and lets other threads map the same pages.
 */
import { ftruncateSync } from 'node:fs';
import { check, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, native, O_RDONLY, PROT_READ, PROT_WRITE } from '../sys/native.js';
import { RegionGuestMemory } from '../memory/guest-memory.js';

export interface RamRange {
  gpa: number;
  size: number;
}

/** A mapped RAM range; `address` is the host virtual address of its first byte. */
export interface MappedRange extends RamRange {
  address: bigint;
  fileOffset: number;
}

/** What another thread needs to see the same guest memory. */
export interface SharedGuestRam {
  ranges: MappedRange[];
  /** The backing fd (memfd, or the snapshot's memory file). */
  fd: number;
  /** Mapped MAP_PRIVATE from a snapshot file (pages are copy-on-write). */
  private: boolean;
}

export class GuestRam {
  private constructor(
    readonly fd: number,
    readonly ranges: MappedRange[],
    readonly memory: RegionGuestMemory,
    readonly isPrivate: boolean,
  ) {}

  /** Fresh zeroed RAM backed by a memfd. */
  static allocate(ranges: readonly RamRange[]): GuestRam {
    const total = ranges.reduce((s, r) => s + r.size, 0);
    const fd = check(native().memfdCreate('typevisor-guest-ram', 0), 'memfd_create');
    try {
      ftruncateSync(fd, total);
      return GuestRam.map(fd, ranges, MAP_SHARED);
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  /**
   * RAM from a snapshot's memory file, mapped private and lazily: pages are
   * read from the file on first touch and copied on write, so restore does
   * not read the whole file first (issue 4).
   */
  static fromFile(path: string, ranges: readonly RamRange[]): GuestRam {
    const fd = check(native().open(path, O_RDONLY), `open ${path}`);
    try {
      return GuestRam.map(fd, ranges, MAP_PRIVATE);
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  private static map(fd: number, ranges: readonly RamRange[], flags: number): GuestRam {
    const mapped: MappedRange[] = [];
    const regions = [];
    let offset = 0;
    for (const r of ranges) {
      const m = native().mmap(fd, r.size, PROT_READ | PROT_WRITE, flags | MAP_NORESERVE, offset);
      if (typeof m === 'number') {
        for (const done of mapped) native().munmap(done.address, done.size);
        check(m, `mmap guest RAM (${r.size} bytes)`);
        throw new Error('unreachable');
      }
      mapped.push({ ...r, address: m.address, fileOffset: offset });
      regions.push({ gpa: r.gpa, bytes: new Uint8Array(m.buffer) });
      offset += r.size;
    }
    return new GuestRam(fd, mapped, new RegionGuestMemory(regions), flags === MAP_PRIVATE);
  }

  shared(): SharedGuestRam {
    return { ranges: this.ranges, fd: this.fd, private: this.isPrivate };
  }

  /** The same memory seen from another thread of this process. */
  static attach(shared: SharedGuestRam): RegionGuestMemory {
    return new RegionGuestMemory(
      shared.ranges.map((r) => ({ gpa: r.gpa, bytes: new Uint8Array(native().bufferAt(r.address, r.size)) })),
    );
  }

  close(): void {
    for (const r of this.ranges) native().munmap(r.address, r.size);
    native().close(this.fd);
  }
}
