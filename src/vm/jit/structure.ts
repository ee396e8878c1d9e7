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

type Frame = { kind: 'loop'; header: number } | { kind: 'block'; follower: number } | { kind: 'if' };

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
  new Structurer(cfg, f, emit, pos, idom).tree(rpo.order[0]!, []);
  f.op(Op.unreachable);
  return 'structured';
}

class Structurer {
  private readonly children: number[][];
  private readonly loopHeader: Uint8Array;
  private readonly merge: Uint8Array;

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

  tree(x: number, ctx: Frame[]): void {
    // Merge children, outermost block (latest in reverse postorder) first.
    const merges = this.children[x]!.filter((c) => this.merge[c]).sort((a, b) => this.pos[b]! - this.pos[a]!);
    if (this.loopHeader[x]) {
      this.f.block(Op.loop);
      this.within(x, merges, [{ kind: 'loop', header: x }, ...ctx]);
      this.f.op(Op.end);
    } else {
      this.within(x, merges, ctx);
    }
  }

  private within(x: number, merges: number[], ctx: Frame[]): void {
    if (merges.length === 0) {
      this.code(x, ctx);
      return;
    }
    const [y, ...inner] = merges as [number, ...number[]];
    this.f.block(Op.block);
    this.within(x, inner, [{ kind: 'block', follower: y }, ...ctx]);
    this.f.op(Op.end);
    this.tree(y, ctx);
  }

  private code(x: number, ctx: Frame[]): void {
    const b = this.cfg.blocks[x]!;
    this.emit.body(b);
    const t = b.terminator;
    switch (t.kind) {
      case 'fall':
        return this.branch(x, t.next, ctx);
      case 'jump':
        return this.branch(x, t.target, ctx);
      case 'exit':
      case 'trap':
        return this.emit.leave(b);
      case 'cond': {
        if (t.taken === t.next) return this.branch(x, t.next, ctx);
        this.emit.condition(b);
        if (this.isBr(x, t.taken)) {
          this.f.br(Op.br_if, this.depth(x, t.taken, ctx));
          return this.branch(x, t.next, ctx);
        }
        if (this.isBr(x, t.next)) {
          this.f.op(Op.i32_eqz).br(Op.br_if, this.depth(x, t.next, ctx));
          return this.branch(x, t.taken, ctx);
        }
        const inner: Frame[] = [{ kind: 'if' }, ...ctx];
        this.f.block(Op.if);
        this.branch(x, t.taken, inner);
        this.f.op(Op.else);
        this.branch(x, t.next, inner);
        this.f.op(Op.end);
        return;
      }
    }
  }

  private isBr(from: number, to: number): boolean {
    return this.pos[to]! <= this.pos[from]! || this.merge[to] === 1;
  }

  private depth(from: number, to: number, ctx: Frame[]): number {
    const backward = this.pos[to]! <= this.pos[from]!;
    const i = ctx.findIndex((fr) => (backward ? fr.kind === 'loop' && fr.header === to : fr.kind === 'block' && fr.follower === to));
    if (i < 0) throw new Error(`structurer: no label for edge ${from} -> ${to}`);
    return i;
  }

  private branch(from: number, to: number, ctx: Frame[]): void {
    if (this.isBr(from, to)) this.f.br(Op.br, this.depth(from, to, ctx));
    else this.tree(to, ctx);
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
