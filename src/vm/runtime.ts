/**
 * The VM backend's program object: a program of a given type loaded into a
 * Vm with the runtime helpers, offering the same `run({ data, ctx, repeat })`
 * as the kernel backend's BPF_PROG_TEST_RUN (src/backend/interface.ts), and
 * modelled on what the kernel's test run does for each program type
 * (net/bpf/test_run.c): the packet layout, the context fields it fills, the
 * fields it accepts in ctx_in and returns in ctx_out.
 */
import { TsbpfError } from '../errors.ts';
import { monotonicNs } from '../host/node.ts';
import type { Instruction } from '../isa/instruction.ts';
import { OPCODE_CALL } from '../isa/opcodes.ts';
import type { BpfProgram, RunOptions, RunResult } from '../backend/index.ts';
import { ProgramType } from '../uapi/enums.ts';
import { type ContextLayout, type ProgramTypeSpec, CONTEXT_LAYOUTS, programTypeSpec } from '../uapi/program-types.ts';
import { checkContextAccesses } from './context.ts';
import { describeCause } from './errors.ts';
import type { HelperRegistry } from './helper-registry.ts';
import { type EventInput, type RedirectDecision, RunEnvironment } from './helpers/environment.ts';
import { UnsupportedHelperError, helperName, installRuntimeHelpers, resolveFunctionPointers, unavailableReason } from './helpers/index.ts';
import { ETH_HLEN, type PacketBounds, PacketBuffer, SKB_HEADROOM, XDP_FRAME_BYTES, XDP_HEADROOM, XDP_TAILROOM } from './helpers/packet.ts';
import { type JitOptions, loadJit } from './jit/index.ts';
import type { VmMap } from '../maps/base.ts';
import type { Region, VmMemory } from './memory.ts';
import { type LoadedProgram, type PacketData, type RunOptions as EngineRunOptions, type RunSession, TALLIED_RETVALS, functionFrames } from './program.ts';
import { CaptureBatch, CaptureReader, LinkType, PcapError, copyBytes, toEthernet, type ByteSource, type ScanArea } from '../net/index.ts';
import { Vm } from './vm.ts';

/** A run's input the kernel would refuse (BPF_PROG_TEST_RUN's -EINVAL / -E2BIG cases), named. */
export class RunInputError extends TsbpfError {
  override name = 'RunInputError';
}

export interface VmProgramOptions {
  name?: string;
  /** The Vm to load into (its memory holds the maps the program uses); default a new one. */
  vm?: Vm;
  /** Entry points of subprograms (for the context pass), default [0]. */
  functionStarts?: readonly number[];
  /**
   * Stack bytes of each function by entry instruction, as the verifier
   * computed them (rounded to 16); others are sized from their
   * instructions. Each frame reaches exactly its size when the program runs.
   */
  frames?: ReadonlyMap<number, number>;
  /** Event data for tracing helpers, used by every run unless a run gives its own. */
  event?: EventInput;
  onTrace?: (line: string) => void;
  clock?: () => bigint;
  random?: () => number;
  /** Compile to WebAssembly (src/vm/jit) instead of interpreting; JitOptions are passed through. */
  jit?: boolean | JitOptions;
  /** Maps whose handles or values the instructions embed: held while the program is loaded, as the kernel does. */
  holds?: readonly VmMap[];
  /** Virtual CPUs of the maps the program uses: `event.cpu` must be below it (default 1). */
  cpus?: number;
}

export interface VmRunOptions extends RunOptions {
  event?: EventInput;
  /** Called before each instruction (interpreter only; see the engine's RunOptions.onStep). */
  onStep?: EngineRunOptions['onStep'];
  /**
   * Stops a repeated run between chunks of iterations (chunks of about
   * 10 ms), as the kernel's test run stops on a pending signal (-EINTR):
   * `RunInterruptedError`, carrying what was measured. A synchronous `run`
   * sees an abort made during it (by a helper or trace callback) or before
   * it; `runAsync` yields to the event loop between chunks, so timers and
   * signal handlers can abort it.
   */
  signal?: AbortSignal;
  /**
   * Most milliseconds a repeated run may take: it ends after the chunk
   * that reaches it, and `repeats` says how many runs were made.
   */
  timeLimitMs?: number;
}

export interface VmRunResult extends RunResult {
  /** trace_printk output of the run: with `repeat`, of every repetition, the last TRACE_LINES_KEPT (1000) lines (onTrace sees them all). */
  trace: string[];
  /** bpf_redirect / bpf_redirect_map decision, when the program made one. */
  redirect?: RedirectDecision;
  /** Runs made: `repeat`, or fewer when `timeLimitMs` ended the run. */
  repeats: number;
}

/**
 * A repeated run stopped by its AbortSignal (the kernel's test run returns
 * -EINTR on a pending signal); carries the measurement so far.
 */
export class RunInterruptedError extends TsbpfError {
  override name = 'RunInterruptedError';
  constructor(
    readonly program: string,
    /** Runs completed before the stop. */
    readonly repeats: number,
    /** Runs asked for. */
    readonly requested: number,
    /** Mean nanoseconds per completed run. */
    readonly durationNs: number,
    /** r0 of the last completed run (its low 32 bits). */
    readonly retval: number,
    override readonly cause: unknown,
  ) {
    super(`program '${program}': run interrupted after ${repeats} of ${requested} runs (${describeCause(cause)})`);
  }
}

/** A repeated run's stop conditions. */
interface RepeatStop {
  readonly signal: AbortSignal | undefined;
  readonly timeLimitNs: number;
}

/** The largest `repeat`: BPF_PROG_TEST_RUN's __u32, or any safe integer for a run that can be stopped (signal, timeLimitMs, runAsync). */
const MAX_KERNEL_REPEAT = 0xffffffff;
/** Time a chunk of a stoppable repeated run aims at: how late a stop can come. */
const STOPPABLE_CHUNK_NS = 10_000_000;

