import { CONTEXT_LAYOUTS } from '../../uapi/program-types.ts';
import type { Instruction } from '../../isa/instruction.ts';
import {
  AluOp,
  AtomicOp,
  EndSource,
  InsnClass,
  JmpOp,
  Mode,
  MAX_CALL_FRAMES,
  OPCODE_CALL,
  OPCODE_CALLX,
  OPCODE_LDDW,
  OPCODE_MAY_GOTO,
  Source,
  aluOp,
  jmpOp,
  opClass,
  opMode,
  opSize,
  opSource,
  sizeBytes,
} from '../../isa/opcodes.ts';
import { MAX_COMBINED_STACK, MAY_GOTO_LOOPS, TALLIED_RETVALS } from '../program.ts';
import { CHAIN_FRAME } from './layout.ts';
import { ProgramLoadError } from '../errors.ts';
import { blockLeaders, buildCfg, endsBlock, functionEntries, isLocalCall } from './cfg.ts';
import type { BasicBlock, FunctionCfg } from './cfg.ts';
import { CB, REGION_ENTRY_SIZE, Status } from './layout.ts';
import { emitStructured } from './structure.ts';
import { HashEntry } from '../../maps/hash.ts';
import type { InlineMap } from './maps.ts';
import { FunctionBody, I32, I64, ModuleBuilder, Op, type ValType } from './wasm.ts';

export interface CompileOptions {
  /** Address of the control block (see layout.ts) in VM memory. */
  controlBlock: number;
  /** Bounds-check every access (default). Off only for programs a verifier has accepted. */
  checked: boolean;
  /** Minimum pages of the imported memory. */
  memoryPages: number;
  /** Compile every function through the dispatch-loop fallback (tests and measurements of that path). */
  forceDispatch?: boolean;
  /**
   * For a helper call at `pc` whose r1 is the constant `handle` (an lddw in
   * the same basic block): the map to inline bpf_map_lookup_elem for, or
   * undefined to keep the call. Only answer for calls to a helper with the
   * kernel's semantics (key read as `keySize` bytes at r2, value address or 0).
   */
  inlineMapLookup?: (pc: number, handle: number) => InlineMap | undefined;
  /** Stack bytes of each instruction's function (PreparedProgram.frameBytes), for the run-time check of call chains. */
  frameBytes: Uint16Array;
  /**
   * Count the instruction budget (default). Off only for a program whose
   * runs cannot exhaust it (instructionBound within the budget): then the
   * module exports `repeat` alone, whose runs leave the budget as it was.
   */
  countBudget?: boolean;
}

/** Traps raised through the `trap` import; the driver throws the interpreter's error for each. */
export const TrapKind = {
  /** Execution ran past the last slot; `pc` is the program length. */
  fellOff: 0,
  /** A bpf-to-bpf call would exceed MAX_CALL_FRAMES; `arg` is the chain with the callee (CB.chain). */
  callDepth: 1,
  /** LD_ABS/LD_IND in a run without packet data. */
  noPacket: 2,
  /** An instruction the load checks should have refused. */
  invalid: 3,
  /** A bpf-to-bpf call would take the call chain past 512 stack bytes; `arg` is the chain with the callee (CB.chain). */
  stackLimit: 4,
} as const;

export interface CompiledModule {
  bytes: Uint8Array<ArrayBuffer>;
  /** Per function (by entry slot): 'structured' or 'dispatch' (irreducible CFG). */
  strategies: Map<number, 'structured' | 'dispatch'>;
}

/** Import indices, in declaration order. */
const IMPORT = { fault: 0, call: 1, callx: 2, budget: 3, trap: 4, packetLoad: 5 } as const;

/**
 * How subprograms are called. Lean (unchecked mode, verified programs):
 * `(r1..r5, fp) -> r0`, the kernel's convention, where r0 and r6-r9 start
 * undefined in the callee and r1-r5 are clobbered by the call. Exact
 * (checked mode, unverified programs): `(r0..r9, fp) -> (r0..r5)`, so that a
 * callee sees the caller's registers and the caller sees the callee's r1-r5
 * afterwards, as in the interpreter, where registers are shared.
 */
interface CallingConvention {
  readonly exact: boolean;
  readonly params: ValType[];
  readonly results: ValType[];
  /** Parameter index of the frame pointer. */
  readonly fp: number;
}

function callingConvention(exact: boolean): CallingConvention {
  return exact
    ? { exact, params: [...Array<ValType>(10).fill(I64), I32], results: Array<ValType>(6).fill(I64), fp: 10 }
    : { exact, params: [I64, I64, I64, I64, I64, I32], results: [I64], fp: 5 };
}

/**
 * Compiles a linked program (main program and its subprograms) to one
 * WebAssembly module. Each subprogram becomes a function (see
 * CallingConvention); the export `entry` takes r1..r5 as i32
 * halves plus the frame pointer, stores r0 in the control block and returns
 * a status, so calling it from JS creates no BigInt.
 *
 * The program must have passed `prepareProgram` (well-formed instructions,
 * jump and call targets inside the program).
 */
export function compileProgram(insns: readonly Instruction[], options: CompileOptions): CompiledModule {
  if (insns.length === 0) throw new ProgramLoadError(0, 'the program has no instructions');
  const m = new ModuleBuilder();
  m.importMemory('env', 'memory', options.memoryPages);
  m.importFunction('env', 'fault', [I32, I32, I32, I32, I32, I32], []);
  m.importFunction('env', 'call', [I32], [I32]);
  m.importFunction('env', 'callx', [I32, I32, I32], [I32]);
  m.importFunction('env', 'budget', [I32, I32], []);
  m.importFunction('env', 'trap', [I32, I32, I32], []);
  // LD_ABS / LD_IND at a negative offset (SKF_NET_OFF, SKF_LL_OFF): (offset, size) -> value, or -1.
  m.importFunction('env', 'packetLoad', [I32, I32], [I64]);

  const globals: Globals = { unwinding: m.addGlobal(I32) };

  const cc = callingConvention(options.checked);
  const entries = functionEntries(insns);
  const functions = new Map<number, number>();
  const bodies: FunctionBody[] = [];
  for (const entry of entries) {
    const fn = m.declareFunction(cc.params, cc.results);
    functions.set(entry, fn.index);
    bodies.push(fn.body);
  }
  const slowCheck = m.declareFunction([I64, I32, I32, I32, I32], [I64, I64]);
  const counted = options.countBudget !== false;
  const entryFn = counted ? m.declareFunction(Array<ValType>(12).fill(I32), [I32]) : undefined;
  const repeatFn = m.declareFunction(Array<ValType>(12).fill(I32), [I32]);
  const packetsFn = counted ? m.declareFunction(Array<ValType>(11).fill(I32), []) : undefined;

  const ctx: ModuleContext = { insns, options, cc, globals, functions, slowCheck: slowCheck.index };
  const leaders = blockLeaders(insns);
  const strategies = new Map<number, 'structured' | 'dispatch'>();
  entries.forEach((entry, k) => {
    strategies.set(entry, new FunctionCompiler(ctx, buildCfg(insns, entry, leaders), bodies[k]!).compile());
  });
  emitSlowCheck(slowCheck.body, options.controlBlock);
  emitRepeat(repeatFn.body, ctx);
  m.exportFunction('repeat', repeatFn.index);
  if (entryFn !== undefined && packetsFn !== undefined) {
    emitEntry(entryFn.body, ctx);
    emitPackets(packetsFn.body, ctx, entryFn.index);
    m.exportFunction('entry', entryFn.index);
    m.exportFunction('packets', packetsFn.index);
  }
  return { bytes: m.encode(), strategies };
}

interface Globals {
  /** Set while an exitProgram unwinds every frame. */
  unwinding: number;
}

interface ModuleContext {
  insns: readonly Instruction[];
  options: CompileOptions;
  cc: CallingConvention;
  globals: Globals;
  /** Function index of each subprogram, by entry slot. */
  functions: Map<number, number>;
  slowCheck: number;
}

