import { dominates, immediateDominators, reversePostorder } from './cfg.ts';
import type { BasicBlock, FunctionCfg } from './cfg.ts';
import { I32, Op } from './wasm.ts';
import type { FunctionBody } from './wasm.ts';

/** What the structurer needs from the instruction translator. */
export interface BlockEmitter {
  /** Straight-line code of the block (everything but a jump/exit at its end). */
  body(block: BasicBlock): void;
  /** Pushes the i32 condition of a `cond` block's final jump (non-zero: taken). */
  condition(block: BasicBlock): void;
  /** Returns from the function (exit) or raises the trap of a `trap` block. */
  leave(block: BasicBlock): void;
}

/**
 * Rebuilds structured control flow from a CFG. Reducible graphs (everything
 * clang emits) go through Ramsey's algorithm ("Beyond Relooper", 2022): a walk
 * of the dominator tree where a loop header opens a `loop`, each dominator
 * tree child with several forward predecessors (a merge node) is placed after
 * a `block` that branches to it, and every other edge is either a `br` to an
 * enclosing label or the inlined subtree. Irreducible graphs, which only
 * unverified programs can have, fall back to a dispatcher: one `loop` around
 * a `br_table` over all blocks, with a local holding the next block.
 *
 * Returns which strategy was used. `forceDispatch` uses the fallback for
 * any graph (to test and measure it).
 */
export function emitStructured(cfg: FunctionCfg, f: FunctionBody, emit: BlockEmitter, forceDispatch = false): 'structured' | 'dispatch' {
  const rpo = reversePostorder(cfg);
  if (forceDispatch) {
    emitDispatch(cfg, rpo.order, f, emit);
    return 'dispatch';
  }
  const idom = immediateDominators(cfg, rpo);
  const pos = rpo.index;
  for (const b of rpo.order) {
    for (const s of cfg.blocks[b]!.succs) {
      if (pos[s]! <= pos[b]! && !dominates(idom, s, b)) {
        emitDispatch(cfg, rpo.order, f, emit);
        return 'dispatch';
      }
    }
  }
  new Structurer(cfg, f, emit, pos, idom).run(rpo.order[0]!);
  f.op(Op.unreachable);
  return 'structured';
}

/**
 * Ramsey's algorithm as a work list rather than recursion (a long chain of
 * conditionals nests as deep as the program is long). Labels are tracked by
 * absolute nesting depth: the `loop` of header x and the `block` followed by
 * merge node y record the depth at which they were opened, so a branch
 * from depth d to them is `br (d - 1 - opened)`.
 */
class Structurer {
  private readonly children: number[][];
  private readonly loopHeader: Uint8Array;
  private readonly merge: Uint8Array;
  private readonly loopOpenedAt: Int32Array;
  private readonly blockOpenedAt: Int32Array;
  private readonly work: (() => void)[] = [];

  constructor(
    private readonly cfg: FunctionCfg,
    private readonly f: FunctionBody,
    private readonly emit: BlockEmitter,
    private readonly pos: Int32Array,
    idom: Int32Array,
  ) {
    const n = cfg.blocks.length;
    this.children = Array.from({ length: n }, () => []);
    this.loopHeader = new Uint8Array(n);
    this.merge = new Uint8Array(n);
    this.loopOpenedAt = new Int32Array(n).fill(-1);
    this.blockOpenedAt = new Int32Array(n).fill(-1);
    for (const b of cfg.blocks) {
      if (pos[b.id] === -1) continue;
      if (idom[b.id]! >= 0) this.children[idom[b.id]!]!.push(b.id);
      let forward = 0;
      for (const p of b.preds) {
        if (pos[p] === -1) continue;
        if (pos[p]! >= pos[b.id]!) this.loopHeader[b.id] = 1;
        else forward++;
      }
      if (forward >= 2) this.merge[b.id] = 1;
    }
  }

  run(entry: number): void {
    this.work.push(() => this.tree(entry, 0));
    while (this.work.length > 0) this.work.pop()!();
  }

  /** Schedules actions to run in the order given (the work list is LIFO). */
  private then(...actions: (() => void)[]): void {
    for (let k = actions.length - 1; k >= 0; k--) this.work.push(actions[k]!);
  }

  private end = (): void => {
    this.f.op(Op.end);
  };

