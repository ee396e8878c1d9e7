/**
 * libpcap's optimiser (optimize.c), pass for pass, so that listings can
 * be compared with tcpdump's: global value numbering of loads and
 * arithmetic with constant folding, peephole rules, dead-store removal,
 * jump threading through dominating edges whose outcome is known
 * (opt_j/fold_edge), or/and pull-ups, merging of identical blocks
 * (intern_blocks) and removal of what becomes unreachable. Unlike
 * libpcap, it works on a copy-free graph of its own and never mutates the
 * caller's blocks in ways visible outside.
 */
import { isReturn, postOrder, preOrder, type Block } from './blocks.ts';
import { CodegenError } from './codegen.ts';
import { linearize } from './linearize.ts';
import * as opcodes from './opcodes.ts';
import type { CbpfInstruction } from './opcodes.ts';

// Module-local copies of the opcode tables: the optimiser reads them in its inner loops, and a
// local object's properties are cheaper than reads through an import binding under loaders that wrap them (tsx).
const { MEMWORDS } = opcodes;
const Alu = { ...opcodes.Alu };
const Class = { ...opcodes.Class };
const Jmp = { ...opcodes.Jmp };
const Misc = { ...opcodes.Misc };
const Mode = { ...opcodes.Mode };
const RetSrc = { ...opcodes.RetSrc };
const Size = { ...opcodes.Size };
const Src = { ...opcodes.Src };

const NOP = -1;
const A_ATOM = MEMWORDS;
const X_ATOM = MEMWORDS + 1;
const N_ATOMS = MEMWORDS + 2;
const AX_ATOM = N_ATOMS;
const VAL_UNKNOWN = 0;
/**
 * libpcap's branch passes recompute dominators after every pull-up, which
 * grows with the cube of the program (tcpdump takes seconds for a list of
 * 400 hosts). Past this many dominator-set words, the optimiser stops
 * moving branches and finishes with the statement passes: the program is
 * as correct, only less optimised than libpcap's. Every test expression
 * stays far below (a list of 150 hosts needs about 5e8).
 */
const WORK_BUDGET = 1e9;
/** At most this many passes of nothing but branch movement (libpcap's loop detection). */
const BRANCH_ONLY_PASS_LIMIT = 100;

/** The optimiser refuses the expression (libpcap's opt_error and "expression rejects all packets"). */
export class OptimizeError extends CodegenError {}

interface Edge {
  id: number;
  pred: OBlock;
  side: 'jt' | 'jf';
  /** The jump code, negated for the false edge (fold_edge reads the sign as the branch taken). */
  code: number;
  edom: Uint32Array;
  next: Edge | undefined;
}

const NO_EDGE_WORDS = new Uint32Array(0);

/** A block as the optimiser sees it: one fixed shape for every block (V8 keeps such objects fast). */
class OBlock implements Block {
  id: number;
  stmts: CbpfInstruction[];
  code: number;
  k: number;
  jt: OBlock | undefined = undefined;
  jf: OBlock | undefined = undefined;
  index = -1;
  level = 0;
  val = new Uint32Array(N_ATOMS);
  oval = 0;
  outUse = 0;
  inUse = 0;
  kill = 0;
  dom: Uint32Array = NO_EDGE_WORDS;
  inEdges: Edge | undefined = undefined;
  et: Edge;
  ef: Edge;

  constructor(b: Block) {
    this.id = b.id;
    this.stmts = b.stmts.map((s) => ({ code: s.code, jt: s.jt, jf: s.jf, k: s.k }));
    this.code = b.code;
    this.k = b.k;
    this.et = { id: 0, pred: this, side: 'jt', code: 0, edom: NO_EDGE_WORDS, next: undefined };
    this.ef = { id: 0, pred: this, side: 'jf', code: 0, edom: NO_EDGE_WORDS, next: undefined };
  }
}

// Atom sets are bit masks: 18 atoms fit in a 32-bit integer.
const atomBit = (atom: number): number => 1 << atom;
const has = (set: number, atom: number): boolean => ((set >>> atom) & 1) === 1;

