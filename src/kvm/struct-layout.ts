/**
 * Declares a C struct's byte layout once and reads/writes it through that
 * declaration (ARCHITECTURE.md: "byte layouts are declared once").
 *
 * Offsets are written out explicitly, as in the kernel header, and a unit test
 * compares every layout with the real header compiled by the host's C compiler
 * (src/kvm/structs.test.ts), so a typo cannot hide.
 */

export type FieldType = 'u8' | 'u16' | 'u32' | 'i32' | 'u64';

export interface FieldSpec {
  readonly offset: number;
  readonly type: FieldType;
}

type FieldValue<T extends FieldType> = T extends 'u64' ? bigint : number;

export type StructValue<F extends Record<string, FieldSpec>> = {
  [K in keyof F]: FieldValue<F[K]['type']>;
};

const SIZES: Record<FieldType, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 };

export class StructLayout<F extends Record<string, FieldSpec>> {
  constructor(
    readonly name: string,
    readonly size: number,
    readonly fields: F,
  ) {
    for (const [field, spec] of Object.entries(fields)) {
      if (spec.offset + SIZES[spec.type] > size) {
        throw new Error(`${name}.${field} at ${spec.offset} overruns the struct size ${size}`);
      }
    }
  }

  /** A zeroed buffer of this struct's size. */
  alloc(): Uint8Array {
    return new Uint8Array(this.size);
  }

  get<K extends keyof F>(bytes: Uint8Array, field: K, base = 0): FieldValue<F[K]['type']> {
    const spec = this.fields[field]!;
    const view = new DataView(bytes.buffer, bytes.byteOffset + base, this.size);
    return readField(view, spec) as FieldValue<F[K]['type']>;
  }

  set<K extends keyof F>(bytes: Uint8Array, field: K, value: FieldValue<F[K]['type']>, base = 0): void {
    const spec = this.fields[field]!;
    const view = new DataView(bytes.buffer, bytes.byteOffset + base, this.size);
    writeField(view, spec, value);
  }

  read(bytes: Uint8Array, base = 0): StructValue<F> {
    const view = new DataView(bytes.buffer, bytes.byteOffset + base, this.size);
    const out: Record<string, number | bigint> = {};
    for (const [field, spec] of Object.entries(this.fields)) out[field] = readField(view, spec);
    return out as StructValue<F>;
  }

  write(bytes: Uint8Array, value: Partial<StructValue<F>>, base = 0): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset + base, this.size);
    for (const [field, v] of Object.entries(value)) {
      const spec = this.fields[field];
      if (!spec) throw new Error(`${this.name} has no field ${field}`);
      writeField(view, spec, v as number | bigint);
    }
  }

  encode(value: Partial<StructValue<F>>): Uint8Array {
    const bytes = this.alloc();
    this.write(bytes, value);
    return bytes;
  }
}

function readField(view: DataView, spec: FieldSpec): number | bigint {
  switch (spec.type) {
    case 'u8':
      return view.getUint8(spec.offset);
    case 'u16':
      return view.getUint16(spec.offset, true);
    case 'u32':
      return view.getUint32(spec.offset, true);
    case 'i32':
      return view.getInt32(spec.offset, true);
    case 'u64':
      return view.getBigUint64(spec.offset, true);
  }
}

function writeField(view: DataView, spec: FieldSpec, value: number | bigint): void {
  switch (spec.type) {
    case 'u8':
      view.setUint8(spec.offset, Number(value));
      break;
    case 'u16':
      view.setUint16(spec.offset, Number(value), true);
      break;
    case 'u32':
      view.setUint32(spec.offset, Number(value) >>> 0, true);
      break;
    case 'i32':
      view.setInt32(spec.offset, Number(value), true);
      break;
    case 'u64':
      view.setBigUint64(spec.offset, BigInt.asUintN(64, BigInt(value)), true);
      break;
  }
}

/** Shorthand for field specs. */
export const u8 = (offset: number) => ({ offset, type: 'u8' }) as const;
export const u16 = (offset: number) => ({ offset, type: 'u16' }) as const;
export const u32 = (offset: number) => ({ offset, type: 'u32' }) as const;
export const i32 = (offset: number) => ({ offset, type: 'i32' }) as const;
export const u64 = (offset: number) => ({ offset, type: 'u64' }) as const;
