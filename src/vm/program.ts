import { helperById } from '../uapi/helpers.ts';
import { type Instruction, isLddw } from '../isa/instruction.ts';
import { MAX_CALL_FRAMES, STACK_FRAME_SIZE } from '../isa/opcodes.ts';
import { instructionProblem } from '../isa/validate.ts';
import {
  AluOp,
  AtomicOp,
  CallSrc,
  InsnClass,
  JmpOp,
  LdImm64Src,
  Mode,
  OPCODE_CALL,
  OPCODE_CALLX,
  OPCODE_JA32,
  OPCODE_LDDW,
  OPCODE_MAY_GOTO,
  Source,
  aluOp,
  jmpOp,
  opClass,
  opMode,
  opSource,
} from '../isa/opcodes.ts';
import { type MissingFunction, ProgramLoadError, UnknownHelperError, VmOptionError } from './errors.ts';
import type { HelperEntry, HelperRegistry } from './helper-registry.ts';
import type { ProgramView } from './view.ts';
import type { Region, VmMemory } from './memory.ts';

/**
 * The run API shared by the VM's execution engines (interpreter, JIT):
 * load-time checks, options and results.
 */

/** Instruction-set version, as clang's -mcpu=v1..v4 and the conformance suite's --cpu_version. */
export type IsaVersion = 1 | 2 | 3 | 4;

/** The kernel's limit on instructions in a (privileged) program, BPF_COMPLEXITY_LIMIT_INSNS. */
export const MAX_PROGRAM_SLOTS = 1_000_000;

/** Instructions a run may execute unless told otherwise. */
export const DEFAULT_BUDGET = 1_000_000_000;

/** may_goto's per-frame iteration budget, the kernel's BPF_MAX_LOOPS. */
export const MAY_GOTO_LOOPS = 8 * 1024 * 1024;

export interface LoadOptions {
  /** Shown in errors and listings. */
  name?: string;
  /** Reject instructions newer than this version (default 4: everything). */
  isa?: IsaVersion;
  /**
   * Stack bytes of functions by entry instruction (a multiple of 16, at most
   * 512), as a verifier computed them; an entry here is a function even if
   * no call names it (a callback). Functions not listed are sized from their
   * instructions (functionStackDepths). A frame reaches exactly its size.
   */
  frames?: ReadonlyMap<number, number>;
}

/**
 * The call chain a run continues (a callback that a helper runs on top of
 * its caller's frames): its frames and their stack bytes count toward
 * MAX_CALL_FRAMES and the chain's 512 bytes, as in the kernel.
 */
export interface StackChain {
  /** Frames of the chain so far, the helper's caller included. */
  readonly frames: number;
  /** Stack bytes of those frames. */
  readonly bytes: number;
}

/** Bytes the legacy packet loads (LD_ABS / LD_IND) read: the skb's linear data. */
export interface PacketData {
  /** VM address of the first byte (skb->data). */
  readonly start: number;
  readonly length: number;
  /** VM address of the link-layer header, which offsets from SKF_LL_OFF read (none: such loads fail). */
  readonly macHeader?: number;
  /** VM address of the network header, which offsets from SKF_NET_OFF read (none: such loads fail). */
  readonly networkHeader?: number;
}

/** Negative LD_ABS / LD_IND offsets from here read the network header (linux/filter.h). */
export const SKF_NET_OFF = -0x100000;
/** Negative offsets from here (below SKF_NET_OFF) read the link-layer header. */
export const SKF_LL_OFF = -0x200000;

/**
 * LD_ABS / LD_IND of `size` bytes at `offset` (the 32-bit sum of imm and
 * src), as the kernel's bpf_skb_load_helper does: a non-negative offset is
 * from skb->data and must lie within the linear data; a negative one is
 * relative to the network header from SKF_NET_OFF, to the link-layer header
 * from SKF_LL_OFF (bpf_internal_load_pointer_neg_helper), and must end by
 * the tail; anything else fails. Returns the big-endian value, or -1 when
 * the load fails (the program then exits with 0).
 */