function atomUse(s: { code: number; k: number }): number {
  const c = s.code;
  if (c === NOP) return -1;
  switch (c & 0x07) {
    case Class.RET:
      return (c & 0x18) === RetSrc.A ? A_ATOM : (c & 0x18) === RetSrc.X ? X_ATOM : -1;
    case Class.LD:
    case Class.LDX:
      return (c & 0xe0) === Mode.IND ? X_ATOM : (c & 0xe0) === Mode.MEM ? s.k : -1;
    case Class.ST:
      return A_ATOM;
    case Class.STX:
      return X_ATOM;
    case Class.JMP:
    case Class.ALU:
      return (c & 0x08) === Src.X ? AX_ATOM : A_ATOM;
    case Class.MISC:
      return (c & 0xf8) === Misc.TXA ? X_ATOM : A_ATOM;
  }
  return -1;
}

function atomDef(s: { code: number; k: number }): number {
  const c = s.code;
  if (c === NOP) return -1;
  switch (c & 0x07) {
    case Class.LD:
    case Class.ALU:
      return A_ATOM;
    case Class.LDX:
      return X_ATOM;
    case Class.ST:
    case Class.STX:
      return s.k;
    case Class.MISC:
      return (c & 0xf8) === Misc.TAX ? X_ATOM : A_ATOM;
  }
  return -1;
}

class Optimizer {
  private readonly blocks: OBlock[] = [];
  private readonly edges: Edge[] = [];
  private levels: OBlock[][] = [];
  private readonly nodeWords: number;
  private readonly edgeWords: number;
  private done = true;
  /** Dominator-set words computed so far: the measure of the branch passes' cost (see WORK_BUDGET). */
  private work = 0;
  private nonBranchMovement = false;
  // Value numbering.
  /** (code, v1) → v0 → value number. */
  private values = new Map<number, Map<number, number>>();
  private constants = new Map<number, number>();
  private curVal = 0;

  constructor(public root: OBlock) {
    preOrder(root, (b) => {
      b.index = this.blocks.length;
      this.blocks.push(b);
    });
    const n = this.blocks.length;
    this.nodeWords = Math.ceil(n / 32) || 1;
    this.edgeWords = Math.ceil((2 * n) / 32) || 1;
    for (const b of this.blocks) {
      b.et.id = b.index;
      b.et.edom = new Uint32Array(this.edgeWords);
      b.ef.id = n + b.index;
      b.ef.edom = new Uint32Array(this.edgeWords);
      b.dom = new Uint32Array(this.nodeWords);
      this.edges[b.et.id] = b.et;
      this.edges[b.ef.id] = b.ef;
    }
  }

  // Value numbers (F and K).

  private F(code: number, v0: number, v1: number): number {
    const key = code + v1 * 0x10000;
    let byV0 = this.values.get(key);
    if (byV0 === undefined) {
      byV0 = new Map();
      this.values.set(key, byV0);
    }
    let val = byV0.get(v0);
    if (val === undefined) {
      val = ++this.curVal;
      byV0.set(v0, val);
      if ((code & 0xe0) === Mode.IMM && ((code & 0x07) === Class.LD || (code & 0x07) === Class.LDX)) this.constants.set(val, v0);
    }
    return val;
  }

  private K(k: number): number {
    return this.F(Class.LD | Mode.IMM | Size.W, k >>> 0, 0);
  }

  private isConst(val: number): boolean {
    return this.constants.has(val);
  }

  private constOf(val: number): number {
    return this.constants.get(val)!;
  }

  private initVal(): void {
    this.values = new Map();
    this.constants = new Map();
    this.curVal = 0;
  }

  // Graph analyses.

  private findLevels(): void {
    this.levels = [];
    const lists: OBlock[][] = [];
    postOrder(this.root, 'jt', (b) => {
      const level = b.jt === undefined ? 0 : Math.max(b.jt.level, b.jf!.level) + 1;
      b.level = level;
      (lists[level] ??= []).push(b);
    });
    // libpcap links each block in front of its level's list.
    this.levels = lists.map((list) => list.reverse());
  }

  private levelList(level: number): OBlock[] {
    return this.levels[level] ?? [];
  }