const XDP_MD = CONTEXT_LAYOUTS.xdp_md;
const SKB = CONTEXT_LAYOUTS.__sk_buff;
const field = (layout: ContextLayout, name: string): number => layout.fields.find((f) => f.name === name)!.offset;
const XDP_DATA = field(XDP_MD, 'data');
const XDP_DATA_END = field(XDP_MD, 'data_end');
const XDP_DATA_META = field(XDP_MD, 'data_meta');
const XDP_INGRESS_IFINDEX = field(XDP_MD, 'ingress_ifindex');
const XDP_RX_QUEUE_INDEX = field(XDP_MD, 'rx_queue_index');
const XDP_EGRESS_IFINDEX = field(XDP_MD, 'egress_ifindex');
const SKB_LEN = field(SKB, 'len');
const SKB_PROTOCOL = field(SKB, 'protocol');
const SKB_PKT_TYPE = field(SKB, 'pkt_type');
const SKB_IFINDEX = field(SKB, 'ifindex');
const SKB_WIRE_LEN = field(SKB, 'wire_len');
/** Where a context struct keeps the packet's data, data_end and data_meta (as 32-bit VM addresses). */
interface PacketFields {
  readonly data: number;
  readonly dataEnd: number;
  readonly dataMeta: number;
}
const packetFieldsOf = (layout: ContextLayout): PacketFields => ({ data: field(layout, 'data'), dataEnd: field(layout, 'data_end'), dataMeta: field(layout, 'data_meta') });
const XDP_PACKET_FIELDS = packetFieldsOf(XDP_MD);
const SKB_PACKET_FIELDS = packetFieldsOf(SKB);
/** __sk_buff fields BPF_PROG_TEST_RUN accepts in ctx_in and returns in ctx_out (convert___skb_to_skb). */
const SKB_CTX_FIELDS = ['mark', 'priority', 'ingress_ifindex', 'ifindex', 'cb', 'tstamp', 'wire_len', 'gso_segs', 'gso_size', 'hwtstamp'];
const SKB_CTX_OUT_FIELDS = SKB.fields.filter((f) => SKB_CTX_FIELDS.includes(f.name));
/** Per byte of __sk_buff: whether it lies in a field ctx_in may set. */
const SKB_CTX_IN_BYTES = new Uint8Array(SKB.size);
for (const f of SKB_CTX_OUT_FIELDS) SKB_CTX_IN_BYTES.fill(1, f.offset, f.offset + f.size);
const EMPTY = new Uint8Array(0);
/**
 * Packets in a runCapture batch by default: every packet of a 1 MiB read
 * of common traffic, so that what is done per batch (the engine's set-up,
 * a consumer's turn) is done about once per read.
 */
const DEFAULT_CAPTURE_BATCH = 16384;
/** The counters of VmBatchResult.verdicts: one per return value below TALLIED_RETVALS, one for the rest. */
const VERDICT_COUNTERS = TALLIED_RETVALS + 1;
/** Most runs handed to the engine at once (a WebAssembly i32 count). */
const REPEAT_CHUNK = 0x40000000;
const SKB_PROGRAM_TYPES = new Set<number>([ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.CGROUP_SKB, ProgramType.LWT_IN, ProgramType.LWT_OUT, ProgramType.LWT_XMIT, ProgramType.LWT_SEG6LOCAL]);
/** Program types whose skb starts at the network header (the kernel pushes the MAC header back only for tc). */
const L2_SKB_TYPES = new Set<number>([ProgramType.SCHED_CLS, ProgramType.SCHED_ACT]);
/** BPF_PROG_TEST_RUN refuses skb frames whose IP header is shorter than the fixed header (measured on Linux 6.18). */
const NETWORK_HEADER_BYTES: Partial<Record<number, { name: string; bytes: number }>> = {
  0x0800: { name: 'IPv4', bytes: 20 },
  0x86dd: { name: 'IPv6', bytes: 40 },
};
const LOOPBACK_IFINDEX = 1;
const PACKET_HOST = 0;
const PACKET_BROADCAST = 1;
const PACKET_MULTICAST = 2;
const PACKET_OTHERHOST = 3;

/** Refuses a program calling helpers the registry lacks, naming each and why it cannot exist in user space. */
function checkHelpers(name: string, instructions: readonly Instruction[], registry: HelperRegistry): void {
  const missing: { id: number; name: string; index: number; reason: string }[] = [];
  instructions.forEach((i, index) => {
    if (i.opcode === OPCODE_CALL && i.src === 0 && registry.helper(i.imm) === undefined) {
      const helper = helperName(i.imm);
      missing.push({ id: i.imm, name: helper, index, reason: unavailableReason(helper) });
    }
  });
  if (missing.length > 0) throw new UnsupportedHelperError(name, missing);
}

let nextProgramId = 1;
const livePrograms = new Map<number, VmProgram>();

/** The open VmProgram with this id (the VM's stand-in for a program fd in prog array values). */
export function vmProgramById(id: number): VmProgram | undefined {
  return livePrograms.get(id);
}

export class VmProgram implements BpfProgram {
  readonly name: string;
  readonly spec: ProgramTypeSpec;
  readonly vm: Vm;
  /** Stands in for the program's fd/id: prog array values written from user space hold it. */
  readonly id: number;
  /** The program in its engine (interpreter or JIT): what prog arrays hold as tail call targets. */
  readonly loaded: LoadedProgram;
  private readonly releaseFunctionPointers: () => void;
  /** Lets go of the maps the program holds (options.holds). */
  private readonly mapReleases: Array<() => void> = [];
  private closed = false;
  /** Packet and context memory reused from run to run (see RunWorkspace). */
  private workspace: RunWorkspace | undefined;
  /** The environment of runs without an event or clock of their own (reset before each). */
  private plainEnvironment: RunEnvironment | undefined;
  private running = false;
  /** The current run's RunOptions.onStep (set by run, read by execute). */
  private onStep: VmRunOptions['onStep'];
  /** The current run's stop conditions (signal, timeLimitMs), read by execute. */
  private stop: RepeatStop | undefined;
  /** Runs the current run has made (VmRunResult.repeats). */
  private repeats = 0;

  constructor(
    readonly type: number,
    instructions: readonly Instruction[],
    private readonly options: VmProgramOptions = {},
  ) {
    installRuntimeHelpers();
    const spec = programTypeSpec(type);
    if (spec === undefined) throw new RunInputError(`program type ${type} is unknown`);
    this.spec = spec;
    this.name = options.name ?? 'program';
    this.vm = options.vm ?? new Vm();
    checkHelpers(this.name, instructions, this.vm.helpers);
    checkContextAccesses(instructions, spec, options.functionStarts);
    const jit = options.jit === true ? {} : options.jit === false ? undefined : options.jit;
    const frames = functionFrames(instructions, options.frames);
    const load = (code: readonly Instruction[], shift = 0): LoadedProgram => {
      // A callback's trampoline puts `shift` instructions of its own, which use no stack, in front of the program.
      const shifted = shift === 0 ? frames : new Map([[0, 0], ...[...frames].map(([entry, bytes]): [number, number] => [entry + shift, bytes])]);
      return jit !== undefined ? loadJit(this.vm, code, { ...jit, name: this.name, frames: shifted }) : this.vm.load(code, { name: this.name, frames: shifted });
    };
    const resolved = resolveFunctionPointers(this.vm.memory, this.name, instructions, load);
    this.releaseFunctionPointers = resolved.release;
    try {
      this.loaded = load(resolved.instructions);
    } catch (error) {
      resolved.release();
      throw error;
    }
    for (const map of options.holds ?? []) this.mapReleases.push(map.hold());
    this.id = nextProgramId++;
    livePrograms.set(this.id, this);
  }