const cacheSlot = (size: number, write: boolean): number => (size === 1 ? 0 : size === 2 ? 1 : size === 4 ? 2 : 3) + (write ? 4 : 0);

/**
 * `slowCheck(address, size, write, pc, low) -> (start, limit)`: finds the
 * region holding the access (the stack from the calling frame's lowest
 * byte `low` up, then the region table) and returns it in the form of the callers' last-hit cache
 * (an access of `size` bytes at `a` is inside iff `a - start < limit`,
 * unsigned), or calls `fault`, which throws the interpreter's
 * MemoryAccessError.
 */
function emitSlowCheck(f: FunctionBody, cb: number): void {
  const [ADDR, SIZE, WRITE, PC, FRAME] = [0, 1, 2, 3, 4];
  const entry = f.local(I32);
  const last = f.local(I32);
  const start = f.local(I64);
  const end = f.local(I64);
  const found = (): void => {
    f.get(start).get(end).get(start).op(Op.i64_sub).get(SIZE).op(Op.i64_extend_i32_u).op(Op.i64_sub).i64Const(1).op(Op.i64_add);
    f.op(Op.return);
  };
  // start <= address && address + size <= end
  const inside = (): void => {
    f.get(ADDR).get(start).op(Op.i64_ge_u);
    f.get(ADDR).get(SIZE).op(Op.i64_extend_i32_u).op(Op.i64_add).get(end).op(Op.i64_le_u).op(Op.i32_and);
  };
  f.block(Op.block);
  // Addresses beyond 32 bits are outside every region.
  f.get(ADDR).i64Const(32).op(Op.i64_shr_u).op(Op.i64_eqz).op(Op.i32_eqz).br(Op.br_if, 0);
  f.get(FRAME).op(Op.i64_extend_i32_u).set(start);
  f.i32Const(0).mem(Op.i64_load32_u, cb + CB.stackTop).set(end);
  inside();
  f.block(Op.if);
  found();
  f.op(Op.end);
  f.i32Const(0).mem(Op.i32_load, cb + CB.regionTable).set(entry);
  f.get(entry).i32Const(0).mem(Op.i32_load, cb + CB.regionCount).i32Const(REGION_ENTRY_SIZE).op(Op.i32_mul).op(Op.i32_add).set(last);
  f.block(Op.loop);
  f.get(entry).get(last).op(Op.i32_ge_u).br(Op.br_if, 1);
  f.get(entry).mem(Op.i64_load32_u, 0).set(start);
  f.get(entry).mem(Op.i64_load32_u, 4).set(end);
  inside();
  f.block(Op.if);
  // A read-only region: the fault names it.
  f.get(WRITE).op(Op.i32_eqz).get(entry).mem(Op.i32_load, 8).op(Op.i32_or).op(Op.i32_eqz).br(Op.br_if, 2);
  found();
  f.op(Op.end);
  f.get(entry).i32Const(REGION_ENTRY_SIZE).op(Op.i32_add).set(entry);
  f.br(Op.br, 0);
  f.op(Op.end);
  f.op(Op.end);
  f.get(PC).get(ADDR).op(Op.i32_wrap_i64).get(ADDR).i64Const(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64).get(SIZE).get(WRITE).get(FRAME);
  f.call(IMPORT.fault);
  f.op(Op.unreachable);
}

/**
 * `entry(r1lo, r1hi, ..., r5lo, r5hi, fp, inherit) -> status`: runs the
 * main function; r0 goes to CB.r0 (and, exact convention, r1-r5 to
 * CB.args, for a frame a tail call replaced). With `inherit` (a tail call,
 * exact convention) r0 and r6-r9 start as the caller had them.
 */
function emitEntry(f: FunctionBody, ctx: ModuleContext): void {
  const cb = ctx.options.controlBlock;
  const exact = ctx.cc.exact;
  const inherited = (at: number): void => {
    f.get(11);
    f.block(Op.if, I64);
    f.i32Const(0).mem(Op.i64_load, at);
    f.op(Op.else);
    f.i64Const(0);
    f.op(Op.end);
  };
  f.i32Const(0).globalSet(ctx.globals.unwinding);
  if (exact) inherited(cb + CB.r0);
  for (let r = 0; r < 5; r++) {
    f.get(2 * r).op(Op.i64_extend_i32_u).get(2 * r + 1).op(Op.i64_extend_i32_u).i64Const(32).op(Op.i64_shl).op(Op.i64_or);
  }
  if (exact) for (let r = 0; r < 4; r++) inherited(cb + CB.calleeSaved + 8 * r);
  f.get(10).call(ctx.functions.get(0)!);
  if (exact) {
    const results = [f.local(I64), f.local(I64), f.local(I64), f.local(I64), f.local(I64)];
    for (let r = 4; r >= 0; r--) f.set(results[r]!);
    for (let r = 0; r < 5; r++) f.i32Const(0).get(results[r]!).mem(Op.i64_store, cb + CB.args + 8 * r);
    const r0 = f.local(I64);
    f.set(r0).i32Const(0).get(r0);
  } else {
    const r0 = f.local(I64);
    f.set(r0).i32Const(0).get(r0);
  }
  f.mem(Op.i64_store, cb + CB.r0);
  // unwinding = 1 means a helper ended the program.
  f.globalGet(ctx.globals.unwinding).i32Const(Status.exited).op(Op.i32_mul);
}

/**
 * `repeat(n, r1lo, ..., r5hi, fp) -> status`: runs the program n times with
 * the same arguments and budget, as BPF_PROG_TEST_RUN's `repeat` does,
 * stopping early if a run ends through exitProgram. r0 of the last run is
 * in CB.r0. The loop calls the main function itself, as `entry` would with
 * no tail call to inherit from; what does not change from run to run (r1-r5
 * from their halves, the budget's initial value, the unwinding flag, which
 * ends the loop once set) is prepared once.
 */
function emitRepeat(f: FunctionBody, ctx: ModuleContext): void {
  const cb = ctx.options.controlBlock;
  const counted = ctx.options.countBudget !== false;
  const args = [f.local(I64), f.local(I64), f.local(I64), f.local(I64), f.local(I64)];
  const budget = counted ? f.local(I64) : -1;
  const r0 = f.local(I64);
  for (let r = 0; r < 5; r++) {
    f.get(1 + 2 * r).op(Op.i64_extend_i32_u).get(2 + 2 * r).op(Op.i64_extend_i32_u).i64Const(32).op(Op.i64_shl).op(Op.i64_or).set(args[r]!);
  }
  if (counted) f.i32Const(0).mem(Op.i64_load, cb + CB.budget).set(budget);
  f.i32Const(0).globalSet(ctx.globals.unwinding);
  f.block(Op.block);
  f.get(0).op(Op.i32_eqz).br(Op.br_if, 0);
  f.block(Op.loop);
  if (counted) f.i32Const(0).get(budget).mem(Op.i64_store, cb + CB.budget);
  if (ctx.cc.exact) f.i64Const(0);
  for (const arg of args) f.get(arg);
  if (ctx.cc.exact) for (let r = 6; r <= 9; r++) f.i64Const(0);
  f.get(11).call(ctx.functions.get(0)!);
  // Exact convention: r1-r5 come back above r0, and only a frame a tail call replaced needs them.
  if (ctx.cc.exact) for (let r = 1; r <= 5; r++) f.op(Op.drop);
  f.set(r0);
  f.globalGet(ctx.globals.unwinding).br(Op.br_if, 1);
  f.get(0).i32Const(1).op(Op.i32_sub).tee(0).br(Op.br_if, 0);
  f.op(Op.end);
  f.op(Op.end);
  f.i32Const(0).get(r0).mem(Op.i64_store, cb + CB.r0);
  f.globalGet(ctx.globals.unwinding).i32Const(Status.exited).op(Op.i32_mul);
}

