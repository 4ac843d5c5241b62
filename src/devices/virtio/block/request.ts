/**
 * Executes one virtio-blk request (virtio 1.2 §5.2.6) against a DiskBackend.
 *
 * Layout of a chain: device-readable header (16 bytes) [+ data for OUT, or
 * discard/write-zeroes segments], then device-writable [data for IN / GET_ID]
 * and one status byte, the last writable byte. Anything wrong with a request
 * is answered with IOERR or UNSUPP in that status byte; the VMM never throws
 * because of a guest request.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { GuestIoRanges } from '../../../memory/io-ranges.js';
import { ChainReader, ChainWriter } from '../queue/chain.js';
import type { DescriptorChain, GuestBuffer } from '../queue/queue.js';
import type { DiskBackend } from './backend.js';
import {
  BLOCK_ID_BYTES, BlockRequestHeader, BlockRequestType, BlockStatus, DiscardSegment, SECTOR_SIZE,
} from './layout.js';

export interface BlockLimits {
  /** Segments per discard / write-zeroes request (config max_discard_seg / max_write_zeroes_seg). */
  readonly maxDiscardSegments: number;
  /** Sectors per segment (config max_discard_sectors / max_write_zeroes_sectors). */
  readonly maxDiscardSectors: number;
}

export interface BlockCounters {
  readRequests: number;
  writeRequests: number;
  readBytes: number;
  writeBytes: number;
  flushes: number;
  discards: number;
  writeZeroes: number;
  errors: number;
  unsupported: number;
}

export function emptyBlockCounters(): BlockCounters {
  return { readRequests: 0, writeRequests: 0, readBytes: 0, writeBytes: 0, flushes: 0, discards: 0, writeZeroes: 0, errors: 0, unsupported: 0 };
}

/** A request the device refuses; `status` goes into the status byte. */
class RequestFailure extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface BlockRequestResult {
  /** Bytes written into the chain's writable buffers, status byte included (the used length). */
  readonly written: number;
  readonly status: number;
  /** Why the request failed, for logs (undefined on success). */
  readonly error?: string;
}

/**
 * A request's buffers, one after another from `offset`: in one vectored backend call when the backend has one and
 * there is more than one buffer, otherwise buffer by buffer.
 */
function transferBuffers(backend: DiskBackend, direction: 'read' | 'write', offset: number, ranges: GuestIoRanges): void {
  const vectored = direction === 'read' ? backend.readv : backend.writev;
  if (vectored && ranges.count > 1) return vectored.call(backend, offset, ranges);
  const single = direction === 'read' ? backend.read : backend.write;
  let at = offset;
  for (const view of ranges.views()) {
    single.call(backend, at, view);
    at += view.length;
  }
}

/**
 * A le64 field (sector numbers) as a number, from its two halves: exact below 2^53, and anything that large is past
 * any disk's end, where an inexact value is refused just the same.
 */
function le64(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * 0x1_0000_0000 + view.getUint32(offset, true);
}

export class BlockRequestHandler {
  readonly counters = emptyBlockCounters();
  private readonly capacityBytes: number;
  /** The data buffers of the request being served, reused from request to request. */
  private ranges: GuestIoRanges | null = null;

  constructor(
    private readonly backend: DiskBackend,
    private readonly readonly: boolean,
    private readonly serial: Uint8Array,
    private readonly limits: BlockLimits,
    private readonly discardEnabled: boolean,
    private readonly writeZeroesEnabled: boolean,
  ) {
    // The guest sees whole sectors; a trailing partial sector of the image is not exposed.
    this.capacityBytes = Math.floor(backend.sizeBytes / SECTOR_SIZE) * SECTOR_SIZE;
  }

  handle(memory: GuestMemory, chain: DescriptorChain): BlockRequestResult {
    if (chain.writableLength === 0) {
      // No status byte to answer in: the request fails with nothing written.
      this.counters.errors++;
      return { written: 0, status: BlockStatus.IOERR, error: 'request has no writable status byte' };
    }
    const { data: dataBuffers, status: statusAddr } = splitStatus(chain.writable);
    let written = 0;
    let status: number = BlockStatus.OK;
    let error: string | undefined;
    try {
      written = this.execute(memory, chain, dataBuffers);
    } catch (err) {
      status = err instanceof RequestFailure ? err.status : BlockStatus.IOERR;
      error = (err as Error).message;
      if (status === BlockStatus.UNSUPP) this.counters.unsupported++;
      else this.counters.errors++;
    }
    memory.writeU8(statusAddr, status);
    return { written: written + 1, status, error };
  }

