import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AluOp,
  AtomicOp,
  type Instruction,
  LdImm64Src,
  Size,
  assemble,
  atomic,
  exit,
  insn,
  lddw,
  loadAcquire,
  mayGoto,
  mov64Imm,
  storeRelease,
} from '../../src/isa/index.ts';
import {
  BudgetExceededError,
  CallDepthError,
  HelperError,
  HelperRegistry,
  MAY_GOTO_LOOPS,
  MemoryAccessError,
  ProgramLoadError,
  type RunOptions,
  UnknownHelperError,
  Vm,
  VmOptionError,
  VmRuntimeError,
  conformanceHelpers,
} from '../../src/vm/index.ts';

const asm = (source: string): Instruction[] => assemble(source, { syntax: 'ubpf' });

function run(program: string | Instruction[], options: RunOptions = {}, vm = new Vm()): bigint {
  return vm.load(typeof program === 'string' ? asm(program) : program).run(options).r0;
}

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

test('32-bit ALU results zero-extend into the 64-bit register', () => {
  assert.equal(run('lddw %r0, 0xffffffff00000005\nadd32 %r0, 0\nexit'), 5n);
  assert.equal(run('mov %r0, -1\nadd32 %r0, 1\nexit'), 0n);
  assert.equal(run('mov %r0, -1\nmov32 %r0, %r0\nexit'), 0xffffffffn);
  assert.equal(run('mov32 %r0, -1\nexit'), 0xffffffffn);
  assert.equal(run('mov %r0, -1\nexit'), u64(-1n));
  assert.equal(run('mov32 %r0, 0x80000000\nneg32 %r0\nexit'), 0x80000000n);
});

test('division by zero gives 0, immediate and register, 32 and 64 bit', () => {
  const dividend = 'lddw %r0, 0x100000007\n';
  assert.equal(run(`${dividend}div %r0, 0\nexit`), 0n);
  assert.equal(run(`${dividend}mov %r1, 0\ndiv %r0, %r1\nexit`), 0n);
  assert.equal(run(`${dividend}div32 %r0, 0\nexit`), 0n);
  assert.equal(run(`${dividend}mov %r1, 0\ndiv32 %r0, %r1\nexit`), 0n);
  assert.equal(run(`${dividend}sdiv %r0, 0\nexit`), 0n);
  assert.equal(run(`${dividend}mov %r1, 0\nsdiv32 %r0, %r1\nexit`), 0n);
  // A 64-bit zero whose low half is zero but high half is not is not zero.
  assert.equal(run(`${dividend}lddw %r1, 0x100000000\ndiv32 %r0, %r1\nexit`), 0n);
  assert.equal(run(`${dividend}lddw %r1, 0x100000000\ndiv %r0, %r1\nexit`), 1n);
});

test('modulo by zero leaves dst unchanged (64-bit) or truncated to 32 bits (32-bit)', () => {
  const dividend = 'lddw %r0, 0x100000007\n';
  assert.equal(run(`${dividend}mod %r0, 0\nexit`), 0x100000007n);
  assert.equal(run(`${dividend}mov %r1, 0\nmod %r0, %r1\nexit`), 0x100000007n);
  assert.equal(run(`${dividend}mod32 %r0, 0\nexit`), 7n);
  assert.equal(run(`${dividend}mov %r1, 0\nmod32 %r0, %r1\nexit`), 7n);
  assert.equal(run(`${dividend}smod %r0, 0\nexit`), 0x100000007n);
  assert.equal(run(`${dividend}mov %r1, 0\nsmod32 %r0, %r1\nexit`), 7n);
});

test('signed division truncates toward zero; INT_MIN / -1 = INT_MIN and INT_MIN % -1 = 0', () => {
  assert.equal(run('mov %r0, -7\nsdiv %r0, 2\nexit'), u64(-3n));
  assert.equal(run('mov %r0, -7\nsmod %r0, 2\nexit'), u64(-1n));
  assert.equal(run('mov %r0, 7\nsmod %r0, -2\nexit'), 1n);
  assert.equal(run('mov32 %r0, -7\nsdiv32 %r0, 2\nexit'), 0xfffffffdn);
  assert.equal(run('mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit'), 0x80000000n);
  assert.equal(run('mov32 %r0, 0x80000000\nsmod32 %r0, -1\nexit'), 0n);
  assert.equal(run('lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit'), 0x8000000000000000n);
  assert.equal(run('lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit'), 0n);
  // sign-extended 32-bit operands: -2^31 / -1 = 2^31 in 64 bits
  assert.equal(run('mov %r0, 0x80000000\nsdiv %r0, -1\nexit'), 0x80000000n);
  // operands beyond 32 bits
  assert.equal(run('lddw %r0, -1099511627777\nsdiv %r0, 3\nexit'), u64(-366503875925n));
  assert.equal(run('lddw %r0, -1099511627777\nsmod %r0, 3\nexit'), u64(-2n));
});

test('unsigned 64-bit division sign-extends the immediate, then divides unsigned', () => {
  assert.equal(run('mov %r0, 5\ndiv %r0, -1\nexit'), 0n);
  assert.equal(run('mov %r0, -1\ndiv %r0, -1\nexit'), 1n);
  assert.equal(run('mov %r0, -1\ndiv32 %r0, -1\nexit'), 1n);
  assert.equal(run('lddw %r0, 0xfffffffffffffffe\nmod %r0, 0x10\nexit'), 14n);
});

