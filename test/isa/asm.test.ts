import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsmError, type Instruction, assemble, encode, insn } from '../../src/isa/index.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

/** Hex of the encoded slots, for compact expectations (little-endian struct bpf_insn bytes). */
function hex(source: string, syntax: 'auto' | 'llvm' | 'ubpf' = 'auto'): string {
  return Buffer.from(encode(assemble(source, { syntax }))).toString('hex');
}

function one(source: string, syntax: 'auto' | 'llvm' | 'ubpf' = 'auto'): Instruction {
  const out = assemble(source, { syntax });
  assert.equal(out.length, 1, `${source} gave ${out.length} slots`);
  return out[0]!;
}

function rejects(source: string, line: number, column: number, pattern: RegExp, syntax: 'auto' | 'llvm' | 'ubpf' = 'auto'): void {
  assert.throws(
    () => assemble(source, { syntax }),
    (err: unknown) => {
      assert.ok(err instanceof AsmError, `expected AsmError, got ${String(err)}`);
      assert.equal(err.line, line, err.message);
      assert.equal(err.column, column, err.message);
      assert.match(err.message, new RegExp(`^line ${line}, column ${column}: `));
      assert.match(err.message, pattern);
      return true;
    },
  );
}

// Expected encodings below come from llvm-mc-19 -show-encoding (bpfel, +alu32) where llvm accepts the form.
const LLVM_CASES: ReadonlyArray<readonly [string, string]> = [
  ['r0 = *(u32 *)(r1 + 4)', '6110040000000000'],
  ['r0 = *(u32 *)(r1 +4)', '6110040000000000'],
  ['r0 = *(u32 *)(r1 + 0x7fff)', '6110ff7f00000000'],
  ['*(u64 *)(r10 - 8) = r1', '7b1af8ff00000000'],
  ['*(u32 *)(r10 -8) = 5', '620af8ff05000000'],
  ['*(u8 *)(r10 - 0x8) = w1', '731af8ff00000000'],
  ['w1 = *(u8 *)(r1 - 0x8)', '7111f8ff00000000'],
  ['if r1 > 0x10 goto +3', '2501030010000000'],
  ['if w1 s< w2 goto pc-5', 'ce21fbff00000000'],
  ['if w1 s< -1 goto -5', 'c601fbffffffffff'],
  ['if r1 & 0x1 goto +2', '4501020001000000'],
  ['if r1 > 0x80000000 goto -32768', '2501008000000080'],
  ['goto +2', '0500020000000000'],
  ['goto -0x3 <LBB0_2>', '0500fdff00000000'],
  ['goto -0x1 <prog+0x268>', '0500ffff00000000'],
  ['gotol +5', '0600000005000000'],
  ['gotol pc-5', '06000000fbffffff'],
  ['may_goto pc+3', 'e500030000000000'],
  ['may_goto -0x3', 'e500fdff00000000'],
  ['call bpf_map_lookup_elem', '8500000001000000'],
  ['call map_lookup_elem', '8500000001000000'],
  ['call bpf_map_lookup_elem#1', '8500000001000000'],
  ['call unknown#999', '85000000e7030000'],
  ['call 1', '8500000001000000'],
  ['call 0x1', '8500000001000000'],
  ['call pc+5', '8510000005000000'],
  ['call -3', '85100000fdffffff'],
  ['call -0x1', '85100000ffffffff'],
  ['call kernel-function#1234', '85200000d2040000'],
  ['call bpf_obj_new_impl#56789', '85200000d5dd0000'],
  ['call kernel-function#7, btf_fd_idx=2', '8520020007000000'],
  ['callx r1', '8d01000000000000'],
  ['exit', '9500000000000000'],
  ['r1 = 0x1234 ll', '18010000341200000000000000000000'],
  ['r1 = -1 ll', '18010000ffffffff00000000ffffffff'],
  ['r1 = 0x7fffffffffffffff ll', '18010000ffffffff00000000ffffff7f'],
  ['r1 = 0xffff888100000000', '1801000000000000000000008188ffff'],
  ['r1 = map[id:5]', '18110000050000000000000000000000'],
  ['r1 = map[id:5][0]+16', '18210000050000000000000010000000'],
  ['r1 = map_fd(5) ll', '18110000050000000000000000000000'],
  ['r1 = map_value(5)+8 ll', '18210000050000000000000008000000'],
  ['r1 = btf_id(77) ll', '183100004d0000000000000000000000'],
  ['r1 = btf_id(77, 3) ll', '183100004d0000000000000003000000'],
  ['r1 = func(pc+2) ll', '18410000020000000000000000000000'],
  ['r1 = map_idx(0) ll', '18510000000000000000000000000000'],
  ['r1 = map_idx_value(2)+4 ll', '18610000020000000000000004000000'],
  ['w0 = w1', 'bc10000000000000'],
  ['r0 = r10', 'bfa0000000000000'],
  ['r0 += r1', '0f10000000000000'],
  ['r2 += -0x4', '07020000fcffffff'],
  ['w0 s/= w1', '3c10010000000000'],
  ['r0 s%= 3', '9700010003000000'],
  ['w0 s>>= w3', 'cc30000000000000'],
  ['r0 = -r0', '8700000000000000'],
  ['w0 = -w0', '8400000000000000'],
  ['r0 = -2147483648', 'b700000000000080'],
  ['w0 = 0xffffffff', 'b4000000ffffffff'],
  ['r0 = (s8)r1', 'bf10080000000000'],
  ['w0 = (s16)w1', 'bc10100000000000'],
  ['r0 = (s32)r1', 'bf10200000000000'],
  ['r0 = *(s8 *)(r1 + 0)', '9110000000000000'],
  ['r0 = *(s32 *)(r1 - 32768)', '8110008000000000'],
  ['r0 = be16 r0', 'dc00000010000000'],
  ['r0 = le32 r0', 'd400000020000000'],
  ['r0 = bswap64 r0', 'd700000040000000'],
  ['lock *(u64 *)(r1 + 0) += r2', 'db21000000000000'],
  ['lock *(u32 *)(r1 + 0) |= w2', 'c321000040000000'],
  ['lock *(u32 *)(r1 +0) |= r2', 'c321000040000000'],
  ['r2 = atomic_fetch_add((u64 *)(r1 + 0x0), r2)', 'db21000001000000'],
  ['w2 = atomic_fetch_xor((u32 *)(r1 + 0), w2)', 'c3210000a1000000'],
  ['r2 = atomic64_fetch_and((u64 *)(r1 +0), r2)', 'db21000051000000'],
  ['r0 = xchg_64(r1 + 0, r0)', 'db010000e1000000'],
  ['w0 = xchg32_32(r1 + 0, w0)', 'c3010000e1000000'],
  ['r3 = atomic_xchg((u32 *)(r1 -8), r3)', 'c331f8ffe1000000'],
  ['r0 = cmpxchg_64(r1 + 0, r0, r2)', 'db210000f1000000'],
  ['w0 = cmpxchg32_32(r1 + 0, w0, w2)', 'c3210000f1000000'],
  ['r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)', 'db210000f1000000'],
  ['r0 = load_acquire((u64 *)(r1 + 0))', 'db10000000010000'],
  ['w0 = load_acquire((u8 *)(r1 + 0))', 'd310000000010000'],
  ['store_release((u64 *)(r1 + 0), r2)', 'db21000010010000'],
  ['store_release((u16 *)(r1 - 2), w2)', 'cb21feff10010000'],
  ['r0 = *(u8 *)skb[5]', '3000000005000000'],
  ['r0 = *(u16 *)skb[r1 + 5]', '4810000005000000'],
  ['r0 = *(u16 *)skb[r1]', '4810000000000000'],
  ['r1 = addr_space_cast(r2, 0, 1)', 'bf21010001000000'],
  ['r1 = addr_space_cast(r2, 0x1, 0x0)', 'bf21010000000100'],
  // Pasted llvm-objdump and kernel log lines.
  ['      0:\tb7 00 00 00 00 00 00 00\tr0 = 0x0', 'b700000000000000'],
  ['       5:\tr1 = 0x0 ll', '18010000000000000000000000000000'],
  ['0: (b7) r0 = 0', 'b700000000000000'],
  ['3: (18) r1 = 0x5', '18010000050000000000000000000000'],
  ['12: (85) call bpf_map_lookup_elem#1', '8500000001000000'],
];

