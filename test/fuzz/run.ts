/**
 * Fuzz runner: `node dist/test/fuzz/run.js [--target NAME]... [--iterations N] [--seed S]`.
 * Targets live in ./targets/ (one file each, exporting `target`); they are
 * discovered at run time. Iteration i of a run with seed S uses seed S+i, so
 * a failure is reproduced with `--target NAME --seed <that seed> --iterations 1`.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { FuzzRandom, isGuestError, type FuzzTarget } from './harness.js';

export interface FuzzResult {
  target: string;
  iterations: number;
  seed: number;
  /** Iterations that ended in an allowed, typed guest error escaping the target (not a failure). */
  guestErrors: number;
  elapsedMs: number;
}

export class FuzzFailure extends Error {
  constructor(
    readonly target: string,
    readonly iterationSeed: number,
    readonly failure: unknown,
  ) {
    const detail = failure instanceof Error ? (failure.stack ?? failure.message) : String(failure);
    super(
      `fuzz target ${target} failed at seed ${iterationSeed}: ${detail}\n` +
        `reproduce: node dist/test/fuzz/run.js --target ${target} --seed ${iterationSeed} --iterations 1`,
    );
    this.name = 'FuzzFailure';
  }
}

const targetsDir = join(fileURLToPath(new URL('.', import.meta.url)), 'targets');

/** Every target in ./targets/, by name. */
export async function loadTargets(): Promise<Map<string, FuzzTarget>> {
  const targets = new Map<string, FuzzTarget>();
  const files = readdirSync(targetsDir)
    .filter((f) => (f.endsWith('.js') || f.endsWith('.ts')) && !f.endsWith('.d.ts') && !f.includes('.test.'))
    .sort();
  for (const file of files) {
    const module = (await import(pathToFileURL(join(targetsDir, file)).href)) as { target?: FuzzTarget };
    if (!module.target) throw new Error(`fuzz target file ${file} does not export 'target'`);
    if (targets.has(module.target.name)) throw new Error(`two fuzz targets are named ${module.target.name}`);
    targets.set(module.target.name, module.target);
  }
  return targets;
}

/** Runs `iterations` iterations of a target; throws FuzzFailure on the first property violation or unexpected exception. */
export async function runFuzz(target: FuzzTarget | string, iterations: number, seed: number): Promise<FuzzResult> {
  let resolved: FuzzTarget;
  if (typeof target === 'string') {
    const found = (await loadTargets()).get(target);
    if (!found) throw new Error(`unknown fuzz target '${target}'`);
    resolved = found;
  } else {
    resolved = target;
  }
  const started = performance.now();
  let guestErrors = 0;
  for (let i = 0; i < iterations; i++) {
    const iterationSeed = (seed + i) >>> 0;
    try {
      resolved.run(new FuzzRandom(iterationSeed));
    } catch (error) {
      if (isGuestError(error)) guestErrors++;
      else throw new FuzzFailure(resolved.name, iterationSeed, error);
    }
  }
  return { target: resolved.name, iterations, seed, guestErrors, elapsedMs: performance.now() - started };
}

async function main(argv: string[]): Promise<number> {
  let iterations = 10_000;
  let seed = Date.now() >>> 0;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--iterations' && value) {
      iterations = Number(value);
      i++;
    } else if (arg === '--seed' && value) {
      seed = Number(value);
      i++;
    } else if (arg === '--target' && value) {
      names.push(value);
      i++;
    }
    else {
      console.error(`usage: run.js [--target NAME]... [--iterations N] [--seed S]  (unknown argument ${arg})`);
      return 2;
    }
  }
  if (!Number.isInteger(iterations) || iterations < 1 || !Number.isInteger(seed)) {
    console.error('--iterations and --seed must be integers');
    return 2;
  }
  const targets = await loadTargets();
  const selected = names.length > 0 ? names : [...targets.keys()];
  for (const name of selected) {
    const target = targets.get(name);
    if (!target) {
      console.error(`unknown fuzz target '${name}' (have: ${[...targets.keys()].join(', ')})`);
      return 2;
    }
    try {
      const r = await runFuzz(target, iterations, seed);
      console.log(
        `${r.target}: ${r.iterations} iterations from seed ${r.seed} in ${(r.elapsedMs / 1000).toFixed(1)} s ` +
          `(${Math.round((r.iterations / r.elapsedMs) * 1000)}/s), ${r.guestErrors} typed guest errors, no failures`,
      );
    } catch (error) {
      console.error(error instanceof Error ? error.message : error);
      return 1;
    }
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
