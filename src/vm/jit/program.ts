import type { Instruction } from '../../isa/instruction.ts';
import { MAX_CALL_FRAMES, MAX_TAIL_CALL_COUNT, OPCODE_CALL, OPCODE_CALLX, OPCODE_LDDW } from '../../isa/opcodes.ts';
import { TsbpfError } from '../../errors.ts';
import { monotonicNs } from '../../host/node.ts';
import { BudgetExceededError, CallDepthError, StackLimitError, VmOptionError, VmRuntimeError, describeCause } from '../errors.ts';
import { RunRegions, callHelper, describeStackFault, marshalRunArguments, runBudget, writeRegister } from '../run-setup.ts';
import type { ArgIndex, HelperCall, HelperEntry } from '../helper-registry.ts';
import { STACK_ALLOCATION, STACK_GUARD, STACK_SIZE, type InterpreterHost } from '../interpreter.ts';
import type { Region, RegionView, VmMemory } from '../memory.ts';
import { ProgramView } from '../view.ts';
import { MAX_COMBINED_STACK, type LoadedProgram, type PacketData, type PacketLoop, type PreparedProgram, type RunOptions, type RunResult, type RunSession, type StackChain, instructionBound, loadLegacyPacket, runSession, sessionStackBytes } from '../program.ts';
import { type CompileOptions, TrapKind, compileProgram } from './compiler.ts';
import { CB, CHAIN_FRAME, REGION_ENTRY_SIZE, Status } from './layout.ts';
import { inlineMapAt } from './maps.ts';

export interface JitOptions {
  /**
   * Compile a bounds check into every memory access (default true). Only a
   * program a verifier has accepted may run with `checked: false`: its
   * accesses then go straight to linear memory.
   */
  checked?: boolean;
  /**
   * 'structured' (default) rebuilds loops and blocks from the CFG and uses the
   * dispatch loop only for irreducible functions; 'dispatch' forces the
   * dispatch loop everywhere (for testing and measuring that fallback).
   */
  controlFlow?: 'structured' | 'dispatch';
  /**
   * Inline bpf_map_lookup_elem on array and hash maps (default true) when
   * the map is a constant (lddw in the same basic block) and the helper
   * registered for the call is named `bpf_map_lookup_elem`: such a helper
   * must have the kernel's semantics (read the key at r2, return the
   * value's address or 0), as the VM's standard one does.
   */
  inlineMaps?: boolean;
  /** Keep the compiled WebAssembly module's bytes in `JitProgram.moduleBytes` (for viewers; default false). */
  keepModule?: boolean;
}

const MAP_LOOKUP_NAME = 'bpf_map_lookup_elem';

/**
 * The WebAssembly engine refused the compiled module: in practice a
 * subprogram too large for one WebAssembly function (V8 accepts up to
 * about 7.6 MB of code per function, some 100 000 instructions). Such a
 * program runs in the interpreter.
 */
export class JitCompileError extends TsbpfError {
  override name = 'JitCompileError';
  constructor(
    readonly program: string,
    readonly moduleBytes: number,
    override readonly cause: unknown,
  ) {
    super(`program '${program}': the WebAssembly engine refused the compiled module (${moduleBytes} bytes): ${describeCause(cause)}${refusalHint(describeCause(cause))}`);
  }
}

/**
 * What to do about the refusals web pages meet: a Content-Security-Policy
 * without 'wasm-unsafe-eval', and Chromium's limit on compiling modules
 * over 8 MB synchronously on the main thread.
 */
function refusalHint(cause: string): string {
  if (/main thread|larger than|8MB|8 MB/i.test(cause)) return ' (browsers compile modules over 8 MB only off the main thread: run the VM in a Web Worker, see docs/vm.md "In the browser", or use the interpreter)';
  if (/code generation|disallowed|Content.Security|CSP|unsafe-eval/i.test(cause)) return " (the page's Content-Security-Policy forbids compiling WebAssembly: add 'wasm-unsafe-eval' to its script-src, or use the interpreter)";
  return '';
}

/** Compile statistics of one program. */
export interface JitStats {
  /** Slots compiled (an lddw counts twice). */
  readonly slots: number;
  /** Size of the WebAssembly module. */
  readonly moduleBytes: number;
  /** Time to generate the module, and to compile it with the engine (WebAssembly.Module), in milliseconds. */
  readonly generateMs: number;
  readonly instantiateMs: number;
  /** Subprograms whose CFG was irreducible and went through the dispatch-loop fallback. */
  readonly dispatchFunctions: number;
}

