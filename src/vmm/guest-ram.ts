/**
 * Guest RAM: anonymous private memory per RAM range (or, for a restored VM, a private mapping of the snapshot's
 * memory file), given to KVM as memory slots; the other threads of the process see the same pages.
 *
 * Anonymous memory, as QEMU and Firecracker use, rather than a memfd: the host backs it with transparent huge
 * pages (MADV_HUGEPAGE, for hosts where THP is "madvise"), so a booting guest takes one fault per 2 MiB instead of
 * per 4 KiB page; shmem (a memfd) gets no huge pages unless the host opted in (shmem_enabled). In the KVM lab a
 * Debian boot reached init 0.75 s sooner (10.0 s against 10.75 s). Which pages the guest touched, for a sparse
 * snapshot, comes from /proc/self/pagemap (touchedExtents).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import {
  check,
  MADV_DONTFORK,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_PRIVATE,
  native,
  O_RDONLY,
  PROT_READ,
  PROT_WRITE,
} from '../sys/native.js';
import { RegionGuestMemory } from '../memory/guest-memory.js';
import { LARGE_PAGE_SIZE, PAGE_SIZE } from '../arch/x86_64/layout.js';

export interface RamRange {
  gpa: number;
  size: number;
}

/** A mapped RAM range; `address` is the host virtual address of its first byte. */
export interface MappedRange extends RamRange {
  address: bigint;
}

/** What another thread needs to see the same guest memory. */
export interface SharedGuestRam {
  ranges: MappedRange[];
}

export class GuestRam {
  private constructor(
    readonly ranges: MappedRange[],
    readonly memory: RegionGuestMemory,
    /** The snapshot memory file mapped privately (restore), or undefined for anonymous RAM. */
    private readonly fileFd: number | undefined,
  ) {}

  /** Fresh zeroed anonymous RAM, one mapping per range. */
  static allocate(ranges: readonly RamRange[]): GuestRam {
    return GuestRam.map(undefined, ranges);
  }

