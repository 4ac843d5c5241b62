/**
 * MCFG (PCI Firmware Specification 3.2 §4.1.2): where the PCIe enhanced
 * configuration space (ECAM) of segment 0 lives, for bus 0 only.
 */

import { field, setField } from '../byte-layout.js';
import { PCI_ECAM_SIZE, PCI_ECAM_START } from '../layout.js';
import { buildSdt } from './sdt.js';

export const MCFG_REVISION = 1;
/** Body: 8 reserved bytes, then one 16-byte allocation structure. */
export const McfgAllocation = {
  BASE_ADDRESS: field(8, 8),
  SEGMENT: field(16, 2),
  START_BUS: field(18, 1),
  END_BUS: field(19, 1),
  BODY_SIZE: 24,
} as const;

/** 1 MiB of ECAM per bus (32 devices x 8 functions x 4 KiB). */
const ECAM_BYTES_PER_BUS = 1 << 20;

export function buildMcfg(): Uint8Array {
  const body = new Uint8Array(McfgAllocation.BODY_SIZE);
  setField(body, McfgAllocation.BASE_ADDRESS, PCI_ECAM_START);
  setField(body, McfgAllocation.SEGMENT, 0);
  setField(body, McfgAllocation.START_BUS, 0);
  setField(body, McfgAllocation.END_BUS, PCI_ECAM_SIZE / ECAM_BYTES_PER_BUS - 1);
  return buildSdt('MCFG', MCFG_REVISION, body);
}
