/**
 * Random straight-line programs of scalar ALU operations and conditional
 * jumps, with what src/verifier/scalar.ts predicts the kernel's verifier
 * prints for each of them, and a parser for the kernel's level-2 log to
 * compare against. Used by the kernel differential test and by
 * scripts/verifier-scalar-diff.ts for long runs.
 */
import { AluOp, EndSource, InsnClass, JmpOp, Source } from '../../../src/isa/opcodes.ts';
import { type Instruction, alu32Imm, alu32Reg, alu64Imm, alu64Reg, callHelper, exit, insn, jmp32Imm, jmp32Reg, jmpImm, jmpReg, lddw, mov64Imm } from '../../../src/isa/instruction.ts';
import {
  type Scalar,
  SCALAR_UNKNOWN,
  branchTaken,
  refineBranch,
  refineBranchSameRegister,
  scalarAlu,
  scalarAluFork,
  scalarBswap,
  scalarConst,
  scalarMovSx,
  scalarToString,
  scalarZext32,
} from '../../../src/verifier/scalar.ts';

const BPF_FUNC_get_prandom_u32 = 7;
/** Registers the body works on (r0 is the helper's, r10 the frame pointer). */
const WORK_REGS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/** What the verifier should print at one place of the log. */
export interface Expectation {
  /** Instruction index whose log line (after ';') shows the state, or the jump whose "from J to T" line does. */
  slot: number;
  where: 'insn' | 'branch';
  reg: number;
  expected: string;
  /** The instruction in words, for reports. */
  text: string;
}

export interface GeneratedProgram {
  instructions: Instruction[];
  expectations: Expectation[];
  /** Jumps the model says are always taken (the kernel must not explore past them) or never taken (no branch line). */
  predictedJumps: { slot: number; taken: boolean; text: string }[];
  /** Jumps the model cannot decide: the kernel must print a "from J to T" line for each. */
  undecidedJumps: number[];
}

type Rand = () => number;

const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

/** Interesting 32-bit immediates: edges, small values, random. */
function randomImm(rand: Rand): number {
  const r = rand();
  if (r < 0.3) return Math.floor(rand() * 33) - 16;
  if (r < 0.5) return pick(rand, [0x7f, 0x80, 0xff, 0x100, 0xffff, 0x7fff_ffff, -0x8000_0000, -1, 0x8000, 0x1_0000 - 1, 0xfff]);
  if (r < 0.7) return (1 << Math.floor(rand() * 31)) | 0;
  return (Math.floor(rand() * 0x1_0000_0000) | 0);
}

function random64(rand: Rand): bigint {
  const hi = BigInt(Math.floor(rand() * 0x1_0000_0000));
  const lo = BigInt(Math.floor(rand() * 0x1_0000_0000));
  return pick(rand, [(hi << 32n) | lo, lo, (0xffff_ffffn << 32n) | lo, hi << 32n]);
}

const ALU_NAMES: Record<number, string> = {
  [AluOp.ADD]: '+=', [AluOp.SUB]: '-=', [AluOp.MUL]: '*=', [AluOp.DIV]: '/=', [AluOp.OR]: '|=', [AluOp.AND]: '&=',
  [AluOp.LSH]: '<<=', [AluOp.RSH]: '>>=', [AluOp.MOD]: '%=', [AluOp.XOR]: '^=', [AluOp.ARSH]: 's>>=',
};
const JMP_NAMES: Record<number, string> = {
  [JmpOp.JEQ]: '==', [JmpOp.JNE]: '!=', [JmpOp.JGT]: '>', [JmpOp.JGE]: '>=', [JmpOp.JLT]: '<', [JmpOp.JLE]: '<=',
  [JmpOp.JSGT]: 's>', [JmpOp.JSGE]: 's>=', [JmpOp.JSLT]: 's<', [JmpOp.JSLE]: 's<=', [JmpOp.JSET]: '&',
};
const BINARY_OPS = [AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.OR, AluOp.AND, AluOp.LSH, AluOp.RSH, AluOp.MOD, AluOp.XOR, AluOp.ARSH];
const JMP_OPS = Object.keys(JMP_NAMES).map(Number);

/**
 * A program: r6..r9 from bpf_get_prandom_u32 shaped by masks, r1..r5 from
 * constants or copies, then `length` random operations and jumps (every jump
 * goes to a final `r0 = 0; exit` stub).
 */