  private tree(x: number, depth: number): void {
    // Merge children, outermost block (latest in reverse postorder) first.
    const merges = this.children[x]!.filter((c) => this.merge[c]).sort((a, b) => this.pos[b]! - this.pos[a]!);
    if (this.loopHeader[x]) {
      this.f.block(Op.loop);
      this.loopOpenedAt[x] = depth;
      this.then(() => this.within(x, merges, 0, depth + 1), this.end);
    } else {
      this.within(x, merges, 0, depth);
    }
  }

  private within(x: number, merges: number[], k: number, depth: number): void {
    if (k === merges.length) {
      this.code(x, depth);
      return;
    }
    const y = merges[k]!;
    this.f.block(Op.block);
    this.blockOpenedAt[y] = depth;
    this.then(
      () => this.within(x, merges, k + 1, depth + 1),
      this.end,
      () => this.tree(y, depth),
    );
  }

  private code(x: number, depth: number): void {
    const b = this.cfg.blocks[x]!;
    this.emit.body(b);
    const t = b.terminator;
    switch (t.kind) {
      case 'fall':
        return this.branch(x, t.next, depth);
      case 'jump':
        return this.branch(x, t.target, depth);
      case 'exit':
      case 'trap':
        return this.emit.leave(b);
      case 'cond': {
        if (t.taken === t.next) return this.branch(x, t.next, depth);
        this.emit.condition(b);
        if (this.isBr(x, t.taken)) {
          this.f.br(Op.br_if, this.label(x, t.taken, depth));
          return this.branch(x, t.next, depth);
        }
        if (this.isBr(x, t.next)) {
          this.f.op(Op.i32_eqz).br(Op.br_if, this.label(x, t.next, depth));
          return this.branch(x, t.taken, depth);
        }
        this.f.block(Op.if);
        this.then(
          () => this.branch(x, t.taken, depth + 1),
          () => this.f.op(Op.else),
          () => this.branch(x, t.next, depth + 1),
          this.end,
        );
        return;
      }
    }
  }

  private isBr(from: number, to: number): boolean {
    return this.pos[to]! <= this.pos[from]! || this.merge[to] === 1;
  }

  /** Relative depth of the label an edge branches to, from nesting depth `depth`. */
  private label(from: number, to: number, depth: number): number {
    const opened = this.pos[to]! <= this.pos[from]! ? this.loopOpenedAt[to]! : this.blockOpenedAt[to]!;
    if (opened < 0 || opened >= depth) throw new Error(`structurer: no enclosing label for edge ${from} -> ${to}`);
    return depth - 1 - opened;
  }

  private branch(from: number, to: number, depth: number): void {
    if (this.isBr(from, to)) this.f.br(Op.br, this.label(from, to, depth));
    else this.work.push(() => this.tree(to, depth));
  }
}

/** The irreducible fallback: `loop { block* { br_table } code... }` over the reachable blocks. */
function emitDispatch(cfg: FunctionCfg, order: number[], f: FunctionBody, emit: BlockEmitter): void {
  const next = f.local(I32);
  const slot = new Int32Array(cfg.blocks.length).fill(-1);
  order.forEach((b, i) => (slot[b] = i));
  const n = order.length;
  // Block i's code sits after the i-th `end`; at that point the dispatch
  // loop is n - 1 - i labels out.
  const goTo = (from: number, to: number): void => {
    f.i32Const(slot[to]!).set(next).br(Op.br, n - 1 - from);
  };
  f.i32Const(0).set(next);
  f.block(Op.loop);
  for (let i = 0; i < n; i++) f.block(Op.block);
  f.get(next).byte(Op.br_table).u32(n);
  for (let i = 0; i < n; i++) f.u32(i);
  f.u32(n - 1);
  for (let i = 0; i < n; i++) {
    f.op(Op.end);
    const b = cfg.blocks[order[i]!]!;
    emit.body(b);
    const t = b.terminator;
    if (t.kind === 'fall') goTo(i, t.next);
    else if (t.kind === 'jump') goTo(i, t.target);
    else if (t.kind === 'exit' || t.kind === 'trap') emit.leave(b);
    else {
      emit.condition(b);
      f.block(Op.if);
      // Inside the `if` the loop is one label further out.
      f.i32Const(slot[t.taken]!).set(next).br(Op.br, n - i);
      f.op(Op.end);
      goTo(i, t.next);
    }
  }
  f.op(Op.end);
  f.op(Op.unreachable);
}