test('shift amounts are masked to 31 / 63', () => {
  assert.equal(run('mov %r0, 1\nmov %r1, 64\nlsh %r0, %r1\nexit'), 1n);
  assert.equal(run('mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit'), 2n);
  assert.equal(run('mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit'), 2n);
  assert.equal(run('mov %r0, 1\nlsh %r0, 63\nexit'), 0x8000000000000000n);
  assert.equal(run('lddw %r0, 0x8000000000000000\nrsh %r0, 63\nexit'), 1n);
  assert.equal(run('lddw %r0, 0x8000000000000000\narsh %r0, 63\nexit'), u64(-1n));
  assert.equal(run('lddw %r0, 0x8000000000000000\narsh %r0, 32\nexit'), 0xffffffff80000000n);
  assert.equal(run('mov32 %r0, 0x80000000\narsh32 %r0, 4\nexit'), 0xf8000000n);
  assert.equal(run('mov32 %r0, 0x80000000\nmov %r1, 36\narsh32 %r0, %r1\nexit'), 0xf8000000n);
  assert.equal(run('lddw %r0, 0x0123456789abcdef\nlsh %r0, 36\nexit'), 0x9abcdef000000000n);
  assert.equal(run('lddw %r0, 0x0123456789abcdef\nrsh %r0, 4\nexit'), 0x00123456789abcden);
});

test('byte swaps: le truncates, be and bswap swap, every width', () => {
  const v = 'lddw %r0, 0x0123456789abcdef\n';
  assert.equal(run(`${v}le16 %r0\nexit`), 0xcdefn);
  assert.equal(run(`${v}le32 %r0\nexit`), 0x89abcdefn);
  assert.equal(run(`${v}le64 %r0\nexit`), 0x0123456789abcdefn);
  assert.equal(run(`${v}be16 %r0\nexit`), 0xefcdn);
  assert.equal(run(`${v}be32 %r0\nexit`), 0xefcdab89n);
  assert.equal(run(`${v}be64 %r0\nexit`), 0xefcdab8967452301n);
  assert.equal(run(`${v}bswap16 %r0\nexit`), 0xefcdn);
  assert.equal(run(`${v}bswap32 %r0\nexit`), 0xefcdab89n);
  assert.equal(run(`${v}bswap64 %r0\nexit`), 0xefcdab8967452301n);
});

test('sign-extending moves and loads at every width', () => {
  assert.equal(run('mov %r1, 0x180\nmovsx864 %r0, %r1\nexit'), u64(-128n));
  assert.equal(run('mov %r1, 0x18000\nmovsx1664 %r0, %r1\nexit'), u64(-32768n));
  assert.equal(run('lddw %r1, 0x180000000\nmovsx3264 %r0, %r1\nexit'), u64(-(2n ** 31n)));
  assert.equal(run('mov %r1, 0x180\nmovsx832 %r0, %r1\nexit'), 0xffffff80n);
  assert.equal(run('mov %r1, 0x18000\nmovsx1632 %r0, %r1\nexit'), 0xffff8000n);
  assert.equal(run('mov %r1, 0x7f\nmovsx864 %r0, %r1\nexit'), 0x7fn);
  const mem = Uint8Array.of(0x80, 0x80, 0x80, 0x80);
  assert.equal(run('ldxsb %r0, [%r1]\nexit', { mem }), u64(-128n));
  assert.equal(run('ldxsh %r0, [%r1]\nexit', { mem }), u64(-32640n));
  assert.equal(run('ldxsw %r0, [%r1]\nexit', { mem }), u64(-2139062144n));
  assert.equal(run('ldxw %r0, [%r1]\nexit', { mem }), 0x80808080n);
});

test('32-bit jumps look only at the low halves; 64-bit jumps at both', () => {
  const v = 'lddw %r1, 0xffffffff00000001\nmov %r0, 1\n';
  assert.equal(run(`${v}jeq32 %r1, 1, +1\nmov %r0, 0\nexit`), 1n);
  assert.equal(run(`${v}jeq %r1, 1, +1\nmov %r0, 0\nexit`), 0n);
  const w = 'mov32 %r1, 0x80000000\nmov %r0, 1\n';
  assert.equal(run(`${w}jsgt32 %r1, 0, +1\nmov %r0, 0\nexit`), 0n);
  assert.equal(run(`${w}jsgt %r1, 0, +1\nmov %r0, 0\nexit`), 1n);
  assert.equal(run(`${w}jgt32 %r1, 0x7fffffff, +1\nmov %r0, 0\nexit`), 1n);
  assert.equal(run(`${w}jslt32 %r1, 0, +1\nmov %r0, 0\nexit`), 1n);
  assert.equal(run(`${v}jset32 %r1, 0x2, +1\nmov %r0, 0\nexit`), 0n);
  assert.equal(run(`${v}jset %r1, -2, +1\nmov %r0, 0\nexit`), 1n);
  // the immediate is sign-extended for 64-bit comparisons
  assert.equal(run('mov %r1, -1\nmov %r0, 1\njeq %r1, -1, +1\nmov %r0, 0\nexit'), 1n);
  assert.equal(run('mov32 %r1, -1\nmov %r0, 1\njeq %r1, -1, +1\nmov %r0, 0\nexit'), 0n);
});