/**
 * `packets(count, base, starts, lengths, context, tableEntry, results,
 * progress, stackTop, stackZero, tally)`: the streaming path's loop for XDP
 * programs that call nothing (no helper can move or resize the packet
 * meanwhile), run on the packets where they lie. Packet `i` is the
 * `lengths[i]` bytes at `base + starts[i]` (u32 columns at `starts` and
 * `lengths`): xdp_md's data / data_end / data_meta and the packet's region
 * table entry (both ends) point at it, the top `stackZero` bytes of the
 * stack are zeroed, the budget reset, the program run with r1 = context;
 * r0's low half goes to `results + 4i`, and the u32 at `tally + 4·min(r0,
 * TALLIED_RETVALS)` counts it (the verdicts of a batch without a loop over
 * them in JavaScript). `progress` holds the index of the packet being run,
 * so that the driver knows which one failed.
 */
function emitPackets(f: FunctionBody, ctx: ModuleContext, entry: number): void {
  const cb = ctx.options.controlBlock;
  const [count, base, starts, lengths, context, tableEntry, results, progress, stackTop, stackZero, tally] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const budget = f.local(I64);
  const i = f.local(I32);
  const data = f.local(I32);
  const end = f.local(I32);
  const column = f.local(I32);
  const r0 = f.local(I32);
  const counter = f.local(I32);
  f.i32Const(0).mem(Op.i64_load, cb + CB.budget).set(budget);
  f.block(Op.block);
  f.block(Op.loop);
  f.get(i).get(count).op(Op.i32_ge_u).br(Op.br_if, 1);
  f.get(i).i32Const(2).op(Op.i32_shl).set(column);
  f.get(base).get(starts).get(column).op(Op.i32_add).mem(Op.i32_load, 0).op(Op.i32_add).set(data);
  f.get(data).get(lengths).get(column).op(Op.i32_add).mem(Op.i32_load, 0).op(Op.i32_add).set(end);
  f.get(progress).get(i).mem(Op.i32_store, 0);
  f.get(context).get(data).mem(Op.i32_store, XDP_MD_DATA);
  f.get(context).get(end).mem(Op.i32_store, XDP_MD_DATA_END);
  f.get(context).get(data).mem(Op.i32_store, XDP_MD_DATA_META);
  f.get(tableEntry).get(data).mem(Op.i32_store, 0);
  f.get(tableEntry).get(end).mem(Op.i32_store, 4);
  f.i32Const(0).i32Const(0).mem(Op.i32_load, cb + CB.epoch).i32Const(1).op(Op.i32_add).mem(Op.i32_store, cb + CB.epoch);
  f.get(stackZero);
  f.block(Op.if);
  f.get(stackTop).get(stackZero).op(Op.i32_sub).i32Const(0).get(stackZero).memoryFill();
  f.op(Op.end);
  f.i32Const(0).get(budget).mem(Op.i64_store, cb + CB.budget);
  f.get(context);
  for (let k = 1; k < 10; k++) f.i32Const(0);
  f.get(stackTop).i32Const(0).call(entry).op(Op.drop);
  f.get(results).get(column).op(Op.i32_add).i32Const(0).mem(Op.i32_load, cb + CB.r0).tee(r0).mem(Op.i32_store, 0);
  // counter = tally + 4 * min(r0, TALLIED_RETVALS), unsigned.
  f.get(r0).i32Const(TALLIED_RETVALS).get(r0).i32Const(TALLIED_RETVALS).op(Op.i32_lt_u).op(Op.select);
  f.i32Const(2).op(Op.i32_shl).get(tally).op(Op.i32_add).tee(counter);
  f.get(counter).mem(Op.i32_load, 0).i32Const(1).op(Op.i32_add).mem(Op.i32_store, 0);
  f.get(i).i32Const(1).op(Op.i32_add).set(i);
  f.br(Op.br, 0);
  f.op(Op.end);
  f.op(Op.end);
}

const xdpField = (name: string): number => CONTEXT_LAYOUTS.xdp_md.fields.find((f) => f.name === name)!.offset;
const XDP_MD_DATA = xdpField('data');
const XDP_MD_DATA_END = xdpField('data_end');
const XDP_MD_DATA_META = xdpField('data_meta');

class FunctionCompiler {
  /** Local index of each register r0..r10; r10 is a local only if the function writes it. */
  private readonly reg: number[];
  /** Local index of the frame pointer parameter. */
  private readonly fp: number;
  /** Stack bytes of this function's frame: it reaches [fp - frameSize, fp), its callers' frames above. */
  private readonly frameSize: number;
  private readonly cc: CallingConvention;
  private readonly r10IsFramePointer: boolean;
  private readonly loops: number;
  private readonly addr: number;
  private readonly t64: number;
  private readonly u64: number;
  private readonly i32a: number;
  private readonly i32b: number;
  /** Remaining instruction budget, kept in a local (see countBudget). */
  private readonly budget: number;
  /**
   * Checked mode: the last region hit per (access size, write), as locals
   * (start, limit: see slowCheck; limit 0 = empty). Valid for this frame
   * until a helper runs or the region table changes (CB.epoch).
   */
  private readonly cacheStart: number[] = [];
  private readonly cacheLimit: number[] = [];
  private readonly epoch: number;
  private readonly cb: number;
  /** The block being compiled (for the budget of early exits). */
  private block!: BasicBlock;
  /** Compiling a block's per-instruction budget path (see countBudget). */
  private precise = false;
  /** Whether the budget is counted (CompileOptions.countBudget). */
  private readonly counted: boolean;