  /** The engine that runs the program. */
  get engine(): 'interpreter' | 'jit' {
    return this.loaded.engine;
  }

  run(options: VmRunOptions = {}): VmRunResult {
    return this.runAt(options, undefined);
  }

  /**
   * `run` that yields to the event loop about every 10 ms of a repeated
   * run, so that `signal` (an AbortController a SIGINT handler or a timer
   * aborts) can stop it: then `RunInterruptedError` with the measurement so
   * far. `repeat` may be any safe integer. Each stretch between yields is
   * one `run` with its own set-up: maps carry over from stretch to
   * stretch, the packet and context start afresh from `data`/`ctx` (within
   * a stretch each repetition sees what the previous one left, as in
   * `run`). The result is the last stretch's, with the mean duration and
   * the total `repeats` of all.
   */
  async runAsync(options: VmRunOptions = {}): Promise<VmRunResult> {
    const repeat = options.repeat ?? 1;
    this.checkRepeat(repeat, { ...options, timeLimitMs: options.timeLimitMs ?? 0 });
    const signal = options.signal;
    const deadline = options.timeLimitMs === undefined ? Infinity : Number(monotonicNs()) + options.timeLimitMs * 1e6;
    let done = 0;
    let totalNs = 0;
    let last: VmRunResult | undefined;
    for (;;) {
      if (signal?.aborted === true) throw new RunInterruptedError(this.name, done, repeat, done === 0 ? 0 : Math.floor(totalNs / done), last?.retval ?? 0, signal.reason);
      let result: VmRunResult;
      try {
        const left = Math.max(0, deadline - Number(monotonicNs()));
        result = this.run({ ...options, repeat: Math.max(1, repeat - done), timeLimitMs: Math.min(STOPPABLE_CHUNK_NS, left) / 1e6 });
      } catch (error) {
        if (!(error instanceof RunInterruptedError)) throw error;
        const runs = done + error.repeats;
        throw new RunInterruptedError(this.name, runs, repeat, runs === 0 ? 0 : Math.floor((totalNs + error.durationNs * error.repeats) / runs), error.retval, error.cause);
      }
      done += result.repeats;
      totalNs += result.durationNs * result.repeats;
      last = result;
      if (done >= repeat || Number(monotonicNs()) >= deadline) return { ...result, durationNs: Math.floor(totalNs / done), repeats: done };
      // A macrotask: signal handlers and timers run before the next stretch (setTimeout, which browsers have too).
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
  }

  /** @internal `run` with the program's clock replaced by `clock` (the streaming path's per-packet clock). */
  runAt(options: VmRunOptions, clock: (() => bigint) | undefined): VmRunResult {
    if (this.closed) throw new RunInputError(`program '${this.name}' is closed`);
    const repeat = options.repeat ?? 1;
    this.checkRepeat(repeat, options);
    if (options.signal?.aborted === true) throw new RunInterruptedError(this.name, 0, repeat, 0, 0, options.signal.reason);
    this.onStep = options.onStep;
    this.stop = options.signal !== undefined || options.timeLimitMs !== undefined ? { signal: options.signal, timeLimitNs: options.timeLimitMs === undefined ? Infinity : options.timeLimitMs * 1e6 } : undefined;
    this.repeats = 0;
    // A run started from inside a run (a trace callback calling run) gets memory of its own.
    const nested = this.running;
    // The environment of a plain run is kept from run to run: making one costs about as much as running a short program.
    const env = nested || options.event !== undefined || clock !== undefined ? this.environment(options.event, clock) : (this.plainEnvironment ??= this.environment(undefined));
    env.reset();
    const workspace = nested ? new RunWorkspace(this.vm.memory) : (this.workspace ??= new RunWorkspace(this.vm.memory));
    this.running = true;
    const outerScope = this.vm.memory.enterRun();
    try {
      if (this.type === ProgramType.XDP) return this.runXdp(options, env, Math.max(1, repeat), workspace);
      if (SKB_PROGRAM_TYPES.has(this.type)) return this.runSkb(options, env, Math.max(1, repeat), workspace);
      return this.runRaw(options, env, Math.max(1, repeat), workspace);
    } finally {
      workspace.endRun();
      this.vm.memory.leaveRun(outerScope);
      if (nested) workspace.release();
      else this.running = false;
    }
  }

  /**
   * Runs the program once on each packet, as `run({ data })` would (same
   * verdicts, packets and redirects), through the streaming path: for XDP
   * one engine set-up for the whole batch, each packet copied into the same
   * frame with only its bounds rewritten in the context; other types run
   * packet by packet. An input the test run refuses (a frame too short or
   * too long) is reported in `errors`, not thrown; an error of the program
   * itself (a bad access...) is thrown.
   */
  runBatch(packets: readonly Uint8Array[], options: VmBatchOptions & { timestamps?: ArrayLike<bigint> } = {}): VmBatchResult {
    const timestamps = options.timestamps;
    if (timestamps !== undefined && timestamps.length !== packets.length) throw new RunInputError(`runBatch: ${timestamps.length} timestamps for ${packets.length} packets (one per packet is needed)`);
    const result: VmBatchResult = { retvals: new Uint32Array(packets.length), errors: new Map(), redirects: new Map(), durationNs: 0 };
    if (options.output) result.data = new Array<Uint8Array | undefined>(packets.length).fill(undefined);
    const start = monotonicNs();
    const clock = timestamps === undefined ? undefined : new PacketClock();
    const stream = this.openStream(options.event, clock);
    try {
      const output = options.output === true;
      for (let n = 0; n < packets.length; n++) {
        if (clock !== undefined) clock.now = timestamps![n]!;
        stream.runOne(packets[n]!, 0, packets[n]!.length, n, result, output);
      }
    } finally {
      stream.close();
    }
    result.durationNs = Number(monotonicNs() - start);
    return result;
  }

  /**
   * Runs the program over every packet of a capture (pcap or pcapng, a
   * path, bytes or a stream of chunks; src/net), streamed in batches through
   * the path of `runBatch`. Frames of other link types are converted to
   * Ethernet first (a packet that cannot be is in `errors`). Yields one
   * result per batch, valid until the next one is asked for. With
   * `captureClock`, the program's clock (bpf_ktime_get_ns and its
   * variants) reads each packet's capture timestamp while it runs, so that
   * rates and timeouts follow the capture's timeline. A batch holds at most
   * `batchSize` packets (default DEFAULT_CAPTURE_BATCH, 16384), and no more
   * than were read at once (a file is read 1 MiB at a time).
   */
  async *runCapture(source: ByteSource, options: VmBatchOptions & { batchSize?: number; captureClock?: boolean } = {}): AsyncGenerator<VmCaptureBatch, void, undefined> {
    const reader = await CaptureReader.open(source);
    const capacity = options.batchSize ?? DEFAULT_CAPTURE_BATCH;
    const batch = new CaptureBatch(capacity);
    const result: VmCaptureBatch = { packets: batch, retvals: new Uint32Array(capacity), errors: new Map(), redirects: new Map(), durationNs: 0 };
    const output = options.output === true;
    const clock = options.captureClock === true ? new PacketClock() : undefined;
    const area = new CaptureArea(this.vm.memory);
    try {
      while ((await reader.readBatch(batch, area)) > 0) {
        result.errors.clear();
        result.redirects.clear();
        result.verdicts = undefined;
        if (output) result.data = new Array<Uint8Array | undefined>(batch.count).fill(undefined);
        const start = monotonicNs();
        const stream = this.openStream(options.event, clock);
        try {
          const bytes = batch.bytes;
          if (stream instanceof XdpStream && allEthernet(batch)) {
            stream.runCaptureBatch(batch, result, output, this.workspace!, clock);
          } else for (let n = 0; n < batch.count; n++) {
            if (clock !== undefined) clock.now = batch.timestamp(n);
            const linkType = batch.linkType[n]!;
            if (linkType === LinkType.ETHERNET) stream.runOne(bytes, batch.start[n]!, batch.start[n]! + batch.length[n]!, n, result, output);
            else {
              let frame: Uint8Array;
              try {
                frame = toEthernet(linkType, batch.data(n), `packet at offset ${batch.offset[n]}`);
              } catch (error) {
                if (!(error instanceof PcapError)) throw error;
                result.retvals[n] = 0;
                result.errors.set(n, error);
                continue;
              }
              stream.runOne(frame, 0, frame.length, n, result, output);
            }
          }
        } finally {
          stream.close();
        }
        result.durationNs = Number(monotonicNs() - start);
        yield result;
      }
    } finally {
      area.release();
      await reader.close();
    }
  }

  /** The streaming path's runner: one engine session for XDP, plain runs for the other types. */
  private openStream(event: EventInput | undefined, clock: PacketClock | undefined): PacketStream {
    if (this.closed) throw new RunInputError(`program '${this.name}' is closed`);
    if (this.type !== ProgramType.XDP || this.running) return new PerPacketStream(this, event, clock?.read);
    const env = this.environment(event, clock?.read);
    this.running = true;
    const memory = this.vm.memory;
    const outerScope = memory.enterRun();
    try {
      return new XdpStream(this, (this.workspace ??= new RunWorkspace(memory)), env, () => {
        memory.leaveRun(outerScope);
        this.running = false;
      });
    } catch (error) {
      memory.leaveRun(outerScope);
      this.running = false;
      throw error;
    }
  }

  /** The environment of a run: the event's data, the program's trace, clock (or `clock`) and random sources. */
  private environment(runEvent: EventInput | undefined, clock?: () => bigint): RunEnvironment {
    const event = runEvent ?? this.options.event ?? {};
    const cpus = this.options.cpus ?? 1;
    if (event.cpu !== undefined && (!Number.isInteger(event.cpu) || event.cpu < 0 || event.cpu >= cpus)) {
      throw new RunInputError(`event.cpu ${event.cpu} is not a CPU of this VM (0..${cpus - 1}; set cpus when loading)`);
    }
    return new RunEnvironment({
      ...event,
      onTrace: this.options.onTrace,
      clock: clock ?? this.options.clock,
      random: this.options.random,
    });
  }

  private checkContextSize(ctx: Uint8Array, size: number, struct: string): void {
    if (ctx.length > size && ctx.subarray(size).some((b) => b !== 0)) {
      throw new RunInputError(`ctx is ${ctx.length} bytes, larger than ${struct} (${size} bytes) with non-zero bytes past its end (the kernel's -E2BIG)`);
    }
  }

  /**
   * `run`'s repeat (BPF_PROG_TEST_RUN's __u32), or any safe integer when
   * the run can be stopped (RunOptions.signal or timeLimitMs).
   */
  private checkRepeat(repeat: number, options: VmRunOptions): void {
    const stoppable = options.signal !== undefined || options.timeLimitMs !== undefined;
    if (!Number.isSafeInteger(repeat) || repeat < 0) throw new RunInputError(`repeat must be a non-negative integer, got ${repeat}`);
    if (repeat > MAX_KERNEL_REPEAT && !stoppable) throw new RunInputError(`repeat ${repeat} is more than 2^32-1 (BPF_PROG_TEST_RUN's __u32): give a signal or timeLimitMs so that the run can be stopped, or use runAsync`);
    const limit = options.timeLimitMs;
    if (limit !== undefined && !(Number.isFinite(limit) && limit >= 0)) throw new RunInputError(`timeLimitMs must be a non-negative number of milliseconds, got ${limit}`);
  }

  private execute(contextAddress: number, env: RunEnvironment, repeat: number, packet?: PacketData): { retval: number; durationNs: number } {
    env.contextAddress = contextAddress;
    const runOptions = { r1: contextAddress, context: env, packet, onStep: this.onStep };
    if (this.stop !== undefined && repeat > 1) return this.executeStoppable(runOptions, repeat, this.stop);
    let r0 = 0n;
    // The engine loops (one WebAssembly call, or one interpreter set-up, per chunk); the duration is the mean over the measured total.
    const start = monotonicNs();
    if (repeat === 1) r0 = this.loaded.run(runOptions).r0;
    else for (let left = repeat; left > 0; left -= REPEAT_CHUNK) r0 = this.loaded.runRepeated(runOptions, Math.min(left, REPEAT_CHUNK)).r0;
    const durationNs = Math.floor(Number(monotonicNs() - start) / repeat);
    this.repeats = repeat;
    return { retval: Number(BigInt.asUintN(32, r0)), durationNs };
  }

  /**
   * A repeated run that can be stopped: the engine loops over chunks sized
   * to take about STOPPABLE_CHUNK_NS each (from one run, doubling until the
   * time per run is known); between chunks the signal and the time limit
   * are checked.
   */
  private executeStoppable(runOptions: EngineRunOptions, repeat: number, stop: RepeatStop): { retval: number; durationNs: number } {
    const start = monotonicNs();
    let done = 0;
    let chunk = 1;
    let r0 = 0n;
    const measured = (): number => (done === 0 ? 0 : Math.floor(Number(monotonicNs() - start) / done));
    while (done < repeat) {
      if (stop.signal?.aborted === true) throw new RunInterruptedError(this.name, done, repeat, measured(), Number(BigInt.asUintN(32, r0)), stop.signal.reason);
      const n = Math.min(chunk, repeat - done, REPEAT_CHUNK);
      const before = monotonicNs();
      r0 = n === 1 ? this.loaded.run(runOptions).r0 : this.loaded.runRepeated(runOptions, n).r0;
      done += n;
      this.repeats = done;
      const now = monotonicNs();
      const elapsed = Number(now - start);
      if (elapsed >= stop.timeLimitNs) break;
      const perRun = Number(now - before) / n;
      const target = Math.min(STOPPABLE_CHUNK_NS, stop.timeLimitNs - elapsed);
      chunk = perRun <= 0 ? chunk * 2 : Math.max(1, Math.min(chunk * 2, Math.floor(target / perRun)));
    }
    return { retval: Number(BigInt.asUintN(32, r0)), durationNs: measured() };
  }

  private runXdp(options: VmRunOptions, env: RunEnvironment, repeat: number, workspace: RunWorkspace): VmRunResult {
    const data = options.data ?? EMPTY;
    let metaLength = 0;
    let ingress = LOOPBACK_IFINDEX;
    let rxQueue = 0;
    if (options.ctx !== undefined) {
      this.checkContextSize(options.ctx, XDP_MD.size, 'struct xdp_md');
      const ctx = new Uint8Array(XDP_MD.size);
      ctx.set(options.ctx.subarray(0, XDP_MD.size));
      const view = new DataView(ctx.buffer);
      const dataField = view.getUint32(XDP_DATA, true);
      const dataEnd = view.getUint32(XDP_DATA_END, true);
      if (view.getUint32(XDP_DATA_META, true) !== 0) throw new RunInputError('xdp_md.data_meta must be 0 in ctx_in');
      if (dataEnd !== data.length) throw new RunInputError(`xdp_md.data_end is ${dataEnd}, but data is ${data.length} bytes`);
      if (dataField > dataEnd || dataField % 4 !== 0 || dataField > 252) throw new RunInputError(`xdp_md.data ${dataField} is not a valid metadata length (a multiple of 4, at most 252, within data)`);
      if (view.getUint32(XDP_EGRESS_IFINDEX, true) !== 0) throw new RunInputError('xdp_md.egress_ifindex must be 0 in ctx_in');
      metaLength = dataField;
      ingress = view.getUint32(XDP_INGRESS_IFINDEX, true) || LOOPBACK_IFINDEX;
      rxQueue = view.getUint32(XDP_RX_QUEUE_INDEX, true);
    }
    const lengthError = xdpLengthError(data.length, metaLength);
    if (lengthError !== undefined) throw lengthError;
    const packet = workspace.loadPacket('xdp', data, XDP_HEADROOM - metaLength, XDP_TAILROOM, XDP_FRAME_BYTES);
    if (metaLength > 0) packet.setBounds({ dataMeta: packet.dataMeta, data: packet.dataMeta + metaLength, dataEnd: packet.dataEnd });
    const context = workspace.mapContext(XDP_MD.size, XDP_MD.struct, false);
    const view = this.vm.memory.view;
    view.setUint32(context + XDP_INGRESS_IFINDEX, ingress, true);
    view.setUint32(context + XDP_RX_QUEUE_INDEX, rxQueue, true);
    const { retval, durationNs } = this.runOnPacket(packet, context, XDP_PACKET_FIELDS, env, repeat);
    const result: VmRunResult = { retval, durationNs, data: packet.read(true), trace: env.traceLines(), repeats: this.repeats };
    if (options.ctx !== undefined) {
      const out = new DataView(new ArrayBuffer(XDP_MD.size));
      out.setUint32(XDP_DATA, packet.metaLength, true);
      out.setUint32(XDP_DATA_END, packet.dataEnd - packet.dataMeta, true);
      out.setUint32(XDP_INGRESS_IFINDEX, ingress, true);
      out.setUint32(XDP_RX_QUEUE_INDEX, rxQueue, true);
      result.ctx = new Uint8Array(out.buffer);
    }
    if (env.redirect !== undefined) result.redirect = env.redirect;
    return result;
  }

  private runSkb(options: VmRunOptions, env: RunEnvironment, repeat: number, workspace: RunWorkspace): VmRunResult {
    const data = options.data ?? EMPTY;
    if (data.length < ETH_HLEN) throw new RunInputError(`skb data is ${data.length} bytes, shorter than an Ethernet header (${ETH_HLEN})`);
    const etherType = (data[12]! << 8) | data[13]!;
    const networkHeader = NETWORK_HEADER_BYTES[etherType];
    if (networkHeader !== undefined && data.length < ETH_HLEN + networkHeader.bytes) {
      throw new RunInputError(`skb data is ${data.length} bytes: an ${networkHeader.name} frame needs at least ${ETH_HLEN + networkHeader.bytes} (Ethernet + ${networkHeader.bytes}-byte ${networkHeader.name} header; the kernel's -EINVAL)`);
    }
    if (options.ctx !== undefined) {
      this.checkContextSize(options.ctx, SKB.size, 'struct __sk_buff');
      const ctxIn = options.ctx.subarray(0, SKB.size);
      for (let o = 0; o < ctxIn.length; o++) {
        if (ctxIn[o] !== 0 && !SKB_CTX_IN_BYTES[o]) {
          const f = SKB.fields.find((g) => o >= g.offset && o < g.offset + g.size);
          if (f !== undefined) throw new RunInputError(`__sk_buff.${f.name} must be zero in ctx_in (BPF_PROG_TEST_RUN accepts only ${SKB_CTX_FIELDS.join(', ')})`);
        }
      }
    }
    const l2 = L2_SKB_TYPES.has(this.type);
    const memory = this.vm.memory;
    const packet = workspace.loadPacket('skb', data, SKB_HEADROOM, 0, 0);
    if (!l2) packet.setBounds({ dataMeta: packet.data + ETH_HLEN, data: packet.data + ETH_HLEN, dataEnd: packet.dataEnd });
    const writable = this.spec.access !== undefined && this.spec.access.write.length > 0;
    const context = workspace.mapContext(SKB.size, SKB.struct, writable);
    if (options.ctx !== undefined) memory.u8.set(options.ctx.subarray(0, SKB.size), context);
    const view = memory.view;
    view.setUint32(context + SKB_LEN, packet.length, true);
    view.setUint32(context + SKB_PROTOCOL, ((etherType & 0xff) << 8) | (etherType >> 8), true);
    view.setUint32(context + SKB_PKT_TYPE, packetType(data), true);
    if (view.getUint32(context + SKB_IFINDEX, true) === 0) view.setUint32(context + SKB_IFINDEX, LOOPBACK_IFINDEX, true);
    if (view.getUint32(context + SKB_WIRE_LEN, true) === 0) view.setUint32(context + SKB_WIRE_LEN, packet.length, true);
    // LD_ABS / LD_IND read the linear data from skb->data, and the headers through SKF_NET_OFF / SKF_LL_OFF.
    const legacy: PacketData = { start: packet.data, length: packet.length, macHeader: packet.macHeader, networkHeader: packet.macHeader + ETH_HLEN };
    const { retval, durationNs } = this.runOnPacket(packet, context, SKB_PACKET_FIELDS, env, repeat, legacy);
    const output = copyBytes(memory.u8, packet.macHeader, packet.dataEnd);
    // Programs that start at L3 get the frame back with a zeroed Ethernet header, as the kernel returns it.
    if (!l2) output.fill(0, 0, ETH_HLEN);
    const result: VmRunResult = { retval, durationNs, data: output, trace: env.traceLines(), repeats: this.repeats };
    if (options.ctx !== undefined) {
      const out = new Uint8Array(SKB.size);
      const u8 = memory.u8;
      for (const f of SKB_CTX_OUT_FIELDS) out.set(u8.subarray(context + f.offset, context + f.offset + f.size), f.offset);
      result.ctx = out;
    }
    if (env.redirect !== undefined) result.redirect = env.redirect;
    return result;
  }

  /**
   * Runs the program on `packet` with its context at `context`: the context's data, data_end and
   * data_meta `fields` follow the packet's bounds as helpers move them. The caller's workspace
   * unmaps the packet and context however the run ends.
   */
  private runOnPacket(packet: PacketBuffer, context: number, fields: PacketFields, env: RunEnvironment, repeat: number, legacy?: PacketData): { retval: number; durationNs: number } {
    const memory = this.vm.memory;
    // memory.view is re-read on every change: a helper may grow the memory during the run.
    packet.onBoundsChange = (b): void => writePacketBounds(memory.view, context, fields, b);
    writePacketBounds(memory.view, context, fields, packet);
    env.packet = packet;
    return this.execute(context, env, repeat, legacy);
  }

  /** Tracing and other programs: the ctx bytes are the context as they are (a tracepoint record, pt_regs, raw tp args). */
  private runRaw(options: VmRunOptions, env: RunEnvironment, repeat: number, workspace: RunWorkspace): VmRunResult {
    const ctx = options.ctx ?? EMPTY;
    if (options.data !== undefined && options.data.length > 0) throw new RunInputError(`${this.spec.name} programs take no data, only ctx`);
    if (ctx.length > this.spec.contextSize) throw new RunInputError(`ctx is ${ctx.length} bytes, more than the ${this.spec.contextSize} a ${this.spec.name} context has`);
    const memory = this.vm.memory;
    const context = workspace.mapContext(Math.max(ctx.length, 1), `${this.spec.name} context`, true);
    memory.u8.set(ctx, context);
    const { retval, durationNs } = this.execute(context, env, repeat);
    const result: VmRunResult = { retval, durationNs, trace: env.traceLines(), repeats: this.repeats };
    if (options.ctx !== undefined) result.ctx = memory.u8.slice(context, context + ctx.length);
    return result;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    livePrograms.delete(this.id);
    for (const release of this.mapReleases) release();
    this.releaseFunctionPointers();
    this.workspace?.release();
    this.workspace = undefined;
  }
}

/**
 * The memory a VmProgram's runs use, kept from run to run: one packet frame
 * and one context block, each grown to the largest size needed so far.
 * Between runs nothing is mapped, so only a run can reach them.
 */
class RunWorkspace {
  private packet: PacketBuffer | undefined;
  private contextStart = 0;
  private contextCapacity = 0;
  private contextRegion: Region | undefined;
  private lastContextRegion: Region | undefined;