const TWO32 = 4294967296;
/** The budget of an unlimited run: counted, never reached (2^52 instructions), exact in a double. */
const UNLIMITED = 2 ** 52;

type EntryFn = (...args: number[]) => number;

/**
 * State shared by every JIT program of one VmMemory: the control block
 * (see layout.ts) and the region table, both allocated (never mapped, so
 * no program can reach them) in that memory.
 */
class JitRuntime {
  readonly controlBlock: number;
  private tableStart = 0;
  private tableCapacity = 0;
  /** The regions the table was last written from, at this VmMemory.layoutVersion, without this stack. */
  private tableRegions: readonly Region[] = [];
  private tableVersion = -1;
  private tableExclude: Region | undefined;
  private tableView: RegionView | undefined;
  private tableViewVersion: number | undefined;
  private tableScope: object | undefined;
  /** The run in progress (the innermost one when a helper starts another run). */
  run: JitRun | undefined;
  /**
   * Runs not in use, each with its stack allocation, kept rather than
   * released: creating one costs more than a short run. There are as many
   * as runs were ever nested, normally one.
   */
  private readonly idleRuns: JitRun[] = [];

  constructor(readonly memory: VmMemory) {
    this.controlBlock = memory.allocate(CB.size);
    this.reserveTable(16);
  }

  private reserveTable(entries: number): void {
    if (this.tableCapacity > 0) this.memory.release(this.tableStart, this.tableCapacity * REGION_ENTRY_SIZE);
    this.tableCapacity = entries;
    this.tableStart = this.memory.allocate(entries * REGION_ENTRY_SIZE);
  }

  /**
   * Rewrites the region table if the memory's regions changed, and bumps
   * CB.epoch so compiled code drops its cached regions. `exclude` is the
   * running program's own stack, which compiled code checks by frame pointer;
   * `view` the running program's (ProgramView): only the regions it reaches
   * are listed, so other maps' storage faults.
   */
  syncRegions(exclude: Region | undefined, programView: RegionView): void {
    const memory = this.memory;
    // The one change since the table was written is the mapping of the stack it now excludes (a run's first helper call): the table holds.
    if (exclude !== undefined && this.tableExclude === undefined && memory.lastMapped === exclude && memory.layoutVersion === this.tableVersion + 1 && programView === this.tableView && programView.version === this.tableViewVersion && memory.runScope === this.tableScope) {
      this.tableExclude = exclude;
      this.tableVersion = memory.layoutVersion;
      return;
    }
    if (exclude === this.tableExclude && programView === this.tableView && programView.version === this.tableViewVersion && memory.runScope === this.tableScope) {
      if (memory.layoutVersion === this.tableVersion) return;
      // One region moved since the table was written (a packet from one run to the next): rewrite its entry only.
      const moved = memory.lastMoved;
      if (moved !== undefined && memory.layoutVersion === this.tableVersion + 1) {
        const n = this.tableRegions.indexOf(moved);
        if (n >= 0) {
          const view = memory.view;
          const at = this.tableStart + n * REGION_ENTRY_SIZE;
          view.setUint32(at, moved.start, true);
          view.setUint32(at + 4, moved.start + moved.size, true);
          const cb = this.controlBlock;
          view.setUint32(cb + CB.epoch, (view.getUint32(cb + CB.epoch, true) + 1) >>> 0, true);
          this.tableVersion = memory.layoutVersion;
          return;
        }
      }
    }
    this.tableVersion = memory.layoutVersion;
    this.tableExclude = exclude;
    this.tableView = programView;
    this.tableViewVersion = programView.version;
    this.tableScope = memory.runScope;
    const regions = memory.listRegions();
    const known = this.tableRegions;
    let k = 0;
    let same = true;
    for (const r of regions) {
      if (r === exclude || !programView.reaches(r)) continue;
      if (known[k++] !== r) {
        same = false;
        break;
      }
    }
    if (same && k === known.length && !this.boundsMoved(known)) return;
    const listed = regions.filter((r) => r !== exclude && programView.reaches(r));
    this.tableRegions = listed;
    if (listed.length > this.tableCapacity) this.reserveTable(listed.length * 2);
    const view = this.memory.view;
    const cb = this.controlBlock;
    listed.forEach((r, n) => {
      const at = this.tableStart + n * REGION_ENTRY_SIZE;
      view.setUint32(at, r.start, true);
      view.setUint32(at + 4, r.start + r.size, true);
      view.setUint32(at + 8, r.writable ? 1 : 0, true);
    });
    view.setUint32(cb + CB.regionTable, this.tableStart, true);
    view.setUint32(cb + CB.regionCount, listed.length, true);
    view.setUint32(cb + CB.epoch, (view.getUint32(cb + CB.epoch, true) + 1) >>> 0, true);
  }