  /** Runs the request; returns the data bytes written into the writable buffers. */
  private execute(memory: GuestMemory, chain: DescriptorChain, dataBuffers: GuestBuffer[]): number {
    const reader = new ChainReader(memory, chain.readable);
    if (reader.remaining < BlockRequestHeader.SIZE) {
      throw new RequestFailure(BlockStatus.IOERR, `request header is ${reader.remaining} bytes, need ${BlockRequestHeader.SIZE}`);
    }
    const header = new DataView(reader.read(BlockRequestHeader.SIZE).buffer);
    const type = header.getUint32(BlockRequestHeader.TYPE, true);
    const sector = le64(header, BlockRequestHeader.SECTOR);
    let dataLength = 0;
    for (const b of dataBuffers) dataLength += b.len;
    switch (type) {
      case BlockRequestType.IN: {
        if (reader.remaining !== 0) throw new RequestFailure(BlockStatus.IOERR, 'read request carries device-readable data');
        const offset = this.checkRange(sector, dataLength);
        const ranges = (this.ranges = GuestIoRanges.reuse(this.ranges, memory));
        new ChainWriter(memory, dataBuffers).ranges(dataLength, ranges);
        transferBuffers(this.backend, 'read', offset, ranges);
        this.counters.readRequests++;
        this.counters.readBytes += dataLength;
        return dataLength;
      }
      case BlockRequestType.OUT: {
        if (dataLength !== 0) throw new RequestFailure(BlockStatus.IOERR, 'write request has device-writable data buffers');
        this.checkWritable();
        const length = reader.remaining;
        const offset = this.checkRange(sector, length);
        const ranges = (this.ranges = GuestIoRanges.reuse(this.ranges, memory));
        reader.ranges(length, ranges);
        transferBuffers(this.backend, 'write', offset, ranges);
        this.counters.writeRequests++;
        this.counters.writeBytes += length;
        return 0;
      }
      case BlockRequestType.FLUSH:
        if (!this.readonly) this.backend.flush();
        this.counters.flushes++;
        return 0;
      case BlockRequestType.GET_ID: {
        const writer = new ChainWriter(memory, dataBuffers);
        return writer.writeSome(this.serial);
      }
      case BlockRequestType.DISCARD:
      case BlockRequestType.WRITE_ZEROES:
        this.discardOrZero(type, reader);
        return 0;
      default:
        throw new RequestFailure(BlockStatus.UNSUPP, `unsupported request type ${type}`);
    }
  }

  /** §5.2.6.2: segments of {sector, num_sectors, flags}; unmap is only meaningful for write zeroes. */
  private discardOrZero(type: number, reader: ChainReader): void {
    const zeroes = type === BlockRequestType.WRITE_ZEROES;
    if (zeroes ? !this.writeZeroesEnabled : !this.discardEnabled) {
      throw new RequestFailure(BlockStatus.UNSUPP, `${zeroes ? 'write-zeroes' : 'discard'} was not offered`);
    }
    this.checkWritable();
    const bytes = reader.remaining;
    if (bytes === 0 || bytes % DiscardSegment.SIZE !== 0) {
      throw new RequestFailure(BlockStatus.IOERR, `segment list of ${bytes} bytes is not a multiple of ${DiscardSegment.SIZE}`);
    }
    const count = bytes / DiscardSegment.SIZE;
    if (count > this.limits.maxDiscardSegments) {
      throw new RequestFailure(BlockStatus.IOERR, `${count} segments exceed the limit of ${this.limits.maxDiscardSegments}`);
    }
    const list = new DataView(reader.read(bytes).buffer);
    const segments: [number, number, boolean][] = [];
    for (let i = 0; i < count; i++) {
      const base = i * DiscardSegment.SIZE;
      const sector = le64(list, base + DiscardSegment.SECTOR);
      const sectors = list.getUint32(base + DiscardSegment.NUM_SECTORS, true);
      const flags = list.getUint32(base + DiscardSegment.FLAGS, true);
      if (flags & ~DiscardSegment.FLAG_UNMAP || (!zeroes && flags & DiscardSegment.FLAG_UNMAP)) {
        throw new RequestFailure(BlockStatus.UNSUPP, `segment flags 0x${flags.toString(16)} are not supported`);
      }
      if (sectors > this.limits.maxDiscardSectors) {
        throw new RequestFailure(BlockStatus.IOERR, `segment of ${sectors} sectors exceeds ${this.limits.maxDiscardSectors}`);
      }
      const length = sectors * SECTOR_SIZE;
      segments.push([this.checkRange(sector, length), length, (flags & DiscardSegment.FLAG_UNMAP) !== 0]);
    }
    for (const [offset, length, unmap] of segments) {
      if (zeroes) this.backend.writeZeroes(offset, length, unmap);
      else this.backend.discard(offset, length);
    }
    if (zeroes) this.counters.writeZeroes++;
    else this.counters.discards++;
  }

  private checkWritable(): void {
    if (this.readonly) throw new RequestFailure(BlockStatus.IOERR, 'disk is read-only');
  }

  /**
   * Byte offset of `sector` after checking [sector, +length) lies on the disk and is whole sectors. `sector` may
   * be inexact above 2^53; such a sector is past any disk's end either way.
   */
  private checkRange(sector: number, length: number): number {
    if (length % SECTOR_SIZE !== 0) throw new RequestFailure(BlockStatus.IOERR, `data length ${length} is not a multiple of ${SECTOR_SIZE}`);
    const capacitySectors = Math.floor(this.capacityBytes / SECTOR_SIZE);
    const sectors = length / SECTOR_SIZE;
    if (sector > capacitySectors || sectors > capacitySectors - sector) {
      throw new RequestFailure(BlockStatus.IOERR, `sectors ${sector}+${sectors} are beyond the disk end (${capacitySectors})`);
    }
    return sector * SECTOR_SIZE;
  }
}

/** The status byte is the last writable byte (zero-length buffers skipped); everything before it is the data area. */
function splitStatus(writable: readonly GuestBuffer[]): { data: GuestBuffer[]; status: number } {
  let end = writable.length;
  while (end > 0 && writable[end - 1]!.len === 0) end--;
  const data = writable.slice(0, end - 1);
  const last = writable[end - 1]!;
  if (last.len > 1) data.push({ addr: last.addr, len: last.len - 1 });
  return { data, status: last.addr + last.len - 1 };
}

/** The serial as GET_ID returns it: UTF-8, cut or NUL-padded to 20 bytes. */
export function encodeSerial(serial: string): Uint8Array {
  const out = new Uint8Array(BLOCK_ID_BYTES);
  out.set(new TextEncoder().encode(serial).subarray(0, BLOCK_ID_BYTES));
  return out;
}
