import {
  AluOp,
  AtomicOp,
  type Instruction,
  JmpOp,
  Size,
  alu32Imm,
  alu32Reg,
  alu64Imm,
  alu64Reg,
  atomic,
  callHelper,
  callLocal,
  exit,
  insn,
  InsnClass,
  ja,
  jmp32Imm,
  jmp32Reg,
  jmpImm,
  jmpReg,
  lddw,
  ldx,
  ldxs,
  loadAcquire,
  mov64Imm,
  mov64Reg,
  st,
  storeRelease,
  stx,
  EndSource,
  Source,
  mayGoto,
} from '../../src/isa/index.ts';

/**
 * A generator of random valid programs for differential testing of the JIT
 * against the interpreter. The grammar covers every instruction class:
 * ALU/ALU64 (all operations, both sources, signed division, movsx, byte
 * swaps), loads and stores of every width to the stack and to an input
 * buffer (directly and through a derived pointer), atomics, load-acquire /
 * store-release, conditional and unconditional forward jumps, bounded
 * loops (counter and may_goto), bpf-to-bpf calls and calls to a test helper.
 *
 * Register roles keep every program memory-safe, terminating and
 * independent of addresses: r6 = the buffer (BUFFER_SIZE bytes), r9 = a
 * scratch pointer derived right before its use, r10 = the frame pointer;
 * pointers are only used as bases of accesses. Loop counters are not
 * written by the loop's body. Everything else is fair game.
 */

export const BUFFER_SIZE = 64;
export const TEST_HELPER_ID = 1000;

/** xorshift32: deterministic, seedable. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return this.next() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() / 4294967296 < p;
  }
  /** An interesting 32-bit immediate: small, boundary or random. */
  imm(): number {
    switch (this.below(6)) {
      case 0:
        return this.below(17) - 8;
      case 1:
        return this.pick([0, 1, -1, 0x7fffffff, -0x80000000, 0xffff, 0x80, 31, 32, 63, 64]);
      default:
        return this.next() | 0;
    }
  }
}

type Item = { insn: Instruction; target?: number; second?: Instruction } | { label: number };

const ALU_OPS = [AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.OR, AluOp.AND, AluOp.LSH, AluOp.RSH, AluOp.NEG, AluOp.MOD, AluOp.XOR, AluOp.MOV, AluOp.ARSH, AluOp.END];
const JMP_OPS = [JmpOp.JEQ, JmpOp.JGT, JmpOp.JGE, JmpOp.JSET, JmpOp.JNE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSLT, JmpOp.JSLE];
const SIZES = [Size.B, Size.H, Size.W, Size.DW];
const ATOMIC_OPS = [
  AtomicOp.ADD,
  AtomicOp.OR,
  AtomicOp.AND,
  AtomicOp.XOR,
  AtomicOp.ADD | AtomicOp.FETCH,
  AtomicOp.OR | AtomicOp.FETCH,
  AtomicOp.AND | AtomicOp.FETCH,
  AtomicOp.XOR | AtomicOp.FETCH,
  AtomicOp.XCHG,
  AtomicOp.CMPXCHG,
];
const sizeBytes = (s: number): number => (s === Size.B ? 1 : s === Size.H ? 2 : s === Size.W ? 4 : 8);

class FunctionGen {
  readonly items: Item[] = [];
  private labels = 0;

  constructor(
    private readonly rng: Rng,
    /** Index of this function; it may call functions with higher indices only (no recursion). */
    private readonly index: number,
    private readonly functions: number,
    private readonly nextLabel: () => number,
    private readonly sharedRegisters: boolean,
  ) {}

  label(): number {
    this.labels++;
    return this.nextLabel();
  }

  emit(i: Instruction, target?: number): void {
    this.items.push(target === undefined ? { insn: i } : { insn: i, target });
  }

  /** Registers an operation may write: r0-r5, r7, r8 minus live loop counters. */
  private writable(busy: ReadonlySet<number>): number[] {
    return [0, 1, 2, 3, 4, 5, 7, 8].filter((r) => !busy.has(r));
  }

  /**
   * A register that may be read as a value. Pointers (r6, r9, r10) never
   * flow into data, so results do not depend on where the engines place
   * their stacks and buffers.
   */
  private readable(): number {
    return this.rng.pick([0, 1, 2, 3, 4, 5, 7, 8]);
  }

  body(size: number, depth: number, busy: ReadonlySet<number>): void {
    for (let k = 0; k < size; k++) {
      const roll = this.rng.below(100);
      if (roll < 40) this.alu(busy);
      else if (roll < 60) this.memory(busy);
      else if (roll < 68) this.atomicOp(busy);
      else if (roll < 78 && depth < 3) this.skip(size - k, depth, busy);
      else if (roll < 84 && depth < 2) this.loop(depth, busy);
      else if (roll < 89) this.helper(busy);
      else if (roll < 93 && this.index + 1 < this.functions) this.call(busy);
      else this.alu(busy);
    }
  }

