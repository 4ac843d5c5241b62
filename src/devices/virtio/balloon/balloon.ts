/**
 * virtio-balloon (virtio 1.2 §5.5): the host sets a target (num_pages) and
 * the driver inflates (gives pages back: the VMM madvise(DONTNEED)s them) or
 * deflates (takes them back). With VIRTIO_BALLOON_F_STATS_VQ the driver
 * keeps one stats buffer in the stats queue; the device holds it and returns
 * it when the host asks for fresh statistics (§5.5.6.3).
 */
import { PAGE_SIZE } from '../../../arch/x86_64/layout.js';
import { VirtioDeviceType, featureBit, hasFeature } from '../constants.js';
import { emptyMetrics, type VirtioActivation, type VirtioDevice, type VirtioDeviceMetrics } from '../device.js';
import { ChainReader } from '../queue/chain.js';

export const VirtioBalloonFeature = {
  MUST_TELL_HOST: 0,
  STATS_VQ: 1,
  DEFLATE_ON_OOM: 2,
  FREE_PAGE_HINT: 3,
  PAGE_POISON: 4,
  PAGE_REPORTING: 5,
} as const;

/** struct virtio_balloon_config (§5.5.4), the part typevisor implements. */
export const VirtioBalloonConfig = {
  NUM_PAGES: 0, // le32, host target
  ACTUAL: 4, // le32, written by the driver
  SIZE: 8,
} as const;

/** Balloon page frames are always 4 KiB (§5.5.6: VIRTIO_BALLOON_PFN_SHIFT 12). */
export const BALLOON_PAGE_SIZE = 4096;

export const BALLOON_INFLATE_QUEUE = 0;
export const BALLOON_DEFLATE_QUEUE = 1;
export const BALLOON_STATS_QUEUE = 2;

/** struct virtio_balloon_stat (§5.5.6.3): le16 tag + le64 value, packed. */
export const BalloonStat = { SIZE: 10, TAG: 0, VALUE: 2 } as const;
export const BALLOON_STAT_TAGS = [
  'swapIn',
  'swapOut',
  'majorFaults',
  'minorFaults',
  'freeMemory',
  'totalMemory',
  'availableMemory',
  'diskCaches',
  'hugetlbAllocations',
  'hugetlbFailures',
] as const;
export type BalloonStatName = (typeof BALLOON_STAT_TAGS)[number];

export interface BalloonStats {
  /** Values by name (memory values in bytes, as the driver reports them). */
  values: Partial<Record<BalloonStatName, number>>;
  /** Date.now() when the device received them. */
  receivedAt: number;
}

export interface BalloonOptions {
  /** Pages the guest gave back: release their host memory. PFNs are validated to lie in guest RAM. */
  onInflate: (pfns: number[]) => void;
  /** Pages the guest takes back. */
  onDeflate: (pfns: number[]) => void;
  /** Called when fresh statistics arrived. */
  onStats?: (stats: BalloonStats) => void;
  statsQueue?: boolean;
  deflateOnOom?: boolean;
  queueSize?: number;
}

export interface BalloonStateV1 {
  version: 1;
  targetPages: number;
  actualPages: number;
  /** Head of the stats buffer the device holds, if any. */
  statsHead: number | null;
  stats: BalloonStats | null;
  metrics: VirtioDeviceMetrics;
}

/** Largest PFN list handled per request (Linux sends 256). */
const MAX_PFNS_PER_REQUEST = 1 << 18;

export class VirtioBalloon implements VirtioDevice {
  readonly deviceType = VirtioDeviceType.BALLOON;
  readonly name = 'balloon';
  readonly queueMaxSizes: readonly number[];
  readonly features: bigint;
  readonly configSize = VirtioBalloonConfig.SIZE;
  private targetPages = 0;
  private actualPages = 0;
  private statsHead: number | null = null;
  private stats: BalloonStats | null = null;
  private ctx: VirtioActivation | null = null;
  private counters = emptyMetrics();

  constructor(private readonly options: BalloonOptions) {
    const size = options.queueSize ?? 128;
    const stats = options.statsQueue ?? true;
    this.queueMaxSizes = stats ? [size, size, size] : [size, size];
    this.features =
      (stats ? featureBit(VirtioBalloonFeature.STATS_VQ) : 0n) |
      (options.deflateOnOom ? featureBit(VirtioBalloonFeature.DEFLATE_ON_OOM) : 0n);
    Object.assign(this.counters, { inflatedPages: 0, deflatedPages: 0, invalidPfns: 0 });
  }

  /** Host: ask the guest to balloon to `pages` 4 KiB pages. */
  setTargetPages(pages: number): void {
    if (!Number.isInteger(pages) || pages < 0 || pages > 0xffff_ffff) throw new RangeError(`balloon target ${pages} pages is invalid`);
    this.targetPages = pages;
    this.ctx?.interrupt.signalConfigChange();
  }

  setTargetBytes(bytes: number): void {
    this.setTargetPages(Math.floor(bytes / BALLOON_PAGE_SIZE));
  }

  get target(): number {
    return this.targetPages;
  }

  /** Pages the driver reports as currently in the balloon. */
  get actual(): number {
    return this.actualPages;
  }

  /** Latest statistics received, or null. */
  latestStats(): BalloonStats | null {
    return this.stats;
  }