  constructor(
    private readonly ctx: ModuleContext,
    private readonly cfg: FunctionCfg,
    private readonly f: FunctionBody,
  ) {
    this.cc = ctx.cc;
    this.fp = this.cc.fp;
    this.frameSize = ctx.options.frameBytes[cfg.entry]!;
    if (this.cc.exact) this.reg = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1];
    else this.reg = [f.local(I64), 0, 1, 2, 3, 4, f.local(I64), f.local(I64), f.local(I64), f.local(I64), -1];
    let writesR10 = false;
    let mayGoto = false;
    for (const b of cfg.blocks) {
      for (let pc = b.start; pc < b.end; pc += ctx.insns[pc]!.opcode === OPCODE_LDDW ? 2 : 1) {
        const i = ctx.insns[pc]!;
        if (i.dst === 10 && writesDst(i)) writesR10 = true;
        if (i.opcode === OPCODE_MAY_GOTO) mayGoto = true;
      }
    }
    // The interpreter lets a program overwrite r10; then it is an ordinary
    // callee-saved register that starts at the frame pointer.
    this.r10IsFramePointer = !writesR10;
    if (writesR10) this.reg[10] = f.local(I64);
    this.loops = mayGoto ? f.local(I32) : -1;
    this.addr = f.local(I64);
    this.t64 = f.local(I64);
    this.u64 = f.local(I64);
    this.i32a = f.local(I32);
    this.i32b = f.local(I32);
    this.budget = f.local(I64);
    this.counted = ctx.options.countBudget !== false;
    if (ctx.options.checked) {
      for (let k = 0; k < 8; k++) {
        this.cacheStart.push(f.local(I64));
        this.cacheLimit.push(f.local(I64));
      }
    }
    this.epoch = f.local(I32);
    this.cb = ctx.options.controlBlock;
  }

  /** Forgets the cached regions (after a helper, which may map or unmap regions). */
  private resetCaches(): void {
    for (const limit of this.cacheLimit) this.f.i64Const(0).set(limit);
  }

  compile(): 'structured' | 'dispatch' {
    const { f } = this;
    if (!this.r10IsFramePointer) f.get(this.fp).op(Op.i64_extend_i32_u).set(this.reg[10]!);
    if (this.loops >= 0) f.i32Const(MAY_GOTO_LOOPS).set(this.loops);
    this.loadBudget();
    if (this.ctx.options.checked) f.i32Const(0).mem(Op.i32_load, this.cb + CB.epoch).set(this.epoch);
    return emitStructured(this.cfg, f, {
      body: (b) => this.body(b),
      condition: (b) => this.condition(b),
      leave: (b) => this.leave(b),
    }, this.ctx.options.forceDispatch);
  }

  // Registers.

  private get(r: number): void {
    if (r === 10 && this.r10IsFramePointer) this.f.get(this.fp).op(Op.i64_extend_i32_u);
    else this.f.get(this.reg[r]!);
  }

  private set(r: number): void {
    this.f.set(this.reg[r]!);
  }

  /** The low 32 bits of register `r`. */
  private get32(r: number): void {
    if (r === 10 && this.r10IsFramePointer) this.f.get(this.fp);
    else this.f.get(this.reg[r]!).op(Op.i32_wrap_i64);
  }

  // Blocks.

  private body(b: BasicBlock): void {
    this.block = b;
    if (b.insnCount > 0 && this.counted) this.countBudget(b);
    this.instructions(b);
  }

  /** The block's instructions up to its terminator; `precise`: each charged to the budget first. */
  private instructions(b: BasicBlock, precise = false): void {
    const insns = this.ctx.insns;
    this.constants.clear();
    for (let pc = b.start; pc < b.end; pc += insns[pc]!.opcode === OPCODE_LDDW ? 2 : 1) {
      const i = insns[pc]!;
      // A final jump or exit is the terminator, emitted by the structurer.
      if (pc === b.last && endsBlock(i)) break;
      if (precise) this.chargeOne(pc);
      this.instruction(pc, i);
      this.trackConstants(pc, i);
    }
  }

  /** Budget for one instruction at `pc`, or the budget error there. */
  private chargeOne(pc: number): void {
    const { f } = this;
    f.get(this.budget).i64Const(1).op(Op.i64_lt_s);
    f.block(Op.if);
    f.i32Const(pc).i32Const(0).call(IMPORT.budget);
    f.op(Op.unreachable);
    f.op(Op.end);
    f.get(this.budget).i64Const(1).op(Op.i64_sub).set(this.budget);
  }

  /**
   * Whether an instruction of the block (before its terminator) can raise
   * an error or change memory: then a run whose budget ends inside the
   * block must execute the instructions before that point, to leave the
   * interpreter's memory and report its error. Register-only blocks can
   * stop at their entry: registers are not observable after an error.
   */
  private hasEffects(b: BasicBlock): boolean {
    const insns = this.ctx.insns;
    for (let pc = b.start; pc < b.end; pc += insns[pc]!.opcode === OPCODE_LDDW ? 2 : 1) {
      const i = insns[pc]!;
      if (pc === b.last && endsBlock(i)) break;
      const cls = opClass(i.opcode);
      if (cls === InsnClass.ALU || cls === InsnClass.ALU64 || i.opcode === OPCODE_LDDW) continue;
      if (cls === InsnClass.LDX) {
        const size = sizeBytes(opSize(i.opcode));
        const inFrame = i.src === 10 && this.r10IsFramePointer && i.offset < 0 && i.offset >= -this.frameSize && i.offset + size <= 0;
        if (!this.ctx.options.checked || inFrame) continue;
      }
      return true;
    }
    return false;
  }

  /**
   * Registers holding a known constant within the current block (lddw and
   * 32-bit move immediates): enough to see which map a helper call is about.
   * Anything else that may write a register forgets it; calls forget all.
   */
  private readonly constants = new Map<number, number>();

  private trackConstants(pc: number, i: Instruction): void {
    const known = this.constants;
    if (i.opcode === OPCODE_LDDW) {
      const hi = this.ctx.insns[pc + 1]!.imm;
      if (hi === 0 && i.imm >= 0) known.set(i.dst, i.imm);
      else known.delete(i.dst);
    } else if (opClass(i.opcode) === InsnClass.JMP) {
      known.clear();
    } else {
      known.delete(i.dst);
      known.delete(i.src);
      known.delete(0);
    }
  }

  /**
   * The instruction budget, counted per basic block in a local: the whole
   * block is charged on entry; a block that does not fit reports the
   * instruction where the interpreter would have stopped. The local is
   * written back to the control block around calls and on return.
   */
  private countBudget(b: BasicBlock): void {
    const { f } = this;
    f.get(this.budget).i64Const(b.insnCount).op(Op.i64_lt_s);
    f.block(Op.if);
    if (this.hasEffects(b)) {
      // The budget ends inside the block: run it instruction by instruction
      // so that its effects and errors before that point happen, as in the
      // interpreter. It never
      // reaches the terminator (which is the last instruction it could run).
      this.precise = true;
      this.instructions(b, true);
      this.precise = false;
      if (endsBlock(this.ctx.insns[b.last]!)) f.i32Const(b.last).i32Const(0).call(IMPORT.budget);
    } else {
      f.i32Const(b.start).get(this.budget).op(Op.i32_wrap_i64).call(IMPORT.budget);
    }
    f.op(Op.unreachable);
    f.op(Op.end);
    f.get(this.budget).i64Const(b.insnCount).op(Op.i64_sub).set(this.budget);
  }

  private saveBudget(): void {
    if (!this.counted) return;
    this.f.i32Const(0).get(this.budget).mem(Op.i64_store, this.cb + CB.budget);
  }

  private loadBudget(): void {
    if (!this.counted) return;
    this.f.i32Const(0).mem(Op.i64_load, this.cb + CB.budget).set(this.budget);
  }

  /** Gives back the budget of the instructions after `pc` in the current block when leaving it early, and saves it. */
  private refundRest(pc: number): void {
    const insns = this.ctx.insns;
    let rest = 0;
    // The precise path charges each instruction as it runs: nothing to refund there.
    if (!this.precise && this.counted) {
      for (let p = pc + (insns[pc]!.opcode === OPCODE_LDDW ? 2 : 1); p < this.block.end; p += insns[p]!.opcode === OPCODE_LDDW ? 2 : 1) rest++;
    }
    if (rest > 0) this.f.get(this.budget).i64Const(rest).op(Op.i64_add).set(this.budget);
    this.saveBudget();
  }

  private leave(b: BasicBlock): void {
    if (b.terminator.kind === 'trap') {
      this.trap(TrapKind.fellOff, b.terminator.pc, 0);
    } else {
      this.saveBudget();
      this.get(0);
      this.returnRegisters();
    }
  }

  /** With r0 on the stack: returns it (exact convention: and r1-r5, from `fromControlBlock` or the registers). */
  private returnRegisters(fromControlBlock = false): void {
    const { f } = this;
    if (this.cc.exact) {
      for (let r = 1; r <= 5; r++) {
        if (fromControlBlock) f.i32Const(0).mem(Op.i64_load, this.cb + CB.args + 8 * (r - 1));
        else this.get(r);
      }
    }
    f.op(Op.return);
  }

  private condition(b: BasicBlock): void {
    const t = b.terminator;
    if (t.kind !== 'cond') throw new Error('condition of a block without a conditional jump');
    const i = this.ctx.insns[t.pc]!;
    const { f } = this;
    if (i.opcode === OPCODE_MAY_GOTO) {
      // Taken once the frame's loop budget is spent; otherwise count down.
      f.get(this.loops).op(Op.i32_eqz);
      f.block(Op.if, I32);
      f.i32Const(1);
      f.op(Op.else);
      f.get(this.loops).i32Const(1).op(Op.i32_sub).set(this.loops);
      f.i32Const(0);
      f.op(Op.end);
      return;
    }
    const wide = opClass(i.opcode) === InsnClass.JMP;
    const x = opSource(i.opcode) === Source.X;
    if (wide) this.get(i.dst);
    else this.get32(i.dst);
    if (wide) {
      if (x) this.get(i.src);
      else f.i64Const(i.imm);
    } else if (x) this.get32(i.src);
    else f.i32Const(i.imm);
    const pick = (op64: number, op32: number): void => {
      f.op(wide ? op64 : op32);
    };
    switch (jmpOp(i.opcode)) {
      case JmpOp.JEQ:
        return pick(Op.i64_eq, Op.i32_eq);
      case JmpOp.JNE:
        return pick(Op.i64_ne, Op.i32_ne);
      case JmpOp.JGT:
        return pick(Op.i64_gt_u, Op.i32_gt_u);
      case JmpOp.JGE:
        return pick(Op.i64_ge_u, Op.i32_ge_u);
      case JmpOp.JLT:
        return pick(Op.i64_lt_u, Op.i32_lt_u);
      case JmpOp.JLE:
        return pick(Op.i64_le_u, Op.i32_le_u);
      case JmpOp.JSGT:
        return pick(Op.i64_gt_s, Op.i32_gt_s);
      case JmpOp.JSGE:
        return pick(Op.i64_ge_s, Op.i32_ge_s);
      case JmpOp.JSLT:
        return pick(Op.i64_lt_s, Op.i32_lt_s);
      case JmpOp.JSLE:
        return pick(Op.i64_le_s, Op.i32_le_s);
      case JmpOp.JSET:
        if (wide) f.op(Op.i64_and).op(Op.i64_eqz).op(Op.i32_eqz);
        else f.op(Op.i32_and);
        return;
      default:
        throw new Error(`opcode 0x${i.opcode.toString(16)} at ${t.pc} is not a conditional jump`);
    }
  }

  // Instructions.

  private instruction(pc: number, i: Instruction): void {
    switch (opClass(i.opcode)) {
      case InsnClass.ALU64:
        return this.alu64(i);
      case InsnClass.ALU:
        return this.alu32(i);
      case InsnClass.LDX:
        return this.load(pc, i);
      case InsnClass.ST:
      case InsnClass.STX:
        return opMode(i.opcode) === Mode.ATOMIC ? this.atomic(pc, i) : this.store(pc, i);
      case InsnClass.LD:
        return i.opcode === OPCODE_LDDW ? this.lddw(pc, i) : this.legacyPacketLoad(pc, i);
      case InsnClass.JMP:
        if (i.opcode === OPCODE_CALL || i.opcode === OPCODE_CALLX) return this.call(pc, i);
        break;
    }
    this.trap(TrapKind.invalid, pc, 0);
  }

  private trap(kind: number, pc: number, arg: number): void {
    this.f.i32Const(kind).i32Const(pc).i32Const(arg).call(IMPORT.trap);
    this.f.op(Op.unreachable);
  }

  private alu64(i: Instruction): void {
    const { f } = this;
    const op = aluOp(i.opcode);
    const x = opSource(i.opcode) === Source.X;
    const src = (): void => {
      if (x) this.get(i.src);
      else f.i64Const(i.imm);
    };
    const binary = (code: number): void => {
      this.get(i.dst);
      src();
      f.op(code);
      this.set(i.dst);
    };
    switch (op) {
      case AluOp.ADD:
        return binary(Op.i64_add);
      case AluOp.SUB:
        return binary(Op.i64_sub);
      case AluOp.MUL:
        return binary(Op.i64_mul);
      case AluOp.OR:
        return binary(Op.i64_or);
      case AluOp.AND:
        return binary(Op.i64_and);
      case AluOp.XOR:
        return binary(Op.i64_xor);
      case AluOp.LSH:
        return binary(Op.i64_shl);
      case AluOp.RSH:
        return binary(Op.i64_shr_u);
      case AluOp.ARSH:
        return binary(Op.i64_shr_s);
      case AluOp.NEG:
        f.i64Const(0);
        this.get(i.dst);
        f.op(Op.i64_sub);
        return this.set(i.dst);
      case AluOp.MOV:
        if (x) {
          this.get(i.src);
          if (i.offset === 8) f.op(Op.i64_extend8_s);
          else if (i.offset === 16) f.op(Op.i64_extend16_s);
          else if (i.offset === 32) f.op(Op.i64_extend32_s);
        } else f.i64Const(i.imm);
        return this.set(i.dst);
      case AluOp.DIV:
      case AluOp.MOD:
        return this.divmod(i, true);
      case AluOp.END:
        this.get(i.dst);
        this.bswap(i.imm);
        return this.set(i.dst);
    }
  }

  private alu32(i: Instruction): void {
    const { f } = this;
    const op = aluOp(i.opcode);
    const x = opSource(i.opcode) === Source.X;
    const src = (): void => {
      if (x) this.get32(i.src);
      else f.i32Const(i.imm);
    };
    const binary = (code: number): void => {
      this.get32(i.dst);
      src();
      f.op(code).op(Op.i64_extend_i32_u);
      this.set(i.dst);
    };
    switch (op) {
      case AluOp.ADD:
        return binary(Op.i32_add);
      case AluOp.SUB:
        return binary(Op.i32_sub);
      case AluOp.MUL:
        return binary(Op.i32_mul);
      case AluOp.OR:
        return binary(Op.i32_or);
      case AluOp.AND:
        return binary(Op.i32_and);
      case AluOp.XOR:
        return binary(Op.i32_xor);
      case AluOp.LSH:
        return binary(Op.i32_shl);
      case AluOp.RSH:
        return binary(Op.i32_shr_u);
      case AluOp.ARSH:
        return binary(Op.i32_shr_s);
      case AluOp.NEG:
        f.i32Const(0);
        this.get32(i.dst);
        f.op(Op.i32_sub).op(Op.i64_extend_i32_u);
        return this.set(i.dst);
      case AluOp.MOV:
        if (x) {
          this.get32(i.src);
          if (i.offset === 8) f.op(Op.i32_extend8_s);
          else if (i.offset === 16) f.op(Op.i32_extend16_s);
          f.op(Op.i64_extend_i32_u);
        } else f.i64Const(i.imm >>> 0);
        return this.set(i.dst);
      case AluOp.DIV:
      case AluOp.MOD:
        return this.divmod(i, false);
      case AluOp.END:
        this.get(i.dst);
        if (opSource(i.opcode) === EndSource.TO_LE) {
          // Little-endian host: only truncation to the width.
          if (i.imm === 16) f.i64Const(0xffff).op(Op.i64_and);
          else if (i.imm === 32) f.i64Const(0xffffffff).op(Op.i64_and);
        } else this.bswap(i.imm);
        return this.set(i.dst);
    }
  }

  /**
   * Byte swap of the low `width` bits of the i64 on the stack, zero-extended.
   * Measured against alternatives (bench notes in docs/jit.md): 16 bits:
   * shifts and masks; 32 bits: the rotate-and-mask form on i32; 64 bits:
   * that 32-bit swap on both halves, recombined (faster than swapping
   * byte pairs, then halfwords, then words in i64, and than a SIMD
   * i8x16.swizzle, whose transfers to and from vector registers cost more
   * than the shuffle saves).
   */
  private bswap(width: number): void {
    const { f } = this;
    const t = this.t64;
    if (width === 16) {
      f.tee(t).i64Const(8).op(Op.i64_shr_u).i64Const(0xff).op(Op.i64_and);
      f.get(t).i64Const(0xff).op(Op.i64_and).i64Const(8).op(Op.i64_shl).op(Op.i64_or);
    } else if (width === 32) {
      f.op(Op.i32_wrap_i64).set(this.i32a);
      this.bswap32(this.i32a);
      f.op(Op.i64_extend_i32_u);
    } else {
      f.tee(t).op(Op.i32_wrap_i64).set(this.i32a);
      this.bswap32(this.i32a);
      f.op(Op.i64_extend_i32_u).i64Const(32).op(Op.i64_shl);
      f.get(t).i64Const(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64).set(this.i32a);
      this.bswap32(this.i32a);
      f.op(Op.i64_extend_i32_u).op(Op.i64_or);
    }
  }

  /** Pushes bswap32 of i32 local `v`: (rotr(v, 8) & 0xff00ff00) | (rotl(v, 8) & 0x00ff00ff). */
  private bswap32(v: number): void {
    const { f } = this;
    f.get(v).i32Const(8).op(Op.i32_rotr).i32Const(0xff00ff00 | 0).op(Op.i32_and);
    f.get(v).i32Const(8).op(Op.i32_rotl).i32Const(0x00ff00ff).op(Op.i32_and);
    f.op(Op.i32_or);
  }

  /**
   * Division and modulo with the ISA's rules, which never trap: x/0 = 0,
   * x%0 = x, and signed INT_MIN/-1 = INT_MIN, INT_MIN%-1 = 0. WebAssembly
   * traps on a zero divisor and on signed INT_MIN/-1, so those divisors are
   * tested first (at compile time for an immediate).
   */
  private divmod(i: Instruction, wide: boolean): void {
    const { f } = this;
    const isMod = aluOp(i.opcode) === AluOp.MOD;
    const signed = i.offset === 1;
    const x = opSource(i.opcode) === Source.X;
    const T = wide ? I64 : I32;
    const c = wide
      ? { eqz: Op.i64_eqz, sub: Op.i64_sub, eq: Op.i64_eq, divU: Op.i64_div_u, divS: Op.i64_div_s, remU: Op.i64_rem_u, remS: Op.i64_rem_s }
      : { eqz: Op.i32_eqz, sub: Op.i32_sub, eq: Op.i32_eq, divU: Op.i32_div_u, divS: Op.i32_div_s, remU: Op.i32_rem_u, remS: Op.i32_rem_s };
    const dst = (): void => (wide ? this.get(i.dst) : this.get32(i.dst));
    const konst = (v: number): void => {
      if (wide) f.i64Const(v);
      else f.i32Const(v);
    };
    const finish = (): void => {
      if (!wide) f.op(Op.i64_extend_i32_u);
      this.set(i.dst);
    };
    const divOp = isMod ? (signed ? c.remS : c.remU) : signed ? c.divS : c.divU;
    if (!x) {
      if (i.imm === 0) {
        // x / 0 = 0; x % 0 = x (truncated to 32 bits for ALU32).
        if (isMod) dst();
        else konst(0);
      } else if (signed && i.imm === -1) {
        // x / -1 = -x (wrapping); x % -1 = 0.
        if (isMod) konst(0);
        else {
          konst(0);
          dst();
          f.op(c.sub);
        }
      } else {
        dst();
        konst(i.imm);
        f.op(divOp);
      }
      return finish();
    }
    const divisor = wide ? this.u64 : this.i32a;
    if (wide) this.get(i.src);
    else this.get32(i.src);
    f.set(divisor);
    f.get(divisor).op(c.eqz);
    f.block(Op.if, T);
    if (isMod) dst();
    else konst(0);
    f.op(Op.else);
    if (signed) {
      f.get(divisor);
      konst(-1);
      f.op(c.eq);
      f.block(Op.if, T);
      if (isMod) konst(0);
      else {
        konst(0);
        dst();
        f.op(c.sub);
      }
      f.op(Op.else);
      dst();
      f.get(divisor).op(divOp);
      f.op(Op.end);
    } else {
      dst();
      f.get(divisor).op(divOp);
    }
    f.op(Op.end);
    finish();
  }

  private lddw(pc: number, i: Instruction): void {
    const next = this.ctx.insns[pc + 1]!;
    this.f.i64Const((BigInt(next.imm >>> 0) << 32n) | BigInt(i.imm >>> 0));
    this.set(i.dst);
  }

  // Memory.

  /**
   * Leaves the i32 address of `base + offset` on the stack after making sure
   * the `size`-byte access is inside a region (or raising the fault), and
   * returns the constant offset for the load/store's memarg. An access
   * through the frame pointer within the current frame needs no check: that
   * frame is always accessible.
   */
  private address(pc: number, base: number, offset: number, size: number, write: boolean): number {
    const { f } = this;
    if (base === 10 && this.r10IsFramePointer && offset < 0 && offset >= -this.frameSize && offset + size <= 0) {
      f.get(this.fp).i32Const(offset).op(Op.i32_add);
      return 0;
    }
    if (!this.ctx.options.checked) {
      this.get32(base);
      if (offset >= 0) return offset;
      f.i32Const(offset).op(Op.i32_add);
      return 0;
    }
    const slot = cacheSlot(size, write);
    const start = this.cacheStart[slot]!;
    const limit = this.cacheLimit[slot]!;
    this.get(base);
    if (offset !== 0) f.i64Const(offset).op(Op.i64_add);
    f.tee(this.addr).get(start).op(Op.i64_sub).get(limit).op(Op.i64_ge_u);
    f.block(Op.if);
    f.get(this.addr).i32Const(size).i32Const(write ? 1 : 0).i32Const(pc);
    this.frameLow();
    f.call(this.ctx.slowCheck);
    f.set(limit).set(start);
    f.op(Op.end);
    f.get(this.addr).op(Op.i32_wrap_i64);
    return 0;
  }

  /** Pushes the lowest address of this function's frame (slowCheck's last argument). */
  private frameLow(): void {
    this.f.get(this.fp);
    if (this.frameSize !== 0) this.f.i32Const(this.frameSize).op(Op.i32_sub);
  }

  private load(pc: number, i: Instruction): void {
    const size = sizeBytes(opSize(i.opcode));
    const off = this.address(pc, i.src, i.offset, size, false);
    this.f.mem(loadOp(size, opMode(i.opcode) === Mode.MEMSX), off);
    this.set(i.dst);
  }

  private store(pc: number, i: Instruction): void {
    const size = sizeBytes(opSize(i.opcode));
    const off = this.address(pc, i.dst, i.offset, size, true);
    if (opClass(i.opcode) === InsnClass.ST) this.f.i64Const(i.imm);
    else this.get(i.src);
    this.f.mem(storeOp(size), off);
  }

  /**
   * Atomics. Linear memory is not shared between threads, so a plain
   * load/modify/store sequence has the same single-threaded semantics and,
   * unlike WebAssembly's atomic instructions, tolerates unaligned addresses
   * as the interpreter does.
   */
  private atomic(pc: number, i: Instruction): void {
    const { f } = this;
    const size = sizeBytes(opSize(i.opcode));
    const op = i.imm;
    if (op === AtomicOp.LOAD_ACQ) {
      const off = this.address(pc, i.src, i.offset, size, false);
      f.mem(loadOp(size, false), off);
      return this.set(i.dst);
    }
    if (op === AtomicOp.STORE_REL) {
      const off = this.address(pc, i.dst, i.offset, size, true);
      this.get(i.src);
      f.mem(storeOp(size), off);
      return;
    }
    const off = this.address(pc, i.dst, i.offset, size, true);
    const at = this.i32b;
    const old = this.t64;
    f.tee(at).mem(loadOp(size, false), off).set(old);
    if (op === AtomicOp.CMPXCHG) {
      // if (mem == r0) mem = src; r0 = old (zero-extended for 32 bits)
      f.get(old);
      this.get(0);
      if (size === 4) f.i64Const(0xffffffff).op(Op.i64_and);
      f.op(Op.i64_eq);
      f.block(Op.if);
      f.get(at);
      this.get(i.src);
      f.mem(storeOp(size), off);
      f.op(Op.end);
      f.get(old);
      return this.set(0);
    }
    f.get(at);
    if (op === AtomicOp.XCHG) this.get(i.src);
    else {
      f.get(old);
      this.get(i.src);
      const base = op & ~AtomicOp.FETCH;
      f.op(base === AtomicOp.ADD ? Op.i64_add : base === AtomicOp.OR ? Op.i64_or : base === AtomicOp.AND ? Op.i64_and : Op.i64_xor);
    }
    f.mem(storeOp(size), off);
    if ((op & AtomicOp.FETCH) !== 0) {
      f.get(old);
      this.set(i.src);
    }
  }

  /**
   * LD_ABS / LD_IND: r0 = the big-endian value at packet offset imm (+ src,
   * 32-bit). Out of bounds, r0 = 0 and the current frame exits, as in the
   * interpreter (and as the kernel ends the program).
   */
  private legacyPacketLoad(pc: number, i: Instruction): void {
    const { f } = this;
    const size = sizeBytes(opSize(i.opcode));
    const offset = this.i32a;
    const length = this.i32b;
    f.i32Const(0).mem(Op.i32_load, this.cb + CB.packetLength).tee(length).i32Const(-1).op(Op.i32_eq);
    f.block(Op.if);
    this.trap(TrapKind.noPacket, pc, 0);
    f.op(Op.end);
    f.i32Const(i.imm);
    if (opMode(i.opcode) === Mode.IND) {
      this.get32(i.src);
      f.op(Op.i32_add);
    }
    f.tee(offset).i32Const(0).op(Op.i32_lt_s);
    f.block(Op.if);
    // Negative offsets (the network or link-layer header) are rare: the driver resolves them.
    f.get(offset).i32Const(size).call(IMPORT.packetLoad).tee(this.t64).i64Const(0).op(Op.i64_lt_s);
    f.block(Op.if);
    this.refundRest(pc);
    f.i64Const(0);
    this.returnRegisters();
    f.op(Op.end);
    f.get(this.t64);
    this.set(0);
    f.op(Op.else);
    f.get(offset).op(Op.i64_extend_i32_u).i64Const(size).op(Op.i64_add).get(length).op(Op.i64_extend_i32_u).op(Op.i64_gt_u);
    f.block(Op.if);
    this.refundRest(pc);
    f.i64Const(0);
    this.returnRegisters();
    f.op(Op.end);
    f.i32Const(0).mem(Op.i32_load, this.cb + CB.packetStart).get(offset).op(Op.i32_add);
    if (size === 1) f.mem(Op.i64_load8_u, 0);
    else if (size === 2) {
      f.mem(Op.i64_load16_u, 0);
      this.bswap(16);
    } else {
      f.mem(Op.i32_load, 0).set(offset);
      this.bswap32(offset);
      f.op(Op.i64_extend_i32_u);
    }
    this.set(0);
    f.op(Op.end);
  }

  // Calls.

  private call(pc: number, i: Instruction): void {
    if (isLocalCall(i)) return this.callLocal(pc, this.ctx.functions.get(pc + 1 + i.imm)!);
    const handle = this.constants.get(1);
    if (i.opcode === OPCODE_CALL && i.src === 0 && handle !== undefined) {
      const map = this.ctx.options.inlineMapLookup?.(pc, handle);
      if (map !== undefined) return map.kind === 'array' ? this.inlineArrayLookup(pc, map) : this.inlineHashLookup(pc, i, map);
    }
    this.hostCall(pc, i);
  }

  private hostCall(pc: number, i: Instruction): void {
    const { f } = this;
    this.storeArgs();
    this.saveBudget();
    if (i.opcode === OPCODE_CALLX) {
      // callx: the register holds a helper id (the interpreter's rule, from uBPF).
      this.get(i.dst);
      f.tee(this.u64).op(Op.i32_wrap_i64).get(this.u64).i64Const(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64).i32Const(pc).call(IMPORT.callx);
    } else {
      f.i32Const(pc).call(IMPORT.call);
    }
    this.afterHostCall(pc);
  }

  /** Checks the helper's read of the key (`size` bytes at r2) and leaves its i32 address in `i32a`. */
  private keyAddress(pc: number, size: number): void {
    const { f } = this;
    if (size === 1 || size === 2 || size === 4 || size === 8) {
      const off = this.address(pc, 2, 0, size, false);
      if (off !== 0) f.i32Const(off).op(Op.i32_add);
    } else if (this.ctx.options.checked) {
      this.get(2);
      f.tee(this.addr).i32Const(size).i32Const(0).i32Const(pc);
      this.frameLow();
      f.call(this.ctx.slowCheck);
      f.op(Op.drop).op(Op.drop);
      f.get(this.addr).op(Op.i32_wrap_i64);
    } else this.get32(2);
    f.set(this.i32a);
  }

  /** bpf_map_lookup_elem on an array: r0 = index < max_entries ? &values[index] : 0. */
  private inlineArrayLookup(pc: number, map: Extract<InlineMap, { kind: 'array' }>): void {
    const { f } = this;
    this.keyAddress(pc, 4);
    f.get(this.i32a).mem(Op.i32_load, 0).tee(this.i32b).i32Const(map.maxEntries).op(Op.i32_lt_u);
    f.block(Op.if, I64);
    f.i32Const(map.values).get(this.i32b).i32Const(map.elementSize).op(Op.i32_mul).op(Op.i32_add).op(Op.i64_extend_i32_u);
    f.op(Op.else);
    f.i64Const(0);
    f.op(Op.end);
    this.set(0);
  }

  /**
   * bpf_map_lookup_elem on a hash map, as src/maps/hash.ts does it: jhash
   * of the key, walk of the bucket's chain comparing hash and key, r0 = the
   * value's address or 0 (LRU maps mark the entry referenced). A chain
   * longer than max_entries or a link past the entry array (corrupted)
   * falls back to the helper, which reports it.
   */
  private inlineHashLookup(pc: number, i: Instruction, map: Extract<InlineMap, { kind: 'hash' }>): void {
    const { f } = this;
    const key = this.i32a;
    this.keyAddress(pc, map.keySize);
    const hash = this.jhash(key, map.keySize, map.seed);
    const link = this.i32b;
    const entry = this.scratch32(3);
    const steps = this.scratch32(4);
    f.i32Const(map.buckets).get(hash).i32Const(map.bucketMask).op(Op.i32_and).i32Const(2).op(Op.i32_shl).op(Op.i32_add).mem(Op.i32_load, 0).set(link);
    f.i32Const(0).set(steps);
    f.i64Const(0);
    this.set(0);
    f.block(Op.block);
    f.block(Op.loop);
    f.get(link).op(Op.i32_eqz).br(Op.br_if, 1);
    f.get(steps).i32Const(1).op(Op.i32_add).tee(steps).i32Const(map.maxEntries).op(Op.i32_gt_u);
    // A link past the entry array (a program rewrote a header) must not address memory: the helper reports it.
    f.get(link).i32Const(map.maxEntries).op(Op.i32_gt_u).op(Op.i32_or);
    f.block(Op.if);
    this.hostCall(pc, i);
    f.br(Op.br, 2);
    f.op(Op.end);
    f.i32Const(map.entries).get(link).i32Const(1).op(Op.i32_sub).i32Const(map.entryStride).op(Op.i32_mul).op(Op.i32_add).set(entry);
    f.get(entry).mem(Op.i32_load, HashEntry.HASH).get(hash).op(Op.i32_eq);
    f.block(Op.if);
    this.keysEqual(entry, HashEntry.HEADER_SIZE, key, map.keySize);
    f.block(Op.if);
    if (map.lru) f.get(entry).get(entry).mem(Op.i32_load, HashEntry.STATE).i32Const(HashEntry.STATE_REFERENCED).op(Op.i32_or).mem(Op.i32_store, HashEntry.STATE);
    f.get(entry).i32Const(map.valueOffset).op(Op.i32_add).op(Op.i64_extend_i32_u);
    this.set(0);
    f.br(Op.br, 3);
    f.op(Op.end);
    f.op(Op.end);
    f.get(entry).mem(Op.i32_load, HashEntry.NEXT).set(link);
    f.br(Op.br, 0);
    f.op(Op.end);
    f.op(Op.end);
  }

  /** Pushes whether the `size` bytes at local a + offset equal those at local b. */
  private keysEqual(a: number, offset: number, b: number, size: number): void {
    const { f } = this;
    let at = 0;
    let first = true;
    while (at < size) {
      const chunk = size - at >= 8 ? 8 : size - at >= 4 ? 4 : size - at >= 2 ? 2 : 1;
      const [load, eq] = chunk === 8 ? [Op.i64_load, Op.i64_eq] : chunk === 4 ? [Op.i32_load, Op.i32_eq] : chunk === 2 ? [Op.i32_load16_u, Op.i32_eq] : [Op.i32_load8_u, Op.i32_eq];
      f.get(a).mem(load, offset + at).get(b).mem(load, at).op(eq);
      if (!first) f.op(Op.i32_and);
      first = false;
      at += chunk;
    }
  }

  /** Extra i32 scratch locals, allocated on first use. */
  private readonly scratch: number[] = [];
  private scratch32(k: number): number {
    while (this.scratch.length <= k) this.scratch.push(this.f.local(I32));
    return this.scratch[k]!;
  }

  /**
   * The kernel's jhash (include/linux/jhash.h, as src/maps/jhash.ts) of the
   * `length` bytes at local `key`, unrolled for the constant length; returns
   * the local holding the hash.
   */
  private jhash(key: number, length: number, seed: number): number {
    const { f } = this;
    const [a, b, c] = [this.scratch32(0), this.scratch32(1), this.scratch32(2)];
    f.i32Const((0xdeadbeef + length + seed) | 0).tee(a).tee(b).set(c);
    // x op= y, or x op= rotl(y, k)
    const upd = (x: number, op: number, y: number, rot?: number): void => {
      f.get(x).get(y);
      if (rot !== undefined) f.i32Const(rot).op(Op.i32_rotl);
      f.op(op).set(x);
    };
    const addWord = (x: number, at: number, bytes: number): void => {
      f.get(x);
      if (bytes === 4) f.get(key).mem(Op.i32_load, at);
      else if (bytes === 2) f.get(key).mem(Op.i32_load16_u, at);
      else if (bytes === 1) f.get(key).mem(Op.i32_load8_u, at);
      else f.get(key).mem(Op.i32_load16_u, at).get(key).mem(Op.i32_load8_u, at + 2).i32Const(16).op(Op.i32_shl).op(Op.i32_or);
      f.op(Op.i32_add).set(x);
    };
    if (length === 0) return c;
    let p = 0;
    let n = length;
    while (n > 12) {
      addWord(a, p, 4);
      addWord(b, p + 4, 4);
      addWord(c, p + 8, 4);
      const mix: [number, number, number][] = [
        [a, c, 4],
        [b, a, 6],
        [c, b, 8],
        [a, c, 16],
        [b, a, 19],
        [c, b, 4],
      ];
      for (const [x, y, k] of mix) {
        upd(x, Op.i32_sub, y);
        upd(x, Op.i32_xor, y, k);
        // x's partner: c += b after a's step, a += c after b's, b += a after c's.
        const [t, u] = x === a ? [c, b] : x === b ? [a, c] : [b, a];
        upd(t, Op.i32_add, u);
      }
      n -= 12;
      p += 12;
    }
    for (const [x, from] of [
      [a, 0],
      [b, 4],
      [c, 8],
    ] as const) {
      const bytes = Math.min(4, n - from);
      if (bytes > 0) addWord(x, p + from, bytes);
    }
    const final: [number, number, number][] = [
      [c, b, 14],
      [a, c, 11],
      [b, a, 25],
      [c, b, 16],
      [a, c, 4],
      [b, a, 14],
      [c, b, 24],
    ];
    for (const [x, y, k] of final) {
      upd(x, Op.i32_xor, y);
      upd(x, Op.i32_sub, y, k);
    }
    return c;
  }

  private storeArgs(): void {
    const { f } = this;
    for (let r = 1; r <= 5; r++) {
      f.i32Const(0);
      this.get(r);
      f.mem(Op.i64_store, this.cb + CB.args + 8 * (r - 1));
    }
    f.i32Const(0).get(this.fp).mem(Op.i32_store, this.cb + CB.framePointer);
    if (this.cc.exact) {
      for (let r = 6; r <= 9; r++) {
        f.i32Const(0);
        this.get(r);
        f.mem(Op.i64_store, this.cb + CB.calleeSaved + 8 * (r - 6));
      }
    }
  }

  /**
   * With the import's status on the stack: ok → r0 from the control block;
   * replaced (a tail call ran in this frame) → return its r0; exited → unwind.
   * Regions may have changed during the call, so the access caches are reset.
   */
  private afterHostCall(pc: number): void {
    const { f } = this;
    const status = this.i32a;
    f.set(status);
    this.resetCaches();
    this.loadBudget();
    f.get(status);
    f.block(Op.if);
    f.get(status).i32Const(Status.exited).op(Op.i32_eq).globalSet(this.ctx.globals.unwinding);
    this.refundRest(pc);
    // A replaced frame returns what the tail-called program left in r0-r5.
    f.i32Const(0).mem(Op.i64_load, this.cb + CB.r0);
    this.returnRegisters(true);
    f.op(Op.end);
    f.i32Const(0).mem(Op.i64_load, this.cb + CB.r0);
    this.set(0);
  }

  private callLocal(pc: number, index: number): void {
    const { f } = this;
    // The callee's frame starts where this one ends.
    const newFp = this.i32a;
    f.get(this.fp);
    if (this.frameSize !== 0) f.i32Const(this.frameSize).op(Op.i32_sub);
    f.set(newFp);
    // The chain with the callee (CB.chain: frames << 16 | bytes): past MAX_CALL_FRAMES frames or 512 bytes (a
    // callback's callers included; recursion, which the load check cannot bound), the kernel's refusals.
    const calleeBytes = this.ctx.options.frameBytes[pc + 1 + this.ctx.insns[pc]!.imm]!;
    const step = CHAIN_FRAME | calleeBytes;
    const chain = this.i32b;
    f.i32Const(0).mem(Op.i32_load, this.cb + CB.chain).i32Const(step).op(Op.i32_add).tee(chain);
    f.i32Const(MAX_CALL_FRAMES * CHAIN_FRAME + 0xffff).op(Op.i32_gt_u);
    f.block(Op.if);
    f.i32Const(TrapKind.callDepth).i32Const(pc).get(chain).call(IMPORT.trap);
    f.op(Op.unreachable);
    f.op(Op.end);
    f.get(chain).i32Const(0xffff).op(Op.i32_and).i32Const(MAX_COMBINED_STACK).op(Op.i32_gt_u);
    f.block(Op.if);
    f.i32Const(TrapKind.stackLimit).i32Const(pc).get(chain).call(IMPORT.trap);
    f.op(Op.unreachable);
    f.op(Op.end);
    f.i32Const(0).get(chain).mem(Op.i32_store, this.cb + CB.chain);
    this.saveBudget();
    if (this.cc.exact) {
      for (let r = 0; r <= 9; r++) this.get(r);
      f.get(newFp).call(index);
      for (let r = 5; r >= 0; r--) this.set(r);
    } else {
      for (let r = 1; r <= 5; r++) this.get(r);
      f.get(newFp).call(index);
      this.set(0);
    }
    this.loadBudget();
    f.i32Const(0).i32Const(0).mem(Op.i32_load, this.cb + CB.chain).i32Const(step).op(Op.i32_sub).mem(Op.i32_store, this.cb + CB.chain);
    if (this.ctx.options.checked) {
      // Regions changed while the callee ran (it called a helper that mapped or unmapped some).
      f.i32Const(0).mem(Op.i32_load, this.cb + CB.epoch).get(this.epoch).op(Op.i32_ne);
      f.block(Op.if);
      this.resetCaches();
      f.i32Const(0).mem(Op.i32_load, this.cb + CB.epoch).set(this.epoch);
      f.op(Op.end);
    }
    f.globalGet(this.ctx.globals.unwinding);
    f.block(Op.if);
    this.refundRest(pc);
    this.get(0);
    this.returnRegisters();
    f.op(Op.end);
  }
}

const writesDst = (i: Instruction): boolean => {
  const cls = opClass(i.opcode);
  return cls === InsnClass.ALU || cls === InsnClass.ALU64 || cls === InsnClass.LDX || (cls === InsnClass.LD && i.opcode === OPCODE_LDDW);
};

function loadOp(size: number, signed: boolean): number {
  switch (size) {
    case 1:
      return signed ? Op.i64_load8_s : Op.i64_load8_u;
    case 2:
      return signed ? Op.i64_load16_s : Op.i64_load16_u;
    case 4:
      return signed ? Op.i64_load32_s : Op.i64_load32_u;
    default:
      return Op.i64_load;
  }
}

function storeOp(size: number): number {
  return size === 1 ? Op.i64_store8 : size === 2 ? Op.i64_store16 : size === 4 ? Op.i64_store32 : Op.i64_store;
}

