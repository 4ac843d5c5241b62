/**
 * Stands in for a daemon in the "kill -9 the daemon" test: starts one VM with the
 * qemu engine from the launch spec in argv[2], prints {"pid": N}, then idles until killed.
 */
import { pino } from 'pino';
import { QemuEngine } from '../../src/platform/engines/qemu/qemu-engine.js';
import { detectHostFlavour } from '../../src/platform/engines/host-flavour.js';
import type { VmLaunchSpec } from '../../src/platform/engines/engine.js';

const spec = JSON.parse(process.argv[2]!) as VmLaunchSpec;
const engine = new QemuEngine({ log: pino({ level: 'silent' }), hostFlavour: detectHostFlavour });
const vm = await engine.start(spec);
process.stdout.write(`${JSON.stringify({ pid: vm.pid })}\n`);
setInterval(() => undefined, 60_000);
