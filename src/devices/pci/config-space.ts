/**
 * A type-0 PCI configuration space (PCI Local Bus 3.0 §6.1) with the 4 KiB
 * PCI Express extension reachable through ECAM.
 *
 * Guest writes go through a per-byte write mask, so read-only fields stay
 * read-only; BAR registers implement size probing (§6.2.5.1: writing all
 * ones reads back the size mask); capabilities form the linked list at 0x34.
 * When the guest moves a memory BAR while memory decoding is on, the
 * `onBarMoved` hook tells the owner (PciRoot -> VMM) to re-map the range.
 */
import {
  PCI_CAPABILITY_START,
  PCI_CONFIG_SPACE_SIZE,
  PCIE_CONFIG_SPACE_SIZE,
  PciBarBits,
  PciCommand,
  PciHeader,
  PciStatus,
} from './layout.js';

export type PciBarKind = 'memory32' | 'memory64' | 'io';

export interface PciBarDefinition {
  readonly index: number;
  /** Size in bytes: a power of two, >= 16 for memory BARs, >= 4 for I/O. */
  readonly size: number;
  readonly kind: PciBarKind;
  readonly prefetchable?: boolean;
}

export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  revisionId: number;
  /** 24-bit class code: class << 16 | subclass << 8 | prog-if. */
  classCode: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** INTx pin (1 = INTA#), 0 for none. */
  interruptPin?: number;
}

export interface PciCapabilityOptions {
  /** Per-byte writable bits within the capability (default: all read-only). */
  writeMask?: Uint8Array;
  /** Called after a guest write touched the capability, with the offset inside it. */
  onWrite?: (offsetInCapability: number, length: number) => void;
  /** Called before a guest read of the capability, so its owner can refresh live registers. */
  onRead?: (offsetInCapability: number, length: number) => void;
}

export type BarMovedHook = (bar: number, oldAddress: number, newAddress: number) => void;

export interface PciConfigStateV1 {
  version: 1;
  /** The 256-byte header + capabilities, base64. */
  bytes: string;
  /** Address each memory BAR is currently mapped at (what the VMM registered). */
  mappedAddresses: number[];
}

interface Capability {
  readonly offset: number;
  readonly length: number;
  readonly onWrite?: ((offsetInCapability: number, length: number) => void) | undefined;
  readonly onRead?: ((offsetInCapability: number, length: number) => void) | undefined;
}

const BAR_END = PciHeader.BAR0 + 4 * PciHeader.BAR_COUNT;
const TWO_POW_32 = 0x1_0000_0000;

export class PciConfigSpace {
  private readonly bytes = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  private readonly writeMask = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  private readonly view = new DataView(this.bytes.buffer);
  private readonly bars: Array<PciBarDefinition | undefined> = new Array(PciHeader.BAR_COUNT).fill(undefined);
  /** Per BAR register (dword): the last write was the all-ones size probe. */
  private readonly probing = new Array<boolean>(PciHeader.BAR_COUNT).fill(false);
  private readonly mapped = new Array<number>(PciHeader.BAR_COUNT).fill(0);
  private readonly capabilities: Capability[] = [];
  private nextCapabilityOffset = PCI_CAPABILITY_START;
  onBarMoved: BarMovedHook | null = null;

  constructor(identity: PciIdentity) {
    const v = this.view;
    v.setUint16(PciHeader.VENDOR_ID, identity.vendorId, true);
    v.setUint16(PciHeader.DEVICE_ID, identity.deviceId, true);
    v.setUint8(PciHeader.REVISION_ID, identity.revisionId);
    v.setUint8(PciHeader.PROG_IF, identity.classCode & 0xff);
    v.setUint8(PciHeader.SUBCLASS, (identity.classCode >> 8) & 0xff);
    v.setUint8(PciHeader.CLASS_CODE, (identity.classCode >> 16) & 0xff);
    v.setUint16(PciHeader.SUBSYSTEM_VENDOR_ID, identity.subsystemVendorId ?? 0, true);
    v.setUint16(PciHeader.SUBSYSTEM_ID, identity.subsystemId ?? 0, true);
    v.setUint8(PciHeader.INTERRUPT_PIN, identity.interruptPin ?? 0);
    const commandMask = PciCommand.IO_SPACE | PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER | PciCommand.INTX_DISABLE;
    this.writeMask[PciHeader.COMMAND] = commandMask & 0xff;
    this.writeMask[PciHeader.COMMAND + 1] = commandMask >> 8;
    this.writeMask[PciHeader.CACHE_LINE_SIZE] = 0xff;
    this.writeMask[PciHeader.LATENCY_TIMER] = 0xff;
    this.writeMask[PciHeader.INTERRUPT_LINE] = 0xff;
  }