  /** Whether a region listed in the table was moved (VmMemory.moveRegion) since the table was written. */
  private boundsMoved(listed: readonly Region[]): boolean {
    const view = this.memory.view;
    for (let n = 0; n < listed.length; n++) {
      const r = listed[n]!;
      const at = this.tableStart + n * REGION_ENTRY_SIZE;
      if (view.getUint32(at, true) !== r.start || view.getUint32(at + 4, true) !== r.start + r.size) return true;
    }
    return false;
  }

  /** Address of `region`'s entry in the region table as last written, if listed. */
  tableEntryOf(region: Region): number | undefined {
    const n = this.tableRegions.indexOf(region);
    return n < 0 ? undefined : this.tableStart + n * REGION_ENTRY_SIZE;
  }

  /** A run of `root` set up with `options` (pooled: give it back with JitRun.finish). */
  takeRun(root: JitProgram, options: RunOptions): JitRun {
    if (options.onStep !== undefined) throw new VmOptionError(`program '${root.name}': onStep needs the interpreter (compiled code cannot stop between instructions)`);
    const run = this.idleRuns.pop() ?? new JitRun(this, root.host);
    run.begin(root, options);
    return run;
  }

  /** Takes back a finished run. */
  releaseRun(run: JitRun): void {
    this.idleRuns.push(run);
  }

  /** Forces the next syncRegions to rewrite the table. */
  invalidateRegions(): void {
    this.tableRegions = [];
    this.tableVersion = -1;
  }
}

const runtimes = new WeakMap<VmMemory, JitRuntime>();

function runtimeFor(memory: VmMemory): JitRuntime {
  let rt = runtimes.get(memory);
  if (rt === undefined) {
    rt = new JitRuntime(memory);
    runtimes.set(memory, rt);
  }
  return rt;
}

/**
 * A program compiled to WebAssembly. It has the interpreter's run API and
 * semantics: the same results, the same memory effects, the same errors
 * (MemoryAccessError, BudgetExceededError, CallDepthError, ...) naming the
 * same instruction.
 */
export class JitProgram implements LoadedProgram {
  readonly engine = 'jit' as const;
  readonly name: string;
  readonly instructions: readonly Instruction[];
  readonly stats: JitStats;
  readonly view: ProgramView;
  /** @internal */
  readonly runtime: JitRuntime;
  /** @internal */
  readonly entry: EntryFn;
  /** @internal */
  readonly repeatEntry: EntryFn;
  /** @internal */
  readonly packetsEntry: (...args: number[]) => void;
  private readonly callees: ReadonlyMap<number, HelperEntry>;
  /** Stack bytes of each instruction's function (PreparedProgram.frameBytes). */
  readonly frameBytes: Uint16Array;
  /** The top bytes of the stack a session's run zeroes first (sessionStackBytes). */
  readonly stackZeroBytes: number;
  /** The compiled module, when JitOptions.keepModule asked for it. */
  readonly moduleBytes: Uint8Array | undefined;
  /** The most instructions a run can execute (instructionBound; null: no bound), found by the first repeated run. */
  private bound: number | null | undefined;
  private readonly compileOptions: CompileOptions;
  /** `repeat` of the program compiled without the budget, made by the first repeated run that may use it. */
  private uncountedRepeat: EntryFn | undefined;

