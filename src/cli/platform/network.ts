/** `typevisor network ...`: bridges with DHCP (dnsmasq), NAT on request. */
import type { Command } from 'commander';
import { clientFrom, withConnectionOptions } from './client.js';
import { printJson, printTable } from './output.js';

interface Network {
  name: string;
  subnet: string;
  nat: boolean;
  bridge: string;
  gateway: string;
  dhcp: { start: string; end: string };
  dnsmasq: { running: boolean; pid?: number };
  nics: number;
}

export function registerNetworkCommands(program: Command): void {
  const network = program.command('network').description('virtual networks: a bridge, DHCP/DNS, optional NAT');

  withConnectionOptions(network.command('list').description('list networks')).action(async (_o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const { networks } = await api.call<{ networks: Network[] }>('GET', '/api/v1/networks');
    if (json) return printJson(networks);
    printTable(
      ['NAME', 'SUBNET', 'GATEWAY', 'NAT', 'BRIDGE', 'DHCP', 'NICS'],
      networks.map((n) => [n.name, n.subnet, n.gateway, n.nat ? 'yes' : 'no (isolated)', n.bridge, n.dnsmasq.running ? 'running' : 'down', n.nics]),
    );
  });

  withConnectionOptions(network.command('show <name>').description('one network')).action(async (name: string, _o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const n = await api.call<Network>('GET', `/api/v1/networks/${encodeURIComponent(name)}`);
    if (json) return printJson(n);
    printTable(['FIELD', 'VALUE'], [
      ['name', n.name], ['subnet', n.subnet], ['gateway', n.gateway], ['nat', String(n.nat)], ['bridge', n.bridge],
      ['dhcp range', `${n.dhcp.start} - ${n.dhcp.end}`], ['dnsmasq', n.dnsmasq.running ? `running (pid ${n.dnsmasq.pid})` : 'down'], ['nics', n.nics],
    ]);
  });

  withConnectionOptions(
    network
      .command('create <name>')
      .description('create a network (isolated unless --nat)')
      .requiredOption('--subnet <cidr>', 'IPv4 subnet, e.g. 10.77.0.0/24 (gateway = first address)')
      .option('--nat', 'masquerade guest traffic out of the host uplink'),
  ).action(async (name: string, o: { subnet: string; nat?: boolean }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const n = await api.call<Network>('POST', '/api/v1/networks', { name, subnet: o.subnet, nat: o.nat === true });
    if (json) return printJson(n);
    process.stdout.write(`network ${n.name} ${n.subnet} on ${n.bridge} (gateway ${n.gateway}, ${n.nat ? 'NAT' : 'isolated'})\n`);
  });

  withConnectionOptions(network.command('delete <name>').description('delete a network (refused while NICs use it)')).action(async (name: string, _o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    await api.call('DELETE', `/api/v1/networks/${encodeURIComponent(name)}`);
    if (json) return printJson({ deleted: name });
    process.stdout.write(`network ${name} deleted\n`);
  });
}
