/**
 * bpftrace-style scripts on the VM: tsbpf's trace front end compiles the
 * script to BPF and runs its BEGIN, interval and END probes (the probes that
 * need no kernel), printing what bpftrace would. The trace front end is not
 * a package entry point yet, so it is imported from the sources.
 */
import { compileScript } from '../../src/trace/compile.ts';
import { TraceError } from '../../src/trace/errors.ts';
import { runInVm } from '../../src/trace/vm.ts';
import type { CollectionSpec } from 'tsbpf/object';
import type { SourceProblem } from './engine.ts';

export interface TraceOutcome {
  output: string;
  /** The compiled programs, for the verifier and listing panels. */
  spec?: CollectionSpec;
  problems: SourceProblem[];
  error?: string;
}

/** Longest a script's interval probes may keep it running in the page. */
const MAX_DURATION_MS = 5000;

export async function runTrace(source: string, options: { jit: boolean; durationMs?: number }): Promise<TraceOutcome> {
  let output = '';
  try {
    const compiled = compileScript(source, { startNs: 0n });
    await runInVm(compiled, { write: (text) => void (output += text), format: 'text', durationMs: Math.min(options.durationMs ?? MAX_DURATION_MS, MAX_DURATION_MS), jit: options.jit, event: { process: { pid: 4242, uid: 1000, gid: 1000, comm: 'playground' } } });
    return { output, spec: compiled.spec, problems: [] };
  } catch (error) {
    if (error instanceof TraceError && error.span !== undefined) {
      return { output, problems: [{ line: error.span.line, column: error.span.column, message: error.problem }], error: error.message };
    }
    return { output, problems: [], error: error instanceof Error ? error.message : String(error) };
  }
}
