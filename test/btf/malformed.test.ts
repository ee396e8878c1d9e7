import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type BtfType, BtfError, btfValueCodec, createBtf, formatC, formatRaw, parseBtf, parseBtfExt, resolveCoreRelocation } from '../../src/btf/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { readElfSections, section } from './elf-sections.ts';

const KIND = { int: 1, ptr: 2, array: 3, struct: 4, union: 5, enum: 6, typedef: 8, const: 10, func: 12, func_proto: 13 } as const;

/** A BTF blob from raw type words and a string section. */
function blob(typeWords: number[], strings = '\0int\0s\0', patch?: (view: DataView) => void): Uint8Array {
  const strBytes = new TextEncoder().encode(strings);
  const out = new Uint8Array(24 + typeWords.length * 4 + strBytes.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, typeWords.length * 4, true);
  v.setUint32(16, typeWords.length * 4, true);
  v.setUint32(20, strBytes.length, true);
  typeWords.forEach((w, i) => v.setUint32(24 + i * 4, w >>> 0, true));
  out.set(strBytes, 24 + typeWords.length * 4);
  patch?.(v);
  return out;
}
const info = (kind: number, vlen = 0, kflag = 0): number => ((kflag << 31) | (kind << 24) | vlen) >>> 0;
/** [1] int 'int' size 4, 32 bits signed. */
const INT = [1, info(KIND.int), 4, (1 << 24) | 32];

const HANG_MS = 5_000;