  get vendorId(): number {
    return this.view.getUint16(PciHeader.VENDOR_ID, true);
  }

  get command(): number {
    return this.view.getUint16(PciHeader.COMMAND, true);
  }

  get memoryDecodingEnabled(): boolean {
    return (this.command & PciCommand.MEMORY_SPACE) !== 0;
  }

  get busMasterEnabled(): boolean {
    return (this.command & PciCommand.BUS_MASTER) !== 0;
  }

  /** Declares a BAR (before the guest runs). A 64-bit BAR also occupies register index + 1. */
  defineBar(def: PciBarDefinition): void {
    const { index, size, kind } = def;
    const slots = kind === 'memory64' ? 2 : 1;
    if (!Number.isInteger(index) || index < 0 || index + slots > PciHeader.BAR_COUNT) {
      throw new RangeError(`BAR index ${index} is invalid for a ${kind} BAR`);
    }
    const minimum = kind === 'io' ? 4 : 16;
    if (!Number.isSafeInteger(size) || size < minimum || (kind === 'io' ? size > 256 : false) || !isPowerOfTwo(size)) {
      throw new RangeError(`BAR ${index} size ${size} must be a power of two >= ${minimum}`);
    }
    if (kind === 'memory32' && size > 0x8000_0000) throw new RangeError(`32-bit BAR ${index} is too large`);
    for (let i = index; i < index + slots; i++) {
      if (this.bars[i] !== undefined || (i > 0 && this.bars[i - 1]?.kind === 'memory64')) {
        throw new RangeError(`BAR ${i} is already defined`);
      }
    }
    this.bars[index] = def;
    this.writeBarRegisters(index, 0);
  }

  barDefinition(index: number): PciBarDefinition | undefined {
    return this.bars[index];
  }

  definedBars(): PciBarDefinition[] {
    return this.bars.filter((b): b is PciBarDefinition => b !== undefined);
  }

  /** The address programmed into a BAR (guest-visible), without the flag bits. */
  barAddress(index: number): number {
    const def = this.bars[index];
    if (!def) throw new RangeError(`BAR ${index} is not defined`);
    const low = this.view.getUint32(PciHeader.BAR0 + 4 * index, true);
    if (def.kind === 'io') return low & PciBarBits.IO_ADDRESS_MASK;
    const base = (low & PciBarBits.MEM_ADDRESS_MASK) >>> 0;
    if (def.kind === 'memory32') return base;
    return this.view.getUint32(PciHeader.BAR0 + 4 * (index + 1), true) * TWO_POW_32 + base;
  }

  /** Where the VMM has the BAR mapped (set by setBarAddress, updated on moves). */
  mappedAddress(index: number): number {
    return this.mapped[index] ?? 0;
  }

  /** Firmware-style assignment by the VMM (BarAllocator): programs the BAR and records it as mapped. */
  setBarAddress(index: number, address: number): void {
    const def = this.bars[index];
    if (!def) throw new RangeError(`BAR ${index} is not defined`);
    if (address % def.size !== 0) throw new RangeError(`BAR ${index} address 0x${address.toString(16)} is not size-aligned`);
    if (def.kind !== 'memory64' && address >= TWO_POW_32) throw new RangeError(`BAR ${index} cannot hold a 64-bit address`);
    this.writeBarRegisters(index, address);
    this.mapped[index] = address;
  }

