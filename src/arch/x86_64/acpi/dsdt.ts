/**
 * The DSDT (ACPI 6.5 §5.2.11.1): the namespace our machine exposes.
 *
 * - \_S5_ gives the SLP_TYP value the guest writes to PM1a_CNT to power off (§7.4.2).
 * - \_SB.PCI0 is the PCI Express host bridge (PNP0A08, compatible with
 *   PNP0A03) of segment 0, bus 0, with the I/O and memory windows the PCI
 *   BAR allocator hands out (PCI Firmware Spec 3.2 §4.1, ACPI §6.4 _CRS).
 * - \_SB.MBRS is a motherboard-resources device (PNP0C02) claiming the ECAM
 *   window and the fixed ACPI ports, so nothing else is placed there
 *   (Linux checks ECAM against it: arch/x86/pci/mmconfig-shared.c).
 * - \_SB.COM1 is the 16550 UART (PNP0501) with its ports and IRQ.
 */

import {
  ACPI_S5_SLP_TYP,
  COM1_IRQ,
  COM1_PORT,
  PCI_CONFIG_ADDRESS_PORT,
  PCI_ECAM_SIZE,
  PCI_ECAM_START,
  PCI_MMIO32_SIZE,
  PCI_MMIO32_START,
  PCI_MMIO64_SIZE,
  PCI_MMIO64_START,
  ACPI_PM1A_EVT_BLK,
  ACPI_RESET_PORT,
  UART_PORT_COUNT,
} from '../layout.js';
import { device, eisaId, integer, method, name, packageOf, returnValue, scope, type Aml } from './aml.js';
import { dwordMemory, io, irqNoFlags, memory32Fixed, qwordMemory, resourceTemplate, wordBusNumber, wordIo } from './resources.js';
import { buildSdt } from './sdt.js';

/** Revision 2: AML integers are 64 bits wide (needed for the 64-bit PCI window). */
export const DSDT_REVISION = 2;
/** _STA: present, enabled, shown in UI, functioning (§6.3.7). */
const STA_PRESENT_AND_WORKING = 0x0f;
/** PCI config mechanism #1 occupies 0xCF8..0xCFF; the bridge forwards the rest of the I/O space. */
const PCI_CONFIG_PORT_COUNT = 8;

function pciHostBridge(): Aml {
  const configEnd = PCI_CONFIG_ADDRESS_PORT + PCI_CONFIG_PORT_COUNT;
  return device('PCI0', [
    name('_HID', eisaId('PNP0A08')),
    name('_CID', eisaId('PNP0A03')),
    name('_SEG', integer(0)),
    name('_BBN', integer(0)),
    name('_UID', integer(0)),
    name(
      '_CRS',
      resourceTemplate([
        wordBusNumber(0, 0),
        io(PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_ADDRESS_PORT, 1, PCI_CONFIG_PORT_COUNT),
        wordIo(0x0000, PCI_CONFIG_ADDRESS_PORT - 1),
        wordIo(configEnd, 0xffff),
        dwordMemory(PCI_MMIO32_START, PCI_MMIO32_SIZE),
        qwordMemory(PCI_MMIO64_START, PCI_MMIO64_SIZE),
      ]),
    ),
  ]);
}

function motherboardResources(): Aml {
  const acpiPorts = ACPI_RESET_PORT + 1 - ACPI_PM1A_EVT_BLK;
  return device('MBRS', [
    name('_HID', eisaId('PNP0C02')),
    name('_UID', integer(0)),
    name('_CRS', resourceTemplate([memory32Fixed(PCI_ECAM_START, PCI_ECAM_SIZE), io(ACPI_PM1A_EVT_BLK, ACPI_PM1A_EVT_BLK, 1, acpiPorts)])),
  ]);
}

function com1(): Aml {
  return device('COM1', [
    name('_HID', eisaId('PNP0501')),
    name('_UID', integer(1)),
    method('_STA', 0, false, [returnValue(integer(STA_PRESENT_AND_WORKING))]),
    name('_CRS', resourceTemplate([io(COM1_PORT, COM1_PORT, 0, UART_PORT_COUNT), irqNoFlags([COM1_IRQ])])),
  ]);
}

/** The DSDT's AML body (what follows the table header). */
export function dsdtAml(): Aml {
  const s5 = packageOf([integer(ACPI_S5_SLP_TYP), integer(ACPI_S5_SLP_TYP), integer(0), integer(0)]);
  return [...name('\\_S5_', s5), ...scope('\\_SB_', [pciHostBridge(), motherboardResources(), com1()])];
}

export function buildDsdt(): Uint8Array {
  return buildSdt('DSDT', DSDT_REVISION, new Uint8Array(dsdtAml()));
}
