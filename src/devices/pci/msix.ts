/**
 * MSI-X (PCI Local Bus 3.0 §6.8.2): the capability in config space, the
 * vector table and the pending-bit array (PBA) in a memory BAR.
 *
 * The MsiController is told about every effective change of a vector
 * (programmed and unmasked -> message, otherwise null) so the VMM can keep
 * its KVM GSI routes in sync; trigger() delivers, or sets the pending bit
 * while the vector or the whole function is masked, and the message is
 * delivered on unmask (§6.8.2.9).
 */
import type { MsiController, MsiMessage } from '../interrupts.js';
import type { BusDevice } from '../bus.js';
import type { PciConfigSpace } from './config-space.js';
import { PciCapabilityId } from './layout.js';

/** Capability and table layout (PCI 3.0 §6.8.2.1-6.8.2.8). */
export const MsixLayout = {
  CAPABILITY_SIZE: 12,
  MESSAGE_CONTROL: 2,
  TABLE_OFFSET_BIR: 4,
  PBA_OFFSET_BIR: 8,
  CONTROL_TABLE_SIZE_MASK: 0x7ff,
  CONTROL_FUNCTION_MASK: 1 << 14,
  CONTROL_ENABLE: 1 << 15,
  ENTRY_SIZE: 16,
  ENTRY_ADDRESS_LOW: 0,
  ENTRY_ADDRESS_HIGH: 4,
  ENTRY_DATA: 8,
  ENTRY_VECTOR_CONTROL: 12,
  VECTOR_CONTROL_MASKED: 1,
  MAX_VECTORS: 2048,
} as const;

export interface MsixOptions {
  vectors: number;
  /** BAR index holding the table and the PBA. */
  bar: number;
  /** Offsets inside that BAR (8-byte aligned). */
  tableOffset: number;
  pbaOffset: number;
}

export interface MsixStateV1 {
  version: 1;
  /** Vector table bytes, base64. */
  table: string;
  /** Pending vectors. */
  pending: number[];
}

export class Msix {
  readonly vectors: number;
  readonly capabilityOffset: number;
  private readonly table: Uint8Array;
  private readonly tableView: DataView;
  private readonly pending: Uint8Array;
  private readonly reported: Array<MsiMessage | null | undefined>;
  /** Triggers dropped because MSI-X was disabled (no INTx fallback in typevisor). */
  droppedWhileDisabled = 0;

  /** BusDevice for the table region (offsets relative to the table start). */
  readonly tableRegion: BusDevice;
  /** BusDevice for the PBA region (read-only). */
  readonly pbaRegion: BusDevice;

  constructor(
    private readonly config: PciConfigSpace,
    private readonly msi: MsiController,
    readonly options: MsixOptions,
  ) {
    const { vectors, bar, tableOffset, pbaOffset } = options;
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > MsixLayout.MAX_VECTORS) {
      throw new RangeError(`MSI-X vector count ${vectors} must be 1..${MsixLayout.MAX_VECTORS}`);
    }
    if (tableOffset % 8 !== 0 || pbaOffset % 8 !== 0) throw new RangeError('MSI-X table and PBA offsets must be 8-byte aligned');
    this.vectors = vectors;
    this.table = new Uint8Array(vectors * MsixLayout.ENTRY_SIZE);
    this.tableView = new DataView(this.table.buffer);
    this.pending = new Uint8Array(vectors);
    this.reported = new Array(vectors).fill(undefined);
    for (let v = 0; v < vectors; v++) this.setEntryMasked(v, true);

    const body = new Uint8Array(MsixLayout.CAPABILITY_SIZE);
    const view = new DataView(body.buffer);
    view.setUint16(MsixLayout.MESSAGE_CONTROL, vectors - 1, true);
    view.setUint32(MsixLayout.TABLE_OFFSET_BIR, tableOffset | bar, true);
    view.setUint32(MsixLayout.PBA_OFFSET_BIR, pbaOffset | bar, true);
    const writeMask = new Uint8Array(MsixLayout.CAPABILITY_SIZE);
    writeMask[MsixLayout.MESSAGE_CONTROL + 1] = (MsixLayout.CONTROL_ENABLE | MsixLayout.CONTROL_FUNCTION_MASK) >> 8;
    this.capabilityOffset = config.addCapability(PciCapabilityId.MSIX, body, {
      writeMask,
      onWrite: () => this.refreshAll(),
    });

