/**
 * Identity-mapping page tables for the 64-bit boot entry.
 *
 * The Linux 64-bit boot protocol (Documentation/arch/x86/boot.rst, "64-bit
 * BOOT PROTOCOL") requires the kernel, zero page and command line to be
 * identity mapped. One PML4 entry -> one PDPT -> four page directories of
 * 2 MiB pages map 0..4 GiB (SDM vol. 3 §4.5, 4-level paging).
 */

import type { GuestMemory } from '../../memory/guest-memory.js';
import { LARGE_PAGE_SIZE, PAGE_SIZE, PDE_COUNT, PDE_START, PDPTE_START, PML4_START } from './layout.js';

export const PageTableFlags = {
  PRESENT: 1n << 0n,
  WRITABLE: 1n << 1n,
  /** PS in a page-directory entry: the entry maps a 2 MiB page. */
  LARGE_PAGE: 1n << 7n,
} as const;

const ENTRIES_PER_TABLE = 512;

export function writeIdentityPageTables(mem: GuestMemory): void {
  const { PRESENT, WRITABLE, LARGE_PAGE } = PageTableFlags;
  mem.fill(PML4_START, PAGE_SIZE, 0);
  mem.fill(PDPTE_START, PAGE_SIZE, 0);
  mem.writeU64(PML4_START, BigInt(PDPTE_START) | PRESENT | WRITABLE);
  // The page directories are built in one buffer (entries as 32-bit halves, number arithmetic) and written once:
  // 2048 BigInt writes through GuestMemory took 0.1-0.2 s of a boot in the KVM lab, where V8 runs under TCG.
  const directories = new Uint32Array(PDE_COUNT * ENTRIES_PER_TABLE * 2);
  const leafFlags = Number(PRESENT | WRITABLE | LARGE_PAGE);
  for (let entry = 0; entry < PDE_COUNT * ENTRIES_PER_TABLE; entry++) {
    const physical = entry * LARGE_PAGE_SIZE;
    directories[entry * 2] = (physical % 2 ** 32) | leafFlags;
    directories[entry * 2 + 1] = Math.floor(physical / 2 ** 32);
  }
  for (let pd = 0; pd < PDE_COUNT; pd++) {
    mem.writeU64(PDPTE_START + pd * 8, BigInt(PDE_START + pd * PAGE_SIZE) | PRESENT | WRITABLE);
  }
  // Consecutive PAGE_SIZE tables from PDE_START: entry n of directory d is at PDE_START + (d * 512 + n) * 8.
  mem.write(PDE_START, new Uint8Array(directories.buffer));
}

/** Walk the tables like the MMU would (4-level, 2 MiB leaves); null when unmapped. For tests and diagnostics. */
export function translateIdentity(mem: GuestMemory, cr3: number, virtual: bigint): bigint | null {
  const index = (shift: bigint) => Number((virtual >> shift) & 0x1ffn);
  const addressMask = 0x000f_ffff_ffff_f000n;
  const pml4e = mem.readU64(cr3 + index(39n) * 8);
  if (!(pml4e & PageTableFlags.PRESENT)) return null;
  const pdpte = mem.readU64(Number(pml4e & addressMask) + index(30n) * 8);
  if (!(pdpte & PageTableFlags.PRESENT)) return null;
  const pde = mem.readU64(Number(pdpte & addressMask) + index(21n) * 8);
  if (!(pde & PageTableFlags.PRESENT) || !(pde & PageTableFlags.LARGE_PAGE)) return null;
  return (pde & 0x000f_ffff_ffe0_0000n) | (virtual & BigInt(LARGE_PAGE_SIZE - 1));
}
