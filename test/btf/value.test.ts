import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBtf } from '../../src/btf/btf.ts';
import type { BtfType } from '../../src/btf/types.ts';
import { BtfValueError, btfValueCodec, decodeBtfValue, encodeBtfValue } from '../../src/btf/value.ts';

const int = (id: number, name: string, size: number, encoding: 'none' | 'signed' | 'char' | 'bool' = 'none'): BtfType => ({ id, kind: 'int', name, size, encoding, offset: 0, bits: size * 8 });
const types: BtfType[] = [
  int(1, 'unsigned int', 4),
  int(2, 'long long', 8, 'signed'),
  int(3, 'char', 1, 'signed'),
  { id: 4, kind: 'array', name: '', elemType: 3, indexType: 1, nelems: 4 },
  { id: 5, kind: 'float', name: 'double', size: 8 },
  { id: 6, kind: 'ptr', name: '', type: 1 },
  { id: 7, kind: 'enum64', name: 'big', size: 8, signed: false, values: [{ name: 'HUGE', value: 1n << 60n }] },
  int(8, 'unsigned char', 1),
  { id: 9, kind: 'typedef', name: '__u8', type: 8 },
  { id: 10, kind: 'array', name: '', elemType: 9, indexType: 1, nelems: 4 },
  { id: 11, kind: 'struct', name: 'bits', size: 4, bitfieldEncoding: true, members: [
    { name: 'lo', type: 1, bitOffset: 0, bitSize: 4 },
    { name: 'neg', type: 2, bitOffset: 4, bitSize: 3 },
    { name: 'hi', type: 1, bitOffset: 7, bitSize: 25 },
  ] },
  int(12, '__int128', 16, 'signed'),
  { id: 13, kind: 'func_proto', name: '', returnType: 0, params: [] },
  int(14, 'short', 2, 'signed'),
];
const btf = createBtf(types);

test('scalars: ranges, bigint above 53 bits, floats, pointers, enum64', () => {
  assert.deepEqual(encodeBtfValue(btf, 1, 0xffffffff), new Uint8Array([255, 255, 255, 255]));
  assert.throws(() => encodeBtfValue(btf, 1, -1), (e) => e instanceof BtfValueError && /out of range/.test(e.message));
  assert.throws(() => encodeBtfValue(btf, 1, 1.5), /expected an integer/);
  assert.equal(decodeBtfValue(btf, 2, encodeBtfValue(btf, 2, -5n)), -5n);
  assert.equal(decodeBtfValue(btf, 2, encodeBtfValue(btf, 2, -5)), -5n, 'safe numbers encode into 64-bit fields');
  assert.throws(() => encodeBtfValue(btf, 2, 1n << 63n), /out of range for a 64-bit signed integer/);
  assert.equal(decodeBtfValue(btf, 12, encodeBtfValue(btf, 12, -(1n << 100n))), -(1n << 100n));
  assert.equal(decodeBtfValue(btf, 14, encodeBtfValue(btf, 14, -32768)), -32768);
  assert.equal(decodeBtfValue(btf, 5, encodeBtfValue(btf, 5, 0.1)), 0.1);
  assert.equal(decodeBtfValue(btf, 6, encodeBtfValue(btf, 6, 0xffff_8000_0000_0000n)), 0xffff_8000_0000_0000n);
  assert.equal(decodeBtfValue(btf, 7, encodeBtfValue(btf, 7, 'HUGE')), 'HUGE');
  assert.equal(decodeBtfValue(btf, 7, encodeBtfValue(btf, 7, 3)), 3n);
  assert.throws(() => btfValueCodec(btf, 13), (e) => e instanceof BtfValueError && /no value layout/.test(e.message));
  assert.throws(() => btfValueCodec(btf, 1).decode(new Uint8Array(3)), /3 bytes at offset 0/);
});

