/**
 * Running a compiled script in the kernel: load the collection, attach
 * each probe, read the ring buffer, detach everything at the end.
 */
import { existsSync } from 'node:fs';
import { TsbpfError } from '../errors.ts';
import { BpfSyscallError, type KernelCollection, type KernelProgram, type Link, NotSupportedError, RingBufferReader, attachCpuClockSampling, attachKprobe, attachPerfEventSampling, attachRawTracepoint, attachTracepoint, attachTracing, attachUprobe, closeLinksConcurrently, loadCollection, PerfType, possibleCpus, programInfo } from '../kernel/index.ts';
import { type VerifyResult, assertAccepted, verifyCollection } from '../verifier/index.ts';
import { RINGBUF_MAP } from './codegen.ts';
import { type CompiledProbe, type CompiledScript, errorAtInstruction } from './compile.ts';
import { type TraceError, TraceRuntimeError } from './errors.ts';
import { tracepointEquivalent } from './probes.ts';
import { type LoadedScript, type SessionOptions, TraceSession } from './session.ts';

export interface KernelRunOptions extends SessionOptions {
  /** -p: uprobes fire only in this process. */
  pid?: number;
  /**
   * Verify each generated program with tsbpf's verifier (src/verifier)
   * before the kernel sees it (default true): a rejection fails with the
   * verifier's message, failing instruction and explanation.
   */
  verify?: boolean;
  /**
   * After the programs are detached, leave the kernel's slow, serial release
   * of the probes' perf events to a background process (default true), so
   * that exiting after hundreds of tracepoints does not take seconds.
   */
  releasePerfEventsInBackground?: boolean;
  /** -c: started after the probes are attached; the session ends when it resolves. */
  startCommand?: () => Promise<unknown>;
  /** -v: each program's id and verifier statistics, as bpftrace prints them, with tsbpf's verifier's. */
  verbose?: (text: string) => void;
}

/** A clear message for probes this kernel cannot attach, naming the tracepoint to use instead when one exists. */
function attachFailure(probe: CompiledProbe, error: unknown): TraceRuntimeError {
  const { target } = probe;
  const reason = error instanceof Error ? error.message : String(error);
  if (target.kind === 'kprobe' || target.kind === 'kretprobe' || target.kind === 'fentry' || target.kind === 'fexit') {
    const equivalent = tracepointEquivalent(target.symbol!);
    const what = target.kind.startsWith('k') ? 'kprobes' : 'fentry/fexit (BPF trampolines)';
    return new TraceRuntimeError(`${target.name}: ${what} are not available on this kernel (${reason})${equivalent !== undefined ? `; use ${equivalent} instead` : '; use a tracepoint (tsbpf trace -l) instead'}`, { cause: error });
  }
  return new TraceRuntimeError(`${target.name}: cannot attach: ${reason}`, { cause: error });
}

/** Attaches one probe where its target says; undefined for probes that run in user space (BEGIN, END, interval). */
export function attachProbe(collection: KernelCollection, probe: CompiledProbe, pid?: number): Link | undefined {
  const program = collection.programs[probe.program]!;
  const t = probe.target;
  switch (t.kind) {
    case 'begin':
    case 'end':
    case 'interval':
      return undefined;
    case 'tracepoint':
      if (probe.raw) return attachRawTracepoint(program, t.event!);
      return attachTracepoint(program, t.category!, t.event!, BigInt(probe.probeId));
    case 'rawtracepoint':
      return attachRawTracepoint(program, t.event!);
    case 'uprobe':
    case 'uretprobe':
      return attachUprobe(program, { path: t.path!, ...(t.symbol !== undefined ? { symbol: t.symbol } : {}), ...(t.offset !== undefined ? { offset: t.offset } : {}), ...(pid !== undefined ? { pid } : {}), retprobe: t.kind === 'uretprobe' });
    case 'kprobe':
    case 'kretprobe':
      return attachKprobe(program, { symbol: t.symbol!, retprobe: t.kind === 'kretprobe' });
    case 'fentry':
    case 'fexit':
      return attachTracing(program);
    case 'profile':
      return attachCpuClockSampling(program, t.frequency ?? Math.max(1, Math.round(1e9 / t.periodNs!)));
    case 'software':
      return attachPerfEventSampling(program, { type: PerfType.SOFTWARE, config: t.config!, period: t.count!, name: t.event! });
    case 'hardware':
      return attachPerfEventSampling(program, { type: PerfType.HARDWARE, config: t.config!, period: t.count!, name: t.event! });
    case 'usdt':
      return attachUprobe(program, { path: t.path!, offset: t.offset!, ...(t.usdt!.semaphoreOffset !== undefined ? { refCounterOffset: t.usdt!.semaphoreOffset } : {}), ...(pid !== undefined ? { pid } : {}) });
  }
}

