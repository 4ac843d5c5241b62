/** `typevisor vm ...`: VM definitions and lifecycle through the daemon. */
import type { Command } from 'commander';
import { clientFrom, CliError, withConnectionOptions } from './client.js';
import { printJson, printTable } from './output.js';
import { requireSuccess, runTask, type TaskView } from './follow.js';
import { attachConsole } from './console.js';

interface VmView {
  id: string;
  name: string;
  engine: string;
  engineReason: string;
  state: string;
  stateReason: string;
  vcpus: number;
  memoryMiB: number;
  pid: number | null;
  [k: string]: unknown;
}

const ref = (name: string): string => `/api/v1/vms/${encodeURIComponent(name)}`;

/** `key=value,key=value` -> object; values true/false/numbers become JSON types. */
export function parseKeyValues(text: string, what: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw new CliError(`${what}: expected key=value[,key=value...], got ${JSON.stringify(text)}`);
    const key = part.slice(0, i);
    const raw = part.slice(i + 1);
    out[key] = raw === 'true' ? true : raw === 'false' ? false : /^\d+$/.test(raw) ? Number(raw) : raw;
  }
  return out;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function definitionOptions(cmd: Command): Command {
  return cmd
    .option('--engine <engine>', 'typevisor or qemu (default: from the host flavour)')
    .option('--vcpus <n>', 'virtual CPUs', (v) => Number(v))
    .option('--memory <MiB>', 'memory in MiB', (v) => Number(v))
    .option('--kernel <path>', 'kernel image (bzImage)')
    .option('--initrd <path>', 'initramfs')
    .option('--cmdline <text>', 'kernel command line')
    .option('--disk <spec>', 'disk, e.g. path=/x.qcow2,format=qcow2 or volume=NAME (repeatable)', collect)
    .option('--nic <spec>', 'NIC, e.g. network=default or tap=tap0 (repeatable)', collect)
    .option('--restart-policy <policy>', 'no or on-crash')
    .option('--image <name>', 'boot from a copy of this image')
    .option('--set <key=json>', 'any other field as JSON, e.g. cloudInit={"hostname":"a"} (repeatable)', collect);
}

