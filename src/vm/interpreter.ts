import type { Instruction } from '../isa/instruction.ts';
import { MAX_CALL_FRAMES, MAX_TAIL_CALL_COUNT, STACK_FRAME_SIZE } from '../isa/opcodes.ts';
import type { Region, VmMemory } from './memory.ts';
import { ProgramView } from './view.ts';
import { RunRegions, callHelper, describeStackFault, marshalRunArguments, runBudget, writeRegister } from './run-setup.ts';
import { BudgetExceededError, CallDepthError, StackLimitError, VmOptionError, VmRuntimeError } from './errors.ts';
import type { ArgIndex, HelperCall, HelperEntry, HelperRegistry } from './helper-registry.ts';
import {
  type ExecutionStep,
  MAX_COMBINED_STACK,
  MAY_GOTO_LOOPS,
  type LoadedProgram,
  type PacketData,
  type PreparedProgram,
  type RunOptions,
  type RunResult,
  type RunSession,
  type StackChain,
  loadLegacyPacket,
  runSession,
  sessionStackBytes,
} from './program.ts';

/**
 * The interpreter.
 *
 * A program is decoded once into a flat Int32Array, four words per slot:
 * `opcode | dst << 8 | src << 12`, offset, imm, and an auxiliary word (the
 * absolute target of a jump or local call, the upper half of an lddw).
 * Registers are one Int32Array of 32-bit halves (rN's low half at 2N, high
 * half at 2N+1; the loop decodes dst and src as those doubled indexes), so
 * the per-instruction path is plain int32 arithmetic with no BigInt and no
 * allocation; only 64-bit division with operands beyond 32 bits falls back
 * to BigInt. Dispatch is one switch on the opcode byte.
 *
 * Every load, store and atomic is checked against the VmMemory regions.
 * The region of the last access is cached in locals, so the common check
 * is three comparisons; any miss asks VmMemory, which throws
 * MemoryAccessError naming the instruction and the address.
 */

/** What the interpreter needs from the VM that owns the program. */
export interface InterpreterHost {
  readonly memory: VmMemory;
  readonly helpers: HelperRegistry;
  readonly defaultBudget: number;
  /** A zeroed stack allocation of `bytes`; returns its start address. */
  acquireStack(bytes: number): number;
  releaseStack(start: number): void;
}

/** Bytes of stack per run: the frames of a call chain lie next to each other, each exactly its size, 512 bytes together. */
export const STACK_SIZE = MAX_COMBINED_STACK;
/**
 * Unmapped bytes kept below the deepest frame and above the top frame, so a
 * stack overflow or underflow faults instead of reaching a neighbour region.
 */
export const STACK_GUARD = STACK_FRAME_SIZE;
/** Bytes of one run's stack allocation: guard, frames, guard. r10 of frame 0 is `start + STACK_GUARD + STACK_SIZE`. */
export const STACK_ALLOCATION = STACK_GUARD + STACK_SIZE + STACK_GUARD;

const TWO32 = 4294967296;
/** Largest instruction-budget chunk the main loop counts down (an int32). */
const CHUNK = 0x3fffffff;
/** Index of the synthetic exit slot appended after the program (used by LD_ABS failure). */
const SYNTHETIC_EXIT = 1;

/** The decoded form of a program: see the file comment. */
interface Decoded {
  readonly code: Int32Array;
  /** Helper or kfunc entry per call instruction index. */
  readonly callees: readonly (HelperEntry | undefined)[];
  readonly length: number;
  /** Stack bytes of each instruction's function (PreparedProgram.frameBytes). */
  readonly frameBytes: Uint16Array;
}

function decodeProgram(prepared: PreparedProgram): Decoded {
  const insns = prepared.instructions;
  const n = insns.length;
  // Two extra slots: a sentinel (opcode 0: falling off the end) and a synthetic exit.
  const code = new Int32Array((n + 2) * 4);
  const callees: (HelperEntry | undefined)[] = new Array(n).fill(undefined);
  for (let pc = 0; pc < n; pc++) {
    const i = insns[pc]!;
    const at = pc * 4;
    code[at] = i.opcode | (i.dst << 8) | (i.src << 12);
    code[at + 1] = i.offset;
    code[at + 2] = i.imm;
    code[at + 3] = auxWord(i, pc, insns[pc + 1]);
    const callee = prepared.callees.get(pc);
    if (callee !== undefined) callees[pc] = callee;
  }
  code[(n + SYNTHETIC_EXIT) * 4] = 0x95;
  return { code, callees, length: n, frameBytes: prepared.frameBytes };
}

function auxWord(i: Instruction, pc: number, next: Instruction | undefined): number {
  switch (i.opcode) {
    case 0x18:
      return next!.imm;
    case 0x06:
      return pc + 1 + i.imm;
    case 0x85:
      return i.src === 1 ? pc + 1 + i.imm : 0;
    default: {
      const cls = i.opcode & 7;
      return cls === 5 || cls === 6 ? pc + 1 + i.offset : 0;
    }
  }
}

/** A program loaded into the interpreter. */
export class InterpretedProgram implements LoadedProgram {
  readonly engine = 'interpreter' as const;
  readonly name: string;
  readonly instructions: readonly Instruction[];
  /** @internal */
  readonly decoded: Decoded;
  readonly view: ProgramView;
  /** The top bytes of the stack a run can reach, which it zeroes first (sessionStackBytes). */
  readonly stackZeroBytes: number;

  constructor(
    readonly host: InterpreterHost,
    prepared: PreparedProgram,
  ) {
    this.name = prepared.name;
    this.instructions = prepared.instructions;
    this.decoded = decodeProgram(prepared);
    this.view = new ProgramView(host.memory, prepared.instructions);
    this.stackZeroBytes = sessionStackBytes(prepared.instructions, this.decoded.frameBytes[0]!);
  }

  run(options: RunOptions = {}): RunResult {
    return this.runRepeated(options, 1);
  }

  openSession(options: RunOptions): RunSession {
    const state = takeRunState(this.host);
    try {
      state.begin(this, options);
    } catch (error) {
      state.finish();
      idleRunStates.get(this.host)!.push(state);
      throw error;
    }
    const frameBytes = this.stackZeroBytes;
    return runSession(
      this.name,
      (first) => {
        if (!first) state.rerun(frameBytes);
        execute(state);
        return state.regs[0]! >>> 0;
      },
      () => {
        state.finish();
        idleRunStates.get(this.host)!.push(state);
      },
    );
  }

  /**
   * Runs the program `repeat` times after one set-up (what BPF_PROG_TEST_RUN's
   * `repeat` does): each run starts from the same r1-r5 with the full budget
   * and sees the memory the previous one left (the stack included, as in the
   * kernel); a run ended by a helper's exitProgram ends the repetition. The
   * result is the last run's.
   */
  runRepeated(options: RunOptions, repeat: number): RunResult {
    if (!Number.isInteger(repeat) || repeat < 1) throw new RangeError(`repeat must be a positive integer, got ${repeat}`);
    const state = takeRunState(this.host);
    try {
      state.begin(this, options);
      state.repeatsLeft = repeat - 1;
      execute(state);
      return { r0: state.r0(), instructions: state.count, tailCalls: state.tailCalls };
    } finally {
      state.finish();
      idleRunStates.get(this.host)!.push(state);
    }
  }
}

