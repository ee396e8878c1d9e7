/**
 * Loading a command's modules with every function compiled at once.
 *
 * V8 compiles a function lazily: pre-parsed when its module loads, parsed
 * again and compiled to bytecode on its first call. A command that runs a
 * large body of code once in a fresh process (`tsbpf verify` runs most of
 * the verifier on its first program) pays that second parse inside its
 * work. Compiling the command's module graph eagerly parses each function
 * once, at import: measured on `tsbpf verify` (bench/verifier-cold.ts), the
 * first program's verification time fell 2-5x and the process's wall time
 * did not grow.
 */
import { setFlagsFromString } from 'node:v8';

/** V8's spellings of the flag on node's command line (NODE_OPTIONS does not allow it). */
const LAZY_OFF = new Set(['--no-lazy', '--nolazy', '--no_lazy']);

/** Runs `load` (a dynamic import) with V8's lazy compilation off, restored afterwards (unless node was started with it off). */
export async function importEagerlyCompiled<T>(load: () => Promise<T>): Promise<T> {
  if (process.execArgv.some((arg) => LAZY_OFF.has(arg))) return load();
  setFlagsFromString('--no-lazy');
  try {
    return await load();
  } finally {
    setFlagsFromString('--lazy');
  }
}
