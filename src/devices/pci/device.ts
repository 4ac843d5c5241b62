/**
 * What a PCI function looks like to the root complex: a configuration space
 * and one BusDevice per BAR (offsets relative to the BAR's base address).
 */
import type { BusDevice } from '../bus.js';
import { PciConfigSpace } from './config-space.js';
import { PciClass } from './layout.js';

export interface PciDevice {
  /** Short name for bus listings and errors ("virtio-net", "host-bridge"). */
  readonly name: string;
  readonly config: PciConfigSpace;
  /** The region decoding accesses to `bar`, or undefined when the BAR is not defined. */
  barRegion(bar: number): BusDevice | undefined;
}

/** Host bridge at 00:00.0 (class 0x0600), as Linux expects to find one on bus 0. */
export class PciHostBridge implements PciDevice {
  readonly name = 'host-bridge';
  readonly config = new PciConfigSpace({
    // Intel's id for a generic host bridge, as Cloud Hypervisor and Firecracker present.
    vendorId: 0x8086,
    deviceId: 0x0d57,
    revisionId: 0,
    classCode: PciClass.HOST_BRIDGE,
  });

  barRegion(): BusDevice | undefined {
    return undefined;
  }
}