export function generateProgram(rand: Rand, length: number): GeneratedProgram {
  const regs: Scalar[] = Array.from({ length: 11 }, () => SCALAR_UNKNOWN);
  const body: { insns: Instruction[]; jumpToStub?: boolean }[] = [];
  const expectations: Expectation[] = [];
  const predictedJumps: GeneratedProgram['predictedJumps'] = [];
  const undecidedJumps: number[] = [];
  let slot = 0;
  let alive = true;

  const emit = (insns: Instruction[], jumpToStub = false): number => {
    const at = slot;
    body.push({ insns, jumpToStub });
    slot += insns.length;
    return at;
  };
  const alu = (op: number, dst: number, src: number | { imm: number }, is32: boolean, extra = ''): void => {
    const srcScalar = typeof src === 'number' ? regs[src]! : scalarConst(BigInt(src.imm));
    // The kernel forks here; this path continues with the forked value of dst.
    const fork = scalarAluFork(op, regs[dst]!, srcScalar);
    if (fork) regs[dst] = fork.current;
    const instruction = typeof src === 'number' ? (is32 ? alu32Reg : alu64Reg)(op as AluOp, dst, src) : (is32 ? alu32Imm : alu64Imm)(op as AluOp, dst, src.imm);
    const at = emit([instruction]);
    const text = `${is32 ? 'w' : 'r'}${dst} ${ALU_NAMES[op]} ${typeof src === 'number' ? `${is32 ? 'w' : 'r'}${src}` : src.imm}${extra}`;
    record(at, dst, scalarAlu(op, regs[dst]!, srcScalar, is32), text);
  };
  const record = (at: number, reg: number, value: Scalar, text: string): void => {
    regs[reg] = value;
    if (alive) expectations.push({ slot: at, where: 'insn', reg, expected: scalarToString(value), text });
  };

  // Setup: unknowns from the helper, shaped so that the body starts from bounded values too.
  for (const reg of [6, 7, 8, 9]) {
    emit([callHelper(BPF_FUNC_get_prandom_u32)]);
    regs[0] = SCALAR_UNKNOWN;
    for (let i = 1; i <= 5; i++) regs[i] = SCALAR_UNKNOWN;
    const shape = rand();
    if (shape < 0.4) alu(AluOp.AND, 0, { imm: pick(rand, [0xff, 0xffff, 0xf0, 0x7fff_ffff, 0x3f, -8, 0x0f0f]) }, false);
    else if (shape < 0.55) alu(AluOp.OR, 0, { imm: randomImm(rand) }, false);
    else if (shape < 0.7) {
      alu(AluOp.LSH, 0, { imm: 32 }, false);
      alu(AluOp.ARSH, 0, { imm: 32 }, false);
    } else if (shape < 0.8) alu(AluOp.AND, 0, { imm: randomImm(rand) }, true);
    else if (shape < 0.9) alu(AluOp.ARSH, 0, { imm: rand() < 0.5 ? 63 : 62 }, false);
    const zero = emit([mov64Imm(reg, 0)]);
    record(zero, reg, scalarConst(0n), `r${reg} = 0`);
    alu(AluOp.OR, reg, 0, false);
  }
  emit([mov64Imm(0, 0)]);
  regs[0] = scalarConst(0n);
  for (const reg of [1, 2, 3, 4, 5]) {
    const r = rand();
    if (r < 0.3) {
      const imm = randomImm(rand);
      record(emit([mov64Imm(reg, imm)]), reg, scalarConst(BigInt(imm)), `r${reg} = ${imm}`);
    } else if (r < 0.45) {
      const value = random64(rand);
      record(emit(lddw(reg, value)), reg, scalarConst(value), `r${reg} = ${value} ll`);
    } else {
      record(emit([mov64Imm(reg, 0)]), reg, scalarConst(0n), `r${reg} = 0`);
      alu(AluOp.OR, reg, pick(rand, [6, 7, 8, 9]), false);
    }
  }

  for (let n = 0; n < length && alive; n++) {
    const kind = rand();
    const dst = pick(rand, WORK_REGS);
    const is32 = rand() < 0.35;
    if (kind < 0.55) {
      const op = pick(rand, BINARY_OPS);
      if (rand() < 0.5) {
        let imm = randomImm(rand);
        if (op === AluOp.LSH || op === AluOp.RSH || op === AluOp.ARSH) imm = Math.floor(rand() * (is32 ? 32 : 64));
        if ((op === AluOp.DIV || op === AluOp.MOD) && imm === 0) imm = 3;
        alu(op, dst, { imm }, is32);
      } else {
        alu(op, dst, pick(rand, WORK_REGS), is32);
      }
    } else if (kind < 0.6) {
      const at = emit([insn((is32 ? InsnClass.ALU : InsnClass.ALU64) | AluOp.NEG, dst)]);
      record(at, dst, scalarAlu(AluOp.NEG, regs[dst]!, regs[dst]!, is32), `${is32 ? 'w' : 'r'}${dst} = -${is32 ? 'w' : 'r'}${dst}`);
    } else if (kind < 0.63) {
      const bits = pick(rand, [16, 32, 64] as const);
      const toBigEndian = rand() < 0.5;
      const at = is32
        ? emit([insn(InsnClass.ALU | AluOp.END | (toBigEndian ? EndSource.TO_BE : EndSource.TO_LE), dst, 0, 0, bits)])
        : emit([insn(InsnClass.ALU64 | AluOp.END, dst, 0, 0, bits)]);
      // x86 is little-endian: only bswap and conversions to big endian swap.
      const swap = !is32 || toBigEndian;
      record(at, dst, scalarBswap(regs[dst]!, bits, swap), `${is32 ? (toBigEndian ? 'be' : 'le') : 'bswap'}${bits} r${dst}`);
    } else if (kind < 0.68) {
      const from = is32 ? pick(rand, [8, 16] as const) : pick(rand, [8, 16, 32] as const);
      const at = emit([insn((is32 ? InsnClass.ALU : InsnClass.ALU64) | AluOp.MOV | Source.X, dst, dst, from)]);
      record(at, dst, scalarMovSx(regs[dst]!, from, is32), `${is32 ? 'w' : 'r'}${dst} = (s${from})${is32 ? 'w' : 'r'}${dst}`);
    } else if (kind < 0.7) {
      const at = emit([insn(InsnClass.ALU | AluOp.MOV | Source.X, dst, dst)]);
      record(at, dst, scalarZext32(regs[dst]!), `w${dst} = w${dst}`);
    } else {
      const op = pick(rand, JMP_OPS);
      const useReg = rand() < 0.5;
      let src = pick(rand, WORK_REGS);
      const sameRegister = useReg && rand() < 0.15;
      if (sameRegister) src = dst;
      else if (src === dst) src = dst === 9 ? 1 : dst + 1;
      const imm = randomImm(rand);
      const a = regs[dst]!;
      const b = useReg ? regs[src]! : scalarConst(BigInt(imm));
      const jump = useReg ? (is32 ? jmp32Reg : jmpReg)(op as JmpOp, dst, src, 0) : (is32 ? jmp32Imm : jmpImm)(op as JmpOp, dst, imm, 0);
      const at = emit([jump], true);
      const w = is32 ? 'w' : 'r';
      const text = `if ${w}${dst} ${JMP_NAMES[op]} ${useReg ? `${w}${src}` : imm} goto stub`;
      const predicted = branchTaken(a, b, op, is32);
      if (predicted !== -1) {
        predictedJumps.push({ slot: at, taken: predicted === 1, text });
        if (predicted === 1) alive = false;
        continue;
      }
      undecidedJumps.push(at);
      if (sameRegister) {
        const taken = refineBranchSameRegister(a, op, is32, true);
        const fallThrough = refineBranchSameRegister(a, op, is32, false);
        expectations.push({ slot: at, where: 'branch', reg: dst, expected: taken ? scalarToString(taken) : 'impossible', text: `${text} (taken)` });
        expectations.push({ slot: at, where: 'insn', reg: dst, expected: fallThrough ? scalarToString(fallThrough) : 'impossible', text: `${text} (fall-through)` });
        if (fallThrough === undefined) alive = false;
        else regs[dst] = fallThrough;
        continue;
      }
      const taken = refineBranch(a, b, op, is32, true);
      const fallThrough = refineBranch(a, b, op, is32, false);
      const report = (where: 'insn' | 'branch', outcome: { a: Scalar; b: Scalar } | undefined): void => {
        const label = `${text} (${where === 'insn' ? 'fall-through' : 'taken'})`;
        expectations.push({ slot: at, where, reg: dst, expected: outcome ? scalarToString(outcome.a) : 'impossible', text: label });
        if (useReg) expectations.push({ slot: at, where, reg: src, expected: outcome ? scalarToString(outcome.b) : 'impossible', text: label });
      };
      report('branch', taken);
      report('insn', fallThrough);
      if (fallThrough === undefined) {
        alive = false;
        continue;
      }
      regs[dst] = fallThrough.a;
      if (useReg) regs[src] = fallThrough.b;
    }
  }

  // Every path ends reading every register, so that the kernel's liveness keeps them all in its printed
  // states; each jump has its own copy of that ending so that no branch is pruned before its state is printed.
  const ending = [mov64Imm(0, 0), ...WORK_REGS.map((r) => alu64Reg(AluOp.ADD, 0, r)), exit()];
  const instructions: Instruction[] = [];
  const stubs: Instruction[] = [];
  let at = 0;
  const endOfBody = slot + ending.length;
  for (const piece of body) {
    for (const i of piece.insns) {
      if (piece.jumpToStub) {
        const stubSlot = endOfBody + stubs.length;
        instructions.push({ ...i, offset: stubSlot - at - 1 });
        stubs.push(...ending);
      } else {
        instructions.push(i);
      }
      at++;
    }
  }
  instructions.push(...ending, ...stubs);
  return { instructions, expectations, predictedJumps, undecidedJumps };
}

