/**
 * The path explorer (the kernel's do_check and everything it calls):
 * abstract interpretation of every path through the program, with the
 * kernel's rules for registers, memory regions, helper calls, bpf-to-bpf
 * calls and exits, state pruning at prune points, and its limits.
 *
 * Verification runs as a privileged (CAP_BPF + CAP_PERFMON) load does,
 * the way root loads programs on Linux: uninitialised stack reads and
 * pointer leaks are allowed there, exactly as the kernel allows them.
 * `privileged: false` applies the unprivileged rules on top.
 */
import {
  type Instruction,
  AluOp,
  AtomicOp,
  CallSrc,
  InsnClass,
  JmpOp,
  LdImm64Src,
  Mode,
  Size,
  Source,
  aluOp,
  formatInstruction,
  instructionProblem,
  isLddw,
  jmpOp,
  opClass,
  opMode,
  opSize,
  opSource,
  sizeBytes,
} from '../isa/index.ts';
import type { LineInfo } from '../object/index.ts';
import {
  ArgType,
  AttachType,
  MapType,
  ProgramType,
  ReturnType,
  TypeFlag,
  baseType,
  helperAllowed,
  helperById,
  mapHelperCompatible,
  mapProgramProblem,
  programTypeSpec,
  type HelperSpec,
  type ProgramTypeSpec,
} from '../uapi/index.ts';
import { type ProgramShape, analyzeShape, isPseudoCall, isPseudoFunc, jumpTarget } from './cfg.ts';
import { type BtfObject, type StructAccess, type TracingContext } from './btf-args.ts';
import { contextAccess, socketAccessOk } from './context.ts';
import { type GlobalFunction, checkGlobalCall, globalEntryRegs } from './global-func.ts';
import { type KfuncTarget, checkKfuncCall } from './kfunc.ts';
import { addrSpaceCast, arenaAluResult, programUsesArena } from './arena.ts';
import { type DynptrArgContext, type DynptrUse, destroyDynptrAt, dynptrSlotsEquivalent, dynptrToRelease, freeDynptr, processDynptrArg } from './dynptr.ts';
import { type IterSlotRef, iterActiveAtCall, iterActiveDepthsDiffer, iterSlotsEquivalent, markIterNextCalls, processIterNextCall, scrubIterSlot } from './iter.ts';
import { Rejection } from './errors.ts';
import { StackLiveness } from './stack-liveness.ts';
import { type FastcallCallee, FastcallPatterns, fastcallClobbers } from './fastcall.ts';
import { checkPtrOffReg } from './ptr-off.ts';
import { VerifierLog, formatFrame, regTypeName } from './log.ts';
import {
  SCALAR_UNKNOWN,
  type Scalar,
  branchTaken,
  refineBranch,
  refineBranchSameRegister,
  scalarAlu,
  scalarAluFork,
  scalarBoundsInverted,
  scalarBswap,
  scalarConstNumber,
  scalarConstS32,
  scalarConstSigned,
  scalarConstUnsigned,
  scalarConstValue,
  scalarConstValue32,
  scalarConstWords,
  scalarEquals,
  scalarIsAligned,
  scalarIsConst,
  scalarIsZero,
  scalarKnownLow32,
  scalarSmax,
  scalarSmin,
  scalarSminExact,
  scalarSminUnbounded,
  scalarUmax,
  scalarUmaxBits,
  scalarUmaxExact,
  scalarUmin,
  scalarUminExact,
  scalarSignedRange,
  scalarSmaxExact,
  scalarVarOffString,
  scalarMovSx,
  scalarNeg,
  scalarSignExtend,
  scalarTruncate,
  scalarWithin,
  scalarZext32,
} from './scalar.ts';
import {
  ADD_CONST,
  ADD_CONST32,
  ADD_CONST64,
  type CallbackInfo,
  type Checkpoint,
  type HistoryEntry,
  type Frame,
  type Reg,
  type Reference,
  type StackObject,
  type StackSlot,
  type VerifierMap,
  type VerifierState,
  MAX_BPF_STACK,
  MAYBE_NULL,
  NOT_INIT_REG,
  RegType,
  Slot,
  allocatedStack,
  baseOf,
  cloneFrame,
  copyReg,
  cloneState,
  isPacketPointer,
  isPointer,
  isSpilled,
  knownScalar,
  linkBaseId,
  mayBeNull,
  newFrame,
  pointerReg,
  scalarReg,
  stackSlot,
  unknownScalar,
} from './state.ts';
import {
  type PrecisionContext,
  Backtrack,
  linkedKeyFrame,
  linkedKeyIndex,
  linkedKeyIsReg,
  linkedRegKey,
  markAllScalarsImprecise,
  markChainPrecision,
  markSlotPrecision,
  propagatePrecision,
  stackAccessFlags,
  widenImpreciseScalars,
} from './precision.ts';

export const COMPLEXITY_LIMIT_INSNS = 1_000_000;
export const COMPLEXITY_LIMIT_JMP_SEQ = 8192;
const MAX_CALL_FRAMES = 8;
/** Callback iterations with widening before everything the callback touches is made unknown. */
const CALLBACK_ITERATIONS_BEFORE_HAVOC = 8;
/** Instructions of the current path remembered for explanations. */
const PATH_KEPT = 256;
const EMPTY_CHECKPOINTS: Checkpoint[] = [];
const BPF_MAX_VAR_OFF = 1 << 29;
const MAX_PACKET_OFF = 0xffff;
const AT_PKT_END = -1;
const BEYOND_PKT_END = -2;
const S64_MIN = -(1n << 63n);

export interface VerifierInput {
  insns: readonly Instruction[];
  programType: number;
  expectedAttachType?: number;
  /** Map a `lddw` at an instruction index refers to (resolved relocations or fds). */
  mapAt: (insnIdx: number, insn: Instruction) => VerifierMap | undefined;
  gplCompatible: boolean;
  sleepable: boolean;
  /** BPF_F_STRICT_ALIGNMENT: every access aligned to its size, packet accesses to NET_IP_ALIGN. */
  strictAlignment: boolean;
  /** BPF_F_TEST_STATE_FREQ (a selftest flag): a state is stored at every prune point. */
  testStateFreq: boolean;
  privileged: boolean;
  logLevel: 0 | 1 | 2;
  lineInfo: readonly LineInfo[];
  /** Whether the function starting at this instruction returns void by its BTF prototype. */
  isVoidFunction: (insnIdx: number) => boolean;
  /** Called with the state of each path before each instruction it explores (for viewers). */
  onInstruction?: (insnIdx: number, state: VerifierState) => void;
  /** Global functions by first instruction: verified on their own, calls checked against their prototype. */
  globalFunctions?: ReadonlyMap<number, GlobalFunction>;
  /** The kfunc a `call` with src=BPF_PSEUDO_KFUNC_CALL at this instruction calls. */
  kfuncAt?: (insnIdx: number) => KfuncTarget | undefined;
  /** A tracing program's arguments from its attach target's BTF prototype (btf_ctx_access). */
  tracingContext?: TracingContext;
  /** Reads through a pointer to a kernel struct (btf_struct_access); undefined for structs the kernel BTF lacks. */
  btfStructAccess?: (struct: string, off: number, size: number, untrusted: boolean) => StructAccess | undefined;
  /** The kernel struct and the structs at its offset 0 (btf_struct_ids_match's walk), for socket arguments given kernel pointers. */
  structsAtZero?: (struct: string) => readonly string[];
}

export interface VerifierStats {
  processedInsns: number;
  totalStates: number;
  peakStates: number;
  maxStatesPerInsn: number;
  /** Stack bytes each subprogram uses, in subprogram order. */
  stackDepth: number[];
}

export interface VerifierOutcome {
  stats: VerifierStats;
  log: string;
  rejection: Rejection | undefined;
  /** Instructions on the path that failed, oldest first (for explanations). */
  failingPath: number[];
  /** No access relied on run-time checks (see VerifyResult.boundsProven). */
  boundsProven: boolean;
}

interface PendingBranch {
  state: VerifierState;
  logLength: number;
  /**
   * Path so far (instruction indexes), for explanations of failures found
   * later: the first `pathLength` entries of `path`. Paths only grow at the
   * end and pending branches resume last-in first-out, so a branch shares
   * the array instead of copying it.
   */
  path: number[];
  pathLength: number;
}

/**
 * What a helper call's arguments tell about its result. A class, not an object literal: memSize may be any u64, so its
 * field's representation widens from small integer to double, and a literal's boilerplate would keep making objects of
 * the deprecated map, each migrated on first use (about a microsecond per helper call).
 */
class CallMeta {
  map: VerifierMap | undefined = undefined;
  rawMode = false;
  accessSize = 0;
  rawRegno = -1;
  memSize = 0;
  releaseRegno = 0;
  refObjId = 0;
  subprog = -1;
  maxSize = 0;
  /** The key, when the key argument points at a stack slot holding a known constant. */
  constKey: bigint | undefined = undefined;
  /** The initialised dynptr an argument named (dynptr.ts). */
  dynptr: DynptrUse | undefined = undefined;
}

const ALU_NAMES: Readonly<Record<number, string>> = {
  [AluOp.ADD]: '+=', [AluOp.SUB]: '-=', [AluOp.MUL]: '*=', [AluOp.DIV]: '/=', [AluOp.OR]: '|=', [AluOp.AND]: '&=',
  [AluOp.LSH]: '<<=', [AluOp.RSH]: '>>=', [AluOp.NEG]: 'neg', [AluOp.MOD]: '%=', [AluOp.XOR]: '^=', [AluOp.MOV]: '=',
  [AluOp.ARSH]: 's>>=', [AluOp.END]: 'endian',
};

/** Helpers that acquire a reference the program must release (is_acquire_function). */
const ACQUIRE_HELPERS = new Set(['sk_lookup_tcp', 'sk_lookup_udp', 'skc_lookup_tcp', 'ringbuf_reserve', 'kptr_xchg']);
/** Helpers that change packet data, invalidating packet pointers (bpf_helper_changes_pkt_data). */
const CHANGES_PKT_DATA = new Set([
  'skb_store_bytes', 'skb_change_proto', 'skb_change_type', 'skb_change_head', 'skb_change_tail', 'skb_pull_data', 'skb_vlan_push',
  'skb_vlan_pop', 'skb_adjust_room', 'l3_csum_replace', 'l4_csum_replace', 'clone_redirect', 'xdp_adjust_head', 'xdp_adjust_meta',
  'xdp_adjust_tail', 'msg_pull_data', 'msg_push_data', 'msg_pop_data', 'lwt_push_encap', 'lwt_seg6_store_bytes', 'lwt_seg6_adjust_srh',
  'lwt_seg6_action', 'store_hdr_opt', 'skb_ecn_set_ce', 'dynptr_write', 'tail_call',
]);
/** is_ptr_cast_function: the result carries the argument's reference. */
const PTR_CAST_HELPERS = new Set(['tcp_sock', 'sk_fullsock', 'skc_to_tcp_sock', 'skc_to_tcp6_sock', 'skc_to_udp6_sock', 'skc_to_mptcp_sock', 'skc_to_tcp_timewait_sock', 'skc_to_tcp_request_sock']);
/** Helpers returning at most their size argument (do_refine_retval_range). */
const SIZED_RETURN = new Set(['get_stack', 'get_task_stack', 'probe_read_str', 'probe_read_kernel_str', 'probe_read_user_str']);
/** Helpers whose callback argument runs synchronously, with the callback's frame set up as the kernel does. */
const CALLBACK_HELPERS: Readonly<Record<string, { args: (caller: Frame, meta: CallMeta) => Reg[]; retMin: number; retMax: number }>> = {
  loop: { args: (c) => [unknownScalar(), c.regs[3]!], retMin: 0, retMax: 1 },
  for_each_map_elem: {
    args: (c, meta) => [
      pointerReg(RegType.CONST_PTR_TO_MAP, { map: meta.map }),
      pointerReg(RegType.PTR_TO_MAP_KEY, { map: meta.map }),
      pointerReg(RegType.PTR_TO_MAP_VALUE, { map: meta.map }),
      c.regs[3]!,
    ],
    retMin: 0,
    retMax: 1,
  },
  find_vma: { args: (c) => [pointerReg(RegType.PTR_TO_BTF_ID, { btfName: 'task_struct' }), pointerReg(RegType.PTR_TO_BTF_ID, { btfName: 'vm_area_struct' }), c.regs[4]!], retMin: 0, retMax: 1 },
  user_ringbuf_drain: { args: (c) => [pointerReg(RegType.CONST_PTR_TO_DYNPTR), c.regs[3]!], retMin: 0, retMax: 1 },
};


export class Verifier {
  private readonly insns: readonly Instruction[];
  private readonly shape: ProgramShape;
  private readonly progSpec: ProgramTypeSpec | undefined;
  private readonly log: VerifierLog;
  private readonly pending: PendingBranch[] = [];
  /** Checkpoints stored per instruction (explored_states). */
  private readonly explored: (Checkpoint[] | undefined)[];
  private cur!: VerifierState;
  private path: number[] = [];
  private idGen = 0;
  private processed = 0;
  private totalStates = 0;
  private curStates = 0;
  private peakStates = 0;
  private maxStatesPerInsn = 0;
  private prevInsnProcessed = 0;
  private prevJmpsProcessed = 0;
  private jmpsProcessed = 0;
  private readonly stackDepth: number[];
  /** Registers and stack slots the current instruction touched (bit i: register i), printed after it in the log. */
  private scratchedRegMask = 0;
  private readonly scratchedSlots = new Set<number>();
  private printFromState = false;
  /** Set when an access goes through a pointer whose target only run-time checks can confine. */
  private needsRuntimeChecks = false;
  /** Global functions a verified path called, by subprogram index (verified after the main program). */
  private readonly calledGlobals = new Set<number>();
  /** Some lddw loads an arena map (addr_space_cast is allowed). */
  private readonly usesArena: boolean;
  /** Precision tracking's view of this verifier (precision.ts), and its reusable masks. */
  private readonly precision: PrecisionContext;
  private readonly backtrack = new Backtrack();
  /** Which stack slots explored paths may still read (liveness.c): stored states compare only those. */
  private readonly stackLiveness: StackLiveness;
  /** bpf_fastcall spill and fill pairs the kernel removes after verification (undefined: the program has none). */
  private readonly fastcall: FastcallPatterns | undefined;
  /** The history entry the current instruction added, which its later spills, fills and links join (cur_hist_ent). */
  private histEntry: HistoryEntry | undefined;
  /** The instruction the path came from into the current one. */
  private arrivedFrom = -1;
  /** Per load or store, the pointer type its address register had on the first path through it (insn_aux_data's ptr_type). */
  private readonly accessPtrType: Int32Array;

  constructor(private readonly input: VerifierInput) {
    this.insns = input.insns;
    this.log = new VerifierLog(input.logLevel, input.lineInfo);
    this.progSpec = programTypeSpec(input.programType);
    this.shape = analyzeShape(this.insns);
    try {
      this.usesArena = programUsesArena(this.insns, input.mapAt);
      markIterNextCalls(this.insns, input.kfuncAt, this.shape.prunePoint, this.shape.forceCheckpoint, this.shape.iterNext);
      this.fastcall = FastcallPatterns.find(this.insns, this.shape.subprogs, (t) => this.fastcallCallee(t));
    } catch (error) {
      this.shape.release();
      throw error;
    }
    this.explored = new Array<Checkpoint[] | undefined>(this.insns.length).fill(undefined);
    this.accessPtrType = new Int32Array(this.insns.length);
    this.stackDepth = this.shape.subprogs.map(() => 0);
    this.stackLiveness = new StackLiveness(this.insns, this.shape.subprogs);
    this.precision = {
      insns: this.insns,
      logLevel: input.logLevel,
      write: (line) => this.log.write(line),
      isGlobalFunction: (insnIdx) => input.globalFunctions?.has(insnIdx) ?? false,
      liveRegsAt: (st, f, insnIdx) => this.liveRegsAt(st, f, insnIdx),
    };
  }

  static check(input: VerifierInput): VerifierOutcome {
    let verifier: Verifier;
    try {
      checkOpcodeTable(input.insns);
      verifier = new Verifier(input);
    } catch (e) {
      if (!(e instanceof Rejection)) throw e;
      const log = `${e.message}\nprocessed 0 insns (limit ${COMPLEXITY_LIMIT_INSNS}) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n`;
      return { stats: { processedInsns: 0, totalStates: 0, peakStates: 0, maxStatesPerInsn: 0, stackDepth: [] }, log, rejection: e, failingPath: [e.insnIndex], boundsProven: false };
    }
    try {
      return verifier.run();
    } finally {
      verifier.shape.release();
      verifier.stackLiveness.release();
    }
  }

  private run(): VerifierOutcome {
    let rejection: Rejection | undefined;
    try {
      this.validateInstructions();
      this.checkMapCompatibility();
      this.checkLdAbsFunctions();
      this.cur = this.initialState();
      if (this.log.level > 0) this.log.write(`0:${formatFrame(this.frame())}\n`);
      this.explore();
      this.verifyGlobalFunctions();
      this.checkStackDepth();
    } catch (e) {
      if (!(e instanceof Rejection)) throw e;
      rejection = e;
      this.log.write(`${e.message}\n${e.logDetail}`);
    }
    const maxStatesPerInsn = this.maxStatesPerInsn;
    const stats: VerifierStats = {
      processedInsns: this.processed,
      totalStates: this.totalStates,
      peakStates: this.peakStates,
      maxStatesPerInsn,
      stackDepth: this.stackDepth,
    };
    if (rejection === undefined && this.log.level === 1) this.log.truncate(0);
    this.log.write(
      `processed ${this.processed} insns (limit ${COMPLEXITY_LIMIT_INSNS}) max_states_per_insn ${maxStatesPerInsn} total_states ${this.totalStates} peak_states ${this.peakStates} mark_read 0\n`,
    );
    return { stats, log: this.log.toString(), rejection, failingPath: rejection ? (this.path.at(-1) === rejection.insnIndex ? this.path.slice() : [...this.path, rejection.insnIndex]) : [], boundsProven: !this.needsRuntimeChecks };
  }

  // ---- set-up ---------------------------------------------------------------

  private validateInstructions(): void {
    for (let t = 0; t < this.insns.length; t++) {
      const i = this.insns[t]!;
      const problem = instructionProblem(i, this.insns[t + 1]);
      if (problem !== undefined) throw new Rejection(t, problem, 'EINVAL');
      if (isLddw(i)) t++;
    }
  }

  /** check_btf_func: a subprogram using LD_ABS/LD_IND (which may return 0 for it) must return a scalar. */
  private checkLdAbsFunctions(): void {
    const { subprogs } = this.shape;
    for (let k = 1; k < subprogs.length; k++) {
      const sp = subprogs[k]!;
      if (!this.input.isVoidFunction(sp.start)) continue;
      for (let t = sp.start; t < sp.end; t++) {
        const i = this.insns[t]!;
        const mode = opMode(i.opcode);
        if (opClass(i.opcode) === InsnClass.LD && (mode === Mode.ABS || mode === Mode.IND)) {
          throw new Rejection(sp.start, "LD_ABS is only allowed in functions that return 'int'.", 'EINVAL');
        }
      }
    }
  }

  private initialState(): VerifierState {
    const frame = newFrame(0, -1, 0);
    frame.regs[1] = pointerReg(RegType.PTR_TO_CTX);
    return { frames: [frame], refs: [], insnIdx: 0, prevInsnIdx: -1, parent: undefined, mayGotoDepth: 0, activeLock: 0, activeLockId: 0, firstInsnIdx: 0, lastInsnIdx: -1, history: [], loopEntry: undefined, dfsDepth: 0 };
  }

  /** What the helper or kfunc called at `idx` clobbers under the bpf_fastcall contract, and whether the kernel inlines it. */
  private fastcallCallee(idx: number): FastcallCallee | undefined {
    const insn = this.insns[idx]!;
    if (insn.src === CallSrc.KFUNC) {
      const target = this.input.kfuncAt?.(idx);
      if (target?.prototype === undefined) return undefined;
      return { clobbers: fastcallClobbers(target.prototype.params.length, target.prototype.ret.kind !== 'void'), inlined: FASTCALL_KFUNCS.has(target.name) };
    }
    const helper = helperById(insn.imm);
    if (helper === undefined) return undefined;
    return { clobbers: fastcallClobbers(helper.args.length, baseType(helper.ret) !== ReturnType.VOID), inlined: helper.allowFastcall };
  }

  /**
   * check_max_stack_depth, after exploration: along every chain of
   * bpf-to-bpf calls the functions' stack use (as verified, rounded up to 16
   * bytes as for JIT-compiled programs) may add up to 512 bytes at most.
   */
  private checkStackDepth(): void {
    const { subprogs, subprogOf } = this.shape;
    const callees = subprogs.map(() => new Set<number>());
    for (let t = 0; t < this.insns.length; t++) {
      const i = this.insns[t]!;
      // A callback passed to a helper runs on top of the frame that passed it.
      if (isPseudoCall(i) || isPseudoFunc(i)) callees[subprogOf[t]!]!.add(subprogOf[t + i.imm + 1]!);
      if (isLddw(i)) t++;
    }
    // remove_fastcall_spills_fills runs first: the removed spill slots no longer count.
    this.fastcall?.applyToStackDepths(this.stackDepth);
    // Whole numbers only (Math.ceil gives doubles): an array of doubles has another map, which deoptimised this every few programs.
    const own: number[] = [];
    for (const depth of this.stackDepth) own.push((depth + 15) & ~15);
    checkCallChainStack(subprogs, callees, own, 0, 0, 0);
  }

  // ---- the main loop --------------------------------------------------------

  private frame(): Frame {
    return this.cur.frames[this.cur.frames.length - 1]!;
  }

  private regs(): Reg[] {
    return this.frame().regs;
  }