test('ALU and jumps agree with a BigInt reference on edge values', () => {
  const edges = [0n, 1n, 2n, 7n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x123456789abcdefn, 2n ** 63n - 1n, 2n ** 63n, u64(-1n), u64(-2n), u64(-0x80000001n)];
  const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
  const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
  const w32 = (v: bigint): bigint => BigInt.asUintN(32, v);
  const alu64: Record<string, (a: bigint, b: bigint) => bigint> = {
    add: (a, b) => u64(a + b),
    sub: (a, b) => u64(a - b),
    mul: (a, b) => u64(a * b),
    div: (a, b) => (b === 0n ? 0n : a / b),
    mod: (a, b) => (b === 0n ? a : a % b),
    sdiv: (a, b) => (b === 0n ? 0n : u64(s64(a) / s64(b))),
    smod: (a, b) => (b === 0n ? a : u64(s64(a) % s64(b))),
    or: (a, b) => a | b,
    and: (a, b) => a & b,
    xor: (a, b) => a ^ b,
    lsh: (a, b) => u64(a << (b & 63n)),
    rsh: (a, b) => a >> (b & 63n),
    arsh: (a, b) => u64(s64(a) >> (b & 63n)),
  };
  const alu32: Record<string, (a: bigint, b: bigint) => bigint> = {
    add: (a, b) => w32(a + b),
    sub: (a, b) => w32(a - b),
    mul: (a, b) => w32(a * b),
    div: (a, b) => (b === 0n ? 0n : a / b),
    mod: (a, b) => (b === 0n ? a : a % b),
    sdiv: (a, b) => (b === 0n ? 0n : w32(s32(a) / s32(b))),
    smod: (a, b) => (b === 0n ? a : w32(s32(a) % s32(b))),
    or: (a, b) => a | b,
    and: (a, b) => a & b,
    xor: (a, b) => a ^ b,
    lsh: (a, b) => w32(a << (b & 31n)),
    rsh: (a, b) => a >> (b & 31n),
    arsh: (a, b) => w32(s32(a) >> (b & 31n)),
  };
  const jumps: Record<string, (a: bigint, b: bigint) => boolean> = {
    jeq: (a, b) => a === b,
    jne: (a, b) => a !== b,
    jgt: (a, b) => a > b,
    jge: (a, b) => a >= b,
    jlt: (a, b) => a < b,
    jle: (a, b) => a <= b,
    jset: (a, b) => (a & b) !== 0n,
    jsgt: (a, b) => s64(a) > s64(b),
    jsge: (a, b) => s64(a) >= s64(b),
    jslt: (a, b) => s64(a) < s64(b),
    jsle: (a, b) => s64(a) <= s64(b),
  };
  const vm = new Vm();
  const hex = (v: bigint): string => `0x${v.toString(16)}`;
  for (const a of edges) {
    for (const b of edges) {
      for (const [op, ref] of Object.entries(alu64)) {
        const got = run(`lddw %r0, ${hex(a)}\nlddw %r1, ${hex(b)}\n${op} %r0, %r1\nexit`, {}, vm);
        assert.equal(got, ref(a, b), `${op} ${hex(a)}, ${hex(b)}`);
        const got32 = run(`lddw %r0, ${hex(a)}\nlddw %r1, ${hex(b)}\n${op}32 %r0, %r1\nexit`, {}, vm);
        assert.equal(got32, alu32[op]!(w32(a), w32(b)), `${op}32 ${hex(a)}, ${hex(b)}`);
      }
      for (const [op, ref] of Object.entries(jumps)) {
        const got = run(`lddw %r1, ${hex(a)}\nlddw %r2, ${hex(b)}\nmov %r0, 1\n${op} %r1, %r2, +1\nmov %r0, 0\nexit`, {}, vm);
        assert.equal(got, ref(a, b) ? 1n : 0n, `${op} ${hex(a)}, ${hex(b)}`);
        const got32 = run(`lddw %r1, ${hex(a)}\nlddw %r2, ${hex(b)}\nmov %r0, 1\n${op}32 %r1, %r2, +1\nmov %r0, 0\nexit`, {}, vm);
        const ref32 = op.startsWith('js') ? ref(u64(s32(a)), u64(s32(b))) : ref(w32(a), w32(b));
        assert.equal(got32, ref32 ? 1n : 0n, `${op}32 ${hex(a)}, ${hex(b)}`);
      }
    }
    // Immediate forms: the 32-bit immediate is sign-extended for 64-bit operations.
    for (const imm of [0, 1, -1, 3, 63, 0x7fffffff, -0x80000000, -7]) {
      const b = u64(BigInt(imm));
      for (const [op, ref] of Object.entries(alu64)) {
        assert.equal(run(`lddw %r0, ${hex(a)}\n${op} %r0, ${imm}\nexit`, {}, vm), ref(a, b), `${op} ${hex(a)}, ${imm}`);
        assert.equal(run(`lddw %r0, ${hex(a)}\n${op}32 %r0, ${imm}\nexit`, {}, vm), alu32[op]!(w32(a), w32(b)), `${op}32 ${hex(a)}, ${imm}`);
      }
      for (const [op, ref] of Object.entries(jumps)) {
        assert.equal(run(`lddw %r1, ${hex(a)}\nmov %r0, 1\n${op} %r1, ${imm}, +1\nmov %r0, 0\nexit`, {}, vm), ref(a, b) ? 1n : 0n, `${op} ${hex(a)}, ${imm}`);
        const ref32 = op.startsWith('js') ? ref(u64(s32(a)), u64(s32(b))) : ref(w32(a), w32(b));
        assert.equal(run(`lddw %r1, ${hex(a)}\nmov %r0, 1\n${op}32 %r1, ${imm}, +1\nmov %r0, 0\nexit`, {}, vm), ref32 ? 1n : 0n, `${op}32 ${hex(a)}, ${imm}`);
      }
    }
    assert.equal(run(`lddw %r0, ${hex(a)}\nneg %r0\nexit`, {}, vm), u64(-a), `neg ${hex(a)}`);
    assert.equal(run(`lddw %r0, ${hex(a)}\nneg32 %r0\nexit`, {}, vm), w32(-a), `neg32 ${hex(a)}`);
  }
});

