import type { Instruction } from '../../isa/instruction.ts';
import {
  CallSrc,
  InsnClass,
  JmpOp,
  OPCODE_CALL,
  OPCODE_JA32,
  OPCODE_LDDW,
  OPCODE_MAY_GOTO,
  jmpOp,
  opClass,
} from '../../isa/opcodes.ts';

/**
 * How a basic block ends. `trap` is a synthetic block for control running
 * past the last slot of the program (the interpreter's "fell off the end"
 * error, raised when that path actually runs).
 */
export type Terminator =
  | { kind: 'fall'; next: number }
  | { kind: 'jump'; target: number }
  | { kind: 'cond'; pc: number; taken: number; next: number }
  | { kind: 'exit'; pc: number }
  | { kind: 'trap'; pc: number };

export interface BasicBlock {
  /** Index within its function's `blocks`. */
  readonly id: number;
  /** First slot. */
  readonly start: number;
  /** One past the last slot. */
  readonly end: number;
  /** Slot of the last instruction (the first slot of an lddw). */
  readonly last: number;
  /** Instructions executed (an lddw counts once), for the instruction budget. */
  readonly insnCount: number;
  terminator: Terminator;
  /** Successor block ids. */
  succs: number[];
  preds: number[];
}

export interface FunctionCfg {
  /** Slot of the function's first instruction. */
  readonly entry: number;
  /** Block 0 is the entry. */
  readonly blocks: BasicBlock[];
}

/** Slot of the target of a jump at `pc`. */
export function jumpTarget(insns: readonly Instruction[], pc: number): number {
  const i = insns[pc]!;
  return i.opcode === OPCODE_JA32 ? pc + 1 + i.imm : pc + 1 + i.offset;
}

export const isLocalCall = (i: Instruction): boolean => i.opcode === OPCODE_CALL && i.src === CallSrc.LOCAL;

/** Entry slots of every subprogram: slot 0 and each bpf-to-bpf call target, sorted. */
export function functionEntries(insns: readonly Instruction[]): number[] {
  const entries = new Set<number>([0]);
  forEachInstruction(insns, (i, pc) => {
    if (isLocalCall(i)) entries.add(pc + 1 + i.imm);
  });
  return [...entries].sort((a, b) => a - b);
}

function forEachInstruction(insns: readonly Instruction[], fn: (i: Instruction, pc: number) => void): void {
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc]!;
    fn(i, pc);
    if (i.opcode === OPCODE_LDDW) pc++;
  }
}

const isCall = (i: Instruction): boolean => {
  const cls = opClass(i.opcode);
  return (cls === InsnClass.JMP || cls === InsnClass.JMP32) && jmpOp(i.opcode) === JmpOp.CALL;
};

/** Jumps, conditional jumps, may_goto and exit end a basic block; calls do not (they return). */
export function endsBlock(i: Instruction): boolean {
  const cls = opClass(i.opcode);
  return (cls === InsnClass.JMP || cls === InsnClass.JMP32) && jmpOp(i.opcode) !== JmpOp.CALL;
}

/** Block boundaries of the whole program: 1 where a slot starts a basic block. */
export function blockLeaders(insns: readonly Instruction[]): Uint8Array {
  const leader = new Uint8Array(insns.length + 1);
  for (const e of functionEntries(insns)) leader[e] = 1;
  forEachInstruction(insns, (i, pc) => {
    // A call ends a block too: the budget is charged per block on entry, and
    // a callee (or a tail-called program) must not find the instructions
    // after the call already charged.
    if (isCall(i)) leader[pc + 1] = 1;
    if (!endsBlock(i)) return;
    leader[pc + 1] = 1;
    if (jmpOp(i.opcode) !== JmpOp.EXIT) leader[jumpTarget(insns, pc)] = 1;
  });
  return leader;
}

/**
 * The basic blocks reachable from `entry` without following calls: the
 * body of one subprogram. The program must have passed the load checks
 * (jump targets inside it, never into an lddw's second slot). As in the
 * interpreter, nothing stops a jump or a fall-through from entering code
 * that also belongs to another subprogram; such code is simply part of both.
 */