  constructor(
    readonly host: InterpreterHost,
    prepared: PreparedProgram,
    options: JitOptions = {},
  ) {
    this.name = prepared.name;
    this.instructions = prepared.instructions;
    this.callees = prepared.callees;
    this.frameBytes = prepared.frameBytes;
    this.stackZeroBytes = sessionStackBytes(prepared.instructions, prepared.frameBytes[0]!);
    this.runtime = runtimeFor(host.memory);
    this.view = new ProgramView(host.memory, prepared.instructions);
    // monotonicNs, not performance.now(): Node loads perf_hooks on the first use of `performance`, 0.7 ms of a fresh process's first program load.
    const t0 = monotonicNs();
    this.compileOptions = {
      controlBlock: this.runtime.controlBlock,
      checked: options.checked ?? true,
      memoryPages: 1,
      forceDispatch: options.controlFlow === 'dispatch',
      inlineMapLookup: options.inlineMaps === false ? undefined : (pc, handle) => (this.callees.get(pc)?.name === MAP_LOOKUP_NAME ? inlineMapAt(host.memory, handle) : undefined),
      frameBytes: prepared.frameBytes,
    };
    const compiled = compileProgram(prepared.instructions, this.compileOptions);
    const t1 = monotonicNs();
    const instance = this.instantiate(compiled.bytes);
    const t2 = monotonicNs();
    this.moduleBytes = options.keepModule === true ? compiled.bytes : undefined;
    this.entry = instance.exports.entry as EntryFn;
    this.repeatEntry = instance.exports.repeat as EntryFn;
    this.packetsEntry = instance.exports.packets as (...args: number[]) => void;
    let dispatch = 0;
    for (const s of compiled.strategies.values()) if (s === 'dispatch') dispatch++;
    this.stats = {
      slots: prepared.instructions.length,
      moduleBytes: compiled.bytes.length,
      generateMs: Number(t1 - t0) / 1e6,
      instantiateMs: Number(t2 - t1) / 1e6,
      dispatchFunctions: dispatch,
    };
  }

  run(options: RunOptions = {}): RunResult {
    const run = this.runtime.takeRun(this, options);
    try {
      return run.execute(1);
    } finally {
      run.finish();
    }
  }

  openSession(options: RunOptions): RunSession {
    const run = this.runtime.takeRun(this, options);
    const frameBytes = this.stackZeroBytes;
    // Nothing can run in JavaScript in the middle of a program that calls nothing: its packet loop may stay in WebAssembly.
    const callsNothing = !this.instructions.some((i) => i.opcode === OPCODE_CALL || i.opcode === OPCODE_CALLX);
    return runSession(
      this.name,
      (first) => run.runAgain(first ? 0 : frameBytes),
      () => run.finish(),
      callsNothing ? (loop): void => run.runPackets(loop, frameBytes) : undefined,
    );
  }