  private findDom(): void {
    this.work += this.blocks.length * this.nodeWords;
    for (const b of this.blocks) b.dom.fill(0xffffffff);
    this.root.dom.fill(0);
    for (let level = this.root.level; level >= 0; level--) {
      for (const b of this.levelList(level)) {
        b.dom[b.index >> 5]! |= 1 << (b.index & 31);
        if (b.jt === undefined) continue;
        for (let i = 0; i < this.nodeWords; i++) {
          b.jt.dom[i]! &= b.dom[i]!;
          b.jf!.dom[i]! &= b.dom[i]!;
        }
      }
    }
  }

  private computeLocalUd(b: OBlock): void {
    let def = 0;
    let use = 0;
    let kill = 0;
    const noteUse = (atom: number): void => {
      if (atom === AX_ATOM) {
        if (!has(def, X_ATOM)) use |= atomBit(X_ATOM);
        if (!has(def, A_ATOM)) use |= atomBit(A_ATOM);
      } else if (atom >= 0 && !has(def, atom)) {
        use |= atomBit(atom);
      }
    };
    for (const s of b.stmts) {
      if (s.code === NOP) continue;
      noteUse(atomUse(s));
      const atom = atomDef(s);
      if (atom >= 0) {
        if (!has(use, atom)) kill |= atomBit(atom);
        def |= atomBit(atom);
      }
    }
    if ((b.code & 0x07) === Class.JMP) noteUse(atomUse(b));
    b.kill = kill;
    b.inUse = use;
  }

  private findUd(): void {
    for (let i = this.root.level; i >= 0; i--) {
      for (const p of this.levelList(i)) {
        this.computeLocalUd(p);
        p.outUse = 0;
      }
    }
    for (let i = 1; i <= this.root.level; i++) {
      for (const p of this.levelList(i)) {
        p.outUse |= p.jt!.inUse | p.jf!.inUse;
        p.inUse |= p.outUse & ~p.kill;
      }
    }
  }

  private findEdom(): void {
    for (const e of this.edges) e.edom.fill(0xffffffff);
    this.root.et.edom.fill(0);
    this.root.ef.edom.fill(0);
    const propagate = (e: Edge): void => {
      e.edom[e.id >> 5]! |= 1 << (e.id & 31);
      const succ = e.pred[e.side];
      if (succ !== undefined && succ.et !== undefined) {
        for (let i = 0; i < this.edgeWords; i++) {
          succ.et.edom[i]! &= e.edom[i]!;
          succ.ef.edom[i]! &= e.edom[i]!;
        }
      }
    };
    for (let i = this.root.level; i !== 0; i--) {
      for (const b of this.levelList(i)) {
        propagate(b.et);
        propagate(b.ef);
      }
    }
  }

  private findInedges(): void {
    for (const b of this.blocks) b.inEdges = undefined;
    for (let level = this.root.level; level > 0; level--) {
      for (const b of this.levelList(level)) {
        for (const e of [b.et, b.ef]) {
          const child = b[e.side]!;
          e.next = child.inEdges;
          child.inEdges = e;
        }
      }
    }
  }

  // Statements.

  private vstore(s: CbpfInstruction | undefined, val: Uint32Array, atom: number, newVal: number, alter: boolean): void {
    if (alter && s !== undefined && newVal !== VAL_UNKNOWN && val[atom] === newVal) s.code = NOP;
    else val[atom] = newVal;
  }

  private foldOp(s: CbpfInstruction, v0: number, v1: number): void {
    let a = this.constOf(v0);
    const b = this.constOf(v1);
    switch (s.code & 0xf0) {
      case Alu.ADD: a = (a + b) >>> 0; break;
      case Alu.SUB: a = (a - b) >>> 0; break;
      case Alu.MUL: a = Math.imul(a, b) >>> 0; break;
      case Alu.DIV:
        if (b === 0) throw new OptimizeError('division by zero');
        a = Math.floor(a / b) >>> 0;
        break;
      case Alu.MOD:
        if (b === 0) throw new OptimizeError('modulus by zero');
        a = a % b;
        break;
      case Alu.AND: a = (a & b) >>> 0; break;
      case Alu.OR: a = (a | b) >>> 0; break;
      case Alu.XOR: a = (a ^ b) >>> 0; break;
      case Alu.LSH: a = b < 32 ? (a << b) >>> 0 : 0; break;
      case Alu.RSH: a = b < 32 ? a >>> b : 0; break;
      case Alu.NEG: a = -a >>> 0; break;
    }
    s.k = a;
    s.code = Class.LD | Mode.IMM;
    this.nonBranchMovement = true;
    this.done = false;
  }

