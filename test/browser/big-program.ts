// A program whose JIT module is over 8 MB (about 44 bytes of checked
// WebAssembly per stack access), split into subprograms so that each
// function stays under V8's per-function limit: what Chromium refuses to
// compile on a page's main thread and compiles in a Worker.
import { type Instruction, callLocal, exit, ldx, mov64Imm, stx } from '../../src/isa/instruction.ts';
import { Size } from '../../src/isa/opcodes.ts';

const SUBPROGRAMS = 4;
const SUBPROGRAM_SLOTS = 50_000;

export function bigProgram(): Instruction[] {
  const subprogram = (): Instruction[] => [
    ...Array.from({ length: SUBPROGRAM_SLOTS }, (_, i) => (i % 2 ? ldx(Size.DW, 0, 10, -8 * (1 + (i % 8))) : stx(Size.DW, 10, -8 * (1 + (i % 8)), 0))),
    mov64Imm(0, 0),
    exit(),
  ];
  const size = SUBPROGRAM_SLOTS + 2;
  // main: call each subprogram (a call at pc jumps to pc + 1 + imm), then return 7.
  const main = [...Array.from({ length: SUBPROGRAMS }, (_, i) => callLocal(SUBPROGRAMS - i + 1 + i * size)), mov64Imm(0, 7), exit()];
  return [...main, ...Array.from({ length: SUBPROGRAMS }, subprogram).flat()];
}