  private explore(): void {
    for (;;) {
      const idx = this.cur.insnIdx;
      if (idx < 0 || idx >= this.insns.length) throw new Rejection(idx, `invalid insn idx ${idx} insn_cnt ${this.insns.length}`, 'EFAULT');
      if (++this.processed > COMPLEXITY_LIMIT_INSNS) {
        throw new Rejection(idx, `BPF program is too large. Processed ${this.processed} insn`, 'E2BIG');
      }
      this.histEntry = undefined;
      if (this.shape.prunePoint[idx] && this.isStateVisited(idx)) {
        if (this.log.level > 0) {
          this.log.write(this.printFromState ? `\nfrom ${this.cur.prevInsnIdx} to ${idx}: safe\n` : `${idx}: safe\n`);
        }
        if (!this.finishPath()) return;
        continue;
      }
      if (this.printFromState && this.log.level > 0) {
        // After a popped branch: level 2 announces it, both levels print the whole state once.
        const state = formatFrame(this.frame(), undefined, undefined, this.refIds());
        if (this.log.level > 1) this.log.write(`\nfrom ${this.cur.prevInsnIdx} to ${idx}:${state}\n`);
        this.log.write(`${idx}:${state}\n`);
      }
      this.printFromState = false;
      this.recordJump(idx);
      this.input.onInstruction?.(idx, this.cur);
      if (this.log.level > 0) {
        this.log.sourceLine(idx);
        this.log.instruction(idx, `(${this.insns[idx]!.opcode.toString(16).padStart(2, '0')}) ${formatInstruction(this.insns, idx, { style: 'kernel' })}`);
      }
      this.scratchedRegMask = 0;
      if (this.scratchedSlots.size > 0) this.scratchedSlots.clear();
      // Only the recent path is kept: explanations show its last source lines.
      if (this.path.length >= PATH_KEPT * 2) this.path = this.path.slice(-PATH_KEPT);
      this.path.push(idx);
      this.cur.prevInsnIdx = idx;
      // Only stores write a stack slot in full, and a helper or kfunc call may take a callback whose writes reach the
      // call: every other instruction's must_write stays empty, so it needs no marks (the kernel's reset and commit).
      const marksWrites = writesStackMarks(this.insns[idx]!);
      if (marksWrites) this.stackLiveness.resetWriteMarks(this.cur, idx);
      const done = this.step(idx);
      if (marksWrites) this.stackLiveness.commitWriteMarks();
      if (done) {
        if (!this.finishPath()) return;
        continue;
      }
      if (this.log.level > 0 && (this.scratchedRegMask !== 0 || this.scratchedSlots.size > 0)) {
        const regs = new Set<number>();
        for (let r = 0; r <= 10; r++) if (this.scratchedRegMask & (1 << r)) regs.add(r);
        this.log.stateAfter(idx, formatFrame(this.frame(), regs, this.scratchedSlots));
      }
    }
  }

  private refIds(): number[] {
    return this.cur.refs.map((r) => r.id);
  }

  /** A path ended (exit of the main program, or pruned). Returns false when nothing is left to explore. */
  private finishPath(): boolean {
    // update_branch_counts starts at the ending state: a loop it closed puts its parent inside the loop too (without
    // that, the parent counts as complete and its stack slots could be dropped before the loop's reads are known).
    if (this.cur.parent !== undefined && this.cur.loopEntry !== undefined) updateLoopEntry(this.cur.parent, this.cur.loopEntry);
    this.updateBranchCounts(this.cur.parent);
    this.stackLiveness.update(this.cur);
    const next = this.pending.pop();
    if (next === undefined) return false;
    if (this.log.level === 1) this.log.truncate(next.logLength);
    this.cur = next.state;
    this.path = next.path;
    this.path.length = next.pathLength;
    this.printFromState = true;
    return true;
  }

  private updateBranchCounts(parent: Checkpoint | undefined): void {
    let p = parent;
    while (p !== undefined) {
      p.branches--;
      if (p.branches > 0) break;
      // A finished state inside a loop puts its parent inside it too; a finished loop header settles its loop's precision.
      if (p.parent !== undefined && p.loopEntry !== undefined) updateLoopEntry(p.parent, p.loopEntry);
      if (p.backedges !== undefined) this.settleLoop(p);
      p = p.parent;
    }
  }

  /** Whether the current path runs a later iteration of the same callback call than `old` does. */
  private laterCallbackIteration(old: VerifierState): boolean {
    const mine = this.cur.frames[this.cur.frames.length - 1]?.callback;
    const theirs = old.frames[old.frames.length - 1]?.callback;
    return mine !== undefined && theirs !== undefined && old.frames.length === this.cur.frames.length && mine.helper === theirs.helper && mine.iteration > theirs.iteration;
  }

  /** Queue the other side of a branch, continuing at `insnIdx`. */
  private pushBranch(insnIdx: number, state: VerifierState): void {
    state.insnIdx = insnIdx;
    if (state.parent) state.parent.branches++;
    this.pending.push({ state, logLength: this.log.length, path: this.path, pathLength: this.path.length });
    if (this.pending.length > COMPLEXITY_LIMIT_JMP_SEQ) {
      throw new Rejection(this.cur.prevInsnIdx, `The sequence of ${this.pending.length} jumps is too complex.`, 'E2BIG');
    }
  }

  // ---- precision tracking (precision.ts) ---------------------------------------

  /** push_insn_history for an instruction reached by a jump, call or return (a jmp point): backtracking needs to know where from. */
  private recordJump(idx: number): void {
    const prev = this.cur.prevInsnIdx;
    this.arrivedFrom = prev;
    if (prev >= 0 && prev !== idx - 1) this.pushHistory(idx, 0, undefined);
  }

  /** push_insn_history: a spill or fill (flags) or registers refined together (linked) at instruction `idx`. */
  private pushHistory(idx: number, flags: number, linked: readonly number[] | undefined): void {
    const entry = this.histEntry;
    if (entry !== undefined) {
      entry.flags |= flags;
      if (linked !== undefined) entry.linked = linked;
      return;
    }
    this.histEntry = { idx, prev: this.arrivedFrom, flags, linked };
    this.cur.history.push(this.histEntry);
  }

  /** mark_chain_precision: instruction `idx` relies on the exact range of scalar `regno`. Unprivileged, every scalar is precise already. */
  private markPrecise(idx: number, regno: number): void {
    if (!this.input.privileged || this.regs()[regno]!.type !== RegType.SCALAR) return;
    markChainPrecision(this.precision, this.cur, idx, regno, this.backtrack);
  }

  /**
   * collect_linked_regs: the live registers and the spilled slots linked to scalar id `id` (with or without a
   * delta), innermost frame first, as history keys. The kernel keeps LINKED_REGS_MAX of them: any further one
   * loses its id, so that no branch bounds it without the others.
   */
  private linkedRegs(id: number, into: number[]): void {
    const base = linkBaseId(id);
    const frames = this.cur.frames;
    for (let fr = frames.length - 1; fr >= 0; fr--) {
      const frame = frames[fr]!;
      // A caller's registers as live at its call instruction.
      const live = this.shape.liveIn[fr === frames.length - 1 ? this.cur.insnIdx : frames[fr + 1]!.callsite]!;
      for (let r = 0; r < 10; r++) {
        const reg = frame.regs[r]!;
        if (!(live & (1 << r)) || reg.type !== RegType.SCALAR || linkBaseId(reg.id) !== base) continue;
        if (into.length < LINKED_REGS_MAX) into.push(linkedRegKey(fr, true, r));
        else frame.regs[r] = withoutLink(reg);
      }
      for (let spi = 0; spi < frame.stack.length; spi++) {
        const slot = frame.stack[spi];
        if (!isSpilled(slot) || slot!.spilled!.type !== RegType.SCALAR || linkBaseId(slot!.spilled!.id) !== base) continue;
        if (into.length < LINKED_REGS_MAX) into.push(linkedRegKey(fr, false, spi));
        else stackSlot(frame, spi, true)!.spilled = withoutLink(slot!.spilled!);
      }
    }
  }

  /**
   * The path closed a loop on `old`, whose precision marks are not final yet:
   * what it needs now is propagated, and the hit is kept to be propagated
   * again when the loop is done (the kernel's backedges).
   */
  private loopHit(old: Checkpoint, idx: number): void {
    this.recordJump(idx);
    propagatePrecision(this.precision, old.state, this.cur, idx, this.backtrack);
    const header = getLoopEntry(old) ?? old;
    (header.backedges ??= []).push({ state: this.cur, old: old.state, insnIdx: idx });
  }

  /**
   * A loop header's exploration is done: the precision its loop's pruned
   * paths need is propagated until nothing changes, so the states inside the
   * loop have final marks. An enclosing loop still running replays them too.
   */
  private settleLoop(header: Checkpoint): void {
    const backedges = header.backedges!;
    header.backedges = undefined;
    for (let changed = true; changed; ) {
      changed = false;
      for (const edge of backedges) {
        if (propagatePrecision(this.precision, edge.old, edge.state, edge.insnIdx, this.backtrack) > 0) changed = true;
      }
    }
    const outer = getLoopEntry(header);
    if (outer !== undefined && outer !== header && outer.branches > 0) (outer.backedges ??= []).push(...backedges);
  }

  /** The previous iteration's stored state of the loop at `idx` (find_prev_entry): an ancestor above the newest checkpoint, with the same call chain. */
  private previousIteration(idx: number): VerifierState | undefined {
    const cur = this.cur;
    for (let c = cur.parent?.parent; c !== undefined; c = c.parent) {
      const st = c.state;
      if (st.insnIdx !== idx || st.frames.length !== cur.frames.length) continue;
      if (st.frames.every((f, i) => f.callsite === cur.frames[i]!.callsite)) return st;
    }
    return undefined;
  }

  // ---- state pruning ----------------------------------------------------------

  /** is_state_visited: prune when an explored state covers this one; store a checkpoint otherwise. */
  private isStateVisited(idx: number): boolean {
    const list = this.explored[idx] ?? EMPTY_CHECKPOINTS;
    // A long history is cut by a checkpoint, as in the kernel (it keeps backtracking short).
    const forceCheckpoint = this.shape.forceCheckpoint[idx] === 1;
    const force = this.input.testStateFreq || forceCheckpoint || this.cur.history.length > 40;
    const jmpsSince = this.jmpsProcessed - this.prevJmpsProcessed;
    const insnsSince = this.processed - this.prevInsnProcessed;
    let addNew = force || (jmpsSince >= 2 && insnsSince >= 8);
    const compared = list.length;
    this.cleanLiveStates(list);
    // Newest first, as the kernel's list (new states go to its head): the first equivalent state is the one pruned against.
    for (let k = list.length - 1; k >= 0; k--) {
      const old = list[k]!;
      if (old.branches > 0) {
        // The kernel's three loop convergences, each compared with RANGE_WITHIN (imprecise scalars too):
        // an iterator's next iteration starting within this one (the iterator contract ends it),
        // a may_goto loop reaching its ancestor one level deeper (deeper levels add nothing),
        // and a later iteration of a callback in a state an earlier iteration had (pruned at the call site).
        const converged =
          this.shape.iterNext[idx] === 1
            ? iterActiveAtCall(this.cur) && this.statesEqual(old.state, this.cur, idx, true)
            : (this.isMayGoto(idx) && old.state.mayGotoDepth !== this.cur.mayGotoDepth && this.statesEqual(old.state, this.cur, idx, true, true)) ||
              (this.laterCallbackIteration(old.state) && this.statesEqual(old.state, this.cur, idx, true));
        if (converged) {
          old.hits++;
          updateLoopEntry(this.cur, old);
          this.loopHit(old, idx);
          return true;
        }
        // An ancestor at the same instruction: the path looped back.
        if (this.shape.iterNext[idx] !== 1 && this.statesExactlyEqual(old.state, this.cur) && !iterActiveDepthsDiffer(old.state, this.cur)) {
          const dump = (st: VerifierState): string => formatFrame(st.frames[st.frames.length - 1]!, undefined, undefined, st.refs.map((r) => r.id));
          throw new Rejection(idx, `infinite loop detected at insn ${idx}`, 'EINVAL', `cur state:${dump(this.cur)}\nold state:${dump(old.state)}\n`);
        }
        // Inside a loop being explored, each iteration's state differs: a new one is stored only now and then (the
        // kernel's skip_inf_loop_check), so that a long loop is refused quickly and states from its start and end stay.
        if (!force && jmpsSince < 20 && insnsSince < 100) addNew = false;
      } else {
        // A state inside a loop still being explored has precision marks that are not final: it is compared on every scalar.
        const loopEntry = getLoopEntry(old);
        const forceExact = loopEntry !== undefined && loopEntry.branches > 0;
        if (this.statesEqual(old.state, this.cur, idx, forceExact)) {
          old.hits++;
          if (forceExact) {
            updateLoopEntry(this.cur, loopEntry);
            this.loopHit(old, idx);
          } else {
            this.recordJump(idx);
            propagatePrecision(this.precision, old.state, this.cur, idx, this.backtrack);
          }
          return true;
        }
      }
      // Misses count only when the current state is to be stored, so that loop iterations do not evict the states kept from earlier ones.
      if (addNew) old.misses++;
      // The kernel's heuristic: a state that keeps missing is dropped to keep comparisons cheap.
      const n = forceCheckpoint && old.branches > 0 ? 64 : 3;
      if (old.misses > old.hits * n + n) {
        list.splice(k, 1);
        this.curStates--;
      }
    }
    this.maxStatesPerInsn = Math.max(this.maxStatesPerInsn, compared);
    if (!addNew) return false;
    this.prevJmpsProcessed = this.jmpsProcessed;
    this.prevInsnProcessed = this.processed;
    if (this.input.privileged) markAllScalarsImprecise(this.cur);
    // The stored state takes the path's history; the path starts a new one from here.
    const stored = cloneState(this.cur, this.cur.history);
    stored.lastInsnIdx = this.cur.prevInsnIdx;
    const checkpoint: Checkpoint = { state: stored, branches: 1, parent: this.cur.parent, hits: 0, misses: 0, loopEntry: this.cur.loopEntry, dfsDepth: this.cur.dfsDepth, backedges: undefined, cleaned: false };
    this.cur.firstInsnIdx = idx;
    this.cur.history = [];
    this.cur.dfsDepth = checkpoint.dfsDepth + 1;
    if (list === EMPTY_CHECKPOINTS) this.explored[idx] = [checkpoint];
    else list.push(checkpoint);
    this.cur.parent = checkpoint;
    this.totalStates++;
    this.curStates++;
    this.peakStates = Math.max(this.peakStates, this.curStates);
    return false;
  }

  /**
   * clean_live_states: stored states here whose paths are all explored forget the stack slots no
   * path from them may read, once; a state inside a loop still being explored keeps them (its
   * paths' reads are not all known yet).
   */
  private cleanLiveStates(list: readonly Checkpoint[]): void {
    for (let k = 0; k < list.length; k++) {
      const old = list[k]!;
      if (old.branches > 0 || old.cleaned || !sameCallsites(old.state, this.cur)) continue;
      const loopEntry = getLoopEntry(old);
      if (loopEntry !== undefined && loopEntry.branches > 0) continue;
      old.cleaned = true;
      const frames = old.state.frames;
      this.stackLiveness.deadSlots(old.state, (frame, spi) => {
        frames[frame]!.stack[spi] = undefined;
      });
    }
  }

  private isMayGoto(idx: number): boolean {
    const i = this.insns[idx]!;
    return opClass(i.opcode) === InsnClass.JMP && jmpOp(i.opcode) === JmpOp.JCOND;
  }

  private statesExactlyEqual(a: VerifierState, b: VerifierState): boolean {
    if (a.frames.length !== b.frames.length || a.mayGotoDepth !== b.mayGotoDepth) return false;
    // Innermost frame first: where a loop's states differ (the kernel's states_maybe_looping looks there first too).
    for (let f = a.frames.length - 1; f >= 0; f--) {
      const fa = a.frames[f]!;
      const fb = b.frames[f]!;
      if (fa.callsite !== fb.callsite) return false;
      for (let r = 0; r <= 10; r++) if (!regsIdentical(fa.regs[r]!, fb.regs[r]!)) return false;
      const n = Math.max(fa.stack.length, fb.stack.length);
      for (let s = 0; s < n; s++) if (!slotsIdentical(fa.stack[s], fb.stack[s])) return false;
    }
    return true;
  }

  /** Liveness of the innermost frame is at idx; callers resume after their call instruction. */
  private liveRegsAt(st: VerifierState, f: number, idx: number): number {
    return f === st.frames.length - 1 ? this.shape.liveIn[idx]! : this.shape.liveIn[st.frames[f + 1]!.callsite + 1]! | 0x3c0;
  }

  /**
   * states_equal: every value `cur` may hold, `old` (already proven safe) may
   * hold too. With `rangeWithin` every scalar is compared by range (the
   * kernel's RANGE_WITHIN, for loops); otherwise an imprecise scalar of `old`
   * matches anything (NOT_EXACT), unless the program is unprivileged.
   * `anyMayGotoDepth` is the may_goto loop check.
   */
  private statesEqual(old: VerifierState, cur: VerifierState, idx: number, rangeWithin = false, anyMayGotoDepth = false): boolean {
    const exact = rangeWithin || !this.input.privileged;
    if (old.frames.length !== cur.frames.length) return false;
    if (old.refs.length !== cur.refs.length) return false;
    if (!anyMayGotoDepth && old.mayGotoDepth !== cur.mayGotoDepth) return false;
    const ids = ID_MAP.reset();
    // The held lock: the same map (active_lock_ptr), and its id mapped as the registers' ids are (active_lock_id), so
    // that a path holding one map value's lock does not stand for a path unlocking another value of the same map.
    if (old.activeLock !== cur.activeLock || (old.activeLock !== 0 && !ids.check(old.activeLockId, cur.activeLockId))) return false;
    for (let i = 0; i < old.refs.length; i++) if (!ids.check(old.refs[i]!.id, cur.refs[i]!.id)) return false;
    for (let f = 0; f < old.frames.length; f++) {
      const fo = old.frames[f]!;
      const fc = cur.frames[f]!;
      if (fo.callsite !== fc.callsite) return false;
      // A state more calls into a callback loop has fewer calls left than one fewer in (func_states_equal's callback_depth).
      if (fo.callback !== undefined && fc.callback !== undefined && !callsLeftCover(fo.callback, fc.callback)) return false;
      const live = this.liveRegsAt(old, f, idx);
      for (let r = 0; r <= 10; r++) {
        if (!(live & (1 << r)) && r !== 10) continue;
        if (!regsafe(fo.regs[r]!, fc.regs[r]!, ids, exact)) return false;
      }
      if (!stacksafe(fo, fc, ids, exact, this.input.privileged)) return false;
    }
    return true;
  }

  // ---- one instruction --------------------------------------------------------

  /** Executes the instruction at `idx` on the current state. Returns true when the path ended. */
  private step(idx: number): boolean {
    const insn = this.insns[idx]!;
    const cls = opClass(insn.opcode);
    switch (cls) {
      case InsnClass.ALU:
      case InsnClass.ALU64:
        this.checkAlu(idx, insn);
        this.cur.insnIdx = idx + 1;
        return false;
      case InsnClass.LDX:
        this.checkLoad(idx, insn);
        this.cur.insnIdx = idx + 1;
        return false;
      case InsnClass.STX:
        if (opMode(insn.opcode) === Mode.ATOMIC) this.checkAtomic(idx, insn);
        else this.checkStore(idx, insn, true);
        this.cur.insnIdx = idx + 1;
        return false;
      case InsnClass.ST:
        this.checkStore(idx, insn, false);
        this.cur.insnIdx = idx + 1;
        return false;
      case InsnClass.LD:
        if (isLddw(insn)) {
          this.checkLdImm64(idx, insn);
          this.cur.insnIdx = idx + 2;
        } else {
          this.cur.insnIdx = idx + 1;
          this.checkLdAbs(idx, insn);
        }
        return false;
      default:
        this.jmpsProcessed++;
        return this.checkJmp(idx, insn);
    }
  }

  private readReg(idx: number, regno: number): Reg {
    const r = this.regs()[regno]!;
    if (r.type === RegType.NOT_INIT) throw new Rejection(idx, `R${regno} !read_ok`);
    this.scratchedRegMask |= 1 << regno;
    return r;
  }

  private writeReg(regno: number, r: Reg): void {
    this.regs()[regno] = r;
    this.scratchedRegMask |= 1 << regno;
  }

  private checkDst(idx: number, regno: number): void {
    if (regno === 10) throw new Rejection(idx, 'frame pointer is read only');
  }

  private newId(): number {
    return ++this.idGen;
  }

  private isLeak(r: Reg): boolean {
    return !this.input.privileged && isPointer(r);
  }

  // ---- ALU --------------------------------------------------------------------

  private checkAlu(idx: number, insn: Instruction): void {
    const op = aluOp(insn.opcode);
    const alu32 = opClass(insn.opcode) === InsnClass.ALU;
    const x = opSource(insn.opcode) === Source.X;
    if (op === AluOp.END || op === AluOp.NEG) {
      const dst = this.readReg(idx, insn.dst);
      if (this.isLeak(dst)) throw new Rejection(idx, `R${insn.dst} pointer arithmetic prohibited`);
      this.checkDst(idx, insn.dst);
      if (dst.type !== RegType.SCALAR) {
        this.writeReg(insn.dst, unknownScalar());
        return;
      }
      if (op === AluOp.NEG) this.writeReg(insn.dst, scalarReg(scalarNeg(dst.v, alu32)));
      else {
        const bits = insn.imm as 16 | 32 | 64;
        // ALU64 BPF_END always swaps; the ALU form swaps only to big endian (this is a little-endian target).
        const swaps = !alu32 || opSource(insn.opcode) === Source.X;
        const v = swaps ? scalarBswap(dst.v, bits) : scalarTruncate(dst.v, (bits / 8) as 2 | 4 | 8);
        this.writeReg(insn.dst, scalarReg(v));
      }
      return;
    }
    if (op === AluOp.MOV) {
      this.checkMov(idx, insn, alu32, x);
      return;
    }
    if (op > AluOp.END) throw new Rejection(idx, `invalid BPF_ALU opcode ${(op >> 4).toString(16)}`, 'EINVAL');
    const src = x ? this.readReg(idx, insn.src) : immediateReg(insn.imm);
    const dst = this.readReg(idx, insn.dst);
    if ((op === AluOp.MOD || op === AluOp.DIV) && !x && insn.imm === 0) throw new Rejection(idx, 'div by zero', 'EINVAL');
    if ((op === AluOp.LSH || op === AluOp.RSH || op === AluOp.ARSH) && !x) {
      const size = alu32 ? 32 : 64;
      if (insn.imm < 0 || insn.imm >= size) throw new Rejection(idx, `invalid shift ${insn.imm}`, 'EINVAL');
    }
    this.checkDst(idx, insn.dst);
    this.writeReg(insn.dst, this.aluResult(idx, insn, op, alu32, dst, src));
  }

  private checkMov(idx: number, insn: Instruction, alu32: boolean, x: boolean): void {
    if (!x) {
      this.checkDst(idx, insn.dst);
      this.writeReg(insn.dst, immediateReg(alu32 ? insn.imm >>> 0 : insn.imm));
      return;
    }
    const src = this.readReg(idx, insn.src);
    this.checkDst(idx, insn.dst);
    if (!alu32) {
      if (insn.offset === 1) {
        this.writeReg(insn.dst, addrSpaceCast(idx, insn, this.usesArena));
        return;
      }
      if (insn.offset === 0) {
        if (src.type === RegType.SCALAR) this.linkedMove(insn, src);
        else this.writeReg(insn.dst, copyReg(src));
        return;
      }
      if (this.isLeak(src)) throw new Rejection(idx, `R${insn.src} sign-extension part of pointer`);
      if (src.type !== RegType.SCALAR) {
        this.writeReg(insn.dst, unknownScalar());
        return;
      }
      this.signExtendingMove(insn, src, false);
      return;
    }
    if (this.isLeak(src)) throw new Rejection(idx, `R${insn.src} partial copy of pointer`);
    if (src.type !== RegType.SCALAR) {
      this.writeReg(insn.dst, scalarReg(scalarZext32(SCALAR_UNKNOWN)));
      return;
    }
    if (insn.offset === 0 && src.v.umaxH === 0) {
      // A value that fits in 32 bits is unchanged by the move: both registers are linked, as by a 64-bit move, so
      // that a check on the subregister bounds the other (the kernel's get_reg_width() <= 32 case).
      this.linkedMove(insn, src);
      return;
    }
    if (insn.offset !== 0) {
      this.signExtendingMove(insn, src, true);
      return;
    }
    this.writeReg(insn.dst, scalarReg(scalarZext32(src.v)));
  }