  constructor(private readonly memory: VmMemory) {}

  /** The run's packet: `data` after `headroom` zeroed bytes in a zeroed frame, [data, data_end) mapped. */
  loadPacket(kind: 'xdp' | 'skb', data: Uint8Array, headroom: number, tailroom: number, minimumFrame: number): PacketBuffer {
    if (this.packet === undefined || this.packet.kind !== kind) {
      this.packet?.release();
      this.packet = new PacketBuffer(this.memory, data, kind, headroom, tailroom, minimumFrame);
    } else this.packet.reload(data, headroom, tailroom, minimumFrame);
    return this.packet;
  }

  /** Maps `size` zeroed bytes as the run's context region and returns their address. */
  mapContext(size: number, name: string, writable: boolean): number {
    const memory = this.memory;
    if (size > this.contextCapacity) {
      if (this.contextCapacity > 0) memory.release(this.contextStart, this.contextCapacity);
      this.contextStart = memory.allocate(size);
      this.contextCapacity = size;
    } else memory.u8.fill(0, this.contextStart, this.contextStart + size);
    // The same Region object for the same mapping: the JIT's region table is then left as it is.
    let region = this.lastContextRegion;
    if (region === undefined || region.start !== this.contextStart || region.size !== size || region.writable !== writable || region.name !== name) {
      region = this.lastContextRegion = { start: this.contextStart, size, kind: 'context', writable, name };
    }
    this.contextRegion = memory.map(region);
    return this.contextStart;
  }

