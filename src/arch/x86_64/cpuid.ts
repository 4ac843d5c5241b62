/**
 * The CPUID table each vCPU gets (KVM_SET_CPUID2), derived from
 * KVM_GET_SUPPORTED_CPUID.
 *
 * KVM reports what it *can* expose; the VMM must still fill in what depends
 * on the VM: each vCPU's APIC id, the topology (1 thread per core, all vCPUs
 * as cores of one socket), the hypervisor bit, and hide features the VMM
 * does not emulate. Leaf meanings: Intel SDM vol. 2A "CPUID", AMD APM vol. 3
 * appendix E; the choices follow Firecracker's cpuid normalisation and QEMU's
 * topology encoding.
 */

import { MAX_VCPUS } from './layout.js';

// One CPUID entry as KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2 carry it (declared once, in the KVM layer).
import type { CpuidEntry } from '../../kvm/kvm.js';
export type { CpuidEntry };

export const KVM_CPUID_FLAG_SIGNIFICANT_INDEX = 1;

export const CpuidLeaf = {
  VENDOR: 0x0,
  FEATURES: 0x1,
  CACHE_PARAMETERS: 0x4,
  MONITOR_MWAIT: 0x5,
  THERMAL_POWER: 0x6,
  PERFMON: 0xa,
  TOPOLOGY: 0xb,
  TOPOLOGY_V2: 0x1f,
  KVM_SIGNATURE: 0x4000_0000,
  KVM_FEATURES: 0x4000_0001,
  EXT_FEATURES: 0x8000_0001,
  AMD_ADDRESS_SIZES: 0x8000_0008,
  AMD_CACHE_TOPOLOGY: 0x8000_001d,
  AMD_EXT_APIC_ID: 0x8000_001e,
} as const;

/** Leaf 1 feature bits. */
export const Leaf1 = {
  ECX_MONITOR: 1 << 3,
  ECX_PDCM: 1 << 15,
  ECX_X2APIC: 1 << 21,
  ECX_HYPERVISOR: 1 << 31,
  EDX_HTT: 1 << 28,
} as const;
/** Leaf 6 EAX bit 2: the APIC timer runs in deep C-states (KVM's timer always does). */
const LEAF6_EAX_ARAT = 1 << 2;
/** Leaf 0x80000001 ECX bit 1 (AMD CmpLegacy): multi-core package, HTT is not hyper-threading. */
const EXT_ECX_CMP_LEGACY = 1 << 1;
/** CLFLUSH line size in 8-byte units (64-byte lines), leaf 1 EBX[15:8]. */
const CLFLUSH_LINE_SIZE_QWORDS = 8;
/** x2APIC topology level types, leaf 0xB/0x1F ECX[15:8]. */
const TopologyLevel = { INVALID: 0, SMT: 1, CORE: 2 } as const;

export type CpuVendor = 'intel' | 'amd' | 'other';

export interface GuestCpuidOptions {
  /** Expose the performance-monitoring leaf 0xA and PDCM (only when the VMM enables a vPMU). Default false. */
  pmu?: boolean;
}

function vendorString(entry: CpuidEntry): string {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, entry.ebx, true);
  view.setUint32(4, entry.edx, true);
  view.setUint32(8, entry.ecx, true);
  return new TextDecoder().decode(bytes);
}

export function cpuVendor(entries: readonly CpuidEntry[]): CpuVendor {
  const leaf0 = entries.find((e) => e.function === CpuidLeaf.VENDOR);
  if (!leaf0) return 'other';
  const vendor = vendorString(leaf0);
  if (vendor === 'GenuineIntel') return 'intel';
  if (vendor === 'AuthenticAMD' || vendor === 'HygonGenuine') return 'amd';
  return 'other';
}

/** Smallest n with 2^n >= count: the APIC-id bits a level of `count` items needs. */
export function bitsFor(count: number): number {
  return count <= 1 ? 0 : Math.ceil(Math.log2(count));
}

function topologyEntries(leaf: number, apicId: number, vcpuCount: number): CpuidEntry[] {
  const common = { function: leaf, flags: KVM_CPUID_FLAG_SIGNIFICANT_INDEX, edx: apicId };
  return [
    // One thread per core: the SMT level adds no APIC-id bits.
    { ...common, index: 0, eax: 0, ebx: 1, ecx: (TopologyLevel.SMT << 8) | 0 },
    { ...common, index: 1, eax: bitsFor(vcpuCount), ebx: vcpuCount, ecx: (TopologyLevel.CORE << 8) | 1 },
    { ...common, index: 2, eax: 0, ebx: 0, ecx: (TopologyLevel.INVALID << 8) | 2 },
  ];
}

/**
 * The CPUID entries for vCPU `vcpuIndex` of `vcpuCount` (its APIC id is its index).
 * Input entries are not modified.
 */
