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
import { seededRandom } from '../support/random.ts';
import { helperId } from '../../src/uapi/helpers.ts';
import { MapType } from '../../src/uapi/enums.ts';
import { HashEntry } from '../../src/maps/hash.ts';

/** Map types whose entries carry a header (chain link, hash, state) before the key and value. */
const HASH_TYPES = new Set<number>([MapType.HASH, MapType.LRU_HASH, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH]);
import { UpdateFlag } from '../../src/uapi/maps.ts';

/**
 * A generator of random valid programs for differential testing of the JIT
 * against the interpreter. The grammar covers every instruction class:
 * ALU/ALU64 (all operations, both sources, signed division, movsx, byte
 * swaps), loads and stores of every width to the stack and to an input
 * buffer (directly and through a derived pointer), atomics, load-acquire /
 * store-release, conditional and unconditional forward jumps, bounded
 * loops (counter and may_goto), bpf-to-bpf calls and calls to a test helper.
 * Given map specifications (randomMapSpecs), programs also look up, update
 * and delete elements of real VM maps through the bpf_map_* helpers, read
 * and write the values found, with the map loaded in r1 right before the
 * call (what the JIT inlines) or from another register or basic block (the
 * helper path); see randomMapProgram.
 *
 * Register roles keep every program memory-safe, terminating and
 * independent of addresses: r6 = the buffer (BUFFER_SIZE bytes), r9 = a
 * scratch pointer derived right before its use, r10 = the frame pointer;
 * pointers are only used as bases of accesses. Loop counters are not
 * written by the loop's body. Everything else is fair game.
 */

export const BUFFER_SIZE = 64;
export const TEST_HELPER_ID = 1000;