  /** Unmaps what the run mapped (the memory is kept for the next run). */
  endRun(): void {
    this.packet?.unmap();
    if (this.contextRegion !== undefined) this.memory.unmap(this.contextRegion);
    this.contextRegion = undefined;
  }

  release(): void {
    this.endRun();
    this.packet?.release();
    this.packet = undefined;
    if (this.contextCapacity > 0) this.memory.release(this.contextStart, this.contextCapacity);
    this.contextCapacity = 0;
    if (this.stagingCapacity > 0) this.memory.release(this.stagingStart, this.stagingCapacity);
    this.stagingCapacity = 0;
    if (this.scratchCapacity > 0) this.memory.release(this.scratchStart, this.scratchCapacity);
    this.scratchCapacity = 0;
  }

  private stagingStart = 0;
  private stagingCapacity = 0;
  private scratchStart = 0;
  private scratchCapacity = 0;

  /** `bytes` of unmapped VM memory for the streaming path's bookkeeping, kept from batch to batch. */
  scratch(bytes: number): number {
    if (bytes > this.scratchCapacity) {
      if (this.scratchCapacity > 0) this.memory.release(this.scratchStart, this.scratchCapacity);
      this.scratchCapacity = Math.max(bytes, 2 * this.scratchCapacity);
      this.scratchStart = this.memory.allocate(this.scratchCapacity);
    }
    return this.scratchStart;
  }

