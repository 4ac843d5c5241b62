/**
 * What only a fresh boot needs (kernel loaders, ACPI tables, the boot CPU
 * state), in one module that Machine.create imports on demand: restoring a
 * snapshot never loads these modules. Loading modules is a large part of a
 * VMM process's start-up, seconds in the KVM lab (issue 4: restore latency).
 */
export { guestRamRanges } from '../arch/x86_64/memory-map.js';
export { guestCpuid } from '../arch/x86_64/cpuid.js';
export { bootMsrs } from '../arch/x86_64/msrs.js';
export { loadKernel } from '../boot/loader.js';
export { applyBootCpuState, configureVcpu } from './vcpu-setup.js';
