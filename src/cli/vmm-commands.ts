/**
 * CLI verbs that talk to a running VMM's control socket (issue 4):
 * pause, resume, info, shutdown, snapshot; and `vmm`, which waits to be
 * configured through the API; and `restore`, which boots from a snapshot.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { serveConsole } from './run.js';
import { Vmm } from '../vmm/vmm.js';
import { prestartThreads } from '../vmm/thread-pool.js';
import { prepareVmShell } from '../vmm/vm-shell.js';
import { DEFAULT_KVM_PATH } from '../kvm/kvm.js';
import { warmUpStateCodec } from '../vmm/snapshot/format.js';

/** The API client, loaded by the verbs that use it: node:http is a large module, and `run` and `vmm` never need it. */
async function vmmRequest(socketPath: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const client = await import('./vmm-client.js');
  return client.vmmRequest(socketPath, method, path, body);
}

function print(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

export function registerVmmCommands(program: Command): void {
  const sock = '--api-sock <path>';
  program
    .command('pause')
    .description('pause a running VM (vCPUs stop, devices stop processing)')
    .requiredOption(sock, 'VMM control socket')
    .action(async (o: { apiSock: string }) => {
      await vmmRequest(o.apiSock, 'PATCH', '/vm', { state: 'Paused' });
    });
  program
    .command('resume')
    .description('resume a paused VM')
    .requiredOption(sock, 'VMM control socket')
    .action(async (o: { apiSock: string }) => {
      await vmmRequest(o.apiSock, 'PATCH', '/vm', { state: 'Resumed' });
    });
  program
    .command('info')
    .description('show the VM state and configuration')
    .requiredOption(sock, 'VMM control socket')
    .action(async (o: { apiSock: string }) => print(await vmmRequest(o.apiSock, 'GET', '/')));
  program
    .command('shutdown')
    .description('press the ACPI power button so the guest shuts down cleanly')
    .requiredOption(sock, 'VMM control socket')
    .action(async (o: { apiSock: string }) => {
      await vmmRequest(o.apiSock, 'PUT', '/actions', { action_type: 'SendPowerButton' });
    });
  program
    .command('snapshot')
    .description('snapshot a VM into a new directory (pauses it first if needed; it stays paused)')
    .requiredOption(sock, 'VMM control socket')
    .requiredOption('--output <dir>', 'snapshot directory to create')
    .action(async (o: { apiSock: string; output: string }) => {
      const info = (await vmmRequest(o.apiSock, 'GET', '/')) as { state: string };
      if (info.state === 'running') await vmmRequest(o.apiSock, 'PATCH', '/vm', { state: 'Paused' });
      const r = await vmmRequest(o.apiSock, 'PUT', '/snapshot/create', { snapshot_path: resolve(o.output) });
      print(r);
    });
  program
    .command('restore')
    .description('boot a VM from a snapshot; its console continues on this terminal')
    .requiredOption('--snapshot <dir>', 'snapshot directory')
    .option(sock, 'serve the control API here')
    .option('--paused', 'stay paused after restoring')
    .option('--kvm <path>', 'KVM device', process.env['TYPEVISOR_KVM'] ?? DEFAULT_KVM_PATH)
    .action(async (o: { snapshot: string; apiSock?: string; paused?: boolean; kvm: string }) => {
      // The threads load their modules while this thread reads the snapshot and rebuilds the VM.
      prestartThreads({ device: 1, vcpu: 1 });
      const vmm = new Vmm('restored', { kvmPath: o.kvm });
      const code = await serveConsole(vmm, o.apiSock, () => vmm.loadSnapshot(resolve(o.snapshot), !o.paused));
      process.exit(code);
    });
  program
    .command('vmm')
    .description('start a VMM that waits to be configured and started through its control API')
    .requiredOption(sock, 'VMM control socket')
    .option('--id <id>', 'VM id reported by the API', 'vm')
    .option('--console-sock <path>', 'serve the serial console on this Unix socket instead of the terminal')
    .option('--kvm <path>', 'KVM device', process.env['TYPEVISOR_KVM'] ?? DEFAULT_KVM_PATH)
    .action(async (o: { apiSock: string; id: string; kvm: string; consoleSock?: string }) => {
      // Ready before the API's InstanceStart or snapshot load: a thread's start-up is most of a restore otherwise,
      // and so is making a KVM VM under nested KVM. The VM shell is made once the API socket is served.
      prestartThreads({ device: 1, vcpu: 1 });
      // Guest resets reboot the VM in place here: the platform owns its lifetime.
      const vmm = new Vmm(o.id, { kvmPath: o.kvm, rebootOnReset: true, ...(o.consoleSock ? { consoleFd: -1 } : {}) });
      const code = await serveConsole(vmm, o.apiSock, undefined, {
        consoleSock: o.consoleSock,
        exitRecord: true,
        onListening: (api) => {
          // The API warm-up first (a few ms natively), then the VM shell (seconds under nested KVM). server.js is
          // loaded by now (it served the socket); imported here so that other verbs do not load fastify.
          void import('../api/server.js')
            .then((m) => m.warmUpApi(api))
            .then(() => warmUpStateCodec())
            .then(() => prepareVmShell(o.kvm));
        },
      });
      process.exit(code);
    });
}
