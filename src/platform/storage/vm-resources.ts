/**
 * The platform's VmResources (the VmManager hook in vms/resources.ts): VM
 * disks are pool volumes (or an image's linked clone, or new volumes made for
 * the VM), NICs are on platform networks (tap per NIC while running, MAC from
 * the database), and a NoCloud seed carries cloud-init settings. Host paths
 * and existing taps (the DirectResources shapes) stay accepted.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BootSpec, DiskSpec, NicSpec } from '../engines/engine.js';
import { badRequest, conflict } from '../http/api-error.js';
import { randomMac, requireFile, type PreparedResources, type VmResources } from '../vms/resources.js';
import type { JsonSchema, VmRecord, VmSpec } from '../vms/vm-model.js';
import { seedFiles, validateCloudInit, writeSeedImage, type CloudInitInput } from '../cloudinit/seed.js';
import type { ImageManager } from '../images/manager.js';
import type { NetworkManager, NicView } from '../network/manager.js';
import { isValidMac } from '../network/mac.js';
import { validateFormat, validateSize } from './directory-pool.js';
import { DEFAULT_POOL, type StorageManager } from './manager.js';
import { RESOURCE_NAME_PATTERN, validateName } from './names.js';

const NAME = RESOURCE_NAME_PATTERN.source;
const MAC_PATTERN = '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$';

/** Volume names of what the platform makes for a VM (VM ids are UUIDs: lower-case, valid in names). */
export const vmVolumeName = {
  root: (vmId: string) => `vm-${vmId}-root`,
  disk: (vmId: string, index: number) => `vm-${vmId}-disk${index}`,
  seed: (vmId: string) => `vm-${vmId}-cidata`,
};