/** Register states printed by the kernel: the ';' part of each instruction line and each "from J to T:" line. */
export interface ParsedLog {
  afterInsn: Map<number, Map<number, string>>;
  branches: Map<number, Map<number, string>>;
  visited: Set<number>;
}

/** Splits "R1_w=scalar(smin=1,var_off=(0x0; 0x1)) R2=5" into register → value (ids and precision marks removed). */
export function parseRegisters(text: string): Map<number, string> {
  const out = new Map<number, string>();
  let depth = 0;
  let start = 0;
  const entries: string[] = [];
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if ((c === ' ' || c === undefined) && depth === 0) {
      if (i > start) entries.push(text.slice(start, i));
      start = i + 1;
    }
  }
  for (const entry of entries) {
    const m = /^R(\d+)(?:_[a-zA-Z]+)?=(.*)$/.exec(entry);
    if (!m) continue;
    const value = m[2]!.replace(/^P/, '').replace(/id=\d+(?:[+-]\d+)?,?/, '').replace('scalar(,', 'scalar(').replace(/,\)$/, ')');
    out.set(Number(m[1]), value);
  }
  return out;
}

export function parseLog(log: string): ParsedLog {
  const afterInsn = new Map<number, Map<number, string>>();
  const branches = new Map<number, Map<number, string>>();
  const visited = new Set<number>();
  for (const line of log.split('\n')) {
    const from = /^from (\d+) to (\d+): (.*)$/.exec(line);
    if (from) {
      // The first exploration of a jump is the main path's; later ones come from states the kernel forked.
      if (!branches.has(Number(from[1]))) branches.set(Number(from[1]), parseRegisters(from[3]!));
      continue;
    }
    const step = /^(\d+): \([0-9a-f]{2}\)[^;]*(?:; (.*))?$/.exec(line);
    if (step) {
      const index = Number(step[1]);
      visited.add(index);
      if (step[2] !== undefined && !afterInsn.has(index)) afterInsn.set(index, parseRegisters(step[2]));
    }
  }
  return { afterInsn, branches, visited };
}