  private optStmt(s: CbpfInstruction, val: Uint32Array, alter: boolean): void {
    const code = s.code;
    if (code === NOP) return;
    switch (code) {
      case Class.LD | Mode.ABS | Size.W:
      case Class.LD | Mode.ABS | Size.H:
      case Class.LD | Mode.ABS | Size.B:
        this.vstore(s, val, A_ATOM, this.F(code, s.k, 0), alter);
        return;
      case Class.LD | Mode.IND | Size.W:
      case Class.LD | Mode.IND | Size.H:
      case Class.LD | Mode.IND | Size.B: {
        let v = val[X_ATOM]!;
        if (alter && this.isConst(v)) {
          s.code = Class.LD | Mode.ABS | (code & 0x18);
          s.k = (s.k + this.constOf(v)) >>> 0;
          v = this.F(s.code, s.k, 0);
          this.done = false;
        } else {
          v = this.F(code, s.k, v);
        }
        this.vstore(s, val, A_ATOM, v, alter);
        return;
      }
      case Class.LD | Size.W | Mode.LEN:
        this.vstore(s, val, A_ATOM, this.F(code, 0, 0), alter);
        return;
      case Class.LD | Mode.IMM:
        this.vstore(s, val, A_ATOM, this.K(s.k), alter);
        return;
      case Class.LDX | Mode.IMM:
        this.vstore(s, val, X_ATOM, this.K(s.k), alter);
        return;
      case Class.LDX | Mode.MSH | Size.B:
        this.vstore(s, val, X_ATOM, this.F(code, s.k, 0), alter);
        return;
      case Class.ALU | Alu.NEG:
        if (alter && this.isConst(val[A_ATOM]!)) {
          s.code = Class.LD | Mode.IMM;
          s.k = -this.constOf(val[A_ATOM]!) >>> 0;
          val[A_ATOM] = this.K(s.k);
        } else {
          val[A_ATOM] = this.F(code, val[A_ATOM]!, 0);
        }
        return;
      case Class.MISC | Misc.TXA:
        this.vstore(s, val, A_ATOM, val[X_ATOM]!, alter);
        return;
      case Class.LD | Mode.MEM: {
        const v = val[s.k]!;
        if (alter && this.isConst(v)) {
          s.code = Class.LD | Mode.IMM;
          s.k = this.constOf(v);
          this.done = false;
        }
        this.vstore(s, val, A_ATOM, v, alter);
        return;
      }
      case Class.MISC | Misc.TAX:
        this.vstore(s, val, X_ATOM, val[A_ATOM]!, alter);
        return;
      case Class.LDX | Mode.MEM: {
        const v = val[s.k]!;
        if (alter && this.isConst(v)) {
          s.code = Class.LDX | Mode.IMM;
          s.k = this.constOf(v);
          this.done = false;
        }
        this.vstore(s, val, X_ATOM, v, alter);
        return;
      }
      case Class.ST:
        this.vstore(s, val, s.k, val[A_ATOM]!, alter);
        return;
      case Class.STX:
        this.vstore(s, val, s.k, val[X_ATOM]!, alter);
        return;
    }
    if ((code & 0x07) !== Class.ALU) return;
    const op = code & 0xf0;
    if ((code & 0x08) === Src.K) {
      if (alter) {
        if (s.k === 0) {
          if (op === Alu.ADD || op === Alu.LSH || op === Alu.RSH || op === Alu.OR || op === Alu.XOR) {
            s.code = NOP;
            return;
          }
          if (op === Alu.MUL || op === Alu.AND) {
            s.code = Class.LD | Mode.IMM;
            val[A_ATOM] = this.K(s.k);
            return;
          }
          if (op === Alu.DIV) throw new OptimizeError('division by zero');
          if (op === Alu.MOD) throw new OptimizeError('modulus by zero');
        }
        if (this.isConst(val[A_ATOM]!)) {
          this.foldOp(s, val[A_ATOM]!, this.K(s.k));
          val[A_ATOM] = this.K(s.k);
          return;
        }
      }
      val[A_ATOM] = this.F(code, val[A_ATOM]!, this.K(s.k));
      return;
    }
    if (alter && this.isConst(val[X_ATOM]!)) {
      if (this.isConst(val[A_ATOM]!)) {
        this.foldOp(s, val[A_ATOM]!, val[X_ATOM]!);
        val[A_ATOM] = this.K(s.k);
      } else {
        s.code = Class.ALU | Src.K | op;
        s.k = this.constOf(val[X_ATOM]!);
        if ((op === Alu.LSH || op === Alu.RSH) && s.k > 31) throw new OptimizeError('shift by more than 31 bits');
        this.done = false;
        val[A_ATOM] = this.F(s.code, val[A_ATOM]!, this.K(s.k));
      }
      return;
    }
    if (alter && this.isConst(val[A_ATOM]!) && this.constOf(val[A_ATOM]!) === 0) {
      if (op === Alu.ADD || op === Alu.OR || op === Alu.XOR) {
        s.code = Class.MISC | Misc.TXA;
        this.vstore(s, val, A_ATOM, val[X_ATOM]!, alter);
        return;
      }
      if (op === Alu.MUL || op === Alu.DIV || op === Alu.MOD || op === Alu.AND || op === Alu.LSH || op === Alu.RSH) {
        s.code = Class.LD | Mode.IMM;
        s.k = 0;
        this.vstore(s, val, A_ATOM, this.K(s.k), alter);
        return;
      }
    }
    val[A_ATOM] = this.F(code, val[A_ATOM]!, val[X_ATOM]!);
  }

