import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GsiRoute, Vm } from '../kvm/vm.js';
import { KVM_IRQCHIP_IOAPIC } from '../kvm/ioctls.js';
import { FIRST_MSI_GSI } from '../arch/x86_64/layout.js';
import { defaultGsiRoutes, GsiRouter } from './irq-routing.js';

/** A Vm that records each routing table it is given. */
function recordingVm(): { vm: Vm; tables: GsiRoute[][] } {
  const tables: GsiRoute[][] = [];
  const vm = { setGsiRouting: (routes: readonly GsiRoute[]) => void tables.push([...routes]) } as unknown as Vm;
  return { vm, tables };
}

const msi = (data: number) => ({ address: 0xfee0_0000n, data });

test('default GSI routes: ISA IRQ 0 reaches IOAPIC pin 2, the PIC cascade (2) is not routed', () => {
  const routes = defaultGsiRoutes();
  const ioapic = routes.filter((r) => r.kind === 'irqchip' && r.chip === KVM_IRQCHIP_IOAPIC) as Array<{ gsi: number; pin: number }>;
  assert.deepEqual(ioapic.find((r) => r.gsi === 0), { gsi: 0, kind: 'irqchip', chip: KVM_IRQCHIP_IOAPIC, pin: 2 });
  assert.equal(routes.some((r) => r.gsi === 2), false);
  assert.equal(ioapic.length, 23, 'IOAPIC pins 1..23 plus pin 2 for GSI 0, minus GSI 2');
});

test('MSI routes: each change outside a batch commits the whole table (defaults included)', () => {
  const { vm, tables } = recordingVm();
  const router = new GsiRouter(vm);
  const gsi = router.allocateGsi();
  assert.equal(gsi, FIRST_MSI_GSI);
  router.setMsiRoute(gsi, msi(0x41));
  assert.equal(tables.length, 1);
  assert.equal(tables[0]!.length, defaultGsiRoutes().length + 1);
  assert.deepEqual(tables[0]!.at(-1), { gsi, kind: 'msi', address: 0xfee0_0000n, data: 0x41 });
  router.setMsiRoute(gsi, null);
  assert.equal(tables.length, 2);
  assert.equal(tables[1]!.length, defaultGsiRoutes().length);
});

test('a batch (nested too) commits once at its end, with every change made inside it', () => {
  const { vm, tables } = recordingVm();
  const router = new GsiRouter(vm);
  const result = router.batch(() => {
    router.setMsiRoute(router.allocateGsi(), msi(1));
    router.batch(() => router.setMsiRoute(router.allocateGsi(), msi(2)));
    router.setMsiRoute(router.allocateGsi(), msi(3));
    assert.equal(tables.length, 0, 'nothing committed inside the batch');
    return 'done';
  });
  assert.equal(result, 'done');
  assert.equal(tables.length, 1);
  assert.deepEqual(tables[0]!.filter((r) => r.kind === 'msi').map((r) => (r as { data: number }).data), [1, 2, 3]);
  router.batch(() => undefined);
  assert.equal(tables.length, 1, 'a batch with no change commits nothing');
});

test('a batch whose body throws still commits what it changed', () => {
  const { vm, tables } = recordingVm();
  const router = new GsiRouter(vm);
  assert.throws(() =>
    router.batch(() => {
      router.setMsiRoute(router.allocateGsi(), msi(7));
      throw new Error('device restore failed');
    }),
  /device restore failed/);
  assert.equal(tables.length, 1);
});

test('an interrupt sent inside a batch first commits the routes it goes through (an unrouted irqfd drops it)', () => {
  const tables: GsiRoute[][] = [];
  const vm = { setGsiRouting: (routes: readonly GsiRoute[]) => void tables.push([...routes]), irqfd: () => undefined } as unknown as Vm;
  const router = new GsiRouter(vm);
  const msix = router.msiController();
  try {
    router.batch(() => {
      msix.update(0, msi(0x30));
      assert.equal(tables.length, 0);
      msix.trigger(0);
      assert.equal(tables.length, 1, 'committed before the eventfd write');
      assert.equal(tables[0]!.filter((r) => r.kind === 'msi').length, 1);
      msix.update(1, msi(0x31));
    });
    assert.equal(tables.length, 2, 'the change after the trigger is committed at the end');
  } finally {
    msix.close();
  }
});
