/**
 * The compiler's intermediate form, as libpcap's: basic blocks of
 * straight-line statements ending in one conditional jump (or a return),
 * and boolean expressions as a head block with lists of unresolved true
 * and false exits that `and`/`or`/`not` patch (backpatching).
 */
import { Class, Jmp, RetSrc, Src, stmt, type CbpfInstruction } from './opcodes.ts';

export interface Block {
  id: number;
  /** Straight-line statements (no jumps, no returns). */
  stmts: CbpfInstruction[];
  /** The block's final instruction: a conditional jump (code, k) or a return. */
  code: number;
  k: number;
  jt: Block | undefined;
  jf: Block | undefined;
}

interface Exit {
  block: Block;
  side: 'jt' | 'jf';
}

/** A boolean expression under construction. */
export interface Chunk {
  head: Block;
  trueExits: Exit[];
  falseExits: Exit[];
}

export const isReturn = (b: Block): boolean => (b.code & 0x07) === Class.RET;

/** Most blocks one expression may generate: beyond, the program could not load anyway (4096 instructions at most) and the optimiser's work grows fast. */
export const MAX_BLOCKS = 20000;

/** A problem found while generating code; the parser adds the position. */
export class CodegenError extends Error {}

export class BlockFactory {
  private nextId = 0;

  block(code: number, k: number, stmts: CbpfInstruction[] = []): Block {
    if (this.nextId >= MAX_BLOCKS) throw new CodegenError(`expression too complex: more than ${MAX_BLOCKS} blocks of code`);
    return { id: this.nextId++, stmts, code, k: k >>> 0, jt: undefined, jf: undefined };
  }

  /** A conditional block as an expression: true through jt, false through jf. */
  test(stmts: CbpfInstruction[], jumpOp: number, k: number, source: number = Src.K): Chunk {
    const b = this.block(Class.JMP | jumpOp | source, k, stmts);
    return { head: b, trueExits: [{ block: b, side: 'jt' }], falseExits: [{ block: b, side: 'jf' }] };
  }

  ret(k: number): Block {
    return this.block(Class.RET | RetSrc.K, k);
  }

  /** libpcap's gen_true/gen_false: `ld #0|1; jeq #0`, left for the optimiser to fold. */
  constant(value: boolean): Chunk {
    return this.test([stmt(Class.LD, value ? 0 : 1)], Jmp.JEQ, 0);
  }
}

function patch(exits: Exit[], target: Block): void {
  for (const exit of exits) exit.block[exit.side] = target;
}

export function and(a: Chunk, b: Chunk): Chunk {
  patch(a.trueExits, b.head);
  return { head: a.head, trueExits: b.trueExits, falseExits: [...a.falseExits, ...b.falseExits] };
}

export function or(a: Chunk, b: Chunk): Chunk {
  patch(a.falseExits, b.head);
  return { head: a.head, trueExits: [...a.trueExits, ...b.trueExits], falseExits: b.falseExits };
}

export function not(a: Chunk): Chunk {
  return { head: a.head, trueExits: a.falseExits, falseExits: a.trueExits };
}

/** Ends the expression: true exits return `accept`, false ones 0. Returns the root. */
export function finish(factory: BlockFactory, chunk: Chunk, accept: number): Block {
  patch(chunk.trueExits, factory.ret(accept));
  patch(chunk.falseExits, factory.ret(0));
  return chunk.head;
}

/**
 * Depth-first post-order over the blocks reachable from `root`, the `first`
 * successor's subtree before the other's, as the recursive walks of
 * libpcap do; iterative, so that no program is too deep for the stack.
 */
export function postOrder<T extends Block>(root: T, first: 'jt' | 'jf', visit: (b: T) => void): void {
  const second = first === 'jt' ? 'jf' : 'jt';
  const seen = new Set<Block>([root]);
  const stack: Array<{ block: T; stage: number }> = [{ block: root, stage: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.stage < 2) {
      const child = top.block[top.stage === 0 ? first : second] as T | undefined;
      top.stage++;
      if (child !== undefined && !seen.has(child)) {
        seen.add(child);
        stack.push({ block: child, stage: 0 });
      }
      continue;
    }
    stack.pop();
    visit(top.block);
  }
}

/** Depth-first pre-order (a block, then its `jt` subtree, then its `jf` subtree), iterative. */
export function preOrder<T extends Block>(root: T, visit: (b: T) => void): void {
  const seen = new Set<Block>();
  const stack: T[] = [root];
  while (stack.length > 0) {
    const b = stack.pop()!;
    if (seen.has(b)) continue;
    seen.add(b);
    visit(b);
    if (b.jf !== undefined && !seen.has(b.jf)) stack.push(b.jf as T);
    if (b.jt !== undefined && !seen.has(b.jt)) stack.push(b.jt as T);
  }
}