  private optPeep(b: OBlock): void {
    const live = (from: number): number => {
      let i = from;
      while (i < b.stmts.length && b.stmts[i]!.code === NOP) i++;
      return i < b.stmts.length ? i : -1;
    };
    if (b.stmts.length > 0) {
      let last = -1;
      for (let si = live(0); si >= 0; ) {
        const ni = live(si + 1);
        if (ni < 0) break;
        last = ni;
        const s = b.stmts[si]!;
        const next = b.stmts[ni]!;
        if (s.code === Class.ST && next.code === (Class.LDX | Mode.MEM) && s.k === next.k) {
          this.done = false;
          next.code = Class.MISC | Misc.TAX;
        }
        if (s.code === (Class.LD | Mode.IMM) && next.code === (Class.MISC | Misc.TAX)) {
          s.code = Class.LDX | Mode.IMM;
          next.code = Class.MISC | Misc.TXA;
          this.done = false;
        }
        if (s.code === (Class.LD | Mode.IMM) && !has(b.outUse, X_ATOM)) {
          const addIndex = next.code !== (Class.LDX | Mode.MSH | Size.B) ? ni : live(ni + 1);
          const taxIndex = addIndex >= 0 && b.stmts[addIndex]!.code === (Class.ALU | Alu.ADD | Src.X) ? live(addIndex + 1) : -1;
          const ildIndex = taxIndex >= 0 && b.stmts[taxIndex]!.code === (Class.MISC | Misc.TAX) ? live(taxIndex + 1) : -1;
          const ild = ildIndex >= 0 ? b.stmts[ildIndex]! : undefined;
          if (ild !== undefined && (ild.code & 0x07) === Class.LD && (ild.code & 0xe0) === Mode.IND) {
            ild.k = (ild.k + s.k) >>> 0;
            s.code = NOP;
            b.stmts[addIndex]!.code = NOP;
            b.stmts[taxIndex]!.code = NOP;
            this.done = false;
          }
        }
        si = ni;
      }
      if (last < 0) last = live(0);
      const lastStmt = last >= 0 ? b.stmts[last] : undefined;
      if (b.code === (Class.JMP | Jmp.JEQ | Src.K) && !has(b.outUse, A_ATOM) && lastStmt !== undefined) {
        if (lastStmt.code === (Class.ALU | Alu.SUB | Src.X)) {
          const xv = b.val[X_ATOM]!;
          if (this.isConst(xv)) {
            b.k = (b.k + this.constOf(xv)) >>> 0;
            lastStmt.code = NOP;
            this.done = false;
          } else if (b.k === 0) {
            lastStmt.code = NOP;
            b.code = Class.JMP | Jmp.JEQ | Src.X;
            this.done = false;
          }
        } else if (lastStmt.code === (Class.ALU | Alu.SUB | Src.K)) {
          lastStmt.code = NOP;
          b.k = (b.k + lastStmt.k) >>> 0;
          this.done = false;
        } else if (lastStmt.code === (Class.ALU | Alu.AND | Src.K) && b.k === 0) {
          b.k = lastStmt.k;
          b.code = Class.JMP | Src.K | Jmp.JSET;
          lastStmt.code = NOP;
          this.done = false;
          [b.jt, b.jf] = [b.jf, b.jt];
        }
      }
    }
    if (b.code === (Class.JMP | Src.K | Jmp.JSET)) {
      if (b.k === 0) b.jt = b.jf;
      if (b.k === 0xffffffff) b.jf = b.jt;
    }
    const xv = b.val[X_ATOM]!;
    if (this.isConst(xv) && (b.code & 0x08) === Src.X) {
      b.code &= ~Src.X;
      b.k = this.constOf(xv);
    }
    const av = b.val[A_ATOM]!;
    if (this.isConst(av) && (b.code & 0x08) === Src.K) {
      const a = this.constOf(av);
      let taken: boolean;
      switch (b.code & 0xf0) {
        case Jmp.JEQ: taken = a === b.k; break;
        case Jmp.JGT: taken = a > b.k; break;
        case Jmp.JGE: taken = a >= b.k; break;
        default: taken = (a & b.k) !== 0; break;
      }
      if (b.jf !== b.jt) {
        this.done = false;
        this.nonBranchMovement = true;
      }
      if (taken) b.jf = b.jt;
      else b.jt = b.jf;
    }
  }