/**
 * Run states not in use, per VM: creating one (register files, frame
 * arrays, a stack allocation) costs more than a short run, so they are
 * reused. There are as many as runs were ever nested (a helper may run a
 * program), normally one.
 */
const idleRunStates = new WeakMap<InterpreterHost, RunState[]>();

function takeRunState(host: InterpreterHost): RunState {
  let idle = idleRunStates.get(host);
  if (idle === undefined) {
    idle = [];
    idleRunStates.set(host, idle);
  }
  return idle.pop() ?? new RunState(host);
}

/** Sets register `r` from a helper result; false if `value` is a number that is not a safe integer. */
function setRegister(regs: Int32Array, r: number, value: number | bigint): boolean {
  return writeRegister(regs, r * 2, value);
}

function toU64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/**
 * The state of one run. It also serves as the HelperCall handed to helper
 * implementations (one object per run, updated before each call).
 */
class RunState implements HelperCall {
  /** r0-r10 as 32-bit halves: low half of rN at 2N, high half at 2N+1. */
  readonly regs = new Int32Array(32);
  /** r1-r5 as the run's set-up left them, for the later runs of a repetition. */
  private readonly initialArgs = new Int32Array(10);
  readonly memory: VmMemory;
  context: unknown;
  budget = 0;
  packet: PacketData | undefined;
  /** Instructions executed; exact once the main loop has returned or thrown. */
  count = 0;
  tailCalls = 0;
  pc = 0;
  /** The program executing now (after a tail call, not the one the run started with). */
  program!: InterpretedProgram;
  /** The program the run started with. */
  private root!: InterpretedProgram;

  // Call frames: index of the current one, and per caller its return pc,
  // program, may_goto budget and saved r6-r10 halves.
  depth = 0;
  /** may_goto budget of the current frame (the kernel's per-subprogram counter). */
  loops = MAY_GOTO_LOOPS;
  private readonly returnPcs = new Int32Array(MAX_CALL_FRAMES);
  private readonly framePrograms: (InterpretedProgram | undefined)[] = new Array(MAX_CALL_FRAMES).fill(undefined);
  private readonly frameLoops = new Int32Array(MAX_CALL_FRAMES);
  /** Stack bytes of the call chain down to each frame, callers of a callback's run included (see StackLimitError). */
  private readonly chainBytes = new Int32Array(MAX_CALL_FRAMES);
  /**
   * Frame pointer (r10 as the frame started) and lowest address of each
   * frame: frames lie next to each other, each exactly its function's
   * size, and only [frameLows[depth], stackTop) is mapped.
   */
  private readonly frameTops = new Int32Array(MAX_CALL_FRAMES);
  private readonly frameLows = new Int32Array(MAX_CALL_FRAMES);
  /** Frames of the chain this run continues, beyond the one its depth 0 stands for (RunOptions.chain). */
  private baseFrames = 0;
  private baseBytes = 0;
  private readonly savedRegs = new Int32Array(MAX_CALL_FRAMES * 10);

  // The budget is handed to the main loop in chunks that fit in an int32.
  private budgetLeft = 0;
  private chunk = 0;
  private executed = 0;
  /** The main loop's `remaining` at the helper call in progress, and instructions callbacks ran during it (see chargeBudget). */
  remainingAtCall = 0;
  charged = 0;
  /** Set by exitProgram / tailCall during a helper call. */
  pendingExit = false;
  /** Runs still to start after this one (a repeated run); a helper's exitProgram ends the repetition. */
  repeatsLeft = 0;
  pendingTail: InterpretedProgram | undefined;
  /** RunOptions.onStep: when set, every budget chunk is one instruction, so nextChunk sees each one. */
  private onStep: ((step: ExecutionStep) => void) | undefined;
  private stepView: StepView | undefined;

  /** Start of this state's stack allocation (kept while the state is pooled); frames grow down from `stackTop`. */
  readonly stackBase: number;
  readonly stackTop: number;
  /** Input memory and the mapped part of the stack (frames 0..depth); mapped only during a run. */
  private readonly regions: RunRegions;

  constructor(readonly host: InterpreterHost) {
    this.memory = host.memory;
    this.regions = new RunRegions(host.memory);
    this.stackBase = host.acquireStack(STACK_ALLOCATION);
    this.stackTop = this.stackBase + STACK_GUARD + STACK_SIZE;
  }

  /** Prepares a run of `root`: registers, a zeroed and mapped stack, input memory. */
  begin(root: InterpretedProgram, options: RunOptions): void {
    const budget = runBudget(options, this.host.defaultBudget);
    this.root = this.program = root;
    this.context = options.context;
    this.budget = budget;
    this.packet = options.packet;
    this.onStep = options.onStep;
    this.baseFrames = options.chain === undefined ? 0 : Math.max(0, options.chain.frames - 1);
    this.baseBytes = options.chain?.bytes ?? 0;
    if (this.onStep !== undefined) this.stepView ??= new StepView(this);
    this.regs.fill(0);
    this.resetRun();
    // A fresh stack where the program can reach (each frame reaches exactly its own bytes): nothing of an earlier run, of any program, shows through.
    const reachable = root.stackZeroBytes;
    if (reachable > 0) this.memory.u8.fill(0, this.stackTop - reachable, this.stackTop);
    this.regions.input = marshalRunArguments(this.memory, options, this.regs, 2);
    this.regs[20] = this.stackTop;
    this.initialArgs.set(this.regs.subarray(2, 12));
  }

  /**
   * The next run of a repetition: r1-r5 and r10 as the first run had them,
   * r0 and r6-r9 zero, the full budget, whose first chunk it returns. The
   * stack stays mapped as a run at depth 0 has it.
   */
  restart(): number {
    this.repeatsLeft--;
    this.program = this.root;
    this.resetCounters();
    const budgetLeft = this.budgetLeft;
    // A traced run asks nextChunk before every instruction, the first one included.
    this.chunk = this.onStep !== undefined ? 0 : budgetLeft < CHUNK ? budgetLeft : CHUNK;
    // Unrolled: this runs once per repetition, and 22 stores written out cost a third of two loops or a set() call.
    const regs = this.regs;
    const args = this.initialArgs;
    regs[0] = 0;
    regs[1] = 0;
    regs[2] = args[0]!;
    regs[3] = args[1]!;
    regs[4] = args[2]!;
    regs[5] = args[3]!;
    regs[6] = args[4]!;
    regs[7] = args[5]!;
    regs[8] = args[6]!;
    regs[9] = args[7]!;
    regs[10] = args[8]!;
    regs[11] = args[9]!;
    regs[12] = 0;
    regs[13] = 0;
    regs[14] = 0;
    regs[15] = 0;
    regs[16] = 0;
    regs[17] = 0;
    regs[18] = 0;
    regs[19] = 0;
    regs[20] = this.stackTop;
    regs[21] = 0;
    return this.chunk;
  }

  /** A session's next run: as `restart`, with the first `frameBytes` of the stack zeroed and mapped as at depth 0. */
  rerun(frameBytes: number): void {
    this.repeatsLeft = 1;
    this.restart();
    // execute() starts by asking for its first chunk.
    this.chunk = 0;
    this.mapStack(this.frameLows[0]!);
    this.memory.u8.fill(0, this.stackTop - frameBytes, this.stackTop);
  }