  /** rX = rY of a scalar: the copy shares rY's id. */
  private linkedMove(insn: Instruction, src: Reg): void {
    this.writeReg(insn.dst, copyReg(this.linkSource(insn.src, src)));
  }

  /**
   * rX = (s8/s16/s32)rY, wX = (s8/s16)wY: a value the sign extension leaves unchanged (below 2^(bits-1)) stays linked
   * to its source, as by a plain move; any other gets no id.
   */
  private signExtendingMove(insn: Instruction, src: Reg, alu32: boolean): void {
    const bits = insn.offset as 8 | 16 | 32;
    const unchanged = scalarUmaxBits(src.v) < bits;
    const from = unchanged ? this.linkSource(insn.src, src) : src;
    const moved = withValue(from, scalarMovSx(src.v, bits, alu32));
    this.writeReg(insn.dst, unchanged ? moved : withoutLink(moved));
  }

  /**
   * assign_scalar_id_before_mov: scalar register `regno`, about to be copied, loses a delta link (one copy cannot
   * carry two deltas) and gets an id unless it is constant, so that the copy is linked to it. Returns it.
   */
  private linkSource(regno: number, src: Reg): Reg {
    let reg = src;
    if (reg.id & ADD_CONST) reg = withoutLink(reg);
    if (reg.id === 0 && !scalarIsConst(reg.v)) reg = withId(reg, this.newId());
    if (reg !== src) this.regs()[regno] = reg;
    return reg;
  }

  /** adjust_reg_min_max_vals: pointer arithmetic rules, then scalar bounds. */
  private aluResult(idx: number, insn: Instruction, op: number, alu32: boolean, dst: Reg, src: Reg): Reg {
    const x = opSource(insn.opcode) === Source.X;
    const arena = arenaAluResult(dst, x ? src : undefined);
    if (arena !== undefined) return arena;
    if (src.type !== RegType.SCALAR && x) {
      if (dst.type !== RegType.SCALAR) {
        if (op === AluOp.SUB && this.input.privileged) return unknownScalar();
        throw new Rejection(idx, `R${insn.dst} pointer ${ALU_NAMES[op]} pointer prohibited`);
      }
      // scalar += pointer: the scalar's range becomes the pointer's offset.
      this.markPrecise(idx, insn.dst);
      return this.pointerArith(idx, insn, op, alu32, src, dst, false);
    }
    // A BTF-typed argument whose prototype is unknown here may be a plain number: bit operations make a scalar.
    if (baseOf(dst.type) === RegType.PTR_TO_BTF_ID && dst.btfName === undefined && op !== AluOp.ADD && op !== AluOp.SUB) return unknownScalar();
    if (dst.type !== RegType.SCALAR) {
      if (x) this.markPrecise(idx, insn.src);
      return this.pointerArith(idx, insn, op, alu32, dst, src, true);
    }
    let value = dst.v;
    if (op === AluOp.AND || op === AluOp.OR) {
      // maybe_fork_scalars: a [-1, 0] mask is split into its two values, the 0 side re-running this instruction.
      const fork = scalarAluFork(op, dst.v, src.v);
      if (fork !== undefined) {
        const pushed = cloneState(this.cur);
        pushed.frames[pushed.frames.length - 1]!.regs[insn.dst] = scalarReg(fork.pushed);
        this.pushBranch(idx, pushed);
        value = fork.current;
      }
    }
    const result = scalarReg(scalarAlu(op, value, src.v, alu32, insn.offset === 1));
    // rX += rX is no constant delta from rX's copies (the kernel drops the link when source and destination are one register).
    if ((op === AluOp.ADD || op === AluOp.SUB) && dst.id !== 0 && this.input.privileged && !(x && insn.src === insn.dst)) linkWithDelta(result, dst, src, op, alu32);
    return result;
  }

  /** adjust_ptr_min_max_vals. */
  private pointerArith(idx: number, insn: Instruction, op: number, alu32: boolean, ptr: Reg, off: Reg, ptrIsDst: boolean): Reg {
    const dstno = insn.dst;
    const known = scalarIsConst(off.v);
    if (scalarBoundsInverted(off.v)) return unknownScalar();
    if (alu32) {
      if (op === AluOp.SUB && this.input.privileged) return unknownScalar();
      throw new Rejection(idx, `R${dstno} 32-bit pointer arithmetic prohibited`);
    }
    if (mayBeNull(ptr.type)) throw new Rejection(idx, `R${dstno} pointer arithmetic on ${regTypeName(ptr.type)} prohibited, null-check it first`);
    const base = baseOf(ptr.type);
    const allowed =
      base === RegType.PTR_TO_CTX || base === RegType.PTR_TO_MAP_VALUE || base === RegType.PTR_TO_MAP_KEY || base === RegType.PTR_TO_STACK ||
      base === RegType.PTR_TO_PACKET_META || base === RegType.PTR_TO_PACKET || base === RegType.PTR_TO_TP_BUFFER ||
      base === RegType.PTR_TO_BTF_ID || base === RegType.PTR_TO_MEM || base === RegType.PTR_TO_BUF || base === RegType.PTR_TO_FUNC ||
      base === RegType.CONST_PTR_TO_DYNPTR || (base === RegType.PTR_TO_FLOW_KEYS && known) ||
      (base === RegType.CONST_PTR_TO_MAP && known && scalarIsZero(off.v) && op === AluOp.ADD);
    if (!allowed) throw new Rejection(idx, `R${dstno} pointer arithmetic on ${regTypeName(ptr.type)} prohibited`);
    this.checkSaneOffset(idx, off, ptr.type);
    this.checkSaneOffset(idx, ptr, ptr.type);
    let result: Reg;
    if (op === AluOp.ADD) {
      const k = known ? scalarConstSigned(off.v) : 0;
      if (known && Number.isSafeInteger(ptr.off + k) && ptr.off + k === ((ptr.off + k) | 0)) {
        result = copyReg(ptr);
        result.off = ptr.off + k;
      } else {
        result = withValue(ptr, scalarAlu(AluOp.ADD, ptr.v, off.v, false));
        if (isPacketPointer(base)) {
          result.id = this.newId();
          result.range = 0;
        }
      }
    } else if (op === AluOp.SUB) {
      if (!ptrIsDst) throw new Rejection(idx, `R${dstno} tried to subtract pointer from scalar`);
      if (base === RegType.PTR_TO_STACK) throw new Rejection(idx, `R${dstno} subtraction from stack pointer prohibited`);
      const k = known ? scalarConstSigned(off.v) : 0;
      if (known && ptr.off - k === ((ptr.off - k) | 0)) {
        result = copyReg(ptr);
        result.off = ptr.off - k;
      } else {
        result = withValue(ptr, scalarAlu(AluOp.SUB, ptr.v, off.v, false));
        if (isPacketPointer(base)) {
          result.id = this.newId();
          result.range = scalarSmin(off.v) < 0 ? 0 : ptr.range;
        }
      }
    } else if (op === AluOp.AND || op === AluOp.OR || op === AluOp.XOR) {
      throw new Rejection(idx, `R${dstno} bitwise operator ${ALU_NAMES[op]} on pointer prohibited`);
    } else {
      throw new Rejection(idx, `R${dstno} pointer arithmetic with ${ALU_NAMES[op]} operator prohibited`);
    }
    this.checkSaneOffset(idx, result, ptr.type);
    if (!this.input.privileged) this.sanitizeCheckBounds(idx, dstno, result);
    return result;
  }

  /**
   * sanitize_check_bounds: without bypass_spec_v1 (unprivileged), pointer arithmetic must leave a stack pointer at a
   * constant offset inside the stack and a map value pointer inside the value, so that later accesses can be masked.
   */
  private sanitizeCheckBounds(idx: number, regno: number, r: Reg): void {
    const base = baseOf(r.type);
    if (base === RegType.PTR_TO_STACK) {
      const off = (r.off + scalarKnownLow32(r.v)) | 0;
      if (!scalarIsConst(r.v)) throw new Rejection(idx, `R${regno} variable stack access prohibited for !root, var_off=${scalarVarOffString(r.v)} off=${off}`);
      if (off >= 0 || off < -MAX_BPF_STACK) throw new Rejection(idx, `R${regno} stack pointer arithmetic goes out of range, prohibited for pointer arithmetic`);
    } else if (base === RegType.PTR_TO_MAP_VALUE) {
      try {
        this.checkMemRegion(idx, regno, r, r.off, 1, r.map!.spec.valueSize, false, 'value');
      } catch (e) {
        if (!(e instanceof Rejection)) throw e;
        throw new Rejection(idx, `${e.message}\nR${regno} pointer arithmetic of map value goes out of range, prohibited for !root`);
      }
    }
  }

  /** check_reg_sane_offset. */
  private checkSaneOffset(idx: number, r: Reg, type: number): void {
    if (scalarIsConst(r.v)) {
      const val = scalarConstSigned(r.v);
      if (val >= BPF_MAX_VAR_OFF || val <= -BPF_MAX_VAR_OFF) throw new Rejection(idx, `math between ${regTypeName(type)} pointer and ${BigInt.asIntN(64, scalarConstValue(r.v)!)} is not allowed`);
    }
    // A pointer's fixed offset; a scalar's off is its linked-register delta, no offset (Linux 6.18 ignores it here).
    if (r.type !== RegType.SCALAR && (r.off >= BPF_MAX_VAR_OFF || r.off <= -BPF_MAX_VAR_OFF)) throw new Rejection(idx, `${regTypeName(type)} pointer offset ${r.off} is not allowed`);
    if (scalarSminUnbounded(r.v)) throw new Rejection(idx, `math between ${regTypeName(type)} pointer and register with unbounded min value is not allowed`);
    const smin = scalarSmin(r.v);
    if (smin >= BPF_MAX_VAR_OFF || smin <= -BPF_MAX_VAR_OFF) throw new Rejection(idx, `value ${scalarSminExact(r.v)} makes ${regTypeName(type)} pointer be out of bounds`);
  }

  // ---- loads and stores -------------------------------------------------------

  private checkLoad(idx: number, insn: Instruction): void {
    const srcType = this.readReg(idx, insn.src).type;
    this.checkDst(idx, insn.dst);
    const sx = opMode(insn.opcode) === Mode.MEMSX;
    const value = this.memAccess(idx, insn.src, insn.offset, sizeBytes(opSize(insn.opcode)), false, undefined, sx);
    this.writeReg(insn.dst, value!);
    this.saveAccessPtrType(idx, srcType, true);
  }

  /**
   * save_aux_ptr_type: the kernel rewrites a context or socket access for
   * the pointer type it was verified with, so one instruction may not take
   * such a pointer on one path and another pointer on another. Loads
   * through kernel memory of differing trust fall back to the weakest.
   */
  private saveAccessPtrType(idx: number, type: number, allowTrustMismatch: boolean): void {
    const prev = this.accessPtrType[idx]!;
    if (prev === RegType.NOT_INIT) {
      this.accessPtrType[idx] = type;
      return;
    }
    if (type === prev || (typeMismatchOk(type) && typeMismatchOk(prev))) return;
    if (allowTrustMismatch && isMemOrBtfId(type) && isMemOrBtfId(prev)) {
      let merged: number = baseOf(type) === RegType.PTR_TO_MEM || baseOf(prev) === RegType.PTR_TO_MEM ? RegType.PTR_TO_MEM : RegType.PTR_TO_BTF_ID;
      merged |= (type | prev) & (TypeFlag.PTR_UNTRUSTED | TypeFlag.MEM_RDONLY);
      this.accessPtrType[idx] = merged;
      return;
    }
    throw new Rejection(idx, 'same insn cannot be used with different pointers', 'EINVAL');
  }

  private checkStore(idx: number, insn: Instruction, fromReg: boolean): void {
    let value: Reg;
    if (fromReg) {
      if (opMode(insn.opcode) !== Mode.MEM || insn.imm !== 0) throw new Rejection(idx, 'BPF_STX uses reserved fields', 'EINVAL');
      value = this.readReg(idx, insn.src);
    } else {
      value = immediateReg(insn.imm);
    }
    const dstType = this.readReg(idx, insn.dst).type;
    this.memAccess(idx, insn.dst, insn.offset, sizeBytes(opSize(insn.opcode)), true, { reg: value, regno: fromReg ? insn.src : -1, isImm: !fromReg }, false);
    this.saveAccessPtrType(idx, dstType, false);
  }

  private checkAtomic(idx: number, insn: Instruction): void {
    const size = opSize(insn.opcode);
    if (insn.imm === AtomicOp.LOAD_ACQ) {
      const srcType = this.readReg(idx, insn.src).type;
      this.checkDst(idx, insn.dst);
      this.writeReg(insn.dst, this.memAccess(idx, insn.src, insn.offset, sizeBytes(size), false, undefined, false)!);
      this.saveAccessPtrType(idx, srcType, false);
      return;
    }
    if (insn.imm === AtomicOp.STORE_REL) {
      const value = this.readReg(idx, insn.src);
      const dstType = this.readReg(idx, insn.dst).type;
      this.memAccess(idx, insn.dst, insn.offset, sizeBytes(size), true, { reg: value, regno: insn.src, isImm: false }, false);
      this.saveAccessPtrType(idx, dstType, false);
      return;
    }
    if (size !== Size.W && size !== Size.DW) throw new Rejection(idx, 'invalid atomic operand size', 'EINVAL');
    const src = this.readReg(idx, insn.src);
    const dst = this.readReg(idx, insn.dst);
    if (insn.imm === AtomicOp.CMPXCHG) this.readReg(idx, 0);
    if (isPointer(src) && this.isLeak(src)) throw new Rejection(idx, `R${insn.src} leaks addr into mem`);
    const base = baseOf(dst.type);
    if (base === RegType.PTR_TO_CTX || isPacketPointer(base) || base === RegType.PTR_TO_FLOW_KEYS || base === RegType.PTR_TO_SOCKET || base === RegType.PTR_TO_SOCK_COMMON || base === RegType.PTR_TO_TCP_SOCK || base === RegType.PTR_TO_XDP_SOCK) {
      throw new Rejection(idx, `BPF_ATOMIC stores into R${insn.dst} ${regTypeName(dst.type)} is not allowed`);
    }
    const bytes = sizeBytes(size);
    const fetch = (insn.imm & AtomicOp.FETCH) !== 0;
    const loaded = this.memAccess(idx, insn.dst, insn.offset, bytes, false, undefined, false, true);
    this.memAccess(idx, insn.dst, insn.offset, bytes, true, { reg: unknownScalar(), regno: -1, isImm: false }, false, true);
    if (insn.imm === AtomicOp.CMPXCHG) this.writeReg(0, loaded ?? unknownScalar());
    else if (fetch) {
      this.checkDst(idx, insn.src);
      this.writeReg(insn.src, loaded ?? unknownScalar());
    }
  }

  /**
   * check_mem_access: a load (returns the loaded register) or a store of
   * `size` bytes at `reg + off`, by the region the register points to.
   */
  private memAccess(
    idx: number,
    regno: number,
    insnOff: number,
    size: number,
    write: boolean,
    store: { reg: Reg; regno: number; isImm: boolean } | undefined,
    sx: boolean,
    strictOnce = false,
  ): Reg | undefined {
    const reg = this.regs()[regno]!;
    this.checkAlignment(idx, reg, insnOff, size, strictOnce);
    const off = insnOff + reg.off;
    const base = baseOf(reg.type);
    const t = reg.type;
    let loaded: Reg | undefined = write ? undefined : unknownScalar();
    if (t === RegType.PTR_TO_MAP_KEY) {
      if (write) throw new Rejection(idx, `write to change key R${regno} not allowed`);
      this.checkMemRegion(idx, regno, reg, off, size, reg.map!.spec.keySize, false, 'key');
    } else if (t === RegType.PTR_TO_MAP_VALUE) {
      this.checkStoreLeak(idx, store, 'map');
      this.checkMapAccessType(idx, reg, off, size, write);
      this.checkMemRegion(idx, regno, reg, off, size, reg.map!.spec.valueSize, false, 'value');
      this.checkSpecialFields(idx, reg, off, size);
      if (!write && scalarIsConst(reg.v)) {
        const constant = readOnlyMapValue(reg.map!, off + scalarConstUnsigned(reg.v), size, sx);
        if (constant !== undefined) loaded = knownScalar(constant);
      }
    } else if (base === RegType.PTR_TO_MEM) {
      if (mayBeNull(t)) throw new Rejection(idx, `R${regno} invalid mem access '${regTypeName(t)}'`);
      if (write && t & TypeFlag.MEM_RDONLY) throw new Rejection(idx, `R${regno} cannot write into ${regTypeName(t)}`);
      this.checkStoreLeak(idx, store, 'mem');
      this.checkMemRegion(idx, regno, reg, off, size, reg.memSize, false, 'mem');
    } else if (t === RegType.PTR_TO_CTX) {
      this.checkStoreLeak(idx, store, 'ctx');
      checkPtrOffReg(idx, regno, reg, false);
      const spec = this.progSpec;
      if (spec?.access === undefined) this.needsRuntimeChecks = true;
      // Sign-extending loads from the context are refused (the is_valid_access callbacks reject is_ldsx).
      const result = spec && !sx ? (this.tracingArgAccess(off, size, write) ?? contextAccess(spec, off, size, write, this.input.expectedAttachType)) : { ok: false, regType: RegType.SCALAR };
      if (!result.ok) {
        this.log.sourceLine(idx);
        throw new Rejection(idx, `invalid bpf_context access off=${off} size=${size}`);
      }
      if (!write && result.regType !== RegType.SCALAR) {
        loaded = pointerReg(result.regType, { btfName: result.btfName });
        const object = (result as { object?: BtfObject }).object;
        if (object) loaded = this.btfObjectReg(object, RegType.PTR_TO_BTF_ID | TypeFlag.PTR_TRUSTED | (object.trust === 'trusted_or_null' ? MAYBE_NULL : 0));
        if (mayBeNull(result.regType)) loaded.id = this.newId();
      }
    } else if (t === RegType.PTR_TO_STACK) {
      return this.stackAccess(idx, regno, reg, off, size, write, store, sx);
    } else if (isPacketPointer(t)) {
      if (write && !this.mayAccessPacket(true)) throw new Rejection(idx, 'cannot write into packet');
      this.checkStoreLeak(idx, store, 'packet');
      this.checkPacketAccess(idx, regno, reg, off, size, false);
    } else if (t === RegType.PTR_TO_FLOW_KEYS) {
      this.checkStoreLeak(idx, store, 'flow keys');
      this.needsRuntimeChecks = true;
      if (off < 0 || off + size > 56) throw new Rejection(idx, `invalid access to flow keys off=${off} size=${size}`);
    } else if (t === RegType.PTR_TO_SOCKET || t === RegType.PTR_TO_SOCK_COMMON || t === RegType.PTR_TO_TCP_SOCK || t === RegType.PTR_TO_XDP_SOCK) {
      this.needsRuntimeChecks = true;
      if (write) throw new Rejection(idx, `R${regno} cannot write into ${regTypeName(t)}`);
      if (!scalarIsZero(reg.v)) throw new Rejection(idx, `R${regno} invalid variable offset: off=${reg.off}, var_off=${scalarVarOffString(reg.v)}`);
      if (!socketAccessOk(t, off, size)) throw new Rejection(idx, `R${regno} invalid ${regTypeName(t)} access off=${off} size=${size}`);
    } else if (t === RegType.PTR_TO_TP_BUFFER) {
      this.needsRuntimeChecks = true;
      if (off < 0) throw new Rejection(idx, `R${regno} invalid tracepoint buffer access: off=${off}, size=${size}`);
      if (!scalarIsZero(reg.v)) throw new Rejection(idx, `R${regno} invalid variable buffer offset: off=${off}, var_off=${scalarVarOffString(reg.v)}`);
    } else if (base === RegType.PTR_TO_BTF_ID && !mayBeNull(t)) {
      this.needsRuntimeChecks = true;
      if (write) throw new Rejection(idx, `only read is supported`);
      loaded = this.btfStructLoad(idx, regno, reg, off, size) ?? loaded;
    } else if (t === RegType.CONST_PTR_TO_MAP) {
      // check_ptr_to_map_access: the map's kernel struct is readable only, and not before its start.
      const struct = mapStructName(reg.map!.spec.type);
      if (off < 0) throw new Rejection(idx, `R${regno} is ${struct} invalid negative access: off=${off}`);
      if (write) throw new Rejection(idx, `only read from ${struct} is supported`);
    } else if (base === RegType.PTR_TO_BUF && !mayBeNull(t)) {
      this.needsRuntimeChecks = true;
      if (write && t & TypeFlag.MEM_RDONLY) throw new Rejection(idx, `R${regno} cannot write into ${regTypeName(t)}`);
    } else if (t === RegType.PTR_TO_ARENA) {
      this.needsRuntimeChecks = true;
      // arena memory is checked at run time by the kernel's fault handler
    } else {
      throw new Rejection(idx, `R${regno} invalid mem access '${regTypeName(t)}'`);
    }
    if (loaded && loaded.type === RegType.SCALAR && size < 8) {
      loaded = scalarReg(sx ? scalarSignExtend(loaded.v, size as 1 | 2 | 4) : scalarTruncate(loaded.v, size as 1 | 2 | 4));
    }
    return loaded;
  }

  private checkStoreLeak(idx: number, store: { reg: Reg; regno: number } | undefined, where: string): void {
    if (store && store.regno >= 0 && this.isLeak(store.reg)) throw new Rejection(idx, `R${store.regno} leaks addr into ${where}`);
  }

  private mayAccessPacket(write: boolean): boolean {
    switch (this.input.programType) {
      case ProgramType.LWT_IN:
      case ProgramType.LWT_OUT:
      case ProgramType.LWT_SEG6LOCAL:
      case ProgramType.SK_REUSEPORT:
      case ProgramType.FLOW_DISSECTOR:
      case ProgramType.CGROUP_SKB:
        return !write;
      case ProgramType.SCHED_CLS:
      case ProgramType.SCHED_ACT:
      case ProgramType.XDP:
      case ProgramType.LWT_XMIT:
      case ProgramType.SK_SKB:
      case ProgramType.SK_MSG:
      case ProgramType.CGROUP_SOCKOPT:
        return true;
      default:
        return false;
    }
  }