  private optDeadstores(b: OBlock): void {
    const last = new Array<CbpfInstruction | undefined>(N_ATOMS).fill(undefined);
    const deadStmt = (s: { code: number; k: number }, isStmt: boolean): void => {
      const use = atomUse(s);
      if (use === AX_ATOM) {
        last[X_ATOM] = undefined;
        last[A_ATOM] = undefined;
      } else if (use >= 0) {
        last[use] = undefined;
      }
      const def = atomDef(s);
      if (def >= 0 && isStmt) {
        const previous = last[def];
        if (previous !== undefined) {
          this.done = false;
          previous.code = NOP;
        }
        last[def] = s as CbpfInstruction;
      }
    };
    for (const s of b.stmts) deadStmt(s, true);
    deadStmt(b, false);
    for (let atom = 0; atom < N_ATOMS; atom++) {
      const s = last[atom];
      if (s !== undefined && !has(b.outUse, atom)) {
        s.code = NOP;
        b.val[atom] = VAL_UNKNOWN;
        this.done = false;
      }
    }
  }

  private optBlk(b: OBlock, doStmts: boolean): void {
    let e = b.inEdges;
    if (e === undefined) {
      b.val.fill(0);
    } else {
      b.val.set(e.pred.val);
      for (e = e.next; e !== undefined; e = e.next) {
        for (let i = 0; i < N_ATOMS; i++) if (b.val[i] !== e.pred.val[i]) b.val[i] = 0;
      }
    }
    const aval = b.val[A_ATOM]!;
    const xval = b.val[X_ATOM]!;
    for (const s of b.stmts) this.optStmt(s, b.val, doStmts);
    if (doStmts && ((b.outUse === 0 && aval !== VAL_UNKNOWN && b.val[A_ATOM] === aval && xval !== VAL_UNKNOWN && b.val[X_ATOM] === xval) || isReturn(b))) {
      if (b.stmts.length > 0) {
        b.stmts = [];
        this.nonBranchMovement = true;
        this.done = false;
      }
    } else {
      this.optPeep(b);
      this.optDeadstores(b);
    }
    b.oval = (b.code & 0x08) === Src.K ? this.K(b.k) : b.val[X_ATOM]!;
    b.et.code = b.code;
    b.ef.code = -b.code;
  }

