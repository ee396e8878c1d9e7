import type { Block } from './blocks.ts';
import { linearize } from './linearize.ts';
import type { CbpfInstruction } from './opcodes.ts';

export function optimize(root: Block): CbpfInstruction[] {
  return linearize(root);
}
