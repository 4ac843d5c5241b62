/**
 * Thin typed wrapper over the `qemu-img` tool (qemu-utils). Every call passes
 * arguments as an array (no shell) and reports qemu-img's own stderr on failure.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type VolumeFormat = 'raw' | 'qcow2';
export const VOLUME_FORMATS: readonly VolumeFormat[] = ['raw', 'qcow2'];

export class QemuImgError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
    readonly stdout = '',
  ) {
    super(`qemu-img ${args[0] ?? ''} failed: ${stderr.trim() || 'unknown error'}`);
    this.name = 'QemuImgError';
  }
}

async function run(args: string[], timeoutMs = 10 * 60_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync('qemu-img', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message?: string };
    throw new QemuImgError(args, e.stderr || e.message || String(err), e.stdout ?? '');
  }
}

export interface ImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  backingFile?: string | undefined;
  backingFormat?: string | undefined;
  dirty: boolean;
}

/** `-U` (force share) so info works on images a running VM holds locked. */
export async function imageInfo(file: string): Promise<ImageInfo> {
  const raw = JSON.parse(await run(['info', '-U', '--output=json', file])) as Record<string, unknown>;
  return {
    format: String(raw['format']),
    virtualSize: Number(raw['virtual-size']),
    actualSize: Number(raw['actual-size'] ?? 0),
    backingFile: raw['full-backing-filename'] as string | undefined ?? (raw['backing-filename'] as string | undefined),
    backingFormat: raw['backing-filename-format'] as string | undefined,
    dirty: raw['dirty-flag'] === true,
  };
}

export async function createImage(
  file: string,
  format: VolumeFormat,
  sizeBytes: number,
  backing?: { file: string; format: VolumeFormat },
): Promise<void> {
  const args = ['create', '-q', '-f', format];
  if (backing) args.push('-b', backing.file, '-F', backing.format);
  if (format === 'raw') args.push('-o', 'preallocation=off');
  args.push(file);
  if (!backing || sizeBytes > 0) args.push(String(sizeBytes));
  await run(args);
}

/** Grow only: callers refuse shrinking before calling (qemu-img needs --shrink to shrink anyway). */
export async function resizeImage(file: string, format: VolumeFormat, sizeBytes: number): Promise<void> {
  await run(['resize', '-q', '-f', format, file, String(sizeBytes)]);
}

export interface CheckResult {
  ok: boolean;
  errors: number;
  leaks: number;
  corruptions: number;
}

/** `qemu-img check` (qcow2 only; raw has no metadata to check). Exit code 2/3 still yields a JSON report. */
export async function checkImage(file: string, format: VolumeFormat): Promise<CheckResult> {
  if (format === 'raw') return { ok: true, errors: 0, leaks: 0, corruptions: 0 };
  let out: string;
  try {
    out = await run(['check', '-U', '-f', format, '--output=json', file]);
  } catch (err) {
    if (!(err instanceof QemuImgError)) throw err;
    // check exits non-zero (2 = corruptions, 3 = leaks) when it finds problems; the JSON report is still on stdout.
    if (!err.stdout) throw err;
    out = err.stdout;
  }
  const raw = JSON.parse(out) as Record<string, unknown>;
  const errors = Number(raw['check-errors'] ?? 0);
  const leaks = Number(raw['leaks'] ?? 0);
  const corruptions = Number(raw['corruptions'] ?? 0);
  return { ok: errors === 0 && leaks === 0 && corruptions === 0, errors, leaks, corruptions };
}

export async function convertImage(
  src: string,
  srcFormat: string,
  dst: string,
  dstFormat: VolumeFormat,
): Promise<void> {
  await run(['convert', '-q', '-f', srcFormat, '-O', dstFormat, src, dst]);
}

/** Rewrites a qcow2 overlay's backing-file pointer without touching data (`rebase -u`). */
export async function rebaseUnsafe(file: string, backing: string, backingFormat: VolumeFormat): Promise<void> {
  await run(['rebase', '-u', '-f', 'qcow2', '-b', backing, '-F', backingFormat, file]);
}

export interface InternalSnapshot {
  id: string;
  name: string;
  vmStateSize: number;
  dateSec: number;
}

export async function snapshotList(file: string): Promise<InternalSnapshot[]> {
  const raw = JSON.parse(await run(['info', '-U', '--output=json', file])) as Record<string, unknown>;
  const snaps = (raw['snapshots'] as Array<Record<string, unknown>> | undefined) ?? [];
  return snaps.map((s) => ({
    id: String(s['id']),
    name: String(s['name']),
    vmStateSize: Number(s['vm-state-size'] ?? 0),
    dateSec: Number(s['date-sec'] ?? 0),
  }));
}

export async function snapshotCreate(file: string, name: string): Promise<void> {
  await run(['snapshot', '-q', '-c', name, file]);
}
export async function snapshotApply(file: string, name: string): Promise<void> {
  await run(['snapshot', '-q', '-a', name, file]);
}
export async function snapshotDelete(file: string, name: string): Promise<void> {
  await run(['snapshot', '-q', '-d', name, file]);
}
