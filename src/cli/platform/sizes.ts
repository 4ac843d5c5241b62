/** Human sizes for the storage CLI: "10G", "512M", "1.5T", "4096" (bytes); binary units. */
import { CliError } from './client.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new CliError(`size ${JSON.stringify(text)} is not a size like 10G, 512M or 1048576`);
  const bytes = Math.round(Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1));
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new CliError(`size ${JSON.stringify(text)} is out of range`);
  return bytes;
}