  /**
   * Runs the program `repeat` times with the same options inside one
   * WebAssembly call (what BPF_PROG_TEST_RUN's `repeat` does in the kernel),
   * and returns the last run's result with the mean time per run. Memory
   * written by one run is seen by the next; each run gets the full budget.
   * `instructions` is the count of the last run.
   */
  runRepeated(options: RunOptions, repeat: number): RunResult & { nsPerRun: number } {
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0x7fffffff) throw new RangeError(`repeat must be an integer from 1 to 2^31-1, got ${repeat}`);
    const run = this.runtime.takeRun(this, options);
    try {
      const t0 = monotonicNs();
      const result = run.execute(repeat);
      return { ...result, nsPerRun: Number(monotonicNs() - t0) / repeat };
    } finally {
      run.finish();
    }
  }

  private instantiate(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Instance {
    try {
      return new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: this.imports() });
    } catch (err) {
      throw new JitCompileError(this.name, bytes.length, err);
    }
  }

  /**
   * `repeat` without the budget, for runs that cannot exhaust a budget of
   * `budget` instructions (undefined when they might): the budget's count
   * is pure overhead there, and leaving it out changes no result.
   */
  uncountedRepeatWithin(budget: number): EntryFn | undefined {
    this.bound ??= instructionBound(this.instructions) ?? null;
    if (this.bound === null || this.bound > budget) return undefined;
    if (this.uncountedRepeat === undefined) {
      const instance = this.instantiate(compileProgram(this.instructions, { ...this.compileOptions, countBudget: false }).bytes);
      this.uncountedRepeat = instance.exports.repeat as EntryFn;
    }
    return this.uncountedRepeat;
  }

  private imports(): WebAssembly.ModuleImports {
    const active = (): JitRun => this.runtime.run!;
    return {
      memory: this.host.memory.wasm,
      fault: (pc: number, lo: number, hi: number, size: number, write: number, low: number): void => {
        const run = active();
        run.mapStack(low >>> 0);
        try {
          this.host.memory.check(hi, lo >>> 0, size, write !== 0, pc, this.view);
        } catch (error) {
          throw run.stackFault(error, this, (low >>> 0) + this.frameBytes[pc]!);
        }
        throw new VmRuntimeError(pc, `JIT region table out of date at 0x${(lo >>> 0).toString(16)}`);
      },
      call: (pc: number): number => active().invoke(this, this.callees.get(pc)!, pc),
      callx: (lo: number, hi: number, pc: number): number => {
        const entry = hi === 0 ? this.host.helpers.helper(lo) : undefined;
        if (entry === undefined) {
          const value = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
          throw new VmRuntimeError(pc, `callx r${this.instructions[pc]!.dst}: no helper with id ${value} is registered`);
        }
        return active().invoke(this, entry, pc);
      },
      budget: (blockStart: number, remaining: number): void => {
        let pc = blockStart;
        for (let k = 0; k < remaining; k++) pc += this.instructions[pc]!.opcode === OPCODE_LDDW ? 2 : 1;
        throw new BudgetExceededError(pc, active().budget);
      },
      packetLoad: (offset: number, size: number): bigint => {
        const packet = active().packet;
        return BigInt(packet === undefined ? -1 : loadLegacyPacket(this.host.memory.view, packet, offset, size));
      },
      trap: (kind: number, pc: number, arg: number): void => {
        switch (kind) {
          case TrapKind.fellOff:
            throw new VmRuntimeError(pc, 'execution fell off the end of the program (no exit)');
          case TrapKind.callDepth:
            throw new CallDepthError(pc, arg >>> 16, MAX_CALL_FRAMES);
          case TrapKind.stackLimit:
            throw new StackLimitError(pc, arg >>> 16, arg & 0xffff);
          case TrapKind.noPacket:
            throw new VmRuntimeError(pc, 'LD_ABS/LD_IND needs packet data (RunOptions.packet)');
          default:
            throw new VmRuntimeError(pc, `unknown opcode 0x${this.instructions[pc]!.opcode.toString(16).padStart(2, '0')}`);
        }
      },
    };
  }
}

/** One run of a JIT program (with its tail calls); also the HelperCall handed to helpers. Pooled per JitRuntime. */
class JitRun implements HelperCall {
  readonly memory: VmMemory;
  context: unknown;
  budget = 0;
  pc = 0;
  /** The data of LD_ABS / LD_IND (RunOptions.packet). */
  packet: PacketData | undefined;
  program!: JitProgram;
  root!: JitProgram;
  tailCalls = 0;
  readonly stackBase: number;
  readonly stackTop: number;
  private initialBudget = 0;
  private savedControlBlock: Uint8Array | undefined;
  private outer: JitRun | undefined;
  private readonly regions: RunRegions;
  private readonly args = new Int32Array(10);
  /** r0 as halves on its way from a helper result to the control block. */
  private readonly r0Halves = new Int32Array(2);
  private pendingExit = false;
  private pendingTail: JitProgram | undefined;
  /** The chain this run continues (RunOptions.chain): frames beyond its depth 0, and their bytes. */
  private baseFrames = 0;
  private baseBytes = 0;

  constructor(
    private readonly runtime: JitRuntime,
    host: InterpreterHost,
  ) {
    this.memory = host.memory;
    this.regions = new RunRegions(host.memory);
    this.stackBase = host.acquireStack(STACK_ALLOCATION);
    this.stackTop = this.stackBase + STACK_GUARD + STACK_SIZE;
  }

