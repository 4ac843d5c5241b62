/**
 * Ports that Linux touches at boot but that need no model, and the POST
 * diagnostic port.
 *
 * - 0x80 (POST_PORT): firmware writes progress codes here; Linux writes to it
 *   as an I/O delay (`io_delay_type` 0x80, arch/x86/kernel/io_delay.c). The
 *   last value is kept for diagnostics (a guest that stops early shows how far
 *   it got).
 * - 0xED: the alternative I/O-delay port (`io_delay=0xed`).
 *
 * Not here on purpose: port 0x61 (PC speaker / PIT channel 2 gate). Linux
 * reads its bit 5 to calibrate the TSC against PIT channel 2, so it must follow
 * the PIT: create the in-kernel PIT with KVM_PIT_SPEAKER_DUMMY (KVM API doc,
 * KVM_CREATE_PIT2) and KVM serves 0x61 itself, as Firecracker does.
 *
 * Without a device an unmapped port already reads all-ones and drops writes
 * (src/devices/bus.ts); mapping these sinks just makes the traffic visible
 * (counted) instead of looking like a guest bug in the VMM's unhandled-port log.
 */

import type { BusDevice } from '../bus.js';
import { POST_PORT } from '../../arch/x86_64/layout.js';

/** The alternative I/O delay port Linux may use instead of 0x80. */
export const IO_DELAY_ALT_PORT = 0xed;

/** Ports to map with a PortSink, and their names for `typevisor info`. */
export const BOOT_SINK_PORTS: ReadonlyArray<{ port: number; name: string }> = [
  { port: POST_PORT, name: 'post' },
  { port: IO_DELAY_ALT_PORT, name: 'io-delay' },
];

/** A one-port device that accepts writes (remembering the last) and reads a fixed value. */
export class PortSink implements BusDevice {
  /** The last byte written, or null before the first write. */
  lastValue: number | null = null;
  writes = 0;
  reads = 0;

  /** @param readValue what reads return: all-ones by default, as an empty ISA bus would. */
  constructor(private readonly readValue = 0xff) {
    if (!Number.isInteger(readValue) || readValue < 0 || readValue > 0xff) {
      throw new RangeError(`PortSink: readValue must be a byte, got ${readValue}`);
    }
  }

  read(_offset: number, data: Uint8Array): void {
    this.reads++;
    data.fill(this.readValue);
  }

  write(_offset: number, data: Uint8Array): void {
    this.writes++;
    if (data.length > 0) this.lastValue = data[0]!;
  }
}