test('atomics return old values; 32-bit ones zero-extend; non-fetch leaves src alone', () => {
  const mem = (): Uint8Array => Uint8Array.of(5, 0, 0, 0, 1, 0, 0, 0);
  assert.equal(run('mov %r0, 3\nlock fetch add [%r1], %r0\nexit', { mem: mem() }), 0x100000005n);
  assert.equal(run('mov %r2, 3\nlock add [%r1], %r2\nldxdw %r0, [%r1]\nexit', { mem: mem() }), 0x100000008n);
  assert.equal(run('mov %r2, 3\nlock add [%r1], %r2\nmov %r0, %r2\nexit', { mem: mem() }), 3n);
  assert.equal(run('mov %r0, -1\nlock fetch add32 [%r1], %r0\nexit', { mem: mem() }), 5n);
  const m = mem();
  assert.equal(run('mov %r2, -1\nlock add32 [%r1], %r2\nldxdw %r0, [%r1]\nexit', { mem: m }), 0x100000004n);
  assert.deepEqual(m, Uint8Array.of(4, 0, 0, 0, 1, 0, 0, 0));
  assert.equal(run('mov %r0, 2\nlock fetch or [%r1], %r0\nldxdw %r0, [%r1]\nexit', { mem: mem() }), 0x100000007n);
  assert.equal(run('mov %r0, 4\nlock fetch and [%r1], %r0\nexit', { mem: mem() }), 0x100000005n);
  assert.equal(run('mov %r2, 4\nlock and [%r1], %r2\nldxdw %r0, [%r1]\nexit', { mem: mem() }), 4n);
  assert.equal(run('mov %r0, 1\nlock fetch xor32 [%r1], %r0\nexit', { mem: mem() }), 5n);
  assert.equal(run('mov %r2, 1\nlock xor [%r1], %r2\nldxdw %r0, [%r1]\nexit', { mem: mem() }), 0x100000004n);
  assert.equal(run('mov %r0, 9\nlock xchg [%r1], %r0\nexit', { mem: mem() }), 0x100000005n);
  assert.equal(run('mov %r2, 9\nlock xchg32 [%r1], %r2\nldxdw %r0, [%r1]\nexit', { mem: mem() }), 0x100000009n);
});

test('cmpxchg stores only on a match and always returns the old value in r0', () => {
  const hit = Uint8Array.of(5, 0, 0, 0, 1, 0, 0, 0);
  assert.equal(run('lddw %r0, 0x100000005\nmov %r2, 7\nlock cmpxchg [%r1], %r2\nexit', { mem: hit }), 0x100000005n);
  assert.deepEqual(hit, Uint8Array.of(7, 0, 0, 0, 0, 0, 0, 0));
  const miss = Uint8Array.of(5, 0, 0, 0, 1, 0, 0, 0);
  assert.equal(run('mov %r0, 5\nmov %r2, 7\nlock cmpxchg [%r1], %r2\nexit', { mem: miss }), 0x100000005n);
  assert.deepEqual(miss, Uint8Array.of(5, 0, 0, 0, 1, 0, 0, 0));
  // 32-bit: compares the low half of r0 only, r0 = zero-extended old value
  const hit32 = Uint8Array.of(5, 0, 0, 0, 1, 0, 0, 0);
  assert.equal(run('lddw %r0, 0xff00000005\nmov %r2, 7\nlock cmpxchg32 [%r1], %r2\nexit', { mem: hit32 }), 5n);
  assert.deepEqual(hit32, Uint8Array.of(7, 0, 0, 0, 1, 0, 0, 0));
});