export function loadLegacyPacket(view: DataView, packet: PacketData, offset: number, size: number): number {
  let at: number;
  if (offset >= 0) {
    if (offset + size > packet.length) return -1;
    at = packet.start + offset;
  } else if (offset >= SKF_NET_OFF) {
    if (packet.networkHeader === undefined) return -1;
    at = packet.networkHeader + (offset - SKF_NET_OFF);
  } else if (offset >= SKF_LL_OFF) {
    if (packet.macHeader === undefined) return -1;
    at = packet.macHeader + (offset - SKF_LL_OFF);
  } else return -1;
  if (at + size > packet.start + packet.length) return -1;
  return size === 4 ? view.getUint32(at, false) : size === 2 ? view.getUint16(at, false) : view.getUint8(at);
}

export interface RunOptions {
  /** Initial r1-r5. A number must be an integer; negative values are sign-extended. */
  r1?: number | bigint;
  r2?: number | bigint;
  r3?: number | bigint;
  r4?: number | bigint;
  r5?: number | bigint;
  /**
   * Input bytes, copied into a fresh VM region for the run: r1 = its address
   * and r2 = its length unless r1/r2 are given. The region's final contents
   * are copied back into this array after the run, even when it fails.
   */
  mem?: Uint8Array;
  /** Whether the program may write `mem` (default true). */
  memWritable?: boolean;
  /** Most instructions to execute, 0 = unlimited (default: the VM's budget, normally DEFAULT_BUDGET). */
  budget?: number;
  /** Data for LD_ABS / LD_IND; those instructions fail without it. */
  packet?: PacketData;
  /** Handed to helpers untouched as `HelperCall.context`. */
  context?: unknown;
  /**
   * Called before each instruction the interpreter executes, for debuggers
   * and recorders (the JIT refuses it: compiled code has no place to stop).
   * The hook makes a run several times slower; runs without it pay nothing.
   */
  onStep?: (step: ExecutionStep) => void;
  /** The call chain this run continues (set by callFunctionPointer for callbacks). */
  chain?: StackChain;
}

/** The machine as it is before one instruction, handed to RunOptions.onStep (valid only during the call). */
export interface ExecutionStep {
  /** Index of the instruction about to execute in `programName`. */
  readonly pc: number;
  /** The program executing (after a tail call, not the one the run started with). */
  readonly programName: string;
  /** bpf-to-bpf call depth, 0 in the main program. */
  readonly depth: number;
  /** Instructions executed so far in this run (an lddw counts once). */
  readonly executed: number;
  readonly memory: VmMemory;
  /** rN as an unsigned 64-bit value. */
  register(n: number): bigint;
}

export interface RunResult {
  /** r0 at the final exit, as an unsigned 64-bit value. */
  readonly r0: bigint;
  /** Instructions executed (an lddw counts once). */
  readonly instructions: number;
  /** Successful tail calls made. */
  readonly tailCalls: number;
}

/** A program ready to run in one engine. */
export interface LoadedProgram {
  readonly name: string;
  readonly engine: 'interpreter' | 'jit';
  readonly instructions: readonly Instruction[];
  /** The regions and maps the program may reach (src/vm/view.ts). */
  readonly view: ProgramView;
  run(options?: RunOptions): RunResult;
  /**
   * Runs `repeat` times (1..2^31-1) after one set-up, as BPF_PROG_TEST_RUN's
   * `repeat`: the same r1-r5 and full budget each time, memory carried over;
   * stops early when a helper ends the program (exitProgram). Returns the
   * last run's result.
   */
  runRepeated(options: RunOptions, repeat: number): RunResult;
  /**
   * Sets up runs with `options` once, for many runs on inputs the caller
   * changes in memory between them (the streaming path: one packet after
   * another at the same addresses). Each run starts afresh (registers, full
   * budget, zeroed stack frames); close the session when done.
   */
  openSession(options: RunOptions): RunSession;
}

/** Runs of one program with the same options: see LoadedProgram.openSession. */
export interface RunSession {
  /** Runs the program once; returns r0's low 32 bits, unsigned. */
  run(): number;
  /**
   * The JIT, for XDP programs that call nothing: runs a whole batch of
   * packets already in VM memory in one WebAssembly call (see PacketLoop).
   */
  runPackets?(loop: PacketLoop): void;
  close(): void;
}