export interface Disagreement {
  text: string;
  where: string;
  expected: string;
  actual: string;
}

/** Compares a program's expectations with the kernel's log: the number of agreeing checks and the disagreements. */
export function compareWithLog(program: GeneratedProgram, log: string): { agreed: number; disagreements: Disagreement[] } {
  const parsed = parseLog(log);
  const disagreements: Disagreement[] = [];
  let agreed = 0;
  for (const e of program.expectations) {
    const states = e.where === 'insn' ? parsed.afterInsn.get(e.slot) : parsed.branches.get(e.slot);
    const actual = states?.get(e.reg) ?? (states === undefined ? 'not visited' : 'not printed');
    const expected = e.expected;
    if (actual === expected || (expected === 'impossible' && actual === 'not visited')) agreed++;
    else disagreements.push({ text: e.text, where: `${e.where} ${e.slot} R${e.reg}`, expected, actual });
  }
  for (const p of program.predictedJumps) {
    const explored = parsed.branches.has(p.slot);
    if (!explored && (p.taken ? !parsed.visited.has(p.slot + 1) : true)) agreed++;
    else disagreements.push({ text: p.text, where: `jump ${p.slot}`, expected: p.taken ? 'always taken' : 'never taken', actual: explored ? 'both explored' : 'fall-through explored' });
  }
  for (const slot of program.undecidedJumps) {
    if (parsed.branches.has(slot)) agreed++;
    else disagreements.push({ text: `jump at ${slot}`, where: `jump ${slot}`, expected: 'both explored', actual: 'one side only' });
  }
  return { agreed, disagreements };
}