  /**
   * Host: ask the driver for fresh statistics by returning the stats buffer
   * it left with us. Returns false when no buffer is held (stats not
   * negotiated, or a request is already outstanding).
   */
  requestStats(): boolean {
    const ctx = this.ctx;
    const queue = ctx?.queues[BALLOON_STATS_QUEUE];
    if (!ctx || !queue?.isActive || this.statsHead === null) return false;
    const head = this.statsHead;
    this.statsHead = null;
    try {
      queue.pushUsed(head, 0);
      ctx.interrupt.signalUsed(BALLOON_STATS_QUEUE);
    } catch (error) {
      // Host-initiated: report the guest error to the transport instead of throwing at the VMM.
      ctx.fail?.(error);
      return false;
    }
    return true;
  }

  readConfig(offset: number, data: Uint8Array): void {
    const image = new Uint8Array(VirtioBalloonConfig.SIZE);
    const v = new DataView(image.buffer);
    v.setUint32(VirtioBalloonConfig.NUM_PAGES, this.targetPages, true);
    v.setUint32(VirtioBalloonConfig.ACTUAL, this.actualPages, true);
    data.set(image.subarray(offset, offset + data.length));
  }

  writeConfig(offset: number, data: Uint8Array): void {
    if (offset === VirtioBalloonConfig.ACTUAL && data.length === 4) {
      this.actualPages = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
    }
  }

  activate(ctx: VirtioActivation): void {
    this.ctx = ctx;
    if (!hasFeature(ctx.features, VirtioBalloonFeature.STATS_VQ)) this.statsHead = null;
  }

  processQueue(index: number): void {
    if (index === BALLOON_INFLATE_QUEUE || index === BALLOON_DEFLATE_QUEUE) this.processPages(index);
    else if (index === BALLOON_STATS_QUEUE) this.processStats();
  }

  private processPages(index: number): void {
    const ctx = this.ctx;
    const queue = ctx?.queues[index];
    if (!ctx || !queue?.isActive) return;
    let completed = 0;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      const reader = new ChainReader(ctx.memory, chain.readable);
      const count = Math.min(Math.floor(reader.remaining / 4), MAX_PFNS_PER_REQUEST);
      const raw = reader.read(count * 4);
      const view = new DataView(raw.buffer);
      const pfns: number[] = [];
      for (let i = 0; i < count; i++) {
        const pfn = view.getUint32(i * 4, true);
        // The host acts on these addresses (madvise): only whole pages inside guest RAM pass.
        if (ctx.memory.contains(pfn * BALLOON_PAGE_SIZE, PAGE_SIZE)) pfns.push(pfn);
        else this.counters.invalidPfns!++;
      }
      if (pfns.length > 0) {
        if (index === BALLOON_INFLATE_QUEUE) {
          this.options.onInflate(pfns);
          this.counters.inflatedPages! += pfns.length;
        } else {
          this.options.onDeflate(pfns);
          this.counters.deflatedPages! += pfns.length;
        }
      }
      queue.pushUsed(chain.head, 0);
      this.counters.requests++;
      completed++;
    }
    if (completed > 0) ctx.interrupt.signalUsed(index);
  }

  private processStats(): void {
    const ctx = this.ctx;
    const queue = ctx?.queues[BALLOON_STATS_QUEUE];
    if (!ctx || !queue?.isActive) return;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      // §5.5.6.3.1: the driver has only one stats buffer outstanding; a second one replaces the first.
      if (this.statsHead !== null) {
        queue.pushUsed(this.statsHead, 0);
        ctx.interrupt.signalUsed(BALLOON_STATS_QUEUE);
      }
      const reader = new ChainReader(ctx.memory, chain.readable);
      const count = Math.min(Math.floor(reader.remaining / BalloonStat.SIZE), 64);
      const raw = reader.read(count * BalloonStat.SIZE);
      const view = new DataView(raw.buffer);
      const values: BalloonStats['values'] = {};
      for (let i = 0; i < count; i++) {
        const tag = view.getUint16(i * BalloonStat.SIZE + BalloonStat.TAG, true);
        const name = BALLOON_STAT_TAGS[tag];
        if (name) values[name] = Number(view.getBigUint64(i * BalloonStat.SIZE + BalloonStat.VALUE, true));
      }
      this.stats = { values, receivedAt: Date.now() };
      this.statsHead = chain.head;
      this.counters.requests++;
      this.options.onStats?.(this.stats);
    }
  }

  reset(): void {
    this.ctx = null;
    this.statsHead = null;
    this.actualPages = 0;
  }

  save(): BalloonStateV1 {
    return {
      version: 1,
      targetPages: this.targetPages,
      actualPages: this.actualPages,
      statsHead: this.statsHead,
      stats: this.stats,
      metrics: { ...this.counters },
    };
  }

  restore(state: unknown): void {
    const s = state as BalloonStateV1;
    if (s?.version !== 1) throw new Error('virtio-balloon state: unsupported version');
    this.targetPages = s.targetPages;
    this.actualPages = s.actualPages;
    this.statsHead = s.statsHead;
    this.stats = s.stats;
    this.counters = { ...emptyMetrics(), ...s.metrics };
  }

  metrics(): VirtioDeviceMetrics {
    return { ...this.counters };
  }
}