function bodyFrom(o: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (o['engine'] !== undefined) body['engine'] = o['engine'];
  if (o['vcpus'] !== undefined) body['vcpus'] = o['vcpus'];
  if (o['memory'] !== undefined) body['memoryMiB'] = o['memory'];
  if (o['kernel'] !== undefined) {
    body['boot'] = { kernel: o['kernel'], ...(o['initrd'] ? { initrd: o['initrd'] } : {}), ...(o['cmdline'] !== undefined ? { cmdline: o['cmdline'] } : {}) };
  } else if (o['initrd'] !== undefined || o['cmdline'] !== undefined) {
    throw new CliError('--initrd and --cmdline need --kernel');
  }
  if (o['disk']) body['disks'] = (o['disk'] as string[]).map((d) => parseKeyValues(d, '--disk'));
  if (o['nic']) body['nics'] = (o['nic'] as string[]).map((d) => parseKeyValues(d, '--nic'));
  if (o['restartPolicy'] !== undefined) body['restartPolicy'] = o['restartPolicy'];
  if (o['image'] !== undefined) body['image'] = o['image'];
  for (const kv of (o['set'] as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new CliError(`--set: expected key=json, got ${JSON.stringify(kv)}`);
    try {
      body[kv.slice(0, i)] = JSON.parse(kv.slice(i + 1));
    } catch {
      body[kv.slice(0, i)] = kv.slice(i + 1);
    }
  }
  return body;
}

function showVm(vm: VmView): void {
  const rows: [string, unknown][] = [
    ['name', vm.name], ['id', vm.id], ['state', `${vm.state} (${vm.stateReason})`], ['engine', `${vm.engine} (${vm.engineReason})`],
    ['vcpus', vm.vcpus], ['memory', `${vm.memoryMiB} MiB`], ['pid', vm.pid ?? '-'],
  ];
  for (const [k, v] of Object.entries(vm)) {
    if (['name', 'id', 'state', 'stateReason', 'engine', 'engineReason', 'vcpus', 'memoryMiB', 'pid'].includes(k)) continue;
    rows.push([k, typeof v === 'object' ? JSON.stringify(v) : v]);
  }
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(14)} ${String(v)}\n`);
}

export function registerVmCommands(program: Command): void {
  const vm = program.command('vm').description('virtual machines on the node daemon');

  withConnectionOptions(vm.command('list').description('list VMs')).action(async (_o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const { vms } = await api.call<{ vms: VmView[] }>('GET', '/api/v1/vms');
    if (json) return printJson(vms);
    printTable(['NAME', 'STATE', 'ENGINE', 'VCPUS', 'MEMORY', 'PID', 'ID'], vms.map((v) => [v.name, v.state, v.engine, v.vcpus, `${v.memoryMiB} MiB`, v.pid, v.id]));
  });

  withConnectionOptions(vm.command('show <vm>').description('show one VM (name or id)')).action(async (name: string, _o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const v = await api.call<VmView>('GET', ref(name));
    if (json) printJson(v);
    else showVm(v);
  });

  withConnectionOptions(definitionOptions(vm.command('create <name>').description('define a VM (not started)'))).action(
    async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const { api, json } = clientFrom(cmd);
      const v = await api.call<VmView>('POST', '/api/v1/vms', { name, ...bodyFrom(o) });
      if (json) printJson(v);
      else process.stdout.write(`created ${v.name} (${v.id}) on engine ${v.engine}: ${v.engineReason}\n`);
    },
  );

  withConnectionOptions(definitionOptions(vm.command('edit <vm>').description('change a stopped VM')).option('--name <new>', 'rename')).action(
    async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const { api, json } = clientFrom(cmd);
      const body = bodyFrom(o);
      if (o['name'] !== undefined) body['name'] = o['name'];
      if (Object.keys(body).length === 0) throw new CliError('nothing to change: give at least one option');
      const v = await api.call<VmView>('PATCH', ref(name), body);
      if (json) printJson(v);
      else showVm(v);
    },
  );

  const lifecycle = (op: string, description: string, extra?: (c: Command) => Command): void => {
    let c = withConnectionOptions(vm.command(`${op} <vm>`).description(description)).option('--no-wait', 'return once the task is created');
    if (extra) c = extra(c);
    c.action(async (name: string, o: { wait: boolean; timeout?: string }, cmd: Command) => {
      const { api, json } = clientFrom(cmd);
      const query = op === 'stop' && o.timeout !== undefined ? `?timeoutSeconds=${encodeURIComponent(o.timeout)}` : '';
      const post = (): Promise<{ task: TaskView }> => api.call<{ task: TaskView }>('POST', `${ref(name)}/${op}${query}`);
      if (!o.wait) {
        const { task } = await post();
        return json ? printJson(task) : void process.stdout.write(`task ${task.id}\n`);
      }
      const task = await runTask(api, post, { quiet: json });
      if (json) printJson(task);
      requireSuccess(task);
      if (!json) {
        const v = await api.call<VmView>('GET', ref(name));
        process.stdout.write(`${v.name}: ${v.state} (${v.stateReason})\n`);
      }
    });
  };
  lifecycle('start', 'start a VM and wait until it runs');
  lifecycle('stop', 'ACPI shutdown, forced off after the timeout', (c) => c.option('--timeout <seconds>', 'seconds before forcing off (default 30)'));
  lifecycle('reboot', 'reset a running VM');
  lifecycle('pause', 'pause a running VM');
  lifecycle('resume', 'resume a paused VM');

  withConnectionOptions(vm.command('delete <vm>').description('delete a VM and its run directory'))
    .option('--force', 'kill it first when it is running')
    .action(async (name: string, o: { force?: boolean }, cmd: Command) => {
      const { api } = clientFrom(cmd);
      await api.call('DELETE', `${ref(name)}${o.force ? '?force=true' : ''}`);
      process.stdout.write(`deleted ${name}\n`);
    });

  withConnectionOptions(vm.command('console <vm>').description('attach this terminal to the serial console (Ctrl-] detaches)')).action(
    async (name: string, _o, cmd: Command) => {
      const { api } = clientFrom(cmd);
      await attachConsole(api, name);
    },
  );

  withConnectionOptions(vm.command('log <vm>').description('print recent serial console output')).action(async (name: string, _o, cmd: Command) => {
    const { api } = clientFrom(cmd);
    const res = await api.raw('GET', `${ref(name)}/console/log`);
    if (res.status >= 400) await api.call('GET', `${ref(name)}/console/log`);
    process.stdout.write(res.body);
  });
}