  /**
   * `bytes` copied into VM memory that no program can reach (allocated, never
   * mapped), for the streaming path to copy packets from within the memory;
   * returns their address. The area is kept for the next batch.
   */
  stage(bytes: Uint8Array): number {
    if (bytes.length > this.stagingCapacity) {
      if (this.stagingCapacity > 0) this.memory.release(this.stagingStart, this.stagingCapacity);
      this.stagingCapacity = Math.max(bytes.length, 2 * this.stagingCapacity);
      this.stagingStart = this.memory.allocate(this.stagingCapacity);
    }
    this.memory.u8.set(bytes, this.stagingStart);
    return this.stagingStart;
  }
}

/** BPF_PROG_TEST_RUN's limits on an XDP frame: an Ethernet header after the metadata, and room in one page. */
function xdpLengthError(length: number, metaLength: number): RunInputError | undefined {
  if (length - metaLength < ETH_HLEN) return new RunInputError(`XDP data is ${length - metaLength} bytes, shorter than an Ethernet header (${ETH_HLEN})`);
  if (length > XDP_MAX_DATA) return new RunInputError(`XDP data of ${length} bytes does not fit a ${XDP_FRAME_BYTES}-byte frame`);
  return undefined;
}
const XDP_MAX_DATA = XDP_FRAME_BYTES - XDP_HEADROOM - XDP_TAILROOM;

/**
 * The error of a packet of `length` bytes the streaming path refuses: data
 * in a batch's `errors`, as many as a capture has runts, so built without
 * a stack trace (which would only name this function, at the cost of
 * tens of microseconds each).
 */
function refusedPacket(length: number): RunInputError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return xdpLengthError(length, 0)!;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export interface VmBatchOptions {
  /** Return each packet as the program left it (`data`), as `run` does (default false: only the return values). */
  output?: boolean;
  /** Event data for tracing helpers (default: the program's). */
  event?: EventInput;
}

export interface VmBatchResult {
  /** Each packet's return value (0 for a refused packet). */
  retvals: Uint32Array;
  /** The packets the test run refuses (too short, too long, no Ethernet header), by index. */
  errors: Map<number, TsbpfError>;
  /** bpf_redirect / bpf_redirect_map decisions, by packet index. */
  redirects: Map<number, RedirectDecision>;
  /** With `output`: each packet after its run (undefined for a refused one). */
  data?: (Uint8Array | undefined)[];
  /**
   * Set when the engine's packet loop ran every packet of the batch
   * (runCapture with the JIT, a program that calls nothing, no refused
   * packet, no output): how many packets returned each value below 16 (the
   * index), and at index 16 how many returned a larger one. Counting
   * verdicts from it saves a loop over `retvals`.
   */
  verdicts?: Uint32Array;
  /** Wall time of the batch (set-up, copies and runs), in nanoseconds. */
  durationNs: number;
}

/** One batch of `runCapture`: the packets as read (timestamps, lengths) and their results, by index in the batch. */
export interface VmCaptureBatch extends VmBatchResult {
  packets: CaptureBatch;
}

/**
 * The VM memory where runCapture has its capture's records parsed (the
 * ScanArea of CaptureReader.readBatch): allocated, never mapped, so no
 * program reaches it but through the packet region the packet loop points
 * at the packet being run. One per runCapture call, so that streams of the
 * same program do not share it.
 */
class CaptureArea implements ScanArea {
  readonly memory: WebAssembly.Memory;
  private start = 0;
  private capacity = 0;