export function guestCpuid(
  supported: readonly CpuidEntry[],
  vcpuIndex: number,
  vcpuCount: number,
  options: GuestCpuidOptions = {},
): CpuidEntry[] {
  if (!Number.isInteger(vcpuCount) || vcpuCount < 1 || vcpuCount > MAX_VCPUS) {
    throw new RangeError(`vCPU count must be between 1 and ${MAX_VCPUS}, got ${vcpuCount}`);
  }
  if (!Number.isInteger(vcpuIndex) || vcpuIndex < 0 || vcpuIndex >= vcpuCount) {
    throw new RangeError(`vCPU index ${vcpuIndex} is outside 0..${vcpuCount - 1}`);
  }
  const vendor = cpuVendor(supported);
  const apicId = vcpuIndex;
  const packageIds = 1 << bitsFor(vcpuCount); // addressable logical-processor ids per package
  const pmu = options.pmu ?? false;
  const out: CpuidEntry[] = [];
  const topologyDone = new Set<number>();

  for (const original of supported) {
    const e = { ...original };
    switch (e.function) {
      case CpuidLeaf.FEATURES: {
        e.ebx = ((apicId << 24) | (Math.min(packageIds, 255) << 16) | (CLFLUSH_LINE_SIZE_QWORDS << 8) | (e.ebx & 0xff)) >>> 0;
        e.ecx = (e.ecx | Leaf1.ECX_HYPERVISOR) & ~Leaf1.ECX_MONITOR;
        if (!pmu) e.ecx &= ~Leaf1.ECX_PDCM;
        e.edx = vcpuCount > 1 ? e.edx | Leaf1.EDX_HTT : e.edx & ~Leaf1.EDX_HTT;
        break;
      }
      case CpuidLeaf.CACHE_PARAMETERS: {
        if ((e.eax & 0x1f) === 0) break; // no more caches
        const level = (e.eax >> 5) & 7;
        const sharing = level >= 3 ? packageIds - 1 : 0;
        e.eax = ((e.eax & 0x3fff) | (sharing << 14) | ((Math.min(packageIds, 64) - 1) << 26)) >>> 0;
        break;
      }
      case CpuidLeaf.MONITOR_MWAIT:
        // MONITOR/MWAIT is hidden in leaf 1, so its parameters go too.
        e.eax = e.ebx = e.ecx = e.edx = 0;
        break;
      case CpuidLeaf.THERMAL_POWER:
        // No thermal sensors or power management are emulated; ARAT stays (KVM's APIC timer never stops).
        e.eax &= LEAF6_EAX_ARAT;
        e.ebx = e.ecx = e.edx = 0;
        break;
      case CpuidLeaf.PERFMON:
        if (!pmu) e.eax = e.ebx = e.ecx = e.edx = 0;
        break;
      case CpuidLeaf.TOPOLOGY:
      case CpuidLeaf.TOPOLOGY_V2:
        if (!topologyDone.has(e.function)) {
          topologyDone.add(e.function);
          out.push(...topologyEntries(e.function, apicId, vcpuCount));
        }
        continue;
      case CpuidLeaf.EXT_FEATURES:
        if (vendor === 'amd') e.ecx = vcpuCount > 1 ? e.ecx | EXT_ECX_CMP_LEGACY : e.ecx & ~EXT_ECX_CMP_LEGACY;
        break;
      case CpuidLeaf.AMD_ADDRESS_SIZES:
        // ECX: ApicIdSize [15:12], NC (cores - 1) [7:0]; Intel reserves ECX.
        e.ecx = vendor === 'amd' ? (bitsFor(vcpuCount) << 12) | (vcpuCount - 1) : 0;
        break;
      case CpuidLeaf.AMD_CACHE_TOPOLOGY: {
        if ((e.eax & 0x1f) === 0) break;
        const level = (e.eax >> 5) & 7;
        const sharing = level >= 3 ? vcpuCount - 1 : 0;
        e.eax = ((e.eax & ~(0xfff << 14)) | (sharing << 14)) >>> 0;
        break;
      }
      case CpuidLeaf.AMD_EXT_APIC_ID:
        e.eax = apicId;
        e.ebx = vcpuIndex & 0xff; // compute unit (core) id; ThreadsPerComputeUnit - 1 = 0
        e.ecx = 0; // node 0, one node per processor
        e.edx = 0;
        break;
      default:
        break;
    }
    e.eax >>>= 0;
    e.ebx >>>= 0;
    e.ecx >>>= 0;
    e.edx >>>= 0;
    out.push(e);
  }
  return out;
}

/** Find one entry (tests, diagnostics). */
export function findCpuid(entries: readonly CpuidEntry[], fn: number, index = 0): CpuidEntry | undefined {
  return entries.find((e) => e.function === fn && (e.index === index || !(e.flags & KVM_CPUID_FLAG_SIGNIFICANT_INDEX)));
}
