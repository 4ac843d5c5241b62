/**
 * A tiny test guest for the engine tests: Debian's cloud kernel and a busybox
 * initramfs from the lab's artifacts (src/lab/artifacts.ts), whose init:
 * - loads the virtio block and net drivers (so disks are read and a NIC sends
 *   its IPv6 link-up packets),
 * - powers off (`poweroff -f`) when the ACPI power button is pressed (button +
 *   evdev modules), so QMP system_powerdown ends the VM cleanly,
 * - prints "guest: ready" and runs a shell on the serial console (typing works).
 */
import { buildInitramfs, ensureKernels } from '../../src/lab/artifacts.js';

export const GUEST_READY = 'guest: ready';
export const GUEST_POWER_BUTTON = 'guest: power button pressed';

const INIT_SNIPPET = `
ip link set eth0 up 2>/dev/null
for e in /sys/class/input/event*; do
  if grep -q "Power Button" $e/device/name 2>/dev/null; then
    (head -c 1 /dev/input/$(basename $e) >/dev/null; echo "${GUEST_POWER_BUTTON}"; poweroff -f) &
  fi
done
echo "${GUEST_READY}"
exec setsid cttyhack sh
`;

export interface TestGuest {
  kernel: string;
  initrd: string;
  cmdline: string;
}

/** The kernel, the initramfs (both cached) and a command line for a serial console. */
export async function testGuest(): Promise<TestGuest> {
  const { cloud } = await ensureKernels();
  const initrd = await buildInitramfs({
    initSnippet: INIT_SNIPPET,
    modulesFrom: cloud.modulesDir,
    modules: ['virtio_pci', 'virtio_blk', 'virtio_net', 'button', 'evdev'],
  });
  return { kernel: cloud.bzImage, initrd, cmdline: 'console=ttyS0 quiet panic=-1' };
}