  // Branches.

  private useConflict(b: OBlock, succ: OBlock): boolean {
    const use = succ.outUse;
    if (use === 0) return false;
    for (let atom = 0; atom < N_ATOMS; atom++) if (has(use, atom) && b.val[atom] !== succ.val[atom]) return true;
    return false;
  }

  private foldEdge(child: OBlock, e: Edge): OBlock | undefined {
    let code = e.code;
    let sense = true;
    if (code < 0) {
      code = -code;
      sense = false;
    }
    if (child.code !== code) return undefined;
    if (child.val[A_ATOM] !== e.pred.val[A_ATOM]) return undefined;
    if (child.oval === e.pred.oval) return sense ? child.jt : child.jf;
    if (sense && code === (Class.JMP | Jmp.JEQ | Src.K)) return child.jf;
    return undefined;
  }

  private optJ(e: Edge): void {
    let succ = e.pred[e.side]!;
    if (succ.jt === undefined) return;
    if (succ.jt === succ.jf && !this.useConflict(e.pred, succ.jt)) {
      this.nonBranchMovement = true;
      this.done = false;
      e.pred[e.side] = succ.jt;
      succ = succ.jt;
    }
    top: for (;;) {
      for (let i = 0; i < this.edgeWords; i++) {
        let x = e.edom[i]!;
        while (x !== 0) {
          const bit = 31 - Math.clz32(x & -x);
          x &= ~(1 << bit);
          const k = i * 32 + bit;
          const target = this.foldEdge(e.pred[e.side]!, this.edges[k]!);
          if (target !== undefined && !this.useConflict(e.pred, target)) {
            this.done = false;
            e.pred[e.side] = target;
            if (target.jt !== undefined) continue top;
            return;
          }
        }
      }
      return;
    }
  }

  /** Dominator sets are stale after a pull-up until the next question (libpcap recomputes them at once; the answers are the same). */
  private domStale = false;

  private dominates(b: OBlock, node: OBlock): boolean {
    if (this.domStale) {
      this.findDom();
      this.domStale = false;
    }
    return (node.dom[b.index >> 5]! & (1 << (b.index & 31))) !== 0;
  }

  /** or_pullup (side 'jf') and and_pullup (side 'jt'). */
  private pullup(b: OBlock, side: 'jt' | 'jf'): void {
    if (this.work > WORK_BUDGET) return;
    const other = side === 'jf' ? 'jt' : 'jf';
    const first = b.inEdges;
    if (first === undefined) return;
    const val = first.pred.val[A_ATOM];
    for (let e = first.next; e !== undefined; e = e.next) if (val !== e.pred.val[A_ATOM]) return;
    // The slot (holder, holderSide) that points at the chain's current node.
    let diffHolder: OBlock = first.pred;
    let diffSide: 'jt' | 'jf' = first.pred.jt === b ? 'jt' : 'jf';
    let atTop = true;
    for (;;) {
      const node = diffHolder[diffSide];
      if (node === undefined) return;
      if (node[other] !== b[other]) return;
      if (!this.dominates(b, node)) return;
      if (node.val[A_ATOM] !== val) break;
      diffHolder = node;
      diffSide = side;
      atTop = false;
    }
    let sameHolder: OBlock = diffHolder[diffSide]!;
    for (;;) {
      const node = sameHolder[side];
      if (node === undefined) return;
      if (node[other] !== b[other]) return;
      if (!this.dominates(b, node)) return;
      if (node.val[A_ATOM] === val) break;
      sameHolder = node;
    }
    const pull = sameHolder[side]!;
    sameHolder[side] = pull[side];
    pull[side] = diffHolder[diffSide];
    if (atTop) {
      for (let e = b.inEdges; e !== undefined; e = e.next) {
        if (e.pred.jt === b) e.pred.jt = pull;
        else e.pred.jf = pull;
      }
    } else {
      diffHolder[diffSide] = pull;
    }
    this.done = false;
    this.domStale = true;
  }