  /**
   * RAM from a snapshot's memory file, mapped private and lazily: pages are
   * read from the file on first touch and copied on write, so restore does
   * not read the whole file first (issue 4).
   */
  static fromFile(path: string, ranges: readonly RamRange[]): GuestRam {
    const fd = check(native().open(path, O_RDONLY), `open ${path}`);
    try {
      return GuestRam.map(fd, ranges);
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  private static map(fileFd: number | undefined, ranges: readonly RamRange[]): GuestRam {
    const mapped: MappedRange[] = [];
    const regions = [];
    let offset = 0;
    for (const r of ranges) {
      const anonymous = fileFd === undefined;
      const flags = MAP_PRIVATE | MAP_NORESERVE | (anonymous ? MAP_ANONYMOUS : 0);
      // Anonymous RAM is mapped LARGE_PAGE_SIZE larger and trimmed to start on a 2 MiB boundary, as QEMU does
      // (qemu_ram_mmap). KVM maps a guest 2 MiB page with one 2 MiB NPT/EPT entry only when the host address is
      // congruent to the guest address modulo 2 MiB (KVM API doc, KVM_SET_USER_MEMORY_REGION: "the lowest 21 bits
      // of guest_phys_addr and userspace_addr should be identical"); otherwise every 4 KiB page the guest touches
      // is a fault of its own. Linux 6.1 does not align large anonymous mappings by itself.
      const length = anonymous ? r.size + LARGE_PAGE_SIZE : r.size;
      const m = native().mmap(fileFd ?? -1, length, PROT_READ | PROT_WRITE, flags, anonymous ? 0 : offset);
      if (typeof m === 'number') {
        for (const done of mapped) native().munmap(done.address, done.size);
        check(m, `mmap guest RAM (${r.size} bytes)`);
        throw new Error('unreachable');
      }
      const head = anonymous ? (LARGE_PAGE_SIZE - Number(m.address % BigInt(LARGE_PAGE_SIZE))) % LARGE_PAGE_SIZE : 0;
      const address = m.address + BigInt(head);
      if (anonymous) {
        if (head > 0) native().munmap(m.address, head);
        native().munmap(address + BigInt(r.size), LARGE_PAGE_SIZE - head); // never empty: head < LARGE_PAGE_SIZE
      }
      // Huge pages where the host allows them; no copy of guest RAM in children the VMM spawns (a fork would
      // otherwise make every guest page copy-on-write in this process until the child execs, as QEMU avoids too).
      // Both are advice: a host that refuses them still runs the guest.
      native().madvise(address, r.size, MADV_HUGEPAGE);
      native().madvise(address, r.size, MADV_DONTFORK);
      mapped.push({ ...r, address });
      // A view of the kept part only: the buffer also spans the trimmed (unmapped) ends, never touched.
      regions.push({ gpa: r.gpa, bytes: new Uint8Array(m.buffer, head, r.size) });
      offset += r.size;
    }
    return new GuestRam(mapped, new RegionGuestMemory(regions), fileFd);
  }

  /**
   * For each RAM range, the byte ranges [start, end) within it that may hold data: for anonymous RAM the pages
   * the guest touched (present or swapped out in /proc/self/pagemap; a page never touched reads as zeros and
   * need not be read, which would map it); for RAM mapped from a snapshot file, everything.
   */
  dataExtents(): Array<Array<[number, number]>> {
    if (this.fileFd !== undefined) return this.ranges.map((r) => [[0, r.size]]);
    return this.ranges.map((r) => touchedExtents(r.address, r.size));
  }

  shared(): SharedGuestRam {
    return { ranges: this.ranges };
  }

  /** The same memory seen from another thread of this process. */
  static attach(shared: SharedGuestRam): RegionGuestMemory {
    return new RegionGuestMemory(
      shared.ranges.map((r) => ({ gpa: r.gpa, bytes: new Uint8Array(native().bufferAt(r.address, r.size)) })),
    );
  }

  close(): void {
    for (const r of this.ranges) native().munmap(r.address, r.size);
    if (this.fileFd !== undefined) native().close(this.fileFd);
  }
}

/** /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst): page present in RAM, or in swap. */
const PAGEMAP_PRESENT = 1n << 63n;
const PAGEMAP_SWAPPED = 1n << 62n;
/** Pages per pagemap read: 8 bytes each, so 512 KiB of entries at a time. */
const PAGEMAP_BATCH = 65536;

/**
 * The byte ranges [start, end) of this process's mapping [address, address + length) whose pages are present or
 * swapped out, i.e. were touched, from /proc/self/pagemap. Without pagemap (not Linux, or no /proc), all of it.
 */
export function touchedExtents(address: bigint, length: number): Array<[number, number]> {
  let fd: number;
  try {
    fd = openSync('/proc/self/pagemap', 'r');
  } catch {
    return [[0, length]];
  }
  try {
    const out: Array<[number, number]> = [];
    const pages = Math.ceil(length / PAGE_SIZE);
    const firstPage = address / BigInt(PAGE_SIZE);
    const entries = new BigUint64Array(Math.min(pages, PAGEMAP_BATCH));
    const bytes = new Uint8Array(entries.buffer);
    let runStart = -1;
    for (let done = 0; done < pages; ) {
      const count = Math.min(PAGEMAP_BATCH, pages - done);
      const want = count * 8;
      const got = readSync(fd, bytes, 0, want, (firstPage + BigInt(done)) * 8n);
      if (got !== want) return [[0, length]]; // cannot tell: treat everything as data
      for (let i = 0; i < count; i++) {
        const touched = (entries[i]! & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) !== 0n;
        const at = (done + i) * PAGE_SIZE;
        if (touched && runStart < 0) runStart = at;
        else if (!touched && runStart >= 0) {
          out.push([runStart, at]);
          runStart = -1;
        }
      }
      done += count;
    }
    if (runStart >= 0) out.push([runStart, length]);
    return out;
  } finally {
    closeSync(fd);
  }
}
