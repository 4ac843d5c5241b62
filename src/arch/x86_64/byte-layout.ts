/**
 * Declared byte layouts: a structure is a named object of fields, each with
 * its offset and size, and all reads and writes go through it. This keeps
 * every offset of boot_params, hvm_start_info and the ACPI tables in one
 * place instead of scattered across the code that fills them.
 */

export interface Field {
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
}

export const field = (offset: number, size: Field['size']): Field => ({ offset, size });

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Read a little-endian field; 8-byte fields must hold a safe integer (addresses and sizes do). */
export function getField(bytes: Uint8Array, f: Field, base = 0): number {
  const v = view(bytes);
  const at = base + f.offset;
  switch (f.size) {
    case 1:
      return v.getUint8(at);
    case 2:
      return v.getUint16(at, true);
    case 4:
      return v.getUint32(at, true);
    case 8: {
      const value = v.getBigUint64(at, true);
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`64-bit field at 0x${at.toString(16)} is too large`);
      return Number(value);
    }
  }
}

/** Write a little-endian field; the value must fit the field. */
export function setField(bytes: Uint8Array, f: Field, value: number | bigint, base = 0): void {
  const v = view(bytes);
  const at = base + f.offset;
  if (f.size === 8) {
    v.setBigUint64(at, BigInt.asUintN(64, BigInt(value)), true);
    return;
  }
  const n = Number(value);
  const max = 2 ** (f.size * 8) - 1;
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new RangeError(`value ${n} does not fit the ${f.size}-byte field at 0x${at.toString(16)}`);
  }
  if (f.size === 1) v.setUint8(at, n);
  else if (f.size === 2) v.setUint16(at, n, true);
  else v.setUint32(at, n, true);
}

/** Write ASCII text into a fixed-size field region, padded with `pad` (ACPI ids pad with spaces). */
export function setAscii(bytes: Uint8Array, offset: number, length: number, text: string, pad = 0x20): void {
  for (let i = 0; i < length; i++) {
    const code = i < text.length ? text.charCodeAt(i) : pad;
    if (code > 0x7e) throw new RangeError(`"${text}" is not printable ASCII`);
    bytes[offset + i] = code;
  }
}