  /**
   * check_ptr_alignment: on x86 (no strict alignment) only stack accesses
   * must be aligned to their size; packet, map and ctx accesses may not be.
   */
  private checkAlignment(idx: number, reg: Reg, off: number, size: number, strictOnce: boolean): void {
    const strict = this.input.strictAlignment || strictOnce;
    if (size === 1) return;
    const base = baseOf(reg.type);
    if (isPacketPointer(base)) {
      if (!strict) return;
      // NET_IP_ALIGN: the IP header sits 2 bytes into the buffer.
      if (!scalarIsAligned(reg.v, 2 + reg.off + off, size)) {
        throw new Rejection(idx, `misaligned packet access off 2+${scalarVarOffString(reg.v)}+${reg.off}+${off} size ${size}`);
      }
      return;
    }
    const desc = ALIGNMENT_DESC[base];
    if (desc === undefined || base === RegType.PTR_TO_ARENA) return;
    if (!strict && base !== RegType.PTR_TO_STACK) return;
    // A pointer with no variable part (the usual fp-N) is aligned when its fixed offset is.
    const fixedOnly = scalarIsZero(reg.v);
    if (fixedOnly ? ((reg.off + off) & (size - 1)) !== 0 : !scalarIsAligned(reg.v, reg.off + off, size)) {
      throw new Rejection(idx, `misaligned ${desc}access off ${scalarVarOffString(reg.v)}+${reg.off}+${off} size ${size}`);
    }
  }

  /** check_map_access: locks, timers and other kernel-managed fields are not plain memory. */
  private checkSpecialFields(idx: number, reg: Reg, off: number, size: number): void {
    for (const field of reg.map!.fields) {
      if (scalarSmin(reg.v) + off < field.offset + field.size && field.offset < scalarUmax(reg.v) + off + size) {
        throw new Rejection(idx, `${field.kind} cannot be accessed directly by load/store`);
      }
    }
  }

  /** process_spin_lock: the map whose value's lock a bpf_spin_lock/unlock argument points to (a fresh negative id for any other lock). */
  private spinLockMap(idx: number, regno: number, reg: Reg): number {
    const map = reg.map;
    if (reg.type !== RegType.PTR_TO_MAP_VALUE || map === undefined) return -this.newId();
    // process_spin_lock: the offset must be constant before the map is asked for its lock.
    if (!scalarIsConst(reg.v)) throw new Rejection(idx, `R${regno} doesn't have constant offset. bpf_spin_lock has to be at the constant offset`, 'EINVAL');
    if (!map.hasBtf) throw new Rejection(idx, `map '${map.name}' has to have BTF in order to use bpf_spin_lock`, 'EINVAL');
    const lock = map.fields.find((f) => f.kind === 'bpf_spin_lock');
    if (lock === undefined) throw new Rejection(idx, `map '${map.name}' has no valid bpf_spin_lock`, 'EINVAL');
    const off = scalarConstUnsigned(reg.v) + reg.off;
    if (off !== lock.offset) throw new Rejection(idx, `off ${off} doesn't point to 'struct bpf_spin_lock' that is at ${lock.offset}`, 'EINVAL');
    return map.uid;
  }

  private checkMapAccessType(idx: number, reg: Reg, off: number, size: number, write: boolean): void {
    const spec = reg.map!.spec;
    if (write && (spec.readOnly || (spec.flags & 0x80) !== 0)) throw new Rejection(idx, `write into map forbidden, value_size=${spec.valueSize} off=${off} size=${size}`);
    if (!write && (spec.flags & 0x100) !== 0) throw new Rejection(idx, `read from map forbidden, value_size=${spec.valueSize} off=${off} size=${size}`);
  }

