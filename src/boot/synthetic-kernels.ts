/**
 * Tiny hand-built kernel images for the loader tests: a bzImage with a real
 * setup header and an ELF64 with PT_LOAD segments and optional PVH note.
 * They carry no code; the tests check how they are parsed and placed.
 */

import { field, setField } from '../arch/x86_64/byte-layout.js';
import { SetupHeader, XLoadFlags } from './boot-params.js';
import { ElfHeader, NoteHeader, ProgramHeader, PT_LOAD, PT_NOTE, XEN_ELFNOTE_PHYS32_ENTRY } from './elf.js';

export interface SyntheticBzImageOptions {
  setupSects?: number;
  protectedModeSize?: number;
  version?: number;
  xloadflags?: number;
  prefAddress?: number;
  initSize?: number;
  cmdlineSize?: number;
  initrdAddrMax?: number;
  kernelVersion?: string;
}

export function syntheticBzImage(options: SyntheticBzImageOptions = {}): Uint8Array {
  const setupSects = options.setupSects ?? 4;
  const pmSize = options.protectedModeSize ?? 64 * 1024;
  const pmOffset = (setupSects + 1) * 512;
  const image = new Uint8Array(pmOffset + pmSize);
  for (let i = 0; i < pmSize; i++) image[pmOffset + i] = (i * 7 + 3) & 0xff;
  setField(image, SetupHeader.SETUP_SECTS, setupSects);
  setField(image, SetupHeader.SYSSIZE, Math.ceil(pmSize / 16));
  setField(image, SetupHeader.BOOT_FLAG, 0xaa55);
  image[0x200] = 0xeb; // jmp short: its displacement gives the header's end (0x202 + 0x66)
  image[0x201] = 0x66;
  setField(image, SetupHeader.HEADER, 0x53726448);
  setField(image, SetupHeader.VERSION, options.version ?? 0x020f);
  setField(image, SetupHeader.LOADFLAGS, 0x01);
  setField(image, SetupHeader.CODE32_START, 0x100000);
  setField(image, SetupHeader.INITRD_ADDR_MAX, options.initrdAddrMax ?? 0x7fffffff);
  setField(image, SetupHeader.KERNEL_ALIGNMENT, 0x200000);
  setField(image, SetupHeader.RELOCATABLE_KERNEL, 1);
  setField(image, SetupHeader.XLOADFLAGS, options.xloadflags ?? XLoadFlags.KERNEL_64 | XLoadFlags.CAN_BE_LOADED_ABOVE_4G);
  setField(image, SetupHeader.CMDLINE_SIZE, options.cmdlineSize ?? 2047);
  setField(image, SetupHeader.PREF_ADDRESS, options.prefAddress ?? 0x1000000);
  setField(image, SetupHeader.INIT_SIZE, options.initSize ?? 4 * 1024 * 1024);
  const version = new TextEncoder().encode(`${options.kernelVersion ?? '6.1.0-test (synthetic) #1 SMP'}\0`);
  const versionOffset = 0x300;
  image.set(version, versionOffset);
  setField(image, SetupHeader.KERNEL_VERSION, versionOffset - 0x200);
  return image;
}

export interface SyntheticElfSegment {
  paddr: number;
  data: Uint8Array;
  memSize?: number;
}

export interface SyntheticElfOptions {
  entry: number;
  segments: SyntheticElfSegment[];
  /** Adds a PT_NOTE with a Xen PHYS32_ENTRY note (after an unrelated GNU note). */
  pvhEntry?: number;
  pvhEntryBytes?: 4 | 8;
  elfClass?: number;
  machine?: number;
}

function note(name: string, type: number, desc: Uint8Array): Uint8Array {
  const nameBytes = new TextEncoder().encode(`${name}\0`);
  const pad = (n: number) => (n + 3) & ~3;
  const out = new Uint8Array(NoteHeader.SIZE + pad(nameBytes.length) + pad(desc.length));
  setField(out, NoteHeader.NAMESZ, nameBytes.length);
  setField(out, NoteHeader.DESCSZ, desc.length);
  setField(out, NoteHeader.TYPE, type);
  out.set(nameBytes, NoteHeader.SIZE);
  out.set(desc, NoteHeader.SIZE + pad(nameBytes.length));
  return out;
}

export function syntheticElf(options: SyntheticElfOptions): Uint8Array {
  const notes: Uint8Array[] = [];
  if (options.pvhEntry !== undefined) {
    const size = options.pvhEntryBytes ?? 8;
    const desc = new Uint8Array(size);
    setField(desc, field(0, size), options.pvhEntry);
    notes.push(note('GNU', 3, new Uint8Array(20)), note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, desc));
  }
  const noteBytes = new Uint8Array(notes.reduce((n, b) => n + b.length, 0));
  notes.reduce((at, b) => (noteBytes.set(b, at), at + b.length), 0);

  const phnum = options.segments.length + (notes.length ? 1 : 0);
  let dataOffset = ElfHeader.SIZE + phnum * ProgramHeader.SIZE;
  const size = dataOffset + noteBytes.length + options.segments.reduce((n, s) => n + s.data.length, 0);
  const image = new Uint8Array(size);
  image.set([0x7f, 0x45, 0x4c, 0x46, options.elfClass ?? 2, 1, 1]);
  setField(image, ElfHeader.TYPE, 2);
  setField(image, ElfHeader.MACHINE, options.machine ?? 62);
  setField(image, ElfHeader.ENTRY, options.entry);
  setField(image, ElfHeader.PHOFF, ElfHeader.SIZE);
  setField(image, ElfHeader.PHENTSIZE, ProgramHeader.SIZE);
  setField(image, ElfHeader.PHNUM, phnum);
  let ph = ElfHeader.SIZE;
  for (const segment of options.segments) {
    setField(image, ProgramHeader.TYPE, PT_LOAD, ph);
    setField(image, ProgramHeader.OFFSET, dataOffset, ph);
    setField(image, ProgramHeader.FLAGS, 7, ph); // PF_R | PF_W | PF_X
    setField(image, ProgramHeader.VADDR, segment.paddr, ph);
    setField(image, ProgramHeader.PADDR, segment.paddr, ph);
    setField(image, ProgramHeader.FILESZ, segment.data.length, ph);
    setField(image, ProgramHeader.MEMSZ, segment.memSize ?? segment.data.length, ph);
    setField(image, ProgramHeader.ALIGN, 0x1000, ph); // QEMU's ELF loader divides by p_align
    image.set(segment.data, dataOffset);
    dataOffset += segment.data.length;
    ph += ProgramHeader.SIZE;
  }
  if (notes.length) {
    setField(image, ProgramHeader.TYPE, PT_NOTE, ph);
    setField(image, ProgramHeader.OFFSET, dataOffset, ph);
    setField(image, ProgramHeader.FILESZ, noteBytes.length, ph);
    setField(image, ProgramHeader.MEMSZ, noteBytes.length, ph);
    setField(image, ProgramHeader.ALIGN, 4, ph);
    image.set(noteBytes, dataOffset);
  }
  return image;
}