test('C-like (llvm-objdump / kernel log) syntax encodes as llvm-mc does', () => {
  for (const [source, expected] of LLVM_CASES) {
    assert.equal(hex(source, 'llvm'), expected, source);
    assert.equal(hex(source, 'auto'), expected, `${source} (auto)`);
  }
});

const UBPF_CASES: ReadonlyArray<readonly [string, Instruction]> = [
  ['mov %r0, 1', insn(0xb7, 0, 0, 0, 1)],
  ['mov32 %r0, 0x80000000', insn(0xb4, 0, 0, 0, -2147483648)],
  ['mov64 %r1, %r2', insn(0xbf, 1, 2)],
  ['add32 %r0, -1', insn(0x04, 0, 0, 0, -1)],
  ['sdiv32 %r0, %r1', insn(0x3c, 0, 1, 1)],
  ['smod %r0, 3', insn(0x97, 0, 0, 1, 3)],
  ['neg %r3', insn(0x87, 3)],
  ['neg32 %r3', insn(0x84, 3)],
  ['movsx832 %r0, %r1', insn(0xbc, 0, 1, 8)],
  ['movsx3264 %r0, %r1', insn(0xbf, 0, 1, 32)],
  ['be16 %r0', insn(0xdc, 0, 0, 0, 16)],
  ['le64 %r0', insn(0xd4, 0, 0, 0, 64)],
  ['bswap32 %r0', insn(0xd7, 0, 0, 0, 32)],
  ['swap16 %r0', insn(0xd7, 0, 0, 0, 16)],
  ['ldxdw %r0, [%r1]', insn(0x79, 0, 1, 0)],
  ['ldxb %r0, [%r10-1]', insn(0x71, 0, 10, -1)],
  ['ldxsh %r0, [%r10-2]', insn(0x89, 0, 10, -2)],
  ['ldxb %r8, [%r0+0x1]', insn(0x71, 8, 0, 1)],
  ['stw [%r10-4], 0x80000001', insn(0x62, 10, 0, -4, -2147483647)],
  ['stxb [%r1+2], %r3', insn(0x73, 1, 3, 2)],
  ['lock add [%r10-8], %r1', insn(0xdb, 10, 1, -8, 0x00)],
  ['lock fetch xor32 [%r10-4], %r3', insn(0xc3, 10, 3, -4, 0xa1)],
  ['lock xchg [%r10-8], %r1', insn(0xdb, 10, 1, -8, 0xe1)],
  ['lock cmpxchg32 [%r10-8], %r1', insn(0xc3, 10, 1, -8, 0xf1)],
  ['jeq %r1, 0x80000000, +1', insn(0x15, 1, 0, 1, -2147483648)],
  ['jsle32 %r1, %r2, -3', insn(0xde, 1, 2, -3)],
  ['ja +0', insn(0x05)],
  ['call 5', insn(0x85, 0, 0, 0, 5)],
  ['call helper 6', insn(0x85, 0, 0, 0, 6)],
  ['call runtime 7', insn(0x85, 0, 2, 0, 7)],
  ['call %r2', insn(0x8d, 2)],
  ['ldabsh 12', insn(0x28, 0, 0, 0, 12)],
  ['ldindb %r1, 2', insn(0x50, 0, 1, 0, 2)],
  ['exit', insn(0x95)],
];