/**
 * A batch for RunSession.runPackets, all addresses in VM memory: packet
 * `i` of `count` is the `lengths[i]` bytes at `base + starts[i]` (u32
 * arrays at `starts` and `lengths`, so that a capture batch's columns are
 * copied in whole), memory no program reaches otherwise. Each is run where
 * it lies: the packet region `packetRegion` and the xdp_md at `context`
 * point at it while it runs (the region is as it was after the loop), and
 * r0's low half is stored at `results + 4i`; `progress` holds the index
 * being run (on an error, the packet that failed). `tally` points at
 * TALLIED_RETVALS + 1 u32 counters, zeroed by the caller: the loop counts
 * each return value below TALLIED_RETVALS in its own, the others in the last.
 */
export interface PacketLoop {
  count: number;
  base: number;
  starts: number;
  lengths: number;
  context: number;
  packetRegion: Region;
  results: number;
  progress: number;
  tally: number;
}

/** Return values a packet loop counts one by one (every XDP and tc verdict); larger ones share one counter. */
export const TALLIED_RETVALS = 16;

/** The kernel's MAX_BPF_STACK: the stack of a whole call chain, all frames together. */
export const MAX_COMBINED_STACK = 512;

/**
 * Bytes of stack each function (by entry instruction) uses, as far as its
 * instructions show: the deepest offset below r10 that a load, store or
 * atomic reaches, through r10 or a register holding r10 plus a constant
 * (including a pointer handed to a helper, and one spilled to a stack slot
 * and loaded back), rounded up to 16 bytes as the kernel's verifier rounds
 * a frame for the JIT. A pointer whose offset is not a constant counts as
 * the whole 512 bytes. Functions in `given` (a verifier's sizes) keep
 * their size. The scan is linear, an estimate: a frame reaches exactly
 * its size when the program runs, so an access it missed faults.
 */
export function functionStackDepths(instructions: readonly Instruction[], starts: Uint8Array, given?: ReadonlyMap<number, number>): Map<number, number> {
  const entries = new Set<number>([0, ...(given?.keys() ?? [])]);
  instructions.forEach((i, pc) => {
    if (starts[pc] && i.opcode === OPCODE_CALL && i.src === CallSrc.LOCAL) entries.add(pc + 1 + i.imm);
    // A callback (lddw of a function, before the VM resolves it) is a function of its own.
    if (starts[pc] && i.opcode === OPCODE_LDDW && i.src === LdImm64Src.FUNC && starts[pc + 1 + i.imm] === 1) entries.add(pc + 1 + i.imm);
  });
  const depths = new Map<number, number>();
  const sorted = [...entries].sort((a, b) => a - b);
  sorted.forEach((entry, k) => {
    const known = given?.get(entry);
    if (known !== undefined) {
      depths.set(entry, known);
      return;
    }
    depths.set(entry, scanFrame(instructions, starts, entry, sorted[k + 1] ?? instructions.length));
  });
  return depths;
}

/**
 * The frame of every function of `instructions` (functionStackDepths),
 * callbacks included, with `given` sizes kept: what LoadOptions.frames
 * takes once function pointers are resolved.
 */
export function functionFrames(instructions: readonly Instruction[], given?: ReadonlyMap<number, number>): Map<number, number> {
  const starts = new Uint8Array(instructions.length);
  for (let pc = 0; pc < instructions.length; pc++) {
    starts[pc] = 1;
    if (instructions[pc]!.opcode === OPCODE_LDDW) pc++;
  }
  return functionStackDepths(instructions, starts, given);
}