  constructor(private readonly vmMemory: VmMemory) {
    this.memory = vmMemory.wasm;
  }

  reserve(bytes: number): number {
    if (bytes > this.capacity) {
      // Doubled: a read buffer holding a few more bytes than the last (a record cut at its end) moves at most a few times.
      const capacity = Math.max(bytes, 2 * this.capacity);
      this.release();
      this.start = this.vmMemory.allocate(capacity);
      this.capacity = capacity;
    }
    return this.start;
  }

  release(): void {
    if (this.capacity > 0) this.vmMemory.release(this.start, this.capacity);
    this.capacity = 0;
  }
}

/** The clock of the streaming path when it follows the packets' timestamps: `now` is set before each packet runs. */
class PacketClock {
  now = 0n;
  readonly read = (): bigint => this.now;
}

/** Runs packets one after another into a batch result. */
interface PacketStream {
  /** Runs the program on `bytes[start, end)` and records the outcome as packet `n` of `result`. */
  runOne(bytes: Uint8Array, start: number, end: number, n: number, result: VmBatchResult, output: boolean): void;
  close(): void;
}

/** The general path: `run({ data })` per packet. */
class PerPacketStream implements PacketStream {
  constructor(
    private readonly program: VmProgram,
    private readonly event: EventInput | undefined,
    private readonly clock: (() => bigint) | undefined,
  ) {}

  runOne(bytes: Uint8Array, start: number, end: number, n: number, result: VmBatchResult, output: boolean): void {
    let run: VmRunResult;
    try {
      run = this.program.runAt({ data: bytes.subarray(start, end), event: this.event }, this.clock);
    } catch (error) {
      if (!(error instanceof RunInputError)) throw error;
      result.retvals[n] = 0;
      result.errors.set(n, error);
      return;
    }
    result.retvals[n] = run.retval;
    if (run.redirect !== undefined) result.redirects.set(n, run.redirect);
    if (output) result.data![n] = run.data;
  }

  close(): void {}
}

/**
 * The XDP streaming path: one context and one packet frame for the whole
 * stream, one engine session (LoadedProgram.openSession); per packet, the
 * frame is reloaded (the bytes copied, what earlier packets left zeroed)
 * and the context's data, data_end and data_meta rewritten.
 */
class XdpStream implements PacketStream {
  private readonly context: number;
  private readonly packet: PacketBuffer;
  private readonly session: RunSession;

  constructor(
    program: VmProgram,
    private readonly workspace: RunWorkspace,
    private readonly env: RunEnvironment,
    private readonly onClose: () => void,
  ) {
    const memory = program.vm.memory;
    this.packet = workspace.loadPacket('xdp', new Uint8Array(ETH_HLEN), XDP_HEADROOM, XDP_TAILROOM, XDP_FRAME_BYTES);
    this.context = workspace.mapContext(XDP_MD.size, XDP_MD.struct, false);
    memory.view.setUint32(this.context + XDP_INGRESS_IFINDEX, LOOPBACK_IFINDEX, true);
    const context = this.context;
    this.packet.onBoundsChange = (b): void => writePacketBounds(memory.view, context, XDP_PACKET_FIELDS, b);
    env.packet = this.packet;
    env.contextAddress = context;
    try {
      this.session = program.loaded.openSession({ r1: context, context: env });
    } catch (error) {
      this.close();
      throw error;
    }
  }

  runOne(bytes: Uint8Array, start: number, end: number, n: number, result: VmBatchResult, output: boolean): void {
    const length = end - start;
    if (length < ETH_HLEN || length > XDP_MAX_DATA) {
      result.retvals[n] = 0;
      result.errors.set(n, refusedPacket(length));
      return;
    }
    this.packet.reloadData(bytes, start, end);
    this.runLoaded(n, result, output);
  }