  /** check_mem_region_access with __check_mem_access's messages. */
  private checkMemRegion(idx: number, regno: number, reg: Reg, off: number, size: number, memSize: number, zeroOk: boolean, what: 'key' | 'value' | 'mem'): void {
    const v = reg.v;
    // Bounds as numbers: exact below 2^53, and beyond that still on the same side of every limit compared here.
    const smin = scalarSmin(v);
    if (smin < 0 && (scalarSminUnbounded(v) || off + smin !== ((off + smin) | 0) || smin + off < 0)) {
      throw new Rejection(idx, `R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
    }
    if (!inMemRegion(smin + off, size, zeroOk, memSize)) {
      const minProblem = memRegionProblem(scalarSminExact(v) + BigInt(off), size, memSize, what);
      throw new Rejection(idx, `${minProblem}\nR${regno} min value is outside of the allowed memory range`);
    }
    const umax = scalarUmax(v);
    if (umax >= BPF_MAX_VAR_OFF) throw new Rejection(idx, `R${regno} unbounded memory access, make sure to bounds check any such access`);
    if (!inMemRegion(umax + off, size, zeroOk, memSize)) {
      const maxProblem = memRegionProblem(BigInt(umax + off), size, memSize, what);
      throw new Rejection(idx, `${maxProblem}\nR${regno} max value is outside of the allowed memory range`);
    }
  }

  /** check_packet_access. */
  private checkPacketAccess(idx: number, regno: number, reg: Reg, off: number, size: number, zeroOk: boolean): void {
    if (scalarSmin(reg.v) < 0) throw new Rejection(idx, `R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
    const sizeOk = size > 0 || (size === 0 && zeroOk);
    if (reg.range < 0 || !(off >= 0 && sizeOk && off + size <= reg.range)) {
      const detail = `invalid access to packet, off=${off} size=${size}, R${regno}(id=${reg.id},off=${off},r=${reg.range})`;
      throw new Rejection(idx, `${detail}\nR${regno} offset is outside of the packet`);
    }
  }

  // ---- the stack ------------------------------------------------------------------

  private stackFrameOf(reg: Reg): Frame {
    return this.cur.frames[reg.frameno]!;
  }

  /** check_stack_access_within_bounds; returns [min, max) offsets relative to the frame pointer. */
  private stackBounds(idx: number, regno: number, reg: Reg, off: number, size: number, kind: 'read from' | 'write to'): [number, number] {
    let minOff: number;
    let maxOff: number;
    if (scalarIsConst(reg.v)) {
      minOff = scalarConstSigned(reg.v) + off;
      maxOff = minOff + size;
    } else {
      if (scalarSmax(reg.v) >= BPF_MAX_VAR_OFF || scalarSmin(reg.v) <= -BPF_MAX_VAR_OFF) {
        throw new Rejection(idx, `invalid unbounded variable-offset ${kind} stack R${regno}`);
      }
      minOff = scalarSmin(reg.v) + off;
      maxOff = scalarSmax(reg.v) + off + size;
    }
    if (minOff < -MAX_BPF_STACK || minOff > -1 || maxOff > 0 || size < 0) {
      if (scalarIsConst(reg.v)) throw new Rejection(idx, `invalid ${kind} stack R${regno} off=${off} size=${size}`);
      throw new Rejection(idx, `invalid variable-offset ${kind} stack R${regno} var_off=${scalarVarOffString(reg.v)} off=${off} size=${size}`);
    }
    const frame = this.stackFrameOf(reg);
    const sp = frame.subprog;
    const slots = Math.ceil(-minOff / 8);
    this.stackDepth[sp] = Math.max(this.stackDepth[sp]!, slots * 8);
    // Any access in bounds, a read too, allocates the stack down to it (grow_stack_state): pruning compares that extent.
    while (frame.stack.length < slots) frame.stack.push(undefined);
    return [minOff, maxOff];
  }

  private stackAccess(
    idx: number,
    regno: number,
    reg: Reg,
    off: number,
    size: number,
    write: boolean,
    store: { reg: Reg; regno: number; isImm: boolean } | undefined,
    sx: boolean,
  ): Reg | undefined {
    const [minOff, maxOff] = this.stackBounds(idx, regno, reg, off, size, write ? 'write to' : 'read from');
    const frame = this.stackFrameOf(reg);
    if (!scalarIsConst(reg.v)) {
      if (!this.input.privileged) throw new Rejection(idx, `R${regno} variable offset stack access prohibited for !root, var_off=${scalarVarOffString(reg.v)}`);
      this.fastcall?.checkAccess(frame.subprog, idx, minOff);
      if (write) {
        const zero = store?.reg.type === RegType.SCALAR && scalarIsZero(store.reg.v);
        for (let o = minOff; o < maxOff; o++) this.setStackByte(frame, o, zero ? Slot.ZERO : Slot.MISC);
        if (zero && store!.regno >= 0) this.markPrecise(idx, store!.regno);
        return undefined;
      }
      this.stackLiveness.markReadBytes(this.cur, frame.frameno, idx, minOff, maxOff);
      // check_stack_range_initialized for a direct read: data, zeros, uninitialised bytes (root) and spilled registers
      // may be read; an iterator's or dynptr's slots may not.
      for (let o = minOff; o < maxOff; o++) {
        const slot = frame.stack[(-o - 1) >> 3];
        const type = slot?.types[(-o - 1) & 7] ?? Slot.INVALID;
        if (type === Slot.MISC || type === Slot.ZERO || (type === Slot.INVALID && this.input.privileged)) continue;
        if (isSpilled(slot) && (slot!.spilled!.type === RegType.SCALAR || this.input.privileged)) continue;
        throw new Rejection(idx, `invalid read from stack R${regno} var_off ${scalarVarOffString(reg.v)}+${o - minOff} size ${size}`);
      }
      return unknownScalar();
    }
    const start = minOff;
    const spi = (-start - 1) >> 3;
    if (write) {
      this.stackWriteFixed(idx, frame, start, size, store!);
      return undefined;
    }
    return this.stackReadFixed(idx, frame, start, size, spi, sx);
  }

  private setStackByte(frame: Frame, off: number, type: number): void {
    const slotIdx = -off - 1;
    if (frame.stack[slotIdx >> 3]?.object !== undefined) this.destroyStackObject(frame, slotIdx >> 3);
    const slot = stackSlot(frame, slotIdx >> 3, true)!;
    if (slot.types[7] === Slot.SPILL) {
      // Overwriting part of a spilled register turns the rest into plain data.
      for (let j = 0; j < 8; j++) if (slot.types[j] === Slot.SPILL) slot.types[j] = Slot.MISC;
      slot.spilled = undefined;
    }
    slot.types[slotIdx & 7] = type;
    if (this.log.level > 0) this.scratchedSlots.add(slotIdx >> 3);
  }

  /** A store over an iterator's or dynptr's slot (scrub_special_slot, destroy_if_dynptr_stack_slot). */
  private destroyStackObject(frame: Frame, spi: number): void {
    if (frame.stack[spi]!.object!.kind === 'dynptr') destroyDynptrAt(this.cur.prevInsnIdx, frame, spi);
    else scrubIterSlot(stackSlot(frame, spi, true)!);
  }

  /** What iterator and dynptr arguments need: their frame, stack writes of 8 bytes (check_mem_access), new references. */
  private stackObjectContext(idx: number, kind: Reference['kind']): DynptrArgContext {
    return {
      frame: (frameno) => this.cur.frames[frameno]!,
      checkStackWrite: (regno, reg, off) => {
        const [start] = this.stackBounds(idx, regno, reg, reg.off + off, 8, 'write to');
        const frame = this.stackFrameOf(reg);
        this.fastcall?.checkAccess(frame.subprog, idx, start);
        stackSlot(frame, (-start - 1) >> 3, true);
      },
      acquire: () => {
        const id = this.newId();
        this.cur.refs = [...this.cur.refs, { id, insnIdx: idx, kind }];
        return id;
      },
      newId: () => this.newId(),
    };
  }

  /** check_stack_write_fixed_off. */
  private stackWriteFixed(idx: number, frame: Frame, off: number, size: number, store: { reg: Reg; regno: number; isImm: boolean }): void {
    this.fastcall?.checkAccess(frame.subprog, idx, off);
    const slotIdx = -off - 1;
    const spi = slotIdx >> 3;
    const existing = frame.stack[spi];
    if (!this.input.privileged && isSpilled(existing) && existing!.spilled!.type !== RegType.SCALAR && size !== 8) {
      throw new Rejection(idx, 'attempt to corrupt spilled pointer on stack');
    }
    const value = store.reg;
    // Only a write of all 8 bytes ends the slot's liveness (a narrower one leaves bytes a later read may see).
    if (off % 8 === 0 && size === 8) this.stackLiveness.markWrite(frame.frameno, spi);
    if (existing?.object !== undefined) this.destroyStackObject(frame, spi);
    const slot = stackSlot(frame, spi, true)!;
    if (this.log.level > 0) this.scratchedSlots.add(spi);
    const aligned = off % 8 === 0;
    // Only a privileged (bpf_capable) load tracks spilled scalars; otherwise the bytes are plain data or zeros.
    if (aligned && value.type === RegType.SCALAR && (store.regno >= 0 || store.isImm) && this.input.privileged) {
      // save_register_state: the whole register is kept, even for a narrow spill; it stays linked
      // to its source register only when its value fits the bytes stored.
      const fits = regWidth(value) <= size * 8;
      if (store.regno >= 0 && fits) slot.spilled = this.linkSource(store.regno, value);
      else slot.spilled = fits ? value : withoutLink(value);
      for (let j = 0; j < 8; j++) {
        if (j >= 8 - size) slot.types[j] = Slot.SPILL;
        else if (slot.types[j] === Slot.SPILL) slot.types[j] = Slot.MISC;
      }
      if (this.input.privileged) this.pushHistory(idx, stackAccessFlags(frame.frameno, spi), undefined);
      return;
    }
    if (isPointer(value) && store.regno >= 0) {
      if (size !== 8) {
        this.log.sourceLine(idx);
        throw new Rejection(idx, 'invalid size of register spill');
      }
      if (!aligned) throw new Rejection(idx, 'invalid size of register spill');
      if (frame !== this.frame() && value.type === RegType.PTR_TO_STACK) {
        throw new Rejection(idx, 'cannot spill pointers to stack into stack frame of the caller', 'EINVAL');
      }
      slot.spilled = value;
      slot.types.fill(Slot.SPILL);
      if (this.input.privileged) this.pushHistory(idx, stackAccessFlags(frame.frameno, spi), undefined);
      return;
    }
    const zero = value.type === RegType.SCALAR && scalarIsZero(value.v);
    // Zero bytes (STACK_ZERO) are kept only because the register is exactly 0.
    if (zero && store.regno >= 0) this.markPrecise(idx, store.regno);
    if (size === 8) slot.spilled = undefined;
    for (let i = 0; i < size; i++) this.setStackByte(frame, off + i, zero ? Slot.ZERO : Slot.MISC);
  }

  /** A load that gives back a spilled register: backtracking follows its precision into the slot. */
  private recordFill(idx: number, frame: Frame, spi: number): void {
    if (this.input.privileged) this.pushHistory(idx, stackAccessFlags(frame.frameno, spi), undefined);
  }

  /** check_stack_read_fixed_off. */
  private stackReadFixed(idx: number, frame: Frame, off: number, size: number, spi: number, sx: boolean): Reg {
    // check_stack_read_fixed_off checks the contract of the reading frame's subprogram, not the one read from.
    this.fastcall?.checkAccess(this.frame().subprog, idx, off);
    const slot = frame.stack[spi];
    this.stackLiveness.markRead(this.cur, frame.frameno, idx, spi);
    if (this.log.level > 0) this.scratchedSlots.add(spi);
    const slotIdx = -off - 1;
    if (isSpilled(slot)) {
      const spilled = slot!.spilled!;
      let spillSize = 1;
      for (let i = 7; i > 0 && slot!.types[i - 1] === Slot.SPILL; i--) spillSize++;
      if (size !== 8 || spillSize !== 8) {
        if (spilled.type !== RegType.SCALAR) {
          this.log.sourceLine(idx);
          throw new Rejection(idx, 'invalid size of register fill');
        }
        // A narrow fill of the low bytes (little-endian) gives the spilled register back, truncated as
        // the load is; it keeps its link to other copies when its value fits the load.
        const lowBytes = off === -(spi + 1) * 8;
        if (size <= spillSize && lowBytes) {
          this.recordFill(idx, frame, spi);
          // A sign-extending load changes a value with the load's top bit set: only values below it stay the same.
          const unchanged = sx ? regWidth(spilled) < size * 8 : regWidth(spilled) <= size * 8;
          const filled = unchanged ? copyReg(spilled) : withoutLink(spilled);
          if (size !== 8) filled.v = sx ? scalarSignExtend(spilled.v, size as 1 | 2 | 4) : scalarTruncate(spilled.v, size as 1 | 2 | 4);
          return filled;
        }
        let zeros = 0;
        let spills = 0;
        for (let i = 0; i < size; i++) {
          const type = slot!.types[(slotIdx - i) & 7]!;
          if (type === Slot.SPILL) spills++;
          else if (type === Slot.ZERO) zeros++;
          else if (type === Slot.INVALID && !this.input.privileged) throw new Rejection(idx, `invalid read from stack off ${off}+${i} size ${size}`);
        }
        // Bytes of a spilled zero are zero wherever the load starts: a fill of the register (precision follows the slot).
        if (spills === size && scalarIsZero(spilled.v)) {
          this.recordFill(idx, frame, spi);
          return knownScalar(0n);
        }
        if (zeros === size) return knownScalar(0n);
        if (size === 8) return unknownScalar();
        return scalarReg(sx ? scalarSignExtend(SCALAR_UNKNOWN, size as 1 | 2 | 4) : scalarTruncate(SCALAR_UNKNOWN, size as 1 | 2 | 4));
      }
      this.recordFill(idx, frame, spi);
      return spilled;
    }
    let zeros = 0;
    for (let i = 0; i < size; i++) {
      const byte = -(off + i) - 1;
      const s = frame.stack[byte >> 3];
      const type = s?.types[byte & 7] ?? Slot.INVALID;
      if (type === Slot.ZERO) zeros++;
      else if (type === Slot.MISC) continue;
      else if (type === Slot.INVALID && this.input.privileged) continue;
      else throw new Rejection(idx, `invalid read from stack off ${off}+${i} size ${size}`);
    }
    if (zeros === size) return knownScalar(0n);
    const v = size === 8 ? SCALAR_UNKNOWN : sx ? scalarSignExtend(SCALAR_UNKNOWN, size as 1 | 2 | 4) : scalarTruncate(SCALAR_UNKNOWN, size as 1 | 2 | 4);
    return scalarReg(v);
  }

  // ---- lddw and legacy packet loads ----------------------------------------------------

  /**
   * check_map_prog_compatibility, as resolve_pseudo_ldimm64 runs it when the
   * program is loaded: each map an instruction references, in program order,
   * before any instruction is verified.
   */
  private checkMapCompatibility(): void {
    for (let t = 0; t < this.insns.length; t++) {
      const insn = this.insns[t]!;
      if (!isLddw(insn)) continue;
      const referencesMap = insn.src === LdImm64Src.MAP_FD || insn.src === LdImm64Src.MAP_IDX || insn.src === LdImm64Src.MAP_VALUE || insn.src === LdImm64Src.MAP_IDX_VALUE;
      const map = referencesMap ? this.input.mapAt(t, insn) : undefined;
      const problem = map && mapProgramProblem(map.spec.type, map.fields.map((f) => f.kind), this.input.programType, this.input.sleepable);
      if (problem !== undefined) throw new Rejection(t, problem, 'EINVAL');
      t++;
    }
  }

  private checkLdImm64(idx: number, insn: Instruction): void {
    this.checkDst(idx, insn.dst);
    const next = this.insns[idx + 1]!;
    switch (insn.src) {
      case LdImm64Src.IMM64:
        this.writeReg(insn.dst, scalarReg(scalarConstWords(next.imm, insn.imm)));
        return;
      case LdImm64Src.MAP_FD:
      case LdImm64Src.MAP_IDX: {
        const map = this.input.mapAt(idx, insn);
        if (map === undefined) throw new Rejection(idx, `fd ${insn.imm} is not pointing to valid bpf_map`, 'EBADF');
        this.writeReg(insn.dst, pointerReg(RegType.CONST_PTR_TO_MAP, { map }));
        return;
      }
      case LdImm64Src.MAP_VALUE:
      case LdImm64Src.MAP_IDX_VALUE: {
        const map = this.input.mapAt(idx, insn);
        if (map === undefined) throw new Rejection(idx, `fd ${insn.imm} is not pointing to valid bpf_map`, 'EBADF');
        // resolve_pseudo_ldimm64: the offset, then whether the map type has a direct value address (only arrays),
        // then the array's own rule (one element, offset inside the value).
        const offset = next.imm >>> 0;
        if (offset >= BPF_MAX_VAR_OFF) throw new Rejection(idx, `direct value offset of ${offset} is not allowed`, 'EINVAL');
        if (map.spec.type !== MapType.ARRAY) throw new Rejection(idx, 'no direct value access support for this map type', 'EINVAL');
        if (map.spec.maxEntries !== 1 || offset >= map.spec.valueSize) {
          throw new Rejection(idx, `invalid access to map value pointer, value_size=${map.spec.valueSize} off=${offset}`, 'EINVAL');
        }
        this.writeReg(insn.dst, pointerReg(RegType.PTR_TO_MAP_VALUE, { map, off: offset }));
        return;
      }
      case LdImm64Src.FUNC: {
        const target = idx + insn.imm + 1;
        this.writeReg(insn.dst, pointerReg(RegType.PTR_TO_FUNC, { subprog: this.shape.subprogOf[target]! }));
        return;
      }
      case LdImm64Src.BTF_ID:
        this.writeReg(insn.dst, pointerReg(RegType.PTR_TO_MEM | TypeFlag.MEM_RDONLY, { memSize: 8 }));
        return;
      default:
        throw new Rejection(idx, 'invalid bpf_ld_imm64 insn', 'EINVAL');
    }
  }

  /**
   * check_ld_abs: LD_ABS / LD_IND read packet bytes through the skb in r6;
   * r0 gets the value. A failed read ends the program with 0, so inside a
   * subprogram it may also return to the caller at once with r0 = 0.
   */
  private checkLdAbs(idx: number, insn: Instruction): void {
    const t = this.input.programType;
    if (t !== ProgramType.SOCKET_FILTER && t !== ProgramType.SCHED_CLS && t !== ProgramType.SCHED_ACT) {
      throw new Rejection(idx, 'BPF_LD_[ABS|IND] instructions not allowed for this program type', 'EINVAL');
    }
    if (this.cur.frames.some((f) => f.callback)) throw new Rejection(idx, 'cannot use BPF_LD_[ABS|IND] within callback', 'EINVAL');
    const mode = opMode(insn.opcode);
    if (insn.dst !== 0 || insn.offset !== 0 || opSize(insn.opcode) === Size.DW || (mode === Mode.ABS && insn.src !== 0)) {
      throw new Rejection(idx, 'BPF_LD_[ABS|IND] uses reserved fields', 'EINVAL');
    }
    const ctx = this.readReg(idx, 6);
    // gen_ld_abs may end the program at run time: nothing may be held then.
    this.checkResourceLeak(idx, true, 'BPF_LD_[ABS|IND]');
    if (ctx.type !== RegType.PTR_TO_CTX) throw new Rejection(idx, 'at the time of BPF_LD_ABS|IND R6 != pointer to skb', 'EINVAL');
    if (mode === Mode.IND) this.readReg(idx, insn.src);
    checkPtrOffReg(idx, 6, ctx, false);
    for (let r = 1; r <= 5; r++) this.writeReg(r, NOT_INIT_REG);
    // Unknown in all 64 bits, as the kernel's mark_reg_unknown leaves it: not narrowed to the load's width.
    this.writeReg(0, unknownScalar());
    if (this.cur.frames.length > 1) {
      this.pushBranch(idx + 1, cloneState(this.cur));
      this.writeReg(0, knownScalar(0n));
      const frame = this.cur.frames.pop()!;
      const caller = this.frame();
      caller.regs[0] = knownScalar(0n);
      this.cur.insnIdx = frame.callsite + 1;
    }
  }

  // ---- jumps, calls, exits -----------------------------------------------------------------

  private checkJmp(idx: number, insn: Instruction): boolean {
    const op = jmpOp(insn.opcode);
    const cls = opClass(insn.opcode);
    if (op === JmpOp.JA) {
      this.cur.insnIdx = jumpTarget(this.insns, idx);
      return false;
    }
    if (op === JmpOp.EXIT) return this.checkExit(idx);
    if (op === JmpOp.CALL) {
      if (cls !== InsnClass.JMP) throw new Rejection(idx, 'BPF_CALL uses reserved fields', 'EINVAL');
      if (insn.src === CallSrc.LOCAL) {
        this.checkFuncCall(idx, insn);
        return false;
      }
      if (insn.src === CallSrc.KFUNC) {
        this.callKfunc(idx);
        this.cur.insnIdx = idx + 1;
        return false;
      }
      if (opSource(insn.opcode) === Source.X) throw new Rejection(idx, 'BPF_CALL uses reserved fields', 'EINVAL');
      // Set first: a callback-calling helper continues in the callback instead.
      this.cur.insnIdx = idx + 1;
      this.checkHelperCall(idx, insn);
      return false;
    }
    if (op === JmpOp.JCOND) {
      // may_goto: the path that goes on looping (fall-through) is queued one level deeper; this one takes the jump out.
      const queued = cloneState(this.cur);
      queued.mayGotoDepth++;
      const previous = this.previousIteration(idx);
      if (previous !== undefined && this.input.privileged) widenImpreciseScalars(previous, queued, unknownScalar);
      this.pushBranch(idx + 1, queued);
      this.cur.insnIdx = idx + insn.offset + 1;
      return false;
    }
    this.checkCondJmp(idx, insn);
    return false;
  }

  private checkCondJmp(idx: number, insn: Instruction): void {
    const op = jmpOp(insn.opcode);
    const is32 = opClass(insn.opcode) === InsnClass.JMP32;
    const x = opSource(insn.opcode) === Source.X;
    const dst = this.readReg(idx, insn.dst);
    let src: Reg;
    if (x) {
      src = this.readReg(idx, insn.src);
      if (!(isAnyPacket(dst) && isAnyPacket(src)) && this.isLeak(src)) throw new Rejection(idx, `R${insn.src} pointer comparison prohibited`);
    } else {
      src = immediateReg(insn.imm);
    }
    const target = idx + insn.offset + 1;
    const pred = this.isBranchTaken(dst, src, op, is32);
    if (pred !== -1) this.markComparedPrecise(idx, insn, x, dst, src);
    if (pred === 1) {
      this.cur.insnIdx = target;
      return;
    }
    if (pred === 0) {
      this.cur.insnIdx = idx + 1;
      return;
    }
    // The registers this branch refines together (collect_linked_regs), recorded for backtracking. Collected for the
    // source, then for the destination, even when they share an id (the kernel's list then holds them twice).
    let linked: number[] | undefined;
    const srcLinked = x && src.type === RegType.SCALAR && src.id !== 0;
    const dstLinked = dst.type === RegType.SCALAR && dst.id !== 0;
    if (srcLinked || dstLinked) {
      linked = [];
      if (srcLinked) this.linkedRegs(src.id, linked);
      if (dstLinked) this.linkedRegs(dst.id, linked);
      if (linked.length > 1 && this.input.privileged) this.pushHistory(idx, 0, linked);
    }
    const thisRegs = this.regs();
    const scalars = dst.type === RegType.SCALAR && src.type === RegType.SCALAR;
    let taken: { a: Scalar; b: Scalar } | undefined;
    let notTaken: { a: Scalar; b: Scalar } | undefined;
    if (scalars) {
      const same = x && insn.src === insn.dst;
      taken = same ? refineSameRegister(dst.v, op, is32, true) : refineBranch(dst.v, src.v, op, is32, true);
      notTaken = same ? refineSameRegister(dst.v, op, is32, false) : refineBranch(dst.v, src.v, op, is32, false);
      // An impossible side is pruned: it cannot execute.
      if (taken === undefined && notTaken === undefined) throw new Rejection(idx, 'verifier internal error: both branches impossible', 'EFAULT');
      if (taken === undefined || notTaken === undefined) this.markComparedPrecise(idx, insn, x, dst, src);
      if (taken === undefined) {
        this.applyRefinement(thisRegs, this.cur, insn, x, dst, src, notTaken!, linked);
        this.cur.insnIdx = idx + 1;
        return;
      }
      if (notTaken === undefined) {
        this.applyRefinement(thisRegs, this.cur, insn, x, dst, src, taken, linked);
        this.cur.insnIdx = target;
        return;
      }
    }
    const other = cloneState(this.cur);
    const otherRegs = other.frames[other.frames.length - 1]!.regs;
    if (scalars) {
      this.applyRefinement(otherRegs, other, insn, x, dst, src, taken!, linked);
      this.applyRefinement(thisRegs, this.cur, insn, x, dst, src, notTaken!, linked);
    }
    if (!is32 && x && isPointer(src) && isPointer(dst) && baseOf(src.type) !== RegType.PTR_TO_BTF_ID && baseOf(dst.type) !== RegType.PTR_TO_BTF_ID) {
      const eq = op === JmpOp.JEQ ? otherRegs : op === JmpOp.JNE ? thisRegs : undefined;
      if (eq) {
        if (regNotNull(dst) && mayBeNull(src.type)) eq[insn.src] = { ...eq[insn.src]!, type: src.type & ~MAYBE_NULL };
        if (regNotNull(src) && mayBeNull(dst.type)) eq[insn.dst] = { ...eq[insn.dst]!, type: dst.type & ~MAYBE_NULL };
      }
    }
    if (!is32 && !x && insn.imm === 0 && (op === JmpOp.JEQ || op === JmpOp.JNE) && mayBeNull(dst.type)) {
      this.markPtrOrNull(this.cur, dst, op === JmpOp.JNE);
      this.markPtrOrNull(other, dst, op === JmpOp.JEQ);
    } else if (!this.matchPacketPointers(insn, dst, src, this.cur, other) && this.isLeak(dst)) {
      throw new Rejection(idx, `R${insn.dst} pointer comparison prohibited`);
    }
    this.pushBranch(target, other);
    this.cur.insnIdx = idx + 1;
  }

  /** Helper arguments whose exact value the kernel relies on beyond their prototype (check_helper_call). */
  private markHelperConstantsPrecise(idx: number, helper: string, meta: CallMeta): void {
    const regs = this.regs();
    if (helper === 'get_local_storage') this.markPrecise(idx, 2);
    else if (helper === 'loop') {
      if (isNullReg(regs[4]!)) this.markPrecise(idx, 4);
      this.markPrecise(idx, 1);
    } else if (helper === 'tail_call' && meta.map !== undefined) {
      // record_func_key: a constant index below max_entries lets the kernel patch a direct jump.
      const key = regs[3]!;
      if (key.type === RegType.SCALAR && scalarIsConst(key.v) && scalarConstUnsigned(key.v) < meta.map.spec.maxEntries) this.markPrecise(idx, 3);
    }
  }

  /** get_constant_map_key relies on the spilled constant it read: that slot becomes precise. */
  private markConstantKeyPrecise(idx: number, reg: Reg): void {
    if (!this.input.privileged) return;
    const off = scalarConstSigned(reg.v) + reg.off;
    const spi = (-off - 1) >> 3;
    if (isSpilled(this.stackFrameOf(reg).stack[spi])) markSlotPrecision(this.precision, this.cur, idx, reg.frameno, spi, this.backtrack);
  }

  /** A branch decided by the operands' ranges relies on them: both scalars become precise (check_cond_jmp_op). */
  private markComparedPrecise(idx: number, insn: Instruction, x: boolean, dst: Reg, src: Reg): void {
    if (dst.type === RegType.SCALAR) this.markPrecise(idx, insn.dst);
    if (x && src.type === RegType.SCALAR) this.markPrecise(idx, insn.src);
  }

  private applyRefinement(regs: Reg[], state: VerifierState, insn: Instruction, x: boolean, dst: Reg, src: Reg, r: { a: Scalar; b: Scalar }, linked: readonly number[] | undefined): void {
    regs[insn.dst] = withValue(regs[insn.dst]!, r.a);
    if (x) regs[insn.src] = withValue(regs[insn.src]!, r.b);
    if (linked === undefined) return;
    // The registers linked to a compared one learn its new bounds, the source's first (as the kernel orders them).
    if (x && src.id) syncLinkedRegs(state, insn.src, linked);
    if (dst.id) syncLinkedRegs(state, insn.dst, linked);
  }

  private isBranchTaken(dst: Reg, src: Reg, op: number, is32: boolean): 1 | 0 | -1 {
    if (isAnyPacket(dst) && isAnyPacket(src) && !is32) return packetBranchTaken(dst, src, op);
    if (isPointer(dst) || isPointer(src)) {
      if (is32) return -1;
      let a = dst;
      let b = src;
      let o = op;
      if (!(b.type === RegType.SCALAR && scalarIsConst(b.v))) {
        [a, b] = [b, a];
        o = flipOpcode(op);
      }
      if (!(b.type === RegType.SCALAR && scalarIsConst(b.v))) return -1;
      if (!regNotNull(a)) return -1;
      if (!scalarIsZero(b.v)) return -1;
      if (o === JmpOp.JEQ) return 0;
      if (o === JmpOp.JNE) return 1;
      return -1;
    }
    return branchTaken(dst.v, src.v, op, is32);
  }

  /** mark_ptr_or_null_regs: after a null check, every copy of the pointer is either NULL (a scalar 0) or valid. */
  private markPtrOrNull(state: VerifierState, reg: Reg, isNull: boolean): void {
    const id = reg.id;
    const refObjId = reg.refObjId;
    if (refObjId && refObjId === id && isNull) state.refs = state.refs.filter((r) => r.id !== id);
    forEachReg(state, (r) => {
      if (!mayBeNull(r.type) || r.id !== id) return r;
      if (isNull) return knownScalar(0n);
      // A map value holding a spin lock keeps its id: the lock is identified by it (reg_may_point_to_spin_lock).
      const lockable = baseOf(r.type) === RegType.PTR_TO_MAP_VALUE && r.map?.fields.some((f) => f.kind === 'bpf_spin_lock');
      const checked = copyReg(r);
      checked.type = r.type & ~MAYBE_NULL;
      if (!lockable) checked.id = 0;
      return checked;
    });
  }

  /** try_match_pkt_pointers: a comparison against data_end proves a packet range on one side. */
  private matchPacketPointers(insn: Instruction, dst: Reg, src: Reg, thisBranch: VerifierState, otherBranch: VerifierState): boolean {
    if (opSource(insn.opcode) !== Source.X || opClass(insn.opcode) === InsnClass.JMP32) return false;
    const op = jmpOp(insn.opcode);
    const dstIsData = (dst.type === RegType.PTR_TO_PACKET && src.type === RegType.PTR_TO_PACKET_END) || (dst.type === RegType.PTR_TO_PACKET_META && isInitPacket(src));
    const srcIsData = (dst.type === RegType.PTR_TO_PACKET_END && src.type === RegType.PTR_TO_PACKET) || (isInitPacket(dst) && src.type === RegType.PTR_TO_PACKET_META);
    if (!dstIsData && !srcIsData) return false;
    // For `data' OP data_end`: which side proves the range, and whether the bound is open.
    switch (op) {
      case JmpOp.JGT:
        if (dstIsData) {
          findGoodPacketPointers(thisBranch, dst, false);
          markPacketEnd(otherBranch, insn.dst, true);
        } else {
          findGoodPacketPointers(otherBranch, src, true);
          markPacketEnd(thisBranch, insn.src, false);
        }
        return true;
      case JmpOp.JLT:
        if (dstIsData) {
          findGoodPacketPointers(otherBranch, dst, true);
          markPacketEnd(thisBranch, insn.dst, false);
        } else {
          findGoodPacketPointers(thisBranch, src, false);
          markPacketEnd(otherBranch, insn.src, true);
        }
        return true;
      case JmpOp.JGE:
        if (dstIsData) {
          findGoodPacketPointers(thisBranch, dst, true);
          markPacketEnd(otherBranch, insn.dst, false);
        } else {
          findGoodPacketPointers(otherBranch, src, false);
          markPacketEnd(thisBranch, insn.src, true);
        }
        return true;
      case JmpOp.JLE:
        if (dstIsData) {
          findGoodPacketPointers(otherBranch, dst, false);
          markPacketEnd(thisBranch, insn.dst, true);
        } else {
          findGoodPacketPointers(thisBranch, src, true);
          markPacketEnd(otherBranch, insn.src, false);
        }
        return true;
      default:
        return false;
    }
  }

  /** check_func_call: a bpf-to-bpf call gets a new frame with r1-r5 of the caller. */
  private checkFuncCall(idx: number, insn: Instruction): void {
    const global = this.input.globalFunctions?.get(idx + insn.imm + 1);
    if (global !== undefined) return this.callGlobalFunction(idx, idx + insn.imm + 1, global);
    if (this.cur.frames.length >= MAX_CALL_FRAMES) {
      throw new Rejection(idx, `the call stack of ${this.cur.frames.length + 1} frames is too deep`, 'E2BIG');
    }
    if (this.cur.activeLock) throw new Rejection(idx, 'function calls are not allowed while holding a lock');
    const target = idx + insn.imm + 1;
    const callee = newFrame(this.cur.frames.length, idx, this.shape.subprogOf[target]!);
    const caller = this.frame();
    for (let r = 1; r <= 5; r++) callee.regs[r] = caller.regs[r]!;
    this.cur.frames.push(callee);
    this.stackLiveness.resetCallchain();
    if (this.log.level > 0) {
      this.log.write(`caller:${formatFrame(caller, undefined, undefined, this.refIds())}\ncallee:${formatFrame(callee)}\n`);
    }
    for (let r = 1; r <= 5; r++) caller.regs[r] = NOT_INIT_REG;
    this.cur.insnIdx = target;
  }

  // ---- kernel objects through BTF (btf-args.ts) ------------------------------------------------

  /** btf_ctx_access: a tracing program's context load, typed by the target's prototype (undefined: no prototype known). */
  private tracingArgAccess(off: number, size: number, write: boolean): { ok: boolean; regType: number; btfName?: string; object?: BtfObject } | undefined {
    const traced = this.input.tracingContext;
    if (traced === undefined || write) return undefined;
    const arg = traced.args[off / 8];
    if (off % 8 !== 0 || arg === undefined) {
      this.log.write(off % 8 !== 0 ? `func '${traced.func}' offset ${off} is not multiple of 8\n` : `func '${traced.func}' doesn't have ${off / 8 + 1}-th argument\n`);
      return { ok: false, regType: RegType.SCALAR };
    }
    return arg.kind === 'object' && size === 8 ? { ok: true, regType: RegType.PTR_TO_BTF_ID, object: arg } : { ok: true, regType: RegType.SCALAR };
  }

  /** A register pointing to a kernel object, its BTF type tags and NULL-ability as flags. */
  private btfObjectReg(object: BtfObject, type: number): Reg {
    const tags = (object.user ? TypeFlag.MEM_USER : 0) | (object.percpu ? TypeFlag.MEM_PERCPU : 0);
    const r = pointerReg(type | tags, { btfName: object.struct });
    if (mayBeNull(r.type)) r.id = this.newId();
    return r;
  }

  /** check_ptr_to_btf_access for reads: inside the struct, a pointer member gives a pointer whose trust follows the kernel's rules. */
  private btfStructLoad(idx: number, regno: number, reg: Reg, off: number, size: number): Reg | undefined {
    const name = reg.btfName;
    const walk = name !== undefined ? this.input.btfStructAccess?.(name, off, size, (reg.type & TypeFlag.PTR_UNTRUSTED) !== 0) : undefined;
    if (walk === undefined) return undefined;
    if (off < 0) throw new Rejection(idx, `R${regno} is ptr_${name} invalid negative access: off=${off}`);
    if (!scalarIsZero(reg.v)) throw new Rejection(idx, `R${regno} is ptr_${name} invalid variable offset: off=${off}, var_off=${scalarVarOffString(reg.v)}`);
    if (reg.type & TypeFlag.MEM_USER) throw new Rejection(idx, `R${regno} is ptr_${name} access user memory: off=${off}`);
    if (reg.type & TypeFlag.MEM_PERCPU) throw new Rejection(idx, `R${regno} is ptr_${name} access percpu memory: off=${off}`);
    if (walk.kind === 'error') throw new Rejection(idx, walk.message);
    if (walk.kind === 'scalar') return undefined;
    // Trust of the loaded pointer: untrusted from an untrusted parent or outside RCU (sleepable); from a trusted or RCU
    // parent as the kernel lists the field (Linux 6.18 makes unlisted fields untrusted); from a plain parent plain.
    let type: number = RegType.PTR_TO_BTF_ID;
    const trustedParent = (reg.type & (TypeFlag.PTR_TRUSTED | TypeFlag.MEM_RCU)) !== 0 || reg.refObjId !== 0;
    if (reg.type & TypeFlag.PTR_UNTRUSTED) type |= TypeFlag.PTR_UNTRUSTED;
    else if (trustedParent) type |= walk.trust.startsWith('trusted') || !this.input.sleepable ? BTF_TRUST_FLAGS[walk.trust] : TypeFlag.PTR_UNTRUSTED;
    return this.btfObjectReg(walk, type);
  }

  // ---- kfuncs (kfunc.ts) ----------------------------------------------------------------------

  private callKfunc(idx: number): void {
    const { r0, iterNext } = checkKfuncCall(idx, this.input.kfuncAt?.(idx), {
      programType: this.input.programType,
      sleepable: this.input.sleepable,
      activeLock: this.cur.activeLock !== 0,
      regs: this.regs(),
      argOffsetZero: (regno, reg) => {
        if (reg.off !== 0 || !scalarIsZero(reg.v)) throw new Rejection(idx, `R${regno} must have zero offset when passed to release func or trusted arg to kfunc`);
      },
      newId: () => this.newId(),
      acquire: (at) => {
        const id = this.newId();
        this.cur.refs = [...this.cur.refs, { id, insnIdx: at, kind: 'other' }];
        return id;
      },
      release: (id) => this.releaseReference(idx, id),
      iter: { ...this.stackObjectContext(idx, 'other'), sleepable: this.input.sleepable, release: (id) => this.releaseReference(idx, id) },
      dynptr: this.stackObjectContext(idx, 'ringbuf'),
      memAccess: (regno, size) => this.kfuncMemAccess(idx, regno, size),
      mayWritePacket: this.mayAccessPacket(true),
    });
    for (let r = 1; r <= 5; r++) this.writeReg(r, NOT_INIT_REG);
    this.writeReg(0, r0);
    if (iterNext !== undefined) this.processIterNext(idx, iterNext);
  }

  /**
   * check_mem_reg / check_kfunc_mem_size_reg: a kfunc reads and writes
   * memory at R`regno` (NULL-able pointers checked as if not NULL), `size`
   * bytes or R`regno + 1`'s. Stack bytes written become plain data (the
   * write check clobbers them, stackRangeInitialized).
   */
  private kfuncMemAccess(idx: number, regno: number, size: number | undefined): void {
    const regs = this.regs();
    const saved = regs[regno]!;
    const notNull = copyReg(saved);
    notNull.type &= ~MAYBE_NULL;
    regs[regno] = notNull;
    try {
      const meta = new CallMeta();
      if (size === undefined) {
        for (const write of [0, TypeFlag.MEM_WRITE]) this.checkMemSize(idx, regno + 1, regs[regno + 1]!, write, true, meta);
      } else {
        for (const write of [false, true]) this.helperMemAccess(idx, regno, regs[regno]!, size, write, true, undefined);
      }
    } finally {
      regs[regno] = saved;
    }
  }

  /** process_iter_next_call: queue the path where the iterator yields an element, continue with the drained one. */
  private processIterNext(idx: number, iter: IterSlotRef): void {
    const queued = processIterNextCall(
      this.cur,
      iter,
      () => cloneState(this.cur),
      (queued) => {
        const previous = this.previousIteration(idx);
        if (previous !== undefined && this.input.privileged) widenImpreciseScalars(previous, queued, unknownScalar);
      },
      (r0) => ({ ...r0, type: r0.type & ~MAYBE_NULL }),
      knownScalar(0n),
    );
    if (queued !== undefined) this.pushBranch(idx + 1, queued);
  }

  // ---- global functions (global-func.ts) ------------------------------------------------------

  /** A call to a global function: its arguments are checked against its prototype, its result is an unknown scalar. */
  private callGlobalFunction(idx: number, target: number, global: GlobalFunction): void {
    const subprog = this.shape.subprogOf[target]!;
    if (this.cur.activeLock) throw new Rejection(idx, 'global function calls are not allowed while holding a lock,\nuse static function instead', 'EINVAL');
    checkGlobalCall(idx, subprog, global, this.regs(), {
      argOffset: (regno, reg) => this.checkArgOffset(idx, regno, reg, 0),
      memAccess: (regno, reg, size) => {
        this.helperMemAccess(idx, regno, reg, size, false, true, undefined);
        this.helperMemAccess(idx, regno, reg, size, true, true, undefined);
      },
    });
    if (this.log.level > 0) this.log.write(`Func#${subprog} ('${global.name}') is global and assumed valid.\n`);
    if (this.changesPacketData(subprog, new Set())) this.clearPacketPointers();
    this.calledGlobals.add(subprog);
    for (let r = 1; r <= 5; r++) this.writeReg(r, NOT_INIT_REG);
    this.writeReg(0, unknownScalar());
    this.cur.insnIdx = idx + 1;
  }

  /** A subprogram calls, directly or through the functions it calls, a helper that changes packet data. */
  private changesPacketData(subprog: number, seen: Set<number>): boolean {
    if (seen.has(subprog)) return false;
    seen.add(subprog);
    const { start, end } = this.shape.subprogs[subprog]!;
    for (let t = start; t < end; t++) {
      const i = this.insns[t]!;
      if (isPseudoCall(i) && this.changesPacketData(this.shape.subprogOf[t + i.imm + 1]!, seen)) return true;
      if (opClass(i.opcode) === InsnClass.JMP && jmpOp(i.opcode) === JmpOp.CALL && i.src === 0 && CHANGES_PKT_DATA.has(helperById(i.imm)?.name ?? '')) return true;
    }
    return false;
  }

  /** do_check_subprogs: every global function a verified path called, each from its prototype, until no new one is called. */
  private verifyGlobalFunctions(): void {
    if (this.calledGlobals.size === 0) return;
    const verified = new Set<number>();
    for (let next = this.nextGlobal(verified); next !== undefined; next = this.nextGlobal(verified)) {
      const [subprog, global] = next;
      verified.add(subprog);
      if (this.log.level === 1) this.log.truncate(0);
      this.explored.fill(undefined);
      this.curStates = 0;
      this.path = [];
      const start = this.shape.subprogs[subprog]!.start;
      if (this.log.level > 0) this.log.write(`Validating ${global.name}() func#${subprog}...\n`);
      const frame = newFrame(0, -1, subprog);
      globalEntryRegs(global.args ?? [], () => this.newId()).forEach((r, i) => (frame.regs[i + 1] = r));
      this.cur = { frames: [frame], refs: [], insnIdx: start, prevInsnIdx: -1, parent: undefined, mayGotoDepth: 0, activeLock: 0, activeLockId: 0, firstInsnIdx: start, lastInsnIdx: -1, history: [], loopEntry: undefined, dfsDepth: 0 };
      if (this.log.level > 0) this.log.write(`${start}:${formatFrame(frame)}\n`);
      this.explore();
      if (this.log.level > 0) this.log.write(`Func#${subprog} ('${global.name}') is safe for any args that match its prototype\n`);
    }
  }

  private nextGlobal(verified: Set<number>): [number, GlobalFunction] | undefined {
    for (const subprog of [...this.calledGlobals].sort((a, b) => a - b)) {
      if (!verified.has(subprog)) return [subprog, this.input.globalFunctions!.get(this.shape.subprogs[subprog]!.start)!];
    }
    return undefined;
  }

  /** BPF_EXIT: return to the caller, or finish the path with the kernel's exit checks. */
  private checkExit(idx: number): boolean {
    const insn = this.insns[idx]!;
    if (opSource(insn.opcode) !== Source.K || insn.imm !== 0 || insn.src !== 0 || insn.dst !== 0 || opClass(insn.opcode) === InsnClass.JMP32) {
      throw new Rejection(idx, 'BPF_EXIT uses reserved fields', 'EINVAL');
    }
    const frame = this.frame();
    // A lock may be held across a subprogram's return; the main program must release it.
    // A callback must release a lock it took; the main program's exit is checked below with its references.
    if (this.cur.activeLock && this.cur.frames.length > 1 && frame.callback) throw new Rejection(idx, 'bpf_spin_unlock is missing');
    if (this.cur.frames.length > 1) {
      this.stackLiveness.update(this.cur);
      // prepare_func_exit reads R0 without requiring it: a void subprogram returns NOT_INIT, refused only if the caller reads it.
      const r0 = frame.regs[0]!;
      if (r0.type === RegType.PTR_TO_STACK) throw new Rejection(idx, 'cannot return stack pointer to the caller', 'EINVAL');
      const caller = this.cur.frames[this.cur.frames.length - 2]!;
      if (frame.callback) {
        if (r0.type !== RegType.SCALAR) throw new Rejection(idx, 'R0 not a scalar value');
        this.markPrecise(idx, 0);
        if (scalarSmin(r0.v) < frame.callback.retMin || scalarSmax(r0.v) > frame.callback.retMax) {
          throw new Rejection(idx, invalidScalarMessage(r0.v, frame.callback.retMin, frame.callback.retMax, 'At callback return', 'R0'), 'EINVAL');
        }
        this.cur.frames.pop();
        caller.regs[0] = unknownScalar();
        this.queueNextIteration(frame.callback, frame.callsite, frame.subprog);
      } else {
        this.cur.frames.pop();
        caller.regs[0] = r0;
      }
      if (this.log.level > 0) {
        this.log.write(`returning from callee:\n${formatFrame(frame)}\nto caller at ${frame.callsite + 1}:\n${formatFrame(caller, undefined, undefined, this.refIds())}\n`);
      }
      this.cur.insnIdx = frame.callsite + 1;
      this.printFromState = false;
      return false;
    }
    this.checkResourceLeak(idx, true, 'BPF_EXIT instruction in main prog');
    this.checkReturnCode(idx);
    return true;
  }

  /** check_resource_leak: no lock held (when `checkLock`), and every acquired reference released, before `what`. */
  private checkResourceLeak(idx: number, checkLock: boolean, what: string): void {
    if (checkLock && this.cur.activeLock) throw new Rejection(idx, `${what} cannot be used inside bpf_spin_lock-ed region`, 'EINVAL');
    if (this.cur.refs.length === 0) return;
    const lines = this.cur.refs.map((ref) => `Unreleased reference id=${ref.id} alloc_insn=${ref.insnIdx}`);
    throw new Rejection(idx, `${lines.join('\n')}\n${what} would lead to reference leak`, 'EINVAL');
  }

  /** check_return_code for the main program (and for a global function verified on its own). */
  private checkReturnCode(idx: number): void {
    const r0 = this.readReg(idx, 0);
    if (this.isLeak(r0)) throw new Rejection(idx, 'R0 leaks addr as return value');
    if (this.frame().subprog !== 0) {
      if (r0.type !== RegType.SCALAR) throw new Rejection(idx, `At subprogram exit the register R0 is not a scalar value (${regTypeName(r0.type)})`, 'EINVAL');
      return;
    }
    const range = returnRange(this.input.programType, this.input.expectedAttachType);
    if (range === undefined) return;
    if (r0.type !== RegType.SCALAR) throw new Rejection(idx, `At program exit the register R0 is not a known value (${regTypeName(r0.type)})`, 'EINVAL');
    this.markPrecise(idx, 0);
    if (scalarSmin(r0.v) < range[0] || scalarSmax(r0.v) > range[1]) {
      throw new Rejection(idx, invalidScalarMessage(r0.v, range[0], range[1], 'At program exit', 'R0'), 'EINVAL');
    }
  }

  // ---- helper calls ---------------------------------------------------------------------------

  private checkHelperCall(idx: number, insn: Instruction): void {
    const helper = helperById(insn.imm);
    const name = helper ? `bpf_${helper.name}` : 'unknown';
    if (helper === undefined) throw new Rejection(idx, `invalid func ${name}#${insn.imm}`, 'EINVAL');
    const allowed = helperAllowed(this.input.programType, helper.id, this.input.expectedAttachType);
    if (allowed === false) throw new Rejection(idx, `program of this type cannot use helper ${name}#${helper.id}`, 'EINVAL');
    if (!this.input.gplCompatible && helper.gplOnly) throw new Rejection(idx, 'cannot call GPL-restricted function from non-GPL compatible program', 'EINVAL');
    if (!this.input.sleepable && helper.mightSleep) throw new Rejection(idx, 'helper call might sleep in a non-sleepable prog', 'EINVAL');
    // Only the unlock may be called with a lock held (a second bpf_spin_lock included).
    if (this.cur.activeLock && helper.name !== 'spin_unlock') {
      throw new Rejection(idx, 'function calls are not allowed while holding a lock', 'EINVAL');
    }
    const meta = new CallMeta();
    for (let arg = 0; arg < helper.args.length; arg++) this.checkFuncArg(idx, helper, arg, meta);
    // Helper writes to the stack (raw mode) initialise the bytes.
    if (meta.rawMode && meta.rawRegno > 0) {
      const reg = this.regs()[meta.rawRegno]!;
      if (reg.type === RegType.PTR_TO_STACK) {
        const frame = this.stackFrameOf(reg);
        const start = scalarSmin(reg.v) + reg.off;
        const end = scalarSmax(reg.v) + reg.off + meta.accessSize;
        for (let o = start; o < end; o++) this.setStackByte(frame, o, Slot.MISC);
      }
    }
    if (helper.name === 'dynptr_from_mem' && baseOf(this.regs()[1]!.type) !== RegType.PTR_TO_MAP_VALUE) {
      throw new Rejection(idx, `Unsupported reg type ${regTypeName(this.regs()[1]!.type)} for bpf_dynptr_from_mem data`);
    }
    if (meta.releaseRegno) {
      if (meta.dynptr !== undefined) freeDynptr(meta.dynptr, this.cur.frames[meta.dynptr.frameno]!);
      if (meta.refObjId) this.releaseReference(idx, meta.refObjId);
      else if (!isNullReg(this.regs()[meta.releaseRegno]!)) throw new Rejection(idx, `func ${name}#${helper.id} reference has not been acquired before`, 'EINVAL');
    }
    if (helper.name === 'tail_call') {
      this.checkResourceLeak(idx, true, 'tail_call');
    }
    if (helper.name === 'get_local_storage' && !isNullReg(this.regs()[2]!)) throw new Rejection(idx, "get_local_storage() doesn't support non-zero flags", 'EINVAL');
    if (helper.name === 'spin_lock') {
      const reg = this.regs()[1]!;
      this.cur.activeLock = this.spinLockMap(idx, 1, reg);
      this.cur.activeLockId = reg.id;
    } else if (helper.name === 'spin_unlock') {
      if (!this.cur.activeLock) throw new Rejection(idx, 'bpf_spin_unlock without taking a lock', 'EINVAL');
      const reg = this.regs()[1]!;
      if (this.spinLockMap(idx, 1, reg) !== this.cur.activeLock || reg.id !== this.cur.activeLockId) throw new Rejection(idx, 'bpf_spin_unlock of different lock', 'EINVAL');
      this.cur.activeLock = 0;
      this.cur.activeLockId = 0;
    }
    const callback = CALLBACK_HELPERS[helper.name];
    if (helper.name === 'for_each_map_elem' && meta.map !== undefined && !mapHelperCompatible(meta.map.spec.type, helper.name)) {
      throw new Rejection(idx, 'callback function not allowed for map', 'ENOTSUPP');
    }
    const caller = this.frame();
    const callbackArgs = callback && meta.subprog >= 0 ? callback.args(caller, meta) : undefined;
    // bpf_loop calls the callback at most nr_loops times (R1, made precise): the kernel counts iterations up to its umax.
    const maxIterations = helper.name === 'loop' ? scalarUmax(caller.regs[1]!.v) : Infinity;
    this.markHelperConstantsPrecise(idx, helper.name, meta);
    // Caller-saved registers are clobbered.
    for (let r = 0; r <= 5; r++) this.writeReg(r, NOT_INIT_REG);
    this.writeReg(0, this.helperResult(idx, helper, meta, name));
    if (CHANGES_PKT_DATA.has(helper.name)) this.clearPacketPointers();
    const sockMap = meta.map !== undefined && (meta.map.spec.type === MapType.SOCKMAP || meta.map.spec.type === MapType.SOCKHASH);
    if (sockMap && (helper.name === 'map_update_elem' || helper.name === 'map_delete_elem') && !this.mayUpdateSockmap(helper.name)) {
      throw new Rejection(idx, `cannot pass map_type ${meta.map!.spec.type} into func ${name}#${helper.id}`, 'EINVAL');
    }
    if (helper.name !== 'tail_call' && meta.map !== undefined && !mapHelperCompatible(meta.map.spec.type, helper.name)) {
      throw new Rejection(idx, `cannot pass map_type ${meta.map.spec.type} into func ${name}#${helper.id}`, 'EINVAL');
    }
    if (callback && callbackArgs && meta.subprog >= 0) this.enterCallback(idx, meta.subprog, callbackArgs, callback, helper.name, maxIterations);
  }

  /** may_update_sockmap: which program types may change a sockmap or sockhash. */
  private mayUpdateSockmap(helper: string): boolean {
    switch (this.input.programType) {
      case ProgramType.TRACING:
        return this.input.expectedAttachType === AttachType.TRACE_ITER;
      case ProgramType.SOCK_OPS:
        return helper === 'map_delete_elem';
      case ProgramType.SOCKET_FILTER:
      case ProgramType.SCHED_CLS:
      case ProgramType.SCHED_ACT:
      case ProgramType.XDP:
      case ProgramType.SK_REUSEPORT:
      case ProgramType.FLOW_DISSECTOR:
      case ProgramType.SK_LOOKUP:
        return true;
      default:
        return false;
    }
  }

  /** Verifies a synchronous callback: the helper may call it zero or more times before returning. */
  private enterCallback(idx: number, subprog: number, args: Reg[], callback: { retMin: number; retMax: number }, helperName: string, maxIterations: number): void {
    // bpf_loop(0, ...) never calls it: the kernel does not visit the callback from here.
    if (maxIterations < 1) return;
    // setup_func_entry's wording (check_max_stack_depth's ends with ' !').
    if (this.cur.frames.length >= MAX_CALL_FRAMES) throw new Rejection(idx, `the call stack of ${this.cur.frames.length + 1} frames is too deep`, 'E2BIG');
    // The path where the callback is never called continues after the helper.
    const skip = cloneState(this.cur);
    const entry = this.cur.frames.map(cloneFrame);
    this.cur.frames.push(this.callbackFrame(idx, subprog, args, { retMin: callback.retMin, retMax: callback.retMax, helper: helperName, args, entry, iteration: 1, maxIterations }));
    this.pushBranch(idx + 1, skip);
    this.cur.insnIdx = this.shape.subprogs[subprog]!.start;
  }

  private callbackFrame(callsite: number, subprog: number, args: Reg[], info: CallbackInfo): Frame {
    const callee = newFrame(this.cur.frames.length, callsite, subprog);
    args.forEach((r, i) => (callee.regs[i + 1] = r));
    callee.callback = info;
    return callee;
  }

  /**
   * After an iteration of a callback: the helper may call it again with
   * whatever the callback left in the caller's frames. Values that changed
   * since the iteration started are widened to unknown, and iterations go on
   * until one adds nothing (the widened state is within the one before):
   * the callback is then verified for every number of calls.
   */
  private queueNextIteration(info: CallbackInfo, callsite: number, subprog: number): void {
    // bpf_loop's iteration limit reached: no further call.
    if (info.iteration >= info.maxIterations) return;
    // A bpf_loop of a few calls is followed call by call, as the kernel does any; other callbacks are widened to converge.
    const exact = info.maxIterations <= CALLBACK_ITERATIONS_BEFORE_HAVOC;
    const havoc = !exact && info.iteration >= CALLBACK_ITERATIONS_BEFORE_HAVOC;
    const widened = exact ? this.cur.frames : this.cur.frames.map((f, i) => widenFrame(havoc ? undefined : info.entry[i], f, havoc));
    if (framesWithin(info.entry, widened)) return;
    const next = cloneState(this.cur);
    next.frames = widened.map(cloneFrame);
    next.frames.push(this.callbackFrame(callsite, subprog, info.args, { ...info, entry: widened.map(cloneFrame), iteration: info.iteration + 1 }));
    this.pushBranch(this.shape.subprogs[subprog]!.start, next);
  }

  private helperResult(idx: number, helper: HelperSpec, meta: CallMeta, name: string): Reg {
    const ret = helper.ret;
    const flags = ret & ~0xff;
    let r0: Reg;
    switch (baseType(ret)) {
      case ReturnType.INTEGER:
        r0 = unknownScalar();
        if (SIZED_RETURN.has(helper.name)) r0 = scalarReg(sizedReturn(meta.maxSize));
        break;
      case ReturnType.VOID:
        r0 = NOT_INIT_REG;
        break;
      case ReturnType.PTR_TO_MAP_VALUE: {
        if (meta.map === undefined) throw new Rejection(idx, 'kernel subsystem misconfigured verifier', 'EINVAL');
        const inner = meta.map.spec.innerMap;
        if ((meta.map.spec.type === MapType.ARRAY_OF_MAPS || meta.map.spec.type === MapType.HASH_OF_MAPS) && inner) {
          r0 = pointerReg(RegType.CONST_PTR_TO_MAP | (flags & MAYBE_NULL), { map: { name: inner.name, spec: inner, uid: meta.map.uid + 0.5, fields: [], hasBtf: false } });
        } else {
          // An array element at a constant index below max_entries always exists (can_elide_value_nullness).
          const known = helper.name === 'map_lookup_elem' && (meta.map.spec.type === MapType.ARRAY || meta.map.spec.type === MapType.PERCPU_ARRAY) && meta.constKey !== undefined && meta.constKey < BigInt(meta.map.spec.maxEntries);
          r0 = pointerReg(RegType.PTR_TO_MAP_VALUE | (known ? 0 : flags & MAYBE_NULL), { map: meta.map });
          // A value holding a spin lock is told apart by its id, so the lock it holds can be matched at unlock.
          if (!mayBeNull(r0.type) && meta.map.fields.some((f) => f.kind === 'bpf_spin_lock')) r0 = { ...r0, id: this.newId() };
        }
        break;
      }
      case ReturnType.PTR_TO_SOCKET:
        r0 = pointerReg(RegType.PTR_TO_SOCKET | flags);
        break;
      case ReturnType.PTR_TO_SOCK_COMMON:
        r0 = pointerReg(RegType.PTR_TO_SOCK_COMMON | flags);
        break;
      case ReturnType.PTR_TO_TCP_SOCK:
        r0 = pointerReg(RegType.PTR_TO_TCP_SOCK | flags);
        break;
      case ReturnType.PTR_TO_MEM:
        // A dynptr's slice dies with the reservation the dynptr holds.
        r0 = pointerReg(RegType.PTR_TO_MEM | flags, { memSize: meta.memSize, refObjId: meta.dynptr?.dynptr.refObjId ?? 0 });
        break;
      case ReturnType.PTR_TO_BTF_ID:
      case ReturnType.PTR_TO_MEM_OR_BTF_ID:
        r0 = pointerReg(RegType.PTR_TO_BTF_ID | (flags & ~TypeFlag.MEM_RDONLY), { btfName: helper.retBtfType });
        break;
      default:
        throw new Rejection(idx, `unknown return type ${baseType(ret)} of func ${name}#${helper.id}`, 'EINVAL');
    }
    if (mayBeNull(r0.type)) r0 = { ...r0, id: this.newId() };
    const sockMapLookup = helper.name === 'map_lookup_elem' && (meta.map?.spec.type === MapType.SOCKMAP || meta.map?.spec.type === MapType.SOCKHASH);
    if (sockMapLookup) r0 = { ...r0, type: RegType.PTR_TO_SOCKET | MAYBE_NULL, map: undefined };
    if (ACQUIRE_HELPERS.has(helper.name) || sockMapLookup) {
      const id = this.newId();
      this.cur.refs = [...this.cur.refs, { id, insnIdx: idx, kind: helper.name === 'ringbuf_reserve' ? 'ringbuf' : 'socket' }];
      r0 = { ...r0, id, refObjId: id };
    } else if (meta.refObjId && PTR_CAST_HELPERS.has(helper.name)) {
      r0 = { ...r0, refObjId: meta.refObjId };
    }
    return r0;
  }

  private releaseReference(idx: number, id: number): void {
    if (!this.cur.refs.some((r) => r.id === id)) throw new Rejection(idx, `verifier internal error: reference ${id} not found`, 'EFAULT');
    this.cur.refs = this.cur.refs.filter((r) => r.id !== id);
    // mark_reg_invalid: with pointer leaks allowed (root) the copies become unknown scalars.
    forEachReg(this.cur, (r) => (r.refObjId === id ? (this.input.privileged ? unknownScalar() : NOT_INIT_REG) : r));
  }

  private clearPacketPointers(): void {
    forEachReg(this.cur, (r) => (isAnyPacket(r) || isPacketSlice(r) ? (this.input.privileged ? unknownScalar() : NOT_INIT_REG) : r));
  }

  /** check_func_arg for argument `arg` (register arg+1). */
  private checkFuncArg(idx: number, helper: HelperSpec, arg: number, meta: CallMeta): void {
    const regno = arg + 1;
    const spec = helper.args[arg]!;
    let argType = spec.type;
    if (argType === ArgType.DONTCARE) return;
    const reg = this.readReg(idx, regno);
    if (argType === ArgType.ANYTHING) {
      if (this.isLeak(reg)) throw new Rejection(idx, `R${regno} leaks addr into helper function`);
      return;
    }
    if (isAnyPacket(reg) && !(this.mayAccessPacket(false) && helper.pktAccess)) {
      throw new Rejection(idx, 'helper access to the packet is not allowed');
    }
    if (baseType(argType) === ArgType.PTR_TO_MAP_VALUE) argType = resolveMapArgType(idx, argType, meta);
    const base = baseType(argType);
    const nullOk = isNullReg(reg) && (argType & MAYBE_NULL) !== 0;
    // A NULL argument is accepted for being exactly 0.
    if (nullOk) this.markPrecise(idx, regno);
    else {
      this.checkRegType(idx, regno, reg, argType);
      this.checkArgOffset(idx, regno, reg, argType);
      if (base === ArgType.PTR_TO_BTF_ID_SOCK_COMMON && baseOf(reg.type) === RegType.PTR_TO_BTF_ID) this.checkSockCommonStruct(idx, regno, reg, argType);
    }
    if (argType & TypeFlag.OBJ_RELEASE) {
      if (base === ArgType.PTR_TO_DYNPTR) meta.refObjId = dynptrToRelease(idx, regno, reg, (frameno) => this.cur.frames[frameno]!);
      else if (!reg.refObjId && !isNullReg(reg)) throw new Rejection(idx, `R${regno} must be referenced when passed to release function`, 'EINVAL');
      meta.releaseRegno = regno;
    }
    if (reg.refObjId) meta.refObjId = reg.refObjId;
    switch (base) {
      case ArgType.CONST_MAP_PTR:
        meta.map = reg.map;
        break;
      case ArgType.PTR_TO_MAP_KEY:
        if (!meta.map) throw new Rejection(idx, 'invalid map_ptr to access map->key');
        this.helperMemAccess(idx, regno, reg, meta.map.spec.keySize, false, false, undefined);
        meta.constKey = this.constantStackKey(reg, meta.map.spec.keySize);
        if (meta.constKey !== undefined && (meta.map.spec.type === MapType.ARRAY || meta.map.spec.type === MapType.PERCPU_ARRAY)) this.markConstantKeyPrecise(idx, reg);
        break;
      case ArgType.PTR_TO_MAP_VALUE:
        if (nullOk) break;
        if (!meta.map) throw new Rejection(idx, 'invalid map_ptr to access map->value');
        meta.rawMode = (argType & TypeFlag.MEM_UNINIT) !== 0;
        this.helperMemAccess(idx, regno, reg, meta.map.spec.valueSize, (argType & TypeFlag.MEM_WRITE) !== 0, false, meta);
        break;
      case ArgType.PTR_TO_FUNC:
        meta.subprog = reg.subprog;
        break;
      case ArgType.PTR_TO_MEM:
        meta.rawMode = (argType & TypeFlag.MEM_UNINIT) !== 0;
        if (argType & TypeFlag.MEM_FIXED_SIZE && !nullOk) {
          this.helperMemAccess(idx, regno, reg, spec.size ?? 0, (argType & TypeFlag.MEM_WRITE) !== 0, false, meta);
          if (argType & TypeFlag.MEM_ALIGNED) this.checkAlignment(idx, reg, 0, spec.size ?? 0, true);
        }
        break;
      case ArgType.CONST_SIZE:
      case ArgType.CONST_SIZE_OR_ZERO:
        this.checkMemSize(idx, regno, reg, helper.args[arg - 1]!.type, base === ArgType.CONST_SIZE_OR_ZERO, meta);
        break;
      case ArgType.CONST_ALLOC_SIZE_OR_ZERO:
        if (!scalarIsConst(reg.v)) throw new Rejection(idx, `R${regno} is not a known constant'`);
        meta.memSize = scalarConstUnsigned(reg.v);
        this.markPrecise(idx, regno);
        break;
      case ArgType.PTR_TO_CONST_STR:
        this.checkConstString(idx, regno, reg);
        break;
      case ArgType.PTR_TO_DYNPTR:
        meta.dynptr = processDynptrArg(idx, regno, reg, argType, this.stackObjectContext(idx, 'ringbuf'));
        break;
      default:
        break;
    }
  }

  /**
   * get_constant_map_key: a key on the stack that is a spilled constant of
   * exactly the key's size, or all zero bytes.
   */
  private constantStackKey(reg: Reg, keySize: number): bigint | undefined {
    if (reg.type !== RegType.PTR_TO_STACK || !scalarIsConst(reg.v)) return undefined;
    const off = scalarConstSigned(reg.v) + reg.off;
    const frame = this.stackFrameOf(reg);
    const slotIdx = -off - 1;
    const slot = frame.stack[slotIdx >> 3];
    if (slot === undefined) return undefined;
    if (isSpilled(slot) && off % 8 === 0) {
      let spillSize = 1;
      for (let i = 7; i > 0 && slot.types[i - 1] === Slot.SPILL; i--) spillSize++;
      const v = slot.spilled!;
      if (spillSize === keySize && v.type === RegType.SCALAR && scalarIsConst(v.v)) return scalarConstValue(v.v)! & ((1n << BigInt(keySize * 8)) - 1n);
      return undefined;
    }
    for (let i = 0; i < keySize; i++) {
      const byte = slotIdx - i;
      if (byte < 0 || frame.stack[byte >> 3]?.types[byte & 7] !== Slot.ZERO) return undefined;
    }
    return 0n;
  }

  /** check_reg_type: the register must be one of the argument type's compatible register types. */
  private checkRegType(idx: number, regno: number, reg: Reg, argType: number): void {
    const base = baseType(argType);
    const compatible = COMPATIBLE[base];
    if (compatible === undefined) return;
    let type = reg.type;
    if (argType & TypeFlag.MEM_RDONLY) type &= ~TypeFlag.MEM_RDONLY;
    if (argType & MAYBE_NULL) type &= ~MAYBE_NULL;
    if (base === ArgType.PTR_TO_MEM) type &= ~(TypeFlag.DYNPTR_TYPE_SKB | TypeFlag.DYNPTR_TYPE_XDP);
    if (compatible.includes(type)) return;
    throw new Rejection(idx, `R${regno} type=${regTypeName(reg.type)} expected=${compatible.map(regTypeName).join(', ')}`);
  }

  /** check_reg_type's BTF match for a kernel socket pointer: the struct must start with a sock_common. */
  private checkSockCommonStruct(idx: number, regno: number, reg: Reg, argType: number): void {
    if (mayBeNull(reg.type) && !(argType & MAYBE_NULL)) throw new Rejection(idx, `Possibly NULL pointer passed to helper arg${regno}`);
    const struct = reg.btfName ?? '';
    const starts = this.input.structsAtZero?.(struct) ?? [struct];
    if (!starts.includes('sock_common')) throw new Rejection(idx, `R${regno} is of type ${struct} but sock_common is expected`);
  }

  /** check_func_arg_reg_off: most pointer arguments must point at the start of their object. */
  private checkArgOffset(idx: number, regno: number, reg: Reg, argType: number): void {
    const base = baseOf(reg.type);
    if (base === RegType.PTR_TO_STACK || isPacketPointer(base) || base === RegType.PTR_TO_MAP_KEY || base === RegType.PTR_TO_MAP_VALUE || base === RegType.PTR_TO_MEM || base === RegType.PTR_TO_BUF) {
      if (reg.type & TypeFlag.MEM_RINGBUF && argType & TypeFlag.OBJ_RELEASE) {
        if (reg.off !== 0 || !scalarIsZero(reg.v)) {
          throw new Rejection(idx, `R${regno} must have zero offset when passed to release func or trusted arg to kfunc`);
        }
      }
      return;
    }
    if (base === RegType.SCALAR) return;
    checkPtrOffReg(idx, regno, reg, false);
  }

  /** check_mem_size_reg. */
  private checkMemSize(idx: number, regno: number, reg: Reg, memArgType: number, zeroOk: boolean, meta: CallMeta): void {
    const v = reg.v;
    const umax = scalarUmax(v);
    meta.maxSize = umax;
    if (scalarSmin(v) < 0) throw new Rejection(idx, `R${regno} min value is negative, either use unsigned or 'var &= const'`);
    if (scalarUmin(v) === 0 && !zeroOk) throw new Rejection(idx, `R${regno} invalid zero-sized read: u64=[${scalarUminExact(v)},${scalarUmaxExact(v)}]`);
    if (umax >= BPF_MAX_VAR_OFF) throw new Rejection(idx, `R${regno} unbounded memory access, use 'var &= const' or 'if (var < const)'`);
    const memReg = this.regs()[regno - 1]!;
    if (!(zeroOk && umax === 0 && isNullReg(memReg))) this.helperMemAccess(idx, regno - 1, memReg, umax, (memArgType & TypeFlag.MEM_WRITE) !== 0, zeroOk, meta);
    this.markPrecise(idx, regno);
  }

  /** check_helper_mem_access: a helper reads or writes `size` bytes at the register. */
  private helperMemAccess(idx: number, regno: number, reg: Reg, size: number, write: boolean, zeroOk: boolean, meta: CallMeta | undefined): void {
    const base = baseOf(reg.type);
    switch (base) {
      case RegType.PTR_TO_PACKET:
      case RegType.PTR_TO_PACKET_META:
        this.checkPacketAccess(idx, regno, reg, reg.off, size, zeroOk);
        return;
      case RegType.PTR_TO_MAP_KEY:
        if (write) throw new Rejection(idx, `R${regno} cannot write into ${regTypeName(reg.type)}`);
        this.checkMemRegion(idx, regno, reg, reg.off, size, reg.map!.spec.keySize, false, 'key');
        return;
      case RegType.PTR_TO_MAP_VALUE:
        this.checkMapAccessType(idx, reg, reg.off, size, write);
        this.checkMemRegion(idx, regno, reg, reg.off, size, reg.map!.spec.valueSize, zeroOk, 'value');
        this.checkSpecialFields(idx, reg, reg.off, size);
        return;
      case RegType.PTR_TO_MEM:
        if (write && reg.type & TypeFlag.MEM_RDONLY) throw new Rejection(idx, `R${regno} cannot write into ${regTypeName(reg.type)}`);
        this.checkMemRegion(idx, regno, reg, reg.off, size, reg.memSize, zeroOk, 'mem');
        return;
      case RegType.PTR_TO_BUF:
      case RegType.PTR_TO_BTF_ID:
        return;
      case RegType.PTR_TO_STACK:
        this.stackRangeInitialized(idx, regno, reg, size, write || (meta?.rawMode ?? false), zeroOk, meta);
        return;
      case RegType.PTR_TO_CTX:
        if (size === 0) {
          if (zeroOk) return;
          throw new Rejection(idx, `R${regno} type=${regTypeName(reg.type)} expected=fp`);
        }
        this.memAccess(idx, regno, size - 1, 1, write, write ? { reg: unknownScalar(), regno: -1, isImm: false } : undefined, false);
        return;
      default:
        if (zeroOk && size === 0 && isNullReg(reg)) return;
        throw new Rejection(idx, `R${regno} type=${regTypeName(reg.type)} expected=fp`);
    }
  }

  /** check_stack_range_initialized for helper accesses. */
  private stackRangeInitialized(idx: number, regno: number, reg: Reg, size: number, write: boolean, zeroOk: boolean, meta: CallMeta | undefined): void {
    if (size === 0 && !zeroOk) throw new Rejection(idx, 'invalid zero-sized read');
    this.stackBounds(idx, regno, reg, reg.off, size, write ? 'write to' : 'read from');
    let lo: number;
    let hi: number;
    if (scalarIsConst(reg.v)) {
      lo = hi = scalarConstSigned(reg.v) + reg.off;
    } else {
      if (!this.input.privileged) throw new Rejection(idx, `R${regno} variable offset stack access prohibited for !root, var_off=${scalarVarOffString(reg.v)}`);
      lo = scalarSmin(reg.v) + reg.off;
      hi = scalarSmax(reg.v) + reg.off;
    }
    // The helper reads or writes these stack bytes: bpf_fastcall slots among them keep their spills.
    this.fastcall?.checkAccess(this.stackFrameOf(reg).subprog, idx, lo);
    if (meta && meta.rawMode) {
      meta.accessSize = size;
      meta.rawRegno = regno;
      return;
    }
    const frame = this.stackFrameOf(reg);
    this.stackLiveness.markReadBytes(this.cur, frame.frameno, idx, lo, hi + size);
    for (let i = lo; i < hi + size; i++) {
      const byte = -i - 1;
      const slot = frame.stack[byte >> 3];
      const type = slot?.types[byte & 7] ?? Slot.INVALID;
      if (type === Slot.MISC) continue;
      const readable =
        type === Slot.ZERO || (type === Slot.INVALID && this.input.privileged) || (isSpilled(slot) && (slot!.spilled!.type === RegType.SCALAR || this.input.privileged));
      if (readable) {
        // The callee may write anything there: a spilled register or a known zero becomes plain data.
        if (write) this.setStackByte(frame, i, Slot.MISC);
        continue;
      }
      if (scalarIsConst(reg.v)) throw new Rejection(idx, `invalid read from stack R${regno} off ${lo}+${i - lo} size ${size}`);
      throw new Rejection(idx, `invalid read from stack R${regno} var_off ${scalarVarOffString(reg.v)}+${i - lo} size ${size}`);
    }
  }

  /** check_reg_const_str: a format string in a read-only map, NUL-terminated. */
  private checkConstString(idx: number, regno: number, reg: Reg): void {
    const map = reg.map;
    if (reg.type !== RegType.PTR_TO_MAP_VALUE || map === undefined) throw new Rejection(idx, `R${regno} type=${regTypeName(reg.type)} expected=map_value`);
    // bpf_map_is_rdonly: read-only for programs, and frozen (libbpf freezes .rodata once written).
    if (!map.spec.readOnly || !map.spec.frozen) throw new Rejection(idx, `R${regno} does not point to a readonly map'`);
    if (!scalarIsConst(reg.v)) throw new Rejection(idx, `R${regno} is not a constant address'`);
    const off = reg.off + scalarConstUnsigned(reg.v);
    const data = map.spec.initialData;
    if (data === undefined) return;
    if (data.indexOf(0, off) < 0) throw new Rejection(idx, 'string is not zero-terminated');
  }
}

/** Register flags of a pointer read from a trusted parent, by the field's trust (check_ptr_to_btf_access). */
const BTF_TRUST_FLAGS: Readonly<Record<BtfObject['trust'], number>> = {
  untrusted: TypeFlag.PTR_UNTRUSTED,
  trusted: TypeFlag.PTR_TRUSTED,
  trusted_or_null: TypeFlag.PTR_TRUSTED | MAYBE_NULL,
  rcu: TypeFlag.MEM_RCU,
  rcu_or_null: TypeFlag.MEM_RCU | MAYBE_NULL,
};

/** compatible_reg_types, keyed by base argument type. */
const MEM_TYPES = [
  RegType.PTR_TO_STACK,
  RegType.PTR_TO_PACKET,
  RegType.PTR_TO_PACKET_META,
  RegType.PTR_TO_MAP_KEY,
  RegType.PTR_TO_MAP_VALUE,
  RegType.PTR_TO_MEM,
  RegType.PTR_TO_MEM | TypeFlag.MEM_RINGBUF,
  RegType.PTR_TO_BUF,
  RegType.PTR_TO_BTF_ID | TypeFlag.PTR_TRUSTED,
];
const COMPATIBLE: Readonly<Record<number, readonly number[]>> = {
  [ArgType.PTR_TO_MAP_KEY]: MEM_TYPES,
  [ArgType.PTR_TO_MAP_VALUE]: MEM_TYPES,
  [ArgType.CONST_SIZE]: [RegType.SCALAR],
  [ArgType.CONST_SIZE_OR_ZERO]: [RegType.SCALAR],
  [ArgType.CONST_ALLOC_SIZE_OR_ZERO]: [RegType.SCALAR],
  [ArgType.CONST_MAP_PTR]: [RegType.CONST_PTR_TO_MAP],
  [ArgType.PTR_TO_CTX]: [RegType.PTR_TO_CTX],
  [ArgType.PTR_TO_SOCK_COMMON]: [RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_SOCKET, RegType.PTR_TO_TCP_SOCK, RegType.PTR_TO_XDP_SOCK],
  [ArgType.PTR_TO_BTF_ID_SOCK_COMMON]: [RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_SOCKET, RegType.PTR_TO_TCP_SOCK, RegType.PTR_TO_XDP_SOCK, RegType.PTR_TO_BTF_ID, RegType.PTR_TO_BTF_ID | TypeFlag.PTR_TRUSTED],
  [ArgType.PTR_TO_SOCKET]: [RegType.PTR_TO_SOCKET],
  [ArgType.PTR_TO_BTF_ID]: [RegType.PTR_TO_BTF_ID, RegType.PTR_TO_BTF_ID | TypeFlag.PTR_TRUSTED, RegType.PTR_TO_BTF_ID | TypeFlag.MEM_RCU],
  [ArgType.PTR_TO_SPIN_LOCK]: [RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_BTF_ID | TypeFlag.MEM_ALLOC],
  [ArgType.PTR_TO_MEM]: MEM_TYPES,
  [ArgType.PTR_TO_RINGBUF_MEM]: [RegType.PTR_TO_MEM | TypeFlag.MEM_RINGBUF],
  [ArgType.PTR_TO_FUNC]: [RegType.PTR_TO_FUNC],
  [ArgType.PTR_TO_STACK]: [RegType.PTR_TO_STACK],
  [ArgType.PTR_TO_CONST_STR]: [RegType.PTR_TO_MAP_VALUE],
  [ArgType.PTR_TO_TIMER]: [RegType.PTR_TO_MAP_VALUE],
  [ArgType.PTR_TO_DYNPTR]: [RegType.PTR_TO_STACK, RegType.CONST_PTR_TO_DYNPTR],
};

/** resolve_map_arg_type: a sockmap's or sockhash's value is a socket, which only a plain map-value argument may take. */
function resolveMapArgType(idx: number, argType: number, meta: CallMeta): number {
  if (meta.map === undefined) throw new Rejection(idx, 'invalid map_ptr to access map->type');
  const type = meta.map.spec.type;
  if (type !== MapType.SOCKMAP && type !== MapType.SOCKHASH) return argType;
  if (argType !== ArgType.PTR_TO_MAP_VALUE) throw new Rejection(idx, 'invalid arg_type for sockmap/sockhash', 'EINVAL');
  return ArgType.PTR_TO_BTF_ID_SOCK_COMMON;
}

/** reg_type_mismatch_ok: pointer types whose accesses the kernel does not rewrite per type. */
function typeMismatchOk(type: number): boolean {
  switch (baseOf(type)) {
    case RegType.PTR_TO_CTX:
    case RegType.PTR_TO_SOCKET:
    case RegType.PTR_TO_SOCK_COMMON:
    case RegType.PTR_TO_TCP_SOCK:
    case RegType.PTR_TO_XDP_SOCK:
    case RegType.PTR_TO_BTF_ID:
    case RegType.PTR_TO_ARENA:
      return false;
    default:
      return true;
  }
}

const isMemOrBtfId = (type: number): boolean => baseOf(type) === RegType.PTR_TO_MEM || baseOf(type) === RegType.PTR_TO_BTF_ID;

/** check_ptr_alignment's pointer_desc per register type. */
const ALIGNMENT_DESC: Readonly<Record<number, string>> = {
  [RegType.PTR_TO_FLOW_KEYS]: 'flow keys ',
  [RegType.PTR_TO_MAP_KEY]: 'key ',
  [RegType.PTR_TO_MAP_VALUE]: 'value ',
  [RegType.PTR_TO_CTX]: 'context ',
  [RegType.PTR_TO_STACK]: 'stack ',
  [RegType.PTR_TO_SOCKET]: 'sock ',
  [RegType.PTR_TO_SOCK_COMMON]: 'sock_common ',
  [RegType.PTR_TO_TCP_SOCK]: 'tcp_sock ',
  [RegType.PTR_TO_XDP_SOCK]: 'xdp_sock ',
  [RegType.PTR_TO_BTF_ID]: '',
  [RegType.PTR_TO_MEM]: '',
  [RegType.PTR_TO_BUF]: '',
};

/** The kernel struct behind a map pointer, as check_ptr_to_map_access names it. */
/** One step of check_max_stack_depth's walk; recursion has no bottom, so the walk stops at the frame limit, as the kernel's does. */
/** A comparison of a register with itself refines one scalar, seen on both sides. */
function refineSameRegister(v: Scalar, op: number, is32: boolean, taken: boolean): { a: Scalar; b: Scalar } | undefined {
  const r = refineBranchSameRegister(v, op, is32, taken);
  return r === undefined ? undefined : { a: r, b: r };
}

/** __check_mem_access: the message for an access at `o` of `size` bytes outside a `memSize`-byte region, or undefined when inside. */
/** Is [o, o + size) inside a region of memSize bytes? */
const inMemRegion = (o: number, size: number, zeroOk: boolean, memSize: number): boolean => (size > 0 || (size === 0 && zeroOk)) && o >= 0 && o + size <= memSize;

/** __check_mem_access's message for an access at the exact offset o that inMemRegion refused. */
function memRegionProblem(o: bigint, size: number, memSize: number, what: 'key' | 'value' | 'mem'): string {
  const shown = Number(BigInt.asIntN(32, o));
  if (what === 'key') return `invalid access to map key, key_size=${memSize} off=${shown} size=${size}`;
  if (what === 'value') return `invalid access to map value, value_size=${memSize} off=${shown} size=${size}`;
  return `invalid access to memory, mem_size=${memSize} off=${shown} size=${size}`;
}

function checkCallChainStack(subprogs: ProgramShape['subprogs'], callees: Set<number>[], own: number[], sp: number, total: number, frame: number): void {
  const depth = total + own[sp]!;
  if (depth > MAX_BPF_STACK) {
    throw new Rejection(subprogs[sp]!.start, `combined stack size of ${frame + 1} calls is ${depth}. Too large`, 'EACCES');
  }
  for (const c of callees[sp]!) {
    if (frame + 1 >= MAX_CALL_FRAMES) throw new Rejection(subprogs[c]!.start, `the call stack of ${frame + 1} frames is too deep !`, 'E2BIG');
    checkCallChainStack(subprogs, callees, own, c, depth, frame + 1);
  }
}

function mapStructName(type: number): string {
  if (type === MapType.ARRAY || type === MapType.PERCPU_ARRAY || type === MapType.PROG_ARRAY || type === MapType.PERF_EVENT_ARRAY || type === MapType.CGROUP_ARRAY || type === MapType.ARRAY_OF_MAPS) return 'bpf_array';
  if (type === MapType.HASH || type === MapType.PERCPU_HASH || type === MapType.LRU_HASH || type === MapType.LRU_PERCPU_HASH || type === MapType.HASH_OF_MAPS) return 'bpf_htab';
  return 'bpf_map';
}

/** get_reg_width: bits needed for the register's largest unsigned value. */
const regWidth = (r: Reg): number => scalarUmaxBits(r.v);
const isAnyPacket = (r: Reg): boolean => r.type === RegType.PTR_TO_PACKET || r.type === RegType.PTR_TO_PACKET_META || r.type === RegType.PTR_TO_PACKET_END;
const isInitPacket = (r: Reg): boolean => r.type === RegType.PTR_TO_PACKET && r.off === 0 && scalarIsZero(r.v);
/** A slice of an skb or xdp dynptr (reg_is_dynptr_slice_pkt): packet memory, gone when the packet changes. */
const isPacketSlice = (r: Reg): boolean => baseOf(r.type) === RegType.PTR_TO_MEM && (r.type & (TypeFlag.DYNPTR_TYPE_SKB | TypeFlag.DYNPTR_TYPE_XDP)) !== 0;
const isNullReg = (r: Reg): boolean => r.type === RegType.SCALAR && scalarIsZero(r.v);

function regNotNull(r: Reg): boolean {
  if (mayBeNull(r.type)) return false;
  if (scalarSmin(r.v) <= -BPF_MAX_VAR_OFF || scalarSmax(r.v) >= BPF_MAX_VAR_OFF) return false;
  const t = baseOf(r.type);
  return (
    t === RegType.PTR_TO_SOCKET || t === RegType.PTR_TO_TCP_SOCK || t === RegType.PTR_TO_XDP_SOCK || t === RegType.PTR_TO_BUF ||
    t === RegType.PTR_TO_MAP_VALUE || t === RegType.PTR_TO_MAP_KEY || t === RegType.PTR_TO_SOCK_COMMON ||
    (t === RegType.PTR_TO_BTF_ID && (r.type & TypeFlag.PTR_TRUSTED) !== 0) || t === RegType.PTR_TO_MEM || t === RegType.CONST_PTR_TO_MAP
  );
}

function flipOpcode(op: number): number {
  switch (op) {
    case JmpOp.JGT: return JmpOp.JLT;
    case JmpOp.JLT: return JmpOp.JGT;
    case JmpOp.JGE: return JmpOp.JLE;
    case JmpOp.JLE: return JmpOp.JGE;
    case JmpOp.JSGT: return JmpOp.JSLT;
    case JmpOp.JSLT: return JmpOp.JSGT;
    case JmpOp.JSGE: return JmpOp.JSLE;
    case JmpOp.JSLE: return JmpOp.JSGE;
    default: return op;
  }
}

/** is_pkt_ptr_branch_taken: a pointer already known to be at or past data_end decides the comparison. */
function packetBranchTaken(dst: Reg, src: Reg, op: number): 1 | 0 | -1 {
  let pkt: Reg;
  let o = op;
  if (src.type === RegType.PTR_TO_PACKET_END) pkt = dst;
  else if (dst.type === RegType.PTR_TO_PACKET_END) {
    pkt = src;
    o = flipOpcode(op);
  } else return -1;
  if (pkt.range >= 0) return -1;
  switch (o) {
    case JmpOp.JLE:
    case JmpOp.JGT:
      if (pkt.range === BEYOND_PKT_END) return o === JmpOp.JGT ? 1 : 0;
      break;
    case JmpOp.JLT:
    case JmpOp.JGE:
      if (pkt.range === BEYOND_PKT_END || pkt.range === AT_PKT_END) return o === JmpOp.JGE ? 1 : 0;
      break;
  }
  return -1;
}

function findGoodPacketPointers(state: VerifierState, dst: Reg, rangeRightOpen: boolean): void {
  if (dst.off < 0 || (dst.off === 0 && rangeRightOpen)) return;
  if (scalarUmax(dst.v) > MAX_PACKET_OFF || scalarUmax(dst.v) + dst.off > MAX_PACKET_OFF) return;
  const newRange = dst.off + (rangeRightOpen ? 1 : 0);
  forEachReg(state, (r) => (r.type === dst.type && r.id === dst.id ? withRange(r, Math.max(r.range, newRange)) : r));
}

function markPacketEnd(state: VerifierState, regno: number, rangeOpen: boolean): void {
  const regs = state.frames[state.frames.length - 1]!.regs;
  const r = regs[regno]!;
  if (r.type !== RegType.PTR_TO_PACKET) return;
  regs[regno] = withRange(r, rangeOpen ? BEYOND_PKT_END : AT_PKT_END);
}

/** Applies `f` to every register and spilled register of every frame. */
function forEachReg(state: VerifierState, f: (r: Reg) => Reg): void {
  for (const frame of state.frames) {
    for (let i = 0; i <= 10; i++) frame.regs[i] = f(frame.regs[i]!);
    for (let s = 0; s < frame.stack.length; s++) {
      const slot = frame.stack[s];
      if (slot?.spilled && isSpilled(slot)) {
        const updated = f(slot.spilled);
        if (updated !== slot.spilled) frame.stack[s] = { types: updated.type === RegType.NOT_INIT ? slot.types.map(() => Slot.MISC) : slot.types, spilled: updated.type === RegType.NOT_INIT ? undefined : updated, owner: 0 };
      }
    }
  }
}

/**
 * sync_linked_regs: each register and spilled slot of `linked` (history keys) that shares the id of register
 * `knownRegno` of the current frame, just refined by a branch, learns its bounds: as a copy when both carry the
 * same delta, else shifted by the difference of their deltas (zero-extended when either is a 32-bit link).
 */
function syncLinkedRegs(state: VerifierState, knownRegno: number, linked: readonly number[]): void {
  const innermost = state.frames.length - 1;
  const known = state.frames[innermost]!.regs[knownRegno]!;
  const base = linkBaseId(known.id);
  for (const key of linked) {
    const fr = linkedKeyFrame(key);
    const isReg = linkedKeyIsReg(key);
    const index = linkedKeyIndex(key);
    if (isReg && fr === innermost && index === knownRegno) continue;
    const frame = state.frames[fr]!;
    const slot = isReg ? undefined : frame.stack[index];
    const reg = isReg ? frame.regs[index]! : slot?.spilled;
    if (reg === undefined || reg.type !== RegType.SCALAR || linkBaseId(reg.id) !== base) continue;
    // A 32-bit and a 64-bit delta of the same register do not bound each other (one wraps at 2^32, one does not).
    if (((reg.id ^ known.id) & ADD_CONST) === ADD_CONST) continue;
    let synced: Reg;
    if ((!(reg.id & ADD_CONST) && !(known.id & ADD_CONST)) || reg.off === known.off) {
      synced = copyReg(known);
    } else {
      const shifted = scalarAlu(AluOp.ADD, known.v, scalarConstNumber(reg.off - known.off), false, false);
      // Either side being a 32-bit add makes the relation hold on the low 32 bits only.
      synced = withValue(reg, (reg.id | known.id) & ADD_CONST32 ? scalarZext32(shifted) : shifted);
    }
    if (isReg) frame.regs[index] = synced;
    else frame.stack[index] = { types: slot!.types, spilled: synced, owner: 0 };
  }
}

/** Registers holding the immediates 0-256, shared by every use: registers are never changed in place. */
const SMALL_IMMEDIATE_REGS: readonly Reg[] = Array.from({ length: 257 }, (_, i) => scalarReg(scalarConstNumber(i)));

/** A scalar register holding immediate `v`. */
function immediateReg(v: number): Reg {
  return v >= 0 && v <= 256 ? SMALL_IMMEDIATE_REGS[v]! : scalarReg(scalarConstNumber(v));
}

/** Packet pointer `r` with `range` bytes proven (or a data_end marker). */
function withRange(r: Reg, range: number): Reg {
  const copy = copyReg(r);
  copy.range = range;
  return copy;
}

/**
 * A state inside call `old.iteration` of a callback covers one inside call `cur.iteration` only if it is no more calls in
 * (func_states_equal's callback_depth) and has at least as many calls left: bpf_loop's limit is the caller's precise R1
 * in the kernel, which tsbpf's callback frame carries instead.
 */
function callsLeftCover(old: CallbackInfo, cur: CallbackInfo): boolean {
  return old.iteration <= cur.iteration && old.maxIterations - old.iteration >= cur.maxIterations - cur.iteration;
}

/** The kfuncs the kernel inlines as bpf_fastcall calls (is_fastcall_kfunc_call). */
const FASTCALL_KFUNCS = new Set(['bpf_cast_to_kern_ctx', 'bpf_rdonly_cast']);

/**
 * resolve_pseudo_ldimm64's sanity check, before the control flow is looked at: jump encodings the kernel's instruction
 * table lacks (callx, 32-bit calls and exits...) are unknown opcodes to it. The ISA's validator, shared with the VM,
 * words them as reserved fields later.
 */
function checkOpcodeTable(insns: readonly Instruction[]): void {
  for (let t = 0; t < insns.length; t++) {
    const opcode = insns[t]!.opcode;
    if (KERNEL_UNKNOWN_JUMPS[opcode] === 1) throw new Rejection(t, `unknown opcode ${opcode.toString(16).padStart(2, '0')}`, 'EINVAL');
  }
}

/**
 * Jump opcodes absent from the kernel's bpf_opcode_in_insntable: JA, CALL, EXIT and JCOND with a register source,
 * and CALL, EXIT, JCOND in the 32-bit class (0xf0 ones are unknown to the ISA's validator too).
 */
const KERNEL_UNKNOWN_JUMPS = new Uint8Array(256);
for (const opcode of [0x0d, 0x8d, 0x9d, 0xed, 0x0e, 0x86, 0x8e, 0x96, 0x9e, 0xe6, 0xee]) KERNEL_UNKNOWN_JUMPS[opcode] = 1;

/** collect_linked_regs keeps at most this many registers and slots. */
const LINKED_REGS_MAX = 6;

/** `r` linked by scalar or pointer id `id`. */
function withId(r: Reg, id: number): Reg {
  const copy = copyReg(r);
  copy.id = id;
  return copy;
}

/** Scalar `r` linked to no other register. */
function withoutLink(r: Reg): Reg {
  const copy = copyReg(r);
  copy.id = 0;
  copy.off = 0;
  return copy;
}

/**
 * adjust_reg_min_max_vals: `result` of rX += K or rX -= K (K a constant, rX `dst` linked by id) stays linked to
 * rX's copies with delta K: a branch on either then bounds both. Once only: a register already carrying a delta,
 * a K outside s32, or a 32-bit add on a value above 32 bits loses the link instead.
 */
function linkWithDelta(result: Reg, dst: Reg, src: Reg, op: number, alu32: boolean): void {
  if (src.type !== RegType.SCALAR || dst.id & ADD_CONST) return;
  let delta = alu32 ? scalarConstValue32(src.v) : scalarConstS32(src.v);
  if (delta === undefined || (alu32 && scalarUmaxBits(dst.v) > 32)) return;
  delta |= 0;
  if (op === AluOp.SUB) {
    if (delta === -0x8000_0000) return;
    delta = -delta;
  }
  result.id = dst.id | (alu32 ? ADD_CONST32 : ADD_CONST64);
  result.off = delta;
}

/** `r` with the scalar value (or variable offset) `v`. */
function withValue(r: Reg, v: Scalar): Reg {
  const copy = copyReg(r);
  copy.v = v;
  return copy;
}

/** do_refine_retval_range: string and stack helpers return at most the buffer size, or a negative errno. */
function sizedReturn(max: number): Scalar {
  const MAX_ERRNO = 4095;
  return scalarSignedRange(-MAX_ERRNO, max);
}

function invalidScalarMessage(v: Scalar, min: number, max: number, ctx: string, name: string): string {
  let out = `${ctx} the register ${name} has`;
  let unknown = true;
  const smin = scalarSminExact(v);
  const smax = scalarSmaxExact(v);
  if (smin > S64_MIN) {
    out += ` smin=${smin}`;
    unknown = false;
  }
  if (smax < (1n << 63n) - 1n) {
    out += ` smax=${smax}`;
    unknown = false;
  }
  if (unknown) out += ' unknown scalar value';
  return `${out} should have been in [${min}, ${max}]`;
}

/** cgroup_sock_addr attach types whose programs must return 1 (recvmsg, getpeername, getsockname). */
const SOCK_ADDR_RET_ONE = new Set<number>([
  AttachType.CGROUP_UDP4_RECVMSG, AttachType.CGROUP_UDP6_RECVMSG, AttachType.CGROUP_UNIX_RECVMSG,
  AttachType.CGROUP_INET4_GETPEERNAME, AttachType.CGROUP_INET6_GETPEERNAME, AttachType.CGROUP_UNIX_GETPEERNAME,
  AttachType.CGROUP_INET4_GETSOCKNAME, AttachType.CGROUP_INET6_GETSOCKNAME, AttachType.CGROUP_UNIX_GETSOCKNAME,
]);

/** The range check_return_code enforces, or undefined when the kernel accepts any value. */
export function returnRange(programType: number, attachType: number | undefined): readonly [number, number] | undefined {
  switch (programType) {
    case ProgramType.CGROUP_SKB:
      return attachType === 1 /* BPF_CGROUP_INET_EGRESS */ ? [0, 3] : [0, 1];
    case ProgramType.CGROUP_SOCK:
    case ProgramType.SOCK_OPS:
    case ProgramType.CGROUP_DEVICE:
    case ProgramType.CGROUP_SYSCTL:
    case ProgramType.CGROUP_SOCKOPT:
      return [0, 1];
    case ProgramType.CGROUP_SOCK_ADDR:
      if (attachType !== undefined && SOCK_ADDR_RET_ONE.has(attachType)) return [1, 1];
      if (attachType === AttachType.CGROUP_INET4_BIND || attachType === AttachType.CGROUP_INET6_BIND) return [0, 3];
      return [0, 1];
    case ProgramType.SK_LOOKUP:
      return [0, 1];
    case ProgramType.NETFILTER:
      return [0, 1];
    default:
      return undefined;
  }
}

/** The constant a read-only, frozen map holds at `off` (bpf_map_direct_read), when known. */
function readOnlyMapValue(map: VerifierMap, off: number, size: number, sx: boolean): bigint | undefined {
  const spec = map.spec;
  if (!spec.readOnly || !spec.frozen || spec.initialData === undefined) return undefined;
  const data = spec.initialData;
  if (off < 0 || off + size > data.length) return undefined;
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[off + i]!);
  return sx ? BigInt.asIntN(size * 8, v) : v;
}

function regsIdentical(a: Reg, b: Reg): boolean {
  // Copies of a state share the registers neither changed.
  if (a === b) return true;
  return (
    a.type === b.type && a.off === b.off && a.range === b.range && a.map?.uid === b.map?.uid && a.memSize === b.memSize && a.frameno === b.frameno &&
    scalarEquals(a.v, b.v)
  );
}

function slotsIdentical(a: StackSlot | undefined, b: StackSlot | undefined): boolean {
  if (a === b) return true;
  const ta = a?.types ?? [0, 0, 0, 0, 0, 0, 0, 0];
  const tb = b?.types ?? [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 8; i++) if (ta[i] !== tb[i]) return false;
  if (isSpilled(a) !== isSpilled(b)) return false;
  if (a?.object !== undefined || b?.object !== undefined) return stackObjectsEquivalent(a?.object, b?.object, (x, y) => x === y);
  return !isSpilled(a) || regsIdentical(a!.spilled!, b!.spilled!);
}

/** The STACK_ITER and STACK_DYNPTR parts of stacksafe: the same object, references mapped by `idsMatch`. */
function stackObjectsEquivalent(old: StackObject | undefined, cur: StackObject | undefined, idsMatch: (oldId: number, curId: number) => boolean): boolean {
  if (old === undefined || cur === undefined || old.kind !== cur.kind) return old === cur;
  if (old.kind === 'iter' && cur.kind === 'iter') return iterSlotsEquivalent(old, cur, idsMatch);
  if (old.kind === 'dynptr' && cur.kind === 'dynptr') return dynptrSlotsEquivalent(old, cur, idsMatch);
  return false;
}

/** check_ids: a consistent mapping between the ids of the old and the current state (few per state: kept in two parallel lists). */
class IdMap {
  // Grown, never shrunk: reset only forgets the pairs (setting an array's length calls into the runtime).
  private readonly oldIds: number[] = [];
  private readonly curIds: number[] = [];
  private size = 0;
  /** Stand-ins for cur scalars without an id, each unique (negative: never a real id). */
  private tmpId = 0;
  reset(): IdMap {
    this.size = 0;
    this.tmpId = 0;
    return this;
  }
  /**
   * check_scalar_ids: an old scalar without id matches any; a cur scalar without id is unlinked, so it may stand for one
   * old id only; and a delta link maps its base id too, so that `rA + 5` of one old group is `rB + 5` of one cur group.
   */
  checkScalar(oldId: number, curId: number): boolean {
    if (!oldId) return true;
    const cur = curId || --this.tmpId;
    if (!this.check(oldId, cur)) return false;
    return !(oldId & ADD_CONST) || this.check(linkBaseId(oldId), linkBaseId(cur));
  }
  check(oldId: number, curId: number): boolean {
    if (!oldId && !curId) return true;
    if (!oldId || !curId) return false;
    const n = this.size;
    for (let i = 0; i < n; i++) {
      const o = this.oldIds[i] === oldId;
      const c = this.curIds[i] === curId;
      if (o || c) return o && c;
    }
    this.oldIds[n] = oldId;
    this.curIds[n] = curId;
    this.size = n + 1;
    return true;
  }
}

/** get_loop_entry: the outermost loop header `st` is inside of (shortening the chain on the way). */
function getLoopEntry(st: { loopEntry: Checkpoint | undefined }): Checkpoint | undefined {
  let top = st.loopEntry;
  while (top !== undefined && top.loopEntry !== undefined && top !== top.loopEntry) top = top.loopEntry;
  for (let s: { loopEntry: Checkpoint | undefined } | undefined = st; s !== undefined && s.loopEntry !== top; ) {
    const next: Checkpoint | undefined = s.loopEntry;
    s.loopEntry = top;
    s = next;
  }
  return top;
}

/** update_loop_entry: `cur` is inside the loop of `header` when that loop is still being explored above it. */
function updateLoopEntry(cur: { loopEntry: Checkpoint | undefined; dfsDepth: number }, header: Checkpoint): void {
  const cur1 = getLoopEntry(cur) ?? cur;
  const header1 = getLoopEntry(header) ?? header;
  if (header1.branches > 0 && header1.dfsDepth <= cur1.dfsDepth) cur.loopEntry = header;
}

/** One id map reused by every comparison (they do not nest). */
const ID_MAP = new IdMap();

/**
 * regsafe: may `cur` stand in for `old`, which was proven safe from here?
 * Unless `exact`, a scalar of `old` that no path from there needed precise
 * matches any scalar.
 */
function regsafe(old: Reg, cur: Reg, ids: IdMap, exact: boolean): boolean {
  if (old.type === RegType.NOT_INIT) return true;
  // A register both states share holds the same value; only ids need the mapping checked.
  if (old === cur && old.id === 0 && old.refObjId === 0) return true;
  if (cur.type === RegType.NOT_INIT) return false;
  if (old.type === RegType.SCALAR) {
    if (cur.type !== RegType.SCALAR) return false;
    if (!old.precise && !exact) return true;
    // A linked scalar must be linked the same way: no delta, or a delta of the same width and size.
    if (old.id && ((old.id & ADD_CONST) !== (cur.id & ADD_CONST) || (old.id & ADD_CONST && old.off !== cur.off))) return false;
    // Linked scalars must stay linked the same way.
    return ids.checkScalar(old.id, cur.id) && scalarWithin(old.v, cur.v);
  }
  if (old.type !== cur.type) return false;
  const base = baseOf(old.type);
  switch (base) {
    case RegType.PTR_TO_MAP_KEY:
    case RegType.PTR_TO_MAP_VALUE:
    case RegType.CONST_PTR_TO_MAP:
    case RegType.PTR_TO_MEM:
    case RegType.PTR_TO_BUF:
    case RegType.PTR_TO_TP_BUFFER:
      return old.off === cur.off && old.map?.uid === cur.map?.uid && old.memSize === cur.memSize && scalarWithin(old.v, cur.v) && ids.check(old.id, cur.id) && ids.check(old.refObjId, cur.refObjId);
    case RegType.PTR_TO_PACKET_META:
    case RegType.PTR_TO_PACKET:
      if (cur.range < old.range && !(old.range < 0 && old.range === cur.range)) return false;
      if (old.range < 0 && cur.range !== old.range) return false;
      if (old.off !== cur.off) return false;
      if (!ids.check(old.id, cur.id)) return false;
      return scalarWithin(old.v, cur.v);
    case RegType.PTR_TO_STACK:
      return old.frameno === cur.frameno && old.off === cur.off && scalarWithin(old.v, cur.v);
    case RegType.PTR_TO_FUNC:
      return old.subprog === cur.subprog;
    default:
      return old.off === cur.off && old.btfName === cur.btfName && ids.check(old.id, cur.id) && ids.check(old.refObjId, cur.refObjId) && scalarWithin(old.v, cur.v);
  }
}

/** stacksafe: every stack byte the old state relied on holds something at least as good now. */
function stacksafe(old: Frame, cur: Frame, ids: IdMap, exact: boolean, uninitReadable: boolean): boolean {
  for (let spi = 0; spi < old.stack.length; spi++) {
    const o = old.stack[spi];
    if (o === undefined) continue;
    const c = cur.stack[spi];
    // A slot shared by both states holds the same bytes: only a spilled register's ids remain to check.
    if (o === c && !isSpilled(o)) continue;
    // Stack the current state never allocated differs from any the old one relied on (its uninitialised bytes, and
    // where reading them is allowed its data bytes, rely on nothing).
    if (spi * 8 >= allocatedStack(cur) && o.types.some((t) => t !== Slot.INVALID && (t !== Slot.MISC || !uninitReadable))) return false;
    // A 64-bit scalar spill and eight bytes of data (an unknown scalar when loaded) compare as scalars (scalar_reg_for_stack).
    const oldScalar = slotScalar(o, uninitReadable);
    const curScalar = slotScalar(c, uninitReadable);
    if (oldScalar !== undefined && curScalar !== undefined) {
      if (!regsafe(oldScalar, curScalar, ids, exact)) return false;
      continue;
    }
    for (let j = 0; j < 8; j++) {
      const ot = o.types[j]!;
      if (ot === Slot.INVALID) continue;
      const ct = c?.types[j] ?? Slot.INVALID;
      if (ot === Slot.MISC && ct === Slot.ZERO) continue;
      if (ot === Slot.MISC && ct !== Slot.INVALID && ct !== Slot.SPILL) continue;
      if (ot === Slot.MISC && ct === Slot.SPILL && c?.spilled?.type === RegType.SCALAR) continue;
      if (ot !== ct) return false;
    }
    if (isSpilled(o)) {
      if (!isSpilled(c)) return false;
      if (!regsafe(o.spilled!, c!.spilled!, ids, exact)) return false;
    }
    if (o.object !== undefined && !stackObjectsEquivalent(o.object, c?.object, (a, b) => ids.check(a, b))) return false;
  }
  return true;
}

const UNBOUND_SCALAR = scalarReg(SCALAR_UNKNOWN);

/**
 * scalar_reg_for_stack: the scalar a slot holds when it is a full 64-bit
 * scalar spill or data bytes (an unknown scalar when loaded). Unwritten bytes
 * count as data where reading them is allowed (is_stack_all_misc with
 * allow_uninit_stack: privileged programs read them as unknown scalars).
 */
function slotScalar(slot: StackSlot | undefined, uninitReadable: boolean): Reg | undefined {
  if (slot === undefined) return uninitReadable ? UNBOUND_SCALAR : undefined;
  if (slot.types[0] === Slot.SPILL) return slot.spilled?.type === RegType.SCALAR ? slot.spilled : undefined;
  for (let j = 0; j < 8; j++) {
    const t = slot.types[j];
    if (t !== Slot.MISC && (t !== Slot.INVALID || !uninitReadable)) return undefined;
  }
  return UNBOUND_SCALAR;
}

/** A scalar that differs between two iterations becomes unknown (widen_imprecise_scalars); other values stay. */
function widenReg(old: Reg | undefined, cur: Reg): Reg {
  if (old === undefined || old.type !== RegType.SCALAR || cur.type !== RegType.SCALAR) return cur;
  return regsIdentical(old, cur) ? cur : unknownScalar();
}

/** `cur` widened against `old`; with `havoc`, every scalar becomes unknown. */
function widenFrame(old: Frame | undefined, cur: Frame, havoc = false): Frame {
  const out = cloneFrame(cur);
  if (havoc) {
    for (let r = 0; r <= 10; r++) if (out.regs[r]!.type === RegType.SCALAR) out.regs[r] = unknownScalar();
    for (let spi = 0; spi < out.stack.length; spi++) {
      if (out.stack[spi] === undefined) continue;
      const slot = stackSlot(out, spi, true)!;
      if (isSpilled(slot) && slot.spilled?.type === RegType.SCALAR) slot.spilled = unknownScalar();
      for (let j = 0; j < 8; j++) if (slot.types[j] === Slot.ZERO) slot.types[j] = Slot.MISC;
    }
    return out;
  }
  if (old === undefined) return out;
  for (let r = 0; r <= 10; r++) out.regs[r] = widenReg(old.regs[r], cur.regs[r]!);
  for (let spi = 0; spi < out.stack.length; spi++) {
    if (out.stack[spi] === undefined) continue;
    const slot = stackSlot(out, spi, true)!;
    const before = old.stack[spi];
    if (isSpilled(slot) && isSpilled(before)) slot.spilled = widenReg(before!.spilled, slot.spilled!);
    else if (isSpilled(slot) && slot.spilled?.type === RegType.SCALAR && !isSpilled(before)) {
      slot.spilled = unknownScalar();
    } else {
      for (let j = 0; j < 8; j++) {
        const was = before?.types[j] ?? Slot.INVALID;
        if (slot.types[j] !== was && slot.types[j] === Slot.ZERO) slot.types[j] = Slot.MISC;
      }
    }
  }
  return out;
}

/** Stores and helper or kfunc calls: the instructions whose stack writes the liveness analysis records. */
function writesStackMarks(insn: Instruction): boolean {
  const cls = opClass(insn.opcode);
  return cls === InsnClass.ST || cls === InsnClass.STX || (cls === InsnClass.JMP && jmpOp(insn.opcode) === JmpOp.CALL && insn.src !== CallSrc.LOCAL);
}

/** Same number of frames, each entered from the same call instruction. */
function sameCallsites(a: VerifierState, b: VerifierState): boolean {
  if (a.frames.length !== b.frames.length) return false;
  for (let f = 0; f < a.frames.length; f++) if (a.frames[f]!.callsite !== b.frames[f]!.callsite) return false;
  return true;
}

/** Every value `cur` holds, `old` allows (regsafe/stacksafe without liveness). */
function framesWithin(old: readonly Frame[], cur: readonly Frame[]): boolean {
  // One id map for every frame: a link between frames must hold in both.
  const ids = new IdMap();
  for (let f = 0; f < old.length; f++) {
    const fo = old[f]!;
    const fc = cur[f]!;
    for (let r = 0; r <= 10; r++) if (!regsafe(fo.regs[r]!, fc.regs[r]!, ids, true)) return false;
    if (!stacksafe(fo, fc, ids, true, false)) return false;
  }
  return true;
}
