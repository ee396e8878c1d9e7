import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BtfError, btfValueCodec, formatC, formatRaw, parseBtf, parseBtfExt, resolveCoreRelocation } from '../../src/btf/index.ts';
import { INT, KIND, blob, info, mutateBlob, syntheticSeed } from './blobs.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { readElfSections, section } from './elf-sections.ts';

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
  let parsed = 0;
  let rejected = 0;
  for (let i = 0; i < iterations; i++) {
    const input = mutateBlob(seedBlob, random);
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