  private writeBarRegisters(index: number, address: number): void {
    const def = this.bars[index]!;
    const flags =
      def.kind === 'io'
        ? PciBarBits.IO_SPACE
        : (def.kind === 'memory64' ? PciBarBits.MEM_TYPE_64 : 0) | (def.prefetchable ? PciBarBits.PREFETCHABLE : 0);
    this.view.setUint32(PciHeader.BAR0 + 4 * index, ((address % TWO_POW_32) | flags) >>> 0, true);
    if (def.kind === 'memory64') {
      this.view.setUint32(PciHeader.BAR0 + 4 * (index + 1), Math.floor(address / TWO_POW_32), true);
    }
  }

  /**
   * Appends a capability and links it into the list. `body` is the whole
   * capability including the id and next bytes (which are filled in here).
   * Returns its offset in config space.
   */
  addCapability(id: number, body: Uint8Array, options: PciCapabilityOptions = {}): number {
    const offset = this.nextCapabilityOffset;
    if (body.length < 2 || offset + body.length > PCI_CONFIG_SPACE_SIZE) {
      throw new RangeError(`capability 0x${id.toString(16)} of ${body.length} bytes does not fit in config space`);
    }
    this.bytes.set(body, offset);
    this.bytes[offset] = id;
    this.bytes[offset + 1] = 0;
    if (options.writeMask) {
      if (options.writeMask.length !== body.length) throw new RangeError('capability write mask length differs from its body');
      this.writeMask.set(options.writeMask, offset);
      this.writeMask[offset] = 0;
      this.writeMask[offset + 1] = 0;
    }
    const previous = this.capabilities.at(-1);
    if (previous) this.bytes[previous.offset + 1] = offset;
    else this.bytes[PciHeader.CAPABILITIES_POINTER] = offset;
    this.view.setUint16(PciHeader.STATUS, this.view.getUint16(PciHeader.STATUS, true) | PciStatus.CAPABILITIES_LIST, true);
    this.capabilities.push({ offset, length: body.length, onWrite: options.onWrite, onRead: options.onRead });
    this.nextCapabilityOffset = offset + Math.ceil(body.length / 4) * 4;
    return offset;
  }

  /** Direct (device-side) access to config bytes, e.g. for capability registers. */
  readU8(offset: number): number {
    return this.bytes[offset] ?? 0;
  }
  readU16(offset: number): number {
    return this.view.getUint16(offset, true);
  }
  readU32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
  /** Device-side write (ignores the guest write mask). */
  writeU8(offset: number, value: number): void {
    this.view.setUint8(offset, value);
  }
  writeU16(offset: number, value: number): void {
    this.view.setUint16(offset, value, true);
  }
  writeU32(offset: number, value: number): void {
    this.view.setUint32(offset, value >>> 0, true);
  }

