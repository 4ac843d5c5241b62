/**
 * NetworkManager: platform networks (a Linux bridge + dnsmasq each, NAT on
 * request), the NICs of VMs (MAC addresses unique in the database, a tap per
 * NIC while the VM runs) and the DHCP leases that tell the API a NIC's IPv4.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { badRequest, conflict, notFound, validateName } from '../storage/names.js';
import { DnsmasqSupervisor, dnsmasqPaths } from './dnsmasq.js';
import { leasesByMac, parseLeases } from './dnsmasq-config.js';
import * as host from './host-net.js';
import { parseIpv4, parseSubnet, planSubnet, subnetsOverlap, formatSubnet, type SubnetPlan } from './ipv4.js';
import { allocateMac, isValidMac } from './mac.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS net_networks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  subnet TEXT NOT NULL,
  nat INTEGER NOT NULL,
  bridge TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS net_nics (
  vm_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  network TEXT NOT NULL,
  mac TEXT NOT NULL UNIQUE,
  tap TEXT NOT NULL UNIQUE,
  PRIMARY KEY (vm_id, idx)
);
`;

interface NetworkRow {
  id: number;
  name: string;
  subnet: string;
  nat: number;
  bridge: string;
  created_at: string;
}

interface NicRow {
  vm_id: string;
  idx: number;
  network: string;
  mac: string;
  tap: string;
}

export interface NetworkView {
  name: string;
  subnet: string;
  nat: boolean;
  bridge: string;
  gateway: string;
  dhcp: { start: string; end: string };
  dnsmasq: { running: boolean; pid?: number | undefined };
  nics: number;
  createdAt: string;
}

export interface NicView {
  index: number;
  network: string;
  mac: string;
  tap: string;
  ipv4?: string | undefined;
}

export interface NicRequest {
  network: string;
  mac?: string | undefined;
}

export class NetworkManager {
  private readonly supervisors = new Map<string, DnsmasqSupervisor>();

  constructor(
    private readonly db: Database,
    private readonly dataDir: string,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    db.exec(SCHEMA);
  }

  private rows(): NetworkRow[] {
    return this.db.prepare('SELECT * FROM net_networks ORDER BY name').all() as NetworkRow[];
  }
  private row(name: string): NetworkRow {
    validateName(name, 'network');
    const row = this.db.prepare('SELECT * FROM net_networks WHERE name = ?').get(name) as NetworkRow | undefined;
    if (!row) throw notFound(`network ${name} not found`);
    return row;
  }
  private dirOf(name: string): string {
    return path.join(path.resolve(this.dataDir), 'networks', name);
  }

  private view(row: NetworkRow): NetworkView {
    const plan = planSubnet(parseSubnet(row.subnet));
    const sup = this.supervisors.get(row.name);
    const nics = (this.db.prepare('SELECT COUNT(*) AS n FROM net_nics WHERE network = ?').get(row.name) as { n: number }).n;
    return {
      name: row.name,
      subnet: row.subnet,
      nat: row.nat === 1,
      bridge: row.bridge,
      gateway: plan.gateway,
      dhcp: { start: plan.dhcpStart, end: plan.dhcpEnd },
      dnsmasq: { running: sup?.pid !== undefined, pid: sup?.pid },
      nics,
      createdAt: row.created_at,
    };
  }

  list(): NetworkView[] {
    return this.rows().map((r) => this.view(r));
  }

  get(name: string): NetworkView {
    return this.view(this.row(name));
  }

  /** Validates, refuses overlaps (with other networks and the host's own addresses), then brings it up; all or nothing. */
  async create(input: { name?: unknown; subnet?: unknown; nat?: unknown }): Promise<NetworkView> {
    const name = validateName(input.name, 'name');
    const subnet = parseSubnet(input.subnet, 'subnet');
    if (input.nat !== undefined && typeof input.nat !== 'boolean') throw badRequest('nat must be a boolean', 'nat');
    const nat = input.nat === true;
    if (this.db.prepare('SELECT 1 FROM net_networks WHERE name = ?').get(name)) throw conflict(`network ${name} already exists`, 'name');
    for (const other of this.rows()) {
      if (subnetsOverlap(subnet, parseSubnet(other.subnet))) {
        throw conflict(`subnet ${formatSubnet(subnet)} overlaps network ${other.name} (${other.subnet})`, 'subnet');
      }
    }
    for (const addr of await host.hostIpv4Cidrs()) {
      const [ip, prefix] = addr.cidr.split('/');
      const hostNet = parseIpv4(ip ?? '');
      if (hostNet === null || addr.ifname === 'lo') continue;
      const p = Number(prefix);
      const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
      const hostSubnet = { network: (hostNet & mask) >>> 0, prefix: p };
      if (subnetsOverlap(subnet, hostSubnet)) {
        throw conflict(`subnet ${formatSubnet(subnet)} overlaps ${addr.cidr} on host interface ${addr.ifname}`, 'subnet');
      }
    }
    const insert = this.db.prepare(
      "INSERT INTO net_networks (name, subnet, nat, bridge, created_at) VALUES (?, ?, ?, '', ?)",
    );
    const info = insert.run(name, formatSubnet(subnet), nat ? 1 : 0, new Date().toISOString());
    const id = Number(info.lastInsertRowid);
    // Unique across daemons sharing the host (tests run several): a hash of the data directory and the row id.
    const bridge = `tvbr${createHash('sha256').update(`${path.resolve(this.dataDir)}\0${id}`).digest('hex').slice(0, 8)}`;
    this.db.prepare('UPDATE net_networks SET bridge = ? WHERE id = ?').run(bridge, id);
    const row = this.row(name);
    try {
      await this.bringUp(row);
    } catch (err) {
      await this.tearDown(row);
      this.db.prepare('DELETE FROM net_networks WHERE id = ?').run(id);
      await fs.rm(this.dirOf(name), { recursive: true, force: true });
      throw err;
    }
    return this.view(row);
  }

  private plan(row: NetworkRow): SubnetPlan {
    return planSubnet(parseSubnet(row.subnet));
  }

  private async bringUp(row: NetworkRow): Promise<void> {
    const plan = this.plan(row);
    await host.createBridge(row.bridge, `${plan.gateway}/${plan.prefix}`);
    const tag = `typevisor:${row.name}`;
    for (const rule of host.networkRules(row.bridge, row.subnet, row.nat === 1)) await host.addRule(rule, tag);
    if (row.nat === 1) await host.enableIpForwarding();
    let sup = this.supervisors.get(row.name);
    if (!sup) {
      sup = new DnsmasqSupervisor({ bridge: row.bridge, plan, dir: this.dirOf(row.name), nat: row.nat === 1, domain: row.name }, this.log);
      this.supervisors.set(row.name, sup);
    }
    try {
      await sup.start();
    } catch (err) {
      this.supervisors.delete(row.name);
      throw err;
    }
  }

  private async tearDown(row: NetworkRow): Promise<void> {
    const sup = this.supervisors.get(row.name);
    this.supervisors.delete(row.name);
    await sup?.stop();
    const tag = `typevisor:${row.name}`;
    for (const rule of host.networkRules(row.bridge, row.subnet, row.nat === 1)) await host.removeRule(rule, tag);
    await host.deleteLink(row.bridge);
  }

  async delete(name: string): Promise<void> {
    const row = this.row(name);
    const users = this.db.prepare('SELECT DISTINCT vm_id FROM net_nics WHERE network = ? ORDER BY vm_id').all(name) as Array<{ vm_id: string }>;
    if (users.length > 0) {
      throw conflict(`network ${name} is used by NICs of VM(s) ${users.map((u) => u.vm_id).join(', ')}`);
    }
    await this.tearDown(row);
    this.db.prepare('DELETE FROM net_networks WHERE id = ?').run(row.id);
    await fs.rm(this.dirOf(name), { recursive: true, force: true });
  }

  /** Daemon start: re-create bridges/rules that vanished (host reboot) and start every dnsmasq. */
  async startAll(): Promise<void> {
    for (const row of this.rows()) {
      try {
        await this.bringUp(row);
      } catch (err) {
        this.log(`network ${row.name}: ${(err as Error).message}`);
      }
    }
  }

  /** Daemon shutdown: stop the dnsmasqs; bridges and taps stay so running VMs keep their links. */
  async stopAll(): Promise<void> {
    for (const sup of this.supervisors.values()) await sup.stop();
    this.supervisors.clear();
  }

  /** Daemon-wide teardown for tests: remove every network's bridge and rules (networks stay in the DB). */
  async tearDownAll(): Promise<void> {
    for (const row of this.rows()) await this.tearDown(row);
  }

  // ---- NICs ----------------------------------------------------------------

  /** Tap names fit IFNAMSIZ (15): "tvt" + 8 hex digits of the VM id hash + NIC index. */
  static tapName(vmId: string, index: number): string {
    return `tvt${createHash('sha256').update(vmId).digest('hex').slice(0, 8)}${index}`;
  }

  /** Validates a VM's NIC list (networks exist, MACs valid and free) without writing anything. */
  validateNics(nics: unknown): NicRequest[] {
    if (nics === undefined) return [];
    if (!Array.isArray(nics)) throw badRequest('nics must be an array', 'nics');
    if (nics.length > 8) throw badRequest('at most 8 NICs per VM', 'nics');
    const seen = new Set<string>();
    return nics.map((n: unknown, i) => {
      if (typeof n !== 'object' || n === null) throw badRequest(`nics[${i}] must be an object`, `nics[${i}]`);
      const { network, mac } = n as Record<string, unknown>;
      this.row(validateName(network, `nics[${i}].network`));
      if (mac !== undefined) {
        if (typeof mac !== 'string' || !isValidMac(mac)) throw badRequest(`nics[${i}].mac must be a unicast MAC like 52:54:00:12:34:56`, `nics[${i}].mac`);
        if (seen.has(mac) || this.db.prepare('SELECT 1 FROM net_nics WHERE mac = ?').get(mac)) throw conflict(`MAC ${mac} is already in use`, `nics[${i}].mac`);
        seen.add(mac);
      }
      return { network: network as string, mac: mac as string | undefined };
    });
  }

  macInUse(mac: string): boolean {
    return this.db.prepare('SELECT 1 FROM net_nics WHERE mac = ?').get(mac) !== undefined;
  }

  /** A 52:54:00 MAC no recorded NIC has. */
  freeMac(): string {
    return allocateMac((m) => this.macInUse(m));
  }

  /** Records a VM's NICs with unique MACs (in one transaction). */
  assignNics(vmId: string, nics: NicRequest[]): NicView[] {
    const taken = this.db.prepare('SELECT 1 FROM net_nics WHERE mac = ?');
    const insert = this.db.prepare('INSERT INTO net_nics (vm_id, idx, network, mac, tap) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM net_nics WHERE vm_id = ?').run(vmId);
      nics.forEach((nic, idx) => {
        const mac = nic.mac ?? allocateMac((m) => taken.get(m) !== undefined);
        insert.run(vmId, idx, nic.network, mac, NetworkManager.tapName(vmId, idx));
      });
    })();
    return this.nics(vmId);
  }

  private nicRows(vmId: string): NicRow[] {
    return this.db.prepare('SELECT * FROM net_nics WHERE vm_id = ? ORDER BY idx').all(vmId) as NicRow[];
  }

  /** NICs with the IPv4 address dnsmasq leased to each MAC, if any. */
  nics(vmId: string): NicView[] {
    const rows = this.nicRows(vmId);
    const leaseCache = new Map<string, Map<string, { ipv4: string }>>();
    return rows.map((r) => {
      let leases = leaseCache.get(r.network);
      if (!leases) {
        leases = this.readLeases(r.network);
        leaseCache.set(r.network, leases);
      }
      return { index: r.idx, network: r.network, mac: r.mac, tap: r.tap, ipv4: leases.get(r.mac)?.ipv4 };
    });
  }

  private readLeases(network: string): Map<string, { ipv4: string }> {
    try {
      // Synchronous on purpose: one small file per network per GET, keeps nics() usable from synchronous serializers.
      const text = readFileSync(dnsmasqPaths(this.dirOf(network)).leases, 'utf8');
      return leasesByMac(parseLeases(text));
    } catch {
      return new Map();
    }
  }

  /** VM start: a tap per NIC, enslaved to its network's bridge. Returns engine NicSpecs. */
  async plugVm(vmId: string): Promise<Array<{ tap: string; mac: string }>> {
    const rows = this.nicRows(vmId);
    const done: string[] = [];
    try {
      for (const r of rows) {
        const net = this.row(r.network);
        if (!(await host.linkExists(net.bridge))) await this.bringUp(net);
        await host.createTap(r.tap, net.bridge);
        done.push(r.tap);
      }
    } catch (err) {
      for (const tap of done) await host.deleteLink(tap);
      throw err;
    }
    return rows.map((r) => ({ tap: r.tap, mac: r.mac }));
  }

  /** VM stop: remove its taps. */
  async unplugVm(vmId: string): Promise<void> {
    for (const r of this.nicRows(vmId)) await host.deleteLink(r.tap);
  }

  /** VM delete. */
  async releaseVm(vmId: string): Promise<void> {
    await this.unplugVm(vmId);
    this.db.prepare('DELETE FROM net_nics WHERE vm_id = ?').run(vmId);
  }
}
