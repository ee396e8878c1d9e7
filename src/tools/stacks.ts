/**
 * Stack summaries shared by profile and offcputime: map keys of
 * `{pid, tgid, user_stack_id, kernel_stack_id, comm}` with a u64 value,
 * resolved through the stack trace map into named frames (kernel through
 * kallsyms, user through the process's ELF files, src/kernel/symbolize.ts),
 * and printed as BCC prints them: multi-line stacks or folded lines.
 */
import { type BpfMap, KernelSymbols, ProcessSymbols, stackAddresses } from '../kernel/index.ts';
import { cString } from './runtime.ts';

export interface StackSample {
  pid: number;
  tgid: number;
  comm: string;
  /** Frames innermost first; undefined when not collected (-K/-U) or lost (see `userMissing`). */
  userStack?: string[];
  kernelStack?: string[];
  /** The user stack could not be collected (stack map full or collision); kernel threads have no user stack and are not "missing". */
  userMissing: boolean;
  kernelMissing: boolean;
  /** Samples (profile) or microseconds off CPU (offcputime). */
  value: number;
}

const EFAULT = 14;

/** Names addresses; one resolver per process, kept for the run (processes that exited show `[unknown]`). */
export class StackNamer {
  #kernel: KernelSymbols | undefined | null = null;
  readonly #processes = new Map<number, ProcessSymbols | undefined>();

  #kernelSymbols(): KernelSymbols | undefined {
    if (this.#kernel === null) {
      try {
        this.#kernel = new KernelSymbols();
      } catch {
        this.#kernel = undefined;
      }
    }
    return this.#kernel;
  }

  /** Reads a process's mappings now, while it runs, for naming its frames later. */
  remember(tgid: number): void {
    if (this.#processes.has(tgid)) return;
    try {
      this.#processes.set(tgid, new ProcessSymbols(tgid));
    } catch {
      this.#processes.set(tgid, undefined);
    }
  }

  kernel(address: bigint): string {
    return this.#kernelSymbols()?.lookup(address)?.name ?? '[unknown]';
  }

  user(tgid: number, address: bigint): string {
    this.remember(tgid);
    const symbol = this.#processes.get(tgid)?.lookup(address);
    return symbol === undefined || symbol.name.startsWith('0x') ? '[unknown]' : symbol.name;
  }
}

/** Frames of the tracing machinery itself, on top of stacks taken in a tracepoint (the program, its trampoline, the tracepoint's iterator). */
const TRACING_FRAME = /^(bpf_prog_|bpf_trace_run\d|__bpf_trace_|__traceiter_)/;

/** A kernel stack without the tracing frames on top: it starts where the traced code was (`__schedule` for sched_switch), as BCC's stacks do. */
export function withoutTracingFrames(frames: readonly string[]): string[] {
  let first = 0;
  while (first < frames.length && TRACING_FRAME.test(frames[first]!)) first++;
  return frames.slice(first);
}

/** Reads a stack-count map and names every frame. */
export function readStackSamples(counts: BpfMap, stacks: BpfMap, namer: StackNamer): StackSample[] {
  const traces = new Map<number, bigint[] | undefined>();
  const trace = (id: number): bigint[] | undefined => {
    if (!traces.has(id)) {
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, id, true);
      const value = stacks.lookup(key);
      traces.set(id, value && stackAddresses(value));
    }
    return traces.get(id);
  };
  const samples: StackSample[] = [];
  for (const [key, value] of counts.lookupBatch()) {
    const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
    const pid = view.getUint32(0, true);
    const tgid = view.getUint32(4, true);
    const userId = view.getInt32(8, true);
    const kernelId = view.getInt32(12, true);
    // -1 is what the programs store for a stack they were told not to collect.
    const userTrace = userId >= 0 ? trace(userId) : undefined;
    const kernelTrace = kernelId >= 0 ? trace(kernelId) : undefined;
    samples.push({
      pid,
      tgid,
      comm: cString(key, 16, 16),
      ...(userTrace ? { userStack: userTrace.map((a) => namer.user(tgid, a)) } : {}),
      ...(kernelTrace ? { kernelStack: withoutTracingFrames(kernelTrace.map((a) => namer.kernel(a))) } : {}),
      userMissing: userId < -1 && userId !== -EFAULT,
      kernelMissing: kernelId < -1 && kernelId !== -EFAULT,
      value: Number(new DataView(value.buffer, value.byteOffset, value.byteLength).getBigUint64(0, true)),
    });
  }
  return samples.sort((a, b) => a.value - b.value);
}

export interface StackFormat {
  userOnly: boolean;
  kernelOnly: boolean;
  /** `--` between kernel and user frames (-d). */
  delimited: boolean;
}

/** One folded line: `comm;user frames outermost first;kernel frames N` (flamegraph.pl's input). */
export function foldedLine(s: StackSample, format: StackFormat): string {
  const parts = [s.comm];
  if (!format.kernelOnly) {
    if (s.userMissing) parts.push('[Missed User Stack]');
    else parts.push(...[...(s.userStack ?? [])].reverse());
  }
  if (!format.userOnly) {
    if (format.delimited && s.userStack && s.kernelStack) parts.push('-');
    if (s.kernelMissing) parts.push('[Missed Kernel Stack]');
    else parts.push(...[...(s.kernelStack ?? [])].reverse());
  }
  return `${parts.join(';')} ${s.value}`;
}

/** BCC's multi-line form: kernel frames, `--`, user frames, `-  comm (pid)`, the value, a blank line. */
export function stackBlock(s: StackSample, format: StackFormat): string {
  const lines: string[] = [];
  if (!format.userOnly) {
    if (s.kernelMissing) lines.push('    [Missed Kernel Stack]');
    else for (const frame of s.kernelStack ?? []) lines.push(`    ${frame}`);
  }
  if (!format.kernelOnly) {
    if (format.delimited && s.userStack && s.kernelStack) lines.push('    --');
    if (s.userMissing) lines.push('    [Missed User Stack]');
    else for (const frame of s.userStack ?? []) lines.push(`    ${frame}`);
  }
  lines.push(`    ${'-'.padEnd(16)} ${s.comm} (${s.pid})`, `        ${s.value}`, '');
  return `${lines.join('\n')}\n`;
}
