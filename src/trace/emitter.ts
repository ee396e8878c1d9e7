import { AluOp, JmpOp, LdImm64Src, Size, alu64Imm, alu64Reg, callHelper, exit, ja, jmpImm, jmpReg, lddw, ldx, mov64Imm, mov64Reg, st, stx, type Instruction } from '../isa/index.ts';
import type { Relocation } from '../object/index.ts';
import { helperByName } from '../uapi/index.ts';
import { type SourceSpan, TraceLimitError, traceError } from './errors.ts';

export const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6, R7 = 7, R8 = 8, R9 = 9, FP = 10;

/** The kernel's limit on a program's instructions (BPF_COMPLEXITY_LIMIT_INSNS, for privileged loaders). */
export const MAX_INSNS = 1_000_000;

/** The kernel's BPF stack limit per program. */
export const STACK_LIMIT = 512;

export interface Label {
  position: number | undefined;
}

/**
 * Instructions with forward labels, map relocations and a stack allocator
 * for one generated program.
 */
export class Emitter {
  readonly instructions: Instruction[] = [];
  readonly relocations: Relocation[] = [];
  readonly #fixups: { slot: number; label: Label }[] = [];
  /** Where in the script each run of instructions comes from, so a verifier refusal can name the script's line. */
  readonly positions: { insnIndex: number; span: SourceSpan }[] = [];
  #stackTop = 0;
  #stackHigh = 0;

  emit(...slots: Instruction[]): void {
    this.instructions.push(...slots);
    if (this.instructions.length > MAX_INSNS) throw new TraceLimitError(`the probe's program exceeds the kernel's limit of ${MAX_INSNS} instructions: split the work over several probes or use loops`, this.positions.at(-1)?.span);
  }

  /** The instructions emitted from now on come from `span`. */
  at(span: SourceSpan): void {
    const last = this.positions.at(-1);
    if (last?.insnIndex === this.instructions.length) last.span = span;
    else this.positions.push({ insnIndex: this.instructions.length, span });
  }

  label(): Label {
    return { position: undefined };
  }

  place(label: Label): void {
    label.position = this.instructions.length;
  }

  jumpImm(op: number, reg: number, imm: number, label: Label): void {
    this.#fixups.push({ slot: this.instructions.length, label });
    this.emit(jmpImm(op as never, reg, imm, 0));
  }

  jumpReg(op: number, reg: number, src: number, label: Label): void {
    this.#fixups.push({ slot: this.instructions.length, label });
    this.emit(jmpReg(op as never, reg, src, 0));
  }

  /** Whether a jump to `label` was emitted. */
  targeted(label: Label): boolean {
    return this.#fixups.some((f) => f.label === label);
  }

  /** Whether the last instruction is an unconditional jump (so code placed next is reached only through a label). */
  endsWithGoto(): boolean {
    const last = this.#fixups.at(-1);
    return last !== undefined && last.slot === this.instructions.length - 1 && this.instructions[last.slot]!.opcode === ja(0).opcode;
  }

  goto(label: Label): void {
    this.#fixups.push({ slot: this.instructions.length, label });
    this.emit(ja(0));
  }

  call(helper: string): void {
    const spec = helperByName(helper);
    if (spec === undefined) throw new Error(`unknown helper ${helper}`);
    this.emit(callHelper(spec.id));
  }

  loadMap(reg: number, mapName: string): void {
    this.relocations.push({ kind: 'map', insnIndex: this.instructions.length, mapName });
    this.emit(...lddw(reg, 0, LdImm64Src.MAP_FD));
  }

  loadConstant(reg: number, value: bigint): void {
    const v = BigInt.asIntN(64, value);
    if (v >= -(1n << 31n) && v < 1n << 31n) this.emit(mov64Imm(reg, Number(v)));
    else this.emit(...lddw(reg, v));
  }

  /** `reg = fp + offset`. */
  stackAddress(reg: number, offset: number): void {
    this.emit(mov64Reg(reg, FP), alu64Imm(AluOp.ADD, reg, offset));
  }

  /** Zeroes `size` bytes (a multiple of 8) of stack at `offset`. */
  zero(offset: number, size: number): void {
    for (let at = 0; at < size; at += 8) this.emit(st(Size.DW, FP, offset + at, 0));
  }

  /** Copies `size` bytes (a multiple of 8) from `src + srcOffset` to `dst + dstOffset` through `scratch`. */
  copy(dst: number, dstOffset: number, src: number, srcOffset: number, size: number, scratch = R0): void {
    for (let at = 0; at < size; at += 8) this.emit(ldx(Size.DW, scratch, src, srcOffset + at), stx(Size.DW, dst, dstOffset + at, scratch));
  }

  /** Reserves `size` bytes of stack (rounded up to 8); returns the fp-relative offset. */
  alloc(size: number, span: SourceSpan | undefined): number {
    this.#stackTop += (size + 7) & ~7;
    if (this.#stackTop > STACK_LIMIT) throw traceError(`the probe needs more than the kernel's ${STACK_LIMIT}-byte stack (${this.#stackTop} bytes): use shorter strings or fewer values per printf`, span);
    this.#stackHigh = Math.max(this.#stackHigh, this.#stackTop);
    return -this.#stackTop;
  }

  get stackMark(): number {
    return this.#stackTop;
  }

  release(mark: number): void {
    this.#stackTop = mark;
  }

  get stackUsed(): number {
    return this.#stackHigh;
  }

  finish(): Instruction[] {
    for (const f of this.#fixups) {
      if (f.label.position === undefined) throw new Error('a label was never placed');
      const relative = f.label.position - (f.slot + 1);
      if (relative < -32768 || relative > 32767) throw traceError('the probe is too large (a jump exceeds 32767 instructions)', undefined);
      this.instructions[f.slot] = { ...this.instructions[f.slot]!, offset: relative };
    }
    return this.instructions;
  }
}

export { AluOp, JmpOp, Size, alu64Imm, alu64Reg, exit, ldx, mov64Imm, mov64Reg, st, stx };