/** functionStackDepths' scan of one function, instructions [entry, end). */
function scanFrame(instructions: readonly Instruction[], starts: Uint8Array, entry: number, end: number): number {
  // Registers known to hold r10 + offset, and stack slots (by offset) holding such a pointer.
  const offsets = new Map<number, number>([[10, 0]]);
  const spilled = new Map<number, number>();
  let depth = 0;
  const slotOf = (base: number, offset: number): number | undefined => {
    const at = offsets.get(base);
    return at === undefined ? undefined : at + offset;
  };
  const reach = (base: number, offset: number): void => {
    const at = slotOf(base, offset);
    // Accesses past the frame fault when they run (the verifier would refuse them): they size no frame.
    if (at !== undefined && at < 0 && -at <= STACK_FRAME_SIZE) depth = Math.max(depth, -at);
  };
  for (let pc = entry; pc < end; pc++) {
    if (!starts[pc]) continue;
    const i = instructions[pc]!;
    const cls = opClass(i.opcode);
    const atomic = cls === InsnClass.STX && opMode(i.opcode) === Mode.ATOMIC;
    if (atomic && i.imm === AtomicOp.LOAD_ACQ) {
      // dst = load_acquire(src + off): src is the base, dst is loaded.
      reach(i.src, i.offset);
      offsets.delete(i.dst);
      continue;
    }
    if (atomic && (i.imm & AtomicOp.FETCH) !== 0) {
      // The old value goes to src (to r0 for cmpxchg).
      reach(i.dst, i.offset);
      offsets.delete(i.imm === AtomicOp.CMPXCHG ? 0 : i.src);
      continue;
    }
    if (cls === InsnClass.LDX) reach(i.src, i.offset);
    else if (cls === InsnClass.ST || cls === InsnClass.STX) {
      reach(i.dst, i.offset);
      const slot = slotOf(i.dst, i.offset);
      if (slot !== undefined) {
        const pointer = cls === InsnClass.STX && opMode(i.opcode) === Mode.MEM && i.offset % 8 === 0 ? offsets.get(i.src) : undefined;
        if (pointer !== undefined && i.opcode === OPCODE_STX_DW) spilled.set(slot, pointer);
        else for (let s = slot - 7; s < slot + 8; s++) spilled.delete(s);
      }
    }
    if (cls === InsnClass.ALU64 && aluOp(i.opcode) === AluOp.MOV && opSource(i.opcode) === Source.X && i.offset === 0) {
      const from = offsets.get(i.src);
      if (from !== undefined) offsets.set(i.dst, from);
      else offsets.delete(i.dst);
      continue;
    }
    if (cls === InsnClass.ALU64 && (aluOp(i.opcode) === AluOp.ADD || aluOp(i.opcode) === AluOp.SUB) && opSource(i.opcode) === Source.K && offsets.has(i.dst)) {
      const next = offsets.get(i.dst)! + (aluOp(i.opcode) === AluOp.ADD ? i.imm : -i.imm);
      offsets.set(i.dst, next);
      if (next < 0 && -next <= STACK_FRAME_SIZE) depth = Math.max(depth, -next);
      continue;
    }
    if ((cls === InsnClass.ALU64 || cls === InsnClass.ALU) && offsets.has(i.dst) && i.dst !== 10) {
      // Arithmetic the scan cannot follow on a stack pointer: assume the whole frame.
      if (opSource(i.opcode) === Source.X || aluOp(i.opcode) !== AluOp.MOV) depth = STACK_FRAME_SIZE;
      offsets.delete(i.dst);
    } else if (i.opcode === OPCODE_LDX_DW && spilled.has(slotOf(i.src, i.offset) ?? NaN)) offsets.set(i.dst, spilled.get(slotOf(i.src, i.offset)!)!);
    else if (cls === InsnClass.LDX || i.opcode === OPCODE_LDDW) offsets.delete(i.dst);
    else if (i.opcode === OPCODE_CALL || i.opcode === OPCODE_CALLX) for (let r = 0; r <= 5; r++) offsets.delete(r);
  }
  return Math.min(STACK_FRAME_SIZE, (depth + 15) & ~15);
}

/** Opcodes of the 8-byte register load and store, which spill and fill stack pointers. */
const OPCODE_LDX_DW = 0x79;
const OPCODE_STX_DW = 0x7b;

function checkGivenFrames(frames: ReadonlyMap<number, number>, starts: Uint8Array): void {
  for (const [entry, bytes] of frames) {
    if (!Number.isInteger(entry) || starts[entry] !== 1) throw new ProgramLoadError(Math.max(0, Math.min(starts.length - 1, Math.trunc(entry) || 0)), `a function frame is given at ${entry}, which does not start an instruction`);
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > STACK_FRAME_SIZE || bytes % 16 !== 0) throw new ProgramLoadError(entry, `the frame of the function at ${entry} is given as ${bytes} bytes: a multiple of 16 up to ${STACK_FRAME_SIZE} is needed`);
  }
}

/**
 * The kernel's check_max_stack_depth: along every chain of bpf-to-bpf
 * calls from the entry, the frames' stack together stay within 512 bytes.
 * Recursion is left to the run-time frame limit.
 */