function expectBtfError(bytes: Uint8Array, pattern: RegExp): void {
  const start = performance.now();
  assert.throws(() => parseBtf(bytes), (err: unknown) => {
    assert.ok(err instanceof BtfError, `expected BtfError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
  // A hang detector, not a benchmark: malformed counts and cycles must be
  // rejected by a bounded check, never by walking billions of entries.
  assert.ok(performance.now() - start < HANG_MS, `rejection took ${(performance.now() - start).toFixed(0)} ms`);
}

test('a well-formed hand-built blob parses (the base for the malformed cases)', () => {
  const btf = parseBtf(blob([...INT, 0, info(KIND.ptr), 1]));
  assert.equal(btf.types.length, 3);
  assert.equal(btf.sizeOf(2), 8);
});

test('header problems: magic, version, truncation, offsets outside the blob', () => {
  const good = blob(INT);
  expectBtfError(good.subarray(0, 1), /too short/);
  expectBtfError(good.subarray(0, 20), /shorter than the 24-byte header/);
  expectBtfError(blob(INT, undefined, (v) => v.setUint16(0, 0x1234, true)), /bad magic/);
  expectBtfError(blob(INT, undefined, (v) => v.setUint8(2, 2)), /version 2/);
  expectBtfError(blob(INT, undefined, (v) => v.setUint32(4, 4096, true)), /header length 4096/);
  expectBtfError(blob(INT, undefined, (v) => v.setUint32(12, 0xfffffff0, true)), /type section .* exceeds/);
  expectBtfError(blob(INT, undefined, (v) => v.setUint32(16, 0x7fffffff, true)), /string section .* exceeds/);
  expectBtfError(blob(INT, undefined, (v) => v.setUint32(8, 2, true)), /not 4-byte aligned/);
  expectBtfError(good.subarray(0, good.length - 3), /exceeds/);
});

test('string problems: offsets out of range, missing NUL, no leading empty string', () => {
  expectBtfError(blob([999, info(KIND.int), 4, 32]), /name string offset 999 is outside/);
  expectBtfError(blob(INT, '\0int\0s'), /not NUL-terminated/);
  expectBtfError(blob(INT, 'x\0int\0'), /does not start with the empty string/);
  expectBtfError(blob([...INT, 5, info(KIND.struct, 1), 4, 12345, 1, 0]), /member 0 string offset 12345/);
});

test('type problems: ids out of range, unknown kinds, bad sizes, bad bitfields', () => {
  expectBtfError(blob([...INT, 0, info(KIND.ptr), 77]), /refers to type id 77/);
  expectBtfError(blob([0, info(25), 0]), /unknown kind 25/);
  expectBtfError(blob([1, info(KIND.int), 3, 24]), /invalid size 3/);
  expectBtfError(blob([1, info(KIND.int), 4, 40]), /40 bits/);
  expectBtfError(blob([...INT, 5, info(KIND.struct, 1), 2, 0, 1, 0]), /exceeds the 2-byte size/);
  expectBtfError(blob([...INT, 5, info(KIND.struct, 1, 1), 4, 0, 1, 33 << 24]), /exceeds the 4-byte size/);
  expectBtfError(blob([...INT, 0, info(KIND.ptr), 1, 0, info(KIND.array), 0, 1, 2, 4]), /index type \[2\] is not an INT/);
  expectBtfError(blob([...INT, 0, info(KIND.array), 0, 1, 1, 0x7fffffff]), /exceed 4 GiB/);
  expectBtfError(blob([...INT, 5, info(KIND.func), 1]), /is not a FUNC_PROTO/);
  expectBtfError(blob([...INT, 0, info(KIND.func_proto, 2), 1, 0, 0, 0, 1]), /trailing '...'/);
  expectBtfError(blob([...INT, 0, info(KIND.struct, 1), 4, 0, 0, 0]), /void, which has no size/);
  expectBtfError(blob([...INT, 1, info(KIND.ptr), 1]), /must be anonymous/);
  expectBtfError(blob([0, info(KIND.typedef), 0]), /must have a name/);
});

test('reference cycles by value are rejected, cycles through pointers are fine', () => {
  expectBtfError(blob([0, info(KIND.const), 1]), /contains itself by value: \[1\] CONST -> \[1\] CONST/);
  expectBtfError(blob([0, info(KIND.const), 2, 0, info(KIND.const), 3, 5, info(KIND.typedef), 1]), /contains itself by value/);
  expectBtfError(blob([...INT, 5, info(KIND.struct, 1), 4, 3, 2, 0]), /\[2\] STRUCT.*contains itself by value|contains itself by value.*\[2\] STRUCT/);
  expectBtfError(blob([...INT, 0, info(KIND.array), 0, 2, 1, 1]), /contains itself by value/);
  // struct s { struct s *next; } is legal.
  const list = parseBtf(blob([...INT, 5, info(KIND.struct, 1), 8, 3, 3, 0, 0, info(KIND.ptr), 2]));
  assert.equal(list.sizeOf(2), 8);
  // A long (non-cyclic) modifier chain neither overflows the stack nor takes long.
  const chain: number[] = [...INT];
  for (let id = 2; id < 60000; id++) chain.push(0, info(KIND.const), id - 1);
  const btf = parseBtf(blob(chain));
  assert.equal(btf.resolve(59999).id, 1);
  // The same chain closed into a loop.
  const loop = chain.slice();
  loop[6] = 59999;
  expectBtfError(blob(loop), /contains itself by value/);
});

test('huge counts are rejected before allocating', () => {
  expectBtfError(blob([...INT, 5, info(KIND.struct, 0xffff), 4]), /declares 65535 entries of 12 bytes but only 0 bytes remain/);
  expectBtfError(blob([...INT, 5, info(KIND.enum, 0xffff), 4, 1, 1]), /declares 65535 entries/);
  expectBtfError(blob([...INT, 0, info(KIND.func_proto, 0xffff), 1]), /declares 65535 entries/);
  expectBtfError(blob([...INT, 0, info(KIND.array), 0]), /truncated|declares 1 entries/);
});

test('BTF.ext problems are BtfErrors naming the block', () => {
  const btf = parseBtf(blob(INT, '\0int\0socket\0'));
  const ext = (words: number[], patch?: (v: DataView) => void): Uint8Array => {
    const out = new Uint8Array(32 + words.length * 4);
    const v = new DataView(out.buffer);
    v.setUint16(0, 0xeb9f, true);
    v.setUint8(2, 1);
    v.setUint32(4, 32, true);
    v.setUint32(12, words.length * 4, true);
    v.setUint32(16, words.length * 4, true);
    v.setUint32(24, words.length * 4, true);
    words.forEach((w, i) => v.setUint32(32 + i * 4, w >>> 0, true));
    patch?.(v);
    return out;
  };
  assert.equal(parseBtfExt(ext([8, 5, 1, 16, 1]), btf).funcInfo.get('socket')?.[0]?.insnIndex, 2);
  const bad: [Uint8Array, RegExp][] = [
    [ext([8, 5, 1, 12, 1]), /insn_off 12 .* not a multiple of 8/],
    [ext([8, 5, 1, 16, 9]), /type id 9 .* out of range/],
    [ext([8, 500, 1, 16, 1]), /section name offset 500/],
    [ext([8, 5, 0xffffff, 16, 1]), /declares 16777215 records/],
    [ext([4, 5, 1, 16, 1]), /invalid record size 4/],
    [ext([8, 5, 1, 16, 1], (v) => v.setUint32(12, 4000, true)), /exceeds/],
    [ext([8, 5, 1, 16, 1]).subarray(0, 20), /shorter than the 24-byte header/],
  ];
  for (const [bytes, pattern] of bad) {
    assert.throws(() => parseBtfExt(bytes, btf), (err: unknown) => err instanceof BtfError && pattern.test(err.message));
  }
});

/** Exercises everything a consumer might do with a parsed BTF; only BtfError may escape. */
function useEverything(btf: ReturnType<typeof parseBtf>): void {
  formatRaw(btf);
  formatC(btf);
  for (let id = 0; id < btf.types.length; id++) {
    btf.resolve(id);
    try {
      btf.sizeOf(id);
    } catch (err) {
      if (!(err instanceof BtfError)) throw err;
    }
    decodeEveryValue(btf, id);
  }
  parseBtf(btf.encode());
}

/** Decodes zeros and 0xff bytes as type `id` and encodes the result back (DATASECs of size 0 included); only BtfError may escape. */
function decodeEveryValue(btf: ReturnType<typeof parseBtf>, id: number): void {
  try {
    const codec = btfValueCodec(btf, id);
    if (codec.size > 1 << 16) return;
    for (const fill of [0, 0xff]) codec.encode(codec.decode(new Uint8Array(codec.size).fill(fill)));
  } catch (err) {
    if (!(err instanceof BtfError)) throw err;
  }
}

function fuzz(seedBlob: Uint8Array, iterations: number, seed: number): { parsed: number; rejected: number } {
  const random = seededRandom(seed);
  const interesting = [0, 1, 2, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 24, 12, 0x04000001, 0x80000003];
  let parsed = 0;
  let rejected = 0;
  for (let i = 0; i < iterations; i++) {
    const bytes = seedBlob.slice();
    const view = new DataView(bytes.buffer);
    const mutations = 1 + Math.floor(random() * 4);
    let length = bytes.length;
    for (let m = 0; m < mutations; m++) {
      const choice = random();
      const pos = Math.floor(random() * bytes.length);
      if (choice < 0.4) bytes[pos] = Math.floor(random() * 256);
      else if (choice < 0.8 && pos + 4 <= bytes.length) view.setUint32(pos & ~3, interesting[Math.floor(random() * interesting.length)]!, true);
      else if (choice < 0.9) bytes[pos] ^= 1 << Math.floor(random() * 8);
      else length = Math.floor(random() * bytes.length);
    }
    const input = bytes.subarray(0, length);
    try {
      useEverything(parseBtf(input));
      parsed++;
    } catch (err) {
      if (!(err instanceof BtfError)) {
        throw new Error(`iteration ${i} (seed ${seed}): non-BtfError ${String((err as Error).stack ?? err)}\ninput: ${Buffer.from(input).toString('hex')}`);
      }
      rejected++;
    }
  }
  return { parsed, rejected };
}

function syntheticSeed(): Uint8Array {
  const types: BtfType[] = [
    { id: 1, kind: 'int', name: 'int', size: 4, encoding: 'signed', offset: 0, bits: 32 },
    { id: 2, kind: 'ptr', name: '', type: 3 },
    { id: 3, kind: 'struct', name: 'node', size: 24, bitfieldEncoding: true, members: [
      { name: 'next', type: 2, bitOffset: 0, bitSize: 0 },
      { name: 'a', type: 1, bitOffset: 64, bitSize: 3 },
      { name: 'arr', type: 4, bitOffset: 96, bitSize: 0 },
    ] },
    { id: 4, kind: 'array', name: '', elemType: 1, indexType: 1, nelems: 3 },
    { id: 5, kind: 'enum', name: 'e', size: 4, signed: false, values: [{ name: 'X', value: 1n }] },
    { id: 6, kind: 'typedef', name: 'node_t', type: 3 },
    { id: 7, kind: 'const', name: '', type: 6 },
    { id: 8, kind: 'func_proto', name: '', returnType: 1, params: [{ name: 'n', type: 2 }] },
    { id: 9, kind: 'func', name: 'f', type: 8, linkage: 'global' },
    { id: 10, kind: 'var', name: 'v', type: 7, linkage: 'global' },
    { id: 11, kind: 'datasec', name: '.data', size: 0, vars: [{ type: 10, offset: 0, size: 24 }] },
    { id: 12, kind: 'enum64', name: 'e64', size: 8, signed: true, values: [{ name: 'Y', value: -5n }] },
    { id: 13, kind: 'decl_tag', name: 'tag', type: 3, componentIdx: 1, attribute: false },
    { id: 14, kind: 'union', name: 'u', size: 8, bitfieldEncoding: false, members: [{ name: 'p', type: 2, bitOffset: 0, bitSize: 0 }] },
    { id: 15, kind: 'fwd', name: 'opaque', fwdKind: 'union' },
    { id: 16, kind: 'float', name: 'double', size: 8 },
  ];
  return createBtf(types).encode();
}

test('fuzz: mutated BTF blobs only ever raise BtfError, never hang', () => {
  const result = fuzz(syntheticSeed(), 4000, fuzzSeed(1));
  console.log(`# synthetic seed: ${result.parsed} parsed, ${result.rejected} rejected`);
  assert.ok(result.parsed > 0 && result.rejected > 0);
});

test('fuzz: mutated compiler BTF only ever raises BtfError', { skip: skipWithoutClang() }, () => {
  const seedBlob = section(readElfSections(compileBpf(fixturePath('btf', 'kinds.c'))), '.BTF');
  const result = fuzz(new Uint8Array(seedBlob), 3000, fuzzSeed(2));
  console.log(`# kinds.c seed: ${result.parsed} parsed, ${result.rejected} rejected`);
  assert.ok(result.parsed > 0 && result.rejected > 0);
});

test('fuzz: mutated .BTF.ext and CO-RE records only ever raise BtfError', { skip: skipWithoutClang() }, () => {
  const elf = readElfSections(compileBpf(fixturePath('btf', 'core_local.c')));
  const local = parseBtf(section(elf, '.BTF'));
  const target = parseBtf(section(readElfSections(compileBpf(fixturePath('btf', 'core_target.c'))), '.BTF'));
  const seedExt = section(elf, '.BTF.ext');
  const seed = fuzzSeed(3);
  const random = seededRandom(seed);
  let parsed = 0;
  const iterations = 3000;
  for (let i = 0; i < iterations; i++) {
    const bytes = seedExt.slice();
    const mutations = 1 + Math.floor(random() * 3);
    for (let m = 0; m < mutations; m++) {
      const pos = Math.floor(random() * bytes.length);
      bytes[pos] = random() < 0.5 ? Math.floor(random() * 256) : bytes[pos]! ^ (1 << Math.floor(random() * 8));
    }
    try {
      const ext = parseBtfExt(bytes, local);
      for (const relo of ext.coreRelos.get('socket') ?? []) {
        try {
          resolveCoreRelocation(relo, local, target);
        } catch (err) {
          if (!(err instanceof BtfError)) throw err;
        }
      }
      parsed++;
    } catch (err) {
      if (!(err instanceof BtfError)) throw new Error(`iteration ${i} (seed ${seed}): non-BtfError ${String((err as Error).stack ?? err)}\ninput: ${Buffer.from(bytes).toString('hex')}`);
    }
  }
  console.log(`# .BTF.ext: ${iterations} iterations, ${parsed} parsed`);
  assert.ok(parsed > 0, 'no mutation parsed: the mutations exercise nothing past the header');
});
