/**
 * Running BEGIN, END and interval probes of a compiled script on tsbpf's
 * VM, without root or a kernel: scripts can be unit-tested. Probes that
 * need kernel events (tracepoints, uprobes, profile) are refused.
 */
import { RingBufMap, VmRingBufferReader } from '../maps/index.ts';
import { type EventInput, loadVmCollection } from '../vm/index.ts';
import type { BpfProgram } from '../backend/index.ts';
import { RINGBUF_MAP } from './codegen.ts';
import type { CompiledScript } from './compile.ts';
import { TraceRuntimeError } from './errors.ts';
import { type LoadedScript, type SessionOptions, TraceSession } from './session.ts';

export interface VmRunOptions extends SessionOptions {
  /** The process the probes appear to run in (pid, comm, uid...). */
  event?: EventInput;
  /** Run the programs with the WebAssembly JIT. */
  jit?: boolean;
}

const SIMULATED = new Set(['begin', 'end', 'interval']);

/** Runs a compiled script's BEGIN, interval and END probes on the VM and prints what bpftrace would. */
export async function runInVm(compiled: CompiledScript, options: VmRunOptions): Promise<TraceSession> {
  const unsupported = compiled.probes.find((p) => !SIMULATED.has(p.target.kind));
  if (unsupported !== undefined) throw new TraceRuntimeError(`${unsupported.target.name}: the VM can only run BEGIN, END and interval probes; run the script in the kernel`);
  const collection = loadVmCollection(compiled.spec, { cpus: 1, ...(options.jit ? { jit: true } : {}) });
  try {
    const ring = collection.maps[RINGBUF_MAP];
    const reader = ring instanceof RingBufMap ? new VmRingBufferReader(ring) : undefined;
    const event = options.event;
    const loaded: LoadedScript = {
      map: (name) => collection.maps[name],
      program: (name): BpfProgram => {
        const program = collection.programs[name]!;
        return { type: program.type, name, run: (run) => program.run({ ...run, ...(event !== undefined ? { event } : {}) }), close: () => program.close() };
      },
      poll: (callback, max) => reader?.poll(callback, max) ?? 0,
      wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      cpus: 1,
    };
    const session = new TraceSession(compiled, loaded, options);
    options.write(session.attachingMessage());
    session.begin();
    await session.loop();
    session.end();
    return session;
  } finally {
    collection.close();
  }
}