test('uBPF syntax of the conformance vectors', () => {
  for (const [source, expected] of UBPF_CASES) {
    assert.deepEqual(one(source, 'ubpf'), expected, source);
    if (source !== 'exit' && source !== 'call 5') assert.deepEqual(one(source, 'auto'), expected, `${source} (auto)`);
  }
  assert.equal(hex('lddw %r0, 0x1122334455667788', 'ubpf'), '18000000887766550000000044332211');
  assert.deepEqual(assemble('lddw %r1, -1', { syntax: 'ubpf' }).map((i) => i.imm), [-1, -1]);
  assert.deepEqual(assemble('lddw %r1, 2147483648', { syntax: 'ubpf' }).map((i) => i.imm), [-2147483648, 0]);
});

test('labels, the implicit uBPF exit label, local calls and ja32', () => {
  const program = assemble(
    ['mov %r0, 0', 'jeq %r1, 0, exit', 'call local f', 'ja32 done', 'exit', 'f:', 'mov %r0, 1', 'exit', 'done:', 'lddw %r1, 1', 'ja skip', 'skip: exit'].join('\n'),
  );
  assert.equal(program[1]!.offset, 2); // to the first exit at slot 4
  assert.deepEqual(program[2], insn(0x85, 0, 1, 0, 2)); // f at slot 5
  assert.deepEqual(program[3], insn(0x06, 0, 0, 0, 3)); // done at slot 7
  assert.equal(program[9]!.offset, 0);

  const c = assemble('  call f\n  goto LBB0_2\nf:\n  r0 = 1\nLBB0_2: exit\n  r1 = func(f) ll');
  assert.deepEqual(c[0], insn(0x85, 0, 1, 0, 1));
  assert.equal(c[1]!.offset, 1);
  assert.equal(c[4]!.imm, -3);
});