function loadFailure(compiled: CompiledScript, error: unknown): TraceRuntimeError | TraceError {
  const tracing = compiled.probes.find((p) => p.target.kind === 'fentry' || p.target.kind === 'fexit');
  if (tracing !== undefined) return attachFailure(tracing, error);
  const refusal = kernelRefusal(error);
  if (refusal !== undefined && compiled.spec.programs[refusal.program] !== undefined) {
    return errorAtInstruction(compiled, refusal.program, refusal.insnIndex, `the kernel's verifier refused the code generated here (program ${refusal.program}, insn ${refusal.insnIndex}): ${refusal.reason}`);
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new TraceRuntimeError(`loading the generated programs failed: ${reason}`, { cause: error });
}

/** The program, instruction and reason of a kernel verifier rejection, from its log (the last `N: (op) ...` line is the refused instruction). */
function kernelRefusal(error: unknown): { program: string; insnIndex: number; reason: string } | undefined {
  if (!(error instanceof BpfSyscallError) || error.command !== 'PROG_LOAD' || error.log === undefined) return undefined;
  const program = /program '([^']+)'/.exec(error.message)?.[1];
  const lines = error.log.trimEnd().split('\n');
  let last = lines.length - 1;
  while (last >= 0 && !/^\d+: \(/.test(lines[last]!)) last--;
  if (program === undefined || last < 0) return undefined;
  const reason = lines.slice(last + 1).find((line) => line.trim() !== '' && !/^processed \d+ insns/.test(line)) ?? lines[last]!;
  return { program, insnIndex: Number(/^(\d+):/.exec(lines[last]!)![1]), reason };
}

/**
 * tsbpf's verifier on every generated program; the first rejection is a
 * TraceError at the script line the refused instruction was generated
 * from (the verifier's own report follows it).
 */
function verifyScript(compiled: CompiledScript): Record<string, VerifyResult> {
  const results = verifyCollection(compiled.spec, { logLevel: 1 });
  for (const [name, result] of Object.entries(results)) {
    try {
      assertAccepted(name, result);
    } catch (error) {
      const refusal = result.error;
      if (refusal === undefined) throw error;
      throw errorAtInstruction(compiled, name, refusal.insnIndex, `tsbpf's verifier refused the code generated here (program ${name}, insn ${refusal.insnIndex}): ${refusal.message.split('\n').at(-1)}`);
    }
  }
  return results;
}

/** bpftrace -v's block for one program (its id and the kernel's last log line), then tsbpf's verifier's line. */
function verifierStatistics(program: KernelProgram, ours: VerifyResult | undefined): string {
  const kernelLine = program.verifierLog.trimEnd().split('\n').at(-1) ?? '';
  const oursLine = ours === undefined ? '' : `tsbpf's verifier: processed ${ours.processedInsns} insns max_states_per_insn ${ours.maxStatesPerInsn} total_states ${ours.totalStates} peak_states ${ours.peakStates}\n`;
  return `\nProgram ID: ${programInfo(program.fd).id}\n\nThe verifier log: \n${kernelLine}\n${oursLine}`;
}

/** Runs a compiled script in the kernel until exit(), Ctrl-C (the signal), the duration or the command's end. */
export async function runInKernel(compiled: CompiledScript, options: KernelRunOptions): Promise<TraceSession> {
  const verified = options.verify === false ? {} : verifyScript(compiled);
  // kprobes: fail before loading anything when the kernel has no kprobe PMU.
  const kprobe = compiled.probes.find((p) => p.target.kind === 'kprobe' || p.target.kind === 'kretprobe');
  if (kprobe !== undefined && !existsSync('/sys/bus/event_source/devices/kprobe/type')) {
    throw attachFailure(kprobe, new NotSupportedError('this kernel has no kprobe PMU: CONFIG_KPROBE_EVENTS is not built in'));
  }
  const hardware = compiled.probes.find((p) => p.target.kind === 'hardware');
  if (hardware !== undefined && !existsSync('/sys/bus/event_source/devices/cpu')) {
    throw attachFailure(hardware, new NotSupportedError('this machine has no hardware performance counters (no CPU PMU in /sys/bus/event_source/devices): use a software event such as software:cpu-clock instead'));
  }
  let collection: KernelCollection;
  try {
    collection = loadCollection(compiled.spec, options.verbose ? { logLevel: 1 } : {});
  } catch (error) {
    throw loadFailure(compiled, error);
  }
  const links: Link[] = [];
  let reader: RingBufferReader | undefined;
  try {
    const ringbuf = collection.maps[RINGBUF_MAP];
    if (ringbuf !== undefined) reader = new RingBufferReader(ringbuf);
    const cpus = possibleCpus();
    const loaded: LoadedScript = {
      map: (name) => collection.maps[name],
      program: (name) => collection.programs[name]!,
      poll: (callback, max) => reader?.poll(callback, max) ?? 0,
      wait: async (ms) => {
        if (reader === undefined) await new Promise((resolve) => setTimeout(resolve, ms));
        else await reader.wait(ms);
      },
      cpus,
    };
    const session = new TraceSession(compiled, loaded, options);
    options.write(session.attachingMessage());
    if (options.verbose) {
      for (const [name, program] of Object.entries(collection.programs)) options.verbose(verifierStatistics(program, verified[name]));
    }
    // As bpftrace: BEGIN runs before the other probes are attached, so its output (a tool's header) comes first.
    session.begin();
    for (const probe of compiled.probes) {
      try {
        const link = attachProbe(collection, probe, options.pid);
        if (link !== undefined) links.push(link);
      } catch (error) {
        if (error instanceof TsbpfError) throw attachFailure(probe, error);
        throw error;
      }
    }
    await session.loop(options.startCommand?.());
    await closeLinksConcurrently(links.splice(0), { releasePerfEventsInBackground: options.releasePerfEventsInBackground ?? true });
    session.end();
    return session;
  } finally {
    for (const link of links) link.close();
    reader?.close();
    collection.close();
  }
}
