/**
 * Which deaths of an L2 guest the KVM lab's test programs put down to the lab rather than to the VMM, and retry
 * once: shared by lab-scenarios.ts (the virtio and snapshot scenarios) and scenarios.ts (typevisor run's).
 */

/** How waitForBoot reports a guest that is still running but never reached its first marker. */
export const GUEST_BOOT_HUNG = 'the guest hung at boot';

/** A guest kernel's soft-lockup report on its console. */
export const GUEST_SOFT_LOCKUP = /watchdog: BUG: soft lockup[^\r\n]*/;

/**
 * How L2 guests die in this lab when neither VMM is at fault: under sustained virtio-net traffic (or now and then
 * at boot) the guest takes a triple fault, or one of its CPUs stops in a soft lockup. QEMU's guests do the same
 * here: in a stress run of 400 MiB TCP transfers per boot (2 vCPUs, 512 MiB), 2 of 2 QEMU q35 guests triple-faulted,
 * as did 1 of 3 typevisor guests, and another typevisor guest's CPU 0 locked up in the idle task. L2 boots also
 * hang outright now and then, QEMU's as well (test/lab/lab.test.ts retries its QEMU L2 boot for this). The lab runs
 * L2 under L1's KVM on QEMU's emulated SVM (TCG), so this is put down to that layer.
 *
 * A failed scenario whose guest ended this way runs once more (lab-scenarios.ts; scenarios.ts inside the lab only,
 * never on a real KVM host); a second fault, or a failure of any other kind, still fails. No scenario's guest
 * triple-faults or locks up on purpose: the reset scenarios reset through the i8042 or ACPI, which the VMM reports
 * differently. A fault of a restored guest is not retried: that one could be the restore's doing.
 */
export function guestLabFault(record: Record<string, unknown>): string | undefined {
  const stderr = String(record['stderr'] ?? '');
  const stdout = String(record['stdout'] ?? '');
  const error = String(record['error'] ?? '');
  return (
    /guest reset \(triple fault \(KVM_EXIT_SHUTDOWN\)\)/.exec(stderr)?.[0] ??
    GUEST_SOFT_LOCKUP.exec(stdout)?.[0] ??
    new RegExp(`${GUEST_BOOT_HUNG}[^\\n]*`).exec(error)?.[0]
  );
}