test('char arrays are C strings: they end at the first NUL whatever follows; __u8 arrays stay numbers', () => {
  assert.equal(decodeBtfValue(btf, 4, new Uint8Array([104, 105, 0, 0])), 'hi');
  // A reused buffer (a ring buffer record after the ring wrapped) keeps old bytes after the NUL.
  assert.equal(decodeBtfValue(btf, 4, new Uint8Array([104, 105, 0, 1])), 'hi', 'bytes after the NUL');
  assert.equal(decodeBtfValue(btf, 4, new Uint8Array([0, 116, 109, 112])), '', 'an empty string with garbage after it');
  assert.equal(decodeBtfValue(btf, 4, new Uint8Array([104, 105, 106, 107])), 'hijk', 'no terminator: the whole array');
  assert.equal(decodeBtfValue(btf, 4, new Uint8Array([0xff, 104, 0, 0])), '\ufffdh', 'bytes that are not UTF-8');
  assert.deepEqual(decodeBtfValue(btf, 10, new Uint8Array([104, 105, 0, 0])), [104, 105, 0, 0]);
  assert.deepEqual(encodeBtfValue(btf, 4, 'abc'), new Uint8Array([97, 98, 99, 0]));
  assert.deepEqual(encodeBtfValue(btf, 4, 'abcd'), new Uint8Array([97, 98, 99, 100]), 'a string filling the array, as C allows');
  assert.deepEqual(encodeBtfValue(btf, 4, [104, 105, 0, 1]), new Uint8Array([104, 105, 0, 1]), 'exact bytes as numbers');
  assert.throws(() => encodeBtfValue(btf, 4, 'abcde'), /holds at most 4/);
  assert.throws(() => encodeBtfValue(btf, 10, 'ab'), /expected an array of 4, got string/);
});

test('arguments are checked at the edge: a missing type id or Btf is a BtfValueError naming it', () => {
  assert.throws(() => btfValueCodec(btf, undefined as unknown as number), (e) => e instanceof BtfValueError && /type id must be an integer .* got undefined/.test(e.message));
  assert.throws(() => btfValueCodec(btf, 1.5), (e) => e instanceof BtfValueError && /got number 1.5/.test(e.message));
  assert.throws(() => btfValueCodec(btf, 10_000), (e) => e instanceof BtfValueError && /from 1 to/.test(e.message));
  assert.throws(() => btfValueCodec(undefined as unknown as typeof btf, 1), (e) => e instanceof BtfValueError && /expected a Btf/.test(e.message));
  assert.throws(() => btfValueCodec(btf, 1).decode('abc' as unknown as Uint8Array), (e) => e instanceof BtfValueError && /expected a Uint8Array/.test(e.message));
});

test('a DATASEC of size 0 (before the loader sizes it) spans its variables; a variable past a sized section is an error', () => {
  const sec = createBtf([
    int(1, 'int', 4, 'signed'),
    { id: 2, kind: 'var', name: 'a', type: 1, linkage: 'global' },
    { id: 3, kind: 'var', name: 'b', type: 1, linkage: 'global' },
    { id: 4, kind: 'datasec', name: '.bss', size: 0, vars: [{ type: 2, offset: 0, size: 4 }, { type: 3, offset: 4, size: 4 }] },
    // The entry claims 2 bytes, the variable's type takes 4.
    { id: 5, kind: 'datasec', name: '.data', size: 6, vars: [{ type: 2, offset: 0, size: 4 }, { type: 3, offset: 4, size: 2 }] },
  ]);
  assert.equal(btfValueCodec(sec, 4).size, 8);
  assert.deepEqual(decodeBtfValue(sec, 4, encodeBtfValue(sec, 4, { a: 1, b: -2 })), { a: 1, b: -2 });
  assert.throws(() => btfValueCodec(sec, 5), (e) => e instanceof BtfValueError && /variable 'b' of .data .* ends past the section's 6 bytes/.test(e.message));
});

test('bitfields, little and big endian', () => {
  const value = { lo: 9, neg: -3, hi: 0x1abcdef };
  const le = encodeBtfValue(btf, 11, value);
  assert.equal(new DataView(le.buffer).getUint32(0, true), (9 | (5 << 4) | (0x1abcdef << 7)) >>> 0);
  assert.deepEqual(decodeBtfValue(btf, 11, le), value);
  const be = createBtf(types, { endianness: 'big' });
  const bytes = encodeBtfValue(be, 11, value);
  assert.equal(new DataView(bytes.buffer).getUint32(0, false), ((9 << 28) | (5 << 25) | 0x1abcdef) >>> 0);
  assert.deepEqual(decodeBtfValue(be, 11, bytes), value);
  assert.throws(() => encodeBtfValue(btf, 11, { ...value, neg: 4 }), (e) => e instanceof BtfValueError && e.path === 'value.neg');
});
