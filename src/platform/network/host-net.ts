/**
 * Host networking commands (iproute2, iptables) run as argument arrays, never
 * through a shell. Every helper that removes something tolerates it being
 * already gone, so teardown after a partial setup always completes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export class HostCommandError extends Error {
  constructor(
    readonly command: string[],
    readonly stderr: string,
  ) {
    super(`${command.join(' ')} failed: ${stderr.trim()}`);
    this.name = 'HostCommandError';
  }
}

export async function run(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: 30_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new HostCommandError([cmd, ...args], e.stderr || e.message || String(err));
  }
}

async function quietly(p: Promise<unknown>): Promise<void> {
  await p.catch(() => undefined);
}

export async function linkExists(name: string): Promise<boolean> {
  try {
    await run('ip', ['link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}

export async function createBridge(bridge: string, gatewayCidr: string): Promise<void> {
  if (!(await linkExists(bridge))) await run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge', 'stp_state', '0']);
  await run('ip', ['addr', 'replace', gatewayCidr, 'dev', bridge]);
  await run('ip', ['link', 'set', 'dev', bridge, 'up']);
}

export async function deleteLink(name: string): Promise<void> {
  await quietly(run('ip', ['link', 'del', 'dev', name]));
}

export async function createTap(tap: string, bridge: string): Promise<void> {
  await deleteLink(tap); // a stale tap from a crashed VM would make "add" fail
  await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  try {
    await run('ip', ['link', 'set', 'dev', tap, 'master', bridge]);
    await run('ip', ['link', 'set', 'dev', tap, 'up']);
  } catch (err) {
    await deleteLink(tap);
    throw err;
  }
}

/** IPv4 addresses (CIDR) already configured on the host, to refuse networks that would shadow them. */
export async function hostIpv4Cidrs(): Promise<Array<{ ifname: string; cidr: string }>> {
  const out = JSON.parse(await run('ip', ['-j', '-4', 'addr', 'show'])) as Array<{
    ifname: string;
    addr_info?: Array<{ local: string; prefixlen: number }>;
  }>;
  return out.flatMap((i) => (i.addr_info ?? []).map((a) => ({ ifname: i.ifname, cidr: `${a.local}/${a.prefixlen}` })));
}

/** iptables rules tagged with a comment so teardown removes exactly what setup added. */
export interface IptablesRule {
  table: 'nat' | 'filter';
  chain: string;
  spec: string[];
}

function withComment(rule: IptablesRule, tag: string): string[] {
  return [...rule.spec, '-m', 'comment', '--comment', tag];
}

export async function addRule(rule: IptablesRule, tag: string): Promise<void> {
  const spec = withComment(rule, tag);
  try {
    await run('iptables', ['-w', '-t', rule.table, '-C', rule.chain, ...spec]);
    return; // already present
  } catch {
    await run('iptables', ['-w', '-t', rule.table, '-I', rule.chain, ...spec]);
  }
}

export async function removeRule(rule: IptablesRule, tag: string): Promise<void> {
  const spec = withComment(rule, tag);
  // Delete every copy (a crash between setup steps may have left duplicates).
  for (let i = 0; i < 10; i++) {
    try {
      await run('iptables', ['-w', '-t', rule.table, '-D', rule.chain, ...spec]);
    } catch {
      return;
    }
  }
}

/** The rules of one network: NAT masquerading out of the subnet, or isolation from routing. */
export function networkRules(bridge: string, subnet: string, nat: boolean): IptablesRule[] {
  if (nat) {
    return [
      { table: 'nat', chain: 'POSTROUTING', spec: ['-s', subnet, '!', '-d', subnet, '-j', 'MASQUERADE'] },
      { table: 'filter', chain: 'FORWARD', spec: ['-i', bridge, '-s', subnet, '-j', 'ACCEPT'] },
      { table: 'filter', chain: 'FORWARD', spec: ['-o', bridge, '-d', subnet, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'] },
    ];
  }
  // Isolated: nothing is routed in or out, even if another network turned on ip_forward.
  // Traffic between two ports of the same bridge (-i br -o br, seen here when br_netfilter is loaded) stays allowed.
  return [
    { table: 'filter', chain: 'FORWARD', spec: ['-i', bridge, '!', '-o', bridge, '-j', 'REJECT'] },
    { table: 'filter', chain: 'FORWARD', spec: ['!', '-i', bridge, '-o', bridge, '-j', 'REJECT'] },
  ];
}

export async function enableIpForwarding(): Promise<void> {
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
}