function checkCombinedStack(instructions: readonly Instruction[], starts: Uint8Array, depths: ReadonlyMap<number, number>): void {
  if (depths.size === 1) return;
  const functions = [...depths.keys()].sort((a, b) => a - b);
  const functionOf = (pc: number): number => {
    let f = 0;
    for (const start of functions) if (start <= pc) f = start;
    return f;
  };
  const calls = new Map<number, { pc: number; target: number }[]>();
  instructions.forEach((i, pc) => {
    if (!starts[pc] || i.opcode !== OPCODE_CALL || i.src !== CallSrc.LOCAL) return;
    const f = functionOf(pc);
    const target = pc + 1 + i.imm;
    if (!calls.has(f)) calls.set(f, []);
    // One call site per callee: the chains through it are the same.
    if (!calls.get(f)!.some((c) => c.target === target)) calls.get(f)!.push({ pc, target });
  });
  const onPath = new Set<number>();
  const walk = (fn: number, total: number, frames: number): void => {
    onPath.add(fn);
    for (const { pc, target } of calls.get(fn) ?? []) {
      if (onPath.has(target) || frames >= MAX_CALL_FRAMES) continue;
      const sum = total + depths.get(target)!;
      if (sum > MAX_COMBINED_STACK) throw new ProgramLoadError(pc, `combined stack size of ${frames + 1} calls is ${sum}. Too large (the frames of a call chain share ${MAX_COMBINED_STACK} bytes)`);
      walk(target, sum, frames + 1);
    }
    onPath.delete(fn);
  };
  walk(0, depths.get(0)!, 1);
}

/**
 * A RunSession over an engine's `runOnce(first)` (first: the run just after
 * set-up) and `release` (and `runPackets`, when the engine has it),
 * refusing runs once closed.
 */
export function runSession(name: string, runOnce: (first: boolean) => number, release: () => void, runPackets?: (loop: PacketLoop) => void): RunSession {
  let first = true;
  let open = true;
  const checkOpen = (): void => {
    if (!open) throw new VmOptionError(`program '${name}': run on a closed session`);
  };
  const session: RunSession = {
    run: (): number => {
      checkOpen();
      const r0 = runOnce(first);
      first = false;
      return r0;
    },
    close: (): void => {
      if (!open) return;
      open = false;
      release();
    },
  };
  if (runPackets !== undefined) {
    session.runPackets = (loop): void => {
      checkOpen();
      runPackets(loop);
      first = false;
    };
  }
  return session;
}

/**
 * The stack bytes a session's run zeroes before it starts (see
 * LoadedProgram.openSession), so that nothing of the previous run shows
 * through: none when no instruction names r10 (then only a tail call target,
 * which gets a zeroed frame of its own, can reach the stack); all the frames
 * when a bpf-to-bpf call, a tail call or a callback (bpf_loop...) can reach
 * deeper ones; else the first frame.
 */
export function sessionStackBytes(program: readonly Instruction[], frameBytes: number): number {
  if (!program.some((i) => i.dst === 10 || i.src === 10)) return 0;
  const deeper = program.some(
    (i) =>
      i.opcode === OPCODE_CALLX ||
      (i.opcode === OPCODE_LDDW && i.src === LdImm64Src.FUNC) ||
      (i.opcode === OPCODE_CALL && (i.src === CallSrc.LOCAL || (i.src === CallSrc.HELPER && i.imm === TAIL_CALL_HELPER))),
  );
  // Frames are laid out next to each other and a chain's take at most 512 bytes.
  return deeper ? MAX_COMBINED_STACK : frameBytes;
}

/**
 * The most instructions one run can execute, bpf-to-bpf calls included, or
 * undefined when the program shows no such bound: a jump that does not go
 * forward, a call to a function that does not come later (recursion), or a
 * helper, kfunc or callx call (a tail call or a callback runs more code on
 * the same budget). With only forward jumps an instruction runs at most
 * once per call of its function, so the sum over the instructions, each
 * call counting its callee's bound, is a bound; it is capped at 2^53.
 */
