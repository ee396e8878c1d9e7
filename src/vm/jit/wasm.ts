/**
 * A small WebAssembly binary emitter: just what the JIT needs (one imported
 * memory, function imports, mutable globals, functions with i32/i64 locals,
 * exports). Modules are written directly in the binary format of the
 * WebAssembly 2.0 core spec (§5); there is no text step.
 */

export const I32 = 0x7f;
export const I64 = 0x7e;
export type ValType = typeof I32 | typeof I64;
/** Block type of a block/loop/if that yields nothing. */
export const VOID = 0x40;

/** Opcodes used by the JIT (core spec §5.4). */
export const Op = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  br_table: 0x0e,
  return: 0x0f,
  call: 0x10,
  drop: 0x1a,
  select: 0x1b,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  global_get: 0x23,
  global_set: 0x24,
  i32_load: 0x28,
  i64_load: 0x29,
  i32_load8_s: 0x2c,
  i32_load8_u: 0x2d,
  i32_load16_s: 0x2e,
  i32_load16_u: 0x2f,
  i64_load8_s: 0x30,
  i64_load8_u: 0x31,
  i64_load16_s: 0x32,
  i64_load16_u: 0x33,
  i64_load32_s: 0x34,
  i64_load32_u: 0x35,
  i32_store: 0x36,
  i64_store: 0x37,
  i32_store8: 0x3a,
  i32_store16: 0x3b,
  i64_store8: 0x3c,
  i64_store16: 0x3d,
  i64_store32: 0x3e,
  i32_const: 0x41,
  i64_const: 0x42,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_s: 0x48,
  i32_lt_u: 0x49,
  i32_gt_s: 0x4a,
  i32_gt_u: 0x4b,
  i32_le_s: 0x4c,
  i32_le_u: 0x4d,
  i32_ge_s: 0x4e,
  i32_ge_u: 0x4f,
  i64_eqz: 0x50,
  i64_eq: 0x51,
  i64_ne: 0x52,
  i64_lt_s: 0x53,
  i64_lt_u: 0x54,
  i64_gt_s: 0x55,
  i64_gt_u: 0x56,
  i64_le_s: 0x57,
  i64_le_u: 0x58,
  i64_ge_s: 0x59,
  i64_ge_u: 0x5a,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_div_s: 0x6d,
  i32_div_u: 0x6e,
  i32_rem_s: 0x6f,
  i32_rem_u: 0x70,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_xor: 0x73,
  i32_shl: 0x74,
  i32_shr_s: 0x75,
  i32_shr_u: 0x76,
  i32_rotl: 0x77,
  i32_rotr: 0x78,
  i64_add: 0x7c,
  i64_sub: 0x7d,
  i64_mul: 0x7e,
  i64_div_s: 0x7f,
  i64_div_u: 0x80,
  i64_rem_s: 0x81,
  i64_rem_u: 0x82,
  i64_and: 0x83,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_s: 0x87,
  i64_shr_u: 0x88,
  i64_rotl: 0x89,
  i64_rotr: 0x8a,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_s: 0xac,
  i64_extend_i32_u: 0xad,
  i32_extend8_s: 0xc0,
  i32_extend16_s: 0xc1,
  i64_extend8_s: 0xc2,
  i64_extend16_s: 0xc3,
  i64_extend32_s: 0xc4,
} as const;

