/**
 * The demo guest: Debian's cloud kernel with a busybox initramfs whose /init
 * gives a shell on the serial console and powers off when the ACPI power
 * button is pressed (so `vm stop` is a clean shutdown, not a forced one).
 * Built from the lab's cached artifacts; never downloads at daemon start.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BootSpec } from './engines/engine.js';
import { buildInitramfs, cacheDir, ensureKernels } from '../lab/artifacts.js';

/** /init snippet: watch the ACPI power button's evdev device, then run shells on the console forever. */
export const DEMO_INIT_SNIPPET = `
for dev in /sys/class/input/event*; do
  if grep -q "Power Button" "$dev/device/name" 2>/dev/null; then
    ( dd if=/dev/input/\${dev##*/} of=/dev/null bs=24 count=1 2>/dev/null; echo "typevisor-demo: power button pressed, powering off"; poweroff -f ) &
  fi
done
echo "typevisor-demo: ready"
while true; do setsid cttyhack sh; done
`;

export const DEMO_CMDLINE = 'console=ttyS0 panic=-1';

/** Boot spec of the demo guest, or null when the kernels have not been fetched on this machine. */
export async function demoBoot(options: { allowFetch?: boolean } = {}): Promise<BootSpec | null> {
  if (!options.allowFetch && !existsSync(join(cacheDir('kernels', 'cloud'), 'vmlinuz'))) return null;
  const kernels = await ensureKernels();
  const initrd = await buildInitramfs({
    initSnippet: DEMO_INIT_SNIPPET,
    modulesFrom: kernels.cloud.modulesDir,
    modules: ['button', 'evdev'],
  });
  return { kernel: kernels.cloud.bzImage, initrd, cmdline: DEMO_CMDLINE };
}
