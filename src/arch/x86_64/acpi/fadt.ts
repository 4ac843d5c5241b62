/**
 * FADT, the Fixed ACPI Description Table (ACPI 6.5 §5.2.9), revision 6.5,
 * plus the FACS it points to (§5.2.10). It describes the fixed hardware our
 * VMM emulates on I/O ports: the PM1a event and control blocks (power
 * button, SLP_TYP/SLP_EN for S5 power-off), the PM timer, and the reset
 * register. SMI_CMD = 0 tells the OS the machine is always in ACPI mode.
 */

import { field, setAscii, setField } from '../byte-layout.js';
import {
  ACPI_PM1_CNT_LEN,
  ACPI_PM1_EVT_LEN,
  ACPI_PM1A_CNT_BLK,
  ACPI_PM1A_EVT_BLK,
  ACPI_PM_TMR_BLK,
  ACPI_PM_TMR_LEN,
  ACPI_RESET_PORT,
  ACPI_RESET_VALUE,
  ACPI_SCI_IRQ,
} from '../layout.js';
import { buildSdt, GasAccess, ioGas, SdtHeader, writeGas, type GenericAddress } from './sdt.js';

/** Offsets in the whole table (header included), ACPI 6.5 table 5.9. */
export const Fadt = {
  FIRMWARE_CTRL: field(36, 4),
  DSDT: field(40, 4),
  PREFERRED_PM_PROFILE: field(45, 1),
  SCI_INT: field(46, 2),
  SMI_CMD: field(48, 4),
  PM1A_EVT_BLK: field(56, 4),
  PM1A_CNT_BLK: field(64, 4),
  PM_TMR_BLK: field(76, 4),
  PM1_EVT_LEN: field(88, 1),
  PM1_CNT_LEN: field(89, 1),
  PM_TMR_LEN: field(91, 1),
  IAPC_BOOT_ARCH: field(109, 2),
  FLAGS: field(112, 4),
  RESET_REG: 116, // GAS
  RESET_VALUE: field(128, 1),
  MINOR_VERSION: field(131, 1),
  X_FIRMWARE_CTRL: field(132, 8),
  X_DSDT: field(140, 8),
  X_PM1A_EVT_BLK: 148, // GAS
  X_PM1A_CNT_BLK: 172, // GAS
  X_PM_TMR_BLK: 208, // GAS
  HYPERVISOR_VENDOR_ID: 268, // 8 bytes
  SIZE: 276,
} as const;

export const FADT_REVISION = 6;
export const FADT_MINOR_VERSION = 5;

/** FADT Flags (table 5.10). */
export const FadtFlags = {
  WBINVD: 1 << 0,
  PROC_C1: 1 << 2,
  /** Set = the power button is a control-method device; clear = fixed-feature button in PM1. */
  PWR_BUTTON: 1 << 4,
  /** Set = no fixed-feature sleep button. */
  SLP_BUTTON: 1 << 5,
  RESET_REG_SUP: 1 << 10,
} as const;

/** IA-PC boot architecture flags (table 5.11). */
export const IapcBootArch = {
  LEGACY_DEVICES: 1 << 0,
  I8042: 1 << 1,
  VGA_NOT_PRESENT: 1 << 2,
} as const;

export function buildFadt(dsdtAddress: number, facsAddress: number): Uint8Array {
  const t = new Uint8Array(Fadt.SIZE);
  setField(t, Fadt.FIRMWARE_CTRL, facsAddress);
  setField(t, Fadt.X_FIRMWARE_CTRL, 0); // only one of FIRMWARE_CTRL / X_FIRMWARE_CTRL may be set
  setField(t, Fadt.DSDT, dsdtAddress);
  setField(t, Fadt.X_DSDT, dsdtAddress);
  setField(t, Fadt.PREFERRED_PM_PROFILE, 0); // unspecified
  setField(t, Fadt.SCI_INT, ACPI_SCI_IRQ);
  setField(t, Fadt.SMI_CMD, 0);
  setField(t, Fadt.PM1A_EVT_BLK, ACPI_PM1A_EVT_BLK);
  setField(t, Fadt.PM1A_CNT_BLK, ACPI_PM1A_CNT_BLK);
  setField(t, Fadt.PM_TMR_BLK, ACPI_PM_TMR_BLK);
  setField(t, Fadt.PM1_EVT_LEN, ACPI_PM1_EVT_LEN);
  setField(t, Fadt.PM1_CNT_LEN, ACPI_PM1_CNT_LEN);
  setField(t, Fadt.PM_TMR_LEN, ACPI_PM_TMR_LEN);
  setField(t, Fadt.IAPC_BOOT_ARCH, IapcBootArch.I8042 | IapcBootArch.VGA_NOT_PRESENT);
  setField(t, Fadt.FLAGS, FadtFlags.WBINVD | FadtFlags.PROC_C1 | FadtFlags.SLP_BUTTON | FadtFlags.RESET_REG_SUP);
  const reset: GenericAddress = ioGas(ACPI_RESET_PORT, 1, GasAccess.BYTE);
  writeGas(t, Fadt.RESET_REG, reset);
  setField(t, Fadt.RESET_VALUE, ACPI_RESET_VALUE);
  setField(t, Fadt.MINOR_VERSION, FADT_MINOR_VERSION);
  // The 64-bit blocks repeat the legacy ones exactly (ACPICA prefers X_ fields when they agree).
  writeGas(t, Fadt.X_PM1A_EVT_BLK, ioGas(ACPI_PM1A_EVT_BLK, ACPI_PM1_EVT_LEN, GasAccess.WORD));
  writeGas(t, Fadt.X_PM1A_CNT_BLK, ioGas(ACPI_PM1A_CNT_BLK, ACPI_PM1_CNT_LEN, GasAccess.WORD));
  writeGas(t, Fadt.X_PM_TMR_BLK, ioGas(ACPI_PM_TMR_BLK, ACPI_PM_TMR_LEN, GasAccess.DWORD));
  setAscii(t, Fadt.HYPERVISOR_VENDOR_ID, 8, 'TYPEVISR');
  return buildSdt('FACP', FADT_REVISION, t.subarray(SdtHeader.SIZE));
}

/** FACS (§5.2.10): no checksum, 64-byte aligned; required by hardware-full ACPI (global lock, waking vector). */
export const Facs = {
  LENGTH: field(4, 4),
  HARDWARE_SIGNATURE: field(8, 4),
  VERSION: field(32, 1),
  SIZE: 64,
  ALIGNMENT: 64,
} as const;

export function buildFacs(): Uint8Array {
  const t = new Uint8Array(Facs.SIZE);
  setAscii(t, 0, 4, 'FACS');
  setField(t, Facs.LENGTH, Facs.SIZE);
  setField(t, Facs.VERSION, 2);
  return t;
}