  /** Sets up a run of `root`: budget, a zeroed stack, the arguments, the packet of LD_ABS/LD_IND. */
  begin(root: JitProgram, options: RunOptions): void {
    const host = root.host;
    this.root = this.program = root;
    this.context = options.context;
    this.packet = options.packet;
    this.pc = 0;
    this.tailCalls = 0;
    this.pendingExit = false;
    this.pendingTail = undefined;
    this.args.fill(0);
    const budget = runBudget(options, host.defaultBudget);
    this.budget = budget;
    this.initialBudget = budget === 0 ? UNLIMITED : budget;
    const cb = this.runtime.controlBlock;
    // A helper may start another run on the same memory: keep the outer run's control block.
    this.outer = this.runtime.run;
    this.savedControlBlock = this.outer !== undefined ? this.memory.u8.slice(cb, cb + CB.size) : undefined;
    // A fresh stack where the program can reach (each frame reaches exactly its own bytes): nothing of an earlier run, of any program, shows through.
    const reachable = root.stackZeroBytes;
    if (reachable > 0) this.memory.u8.fill(0, this.stackTop - reachable, this.stackTop);
    this.runtime.run = this;
    try {
      this.regions.input = marshalRunArguments(this.memory, options, this.args, 0);
      const packet = options.packet;
      const view = this.memory.view;
      view.setUint32(cb + CB.budget, this.initialBudget % TWO32, true);
      view.setUint32(cb + CB.budget + 4, Math.floor(this.initialBudget / TWO32), true);
      this.baseFrames = options.chain === undefined ? 0 : Math.max(0, options.chain.frames - 1);
      this.baseBytes = options.chain?.bytes ?? 0;
      view.setUint32(cb + CB.stackTop, this.stackTop, true);
      this.resetChain();
      view.setUint32(cb + CB.packetStart, packet?.start ?? 0, true);
      view.setInt32(cb + CB.packetLength, packet === undefined ? -1 : packet.length, true);
    } catch (err) {
      this.finish();
      throw err;
    }
  }

  execute(repeat: number): RunResult {
    this.runtime.syncRegions(this.regions.stack, this.root.view);
    const a = this.args;
    const uncounted = repeat === 1 ? undefined : this.root.uncountedRepeatWithin(this.initialBudget);
    if (repeat === 1) {
      this.root.entry(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, this.stackTop, 0);
    } else if (uncounted !== undefined) {
      // All runs but the last without the budget (no helper call can end one early); the last counted, for its instruction count.
      uncounted(repeat - 1, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, this.stackTop);
      this.root.entry(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, this.stackTop, 0);
    } else {
      this.root.repeatEntry(repeat, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, this.stackTop);
    }
    const view = this.memory.view;
    const cb = this.runtime.controlBlock;
    const r0 = (BigInt(view.getUint32(cb + CB.r0 + 4, true)) << 32n) | BigInt(view.getUint32(cb + CB.r0, true));
    const remaining = view.getUint32(cb + CB.budget + 4, true) * TWO32 + view.getUint32(cb + CB.budget, true);
    return { r0, instructions: this.initialBudget - remaining, tailCalls: this.tailCalls };
  }

  /**
   * One run of a session (see JitProgram.openSession): the budget reset, the
   * top `zeroBytes` of the stack zeroed, the region table brought up to date;
   * returns r0's low 32 bits.
   */
  runAgain(zeroBytes: number): number {
    const memory = this.memory;
    const cb = this.runtime.controlBlock;
    const view = memory.view;
    this.program = this.root;
    this.tailCalls = 0;
    view.setUint32(cb + CB.budget, this.initialBudget % TWO32, true);
    view.setUint32(cb + CB.budget + 4, Math.floor(this.initialBudget / TWO32), true);
    this.resetChain();
    if (zeroBytes > 0) memory.u8.fill(0, this.stackTop - zeroBytes, this.stackTop);
    this.runtime.syncRegions(this.regions.stack, this.root.view);
    const a = this.args;
    this.root.entry(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, this.stackTop, 0);
    return memory.view.getUint32(cb + CB.r0, true);
  }

  /**
   * RunSession.runPackets: the budget reset and the region table brought up
   * to date, then the module's packet loop; the packet region's table entry,
   * which the loop points at each packet, is given back its bounds after.
   */
  runPackets(loop: PacketLoop, stackZero: number): void {
    const cb = this.runtime.controlBlock;
    const view = this.memory.view;
    this.program = this.root;
    this.tailCalls = 0;
    view.setUint32(cb + CB.budget, this.initialBudget % TWO32, true);
    view.setUint32(cb + CB.budget + 4, Math.floor(this.initialBudget / TWO32), true);
    this.resetChain();
    this.runtime.syncRegions(this.regions.stack, this.root.view);
    const region = loop.packetRegion;
    const entry = this.runtime.tableEntryOf(region);
    if (entry === undefined) throw new VmRuntimeError(0, `program '${this.root.name}': the packet region is not in the region table`);
    try {
      this.root.packetsEntry(loop.count, loop.base, loop.starts, loop.lengths, loop.context, entry, loop.results, loop.progress, this.stackTop, stackZero, loop.tally);
    } finally {
      view.setUint32(entry, region.start, true);
      view.setUint32(entry + 4, region.start + region.size, true);
      view.setUint32(cb + CB.epoch, (view.getUint32(cb + CB.epoch, true) + 1) >>> 0, true);
    }
  }

