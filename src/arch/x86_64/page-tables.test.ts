import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionGuestMemory } from '../../memory/guest-memory.js';
import { translateIdentity, writeIdentityPageTables } from './page-tables.js';
import { GiB, MiB, PDE_START, PDPTE_START, PML4_START } from './layout.js';

test('page tables identity-map 0..4 GiB with 2 MiB pages', () => {
  const mem = RegionGuestMemory.anonymous(1 * MiB);
  writeIdentityPageTables(mem);
  assert.equal(mem.readU64(PML4_START), BigInt(PDPTE_START) | 3n);
  assert.equal(mem.readU64(PML4_START + 8), 0n);
  for (let i = 0; i < 4; i++) assert.equal(mem.readU64(PDPTE_START + i * 8), BigInt(PDE_START + i * 4096) | 3n);
  assert.equal(mem.readU64(PDPTE_START + 32), 0n);
  assert.equal(mem.readU64(PDE_START), 0x83n);
  assert.equal(mem.readU64(PDE_START + 8), 0x200083n);
  for (const address of [0n, 0x1000000n + 0x200n, 0x7000n, 3n * BigInt(GiB) + 12345n, 4n * BigInt(GiB) - 1n]) {
    assert.equal(translateIdentity(mem, PML4_START, address), address);
  }
  assert.equal(translateIdentity(mem, PML4_START, 4n * BigInt(GiB)), null);
  assert.equal(translateIdentity(mem, PML4_START, 0xffffffff81000000n), null);
});
