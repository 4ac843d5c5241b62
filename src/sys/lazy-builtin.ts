/**
 * A Node built-in module loaded on first use rather than with the module that needs it. For modules that every VMM
 * thread imports but only some paths use (node:crypto for snapshot checksums, node:zlib for compressed qcow2
 * clusters): loading one costs 0.1-0.2 s of a thread's start-up in the KVM lab, where V8 runs under TCG.
 */
import { createRequire } from 'node:module';

const loadBuiltin = createRequire(import.meta.url);

/** A getter for built-in `name`, which loads it (synchronously) on its first call. */
export function lazyBuiltin<T>(name: `node:${string}`): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= loadBuiltin(name) as T);
}
