import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError, assemble, decode, encode, insn, validateProgram } from '../../src/isa/index.ts';

test('little-endian layout: dst in the low nibble, fields little-endian', () => {
  const bytes = encode([insn(0x61, 1, 6, -2, 0x12345678)]);
  assert.deepEqual([...bytes], [0x61, 0x61, 0xfe, 0xff, 0x78, 0x56, 0x34, 0x12]);
  const swapped = encode([insn(0x61, 2, 6, 0, 0)]);
  assert.equal(swapped[1], 0x62);
});

test('big-endian layout swaps the register nibbles and the field byte order', () => {
  const program = [insn(0x61, 2, 6, -2, 0x12345678)];
  const bytes = encode(program, 'big');
  assert.deepEqual([...bytes], [0x61, 0x26, 0xff, 0xfe, 0x12, 0x34, 0x56, 0x78]);
  assert.deepEqual(decode(bytes, { endianness: 'big', validate: false }), program);
  // The same bytes read little-endian are a different instruction.
  assert.notDeepEqual(decode(bytes, { endianness: 'little', validate: false }), program);
});

test('encode/decode round trip a whole assembled program in both byte orders', () => {
  const program = assemble('r1 = 0x1122334455667788 ll\nw0 = -5\n*(u16 *)(r10 - 2) = w0\nif r1 s> r0 goto +1\ncall bpf_ktime_get_ns\nexit');
  for (const order of ['little', 'big'] as const) assert.deepEqual(decode(encode(program, order), { endianness: order }), program);
});

test('validation names the instruction index and the kernel message', () => {
  const check = (program: ReturnType<typeof insn>[], index: number, reason: string): void => {
    assert.throws(
      () => decode(encode(program)),
      (err: unknown) => err instanceof DecodeError && err.index === index && err.reason === reason && err.message === `instruction ${index}: ${reason}`,
    );
  };
  check([insn(0xb7), insn(0x07, 1, 2, 0, 5)], 1, 'BPF_ALU64 uses reserved fields');
  check([insn(0xb7), insn(0xb7), insn(0x04, 1, 2, 0, 5)], 2, 'BPF_ALU uses reserved fields');
  check([insn(0x8f)], 0, 'BPF_NEG uses reserved fields');
  check([insn(0xb7), insn(0xf7)], 1, 'unknown opcode f7');
  check([insn(0x18, 1, 0, 0, 1)], 0, 'invalid bpf_ld_imm64 insn: missing second slot');
  check([insn(0x18, 1, 7, 0, 1), insn(0)], 0, 'invalid bpf_ld_imm64 insn: unknown pseudo source');
  check([insn(0xb7, 11)], 0, 'R11 is invalid');
  // An lddw's second slot is skipped, so the index after it is counted in slots.
  check([insn(0x18, 1), insn(0), insn(0xff)], 2, 'unknown opcode ff');
  assert.doesNotThrow(() => validateProgram(assemble('r0 = 0\nexit')));
  // Linux's check_cfg refuses an EXIT's imm, registers, source bit or JMP32 class, but never reads its offset.
  check([insn(0xb7), insn(0x95, 0, 0, 0, 1)], 1, 'BPF_EXIT uses reserved fields');
  assert.doesNotThrow(() => validateProgram([insn(0xb7), insn(0x95, 0, 0, 5, 0)]));
});

test('a truncated byte stream is a DecodeError at the partial slot', () => {
  assert.throws(() => decode(new Uint8Array(12)), (err: unknown) => err instanceof DecodeError && err.index === 1 && /12 bytes/.test(err.message));
});