export class PlatformResources implements VmResources {
  readonly diskSchema: JsonSchema = {
    type: 'object',
    additionalProperties: false,
    description: 'one of: {volume, pool?} an existing pool volume; {sizeBytes, format?} a new volume for this VM; {path} a host image file',
    properties: {
      volume: { type: 'string', pattern: NAME, description: 'existing volume in `pool`' },
      pool: { type: 'string', pattern: NAME, description: `default ${DEFAULT_POOL}` },
      sizeBytes: { type: 'integer', minimum: 512, description: 'create a new volume of this size for the VM (deleted with it)' },
      path: { type: 'string', minLength: 1, maxLength: 4096, description: 'absolute host path of a disk image' },
      format: { type: 'string', enum: ['raw', 'qcow2'] },
      readonly: { type: 'boolean' },
      serial: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,20}$' },
    },
  };
  readonly nicSchema: JsonSchema = {
    type: 'object',
    additionalProperties: false,
    description: 'one of: {network} a platform network (tap made at start); {tap} an existing host tap',
    properties: {
      network: { type: 'string', pattern: NAME },
      tap: { type: 'string', pattern: '^[a-zA-Z0-9_.-]{1,15}$' },
      mac: { type: 'string', pattern: MAC_PATTERN },
    },
  };
  readonly extraProperties: Record<string, JsonSchema> = {
    image: { type: 'string', pattern: NAME, description: 'boot from a linked clone of this image\'s disk (and its kernel/initrd when no boot is given)' },
    cloudInit: {
      type: 'object',
      additionalProperties: false,
      description: 'NoCloud seed attached as a read-only disk at start',
      properties: {
        hostname: { type: 'string', maxLength: 253 },
        sshAuthorizedKeys: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 16384 } },
        userData: { type: 'string', maxLength: 65536 },
        userDataMode: { type: 'string', enum: ['merge', 'verbatim'] },
        networkConfig: { type: 'object', additionalProperties: true },
      },
    },
  };

  constructor(
    private readonly storage: StorageManager,
    private readonly networks: NetworkManager,
    private readonly images: ImageManager,
  ) {}

  async validate(_name: string, spec: VmSpec, previous: VmRecord | null): Promise<VmSpec> {
    const image = spec.extra['image'];
    if (image !== undefined) {
      if (previous && previous.spec.extra['image'] !== image) throw badRequest('image cannot be changed after create', 'image');
      this.images.ready(validateName(image, 'image'));
    }
    if (!spec.boot && image === undefined) throw badRequest('boot (kernel, initrd, cmdline) or image is required', 'boot');
    if (spec.extra['cloudInit'] !== undefined) validateCloudInit(spec.extra['cloudInit']);

    const disks = spec.disks.map((d, i) => this.validateDisk(d, i));
    const kinds = disks.filter((d) => d['volume'] !== undefined).map((d) => `${String(d['pool'])}/${String(d['volume'])}`);
    if (new Set(kinds).size !== kinds.length) throw badRequest('the same volume is listed twice in disks', 'disks');
    for (const d of disks) {
      if (d['volume'] === undefined) continue;
      await this.storage.volume(String(d['pool']), String(d['volume'])).catch((e: Error) => {
        throw badRequest(e.message, 'disks');
      });
    }

    const previousMacs = new Set((previous?.spec.nics ?? []).map((n) => String(n['mac'])));
    const used = new Set<string>();
    const nics = spec.nics.map((n, i) => {
      const field = `nics[${i}]`;
      const hasNet = n['network'] !== undefined;
      if (!hasNet && n['tap'] === undefined) throw badRequest(`${field}.tap (or ${field}.network) is required`, `${field}.tap`);
      if (hasNet && n['tap'] !== undefined) throw badRequest(`${field} needs network or tap, not both`, field);
      if (hasNet) this.networks.get(validateName(n['network'], `${field}.network`));
      const given = n['mac'] as string | undefined;
      let mac: string;
      if (given !== undefined) {
        mac = given;
        if (!isValidMac(mac)) throw badRequest(`${field}.mac must be a unicast MAC`, `${field}.mac`);
        if (!previousMacs.has(mac) && this.networks.macInUse(mac)) throw conflict(`MAC ${mac} is already in use`, `${field}.mac`);
      } else {
        do mac = hasNet ? this.networks.freeMac() : randomMac();
        while (used.has(mac));
      }
      if (used.has(mac)) throw conflict(`MAC ${mac} is given twice`, `${field}.mac`);
      used.add(mac);
      return { ...n, mac };
    });
    if (previous) this.networks.assignNics(previous.id, this.networkNics(nics));
    return { ...spec, disks, nics };
  }

  private validateDisk(d: Record<string, unknown>, i: number): Record<string, unknown> {
    const field = `disks[${i}]`;
    const given = ['volume', 'sizeBytes', 'path'].filter((k) => d[k] !== undefined);
    if (given.length === 0) throw badRequest(`${field}.path (or ${field}.volume, or ${field}.sizeBytes) is required`, `${field}.path`);
    if (given.length > 1) throw badRequest(`${field} needs exactly one of volume, sizeBytes or path, not ${given.join(' and ')}`, field);
    const out: Record<string, unknown> = { readonly: false, ...d };
    if (d['volume'] !== undefined) {
      validateName(d['volume'], `${field}.volume`);
      out['pool'] = validateName(d['pool'] ?? DEFAULT_POOL, `${field}.pool`);
      if (d['format'] !== undefined) throw badRequest(`${field}.format comes from the volume; leave it out`, `${field}.format`);
    } else if (d['sizeBytes'] !== undefined) {
      validateSize(d['sizeBytes'], `${field}.sizeBytes`);
      out['format'] = d['format'] === undefined ? 'qcow2' : validateFormat(d['format'], `${field}.format`);
      if (d['pool'] !== undefined) validateName(d['pool'], `${field}.pool`);
      out['pool'] = d['pool'] ?? DEFAULT_POOL;
    } else {
      requireFile(String(d['path']), `${field}.path`);
      out['format'] = d['format'] ?? 'raw';
    }
    return out;
  }

  private networkNics(nics: Record<string, unknown>[]): Array<{ network: string; mac: string }> {
    return nics.filter((n) => n['network'] !== undefined).map((n) => ({ network: String(n['network']), mac: String(n['mac']) }));
  }

  async created(vm: VmRecord): Promise<void> {
    try {
      const image = vm.spec.extra['image'];
      if (typeof image === 'string') {
        const row = this.images.ready(image);
        await this.storage.linkedCloneFor(vm.id, row.pool, row.volume, vmVolumeName.root(vm.id), 'image-clone');
      }
      for (const [i, d] of vm.spec.disks.entries()) {
        if (d['volume'] !== undefined) this.storage.attach(vm.id, String(d['pool']), String(d['volume']), 'disk');
        else if (d['sizeBytes'] !== undefined) {
          const name = vmVolumeName.disk(vm.id, i);
          await this.storage.createVolume(String(d['pool']), name, d['format'], d['sizeBytes']);
          this.storage.attach(vm.id, String(d['pool']), name, 'vm-disk');
        }
      }
      this.networks.assignNics(vm.id, this.networkNics(vm.spec.nics));
      if (this.wantsSeed(vm)) await this.writeSeed(vm);
    } catch (err) {
      await this.deleted(vm).catch(() => undefined);
      throw err;
    }
  }

  private wantsSeed(vm: VmRecord): boolean {
    return vm.spec.extra['cloudInit'] !== undefined || vm.spec.extra['image'] !== undefined;
  }

  /** (Re)writes the VM's NoCloud seed volume; instance-id is the VM id, hostname defaults to the VM name. */
  private async writeSeed(vm: VmRecord): Promise<void> {
    const input: CloudInitInput = vm.spec.extra['cloudInit'] ? validateCloudInit(vm.spec.extra['cloudInit']) : {};
    input.hostname ??= vm.name;
    const macs = vm.spec.nics.map((n) => String(n['mac']));
    const name = vmVolumeName.seed(vm.id);
    const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tv-seed-'));
    try {
      const file = path.join(tmpDir, 'seed.raw');
      await writeSeedImage(seedFiles(vm.id, input, macs), file, 'vfat');
      if (await this.storage.pool(DEFAULT_POOL).volume(name)) {
        this.storage.detach(vm.id, DEFAULT_POOL, name);
        await this.storage.deleteVolume(DEFAULT_POOL, name);
      }
      await this.storage.importFile(DEFAULT_POOL, name, file, 'raw', 'raw');
      this.storage.attach(vm.id, DEFAULT_POOL, name, 'cloud-init');
    } finally {
      await fs.rm(tmpDir, { recursive: true, force: true });
    }
  }

  async prepare(vm: VmRecord): Promise<PreparedResources> {
    const disks: DiskSpec[] = [];
    const addVolume = async (pool: string, name: string, readonly: boolean, serial?: string) => {
      const v = await this.storage.volume(pool, name);
      if (!readonly) {
        const others = v.attachedTo.filter((a) => a.vmId !== vm.id && this.storage.isVmActive(a.vmId));
        if (others.length > 0) throw conflict(`volume ${pool}/${name} is in use by running VM ${others[0]?.vmId}`);
      }
      disks.push({ path: v.path, format: v.format, readonly, serial });
    };
    const image = vm.spec.extra['image'];
    let boot: BootSpec | undefined;
    if (typeof image === 'string') {
      await addVolume(DEFAULT_POOL, vmVolumeName.root(vm.id), false, 'root');
      const row = this.images.ready(image);
      if (row.kernel) boot = { kernel: row.kernel, initrd: row.initrd ?? undefined, cmdline: row.cmdline ?? undefined };
    }
    for (const [i, d] of vm.spec.disks.entries()) {
      const serial = typeof d['serial'] === 'string' ? d['serial'] : undefined;
      const readonly = d['readonly'] === true;
      if (d['volume'] !== undefined) await addVolume(String(d['pool']), String(d['volume']), readonly, serial);
      else if (d['sizeBytes'] !== undefined) await addVolume(String(d['pool']), vmVolumeName.disk(vm.id, i), readonly, serial);
      else disks.push({ path: String(d['path']), format: d['format'] === 'qcow2' ? 'qcow2' : 'raw', readonly, serial });
    }
    if (this.wantsSeed(vm)) {
      if (!(await this.storage.pool(DEFAULT_POOL).volume(vmVolumeName.seed(vm.id)))) await this.writeSeed(vm);
      await addVolume(DEFAULT_POOL, vmVolumeName.seed(vm.id), true, 'cidata');
    }
    const plugged = await this.networks.plugVm(vm.id);
    const byMac = new Map(plugged.map((p) => [p.mac, p.tap]));
    const nics: NicSpec[] = vm.spec.nics.map((n) => {
      const mac = String(n['mac']);
      return { tap: n['tap'] !== undefined ? String(n['tap']) : (byMac.get(mac) as string), mac };
    });
    return boot ? { disks, nics, boot } : { disks, nics };
  }

  async release(vm: VmRecord): Promise<void> {
    await this.networks.unplugVm(vm.id);
  }

  async deleted(vm: VmRecord): Promise<void> {
    await this.networks.releaseVm(vm.id);
    await this.storage.releaseVm(vm.id);
  }

  /** Live NIC facts for the VM view: each NIC as defined, plus tap and (once leased) ipv4 for network NICs. */
  describe(vm: VmRecord): Record<string, unknown> {
    const live = new Map<string, NicView>(this.networks.nics(vm.id).map((n) => [n.mac, n]));
    return {
      nics: vm.spec.nics.map((n) => {
        const l = live.get(String(n['mac']));
        return l ? { ...n, tap: l.tap, ipv4: l.ipv4 ?? null } : n;
      }),
    };
  }
}