  finish(): void {
    this.regions.release();
    this.context = undefined;
    this.packet = undefined;
    this.pendingTail = undefined;
    if (this.runtime.run === this) {
      this.runtime.run = this.outer;
      this.outer = undefined;
      this.runtime.releaseRun(this);
      // The outer run's table was rewritten for this run's regions (its control block is restored above).
      if (this.savedControlBlock !== undefined) {
        this.memory.u8.set(this.savedControlBlock, this.runtime.controlBlock);
        this.runtime.invalidateRegions();
      }
    }
  }

  /** The call chain of a run at its entry frame (CB.chain): the entry's frame, on a callback's callers. */
  private resetChain(): void {
    this.memory.view.setUint32(this.runtime.controlBlock + CB.chain, (this.baseFrames + 1) * CHAIN_FRAME + this.baseBytes + this.root.frameBytes[0]!, true);
  }

  /** The call chain now: frames and their stack bytes. */
  private chain(): StackChain {
    const chain = this.memory.view.getUint32(this.runtime.controlBlock + CB.chain, true);
    return { frames: Math.floor(chain / CHAIN_FRAME), bytes: chain % CHAIN_FRAME };
  }

  /** Maps the stack region as the interpreter has it for the frame whose lowest byte is `low`: that frame and its callers. */
  mapStack(low: number): void {
    this.regions.mapStack(low, this.stackTop);
  }

  /** The chain at a helper call, which a callback it runs continues (HelperCall.callbackChain). */
  callbackChain(): StackChain {
    return this.chain();
  }

  remainingBudget(): number {
    if (this.budget === 0) return 0;
    const view = this.memory.view;
    const cb = this.runtime.controlBlock;
    return view.getUint32(cb + CB.budget + 4, true) * TWO32 + view.getUint32(cb + CB.budget, true);
  }

  chargeBudget(instructions: number): void {
    const view = this.memory.view;
    const cb = this.runtime.controlBlock;
    const left = Math.max(0, view.getUint32(cb + CB.budget + 4, true) * TWO32 + view.getUint32(cb + CB.budget, true) - instructions);
    view.setUint32(cb + CB.budget, left % TWO32, true);
    view.setUint32(cb + CB.budget + 4, Math.floor(left / TWO32), true);
  }

  /** `error` as a StackAccessError naming the frame of `program` at `top` (its r10), when it is an access to this run's stack outside the frames. */
  stackFault(error: unknown, program: JitProgram, top: number): unknown {
    const stack = this.regions.stack;
    const low = stack === undefined ? this.stackTop : stack.start;
    const { frames, bytes } = this.chain();
    return describeStackFault(error, this.stackBase, STACK_ALLOCATION, { frame: frames - 1, program: program.name, top, bytes: top - low, chainBytes: bytes });
  }

