/**
 * VIRTIO_PCI_CAP_PCI_CFG (virtio 1.2 §4.1.4.9): a window through PCI
 * configuration space into the device's BAR, for drivers that cannot map
 * BARs early (firmware). The driver writes cap.bar, cap.offset and
 * cap.length (1, 2 or 4), then reads or writes pci_cfg_data.
 */
import type { PciConfigSpace } from '../../pci/config-space.js';
import { PciCapabilityId } from '../../pci/layout.js';
import { VirtioPciCap, VirtioPciCapType } from './layout.js';

export type BarAccess = (offset: number, data: Uint8Array, isWrite: boolean) => void;

export class VirtioPciCapWindow {
  readonly offset: number;

  constructor(
    private readonly config: PciConfigSpace,
    private readonly access: BarAccess,
    private readonly barSize: number,
    private readonly barIndex = 0,
  ) {
    const body = new Uint8Array(VirtioPciCap.PCI_CFG_SIZE);
    body[VirtioPciCap.CAP_LEN] = VirtioPciCap.PCI_CFG_SIZE;
    body[VirtioPciCap.CFG_TYPE] = VirtioPciCapType.PCI_CFG;
    const writeMask = new Uint8Array(VirtioPciCap.PCI_CFG_SIZE);
    writeMask[VirtioPciCap.BAR] = 0xff;
    writeMask.fill(0xff, VirtioPciCap.OFFSET, VirtioPciCap.OFFSET + 8);
    writeMask.fill(0xff, VirtioPciCap.PCI_CFG_DATA, VirtioPciCap.PCI_CFG_DATA + 4);
    this.offset = config.addCapability(PciCapabilityId.VENDOR_SPECIFIC, body, {
      writeMask,
      onWrite: (at, length) => {
        if (at < VirtioPciCap.PCI_CFG_DATA + 4 && at + length > VirtioPciCap.PCI_CFG_DATA) this.transfer(true);
      },
      onRead: (at, length) => {
        if (at < VirtioPciCap.PCI_CFG_DATA + 4 && at + length > VirtioPciCap.PCI_CFG_DATA) this.transfer(false);
      },
    });
  }

  private transfer(isWrite: boolean): void {
    const c = this.config;
    const bar = c.readU8(this.offset + VirtioPciCap.BAR);
    const offset = c.readU32(this.offset + VirtioPciCap.OFFSET);
    const length = c.readU32(this.offset + VirtioPciCap.LENGTH);
    const dataAt = this.offset + VirtioPciCap.PCI_CFG_DATA;
    // §4.1.4.9.1: only naturally aligned 1/2/4-byte accesses inside the BAR are defined; others are ignored.
    if (bar !== this.barIndex || ![1, 2, 4].includes(length) || offset % length !== 0 || offset + length > this.barSize) return;
    const data = new Uint8Array(length);
    if (isWrite) {
      for (let i = 0; i < length; i++) data[i] = c.readU8(dataAt + i);
      this.access(offset, data, true);
    } else {
      this.access(offset, data, false);
      for (let i = 0; i < length; i++) c.writeU8(dataAt + i, data[i]!);
    }
  }
}