  private resetRun(): void {
    this.resetCounters();
    this.mapStack(this.frameLows[0]!);
  }

  private resetCounters(): void {
    this.budgetLeft = this.budget === 0 ? Infinity : this.budget;
    this.chunk = 0;
    this.executed = 0;
    this.count = 0;
    this.tailCalls = 0;
    this.pc = 0;
    this.depth = 0;
    const rootBytes = this.root.decoded.frameBytes[0]!;
    this.chainBytes[0] = this.baseBytes + rootBytes;
    this.frameTops[0] = this.stackTop;
    this.frameLows[0] = this.stackTop - rootBytes;
    this.loops = MAY_GOTO_LOOPS;
    this.pendingExit = false;
    this.pendingTail = undefined;
  }

  /**
   * Called by the main loop when its chunk is used up, before executing the
   * instruction at `pc`: returns the new chunk minus that instruction, or
   * throws BudgetExceededError.
   */
  nextChunk(pc: number): number {
    this.executed += this.chunk;
    this.budgetLeft -= this.chunk;
    this.chunk = 0;
    if (this.budgetLeft <= 0) throw new BudgetExceededError(pc, this.budget);
    if (this.onStep !== undefined) {
      this.pc = pc;
      this.chunk = 1;
      this.onStep(this.stepView!);
      return 0;
    }
    this.chunk = Math.min(this.budgetLeft, CHUNK);
    return this.chunk - 1;
  }

  remainingBudget(): number {
    return this.budget === 0 ? 0 : this.budgetLeft - (this.chunk - this.remainingAtCall) - this.charged;
  }

  chargeBudget(instructions: number): void {
    this.charged += instructions;
  }

  /**
   * The main loop's `remaining` after a helper call whose callbacks ran
   * `charged` instructions: they count in this chunk; past its end, the
   * chunk is closed with them and the next one starts (empty once the
   * budget is spent: the next instruction is BudgetExceededError).
   */
  afterCharge(remaining: number): number {
    const left = remaining - this.charged;
    this.charged = 0;
    if (left >= 0) return left;
    const used = this.chunk - left;
    this.executed += used;
    this.budgetLeft -= used;
    this.chunk = this.budgetLeft <= 0 ? 0 : Math.min(this.budgetLeft, this.onStep !== undefined ? 1 : CHUNK);
    return this.chunk;
  }

  /** Instructions executed before the current one (during a traced run's nextChunk). */
  executedBefore(): number {
    return this.executed;
  }

  /** Records the final instruction count from the loop's `remaining`. */
  settleCount(remaining: number): void {
    this.count = remaining < 0 ? this.executed : this.executed + this.chunk - remaining;
  }

  /** A bpf-to-bpf call returning to `returnPc`: a fresh frame below the caller's; r6-r9 (and r10) are callee-saved. */
  enterFrame(returnPc: number, target: number): void {
    const depth = this.depth;
    const frames = this.baseFrames + depth + 2;
    if (frames > MAX_CALL_FRAMES) throw new CallDepthError(returnPc - 1, frames, MAX_CALL_FRAMES);
    const calleeBytes = this.program.decoded.frameBytes[target]!;
    const chain = this.chainBytes[depth]! + calleeBytes;
    if (chain > MAX_COMBINED_STACK) throw new StackLimitError(returnPc - 1, frames, chain);
    this.chainBytes[depth + 1] = chain;
    const at = depth * 10;
    for (let r = 0; r < 5; r++) {
      this.savedRegs[at + r * 2] = this.regs[12 + r * 2]!;
      this.savedRegs[at + r * 2 + 1] = this.regs[12 + r * 2 + 1]!;
    }
    this.returnPcs[depth] = returnPc;
    this.framePrograms[depth] = this.program;
    this.frameLoops[depth] = this.loops;
    this.depth = depth + 1;
    this.loops = MAY_GOTO_LOOPS;
    // The callee's frame starts where its caller's ends.
    const top = this.frameLows[depth]!;
    this.frameTops[depth + 1] = top;
    this.frameLows[depth + 1] = top - calleeBytes;
    this.regs[20] = top;
    this.regs[21] = 0;
    this.mapStack(top - calleeBytes);
  }

  /** Exit from a subprogram: restores the caller's frame and returns the pc to continue at. */
  leaveFrame(): number {
    const depth = --this.depth;
    const at = depth * 10;
    for (let r = 0; r < 5; r++) {
      this.regs[12 + r * 2] = this.savedRegs[at + r * 2]!;
      this.regs[12 + r * 2 + 1] = this.savedRegs[at + r * 2 + 1]!;
    }
    this.loops = this.frameLoops[depth]!;
    this.program = this.framePrograms[depth]!;
    this.mapStack(this.frameLows[depth]!);
    return this.returnPcs[depth]!;
  }

  /** Performs the tail call a helper requested: the target runs in the current frame, zeroed. */
  enterTailCall(): void {
    const target = this.pendingTail!;
    // The target's frame replaces the caller's.
    const depth = this.depth;
    const bytes = target.decoded.frameBytes[0]!;
    const chain = (depth === 0 ? this.baseBytes : this.chainBytes[depth - 1]!) + bytes;
    if (chain > MAX_COMBINED_STACK) throw new StackLimitError(this.pc, this.baseFrames + depth + 1, chain);
    this.program = target;
    this.chainBytes[depth] = chain;
    this.pendingTail = undefined;
    this.tailCalls++;
    this.loops = MAY_GOTO_LOOPS;
    const frameTop = this.frameTops[depth]!;
    this.frameLows[depth] = frameTop - bytes;
    this.regs[20] = frameTop;
    this.regs[21] = 0;
    this.memory.u8.fill(0, frameTop - bytes, frameTop);
    this.mapStack(frameTop - bytes);
  }

  /** Maps the stack from `low` (the current frame's lowest byte) up: that frame and its callers', nothing below. */
  mapStack(low: number): void {
    this.regions.mapStack(low, this.stackTop);
  }

  /** The chain at a helper call, which a callback it runs continues (HelperCall.callbackChain). */
  callbackChain(): StackChain {
    return { frames: this.baseFrames + this.depth + 1, bytes: this.chainBytes[this.depth]! };
  }

  /** `error` as a StackAccessError naming the frame, when it is an access to this run's stack outside the frames. */
  private stackFault(error: unknown): unknown {
    const depth = this.depth;
    return describeStackFault(error, this.stackBase, STACK_ALLOCATION, {
      frame: this.baseFrames + depth,
      program: this.program.name,
      top: this.frameTops[depth]!,
      bytes: this.frameTops[depth]! - this.frameLows[depth]!,
      chainBytes: this.chainBytes[depth]!,
    });
  }

  /** Ends a run (successful or not): copies input memory back, unmaps it and the stack, drops references. */
  finish(): void {
    this.regions.release();
    this.context = undefined;
    this.packet = undefined;
    this.pendingTail = undefined;
    this.onStep = undefined;
    this.framePrograms.fill(undefined);
  }

  r0(): bigint {
    return toU64(this.regs[0]!, this.regs[1]!);
  }

