/** Raw disk images: the file is the disk, byte for byte. */
import { checkDiskRange, DiskRangeError, type DiskBackend, type DiskFileIdentity } from '../devices/virtio/block/backend.js';
import type { GuestIoRanges } from '../memory/io-ranges.js';
import { ImageFile } from './image-file.js';

export class RawDisk implements DiskBackend {
  readonly sizeBytes: number;
  readonly readonly: boolean;
  readonly supportsDiscard = true;
  readonly supportsWriteZeroes = true;
  private readonly file: ImageFile;

  constructor(file: ImageFile, readonly: boolean) {
    this.file = file;
    this.readonly = readonly;
    this.sizeBytes = file.size();
  }

  static open(path: string, readonly: boolean): RawDisk {
    return new RawDisk(ImageFile.open(path, !readonly), readonly);
  }

  read(offset: number, into: Uint8Array): void {
    checkDiskRange(this.sizeBytes, offset, into.length);
    this.file.readAt(offset, into);
  }

  write(offset: number, from: Uint8Array): void {
    this.checkWritable();
    checkDiskRange(this.sizeBytes, offset, from.length);
    this.file.writeAt(offset, from);
  }

  readv(offset: number, into: GuestIoRanges): void {
    checkDiskRange(this.sizeBytes, offset, into.byteLength);
    this.file.readvAt(offset, into);
  }

  writev(offset: number, from: GuestIoRanges): void {
    this.checkWritable();
    checkDiskRange(this.sizeBytes, offset, from.byteLength);
    this.file.writevAt(offset, from);
  }

  flush(): void {
    if (!this.readonly) this.file.datasync();
  }

  discard(offset: number, length: number): void {
    this.checkWritable();
    checkDiskRange(this.sizeBytes, offset, length);
    // Discard is advisory: a filesystem that cannot punch holes simply keeps the data.
    this.file.punchHole(offset, length);
  }

  writeZeroes(offset: number, length: number, unmap: boolean): void {
    this.checkWritable();
    checkDiskRange(this.sizeBytes, offset, length);
    this.file.zeroRange(offset, length, unmap);
  }

  identity(): DiskFileIdentity[] {
    return [this.file.identity()];
  }

  close(): void {
    this.file.close();
  }

  private checkWritable(): void {
    if (this.readonly) throw new DiskRangeError(`disk ${this.file.path} is read-only`);
  }
}
