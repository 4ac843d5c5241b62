/**
 * Local APIC setup the boot CPU needs before the kernel runs.
 *
 * As on a PC with a legacy PIC (and as Firecracker/kvmtool do), LINT0 is
 * wired for ExtINT (the 8259 output) and LINT1 for NMI (Intel SDM vol. 3
 * §10.5.1 "Local Vector Table"). The KVM layer reads kvm_lapic_state
 * (KVM_GET_LAPIC, a 1 KiB copy of the APIC register page), passes the bytes
 * here, and writes them back with KVM_SET_LAPIC.
 */

/** Register offsets in the APIC page (SDM vol. 3 table 10-1). */
export const LapicRegister = {
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
} as const;

export const LAPIC_STATE_SIZE = 1024;

/** LVT delivery modes, bits 10:8 (SDM vol. 3 figure 10-8). */
export const LvtDeliveryMode = { FIXED: 0, NMI: 4, EXTINT: 7 } as const;

const DELIVERY_MODE_MASK = 0x700;

export function setLvtDeliveryMode(register: number, mode: number): number {
  return ((register & ~DELIVERY_MODE_MASK) | ((mode & 7) << 8)) >>> 0;
}

/** Program LINT0 = ExtINT and LINT1 = NMI in a kvm_lapic_state register image, in place. */
export function configureBootLapicLint(lapicState: Uint8Array): void {
  if (lapicState.length < LAPIC_STATE_SIZE) {
    throw new RangeError(`kvm_lapic_state must be ${LAPIC_STATE_SIZE} bytes, got ${lapicState.length}`);
  }
  const view = new DataView(lapicState.buffer, lapicState.byteOffset, lapicState.byteLength);
  const lint0 = view.getUint32(LapicRegister.LVT_LINT0, true);
  view.setUint32(LapicRegister.LVT_LINT0, setLvtDeliveryMode(lint0, LvtDeliveryMode.EXTINT), true);
  const lint1 = view.getUint32(LapicRegister.LVT_LINT1, true);
  view.setUint32(LapicRegister.LVT_LINT1, setLvtDeliveryMode(lint1, LvtDeliveryMode.NMI), true);
}
