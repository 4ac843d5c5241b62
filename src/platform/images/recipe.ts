/**
 * An image recipe turns inputs (suite, package list, kernel) into a root
 * filesystem image plus the kernel, initramfs and command line to boot it.
 * The image manager stores the result (the disk as a pool volume that VMs get
 * linked clones of).
 */
import type { BuildLog } from './host-tools.js';

export interface RecipeContext extends BuildLog {
  /** Scratch directory, removed after the build. */
  workDir: string;
  /** Long-lived cache shared by builds (kernels, debootstrap results, .debs). */
  cacheDir: string;
  progress(fraction: number): void;
}

export interface RecipeOutput {
  /** Raw ext4 image of the root filesystem (labelled `tvroot`). */
  rootfsRaw: string;
  /** Virtual size of the image's disk (the clone can grow later). */
  diskSizeBytes: number;
  kernel: string;
  initrd: string;
  cmdline: string;
  /** What went in, for `image inspect` (suite, packages, kernel package, cache key). */
  inputs: Record<string, unknown>;
}

export interface ImageRecipe {
  readonly name: string;
  readonly description: string;
  build(ctx: RecipeContext): Promise<RecipeOutput>;
}

/** The root filesystem label every recipe uses, so initramfs and fstab find the root on any disk order. */
export const ROOT_LABEL = 'tvroot';