export function instructionBound(program: readonly Instruction[]): number | undefined {
  const starts: number[] = [];
  for (let pc = 0; pc < program.length; pc += program[pc]!.opcode === OPCODE_LDDW ? 2 : 1) starts.push(pc);
  // atMost[pc]: instructions a run entering at pc executes at most (each one at or after pc once).
  const atMost = new Float64Array(program.length + 2);
  for (let k = starts.length - 1; k >= 0; k--) {
    const pc = starts[k]!;
    const i = program[pc]!;
    const cls = opClass(i.opcode);
    let callee = 0;
    if (i.opcode === OPCODE_CALL) {
      if (i.src !== CallSrc.LOCAL || i.imm < 0) return undefined;
      callee = atMost[pc + 1 + i.imm] ?? 0;
    } else if (i.opcode === OPCODE_CALLX) {
      return undefined;
    } else if ((cls === InsnClass.JMP || cls === InsnClass.JMP32) && jmpOp(i.opcode) !== JmpOp.EXIT) {
      if ((i.opcode === OPCODE_JA32 ? i.imm : i.offset) < 0) return undefined;
    }
    atMost[pc] = Math.min(2 ** 53, 1 + callee + atMost[starts[k + 1] ?? program.length]!);
  }
  return atMost[0];
}

/** bpf_tail_call's helper id. */
const TAIL_CALL_HELPER = 12;

/** The outcome of the load-time checks, shared by the engines. */
export interface PreparedProgram {
  readonly name: string;
  readonly instructions: readonly Instruction[];
  /** The function each helper or kfunc call reaches, by instruction index. */
  readonly callees: ReadonlyMap<number, HelperEntry>;
  /** Stack bytes of the function each instruction belongs to (functionStackDepths), by index. */
  readonly frameBytes: Uint16Array;
}

function frameBytesByInstruction(length: number, depths: ReadonlyMap<number, number>): Uint16Array {
  const bytes = new Uint16Array(length);
  const entries = [...depths.keys()].sort((a, b) => a - b);
  entries.forEach((entry, k) => bytes.fill(depths.get(entry)!, entry, entries[k + 1] ?? length));
  return bytes;
}

/**
 * The oldest instruction-set version that has `i`, using the conformance
 * suite's classification: v2 added jlt/jle/jslt/jsle, v3 the JMP32 class,
 * atomics and bpf-to-bpf calls, v4 signed division, sign-extending moves
 * and loads, bswap and gotol. Newer kernel extensions (may_goto,
 * load-acquire/store-release, addr_space_cast, kfunc calls) count as v4.
 * callx, which Linux does not have, is v1 as in the suite (where it forms
 * its own "callx" group).
 */
export function isaVersionOf(i: Instruction): IsaVersion {
  const cls = opClass(i.opcode);
  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64: {
      const op = aluOp(i.opcode);
      if ((op === AluOp.DIV || op === AluOp.MOD) && i.offset !== 0) return 4;
      if (op === AluOp.MOV && opSource(i.opcode) === Source.X && i.offset !== 0) return 4;
      if (op === AluOp.END && cls === InsnClass.ALU64) return 4;
      return 1;
    }
    case InsnClass.JMP32:
      return i.opcode === OPCODE_JA32 ? 4 : 3;
    case InsnClass.JMP: {
      const op = jmpOp(i.opcode);
      if (op === JmpOp.JLT || op === JmpOp.JLE || op === JmpOp.JSLT || op === JmpOp.JSLE) return 2;
      if (i.opcode === OPCODE_CALL && i.src === CallSrc.LOCAL) return 3;
      if (i.opcode === OPCODE_MAY_GOTO || (i.opcode === OPCODE_CALL && i.src === CallSrc.KFUNC)) return 4;
      return 1;
    }
    case InsnClass.LDX:
      return opMode(i.opcode) === Mode.MEMSX ? 4 : 1;
    case InsnClass.STX:
      if (opMode(i.opcode) !== Mode.ATOMIC) return 1;
      return i.imm === AtomicOp.LOAD_ACQ || i.imm === AtomicOp.STORE_REL ? 4 : 3;
    default:
      return 1;
  }
}

/** The oldest version that runs every instruction of `program`. */
export function requiredIsaVersion(program: readonly Instruction[]): IsaVersion {
  let version: IsaVersion = 1;
  for (let n = 0; n < program.length; n++) {
    const v = isaVersionOf(program[n]!);
    if (v > version) version = v;
    if (isLddw(program[n]!)) n++;
  }
  return version;
}

