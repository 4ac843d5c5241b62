/**
 * The smallest possible KVM round trip, used to check the KVM layer on a real
 * /dev/kvm (here or in the lab): 16-bit code writes 'A' to port 0x3f8 and halts.
 * Prints JSON: {"ok": true, "exits": [...]}.
 */
import { Kvm } from '../../src/kvm/kvm.js';
import { Vcpu } from '../../src/kvm/vcpu.js';
import { KVM_EXIT, exitReasonName } from '../../src/kvm/ioctls.js';
import { kvmRun, kvmSegment, SREGS_SEGMENT_OFFSETS } from '../../src/kvm/structs.js';
import { GuestRam } from '../../src/vmm/guest-ram.js';

const kvm = Kvm.open();
const vm = kvm.createVm();
const ram = GuestRam.allocate([{ gpa: 0, size: 0x200000 }]);
vm.setUserMemoryRegion(0, 0, 0x200000, ram.ranges[0]!.address);
// mov dx,0x3f8; mov al,'A'; out dx,al; hlt
ram.memory.write(0x1000, Uint8Array.from([0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xf4]));
const vcpu = Vcpu.create(vm.fd, 0, kvm.vcpuMmapSize());
const sregs = vcpu.getSregsRaw();
kvmSegment.write(sregs, { base: 0n, selector: 0 }, SREGS_SEGMENT_OFFSETS.cs);
vcpu.setSregsRaw(sregs);
vcpu.setRegs({ rip: 0x1000n, rflags: 2n });
const exits: string[] = [];
const view = new DataView(vcpu.run.buffer, vcpu.run.byteOffset);
for (let i = 0; i < 4; i++) {
  const r = vcpu.runOnce();
  if (r < 0) throw new Error(`KVM_RUN ${r}`);
  const reason = view.getUint32(kvmRun.fields.exit_reason.offset, true);
  if (reason === KVM_EXIT.IO) {
    const off = Number(view.getBigUint64(kvmRun.fields.io_data_offset.offset, true));
    exits.push(`IO port=0x${view.getUint16(kvmRun.fields.io_port.offset, true).toString(16)} data=${String.fromCharCode(vcpu.run[off]!)}`);
  } else {
    exits.push(exitReasonName(reason));
    if (reason === KVM_EXIT.HLT) break;
  }
}
console.log(JSON.stringify({ ok: exits.join(',') === 'IO port=0x3f8 data=A,HLT', exits, api: kvm.apiVersion(), missing: kvm.missingCapabilities(), cpuid: kvm.supportedCpuid().length, msrs: kvm.msrIndexList().length }));
