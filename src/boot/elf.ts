/**
 * ELF64 kernel images (an uncompressed vmlinux): program headers, PT_LOAD
 * segments and the Xen PVH entry note (System V gABI "ELF-64 Object File
 * Format"; xen/include/public/elfnote.h XEN_ELFNOTE_PHYS32_ENTRY). Every
 * offset and size read from the file is bounds-checked before use.
 */

import { field, getField, type Field } from '../arch/x86_64/byte-layout.js';
import { KernelLoadError, hex } from './errors.js';

export const ELF_MAGIC = 0x464c457f; // "\x7fELF" as a little-endian u32

export const ElfHeader = {
  MAGIC: field(0x00, 4),
  CLASS: field(0x04, 1),
  DATA: field(0x05, 1),
  TYPE: field(0x10, 2),
  MACHINE: field(0x12, 2),
  ENTRY: field(0x18, 8),
  PHOFF: field(0x20, 8),
  PHENTSIZE: field(0x36, 2),
  PHNUM: field(0x38, 2),
  SIZE: 64,
} as const;

export const ProgramHeader = {
  TYPE: field(0x00, 4),
  FLAGS: field(0x04, 4),
  OFFSET: field(0x08, 8),
  VADDR: field(0x10, 8),
  PADDR: field(0x18, 8),
  FILESZ: field(0x20, 8),
  MEMSZ: field(0x28, 8),
  ALIGN: field(0x30, 8),
  SIZE: 56,
} as const;

export const NoteHeader = { NAMESZ: field(0, 4), DESCSZ: field(4, 4), TYPE: field(8, 4), SIZE: 12 } as const;

const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
/** XEN_ELFNOTE_PHYS32_ENTRY: the physical address of the 32-bit PVH entry point. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export interface ElfSegment {
  /** Physical load address (p_paddr). */
  paddr: number;
  fileOffset: number;
  fileSize: number;
  memSize: number;
}

export interface ElfKernel {
  entry: number;
  segments: ElfSegment[];
  /** Set when the kernel carries a PVH entry note. */
  pvhEntry?: number;
}

export function hasElfMagic(image: Uint8Array): boolean {
  return image.length >= 4 && getField(image, ElfHeader.MAGIC) === ELF_MAGIC;
}

const align4 = (n: number) => (n + 3) & ~3;

function readSafe(image: Uint8Array, f: Field, base: number, path: string, what: string): number {
  try {
    return getField(image, f, base);
  } catch {
    throw new KernelLoadError(`${path}: ${what} is not a usable 64-bit value`);
  }
}

/** The PVH entry from the notes in [start, end) of the file, if present. */
function findPvhEntry(image: Uint8Array, start: number, end: number, path: string): number | undefined {
  let at = start;
  while (at + NoteHeader.SIZE <= end) {
    const nameSize = getField(image, NoteHeader.NAMESZ, at);
    const descSize = getField(image, NoteHeader.DESCSZ, at);
    const type = getField(image, NoteHeader.TYPE, at);
    const nameStart = at + NoteHeader.SIZE;
    const descStart = nameStart + align4(nameSize);
    const next = descStart + align4(descSize);
    if (next > end || next <= at) throw new KernelLoadError(`${path}: malformed ELF note at file offset ${hex(at)}`);
    const name = new TextDecoder('latin1').decode(image.subarray(nameStart, nameStart + nameSize)).replace(/\0+$/, '');
    if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) {
      if (descSize === 4) return getField(image, field(0, 4), descStart);
      if (descSize === 8) return readSafe(image, field(0, 8), descStart, path, 'the PVH entry note');
      throw new KernelLoadError(`${path}: PVH entry note has a ${descSize}-byte address (4 or 8 expected)`);
    }
    at = next;
  }
  return undefined;
}

export function parseElfKernel(image: Uint8Array, path: string): ElfKernel {
  if (!hasElfMagic(image)) throw new KernelLoadError(`${path} is not a Linux kernel: no ELF magic`);
  if (image.length < ElfHeader.SIZE) throw new KernelLoadError(`truncated ELF ${path}: ${image.length} bytes`);
  if (getField(image, ElfHeader.CLASS) !== ELFCLASS64) {
    throw new KernelLoadError(`${path} is a 32-bit ELF: only 64-bit x86_64 kernels are supported`);
  }
  if (getField(image, ElfHeader.DATA) !== ELFDATA2LSB) throw new KernelLoadError(`${path} is a big-endian ELF`);
  const machine = getField(image, ElfHeader.MACHINE);
  if (machine !== EM_X86_64) throw new KernelLoadError(`${path} is an ELF for machine ${machine}, not x86_64 (62)`);
  const type = getField(image, ElfHeader.TYPE);
  if (type !== ET_EXEC && type !== ET_DYN) throw new KernelLoadError(`${path} is an ELF of type ${type}, not an executable`);

  const phoff = readSafe(image, ElfHeader.PHOFF, 0, path, 'e_phoff');
  const phnum = getField(image, ElfHeader.PHNUM);
  const phentsize = getField(image, ElfHeader.PHENTSIZE);
  if (phnum > 0 && phentsize < ProgramHeader.SIZE) {
    throw new KernelLoadError(`${path}: program header size ${phentsize} is smaller than ${ProgramHeader.SIZE}`);
  }
  if (phoff + phnum * phentsize > image.length) {
    throw new KernelLoadError(`truncated ELF ${path}: program headers run past the end of the file`);
  }
  const segments: ElfSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const base = phoff + i * phentsize;
    const ptype = getField(image, ProgramHeader.TYPE, base);
    if (ptype !== PT_LOAD && ptype !== PT_NOTE) continue;
    const fileOffset = readSafe(image, ProgramHeader.OFFSET, base, path, `segment ${i} p_offset`);
    const fileSize = readSafe(image, ProgramHeader.FILESZ, base, path, `segment ${i} p_filesz`);
    if (fileOffset + fileSize > image.length) {
      throw new KernelLoadError(
        `truncated ELF ${path}: segment ${i} (file ${hex(fileOffset)}+${hex(fileSize)}) runs past the end of the file (${image.length} bytes)`,
      );
    }
    if (ptype === PT_NOTE) {
      pvhEntry ??= findPvhEntry(image, fileOffset, fileOffset + fileSize, path);
      continue;
    }
    const memSize = readSafe(image, ProgramHeader.MEMSZ, base, path, `segment ${i} p_memsz`);
    const paddr = readSafe(image, ProgramHeader.PADDR, base, path, `segment ${i} p_paddr`);
    if (fileSize > memSize) {
      throw new KernelLoadError(`${path}: segment ${i} has more file bytes (${fileSize}) than memory bytes (${memSize})`);
    }
    segments.push({ paddr, fileOffset, fileSize, memSize });
  }
  if (segments.length === 0) throw new KernelLoadError(`${path}: ELF has no PT_LOAD segments`);
  const entry = readSafe(image, ElfHeader.ENTRY, 0, path, 'e_entry');
  const kernel: ElfKernel = { entry, segments };
  if (pvhEntry !== undefined) kernel.pvhEntry = pvhEntry;
  return kernel;
}