  alu(busy: ReadonlySet<number>): void {
    const { rng } = this;
    const dst = rng.pick(this.writable(busy));
    const op = rng.pick(ALU_OPS);
    const wide = rng.chance(0.5);
    const x = rng.chance(0.5);
    const src = this.readable();
    if (op === AluOp.NEG) return this.emit(wide ? alu64Imm(op, dst, 0) : alu32Imm(op, dst, 0));
    if (op === AluOp.END) {
      const width = rng.pick([16, 32, 64]);
      if (wide) return this.emit(insn(InsnClass.ALU64 | AluOp.END, dst, 0, 0, width));
      return this.emit(insn(InsnClass.ALU | AluOp.END | rng.pick([EndSource.TO_LE, EndSource.TO_BE]), dst, 0, 0, width));
    }
    if (op === AluOp.MOV && x && rng.chance(0.5)) {
      const offset = wide ? rng.pick([8, 16, 32]) : rng.pick([8, 16]);
      return this.emit(insn((wide ? InsnClass.ALU64 : InsnClass.ALU) | AluOp.MOV | Source.X, dst, src, offset));
    }
    if ((op === AluOp.DIV || op === AluOp.MOD) && rng.chance(0.5)) {
      // Signed division (offset 1), with the edge divisors often.
      const cls = wide ? InsnClass.ALU64 : InsnClass.ALU;
      if (x) return this.emit(insn(cls | op | Source.X, dst, src, 1));
      return this.emit(insn(cls | op | Source.K, dst, 0, 1, rng.pick([0, -1, 1, rng.imm()])));
    }
    if (op === AluOp.MOV && !x && wide && rng.chance(0.3)) {
      const [a, b] = lddw(dst, (BigInt(rng.next()) << 32n) | BigInt(rng.next()));
      this.items.push({ insn: a, second: b });
      return;
    }
    if (x) this.emit(wide ? alu64Reg(op, dst, src) : alu32Reg(op, dst, src));
    else this.emit(wide ? alu64Imm(op, dst, rng.imm()) : alu32Imm(op, dst, rng.imm()));
  }

  /** Emits a base register setup if needed and returns [base, offset] for a `bytes`-wide access. */
  private place(bytes: number): [number, number] {
    const { rng } = this;
    switch (rng.below(3)) {
      case 0:
        return [6, rng.below(BUFFER_SIZE - bytes + 1)];
      case 1:
        return [10, -bytes - rng.below(512 - bytes + 1)];
      default: {
        // A derived pointer, so the access goes through the checked path.
        if (rng.chance(0.5)) {
          const k = rng.below(BUFFER_SIZE - bytes + 1);
          this.emit(mov64Reg(9, 6));
          this.emit(alu64Imm(AluOp.ADD, 9, k));
          return [9, rng.below(BUFFER_SIZE - bytes - k + 1)];
        }
        const k = rng.below(256);
        this.emit(mov64Reg(9, 10));
        this.emit(alu64Imm(AluOp.ADD, 9, -k));
        return [9, -bytes - rng.below(512 - k - bytes + 1)];
      }
    }
  }

  memory(busy: ReadonlySet<number>): void {
    const { rng } = this;
    const size = rng.pick(SIZES);
    const bytes = sizeBytes(size);
    const [base, offset] = this.place(bytes);
    switch (rng.below(5)) {
      case 0:
        return this.emit(ldx(size, rng.pick(this.writable(busy)), base, offset));
      case 1:
        if (size !== Size.DW) return this.emit(ldxs(size, rng.pick(this.writable(busy)), base, offset));
        return this.emit(ldx(size, rng.pick(this.writable(busy)), base, offset));
      case 2:
        return this.emit(st(size, base, offset, rng.imm()));
      case 3:
        if (rng.chance(0.3)) {
          return rng.chance(0.5)
            ? this.emit(loadAcquire(size, rng.pick(this.writable(busy)), base, offset))
            : this.emit(storeRelease(size, base, offset, this.readable()));
        }
        return this.emit(stx(size, base, offset, this.readable()));
      default:
        return this.emit(stx(size, base, offset, this.readable()));
    }
  }

  atomicOp(busy: ReadonlySet<number>): void {
    const { rng } = this;
    const size = rng.pick([Size.W, Size.DW]);
    const [base, offset] = this.place(sizeBytes(size));
    const op = rng.pick(ATOMIC_OPS);
    // Fetching forms write src (and cmpxchg r0): keep those writable.
    const fetches = (op & AtomicOp.FETCH) !== 0;
    if (op === AtomicOp.CMPXCHG && busy.has(0)) return this.alu(busy);
    const src = fetches ? rng.pick(this.writable(busy).filter((r) => r !== 0 || op !== AtomicOp.CMPXCHG)) : this.readable();
    this.emit(atomic(size, op, base, offset, src));
  }