/** Seeded random choices for the generator (test/support/random.ts underneath). */
export class Rng {
  private readonly random: () => number;
  constructor(seed: number) {
    this.random = seededRandom(seed);
  }
  /** A uniform unsigned 32-bit number. */
  next(): number {
    return Math.floor(this.random() * 4294967296);
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

/** `map`: the lddw loads the handle of that map (index into the specs), bound by withMapHandles. */
type Item = { insn: Instruction; target?: number; second?: Instruction; map?: number } | { label: number };

/** A VM map a generated program uses; tests create it with createVmMap. */
export interface FuzzMapSpec {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** Virtual CPUs of a per-CPU map. */
  cpus?: number;
}

/** The CPU generated programs run on (per-CPU maps have two). */
export const FUZZ_CPU = 1;

/**
 * The maps of one case: an array and a hash map (both inlined by the JIT),
 * an LRU hash (inlined, marks entries referenced) and a per-CPU array (the
 * helper path), small so that keys hit and miss and hash maps fill up.
 */
export function randomMapSpecs(rng: Rng): FuzzMapSpec[] {
  const valueSize = (): number => rng.pick([4, 8, 12, 16, 20, 24]);
  const entries = (): number => 1 + rng.below(6);
  return [
    { type: MapType.ARRAY, keySize: 4, valueSize: valueSize(), maxEntries: entries() },
    { type: MapType.HASH, keySize: rng.pick([1, 2, 3, 4, 6, 8, 12]), valueSize: valueSize(), maxEntries: entries() },
    { type: MapType.LRU_HASH, keySize: rng.pick([4, 5, 8, 12]), valueSize: valueSize(), maxEntries: entries() },
    { type: MapType.PERCPU_ARRAY, keySize: 4, valueSize: valueSize(), maxEntries: entries(), cpus: 2 },
  ];
}

const MAP_LOOKUP = helperId('map_lookup_elem');
const MAP_UPDATE = helperId('map_update_elem');
const MAP_DELETE = helperId('map_delete_elem');
/** Most stack areas of map keys (fp-relative, 16 bytes apart; keys and values are at most 24 bytes); the update value sits at the frame's bottom. */
const KEY_AREAS = 15;

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
  /** Whether the function spills a stack pointer (spillPointer). */
  spills = false;
  /** This function's stack bytes: the frames of a call chain share 512, as in the kernel. */
  private readonly frame: number;
  private readonly keyAreas: number;
  private readonly valueArea: number;

  constructor(
    private readonly rng: Rng,
    /** Index of this function; it may call functions with higher indices only (no recursion). */
    private readonly index: number,
    private readonly functions: number,
    private readonly nextLabel: () => number,
    private readonly sharedRegisters: boolean,
    private readonly maps: readonly FuzzMapSpec[],
  ) {
    this.frame = Math.floor(512 / functions / 16) * 16;
    this.keyAreas = Math.min(KEY_AREAS, (this.frame - 48) / 16);
    this.valueArea = -this.frame;
  }

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
      if (this.maps.length > 0 && this.rng.chance(0.12)) {
        this.mapOp(busy);
        continue;
      }
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
        return [10, -bytes - rng.below(this.frame - bytes + 1)];
      default: {
        // A derived pointer, so the access goes through the checked path.
        if (rng.chance(0.5)) {
          const k = rng.below(BUFFER_SIZE - bytes + 1);
          this.emit(mov64Reg(9, 6));
          this.emit(alu64Imm(AluOp.ADD, 9, k));
          return [9, rng.below(BUFFER_SIZE - bytes - k + 1)];
        }
        const k = rng.below(this.frame / 2);
        this.emit(mov64Reg(9, 10));
        this.emit(alu64Imm(AluOp.ADD, 9, -k));
        if (rng.chance(0.3)) this.spillPointer();
        return [9, -bytes - rng.below(this.frame - k - bytes + 1)];
      }
    }
  }

  /**
   * The stack pointer in r9 spilled to a stack slot and filled back (the
   * engines size the frame from where it points, and each frame reaches
   * exactly its size); the slot then gets a constant, so that no address
   * stays in data.
   */
  private spillPointer(): void {
    const { rng } = this;
    const slot = -8 * (1 + rng.below(this.frame / 8));
    this.spills = true;
    this.emit(stx(Size.DW, 10, slot, 9));
    this.emit(ldx(Size.DW, 9, 10, slot));
    this.emit(st(Size.DW, 10, slot, rng.imm()));
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

  /** Loads map `map`'s handle (bound later) into `dst`. */
  private loadMap(dst: number, map: number): void {
    const [a, b] = lddw(dst, 0);
    this.items.push({ insn: a, second: b, map });
  }

  /** Writes a key of `keySize` bytes at fp+`at`: a small index (hits and misses), from an immediate or a register. */
  private writeKey(at: number, spec: FuzzMapSpec): void {
    const { rng } = this;
    for (let done = 0; done < spec.keySize; ) {
      const size = spec.keySize - done >= 8 ? Size.DW : spec.keySize - done >= 4 ? Size.W : spec.keySize - done >= 2 ? Size.H : Size.B;
      this.emit(st(size, 10, at + done, 0));
      done += sizeBytes(size);
    }
    const bound = spec.type === MapType.ARRAY || spec.type === MapType.PERCPU_ARRAY ? spec.maxEntries + 2 : 2 * spec.maxEntries + 2;
    if (rng.chance(0.5)) return this.emit(st(Size.B, 10, at, rng.below(bound)));
    // A key computed from data: r2 is overwritten with the key pointer next.
    this.emit(mov64Reg(2, this.readable()));
    this.emit(alu64Imm(AluOp.AND, 2, 7));
    this.emit(stx(Size.B, 10, at, 2));
  }

  /** Argument registers hold pointers after a helper call: give them data again, as the kernel's clobbering allows. */
  private clobberArguments(): void {
    for (let r = 1; r <= 5; r++) this.emit(mov64Imm(r, this.rng.imm()));
  }

  /**
   * A bpf_map_lookup_elem / update / delete on one of the maps, with the
   * key built on the stack. The map pointer reaches r1 by an lddw in the
   * call's basic block (inlined by the JIT for arrays and hash maps), by a
   * register move or from a previous block (the helper call). A lookup's
   * result is null-checked; on a hit the value is read and written at
   * in-bounds offsets, and r0 gets data again before the paths join.
   */
  mapOp(busy: ReadonlySet<number>): void {
    // The sequence writes r0-r5 (arguments and result).
    if ([0, 1, 2, 3, 4, 5].some((r) => busy.has(r))) return this.alu(busy);
    const { rng } = this;
    const map = rng.below(this.maps.length);
    const spec = this.maps[map]!;
    const roll = rng.below(10);
    const helper = roll < 6 ? MAP_LOOKUP : roll < 9 ? MAP_UPDATE : MAP_DELETE;
    const keyAt = -16 * (1 + rng.below(this.keyAreas));
    this.writeKey(keyAt, spec);
    if (helper === MAP_UPDATE) {
      // The new value: whatever the stack holds there, partly overwritten.
      for (let k = rng.below(4); k > 0; k--) {
        const size = rng.pick(SIZES.filter((s) => sizeBytes(s) <= spec.valueSize));
        const offset = this.valueArea + rng.below(spec.valueSize - sizeBytes(size) + 1);
        if (rng.chance(0.5)) this.emit(st(size, 10, offset, rng.imm()));
        else this.emit(stx(size, 10, offset, this.readable()));
      }
    }
    const setArguments = (): void => {
      this.emit(mov64Reg(2, 10));
      this.emit(alu64Imm(AluOp.ADD, 2, keyAt));
      if (helper !== MAP_UPDATE) return;
      this.emit(mov64Reg(3, 10));
      this.emit(alu64Imm(AluOp.ADD, 3, this.valueArea));
      const flags = rng.chance(0.05) ? UpdateFlag.F_LOCK : rng.pick([UpdateFlag.ANY, UpdateFlag.NOEXIST, UpdateFlag.EXIST]);
      this.emit(mov64Imm(4, flags));
    };
    switch (rng.below(4)) {
      case 0: {
        // Through another register: not a constant of r1 for the JIT.
        this.loadMap(5, map);
        setArguments();
        this.emit(mov64Reg(1, 5));
        break;
      }
      case 1: {
        // From the previous basic block.
        this.loadMap(1, map);
        const next = this.label();
        if (rng.chance(0.5)) this.emit(ja(0), next);
        else this.emit(jmpImm(rng.pick(JMP_OPS), this.readable(), rng.imm(), 0), next);
        this.items.push({ label: next });
        setArguments();
        break;
      }
      default:
        // The inlinable shape: lddw in the call's block, before or after the other arguments.
        if (rng.chance(0.5)) {
          this.loadMap(1, map);
          setArguments();
        } else {
          setArguments();
          this.loadMap(1, map);
        }
    }
    this.emit(callHelper(helper));
    this.clobberArguments();
    if (helper === MAP_LOOKUP) this.useValue(spec, busy);
  }

  /** After a lookup: both outcomes of the null check, value accesses through r9 on a hit; r0 is data again on both paths. */
  private useValue(spec: FuzzMapSpec, busy: ReadonlySet<number>): void {
    const { rng } = this;
    const miss = this.label();
    const end = this.label();
    const hit = (): void => {
      this.emit(mov64Reg(9, 0));
      // The value's address must not flow into data.
      if (rng.chance(0.5)) this.emit(ldx(Size.B, 0, 9, 0));
      else this.emit(mov64Imm(0, rng.imm()));
      let room = spec.valueSize;
      let advanced = 0;
      if (rng.chance(0.3)) {
        advanced = rng.below(spec.valueSize - 3);
        this.emit(alu64Imm(AluOp.ADD, 9, advanced));
        room -= advanced;
      }
      // Now and then a write into the entry's header or key, which share the value's storage: map code must survive it.
      if (HASH_TYPES.has(spec.type) && rng.chance(0.1)) this.corruptEntry(spec, advanced);
      for (let k = 1 + rng.below(4); k > 0; k--) {
        const size = rng.pick(SIZES.filter((s) => sizeBytes(s) <= room));
        const offset = rng.below(room - sizeBytes(size) + 1);
        const dst = rng.pick(this.writable(busy));
        switch (rng.below(6)) {
          case 0:
            this.emit(ldx(size, dst, 9, offset));
            break;
          case 1:
            this.emit(size === Size.DW ? ldx(size, dst, 9, offset) : ldxs(size, dst, 9, offset));
            break;
          case 2:
            this.emit(st(size, 9, offset, rng.imm()));
            break;
          case 3:
            this.emit(stx(size, 9, offset, this.readable()));
            break;
          default:
            if (size === Size.W || size === Size.DW) {
              const fetch = rng.chance(0.5);
              this.emit(atomic(size, fetch ? AtomicOp.ADD | AtomicOp.FETCH : AtomicOp.ADD, 9, offset, fetch ? dst : this.readable()));
            } else this.emit(stx(size, 9, offset, this.readable()));
        }
      }
    };
    if (rng.chance(0.5)) {
      this.emit(jmpImm(JmpOp.JEQ, 0, 0, 0), miss);
      hit();
      this.emit(ja(0), end);
      this.items.push({ label: miss });
      if (rng.chance(0.5)) this.alu(busy);
    } else {
      const found = miss;
      this.emit(jmpImm(JmpOp.JNE, 0, 0, 0), found);
      if (rng.chance(0.5)) this.alu(busy);
      this.emit(ja(0), end);
      this.items.push({ label: found });
      hit();
    }
    this.items.push({ label: end });
  }

  /**
   * A store through r9 (the value's address plus `advanced`) into the hash
   * entry's header (chain link, hash, state) or key: a link to itself, past
   * the entries or anywhere, a hash or key that no longer match.
   */
  private corruptEntry(spec: FuzzMapSpec, advanced: number): void {
    const { rng } = this;
    const valueOffset = HashEntry.HEADER_SIZE + ((spec.keySize + 7) & ~7);
    const field = rng.pick([HashEntry.NEXT, HashEntry.HASH, HashEntry.STATE, HashEntry.HEADER_SIZE]);
    const value = field === HashEntry.NEXT ? rng.below(spec.maxEntries + 2) : field === HashEntry.STATE ? rng.below(4) : rng.imm();
    this.emit(st(Size.W, 9, field - valueOffset - advanced, value));
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
  return randomMapProgram(rng, [], size, sharedRegisters).insns;
}

/** A generated program whose lddw at each of `mapSlots` loads the handle of map `maps[k]`. */
export interface MapProgram {
  insns: Instruction[];
  mapSlots: { slot: number; map: number }[];
  /**
   * The program spills stack pointers: for the three instructions until the
   * slot is overwritten, an address is in memory (a run stopped there by
   * its budget leaves it, where the engines' stacks differ).
   */
  spillsPointers: boolean;
}

/**
 * A random valid program (as randomProgram) that also uses the maps of
 * `maps`; bind them to real maps with withMapHandles.
 */
export function randomMapProgram(rng: Rng, maps: readonly FuzzMapSpec[], size = 40, sharedRegisters = false): MapProgram {
  let labelCount = 0;
  const nextLabel = (): number => labelCount++;
  const functions = 1 + rng.below(3);
  const gens: FunctionGen[] = [];
  for (let f = 0; f < functions; f++) {
    const g = new FunctionGen(rng, f, functions, nextLabel, sharedRegisters, maps);
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
  const mapSlots: { slot: number; map: number }[] = [];
  for (const g of gens) {
    entryAt.push(slots.length);
    for (const item of g.items) {
      if ('label' in item) {
        labelAt.set(item.label, slots.length);
        continue;
      }
      if (item.target !== undefined) fixups.push({ at: slots.length, target: item.target });
      if (item.map !== undefined) mapSlots.push({ slot: slots.length, map: item.map });
      slots.push({ ...item.insn });
      if (item.second) slots.push({ ...item.second });
    }
  }
  for (const { at, target } of fixups) {
    const i = slots[at]!;
    if (target < 0) i.imm = entryAt[-1 - target]! - at - 1;
    else i.offset = labelAt.get(target)! - at - 1;
  }
  return { insns: slots, mapSlots, spillsPointers: gens.some((g) => g.spills) };
}

/** The program with each map reference loading `handles[map]` (a plain lddw of the handle, as collections relocate maps). */
export function withMapHandles(program: MapProgram, handles: readonly number[]): Instruction[] {
  const insns = program.insns.map((i) => ({ ...i }));
  for (const { slot, map } of program.mapSlots) {
    const [a, b] = lddw(insns[slot]!.dst, handles[map]!);
    insns[slot] = a;
    insns[slot + 1] = b;
  }
  return insns;
}
