import { helperByName } from '../uapi/helpers.ts';
import { type Cursor, AsmError } from './asm-lexer.ts';
import { type Instruction, insn } from './instruction.ts';
import { CallSrc, OPCODE_EXIT } from './opcodes.ts';

/** A jump or call destination: a relative slot count, or a label resolved after the whole source is read. */
export type Target = { readonly relative: number } | { readonly label: string; readonly column: number };

interface Fixup {
  readonly slot: number;
  readonly field: 'offset' | 'imm';
  readonly label: string;
  readonly line: number;
  readonly column: number;
  /** `call name` in the C-like syntax: a label if one is defined, otherwise a helper name. */
  readonly callByName: boolean;
}

/** Collects slots, labels and forward references; `finish` resolves the references. */
export class ProgramBuilder {
  readonly slots: Instruction[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: Fixup[] = [];
  private firstExit: number | undefined;

  constructor(
    /** uBPF dialect: the first `exit` instruction is implicitly labelled `exit`. */
    private readonly implicitExitLabel: boolean,
    private readonly resolveHelper: (name: string) => number | undefined,
  ) {}

  get nextSlot(): number {
    return this.slots.length;
  }

  defineLabel(name: string, line: number, column: number): void {
    if (this.labels.has(name)) throw new AsmError(line, column, `label '${name}' is already defined`);
    this.labels.set(name, this.slots.length);
  }

  emit(...slots: Instruction[]): void {
    if (slots[0]?.opcode === OPCODE_EXIT && this.firstExit === undefined) this.firstExit = this.slots.length;
    this.slots.push(...slots);
  }

  /** Emits `i` with `field` set from `target`, now or once the label is known. */
  emitWithTarget(i: Instruction, field: 'offset' | 'imm', target: Target, at: Cursor): void {
    if ('relative' in target) {
      this.emit(field === 'offset' ? { ...i, offset: target.relative } : { ...i, imm: target.relative });
      return;
    }
    this.fixups.push({ slot: this.slots.length, field, label: target.label, line: at.line, column: target.column, callByName: false });
    this.emit(i);
  }

  /** `call name`: a local call when `name` is a label, else a helper call by name. */
  emitCallByName(name: string, line: number, column: number): void {
    this.fixups.push({ slot: this.slots.length, field: 'imm', label: name, line, column, callByName: true });
    this.emit(insn(0x85));
  }

  finish(): Instruction[] {
    for (const f of this.fixups) {
      const target = this.labels.get(f.label) ?? (this.implicitExitLabel && f.label === 'exit' ? this.firstExit : undefined);
      const slot = this.slots[f.slot]!;
      if (target === undefined) {
        if (f.callByName) {
          const id = this.resolveHelper(f.label) ?? helperByName(f.label)?.id;
          if (id === undefined) throw new AsmError(f.line, f.column, `'${f.label}' is neither a label nor a known helper`);
          slot.imm = id;
          slot.src = CallSrc.HELPER;
          continue;
        }
        throw new AsmError(f.line, f.column, `undefined label '${f.label}'`);
      }
      const relative = target - (f.slot + 1);
      if (f.callByName) slot.src = CallSrc.LOCAL;
      if (f.field === 'imm') {
        slot.imm = relative;
      } else {
        if (relative < -32768 || relative > 32767) {
          throw new AsmError(f.line, f.column, `jump to '${f.label}' is ${relative} instructions away, beyond the 16-bit offset range (use gotol)`);
        }
        slot.offset = relative;
      }
    }
    return this.slots;
  }
}