  /** As runOne, for a packet of `length` bytes at `address` in VM memory (staged, or parsed there). */
  runStaged(address: number, length: number, n: number, result: VmBatchResult, output: boolean): void {
    if (length < ETH_HLEN || length > XDP_MAX_DATA) {
      result.retvals[n] = 0;
      result.errors.set(n, refusedPacket(length));
      return;
    }
    this.packet.reloadData(this.packet.memory.u8, address, address + length);
    this.runLoaded(n, result, output);
  }

  /**
   * Runs the packets of a capture batch of Ethernet frames, from VM memory:
   * where the reader parsed them (a CaptureArea), else copied there in one
   * piece (RunWorkspace.stage). Then in one engine call when the session has
   * runPackets (the JIT, a program that calls nothing) and no output is
   * wanted, each packet run where it lies, else one by one through the
   * frame. The loop reads the batch's start and length columns where the
   * reader left them, or copies of them in unmapped VM memory
   * (RunWorkspace.scratch) when some packets are refused; results come back
   * in one copy.
   */
  runCaptureBatch(batch: CaptureBatch, result: VmBatchResult, output: boolean, workspace: RunWorkspace, clock: PacketClock | undefined): void {
    const count = batch.count;
    const memory = this.packet.memory;
    // Parsed in this VM's memory (a CaptureArea): the packets are run where they lie, else they are staged first.
    const placed = batch.placement?.memory === memory.wasm ? batch.placement : undefined;
    const first = batch.start[0]!;
    const base = placed !== undefined ? placed.bytes : workspace.stage(batch.bytes.subarray(first, batch.start[count - 1]! + batch.length[count - 1]!)) - first;
    const runPackets = this.session.runPackets;
    // The engine's packet loop is for programs that call nothing, so that read no clock.
    if (output || runPackets === undefined) {
      for (let n = 0; n < count; n++) {
        if (clock !== undefined) clock.now = batch.timestamp(n);
        this.runStaged(base + batch.start[n]!, batch.length[n]!, n, result, output);
      }
      return;
    }
    // The packets a test run takes, by index; refused ones are reported here. A batch parsed in place says whether all are taken.
    let valid: Int32Array | undefined;
    const allTaken = placed !== undefined && placed.shortest >= ETH_HLEN && placed.longest <= XDP_MAX_DATA;
    for (let n = allTaken ? count : 0; n < count; n++) {
      const length = batch.length[n]!;
      if (length >= ETH_HLEN && length <= XDP_MAX_DATA) continue;
      valid = Int32Array.from({ length: count }, (_, k) => k).filter((k) => batch.length[k]! >= ETH_HLEN && batch.length[k]! <= XDP_MAX_DATA);
      for (let k = n; k < count; k++) {
        const refused = batch.length[k]!;
        if (refused < ETH_HLEN || refused > XDP_MAX_DATA) {
          result.retvals[k] = 0;
          result.errors.set(k, refusedPacket(refused));
        }
      }
      break;
    }
    const runs = valid?.length ?? count;
    if (runs === 0) return;
    const packet = this.packet;
    const results = workspace.scratch(runs * 12 + 4 + VERDICT_COUNTERS * 4);
    const progress = results + runs * 4;
    const tally = results + runs * 12 + 4;
    memory.u8.fill(0, tally, tally + VERDICT_COUNTERS * 4);
    let starts = progress + 4;
    let lengths = starts + runs * 4;
    if (placed !== undefined && valid === undefined) {
      starts = placed.starts;
      lengths = placed.lengths;
    } else {
      const startColumn = new Int32Array(memory.wasm.buffer, starts, runs);
      const lengthColumn = new Int32Array(memory.wasm.buffer, lengths, runs);
      if (valid === undefined) {
        startColumn.set(batch.start.subarray(0, count));
        lengthColumn.set(batch.length.subarray(0, count));
      } else {
        for (let k = 0; k < runs; k++) {
          startColumn[k] = batch.start[valid[k]!]!;
          lengthColumn[k] = batch.length[valid[k]!]!;
        }
      }
    }
    const index = (k: number): number => (valid === undefined ? k : valid[k]!);
    const loop = { count: runs, base, starts, lengths, context: this.context, packetRegion: packet.mappedRegion!, results, progress, tally };
    try {
      runPackets(loop);
    } catch (error) {
      // The packet that failed runs again on the per-packet path, for its exact error (a program that calls nothing
      // does the same again), from the bytes as read: the loop ran it where it was staged, which it may have written.
      const n = index(memory.view.getUint32(progress, true));
      this.runOne(batch.bytes, batch.start[n]!, batch.start[n]! + batch.length[n]!, n, result, output);
      throw error;
    }
    const returned = new Uint32Array(memory.wasm.buffer, results, runs);
    if (valid === undefined) {
      result.retvals.set(returned);
      result.verdicts = new Uint32Array(VERDICT_COUNTERS);
      result.verdicts.set(new Uint32Array(memory.wasm.buffer, tally, VERDICT_COUNTERS));
    } else for (let k = 0; k < runs; k++) result.retvals[valid[k]!] = returned[k]!;
  }

  private runLoaded(n: number, result: VmBatchResult, output: boolean): void {
    const packet = this.packet;
    const env = this.env;
    writePacketBounds(packet.memory.view, this.context, XDP_PACKET_FIELDS, packet);
    env.redirect = undefined;
    if (env.trace.length !== 0) env.trace.length = 0;
    result.retvals[n] = this.session.run();
    if (env.redirect !== undefined) result.redirects.set(n, env.redirect);
    if (output) result.data![n] = packet.read(true);
  }

  close(): void {
    // session is unset when opening it failed.
    (this.session as RunSession | undefined)?.close();
    this.workspace.endRun();
    this.onClose();
  }
}

/** Whether every packet of `batch` is an Ethernet frame (a batch parsed in place has one link type: no need to look at each). */
function allEthernet(batch: CaptureBatch): boolean {
  if (batch.placement !== undefined) return batch.placement.linkType === LinkType.ETHERNET;
  for (let n = 0; n < batch.count; n++) if (batch.linkType[n] !== LinkType.ETHERNET) return false;
  return true;
}

/** Writes the packet's bounds into the context at `context`. */
function writePacketBounds(view: DataView, context: number, fields: PacketFields, bounds: PacketBounds): void {
  view.setUint32(context + fields.data, bounds.data, true);
  view.setUint32(context + fields.dataEnd, bounds.dataEnd, true);
  view.setUint32(context + fields.dataMeta, bounds.dataMeta, true);
}

/** eth_type_trans's pkt_type on the loopback device (address 00:00:00:00:00:00). */
function packetType(frame: Uint8Array): number {
  if (frame[0]! & 1) return frame.subarray(0, 6).every((b) => b === 0xff) ? PACKET_BROADCAST : PACKET_MULTICAST;
  return frame.subarray(0, 6).every((b) => b === 0) ? PACKET_HOST : PACKET_OTHERHOST;
}
