/**
 * A small encoder for the ACPI Machine Language subset our DSDT needs
 * (ACPI 6.5 §20 "ACPI Machine Language (AML) Specification"; resource
 * descriptors §6.4). Every function returns the encoded bytes, so terms
 * nest like the ASL they stand for:
 *
 *   device('PCI0', [name('_HID', eisaId('PNP0A08')), ...])
 */

export type Aml = number[];

/** AML opcodes (§20.3). */
export const AmlOp = {
  ZERO: 0x00,
  ONE: 0x01,
  NAME: 0x08,
  BYTE_PREFIX: 0x0a,
  WORD_PREFIX: 0x0b,
  DWORD_PREFIX: 0x0c,
  STRING_PREFIX: 0x0d,
  QWORD_PREFIX: 0x0e,
  SCOPE: 0x10,
  BUFFER: 0x11,
  PACKAGE: 0x12,
  METHOD: 0x14,
  DUAL_NAME_PREFIX: 0x2e,
  MULTI_NAME_PREFIX: 0x2f,
  EXT_PREFIX: 0x5b,
  ROOT_CHAR: 0x5c,
  PARENT_PREFIX: 0x5e,
  DEVICE: 0x82, // after EXT_PREFIX
  RETURN: 0xa4,
  ONES: 0xff,
} as const;

/**
 * PkgLength (§20.2.4): the length of the package *including* the PkgLength bytes.
 * One byte up to 63; otherwise 2-4 bytes: the low nibble in the lead byte, then whole bytes.
 */
export function pkgLength(contentLength: number): Aml {
  for (let count = 1; count <= 4; count++) {
    const total = contentLength + count;
    if (count === 1 && total < 0x40) return [total];
    if (count > 1 && total < 2 ** (4 + 8 * (count - 1))) {
      const bytes = [((count - 1) << 6) | (total & 0xf)];
      for (let i = 1; i < count; i++) bytes.push((total >> (4 + 8 * (i - 1))) & 0xff);
      return bytes;
    }
  }
  throw new RangeError(`AML package of ${contentLength} bytes is too long for a PkgLength`);
}

/** A NameSeg (§20.2.2): 4 characters from [A-Z0-9_], the first not a digit, padded with '_'. */
export function nameSeg(segment: string): Aml {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(segment)) throw new RangeError(`"${segment}" is not a valid AML name segment`);
  return [...segment.padEnd(4, '_')].map((c) => c.charCodeAt(0));
}

/** A NameString (§20.2.2): optional root '\' or parent '^' prefixes, then dot-separated segments. */
export function nameString(path: string): Aml {
  const out: Aml = [];
  let rest = path;
  if (rest.startsWith('\\')) {
    out.push(AmlOp.ROOT_CHAR);
    rest = rest.slice(1);
  }
  while (rest.startsWith('^')) {
    out.push(AmlOp.PARENT_PREFIX);
    rest = rest.slice(1);
  }
  const segments = rest === '' ? [] : rest.split('.');
  if (segments.length === 0) out.push(0x00); // NullName
  else if (segments.length === 2) out.push(AmlOp.DUAL_NAME_PREFIX);
  else if (segments.length > 2) out.push(AmlOp.MULTI_NAME_PREFIX, segments.length);
  for (const segment of segments) out.push(...nameSeg(segment));
  return out;
}

/** The shortest integer encoding (§20.2.3 ComputationalData). */
export function integer(value: number | bigint): Aml {
  const v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`AML integer ${v} is out of range`);
  if (v === 0n) return [AmlOp.ZERO];
  if (v === 1n) return [AmlOp.ONE];
  const le = (bytes: number) => Array.from({ length: bytes }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
  if (v <= 0xffn) return [AmlOp.BYTE_PREFIX, ...le(1)];
  if (v <= 0xffffn) return [AmlOp.WORD_PREFIX, ...le(2)];
  if (v <= 0xffff_ffffn) return [AmlOp.DWORD_PREFIX, ...le(4)];
  return [AmlOp.QWORD_PREFIX, ...le(8)];
}

export function string(text: string): Aml {
  const bytes = [...text].map((c) => c.charCodeAt(0));
  if (bytes.some((b) => b === 0 || b > 0x7f)) throw new RangeError(`AML string "${text}" must be ASCII without NUL`);
  return [AmlOp.STRING_PREFIX, ...bytes, 0];
}

/** EISAID("PNP0A08") (§19.6.35): three compressed letters and four hex digits, as a DWord. */
export function eisaId(id: string): Aml {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`"${id}" is not an EISA id like PNP0A03`);
  const letter = (i: number) => id.charCodeAt(i) - 0x40;
  const bytes = [
    (letter(0) << 2) | (letter(1) >> 3),
    ((letter(1) & 7) << 5) | letter(2),
    parseInt(id.slice(3, 5), 16),
    parseInt(id.slice(5, 7), 16),
  ];
  return [AmlOp.DWORD_PREFIX, ...bytes];
}

export function name(path: string, value: Aml): Aml {
  return [AmlOp.NAME, ...nameString(path), ...value];
}

export function packageOf(elements: Aml[]): Aml {
  if (elements.length > 255) throw new RangeError('AML Package holds at most 255 elements');
  const body = [elements.length, ...elements.flat()];
  return [AmlOp.PACKAGE, ...pkgLength(body.length), ...body];
}

export function buffer(bytes: readonly number[]): Aml {
  const body = [...integer(bytes.length), ...bytes];
  return [AmlOp.BUFFER, ...pkgLength(body.length), ...body];
}

export function scope(path: string, terms: Aml[]): Aml {
  const body = [...nameString(path), ...terms.flat()];
  return [AmlOp.SCOPE, ...pkgLength(body.length), ...body];
}

export function device(path: string, terms: Aml[]): Aml {
  const body = [...nameString(path), ...terms.flat()];
  return [AmlOp.EXT_PREFIX, AmlOp.DEVICE, ...pkgLength(body.length), ...body];
}

export function method(path: string, argCount: number, serialized: boolean, terms: Aml[]): Aml {
  if (!Number.isInteger(argCount) || argCount < 0 || argCount > 7) throw new RangeError('AML methods take 0..7 arguments');
  const body = [...nameString(path), argCount | (serialized ? 1 << 3 : 0), ...terms.flat()];
  return [AmlOp.METHOD, ...pkgLength(body.length), ...body];
}

export function returnValue(value: Aml): Aml {
  return [AmlOp.RETURN, ...value];
}