    this.tableRegion = {
      read: (offset, data) => this.readTable(offset, data),
      write: (offset, data) => this.writeTable(offset, data),
    };
    this.pbaRegion = {
      read: (offset, data) => this.readPba(offset, data),
      write: () => {},
    };
  }

  get tableSize(): number {
    return this.table.length;
  }

  /** PBA size in bytes (one bit per vector, in qwords). */
  get pbaSize(): number {
    return Math.ceil(this.vectors / 64) * 8;
  }

  private get control(): number {
    return this.config.readU16(this.capabilityOffset + MsixLayout.MESSAGE_CONTROL);
  }

  get enabled(): boolean {
    return (this.control & MsixLayout.CONTROL_ENABLE) !== 0;
  }

  get functionMasked(): boolean {
    return (this.control & MsixLayout.CONTROL_FUNCTION_MASK) !== 0;
  }

  isMasked(vector: number): boolean {
    return this.functionMasked || this.entryMasked(vector);
  }

  isPending(vector: number): boolean {
    return this.pending[vector] === 1;
  }

  private entryMasked(vector: number): boolean {
    const control = this.tableView.getUint32(vector * MsixLayout.ENTRY_SIZE + MsixLayout.ENTRY_VECTOR_CONTROL, true);
    return (control & MsixLayout.VECTOR_CONTROL_MASKED) !== 0;
  }

  private setEntryMasked(vector: number, masked: boolean): void {
    this.tableView.setUint32(
      vector * MsixLayout.ENTRY_SIZE + MsixLayout.ENTRY_VECTOR_CONTROL,
      masked ? MsixLayout.VECTOR_CONTROL_MASKED : 0,
      true,
    );
  }

  /** The message a vector would deliver now (null while disabled or masked). */
  message(vector: number): MsiMessage | null {
    if (!this.enabled || this.isMasked(vector)) return null;
    const base = vector * MsixLayout.ENTRY_SIZE;
    const low = this.tableView.getUint32(base + MsixLayout.ENTRY_ADDRESS_LOW, true);
    const high = this.tableView.getUint32(base + MsixLayout.ENTRY_ADDRESS_HIGH, true);
    return {
      address: (BigInt(high) << 32n) | BigInt(low),
      data: this.tableView.getUint32(base + MsixLayout.ENTRY_DATA, true),
    };
  }

  /** Raises `vector`: delivered now, or remembered in the PBA while masked. Out-of-range vectors are ignored. */
  trigger(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector >= this.vectors) return;
    if (!this.enabled) {
      this.droppedWhileDisabled++;
      return;
    }
    if (this.isMasked(vector)) {
      this.pending[vector] = 1;
      return;
    }
    this.msi.trigger(vector);
  }

  private refresh(vector: number): void {
    const message = this.message(vector);
    const previous = this.reported[vector];
    const same =
      previous !== undefined &&
      (previous === null ? message === null : message !== null && previous.address === message.address && previous.data === message.data);
    if (!same) {
      this.reported[vector] = message;
      this.msi.update(vector, message);
    }
    if (message !== null && this.pending[vector] === 1) {
      this.pending[vector] = 0;
      this.msi.trigger(vector);
    }
  }

  private refreshAll(): void {
    for (let v = 0; v < this.vectors; v++) this.refresh(v);
  }

  private readTable(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) data[i] = this.table[offset + i] ?? 0xff;
  }

  private writeTable(offset: number, data: Uint8Array): void {
    if (offset < 0 || offset + data.length > this.table.length) return;
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      // Only the mask bit of vector control is writable (§6.8.2.9); the rest is reserved.
      if (at % MsixLayout.ENTRY_SIZE === MsixLayout.ENTRY_VECTOR_CONTROL) this.table[at] = data[i]! & MsixLayout.VECTOR_CONTROL_MASKED;
      else if (at % MsixLayout.ENTRY_SIZE > MsixLayout.ENTRY_VECTOR_CONTROL) continue;
      else this.table[at] = data[i]!;
    }
    const first = Math.floor(offset / MsixLayout.ENTRY_SIZE);
    const last = Math.floor((offset + data.length - 1) / MsixLayout.ENTRY_SIZE);
    for (let v = first; v <= last; v++) this.refresh(v);
  }

  private readPba(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      let byte = 0;
      for (let bit = 0; bit < 8; bit++) {
        const vector = (offset + i) * 8 + bit;
        if (vector < this.vectors && this.pending[vector] === 1) byte |= 1 << bit;
      }
      data[i] = byte;
    }
  }

  /** Device reset: entries masked, nothing pending (the enable bit lives in config space). */
  reset(): void {
    this.table.fill(0);
    this.pending.fill(0);
    for (let v = 0; v < this.vectors; v++) this.setEntryMasked(v, true);
    this.refreshAll();
  }

  save(): MsixStateV1 {
    const pending: number[] = [];
    this.pending.forEach((p, v) => p && pending.push(v));
    return { version: 1, table: Buffer.from(this.table).toString('base64'), pending };
  }

  /** Restores the table; call after the config space was restored, then routes are re-announced. */
  restore(state: MsixStateV1): void {
    if (state.version !== 1) throw new Error(`MSI-X state version ${String(state.version)} is not supported`);
    const table = Buffer.from(state.table, 'base64');
    if (table.length !== this.table.length) throw new Error(`MSI-X state has ${table.length / 16} vectors, device has ${this.vectors}`);
    this.table.set(table);
    this.pending.fill(0);
    for (const v of state.pending) if (v >= 0 && v < this.vectors) this.pending[v] = 1;
    this.reported.fill(undefined);
    this.refreshAll();
  }
}