test('load-acquire and store-release at every width', () => {
  const sizes = [
    [Size.B, 0x88n],
    [Size.H, 0x7788n],
    [Size.W, 0x55667788n],
    [Size.DW, 0x1122334455667788n],
  ] as const;
  for (const [size, expected] of sizes) {
    const mem = Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88).reverse();
    const program = [loadAcquire(size, 0, 1, 0), exit()];
    assert.equal(run(program, { mem }), expected, `load-acquire size ${size}`);
    const out = new Uint8Array(8);
    run([...lddw(2, 0x8877665544332211n), storeRelease(size, 1, 0, 2), mov64Imm(0, 0), exit()], { mem: out });
    const bytes = { [Size.B]: 1, [Size.H]: 2, [Size.W]: 4, [Size.DW]: 8 }[size];
    assert.deepEqual(out, Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88], (b, i) => (i < bytes ? b : 0)));
  }
  // 8-bit and 16-bit read-modify-write atomics are not instructions.
  assert.throws(() => new Vm().load([atomic(Size.B, AtomicOp.ADD, 1, 0, 2), exit()]), ProgramLoadError);
});

test('stores of every width; st sign-extends its immediate for dw', () => {
  const mem = new Uint8Array(16);
  run('stb [%r1], 0x11\nsth [%r1+2], 0x2233\nstw [%r1+4], -2\nstdw [%r1+8], -3\nmov %r0, 0\nexit', { mem });
  assert.deepEqual(mem, Uint8Array.of(0x11, 0, 0x33, 0x22, 0xfe, 0xff, 0xff, 0xff, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
  const mem2 = new Uint8Array(15);
  run('lddw %r2, 0x0102030405060708\nstxb [%r1], %r2\nstxh [%r1+1], %r2\nstxw [%r1+3], %r2\nstxdw [%r1+7], %r2\nexit', { mem: mem2 });
  assert.deepEqual(mem2, Uint8Array.of(8, 8, 7, 8, 7, 6, 5, 8, 7, 6, 5, 4, 3, 2, 1));
});

test('bpf-to-bpf calls: callee-saved r6-r9, a fresh stack frame, caller frames reachable by pointer', () => {
  const program = `
    mov %r6, 6
    stdw [%r10-8], 0x11
    mov %r1, %r10
    call local callee
    ldxdw %r2, [%r10-8]
    jne %r2, 0x22, fail
    jne %r6, 6, fail
    exit
  fail:
    mov %r0, -1
    exit
  callee:
    stdw [%r10-8], 0x33
    stdw [%r1-8], 0x22
    ldxdw %r0, [%r10-8]
    mov %r6, 0
    exit`;
  assert.equal(run(program), 0x33n);
});

test('call depth: 8 frames run, a 9th is refused with CallDepthError', () => {
  const recurse = (n: number): string => `
    mov %r1, ${n}
    call local f
    exit
  f:
    jeq %r1, 0, done
    sub %r1, 1
    call local f
  done:
    mov %r0, 1
    exit`;
  assert.equal(run(recurse(6)), 1n);
  assert.throws(
    () => run(recurse(7)),
    (e: unknown) => e instanceof CallDepthError && e.frames === 9 && /instruction 5: the call stack of 9 frames is too deep/.test(e.message),
  );
});

test('the instruction budget stops a runaway program with a typed error naming it', () => {
  const loop = 'mov %r0, 0\nadd %r0, 1\nja -2\nexit';
  assert.throws(
    () => run(loop, { budget: 1000 }),
    (e: unknown) => e instanceof BudgetExceededError && e.budget === 1000 && /budget of 1000/.test(e.message),
  );
  const prog = new Vm().load(asm('mov %r0, 1\nadd %r0, 1\nexit'));
  assert.equal(prog.run({ budget: 3 }).instructions, 3);
  assert.throws(() => prog.run({ budget: 2 }), BudgetExceededError);
  assert.equal(prog.run({ budget: 0 }).r0, 2n);
  assert.throws(() => new Vm({ budget: 50 }).load(asm(loop)).run(), BudgetExceededError);
  assert.throws(() => new Vm({ budget: -1 }), VmOptionError);
  assert.throws(() => prog.run({ budget: 1.5 }), VmOptionError);
});

test('memory faults: NULL, stack underflow and overflow, read-only regions, pointers above 4 GiB', () => {
  const fault = (source: string, options: RunOptions, pc: number, address: bigint, write: boolean, vm?: Vm): void => {
    assert.throws(
      () => run(source, options, vm),
      (e: unknown) => e instanceof MemoryAccessError && e.pc === pc && e.address === address && e.write === write,
      source,
    );
  };
  fault('mov %r1, 0\nldxw %r0, [%r1]\nexit', {}, 1, 0n, false);
  fault('mov %r0, 0\nldxdw %r0, [%r1+16]\nexit', { r1: 0x10000 }, 1, 0x10010n, false);
  const vm = new Vm();
  // Reading the 8 bytes at r10 is above the stack (underflow), even when input memory was allocated right after it.
  assert.throws(() => run('ldxdw %r0, [%r10]\nexit'), (e: unknown) => e instanceof MemoryAccessError && e.pc === 0);
  assert.throws(() => run('ldxdw %r0, [%r10]\nexit', { mem: new Uint8Array(64) }), (e: unknown) => e instanceof MemoryAccessError && e.pc === 0);
  assert.throws(() => run('ldxdw %r0, [%r10+504]\nexit', { mem: new Uint8Array(64) }), (e: unknown) => e instanceof MemoryAccessError && e.pc === 0);
  // Frame 0 has 512 bytes: r10-512 is fine, r10-520 is not (overflow).
  assert.equal(run('stdw [%r10-512], 1\nldxdw %r0, [%r10-512]\nexit'), 1n);
  assert.throws(() => run('stdw [%r10-520], 1\nexit'), (e: unknown) => e instanceof MemoryAccessError && e.write);
  // After a call returns, the callee's frame is gone.
  assert.throws(
    () => run('call local f\nldxdw %r0, [%r10-520]\nexit\nf:\nstdw [%r10-8], 1\nexit'),
    (e: unknown) => e instanceof MemoryAccessError && e.pc === 1,
  );
  const ro = vm.memory.allocateRegion(8, 'rodata', 'rodata', false);
  assert.equal(run('ldxdw %r0, [%r1]\nexit', { r1: ro.start }, vm), 0n);
  assert.throws(
    () => run('stw [%r1+4], 1\nexit', { r1: ro.start }, vm),
    (e: unknown) => e instanceof MemoryAccessError && e.write && e.region === ro && /rodata is read-only/.test(e.message),
  );
  assert.throws(() => run('mov %r2, 1\nlock add [%r1], %r2\nexit', { r1: ro.start }, vm), MemoryAccessError);
  fault('lddw %r1, 0x100010000\nldxb %r0, [%r1]\nexit', {}, 2, 0x100010000n, false);
  fault('mov %r1, 0\nldxb %r0, [%r1-1]\nexit', {}, 1, u64(-1n), false);
  // Input memory: the last byte is readable, one past it is not; memWritable: false forbids writes.
  const mem = new Uint8Array(4);
  assert.equal(run('ldxb %r0, [%r1+3]\nexit', { mem }), 0n);
  assert.throws(() => run('ldxw %r0, [%r1+1]\nexit', { mem }), MemoryAccessError);
  assert.throws(() => run('stb [%r1], 1\nexit', { mem, memWritable: false }), MemoryAccessError);
});

test('input memory writes are visible afterwards, even when the program then faults', () => {
  const mem = new Uint8Array(4);
  run('stw [%r1], 0x04030201\nmov %r0, 0\nexit', { mem });
  assert.deepEqual(mem, Uint8Array.of(1, 2, 3, 4));
  const mem2 = new Uint8Array(4);
  assert.throws(() => run('stb [%r1], 9\nmov %r1, 0\nldxb %r0, [%r1]\nexit', { mem: mem2 }), MemoryAccessError);
  assert.equal(mem2[0], 9);
});

test('regions and stacks are released after every run', () => {
  const vm = new Vm();
  const before = vm.memory.listRegions().length;
  const prog = vm.load(asm('ldxb %r0, [%r1]\nexit'));
  for (let i = 0; i < 5; i++) prog.run({ mem: Uint8Array.of(i) });
  assert.throws(() => prog.run({ mem: Uint8Array.of(1), r1: 0 }), MemoryAccessError);
  assert.equal(vm.memory.listRegions().length, before);
});

test('a helper may run programs of the same VM, including the caller, without disturbing it', () => {
  const helpers = new HelperRegistry();
  const vm = new Vm({ helpers });
  // r1 = depth; the program keeps r1 on its stack across a helper that runs the same program one level down.
  helpers.register(1000, (call) => (call.arg(1) === 0 ? 0 : Number(outer.run({ r1: call.arg(1) - 1 }).r0)));
  const outer = vm.load(
    asm(`
      stxdw [%r10-8], %r1
      call 1000
      ldxdw %r3, [%r10-8]
      add %r0, %r3
      exit`),
  );
  assert.equal(outer.run({ r1: 3 }).r0, 6n); // 3 + 2 + 1 + 0
  assert.equal(outer.run({ r1: 0 }).r0, 0n);
});

test('lddw pseudo sources must be resolved before loading', () => {
  for (const [src, name] of [
    [LdImm64Src.MAP_FD, 'BPF_PSEUDO_MAP_FD'],
    [LdImm64Src.MAP_VALUE, 'BPF_PSEUDO_MAP_VALUE'],
    [LdImm64Src.BTF_ID, 'BPF_PSEUDO_BTF_ID'],
    [LdImm64Src.MAP_IDX_VALUE, 'BPF_PSEUDO_MAP_IDX_VALUE'],
  ] as const) {
    assert.throws(
      () => new Vm().load([mov64Imm(0, 0), ...lddw(1, 3, src), exit()]),
      (e: unknown) => e instanceof ProgramLoadError && e.index === 1 && e.message.includes(name) && e.message.includes('unresolved'),
    );
  }
});

test('malformed programs are refused at load with the instruction index', () => {
  const load = (program: Instruction[]): unknown => new Vm().load(program);
  assert.throws(() => load([]), ProgramLoadError);
  assert.throws(() => load([insn(0xf7), exit()]), (e: unknown) => e instanceof ProgramLoadError && e.index === 0 && /unknown opcode f7/.test(e.message));
  assert.throws(() => load(asm('ja +5\nexit')), (e: unknown) => e instanceof ProgramLoadError && /jump out of range/.test(e.message));
  assert.throws(() => load(asm('ja +1\nlddw %r0, 1\nexit')), (e: unknown) => e instanceof ProgramLoadError && /middle of ldimm64/.test(e.message));
  assert.throws(() => load([insn(0x85, 0, 1, 0, 10), exit()]), (e: unknown) => e instanceof ProgramLoadError && /call out of range/.test(e.message));
  assert.throws(() => load([insn(0x07, 11), exit()]), ProgramLoadError);
  // ISA gating
  assert.throws(() => new Vm().load(asm('sdiv %r0, 2\nexit'), { isa: 3 }), /needs ISA v4/);
  assert.throws(() => new Vm().load(asm('jlt %r0, 2, +0\nexit'), { isa: 1 }), /needs ISA v2/);
  // Falling off the end is caught when it happens.
  assert.throws(() => run('mov %r0, 0'), (e: unknown) => e instanceof VmRuntimeError && /fell off the end/.test(e.message));
});

test('helpers: unknown ids are listed at load; arguments, results and errors', () => {
  assert.throws(
    () => new Vm({ helpers: new HelperRegistry() }).load(asm('call 1\ncall 6\ncall 1\nexit')),
    (e: unknown) =>
      e instanceof UnknownHelperError &&
      e.missing.length === 3 &&
      e.message.includes('helper 1 (bpf_map_lookup_elem) called at instruction 0') &&
      e.message.includes('helper 6 (bpf_trace_printk) called at instruction 1'),
  );
  const seen: unknown[] = [];
  const helpers = new HelperRegistry()
    .register(1000, (call) => {
      seen.push(call.arg(1), call.argU32(2), call.argI32(2), call.argU64(3), call.argI64(3), call.pc, call.program.name, call.context);
      return -22;
    })
    .register(1001, () => 0xffffffffffffffffn)
    .register(1002, () => {
      throw new Error('boom');
    })
    .register(1003, () => 1.5)
    .register(1004, (call) => {
      call.bytes(1, 4, true).set([1, 2, 3, 4]);
      return call.pointer(1, 4, false);
    });
  const vm = new Vm({ helpers });
  const r0 = vm
    .load(asm('mov %r1, 7\nmov %r2, -1\nmov %r3, -2\ncall 1000\nexit'), { name: 'caller' })
    .run({ context: 'ctx' }).r0;
  assert.equal(r0, u64(-22n));
  assert.deepEqual(seen, [7, 0xffffffff, -1, u64(-2n), -2n, 3, 'caller', 'ctx']);
  assert.equal(vm.load(asm('call 1001\nexit')).run().r0, u64(-1n));
  assert.throws(() => vm.load(asm('call 1002\nexit')).run(), (e: unknown) => e instanceof HelperError && e.pc === 0 && /helper 1002 failed: boom/.test(e.message));
  assert.throws(() => vm.load(asm('call 1003\nexit')).run(), /returned 1.5, not an integer/);
  assert.throws(() => vm.load(asm('mov %r1, 0\ncall 1004\nexit')).run(), (e: unknown) => e instanceof MemoryAccessError && e.pc === 1);
  const mem = new Uint8Array(4);
  const addr = vm.load(asm('call 1004\nexit')).run({ mem }).r0;
  assert.deepEqual(mem, Uint8Array.of(1, 2, 3, 4));
  assert.ok(addr >= 0x10000n);
  assert.throws(() => vm.load(asm('lddw %r1, 0x20000000000000\ncall 1000\nexit')).run(), /does not fit in a number/);
  assert.throws(() => helpers.register(1000, () => 0), /already registered/);
});

test('kfunc calls go through the registry keyed by BTF id, separately from helpers', () => {
  const helpers = new HelperRegistry().registerKfunc(77, (call) => call.arg(1) * 2, 'bpf_double');
  const vm = new Vm({ helpers });
  assert.equal(vm.load([mov64Imm(1, 21), insn(0x85, 0, 2, 0, 77), exit()]).run().r0, 42n);
  assert.throws(() => vm.load([insn(0x85, 0, 0, 0, 77), exit()]), UnknownHelperError);
  assert.throws(() => vm.load([insn(0x85, 0, 2, 0, 78), exit()]), (e: unknown) => e instanceof UnknownHelperError && /kfunc 78/.test(e.message));
  assert.throws(() => vm.load([insn(0x85, 0, 2, 1, 77), exit()]), UnknownHelperError);
});

test('callx calls the helper whose id is in the register', () => {
  const vm = new Vm({ helpers: new HelperRegistry().register(40, () => 4) });
  assert.equal(vm.load(asm('mov %r2, 40\ncall %r2\nexit')).run().r0, 4n);
  assert.throws(() => vm.load(asm('mov %r2, 41\ncall %r2\nexit')).run(), (e: unknown) => e instanceof VmRuntimeError && /callx r2: no helper with id 41/.test(e.message));
});

test("uBPF's unwind helper (conformance only) ends the program when it returns 0", () => {
  const vm = new Vm({ helpers: conformanceHelpers() });
  assert.equal(vm.load(asm('mov %r1, 0\ncall 5\nmov %r0, 2\nexit')).run().r0, 0n);
  assert.equal(vm.load(asm('mov %r1, 3\ncall 5\nmov %r0, 2\nexit')).run().r0, 2n);
  assert.throws(() => new Vm({ helpers: new HelperRegistry() }).load(asm('call 5\nexit')), UnknownHelperError);
});

test('tail calls replace the program in the current frame, keep r1, reset the stack, stop after 33', () => {
  const helpers = new HelperRegistry();
  const vm = new Vm({ helpers });
  let target: ReturnType<Vm['load']> | undefined;
  helpers.register(12, (call) => (call.tailCall(target!) ? 0 : -1));
  // The target reads its stack slot (zeroed) and the context byte r1 points at.
  target = vm.load(asm('ldxdw %r0, [%r10-8]\nldxb %r2, [%r1]\nadd %r0, %r2\nexit'), { name: 'target' });
  const caller = vm.load(asm('stdw [%r10-8], 100\nmov %r6, %r1\ncall 12\nmov %r0, -1\nexit'), { name: 'caller' });
  const result = caller.run({ mem: Uint8Array.of(5) });
  assert.equal(result.r0, 5n);
  assert.equal(result.tailCalls, 1);

  // A program that tail-calls itself: the 34th attempt fails and falls through.
  const counter = vm.load(asm('ldxw %r2, [%r1]\nadd %r2, 1\nstxw [%r1], %r2\ncall 12\nldxw %r0, [%r1]\nexit'));
  target = counter;
  const mem = new Uint8Array(4);
  const chain = counter.run({ mem });
  assert.equal(chain.r0, 34n);
  assert.equal(chain.tailCalls, 33);

  // From a subprogram: the tail-called program returns to the subprogram's caller.
  target = vm.load(asm('mov %r0, 7\nexit'));
  const sub = vm.load(asm('call local f\nadd %r0, 1\nexit\nf:\ncall 12\nmov %r0, 100\nexit'));
  assert.equal(sub.run().r0, 8n);
});

test('may_goto jumps once the per-frame budget of BPF_MAX_LOOPS is spent', () => {
  // r0 counts loop iterations until may_goto exits the loop.
  const program = [mov64Imm(0, 0), mayGoto(2), insn(0x07, 0, 0, 0, 1), insn(0x05, 0, 0, -3), exit()];
  const result = new Vm().load(program).run();
  assert.equal(result.r0, BigInt(MAY_GOTO_LOOPS));
  assert.equal(MAY_GOTO_LOOPS, 8 * 1024 * 1024);
});

test('LD_ABS / LD_IND read the packet big-endian; out of bounds returns 0 from the function', () => {
  const vm = new Vm();
  const region = vm.memory.allocateRegion(6, 'packet', 'packet', false);
  vm.memory.u8.set([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc], region.start);
  const packet = { start: region.start, length: 6 };
  const load = (source: string, options: RunOptions = {}): bigint => vm.load(asm(source)).run({ packet, ...options }).r0;
  assert.equal(load('ldabsw 0\nexit'), 0x12345678n);
  assert.equal(load('ldabsh 4\nexit'), 0x9abcn);
  assert.equal(load('ldabsb 5\nexit'), 0xbcn);
  assert.equal(load('mov %r6, 1\nldindw %r6, 1\nexit'), 0x56789abcn);
  assert.equal(load('mov %r0, 99\nldabsw 3\nmov %r0, 99\nexit'), 0n);
  assert.equal(load('mov %r6, -1\nldindb %r6, 0\nmov %r0, 99\nexit'), 0n);
  // In a subprogram the failure returns to the caller, as the kernel's rewrite does.
  assert.equal(load('call local f\nadd %r0, 1\nexit\nf:\nldabsb 6\nmov %r0, 99\nexit'), 1n);
  assert.throws(() => vm.load(asm('ldabsb 0\nexit')).run(), /needs packet data/);
});

test('r1-r5 accept numbers and bigints', () => {
  const prog = new Vm().load(asm('mov %r0, %r1\nadd %r0, %r2\nadd %r0, %r3\nadd %r0, %r4\nadd %r0, %r5\nexit'));
  assert.equal(prog.run({ r1: 1, r2: -2, r3: 2n ** 40n, r4: -1n, r5: 0 }).r0, u64(2n ** 40n - 2n));
  assert.throws(() => prog.run({ r1: 0.5 }), (e: unknown) => e instanceof VmOptionError && /r1 = 0.5 is not a safe integer/.test(e.message));
});

test('the 64-bit multiply matches BigInt on random operands', () => {
  let seed = 0x9e3779b9n;
  const next = (): bigint => {
    seed = u64(seed * 6364136223846793005n + 1442695040888963407n);
    return seed;
  };
  const vm = new Vm();
  for (let i = 0; i < 200; i++) {
    const a = next();
    const b = next();
    const program = [...lddw(0, a), ...lddw(1, b), insn(0x2f, 0, 1), exit()];
    assert.equal(vm.load(program).run().r0, u64(a * b));
    const divide = [...lddw(0, a), ...lddw(1, b >> BigInt(i % 64)), insn(0x3f, 0, 1, 1), exit()];
    const divisor = BigInt.asIntN(64, b >> BigInt(i % 64));
    assert.equal(vm.load(divide).run().r0, divisor === 0n ? 0n : u64(BigInt.asIntN(64, a) / divisor));
  }
  assert.equal(AluOp.MUL, 0x20);
});
