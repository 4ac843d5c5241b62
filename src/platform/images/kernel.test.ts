import { test } from 'node:test';
import assert from 'node:assert/strict';
import { moduleFiles } from './kernel.js';

// Lines in depmod's format, as in Debian's cloud kernel (6.1): each module lists its whole dependency closure.
const MODULES_DEP = `kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/fat/fat.ko:
kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko
kernel/drivers/acpi/button.ko:
`;
const MODULES_BUILTIN = 'kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n';

test('module files come with their dependencies, each once, dependencies before the module', () => {
  const files = moduleFiles(MODULES_DEP, MODULES_BUILTIN, ['virtio_pci', 'virtio_blk', 'vfat']);
  assert.deepEqual(files, [
    'kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/virtio/virtio.ko',
    'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
    'kernel/drivers/virtio/virtio_pci_legacy_dev.ko',
    'kernel/drivers/virtio/virtio_pci.ko',
    'kernel/drivers/block/virtio_blk.ko',
    'kernel/fs/fat/fat.ko',
    'kernel/fs/fat/vfat.ko',
  ]);
});

test('built-in modules need no file; dashes and underscores name the same module', () => {
  assert.deepEqual(moduleFiles(MODULES_DEP, MODULES_BUILTIN, ['ext4', 'virtio-ring']), ['kernel/drivers/virtio/virtio_ring.ko']);
});

test('a module that is neither a file nor built in is an error', () => {
  assert.throws(() => moduleFiles(MODULES_DEP, MODULES_BUILTIN, ['button', 'no_such_driver']), /no_such_driver is neither in modules.dep nor built in/);
});