  private optBlks(doStmts: boolean): void {
    this.initVal();
    const maxLevel = this.root.level;
    this.findInedges();
    for (let i = maxLevel; i >= 0; i--) for (const p of this.levelList(i)) this.optBlk(p, doStmts);
    if (doStmts) return;
    for (let i = 1; i <= maxLevel; i++) {
      for (const p of this.levelList(i)) {
        this.optJ(p.et);
        this.optJ(p.ef);
      }
    }
    this.findInedges();
    for (let i = 1; i <= maxLevel; i++) {
      for (const p of this.levelList(i)) {
        this.pullup(p, 'jf');
        this.pullup(p, 'jt');
      }
    }
  }

  optLoop(doStmts: boolean): void {
    let branchOnlyPasses = 0;
    for (;;) {
      this.done = true;
      this.nonBranchMovement = false;
      this.findLevels();
      this.findDom();
      this.domStale = false;
      this.findUd();
      this.findEdom();
      this.optBlks(doStmts);
      if (this.done || (!doStmts && this.work > WORK_BUDGET)) return;
      if (this.nonBranchMovement) branchOnlyPasses = 0;
      else if (++branchOnlyPasses >= BRANCH_ONLY_PASS_LIMIT) return;
    }
  }

  reachable(): Set<OBlock> {
    const seen = new Set<OBlock>();
    preOrder(this.root, (b) => seen.add(b));
    return seen;
  }

  /**
   * intern_blocks: a block equal to another (same statements, jump and
   * successors) is replaced by the member of its class with the highest
   * number, as libpcap's pairwise scan ends up doing; found by hashing
   * instead of comparing every pair.
   */
  internBlocks(): void {
    for (;;) {
      const marked = this.reachable();
      const representative = new Map<string, OBlock>();
      const link = new Map<OBlock, OBlock>();
      for (let i = this.blocks.length - 1; i >= 0; i--) {
        const b = this.blocks[i]!;
        if (!marked.has(b)) continue;
        const key = blockKey(b);
        const rep = representative.get(key);
        if (rep === undefined) representative.set(key, b);
        else link.set(b, rep);
      }
      let changed = false;
      for (const p of this.blocks) {
        if (p.jt === undefined) continue;
        const jt = link.get(p.jt);
        if (jt !== undefined) {
          changed = true;
          p.jt = jt;
        }
        const jf = link.get(p.jf!);
        if (jf !== undefined) {
          changed = true;
          p.jf = jf;
        }
      }
      if (!changed) return;
    }
  }

  optRoot(): void {
    const stmts = this.root.stmts;
    this.root.stmts = [];
    while ((this.root.code & 0x07) === Class.JMP && this.root.jt === this.root.jf) this.root = this.root.jt!;
    this.root.stmts = [...stmts, ...this.root.stmts];
    if (isReturn(this.root)) this.root.stmts = [];
  }
}

/** What intern_blocks compares: the jump, its successors and the statements that are not NOPs. */
function blockKey(b: OBlock): string {
  let key = `${b.code},${b.k},${b.jt?.index ?? -1},${b.jf?.index ?? -1}`;
  for (const s of b.stmts) if (s.code !== NOP) key += `;${s.code},${s.k}`;
  return key;
}

/** Optimises the program rooted at `root` and lays it out; throws OptimizeError for an expression that rejects every packet. */
export function optimize(root: Block): CbpfInstruction[] {
  const copies = new Map<Block, OBlock>();
  preOrder(root, (b) => copies.set(b, new OBlock(b)));
  for (const [b, c] of copies) {
    c.jt = b.jt === undefined ? undefined : copies.get(b.jt);
    c.jf = b.jf === undefined ? undefined : copies.get(b.jf);
  }
  const optimizer = new Optimizer(copies.get(root)!);
  optimizer.optLoop(false);
  optimizer.optLoop(true);
  optimizer.internBlocks();
  optimizer.optRoot();
  const result = optimizer.root;
  if (isReturn(result) && result.k === 0 && (result.code & 0x18) === RetSrc.K) throw new OptimizeError('expression rejects all packets');
  for (const b of optimizer.reachable()) b.stmts = b.stmts.filter((s) => s.code !== NOP);
  return linearize(result);
}