export function buildCfg(insns: readonly Instruction[], entry: number, leader: Uint8Array): FunctionCfg {
  const n = insns.length;
  const blocks: BasicBlock[] = [];
  const blockAt = new Map<number, number>();
  const pending: number[] = [];
  let trap = -1;
  const blockFor = (start: number): number => {
    if (start >= n) {
      if (trap < 0) {
        trap = blocks.length;
        blocks.push({ id: trap, start: n, end: n, last: n, insnCount: 0, terminator: { kind: 'trap', pc: n }, succs: [], preds: [] });
      }
      return trap;
    }
    let id = blockAt.get(start);
    if (id === undefined) {
      id = blocks.length;
      blockAt.set(start, id);
      let end = start;
      let count = 0;
      let last = start;
      do {
        last = end;
        end += insns[end]!.opcode === OPCODE_LDDW ? 2 : 1;
        count++;
      } while (end < n && !leader[end] && !endsBlock(insns[last]!));
      blocks.push({ id, start, end, last, insnCount: count, terminator: { kind: 'exit', pc: last }, succs: [], preds: [] });
      pending.push(id);
    }
    return id;
  };
  blockFor(entry);
  while (pending.length > 0) {
    const b = blocks[pending.pop()!]!;
    const last = b.last;
    const i = insns[last]!;
    if (!endsBlock(i)) b.terminator = { kind: 'fall', next: blockFor(b.end) };
    else if (jmpOp(i.opcode) === JmpOp.EXIT) b.terminator = { kind: 'exit', pc: last };
    else if (jmpOp(i.opcode) === JmpOp.JA && i.opcode !== OPCODE_MAY_GOTO) b.terminator = { kind: 'jump', target: blockFor(jumpTarget(insns, last)) };
    else b.terminator = { kind: 'cond', pc: last, taken: blockFor(jumpTarget(insns, last)), next: blockFor(b.end) };
  }
  for (const b of blocks) {
    const t = b.terminator;
    if (t.kind === 'fall') b.succs = [t.next];
    else if (t.kind === 'jump') b.succs = [t.target];
    else if (t.kind === 'cond') b.succs = t.taken === t.next ? [t.taken] : [t.taken, t.next];
  }
  for (const b of blocks) for (const s of b.succs) blocks[s]!.preds.push(b.id);
  return { entry, blocks };
}

/** Reverse postorder of the blocks reachable from block 0, and each block's position in it (-1 if unreachable). */
export function reversePostorder(cfg: FunctionCfg): { order: number[]; index: Int32Array } {
  const n = cfg.blocks.length;
  const visited = new Uint8Array(n);
  const post: number[] = [];
  // Iterative DFS so that long programs cannot overflow the JS stack.
  const stack: [number, number][] = [[0, 0]];
  visited[0] = 1;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const succs = cfg.blocks[top[0]]!.succs;
    if (top[1] < succs.length) {
      const s = succs[top[1]++]!;
      if (!visited[s]) {
        visited[s] = 1;
        stack.push([s, 0]);
      }
    } else {
      post.push(top[0]);
      stack.pop();
    }
  }
  const order = post.reverse();
  const index = new Int32Array(n).fill(-1);
  order.forEach((b, i) => (index[b] = i));
  return { order, index };
}

/** Immediate dominators (Cooper, Harvey and Kennedy, "A Simple, Fast Dominance Algorithm"). -1 for the entry and unreachable blocks. */
export function immediateDominators(cfg: FunctionCfg, rpo: { order: number[]; index: Int32Array }): Int32Array {
  const idom = new Int32Array(cfg.blocks.length).fill(-1);
  const entry = rpo.order[0]!;
  idom[entry] = entry;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while (rpo.index[a]! > rpo.index[b]!) a = idom[a]!;
      while (rpo.index[b]! > rpo.index[a]!) b = idom[b]!;
    }
    return a;
  };
  let changed = true;
  while (changed) {
    changed = false;
    for (const b of rpo.order) {
      if (b === entry) continue;
      let dom = -1;
      for (const p of cfg.blocks[b]!.preds) {
        if (rpo.index[p] === -1 || idom[p] === -1) continue;
        dom = dom === -1 ? p : intersect(p, dom);
      }
      if (dom !== idom[b]) {
        idom[b] = dom;
        changed = true;
      }
    }
  }
  idom[entry] = -1;
  return idom;
}

/** Whether `a` dominates `b` (walking b's dominator chain). */
export function dominates(idom: Int32Array, a: number, b: number): boolean {
  for (let x = b; x !== -1; x = idom[x]!) if (x === a) return true;
  return false;
}