const PSEUDO_NAMES: Record<number, string> = {
  [LdImm64Src.MAP_FD]: 'BPF_PSEUDO_MAP_FD',
  [LdImm64Src.MAP_VALUE]: 'BPF_PSEUDO_MAP_VALUE',
  [LdImm64Src.BTF_ID]: 'BPF_PSEUDO_BTF_ID',
  [LdImm64Src.FUNC]: 'BPF_PSEUDO_FUNC',
  [LdImm64Src.MAP_IDX]: 'BPF_PSEUDO_MAP_IDX',
  [LdImm64Src.MAP_IDX_VALUE]: 'BPF_PSEUDO_MAP_IDX_VALUE',
};

/**
 * Checks everything about a program that can be known before running it —
 * well-formed instructions, jump and call targets inside the program and
 * not into the middle of an lddw, no unresolved lddw pseudo sources, the
 * ISA version — and resolves every helper and kfunc call against
 * `helpers`, listing all the missing ones in one UnknownHelperError.
 * Memory safety is not a load-time property here: every access is checked
 * when it happens.
 */
export function prepareProgram(instructions: readonly Instruction[], helpers: HelperRegistry, options: LoadOptions = {}): PreparedProgram {
  const n = instructions.length;
  const isa = options.isa ?? 4;
  if (n === 0) throw new ProgramLoadError(0, 'the program has no instructions');
  if (n > MAX_PROGRAM_SLOTS) throw new ProgramLoadError(MAX_PROGRAM_SLOTS, `program of ${n} instructions exceeds the limit of ${MAX_PROGRAM_SLOTS}`);

  // Slots that begin an instruction (false for the second half of an lddw).
  const starts = new Uint8Array(n);
  for (let pc = 0; pc < n; pc++) {
    const i = instructions[pc]!;
    starts[pc] = 1;
    const problem = instructionProblem(i, instructions[pc + 1]);
    if (problem !== undefined) throw new ProgramLoadError(pc, problem);
    const version = isaVersionOf(i);
    if (version > isa) throw new ProgramLoadError(pc, `opcode 0x${i.opcode.toString(16).padStart(2, '0')} needs ISA v${version}, the program is loaded as v${isa}`);
    if (i.opcode === OPCODE_LDDW) {
      if (i.src !== LdImm64Src.IMM64) {
        const kind = PSEUDO_NAMES[i.src] ?? `src ${i.src}`;
        throw new ProgramLoadError(pc, `lddw with ${kind} is unresolved: a loader must replace it with a value (src 0) before the program runs`);
      }
      pc++;
    }
  }

  const callees = new Map<number, HelperEntry>();
  const missing: MissingFunction[] = [];
  const checkTarget = (pc: number, target: number, what: string): void => {
    if (target < 0 || target >= n) throw new ProgramLoadError(pc, `${what} out of range: from insn ${pc} to ${target}`);
    if (starts[target] === 0) throw new ProgramLoadError(pc, `${what} into the middle of ldimm64 insn ${target - 1}`);
  };
  for (let pc = 0; pc < n; pc++) {
    if (starts[pc] === 0) continue;
    const i = instructions[pc]!;
    const cls = opClass(i.opcode);
    if (cls !== InsnClass.JMP && cls !== InsnClass.JMP32) continue;
    const op = jmpOp(i.opcode);
    if (op === JmpOp.EXIT || i.opcode === OPCODE_CALLX) continue;
    if (i.opcode === OPCODE_CALL) {
      if (i.src === CallSrc.LOCAL) {
        checkTarget(pc, pc + 1 + i.imm, 'call');
      } else if (i.src === CallSrc.HELPER) {
        const entry = helpers.helper(i.imm);
        if (entry === undefined) missing.push({ index: pc, id: i.imm, kind: 'helper', name: helperById(i.imm)?.name });
        else callees.set(pc, entry);
      } else {
        const entry = helpers.kfunc(i.imm, i.offset);
        if (entry === undefined) missing.push({ index: pc, id: i.imm >>> 0, kind: 'kfunc', name: undefined });
        else callees.set(pc, entry);
      }
      continue;
    }
    checkTarget(pc, pc + 1 + (i.opcode === OPCODE_JA32 ? i.imm : i.offset), 'jump');
  }
  if (missing.length > 0) throw new UnknownHelperError(missing);
  if (options.frames !== undefined) checkGivenFrames(options.frames, starts);
  const depths = functionStackDepths(instructions, starts, options.frames);
  checkCombinedStack(instructions, starts, depths);
  return { name: options.name ?? 'program', instructions, callees, frameBytes: frameBytesByInstruction(n, depths) };
}