/** A growable byte buffer with the binary format's primitive encodings. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): this {
    this.reserve(1);
    this.buf[this.length++] = b;
    return this;
  }

  bytes(data: ArrayLike<number>): this {
    this.reserve(data.length);
    this.buf.set(data, this.length);
    this.length += data.length;
    return this;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^32. */
  u32(value: number): this {
    let v = value >>> 0;
    this.reserve(5);
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.buf[this.length++] = b;
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of a 32-bit integer. */
  s32(value: number): this {
    let v = value | 0;
    this.reserve(5);
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.buf[this.length++] = b;
        return this;
      }
      this.buf[this.length++] = b | 0x80;
    }
  }

  /** Signed LEB128 of a 64-bit integer (given as a bigint, any sign). */
  s64(value: bigint): this {
    let v = BigInt.asIntN(64, value);
    if (v >= -0x80000000n && v <= 0x7fffffffn) return this.s32(Number(v));
    this.reserve(10);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
        this.buf[this.length++] = b;
        return this;
      }
      this.buf[this.length++] = b | 0x80;
    }
  }

  name(text: string): this {
    const data = new TextEncoder().encode(text);
    return this.u32(data.length).bytes(data);
  }

  /** Length-prefixed copy of another writer (a section or a function body). */
  sized(inner: ByteWriter): this {
    return this.u32(inner.length).bytes(inner.view());
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** One function body under construction: locals plus an instruction stream. */
export class FunctionBody extends ByteWriter {
  private readonly localTypes: ValType[] = [];

  /** `params` are locals 0..params.length-1; extra locals follow. */
  constructor(readonly params: readonly ValType[]) {
    super();
  }

  /** Declares a new local and returns its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  op(code: number): this {
    return this.byte(code);
  }

  i32Const(v: number): this {
    return this.byte(Op.i32_const).s32(v);
  }

  i64Const(v: bigint | number): this {
    if (typeof v === 'number' && (v | 0) === v) return this.byte(Op.i64_const).s32(v);
    return this.byte(Op.i64_const).s64(BigInt(v));
  }

  get(index: number): this {
    return this.byte(Op.local_get).u32(index);
  }

  set(index: number): this {
    return this.byte(Op.local_set).u32(index);
  }

  tee(index: number): this {
    return this.byte(Op.local_tee).u32(index);
  }

  globalGet(index: number): this {
    return this.byte(Op.global_get).u32(index);
  }

  globalSet(index: number): this {
    return this.byte(Op.global_set).u32(index);
  }

  /** memory.copy (bulk memory): (destination, source, length) on the stack. */
  memoryCopy(): this {
    return this.byte(0xfc).u32(10).byte(0).byte(0);
  }

  /** memory.fill (bulk memory): (destination, byte, length) on the stack. */
  memoryFill(): this {
    return this.byte(0xfc).u32(11).byte(0);
  }

  /** A load or store with its memarg (alignment hint 0: eBPF accesses may be unaligned). */
  mem(code: number, offset: number): this {
    return this.byte(code).u32(0).u32(offset);
  }

  block(code: typeof Op.block | typeof Op.loop | typeof Op.if, type: number = VOID): this {
    return this.byte(code).byte(type);
  }

  br(code: typeof Op.br | typeof Op.br_if, depth: number): this {
    return this.byte(code).u32(depth);
  }

  call(func: number): this {
    return this.byte(Op.call).u32(func);
  }

  /** The complete body: local declarations (run-length grouped) then code and `end`. */
  finish(): ByteWriter {
    const out = new ByteWriter();
    const groups: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    out.u32(groups.length);
    for (const [n, t] of groups) out.u32(n).byte(t);
    out.bytes(this.view()).byte(Op.end);
    return out;
  }
}

interface FuncType {
  params: readonly ValType[];
  results: readonly ValType[];
}

interface DefinedFunction {
  type: number;
  body: FunctionBody;
}

/**
 * Assembles a module. Imported functions must all be added before defined
 * ones (their indices come first in the function index space).
 */
export class ModuleBuilder {
  private readonly types: FuncType[] = [];
  private readonly importedFunctions: { module: string; name: string; type: number }[] = [];
  private memoryImport: { module: string; name: string; min: number; max: number | undefined } | undefined;
  private readonly globals: { type: ValType; init: bigint }[] = [];
  private readonly functions: DefinedFunction[] = [];
  private readonly exports: { name: string; kind: number; index: number }[] = [];

  private typeIndex(params: readonly ValType[], results: readonly ValType[]): number {
    const key = (t: FuncType): string => `${t.params.join(',')}>${t.results.join(',')}`;
    const wanted = key({ params, results });
    const found = this.types.findIndex((t) => key(t) === wanted);
    if (found >= 0) return found;
    this.types.push({ params, results });
    return this.types.length - 1;
  }

  importMemory(module: string, name: string, minPages: number, maxPages?: number): void {
    this.memoryImport = { module, name, min: minPages, max: maxPages };
  }

  importFunction(module: string, name: string, params: readonly ValType[], results: readonly ValType[]): number {
    if (this.functions.length > 0) throw new Error('imports must precede defined functions');
    this.importedFunctions.push({ module, name, type: this.typeIndex(params, results) });
    return this.importedFunctions.length - 1;
  }

  addGlobal(type: ValType, init: bigint | number = 0): number {
    this.globals.push({ type, init: BigInt(init) });
    return this.globals.length - 1;
  }

  /** Reserves a function index; its body is supplied with `defineFunction`. */
  declareFunction(params: readonly ValType[], results: readonly ValType[]): { index: number; body: FunctionBody } {
    const body = new FunctionBody(params);
    this.functions.push({ type: this.typeIndex(params, results), body });
    return { index: this.importedFunctions.length + this.functions.length - 1, body };
  }

  exportFunction(name: string, index: number): void {
    this.exports.push({ name, kind: 0x00, index });
  }

  exportGlobal(name: string, index: number): void {
    this.exports.push({ name, kind: 0x03, index });
  }

  encode(): Uint8Array<ArrayBuffer> {
    const out = new ByteWriter();
    out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const section = (id: number, fill: (s: ByteWriter) => void): void => {
      const s = new ByteWriter();
      fill(s);
      out.byte(id).sized(s);
    };
    section(1, (s) => {
      s.u32(this.types.length);
      for (const t of this.types) {
        s.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
      }
    });
    section(2, (s) => {
      s.u32(this.importedFunctions.length + (this.memoryImport ? 1 : 0));
      if (this.memoryImport) {
        const m = this.memoryImport;
        s.name(m.module).name(m.name).byte(0x02);
        if (m.max === undefined) s.byte(0x00).u32(m.min);
        else s.byte(0x01).u32(m.min).u32(m.max);
      }
      for (const f of this.importedFunctions) s.name(f.module).name(f.name).byte(0x00).u32(f.type);
    });
    section(3, (s) => {
      s.u32(this.functions.length);
      for (const f of this.functions) s.u32(f.type);
    });
    if (this.globals.length > 0) {
      section(6, (s) => {
        s.u32(this.globals.length);
        for (const g of this.globals) {
          s.byte(g.type).byte(0x01);
          if (g.type === I32) s.byte(Op.i32_const).s32(Number(g.init));
          else s.byte(Op.i64_const).s64(g.init);
          s.byte(Op.end);
        }
      });
    }
    section(7, (s) => {
      s.u32(this.exports.length);
      for (const e of this.exports) s.name(e.name).byte(e.kind).u32(e.index);
    });
    section(10, (s) => {
      s.u32(this.functions.length);
      for (const f of this.functions) s.sized(f.body.finish());
    });
    const bytes = new Uint8Array(out.length);
    bytes.set(out.view());
    return bytes;
  }
}
