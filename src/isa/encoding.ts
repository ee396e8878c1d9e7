import { TsbpfError } from '../errors.ts';
import { type Instruction, isLddw } from './instruction.ts';
import { INSN_SIZE } from './opcodes.ts';
import { instructionProblem } from './validate.ts';

export type Endianness = 'little' | 'big';

/** A malformed instruction stream; `index` is the slot of the bad instruction. */
export class DecodeError extends TsbpfError {
  override name = 'DecodeError';
  constructor(
    readonly index: number,
    readonly reason: string,
    readonly instruction?: Instruction,
  ) {
    super(`instruction ${index}: ${reason}`);
  }
}

export interface DecodeOptions {
  endianness?: Endianness;
  /** Reject unknown opcodes and reserved fields (default true). */
  validate?: boolean;
}

/**
 * Decodes raw bytes (struct bpf_insn[]) into instruction slots. The register
 * nibbles are dst-low/src-high on little-endian and swapped on big-endian,
 * as in the kernel's bitfield layout.
 */
export function decode(bytes: Uint8Array, options: DecodeOptions = {}): Instruction[] {
  const little = (options.endianness ?? 'little') === 'little';
  if (bytes.length % INSN_SIZE !== 0) {
    throw new DecodeError(Math.floor(bytes.length / INSN_SIZE), `${bytes.length} bytes is not a whole number of 8-byte instructions`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Instruction[] = new Array(bytes.length / INSN_SIZE);
  for (let n = 0; n < out.length; n++) {
    const at = n * INSN_SIZE;
    const regs = bytes[at + 1]!;
    out[n] = {
      opcode: bytes[at]!,
      dst: little ? regs & 0xf : regs >> 4,
      src: little ? regs >> 4 : regs & 0xf,
      offset: view.getInt16(at + 2, little),
      imm: view.getInt32(at + 4, little),
    };
  }
  if (options.validate ?? true) validateProgram(out);
  return out;
}

/** Throws a DecodeError for the first malformed instruction. */
export function validateProgram(program: readonly Instruction[]): void {
  for (let n = 0; n < program.length; n++) {
    const i = program[n]!;
    const problem = instructionProblem(i, program[n + 1]);
    if (problem !== undefined) throw new DecodeError(n, problem, i);
    if (isLddw(i)) n++;
  }
}

/** Encodes instruction slots to bytes. */
export function encode(program: readonly Instruction[], endianness: Endianness = 'little'): Uint8Array {
  const little = endianness === 'little';
  const bytes = new Uint8Array(program.length * INSN_SIZE);
  const view = new DataView(bytes.buffer);
  program.forEach((i, n) => {
    const at = n * INSN_SIZE;
    bytes[at] = i.opcode;
    bytes[at + 1] = little ? (i.dst & 0xf) | ((i.src & 0xf) << 4) : ((i.dst & 0xf) << 4) | (i.src & 0xf);
    view.setInt16(at + 2, i.offset, little);
    view.setInt32(at + 4, i.imm, little);
  });
  return bytes;
}