  /**
   * The slow path of an access check: `hi`:`lo`+`offset` is the effective
   * address. Throws MemoryAccessError unless [address, address+size) lies
   * in one region (writable for a write); returns that region for the cache.
   */
  region(hi: number, lo: number, offset: number, size: number, write: boolean, pc: number): Region {
    const sum = (lo >>> 0) + offset;
    const address = sum >>> 0;
    const addressHi = (hi + Math.floor(sum / TWO32)) | 0;
    try {
      this.memory.check(addressHi, address, size, write, pc, this.program.view);
    } catch (error) {
      throw this.stackFault(error);
    }
    return this.memory.regionAt(address, size)!;
  }

  // HelperCall

  arg(n: ArgIndex): number {
    const hi = this.regs[n * 2 + 1]! >>> 0;
    if (hi >= 0x200000) {
      throw new VmRuntimeError(this.pc, `helper argument r${n} = 0x${toU64(this.regs[n * 2]!, this.regs[n * 2 + 1]!).toString(16)} does not fit in a number (use argU64)`);
    }
    return hi * TWO32 + (this.regs[n * 2]! >>> 0);
  }

  argU32(n: ArgIndex): number {
    return this.regs[n * 2]! >>> 0;
  }

  argI32(n: ArgIndex): number {
    return this.regs[n * 2]!;
  }

  argU64(n: ArgIndex): bigint {
    return toU64(this.regs[n * 2]!, this.regs[n * 2 + 1]!);
  }

  argI64(n: ArgIndex): bigint {
    return BigInt.asIntN(64, toU64(this.regs[n * 2]!, this.regs[n * 2 + 1]!));
  }

  pointer(n: ArgIndex, size: number, write: boolean): number {
    if (!Number.isInteger(size) || size < 0) throw new VmRuntimeError(this.pc, `helper asked for ${size} bytes at r${n}`);
    const lo = this.regs[n * 2]! >>> 0;
    try {
      if (size > 0) this.memory.check(this.regs[n * 2 + 1]!, lo, size, write, this.pc, this.program.view);
    } catch (error) {
      throw this.stackFault(error);
    }
    return lo;
  }

  bytes(n: ArgIndex, size: number, write: boolean): Uint8Array {
    const start = this.pointer(n, size, write);
    return this.memory.u8.subarray(start, start + size);
  }

  tailCall(target: LoadedProgram): boolean {
    if (!(target instanceof InterpretedProgram) || target.host !== this.host) {
      throw new VmRuntimeError(this.pc, `tail call target '${target.name}' is not an interpreted program of this VM`);
    }
    if (this.tailCalls >= MAX_TAIL_CALL_COUNT) return false;
    this.pendingTail = target;
    return true;
  }

  exitProgram(r0: number | bigint): void {
    if (!setRegister(this.regs, 0, r0)) throw new VmRuntimeError(this.pc, `exit value ${r0} is not a safe integer`);
    this.pendingExit = true;
    this.repeatsLeft = 0;
  }

  /** Calls a helper or kfunc and stores its result in r0. */
  invoke(entry: HelperEntry, pc: number): void {
    this.pc = pc;
    const result = callHelper(entry, this, pc);
    if (this.pendingExit) return;
    if (result === undefined) {
      this.regs[0] = 0;
      this.regs[1] = 0;
    } else if (!setRegister(this.regs, 0, result)) {
      throw new VmRuntimeError(pc, `${entry.name} returned ${String(result)}, not an integer`);
    }
  }

  /** LD_ABS / LD_IND: the big-endian value at packet offset `offset`, or -1 when out of bounds. */
  loadPacket(offset: number, size: number, pc: number): number {
    const packet = this.packet;
    if (packet === undefined) throw new VmRuntimeError(pc, 'LD_ABS/LD_IND needs packet data (RunOptions.packet)');
    return loadLegacyPacket(this.memory.view, packet, offset, size);
  }
}

/** Unsigned a > b for 64-bit values given as halves. */
function gtU(ah: number, al: number, bh: number, bl: number): boolean {
  ah >>>= 0;
  bh >>>= 0;
  return ah > bh || (ah === bh && al >>> 0 > bl >>> 0);
}
function geU(ah: number, al: number, bh: number, bl: number): boolean {
  ah >>>= 0;
  bh >>>= 0;
  return ah > bh || (ah === bh && al >>> 0 >= bl >>> 0);
}
function gtS(ah: number, al: number, bh: number, bl: number): boolean {
  return ah > bh || (ah === bh && al >>> 0 > bl >>> 0);
}
function geS(ah: number, al: number, bh: number, bl: number): boolean {
  return ah > bh || (ah === bh && al >>> 0 >= bl >>> 0);
}

// In the 64-bit helpers below, `R` is the register file and `d` the index of
// the destination's low half (twice the register number), as in the loop.

/** dst *= b (64-bit, low 64 bits of the product) without BigInt. */
function mul64(R: Int32Array, d: number, bl: number, bh: number): void {
  const al = R[d]!;
  const ah = R[d + 1]!;
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const carry = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  R[d] = Math.imul(al, bl);
  R[d + 1] = (carry + Math.imul(al, bh) + Math.imul(ah, bl)) | 0;
}

function store64(R: Int32Array, d: number, v: bigint): void {
  R[d] = Number(v & 0xffffffffn);
  R[d + 1] = Number((v >> 32n) & 0xffffffffn);
}

/** 64-bit div/mod; `signed` for sdiv/smod. Division by zero gives 0, modulo by zero leaves dst. */
function divmod64(R: Int32Array, d: number, bl: number, bh: number, mod: boolean, signed: boolean): void {
  const al = R[d]!;
  const ah = R[d + 1]!;
  if (bl === 0 && bh === 0) {
    if (!mod) R[d] = R[d + 1] = 0;
    return;
  }
  if (!signed) {
    if (ah === 0 && bh === 0) {
      const a = al >>> 0;
      const b = bl >>> 0;
      R[d] = mod ? a % b : Math.floor(a / b);
      return;
    }
    const a = toU64(al, ah);
    const b = toU64(bl, bh);
    store64(R, d, mod ? a % b : a / b);
    return;
  }
  if (ah === al >> 31 && bh === bl >> 31) {
    // Both fit in int32: exact in doubles, including INT32_MIN / -1 = 2^31.
    const r = mod ? al % bl : Math.trunc(al / bl);
    R[d] = r | 0;
    R[d + 1] = r < 0 ? -1 : 0;
    return;
  }
  const a = BigInt.asIntN(64, toU64(al, ah));
  const b = BigInt.asIntN(64, toU64(bl, bh));
  // BigInt division truncates toward zero like C; INT64_MIN / -1 wraps back to INT64_MIN.
  store64(R, d, BigInt.asUintN(64, mod ? a % b : a / b));
}

function lsh64(R: Int32Array, d: number, n: number): void {
  if (n === 0) return;
  if (n < 32) {
    R[d + 1] = (R[d + 1]! << n) | (R[d]! >>> (32 - n));
    R[d] = R[d]! << n;
  } else {
    R[d + 1] = R[d]! << (n - 32);
    R[d] = 0;
  }
}

