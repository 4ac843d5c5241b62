/**
 * Identity-mapping page tables for the 64-bit boot entry.
 *
 * The Linux 64-bit boot protocol (Documentation/arch/x86/boot.rst, "64-bit
 * BOOT PROTOCOL") requires the kernel, zero page and command line to be
 * identity mapped. One PML4 entry -> one PDPT -> four page directories of
 * 2 MiB pages map 0..4 GiB (SDM vol. 3 §4.5, 4-level paging).
 */

import type { GuestMemory } from '../../memory/guest-memory.js';
import { PAGE_SIZE, PDE_COUNT, PDE_START, PDPTE_START, PML4_START } from './layout.js';

export const PageTableFlags = {
  PRESENT: 1n << 0n,
  WRITABLE: 1n << 1n,
  /** PS in a page-directory entry: the entry maps a 2 MiB page. */
  LARGE_PAGE: 1n << 7n,
} as const;

const ENTRIES_PER_TABLE = 512;
const LARGE_PAGE_SIZE = 2n * 1024n * 1024n;

export function writeIdentityPageTables(mem: GuestMemory): void {
  const { PRESENT, WRITABLE, LARGE_PAGE } = PageTableFlags;
  mem.fill(PML4_START, PAGE_SIZE, 0);
  mem.fill(PDPTE_START, PAGE_SIZE, 0);
  mem.writeU64(PML4_START, BigInt(PDPTE_START) | PRESENT | WRITABLE);
  for (let pd = 0; pd < PDE_COUNT; pd++) {
    const pdAddress = PDE_START + pd * PAGE_SIZE;
    mem.writeU64(PDPTE_START + pd * 8, BigInt(pdAddress) | PRESENT | WRITABLE);
    for (let i = 0; i < ENTRIES_PER_TABLE; i++) {
      const physical = BigInt(pd * ENTRIES_PER_TABLE + i) * LARGE_PAGE_SIZE;
      mem.writeU64(pdAddress + i * 8, physical | PRESENT | WRITABLE | LARGE_PAGE);
    }
  }
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
  return (pde & 0x000f_ffff_ffe0_0000n) | (virtual & (LARGE_PAGE_SIZE - 1n));
}
