/** Why a kernel, initrd or command line could not be loaded; the message names the file and the problem. */
export class KernelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelLoadError';
  }
}

/** Sizes in messages: whole MiB when exact, else one decimal. */
export function mib(bytes: number): string {
  const value = bytes / (1024 * 1024);
  return Number.isInteger(value) ? `${value}` : value.toFixed(1);
}

export const hex = (n: number): string => `0x${n.toString(16)}`;