  /** Guest read of `data.length` bytes at `offset` (0..4095). Extended space reads as zero. */
  read(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    for (const cap of this.capabilities) {
      if (cap.onRead && offset < cap.offset + cap.length && cap.offset < end) {
        const start = Math.max(offset, cap.offset);
        cap.onRead(start - cap.offset, Math.min(end, cap.offset + cap.length) - start);
      }
    }
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      data[i] = at < PCI_CONFIG_SPACE_SIZE ? this.bytes[at]! : 0;
    }
  }

  /** Guest write. Out-of-range and read-only bits are silently ignored, as on hardware. */
  write(offset: number, data: Uint8Array): void {
    if (offset < 0 || offset + data.length > PCIE_CONFIG_SPACE_SIZE) return;
    let touchedBars = false;
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      if (at >= PCI_CONFIG_SPACE_SIZE) break;
      if (at >= PciHeader.BAR0 && at < BAR_END) {
        touchedBars = true;
        continue;
      }
      const mask = this.writeMask[at]!;
      this.bytes[at] = (this.bytes[at]! & ~mask) | (data[i]! & mask);
    }
    if (touchedBars) this.writeBars(offset, data);
    const end = offset + data.length;
    for (const cap of this.capabilities) {
      if (cap.onWrite && offset < cap.offset + cap.length && cap.offset < end) {
        const start = Math.max(offset, cap.offset);
        cap.onWrite(start - cap.offset, Math.min(end, cap.offset + cap.length) - start);
      }
    }
    if (touchedBars || (offset <= PciHeader.COMMAND && PciHeader.COMMAND < end)) this.checkBarMoves();
  }

  private writeBars(offset: number, data: Uint8Array): void {
    for (let reg = 0; reg < PciHeader.BAR_COUNT; reg++) {
      const regOffset = PciHeader.BAR0 + 4 * reg;
      if (offset >= regOffset + 4 || regOffset >= offset + data.length) continue;
      // Merge the written bytes into the current register value (byte and word writes are legal).
      let value = this.view.getUint32(regOffset, true);
      for (let b = 0; b < 4; b++) {
        const i = regOffset + b - offset;
        if (i >= 0 && i < data.length) value = (value & ~(0xff << (8 * b))) | (data[i]! << (8 * b));
      }
      value >>>= 0;
      this.probing[reg] = value === 0xffff_ffff;
      const owner = this.bars[reg] ? reg : reg > 0 && this.bars[reg - 1]?.kind === 'memory64' ? reg - 1 : -1;
      if (owner < 0) continue; // unimplemented BAR: reads as zero
      const def = this.bars[owner]!;
      let stored: number;
      if (owner !== reg) {
        // Upper half of a 64-bit BAR: bits above the size are writable.
        stored = def.size > TWO_POW_32 ? value & ~(def.size / TWO_POW_32 - 1) : value;
      } else if (def.kind === 'io') {
        stored = (value & ~(def.size - 1) & PciBarBits.IO_ADDRESS_MASK) | PciBarBits.IO_SPACE;
      } else {
        const sizeMask = def.size >= TWO_POW_32 ? 0 : ~(def.size - 1);
        const flags = (def.kind === 'memory64' ? PciBarBits.MEM_TYPE_64 : 0) | (def.prefetchable ? PciBarBits.PREFETCHABLE : 0);
        stored = (value & sizeMask & PciBarBits.MEM_ADDRESS_MASK) | flags;
      }
      this.view.setUint32(regOffset, stored >>> 0, true);
    }
  }

  /** Reports memory BARs whose programmed address differs from where they are mapped (decode on, not probing). */
  private checkBarMoves(): void {
    if (!this.memoryDecodingEnabled) return;
    for (let i = 0; i < PciHeader.BAR_COUNT; i++) {
      const def = this.bars[i];
      if (!def || def.kind === 'io') continue;
      if (this.probing[i] || (def.kind === 'memory64' && this.probing[i + 1])) continue;
      const address = this.barAddress(i);
      const old = this.mapped[i]!;
      if (address === old) continue;
      this.mapped[i] = address;
      this.onBarMoved?.(i, old, address);
    }
  }

  save(): PciConfigStateV1 {
    return { version: 1, bytes: Buffer.from(this.bytes).toString('base64'), mappedAddresses: [...this.mapped] };
  }

  /** Restores guest-visible registers; BAR definitions and capabilities must match (same device build). */
  restore(state: PciConfigStateV1): void {
    if (state.version !== 1) throw new Error(`PCI config state version ${String(state.version)} is not supported`);
    const bytes = Buffer.from(state.bytes, 'base64');
    if (bytes.length !== PCI_CONFIG_SPACE_SIZE) throw new Error(`PCI config state has ${bytes.length} bytes, expected 256`);
    if (bytes.readUInt16LE(PciHeader.VENDOR_ID) !== this.vendorId) throw new Error('PCI config state belongs to another device');
    this.bytes.set(bytes);
    for (let i = 0; i < PciHeader.BAR_COUNT; i++) this.mapped[i] = state.mappedAddresses[i] ?? 0;
    this.probing.fill(false);
  }
}

function isPowerOfTwo(n: number): boolean {
  // Works past 2^31 (bit operations would truncate).
  return n > 0 && Number.isSafeInteger(n) && Math.log2(n) % 1 === 0;
}