  /** A helper or kfunc call from `program` at `pc`: the interpreter's RunState.invoke plus tail calls. */
  invoke(program: JitProgram, entry: HelperEntry, pc: number): number {
    this.pc = pc;
    this.program = program;
    const view = this.memory.view;
    const cb = this.runtime.controlBlock;
    this.mapStack(view.getUint32(cb + CB.framePointer, true) - program.frameBytes[pc]!);
    let result: number | bigint | void;
    try {
      result = callHelper(entry, this, pc);
    } finally {
      this.runtime.syncRegions(this.regions.stack, program.view);
    }
    if (this.pendingExit) {
      this.pendingExit = false;
      return Status.exited;
    }
    if (!this.setR0(result ?? 0)) throw new VmRuntimeError(pc, `${entry.name} returned ${String(result)}, not an integer`);
    const target = this.pendingTail;
    if (target === undefined) return Status.ok;
    // The target replaces the calling frame: same frame pointer, registers r1-r5 as they are.
    this.pendingTail = undefined;
    // The target's frame replaces the caller's in the chain's stack.
    const chain = view.getUint32(cb + CB.chain, true);
    const targetBytes = target.frameBytes[0]!;
    const replaced = chain - program.frameBytes[pc]! + targetBytes;
    if (replaced % CHAIN_FRAME > MAX_COMBINED_STACK) throw new StackLimitError(pc, Math.floor(replaced / CHAIN_FRAME), replaced % CHAIN_FRAME);
    this.tailCalls++;
    const fp = view.getUint32(cb + CB.framePointer, true);
    this.memory.u8.fill(0, fp - targetBytes, fp);
    const arg = (k: number): number => view.getInt32(cb + CB.args + 4 * k, true);
    this.program = target;
    this.mapStack(fp - targetBytes);
    this.runtime.syncRegions(this.regions.stack, target.view);
    view.setUint32(cb + CB.chain, replaced, true);
    // inherit = 1: r0 (the helper's result) and r6-r9 carry over, as in the interpreter.
    const status = target.entry(arg(0), arg(1), arg(2), arg(3), arg(4), arg(5), arg(6), arg(7), arg(8), arg(9), fp, 1);
    this.memory.view.setUint32(cb + CB.chain, chain, true);
    // The caller's callers (a tail call from a subprogram) go on with the caller's maps.
    this.program = program;
    this.mapStack(fp - program.frameBytes[pc]!);
    this.runtime.syncRegions(this.regions.stack, program.view);
    return status === Status.exited ? Status.exited : Status.replaced;
  }

  /** Sets r0 in the control block; false if `value` is a number that is not a safe integer. */
  private setR0(value: number | bigint): boolean {
    const h = this.r0Halves;
    if (!writeRegister(h, 0, value)) return false;
    const view = this.memory.view;
    const cb = this.runtime.controlBlock;
    view.setInt32(cb + CB.r0, h[0]!, true);
    view.setInt32(cb + CB.r0 + 4, h[1]!, true);
    return true;
  }

  // HelperCall

  private argLo(n: ArgIndex): number {
    return this.memory.view.getInt32(this.runtime.controlBlock + CB.args + 8 * (n - 1), true);
  }

  private argHi(n: ArgIndex): number {
    return this.memory.view.getInt32(this.runtime.controlBlock + CB.args + 8 * (n - 1) + 4, true);
  }

  arg(n: ArgIndex): number {
    const hi = this.argHi(n) >>> 0;
    if (hi >= 0x200000) {
      throw new VmRuntimeError(this.pc, `helper argument r${n} = 0x${this.argU64(n).toString(16)} does not fit in a number (use argU64)`);
    }
    return hi * TWO32 + (this.argLo(n) >>> 0);
  }

  argU32(n: ArgIndex): number {
    return this.argLo(n) >>> 0;
  }

  argI32(n: ArgIndex): number {
    return this.argLo(n);
  }

  argU64(n: ArgIndex): bigint {
    return (BigInt(this.argHi(n) >>> 0) << 32n) | BigInt(this.argLo(n) >>> 0);
  }

  argI64(n: ArgIndex): bigint {
    return BigInt.asIntN(64, this.argU64(n));
  }

  pointer(n: ArgIndex, size: number, write: boolean): number {
    if (!Number.isInteger(size) || size < 0) throw new VmRuntimeError(this.pc, `helper asked for ${size} bytes at r${n}`);
    const lo = this.argLo(n) >>> 0;
    try {
      if (size > 0) this.memory.check(this.argHi(n), lo, size, write, this.pc, this.program.view);
    } catch (error) {
      const stack = this.regions.stack;
      throw this.stackFault(error, this.program, (stack === undefined ? this.stackTop : stack.start) + this.program.frameBytes[this.pc]!);
    }
    return lo;
  }

  bytes(n: ArgIndex, size: number, write: boolean): Uint8Array {
    const start = this.pointer(n, size, write);
    return this.memory.u8.subarray(start, start + size);
  }

  tailCall(target: LoadedProgram): boolean {
    if (!(target instanceof JitProgram) || target.host !== this.root.host) {
      throw new VmRuntimeError(this.pc, `tail call target '${target.name}' is not a JIT program of this VM`);
    }
    if (this.tailCalls >= MAX_TAIL_CALL_COUNT) return false;
    this.pendingTail = target;
    return true;
  }

  exitProgram(r0: number | bigint): void {
    if (!this.setR0(r0)) throw new VmRuntimeError(this.pc, `exit value ${r0} is not a safe integer`);
    this.pendingExit = true;
  }
}