test('comments and llvm-objdump headers', () => {
  const source = [
    '/* block',
    '   comment */ r0 = 1 // trailing',
    '# hash comment',
    'r1 = 2 ; semicolon comment',
    'r2 = 3 # after blanks',
    't.o:\tfile format elf64-bpf',
    'Disassembly of section xdp:',
    '0000000000000000 <prog>:',
    '  call bpf_trace_printk#6 /* inline */',
    'goto prog',
  ].join('\n');
  const p = assemble(source);
  assert.equal(p.length, 5);
  assert.equal(p[0]!.imm, 1);
  assert.equal(p[3]!.imm, 6);
  assert.equal(p[4]!.offset, -2);
});

test('errors name line, column and what was expected', () => {
  rejects('r0 = 1\nr0 = *(u32 *)(r1 + 4', 2, 21, /expected '\)'/);
  rejects('r0 = 1\n  frob r1', 2, 3, /expected an instruction, found 'frob'/);
  rejects('w0 = r1', 1, 6, /both operands must be w registers/);
  rejects('r0 = 0x100000000 ll\nw0 = 0x100000000', 2, 6, /does not fit in 32 bits/);
  rejects('goto +32768', 1, 6, /out of range -32768\.\.32767/);
  rejects('goto nowhere', 1, 6, /undefined label 'nowhere'/);
  rejects('call no_such_helper', 1, 6, /neither a label nor a known helper/);
  rejects('call bpf_map_lookup_elem#2', 1, 6, /helper bpf_map_lookup_elem is #1, not #2/);
  rejects('r0 = *(u32 *)(r1 + 32768)', 1, 18, /offset 32768 out of range/);
  rejects('0: (bf) r0 = 0', 1, 5, /opcode \(bf\) does not match the instruction, which encodes as \(b7\)/);
  rejects('r1 = atomic_fetch_add((u64 *)(r1 + 0), r2)', 1, 6, /returned in the source register/);
  rejects('x:\nx:', 2, 1, /label 'x' is already defined/);
  rejects('mov %r0, 2147483648', 1, 10, /does not fit in 32 bits/, 'ubpf');
  rejects('mov32 %r0, 0x100000000', 1, 12, /does not fit in 32 bits/, 'ubpf');
  rejects('ldxw %r0, [%r1+2', 1, 17, /expected '\]'/, 'ubpf');
  rejects('frobnicate %r0, 1', 1, 1, /unknown mnemonic 'frobnicate'/, 'ubpf');
  rejects('mov %r16, 1', 1, 5, /register %r16 does not exist/, 'ubpf');
  rejects('ja +1\nja nowhere', 2, 4, /undefined label 'nowhere'/, 'ubpf');
  rejects('r0 = 0x' + 'f'.repeat(60), 1, 6, /number too long/);
});

test('syntax detection per source', () => {
  assert.deepEqual(assemble('exit\nmov %r0, 1'), [insn(0x95), insn(0xb7, 0, 0, 0, 1)]);
  assert.deepEqual(assemble('exit\nr0 = 1'), [insn(0x95), insn(0xb7, 0, 0, 0, 1)]);
  // `call -3` is a helper id in uBPF but a pc-relative call in the C-like syntax.
  assert.equal(assemble('call -3\nmov %r0, 0').at(0)!.src, 0);
  assert.equal(assemble('call -3\nr0 = 0').at(0)!.src, 1);
});

test('fuzz: arbitrary and mutated text only ever throws AsmError', () => {
  const random = seededRandom(fuzzSeed(0x2545f491));
  const rand = (n: number): number => Math.floor(random() * n);
  const corpus = [...LLVM_CASES.map(([s]) => s), ...UBPF_CASES.map(([s]) => s), 'lddw %r0, 0x1122334455667788', 'label:', '/*', '*/', '#', '<', '>'];
  const alphabet = ' \t\n()[]*+-=<>&|^%#:;,/sSuUrRwWx0123456789abcdefl_.pcgoitkmv\\\'"\r\u00e9';
  let thrown = 0;
  for (let round = 0; round < 6000; round++) {
    let text: string;
    if (round % 3 === 0) {
      text = Array.from({ length: rand(60) }, () => alphabet[rand(alphabet.length)]).join('');
    } else {
      const lines = Array.from({ length: 1 + rand(4) }, () => corpus[rand(corpus.length)]!);
      text = lines.join('\n');
      for (let m = rand(4); m >= 0; m--) {
        const at = rand(text.length + 1);
        const kind = rand(3);
        if (kind === 0) text = text.slice(0, at) + alphabet[rand(alphabet.length)] + text.slice(at);
        else if (kind === 1) text = text.slice(0, at) + text.slice(at + 1 + rand(3));
        else text = text.slice(0, at) + text.slice(rand(text.length));
      }
    }
    for (const syntax of ['auto', 'llvm', 'ubpf'] as const) {
      try {
        assemble(text, { syntax });
      } catch (err) {
        if (!(err instanceof AsmError)) assert.fail(`${String(err)} on ${JSON.stringify(text)} (${syntax})`);
        assert.ok(err.line >= 1 && err.column >= 1, err.message);
        thrown++;
      }
    }
  }
  assert.ok(thrown > 1000, `only ${thrown} inputs were rejected; the fuzzer is not exercising errors`);
});

test('C-like syntax has registers r0-r10 only, as llvm-mc', () => {
  for (const source of ['r11 = 1', 'w15 += 1', 'r0 = r12']) {
    assert.throws(() => assemble(source, { syntax: 'llvm' }), (e: unknown) => e instanceof AsmError && /does not exist/.test(e.message));
  }
  assert.deepEqual(assemble('r10 = r10', { syntax: 'llvm' })[0]!.dst, 10);
});

test("a uBPF mnemonic with LLVM's bare registers says how each dialect writes them", () => {
  rejects('mov r0, 1\nexit', 1, 5, /'r0' needs a '%' in the uBPF dialect of this line's mnemonic \(%r0\); LLVM's dialect writes 'r0 = \.\.\.'/);
  rejects('mov %r0, 1\nadd %r0, r11', 2, 10, /'r11' needs a '%'/);
});