function rsh64(R: Int32Array, d: number, n: number): void {
  if (n === 0) return;
  if (n < 32) {
    R[d] = (R[d]! >>> n) | (R[d + 1]! << (32 - n));
    R[d + 1] = R[d + 1]! >>> n;
  } else {
    R[d] = R[d + 1]! >>> (n - 32);
    R[d + 1] = 0;
  }
}

function arsh64(R: Int32Array, d: number, n: number): void {
  if (n === 0) return;
  if (n < 32) {
    R[d] = (R[d]! >>> n) | (R[d + 1]! << (32 - n));
    R[d + 1] = R[d + 1]! >> n;
  } else {
    R[d] = R[d + 1]! >> (n - 32);
    R[d + 1] = R[d + 1]! >> 31;
  }
}

function bswap16(v: number): number {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}

function bswap32(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

/** BPF_END: `toBe` swaps (be16/32/64 and bswap on a little-endian machine), otherwise truncates (le). */
function endian(R: Int32Array, d: number, width: number, toBe: boolean): void {
  if (width === 16) {
    R[d] = toBe ? bswap16(R[d]!) : R[d]! & 0xffff;
    R[d + 1] = 0;
  } else if (width === 32) {
    if (toBe) R[d] = bswap32(R[d]!);
    R[d + 1] = 0;
  } else if (toBe) {
    const l = R[d]!;
    R[d] = bswap32(R[d + 1]!);
    R[d + 1] = bswap32(l);
  }
}

/** The main loop. Runs `state.program` until the outermost exit. */
function execute(state: RunState): void {
  // Only what nearly every instruction needs is kept in locals, so the
  // optimizing compiler can keep it in machine registers; frames, may_goto
  // counters and the current program live in `state`.
  const R = state.regs;
  let view = state.memory.view;
  let u8 = state.memory.u8;
  let code = state.program.decoded.code;

  // Cached region of the last access: [cStart, cEnd), writable up to cWEnd (0 if read-only).
  let cStart = 0;
  let cEnd = 0;
  let cWEnd = 0;

  // Instructions left in the current budget chunk (kept within int32).
  let remaining = 0;
  let pc = 0;
  let a = 0; // effective address of the current access
  try {
    for (;;) {
      if (--remaining < 0) remaining = state.nextChunk(pc);
      const at = pc << 2;
      const w = code[at]!;
      const d = (w >> 7) & 30;
      const s = (w >> 11) & 30;
      pc++;
      switch (w & 0xff) {
        // ALU (32-bit): results zero-extend into the 64-bit register.
        case 0x04:
          R[d] = R[d]! + code[at + 2]!;
          R[d + 1] = 0;
          break;
        case 0x0c:
          R[d] = R[d]! + R[s]!;
          R[d + 1] = 0;
          break;
        case 0x14:
          R[d] = R[d]! - code[at + 2]!;
          R[d + 1] = 0;
          break;
        case 0x1c:
          R[d] = R[d]! - R[s]!;
          R[d + 1] = 0;
          break;
        case 0x24:
          R[d] = Math.imul(R[d]!, code[at + 2]!);
          R[d + 1] = 0;
          break;
        case 0x2c:
          R[d] = Math.imul(R[d]!, R[s]!);
          R[d + 1] = 0;
          break;
        case 0x34:
        case 0x3c: {
          const b = (w & 0x08) === 0 ? code[at + 2]! : R[s]!;
          if (b === 0) R[d] = 0;
          else if (code[at + 1] === 0) R[d] = Math.floor((R[d]! >>> 0) / (b >>> 0));
          else R[d] = Math.trunc(R[d]! / b);
          R[d + 1] = 0;
          break;
        }
        case 0x44:
          R[d] = R[d]! | code[at + 2]!;
          R[d + 1] = 0;
          break;
        case 0x4c:
          R[d] = R[d]! | R[s]!;
          R[d + 1] = 0;
          break;
        case 0x54:
          R[d] = R[d]! & code[at + 2]!;
          R[d + 1] = 0;
          break;
        case 0x5c:
          R[d] = R[d]! & R[s]!;
          R[d + 1] = 0;
          break;
        case 0x64:
          R[d] = R[d]! << (code[at + 2]! & 31);
          R[d + 1] = 0;
          break;
        case 0x6c:
          R[d] = R[d]! << (R[s]! & 31);
          R[d + 1] = 0;
          break;
        case 0x74:
          R[d] = R[d]! >>> (code[at + 2]! & 31);
          R[d + 1] = 0;
          break;
        case 0x7c:
          R[d] = R[d]! >>> (R[s]! & 31);
          R[d + 1] = 0;
          break;
        case 0x84:
          R[d] = -R[d]!;
          R[d + 1] = 0;
          break;
        case 0x94:
        case 0x9c: {
          const b = (w & 0x08) === 0 ? code[at + 2]! : R[s]!;
          // Modulo by zero leaves the low half (the 32-bit dst) unchanged.
          if (b !== 0) R[d] = code[at + 1] === 0 ? (R[d]! >>> 0) % (b >>> 0) : R[d]! % b;
          R[d + 1] = 0;
          break;
        }
        case 0xa4:
          R[d] = R[d]! ^ code[at + 2]!;
          R[d + 1] = 0;
          break;
        case 0xac:
          R[d] = R[d]! ^ R[s]!;
          R[d + 1] = 0;
          break;
        case 0xb4:
          R[d] = code[at + 2]!;
          R[d + 1] = 0;
          break;
        case 0xbc: {
          const off = code[at + 1]!;
          R[d] = off === 0 ? R[s]! : off === 8 ? (R[s]! << 24) >> 24 : (R[s]! << 16) >> 16;
          R[d + 1] = 0;
          break;
        }
        case 0xc4:
          R[d] = R[d]! >> (code[at + 2]! & 31);
          R[d + 1] = 0;
          break;
        case 0xcc:
          R[d] = R[d]! >> (R[s]! & 31);
          R[d + 1] = 0;
          break;
        case 0xd4:
          endian(R, d, code[at + 2]!, false);
          break;
        case 0xdc:
          endian(R, d, code[at + 2]!, true);
          break;

        // ALU64
        case 0x07: {
          const imm = code[at + 2]!;
          const sum = (R[d]! >>> 0) + (imm >>> 0);
          R[d] = sum;
          R[d + 1] = R[d + 1]! + (imm >> 31) + (sum >= TWO32 ? 1 : 0);
          break;
        }
        case 0x0f: {
          const sum = (R[d]! >>> 0) + (R[s]! >>> 0);
          R[d + 1] = R[d + 1]! + R[s + 1]! + (sum >= TWO32 ? 1 : 0);
          R[d] = sum;
          break;
        }
        case 0x17: {
          const imm = code[at + 2]!;
          const diff = (R[d]! >>> 0) - (imm >>> 0);
          R[d] = diff;
          R[d + 1] = R[d + 1]! - (imm >> 31) - (diff < 0 ? 1 : 0);
          break;
        }
        case 0x1f: {
          const diff = (R[d]! >>> 0) - (R[s]! >>> 0);
          R[d + 1] = R[d + 1]! - R[s + 1]! - (diff < 0 ? 1 : 0);
          R[d] = diff;
          break;
        }
        case 0x27: {
          const imm = code[at + 2]!;
          mul64(R, d, imm, imm >> 31);
          break;
        }
        case 0x2f:
          mul64(R, d, R[s]!, R[s + 1]!);
          break;
        case 0x37: {
          const imm = code[at + 2]!;
          divmod64(R, d, imm, imm >> 31, false, code[at + 1] !== 0);
          break;
        }
        case 0x3f:
          divmod64(R, d, R[s]!, R[s + 1]!, false, code[at + 1] !== 0);
          break;
        case 0x47: {
          const imm = code[at + 2]!;
          R[d] = R[d]! | imm;
          R[d + 1] = R[d + 1]! | (imm >> 31);
          break;
        }
        case 0x4f:
          R[d] = R[d]! | R[s]!;
          R[d + 1] = R[d + 1]! | R[s + 1]!;
          break;
        case 0x57: {
          const imm = code[at + 2]!;
          R[d] = R[d]! & imm;
          R[d + 1] = R[d + 1]! & (imm >> 31);
          break;
        }
        case 0x5f:
          R[d] = R[d]! & R[s]!;
          R[d + 1] = R[d + 1]! & R[s + 1]!;
          break;
        case 0x67:
          lsh64(R, d, code[at + 2]! & 63);
          break;
        case 0x6f:
          lsh64(R, d, R[s]! & 63);
          break;
        case 0x77:
          rsh64(R, d, code[at + 2]! & 63);
          break;
        case 0x7f:
          rsh64(R, d, R[s]! & 63);
          break;
        case 0x87: {
          const l = R[d]!;
          R[d] = -l;
          R[d + 1] = ~R[d + 1]! + (l === 0 ? 1 : 0);
          break;
        }
        case 0x97: {
          const imm = code[at + 2]!;
          divmod64(R, d, imm, imm >> 31, true, code[at + 1] !== 0);
          break;
        }
        case 0x9f:
          divmod64(R, d, R[s]!, R[s + 1]!, true, code[at + 1] !== 0);
          break;
        case 0xa7: {
          const imm = code[at + 2]!;
          R[d] = R[d]! ^ imm;
          R[d + 1] = R[d + 1]! ^ (imm >> 31);
          break;
        }
        case 0xaf:
          R[d] = R[d]! ^ R[s]!;
          R[d + 1] = R[d + 1]! ^ R[s + 1]!;
          break;
        case 0xb7: {
          const imm = code[at + 2]!;
          R[d] = imm;
          R[d + 1] = imm >> 31;
          break;
        }
        case 0xbf: {
          const off = code[at + 1]!;
          if (off === 0) {
            R[d] = R[s]!;
            R[d + 1] = R[s + 1]!;
          } else if (off === 1) {
            // addr_space_cast: the VM's address space is 32-bit in both directions.
            R[d] = R[s]!;
            R[d + 1] = 0;
          } else {
            const v = off === 8 ? (R[s]! << 24) >> 24 : off === 16 ? (R[s]! << 16) >> 16 : R[s]!;
            R[d] = v;
            R[d + 1] = v >> 31;
          }
          break;
        }
        case 0xc7:
          arsh64(R, d, code[at + 2]! & 63);
          break;
        case 0xcf:
          arsh64(R, d, R[s]! & 63);
          break;
        case 0xd7:
          endian(R, d, code[at + 2]!, true);
          break;

        // lddw (pseudo sources were rejected at load)
        case 0x18:
          R[d] = code[at + 2]!;
          R[d + 1] = code[at + 3]!;
          pc++;
          break;

        // Loads
        case 0x61:
          a = (R[s]! >>> 0) + code[at + 1]!;
          if (R[s + 1] !== 0 || a < cStart || a + 4 > cEnd) {
            const r = state.region(R[s + 1]!, R[s]!, code[at + 1]!, 4, false, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          R[d] = view.getInt32(a, true);
          R[d + 1] = 0;
          break;
        case 0x69:
          a = (R[s]! >>> 0) + code[at + 1]!;
          if (R[s + 1] !== 0 || a < cStart || a + 2 > cEnd) {
            const r = state.region(R[s + 1]!, R[s]!, code[at + 1]!, 2, false, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          R[d] = view.getUint16(a, true);
          R[d + 1] = 0;
          break;
        case 0x71:
          a = (R[s]! >>> 0) + code[at + 1]!;
          if (R[s + 1] !== 0 || a < cStart || a + 1 > cEnd) {
            const r = state.region(R[s + 1]!, R[s]!, code[at + 1]!, 1, false, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          R[d] = u8[a]!;
          R[d + 1] = 0;
          break;
        case 0x79:
          a = (R[s]! >>> 0) + code[at + 1]!;
          if (R[s + 1] !== 0 || a < cStart || a + 8 > cEnd) {
            const r = state.region(R[s + 1]!, R[s]!, code[at + 1]!, 8, false, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          R[d] = view.getInt32(a, true);
          R[d + 1] = view.getInt32(a + 4, true);
          break;
        case 0x81:
        case 0x89:
        case 0x91: {
          const size = (w & 0x18) === 0 ? 4 : (w & 0x18) === 0x08 ? 2 : 1;
          a = (R[s]! >>> 0) + code[at + 1]!;
          if (R[s + 1] !== 0 || a < cStart || a + size > cEnd) {
            const r = state.region(R[s + 1]!, R[s]!, code[at + 1]!, size, false, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          const v = size === 4 ? view.getInt32(a, true) : size === 2 ? view.getInt16(a, true) : view.getInt8(a);
          R[d] = v;
          R[d + 1] = v >> 31;
          break;
        }

        // Stores of an immediate
        case 0x62:
        case 0x6a:
        case 0x72:
        case 0x7a: {
          const size = (w & 0x18) === 0 ? 4 : (w & 0x18) === 0x08 ? 2 : (w & 0x18) === 0x10 ? 1 : 8;
          a = (R[d]! >>> 0) + code[at + 1]!;
          if (R[d + 1] !== 0 || a < cStart || a + size > cWEnd) {
            const r = state.region(R[d + 1]!, R[d]!, code[at + 1]!, size, true, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          const imm = code[at + 2]!;
          if (size === 4) view.setInt32(a, imm, true);
          else if (size === 2) view.setInt16(a, imm, true);
          else if (size === 1) u8[a] = imm;
          else {
            view.setInt32(a, imm, true);
            view.setInt32(a + 4, imm >> 31, true);
          }
          break;
        }

        // Stores of a register
        case 0x63:
          a = (R[d]! >>> 0) + code[at + 1]!;
          if (R[d + 1] !== 0 || a < cStart || a + 4 > cWEnd) {
            const r = state.region(R[d + 1]!, R[d]!, code[at + 1]!, 4, true, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          view.setInt32(a, R[s]!, true);
          break;
        case 0x6b:
          a = (R[d]! >>> 0) + code[at + 1]!;
          if (R[d + 1] !== 0 || a < cStart || a + 2 > cWEnd) {
            const r = state.region(R[d + 1]!, R[d]!, code[at + 1]!, 2, true, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          view.setInt16(a, R[s]!, true);
          break;
        case 0x73:
          a = (R[d]! >>> 0) + code[at + 1]!;
          if (R[d + 1] !== 0 || a < cStart || a + 1 > cWEnd) {
            const r = state.region(R[d + 1]!, R[d]!, code[at + 1]!, 1, true, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          u8[a] = R[s]!;
          break;
        case 0x7b:
          a = (R[d]! >>> 0) + code[at + 1]!;
          if (R[d + 1] !== 0 || a < cStart || a + 8 > cWEnd) {
            const r = state.region(R[d + 1]!, R[d]!, code[at + 1]!, 8, true, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          view.setInt32(a, R[s]!, true);
          view.setInt32(a + 4, R[s + 1]!, true);
          break;

        // Atomics (one JS thread: a read-modify-write is atomic)
        case 0xc3:
        case 0xdb: {
          const wide = (w & 0x18) === 0x18;
          const size = wide ? 8 : 4;
          const imm = code[at + 2]!;
          const loadAcquire = imm === 0x100;
          const base = loadAcquire ? s : d;
          // load-acquire / store-release are defined for every size.
          a = (R[base]! >>> 0) + code[at + 1]!;
          if (R[base + 1] !== 0 || a < cStart || a + size > (loadAcquire ? cEnd : cWEnd)) {
            const r = state.region(R[base + 1]!, R[base]!, code[at + 1]!, size, !loadAcquire, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          atomic(view, R, a, wide, imm, d, s);
          break;
        }
        case 0xcb:
        case 0xd3: {
          // load-acquire / store-release of 1 or 2 bytes
          const size = (w & 0x18) === 0x08 ? 2 : 1;
          const imm = code[at + 2]!;
          const loadAcquire = imm === 0x100;
          const base = loadAcquire ? s : d;
          a = (R[base]! >>> 0) + code[at + 1]!;
          if (R[base + 1] !== 0 || a < cStart || a + size > (loadAcquire ? cEnd : cWEnd)) {
            const r = state.region(R[base + 1]!, R[base]!, code[at + 1]!, size, !loadAcquire, pc - 1);
            cStart = r.start;
            cEnd = r.start + r.size;
            cWEnd = r.writable ? cEnd : 0;
          }
          if (loadAcquire) {
            R[d] = size === 2 ? view.getUint16(a, true) : u8[a]!;
            R[d + 1] = 0;
          } else if (size === 2) view.setInt16(a, R[s]!, true);
          else u8[a] = R[s]!;
          break;
        }

        // Legacy packet loads: r0 = big-endian value; out of bounds: r0 = 0 and exit.
        case 0x20:
        case 0x28:
        case 0x30:
        case 0x40:
        case 0x48:
        case 0x50: {
          const size = (w & 0x18) === 0 ? 4 : (w & 0x18) === 0x08 ? 2 : 1;
          const offset = (w & 0xe0) === 0x20 ? code[at + 2]! : (R[s]! + code[at + 2]!) | 0;
          const v = state.loadPacket(offset, size, pc - 1);
          R[0] = v < 0 ? 0 : v;
          R[1] = 0;
          if (v < 0) {
            remaining++;
            pc = state.program.decoded.length + SYNTHETIC_EXIT;
          }
          break;
        }

        // Jumps
        case 0x05:
        case 0x06:
          pc = code[at + 3]!;
          break;
        case 0x15:
          if (R[d] === code[at + 2] && R[d + 1] === code[at + 2]! >> 31) pc = code[at + 3]!;
          break;
        case 0x1d:
          if (R[d] === R[s] && R[d + 1] === R[s + 1]) pc = code[at + 3]!;
          break;
        case 0x25:
          if (gtU(R[d + 1]!, R[d]!, code[at + 2]! >> 31, code[at + 2]!)) pc = code[at + 3]!;
          break;
        case 0x2d:
          if (gtU(R[d + 1]!, R[d]!, R[s + 1]!, R[s]!)) pc = code[at + 3]!;
          break;
        case 0x35:
          if (geU(R[d + 1]!, R[d]!, code[at + 2]! >> 31, code[at + 2]!)) pc = code[at + 3]!;
          break;
        case 0x3d:
          if (geU(R[d + 1]!, R[d]!, R[s + 1]!, R[s]!)) pc = code[at + 3]!;
          break;
        case 0x45:
          if ((R[d]! & code[at + 2]!) !== 0 || (R[d + 1]! & (code[at + 2]! >> 31)) !== 0) pc = code[at + 3]!;
          break;
        case 0x4d:
          if ((R[d]! & R[s]!) !== 0 || (R[d + 1]! & R[s + 1]!) !== 0) pc = code[at + 3]!;
          break;
        case 0x55:
          if (R[d] !== code[at + 2] || R[d + 1] !== code[at + 2]! >> 31) pc = code[at + 3]!;
          break;
        case 0x5d:
          if (R[d] !== R[s] || R[d + 1] !== R[s + 1]) pc = code[at + 3]!;
          break;
        case 0x65:
          if (gtS(R[d + 1]!, R[d]!, code[at + 2]! >> 31, code[at + 2]!)) pc = code[at + 3]!;
          break;
        case 0x6d:
          if (gtS(R[d + 1]!, R[d]!, R[s + 1]!, R[s]!)) pc = code[at + 3]!;
          break;
        case 0x75:
          if (geS(R[d + 1]!, R[d]!, code[at + 2]! >> 31, code[at + 2]!)) pc = code[at + 3]!;
          break;
        case 0x7d:
          if (geS(R[d + 1]!, R[d]!, R[s + 1]!, R[s]!)) pc = code[at + 3]!;
          break;
        case 0xa5:
          if (gtU(code[at + 2]! >> 31, code[at + 2]!, R[d + 1]!, R[d]!)) pc = code[at + 3]!;
          break;
        case 0xad:
          if (gtU(R[s + 1]!, R[s]!, R[d + 1]!, R[d]!)) pc = code[at + 3]!;
          break;
        case 0xb5:
          if (geU(code[at + 2]! >> 31, code[at + 2]!, R[d + 1]!, R[d]!)) pc = code[at + 3]!;
          break;
        case 0xbd:
          if (geU(R[s + 1]!, R[s]!, R[d + 1]!, R[d]!)) pc = code[at + 3]!;
          break;
        case 0xc5:
          if (gtS(code[at + 2]! >> 31, code[at + 2]!, R[d + 1]!, R[d]!)) pc = code[at + 3]!;
          break;
        case 0xcd:
          if (gtS(R[s + 1]!, R[s]!, R[d + 1]!, R[d]!)) pc = code[at + 3]!;
          break;
        case 0xd5:
          if (geS(code[at + 2]! >> 31, code[at + 2]!, R[d + 1]!, R[d]!)) pc = code[at + 3]!;
          break;
        case 0xdd:
          if (geS(R[s + 1]!, R[s]!, R[d + 1]!, R[d]!)) pc = code[at + 3]!;
          break;

        // JMP32: compare the low halves.
        case 0x16:
          if (R[d] === code[at + 2]) pc = code[at + 3]!;
          break;
        case 0x1e:
          if (R[d] === R[s]) pc = code[at + 3]!;
          break;
        case 0x26:
          if (R[d]! >>> 0 > code[at + 2]! >>> 0) pc = code[at + 3]!;
          break;
        case 0x2e:
          if (R[d]! >>> 0 > R[s]! >>> 0) pc = code[at + 3]!;
          break;
        case 0x36:
          if (R[d]! >>> 0 >= code[at + 2]! >>> 0) pc = code[at + 3]!;
          break;
        case 0x3e:
          if (R[d]! >>> 0 >= R[s]! >>> 0) pc = code[at + 3]!;
          break;
        case 0x46:
          if ((R[d]! & code[at + 2]!) !== 0) pc = code[at + 3]!;
          break;
        case 0x4e:
          if ((R[d]! & R[s]!) !== 0) pc = code[at + 3]!;
          break;
        case 0x56:
          if (R[d] !== code[at + 2]) pc = code[at + 3]!;
          break;
        case 0x5e:
          if (R[d] !== R[s]) pc = code[at + 3]!;
          break;
        case 0x66:
          if (R[d]! > code[at + 2]!) pc = code[at + 3]!;
          break;
        case 0x6e:
          if (R[d]! > R[s]!) pc = code[at + 3]!;
          break;
        case 0x76:
          if (R[d]! >= code[at + 2]!) pc = code[at + 3]!;
          break;
        case 0x7e:
          if (R[d]! >= R[s]!) pc = code[at + 3]!;
          break;
        case 0xa6:
          if (R[d]! >>> 0 < code[at + 2]! >>> 0) pc = code[at + 3]!;
          break;
        case 0xae:
          if (R[d]! >>> 0 < R[s]! >>> 0) pc = code[at + 3]!;
          break;
        case 0xb6:
          if (R[d]! >>> 0 <= code[at + 2]! >>> 0) pc = code[at + 3]!;
          break;
        case 0xbe:
          if (R[d]! >>> 0 <= R[s]! >>> 0) pc = code[at + 3]!;
          break;
        case 0xc6:
          if (R[d]! < code[at + 2]!) pc = code[at + 3]!;
          break;
        case 0xce:
          if (R[d]! < R[s]!) pc = code[at + 3]!;
          break;
        case 0xd6:
          if (R[d]! <= code[at + 2]!) pc = code[at + 3]!;
          break;
        case 0xde:
          if (R[d]! <= R[s]!) pc = code[at + 3]!;
          break;

        // may_goto: the kernel's per-frame loop budget; jumps once it is spent.
        case 0xe5:
          if (state.loops === 0) pc = code[at + 3]!;
          else state.loops--;
          break;

        case 0x85:
        case 0x8d: {
          let entry: HelperEntry | undefined;
          if ((w & 0x08) !== 0) {
            // callx: the register holds a helper id (uBPF and the conformance suite).
            entry = R[d + 1] === 0 ? state.host.helpers.helper(R[d]!) : undefined;
            if (entry === undefined) {
              throw new VmRuntimeError(pc - 1, `callx r${d >> 1}: no helper with id ${toU64(R[d]!, R[d + 1]!)} is registered`);
            }
          } else if (s === 2) {
            state.enterFrame(pc, code[at + 3]!);
            cStart = cEnd = cWEnd = 0;
            pc = code[at + 3]!;
            break;
          } else {
            entry = state.program.decoded.callees[pc - 1]!;
          }
          state.remainingAtCall = remaining;
          state.invoke(entry, pc - 1);
          if (state.charged !== 0) remaining = state.afterCharge(remaining);
          // The helper may have grown memory or changed the region map.
          view = state.memory.view;
          u8 = state.memory.u8;
          cStart = cEnd = cWEnd = 0;
          if (state.pendingExit) return;
          if (state.pendingTail !== undefined) {
            state.enterTailCall();
            code = state.program.decoded.code;
            pc = 0;
          }
          break;
        }

        case 0x95: {
          if (state.depth === 0) {
            if (state.repeatsLeft === 0) return;
            // The next run of a repetition, in this same loop: its own full budget, from the first instruction of the root program.
            remaining = state.restart();
            code = state.program.decoded.code;
            pc = 0;
            break;
          }
          pc = state.leaveFrame();
          code = state.program.decoded.code;
          cStart = cEnd = cWEnd = 0;
          break;
        }

        case 0x00:
          throw new VmRuntimeError(pc - 1, 'execution fell off the end of the program (no exit)');
        default:
          // Unreachable for programs that passed prepareProgram.
          throw new VmRuntimeError(pc - 1, `unknown opcode 0x${(w & 0xff).toString(16).padStart(2, '0')}`);
      }
    }
  } finally {
    state.settleCount(remaining);
  }
}

/** What RunOptions.onStep sees of a RunState (read-only). */
class StepView implements ExecutionStep {
  constructor(private readonly state: RunState) {}

  get pc(): number {
    return this.state.pc;
  }

  get programName(): string {
    return this.state.program.name;
  }

  get depth(): number {
    return this.state.depth;
  }

  get executed(): number {
    return this.state.executedBefore();
  }

  get memory(): VmMemory {
    return this.state.memory;
  }

  register(n: number): bigint {
    if (!Number.isInteger(n) || n < 0 || n > 10) throw new VmOptionError(`ExecutionStep.register: r${n} does not exist (r0-r10)`);
    return toU64(this.state.regs[n * 2]!, this.state.regs[n * 2 + 1]!);
  }
}

/** BPF_ATOMIC of 4 or 8 bytes at `a` (already checked). */
function atomic(view: DataView, R: Int32Array, a: number, wide: boolean, imm: number, d: number, s: number): void {
  if (imm === 0x100) {
    R[d] = view.getInt32(a, true);
    R[d + 1] = wide ? view.getInt32(a + 4, true) : 0;
    return;
  }
  if (imm === 0x110) {
    view.setInt32(a, R[s]!, true);
    if (wide) view.setInt32(a + 4, R[s + 1]!, true);
    return;
  }
  const oldLo = view.getInt32(a, true);
  const oldHi = wide ? view.getInt32(a + 4, true) : 0;
  let newLo: number;
  let newHi = 0;
  const srcLo = R[s]!;
  const srcHi = R[s + 1]!;
  switch (imm & ~1) {
    case 0x00: {
      const sum = (oldLo >>> 0) + (srcLo >>> 0);
      newLo = sum | 0;
      newHi = (oldHi + srcHi + (sum >= TWO32 ? 1 : 0)) | 0;
      break;
    }
    case 0x40:
      newLo = oldLo | srcLo;
      newHi = oldHi | srcHi;
      break;
    case 0x50:
      newLo = oldLo & srcLo;
      newHi = oldHi & srcHi;
      break;
    case 0xa0:
      newLo = oldLo ^ srcLo;
      newHi = oldHi ^ srcHi;
      break;
    case 0xe0:
      newLo = srcLo;
      newHi = srcHi;
      break;
    default: {
      // cmpxchg: store src if mem == r0; r0 = old value either way.
      const equal = wide ? oldLo === R[0] && oldHi === R[1] : oldLo === R[0];
      if (equal) {
        view.setInt32(a, srcLo, true);
        if (wide) view.setInt32(a + 4, srcHi, true);
      }
      R[0] = oldLo;
      R[1] = oldHi;
      return;
    }
  }
  view.setInt32(a, newLo, true);
  if (wide) view.setInt32(a + 4, newHi, true);
  if ((imm & 1) !== 0) {
    R[s] = oldLo;
    R[s + 1] = oldHi;
  }
}