  /** A forward conditional (or unconditional) jump over a nested body. */
  skip(room: number, depth: number, busy: ReadonlySet<number>): void {
    const { rng } = this;
    const over = this.label();
    const wide = rng.chance(0.6);
    const op = rng.pick(JMP_OPS);
    const dst = this.readable();
    if (rng.chance(0.1)) this.emit(ja(0), over);
    else if (rng.chance(0.5)) this.emit(wide ? jmpReg(op, dst, this.readable(), 0) : jmp32Reg(op, dst, this.readable(), 0), over);
    else this.emit(wide ? jmpImm(op, dst, rng.imm(), 0) : jmp32Imm(op, dst, rng.imm(), 0), over);
    this.body(1 + rng.below(Math.min(room, 6)), depth + 1, busy);
    // Sometimes a second, independent jump target inside (if/else shape).
    if (rng.chance(0.3)) {
      const end = this.label();
      this.emit(ja(0), end);
      this.items.push({ label: over });
      this.body(1 + rng.below(3), depth + 1, busy);
      this.items.push({ label: end });
    } else this.items.push({ label: over });
  }

  /** A loop of 1-4 iterations: a counter register the body leaves alone, or may_goto. */
  loop(depth: number, busy: ReadonlySet<number>): void {
    const { rng } = this;
    const counter = rng.pick(this.writable(busy).filter((r) => r !== 0));
    if (counter === undefined) return this.alu(busy);
    const inner = new Set(busy).add(counter);
    const top = this.label();
    const done = this.label();
    this.emit(mov64Imm(counter, 1 + rng.below(4)));
    this.items.push({ label: top });
    if (rng.chance(0.2)) this.emit(mayGoto(0), done);
    this.body(1 + rng.below(5), depth + 1, inner);
    this.emit(alu64Imm(AluOp.SUB, counter, 1));
    this.emit(jmpImm(JmpOp.JNE, counter, 0, 0), top);
    this.items.push({ label: done });
  }

  helper(busy: ReadonlySet<number>): void {
    if (busy.has(0)) return this.alu(busy);
    this.emit(callHelper(TEST_HELPER_ID));
  }

  call(busy: ReadonlySet<number>): void {
    // The callee may change r0-r5: no loop counter may live there.
    if ([0, 1, 2, 3, 4, 5].some((r) => busy.has(r))) return this.alu(busy);
    const callee = this.index + 1 + this.rng.below(this.functions - this.index - 1);
    if (this.sharedRegisters) {
      // The interpreter's model: the callee sees and changes the caller's registers.
      this.emit(callLocal(0), -1 - callee);
      return;
    }
    // The kernel's convention: the buffer in r1; r1-r5 are clobbered by the call.
    this.emit(mov64Reg(1, 6));
    this.emit(callLocal(0), -1 - callee);
    for (let r = 1; r <= 5; r++) this.emit(mov64Imm(r, this.rng.imm()));
  }
}

/**
 * A random valid program; `r1` = the buffer on entry. By default calls
 * follow the kernel's convention (arguments in r1-r5, which the caller does
 * not read afterwards; the callee initializes what it uses). With
 * `sharedRegisters`, callees use the caller's registers as they are and
 * callers read what callees leave in r0-r5: the interpreter's model, which
 * the JIT reproduces in checked mode.
 */
export function randomProgram(rng: Rng, size = 40, sharedRegisters = false): Instruction[] {
  let labelCount = 0;
  const nextLabel = (): number => labelCount++;
  const functions = 1 + rng.below(3);
  const gens: FunctionGen[] = [];
  for (let f = 0; f < functions; f++) {
    const g = new FunctionGen(rng, f, functions, nextLabel, sharedRegisters);
    // Prologue: every register gets a defined value.
    if (f === 0 || !sharedRegisters) g.emit(mov64Reg(6, 1));
    if (f === 0) {
      for (const r of [0, 1, 2, 3, 4, 5, 7, 8]) {
        const [a, b] = lddw(r, (BigInt(rng.next()) << 32n) | BigInt(rng.next()));
        g.items.push({ insn: a, second: b });
      }
    } else if (!sharedRegisters) {
      g.emit(mov64Imm(1, rng.imm()));
      g.emit(mov64Reg(0, 2));
      g.emit(mov64Reg(7, 3));
      g.emit(mov64Reg(8, 4));
    }
    g.emit(mov64Reg(9, 6));
    g.body(f === 0 ? size : Math.max(4, size >> 2), 0, new Set());
    g.emit(exit());
    gens.push(g);
  }
  // Lay out: resolve labels and function entries to slots.
  const slots: Instruction[] = [];
  const labelAt = new Map<number, number>();
  const entryAt: number[] = [];
  const fixups: { at: number; target: number }[] = [];
  for (const g of gens) {
    entryAt.push(slots.length);
    for (const item of g.items) {
      if ('label' in item) {
        labelAt.set(item.label, slots.length);
        continue;
      }
      if (item.target !== undefined) fixups.push({ at: slots.length, target: item.target });
      slots.push({ ...item.insn });
      if (item.second) slots.push({ ...item.second });
    }
  }
  for (const { at, target } of fixups) {
    const i = slots[at]!;
    if (target < 0) i.imm = entryAt[-1 - target]! - at - 1;
    else i.offset = labelAt.get(target)! - at - 1;
  }
  return slots;
}
