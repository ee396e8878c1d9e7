/**
 * Blocks to classic instructions, laid out as libpcap's icode_to_fcode
 * does: a block, then what its true branch reaches, then what its false
 * branch reaches. A branch farther than 255 instructions goes through a
 * `ja` placed right after the jump, as libpcap's long jumps do.
 */
import { isReturn, postOrder, type Block } from './blocks.ts';
import { Class, Jmp, jump, stmt, type CbpfInstruction } from './opcodes.ts';
import { CodegenError } from './codegen.ts';

export function linearize(root: Block): CbpfInstruction[] {
  const order: Block[] = [];
  // Post-order with the false branch first, reversed: block, true side, false side.
  postOrder(root, 'jf', (b) => order.push(b));
  order.reverse();
  const longJt = new Set<Block>();
  const longJf = new Set<Block>();
  for (;;) {
    const offsets = new Map<Block, number>();
    let at = 0;
    for (const b of order) {
      offsets.set(b, at);
      at += b.stmts.length + 1 + (longJt.has(b) ? 1 : 0) + (longJf.has(b) ? 1 : 0);
    }
    const out: CbpfInstruction[] = [];
    let retry = false;
    for (const b of order) {
      out.push(...b.stmts.map((s) => ({ ...s })));
      if (isReturn(b)) {
        out.push(stmt(b.code, b.k));
        continue;
      }
      const jumpAt = offsets.get(b)! + b.stmts.length;
      const extras: CbpfInstruction[] = [];
      const branch = (target: Block | undefined, long: Set<Block>): number => {
        if (target === undefined) throw new CodegenError('internal: unpatched branch');
        const off = offsets.get(target)! - jumpAt - 1;
        if (off < 256) return off;
        if (!long.has(b)) {
          long.add(b);
          retry = true;
          return 0;
        }
        extras.push(stmt(Class.JMP | Jmp.JA, off - extras.length - 1));
        return extras.length - 1;
      };
      const jt = branch(b.jt, longJt);
      const jf = branch(b.jf, longJf);
      out.push(jump(b.code, b.k, jt, jf), ...extras);
    }
    if (!retry) return out;
  }
}
