import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { type Btf, type BtfType, BtfError, createBtf, findCoreCandidates, loadKernelBtf, parseBtf } from '../../src/btf/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { readElfSections, section } from './elf-sections.ts';
import { INT, KIND, blob, info, mutateBlob, syntheticSeed } from './blobs.ts';

const lazily = (bytes: Uint8Array): Btf => parseBtf(bytes, { lazy: true });

/** The BtfError `run` throws (failing the test when it throws anything else or nothing). */
function btfError(run: () => unknown): BtfError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof BtfError, `expected BtfError, got ${String((err as Error).stack ?? err)}`);
    return err;
  }
  assert.fail('expected a BtfError');
}

test('lazy: a type is decoded and checked when it is reached; the eager error comes from reading every type', () => {
  // [1] int, [2] ptr -> int, [3] const -> [4] const -> [3] (a cycle), [5] typedef 's' -> int.
  const bytes = blob([...INT, 0, info(KIND.ptr), 1, 0, info(KIND.const), 4, 0, info(KIND.const), 3, 5, info(KIND.typedef), 1]);
  const eager = btfError(() => parseBtf(bytes));
  assert.match(eager.message, /\[3\] CONST: contains itself by value: \[3\] CONST -> \[4\] CONST -> \[3\] CONST/);
  const btf = lazily(bytes);
  assert.equal(btf.typeCount, 6);
  assert.equal(btf.resolve(5).kind, 'int');
  assert.equal(btf.sizeOf(2), 8);
  assert.deepEqual(btf.findByName('s').map((t) => t.id), [5]);
  // Entered at [4], the cycle is named from there, and again on every later reach.
  for (let i = 0; i < 2; i++) assert.match(btfError(() => btf.typeById(4)).message, /\[4\] CONST: contains itself by value: \[4\] CONST -> \[3\] CONST -> \[4\] CONST/);
  assert.match(btfError(() => btf.typeById(3)).message, /contains itself by value/);
  // The full validation gives the eager parser's own error, every time.
  for (let i = 0; i < 2; i++) assert.equal(btfError(() => btf.types).message, eager.message);
  // The valid types stay usable.
  assert.equal(btf.typeById(2).kind, 'ptr');
});

test("lazy: each kind of the eager parser's per-type errors is raised when the type is reached", () => {
  const cases: [number[], number, RegExp][] = [
    [[...INT, 0, info(KIND.ptr), 77], 2, /refers to type id 77/],
    [[...INT, 1, info(KIND.int), 3, 24], 2, /invalid size 3/],
    [[...INT, 999, info(KIND.int), 4, 32], 2, /name string offset 999 is outside/],
    [[...INT, 5, info(KIND.struct, 1), 2, 0, 1, 0], 2, /exceeds the 2-byte size/],
    [[...INT, 0, info(KIND.ptr), 1, 0, info(KIND.array), 0, 1, 2, 4], 3, /index type \[2\] is not an INT/],
    [[...INT, 5, info(KIND.func), 1], 2, /is not a FUNC_PROTO/],
    [[...INT, 0, info(KIND.func_proto, 2), 1, 0, 0, 0, 1], 2, /trailing '...'/],
    [[...INT, 1, info(KIND.ptr), 1], 2, /must be anonymous/],
    // A struct is reached with what it holds by value: the bad member type [2] fails the struct [3].
    [[...INT, 1, info(KIND.int), 3, 24, 5, info(KIND.struct, 1), 4, 0, 2, 0], 3, /\[2\] INT: invalid size 3/],
  ];
  for (const [words, badId, pattern] of cases) {
    const bytes = blob(words);
    const eager = btfError(() => parseBtf(bytes));
    const btf = lazily(bytes);
    assert.equal(btf.typeById(1).kind, 'int', `${pattern}: a valid type reads`);
    assert.match(btfError(() => btf.typeById(badId)).message, pattern);
    assert.equal(btfError(() => btf.types).message, eager.message);
  }
});

test('lazy: what finding the next type needs is still checked at parse, with the eager messages', () => {
  for (const [bytes, pattern] of [
    [blob([0, info(25), 0]), /unknown kind 25/],
    [blob([...INT, 5, info(KIND.struct, 0xffff), 4]), /declares 65535 entries of 12 bytes but only 0 bytes remain/],
    [blob([...INT, 0, info(KIND.ptr)]), /truncated/],
    [blob(INT, undefined, (v) => v.setUint16(0, 0x1234, true)), /bad magic/],
    [blob(INT, '\0int\0s'), /not NUL-terminated/],
  ] as const) {
    assert.match(btfError(() => parseBtf(bytes)).message, pattern);
    assert.match(btfError(() => lazily(bytes)).message, pattern);
  }
});

test('lazy: names are found through the string section, including names that start inside another string', () => {
  // 'xint' at 1; 'int' is its suffix at 2; 'task___v2' flavours 'task'.
  const strings = '\0xint\0task___v2\0task\0';
  const bytes = blob([2, info(KIND.int), 4, (1 << 24) | 32, 1, info(KIND.int), 4, 32, 6, info(KIND.struct, 0), 0, 16, info(KIND.struct, 0), 0, 16, info(KIND.typedef), 1], strings);
  const eager = parseBtf(bytes);
  const btf = lazily(bytes);
  for (const name of ['int', 'xint', 'task', 'task___v2', 'nt', 'missing', '']) {
    assert.deepEqual(btf.findByName(name).map((t) => t.id), eager.findByName(name).map((t) => t.id), name);
    assert.deepEqual(btf.findByName(name, 'struct').map((t) => t.id), eager.findByName(name, 'struct').map((t) => t.id), name);
    assert.deepEqual(btf.findByEssentialName(name).map((t) => t.id), eager.findByEssentialName(name).map((t) => t.id), name);
  }
  assert.deepEqual(btf.findByEssentialName('task').map((t) => t.id), [3, 4, 5]);
  assert.equal(btf.typeAt(99), undefined);
  assert.equal(btf.typeAt(-1), undefined);
});

test('lazy: past a few distinct lookups, names come from an index, with the same answers', () => {
  const types: BtfType[] = [{ id: 1, kind: 'int', name: 'int', size: 4, encoding: 'signed', offset: 0, bits: 32 }];
  for (let i = 0; i < 60; i++) types.push({ id: types.length + 1, kind: 'typedef', name: i % 3 === 0 ? `t${i % 7}___v${i}` : `t${i % 7}`, type: 1 });
  const eager = createBtf(types);
  const lazy = lazily(eager.encode());
  const names = ['int', 'missing', ...Array.from({ length: 7 }, (_, i) => `t${i}`), ...types.map((t) => t.name)];
  for (let round = 0; round < 2; round++) {
    for (const name of names) {
      assert.deepEqual(lazy.findByName(name).map((t) => t.id), eager.findByName(name).map((t) => t.id), name);
      assert.deepEqual(lazy.findByName(name, 'typedef').map((t) => t.id), eager.findByName(name, 'typedef').map((t) => t.id), name);
      assert.deepEqual(lazy.findByEssentialName(name).map((t) => t.id), eager.findByEssentialName(name).map((t) => t.id), name);
    }
  }
});

/**
 * Lazy and eager parses of the same mutated blob agree: both accept it and
 * give equal types and lookups, or the eager parse refuses it and the lazy
 * one refuses it at parse or when some type is reached (never accepting
 * it silently), its full validation giving the eager error.
 */
function lazyDifferential(seedBlob: Uint8Array, iterations: number, seed: number): { agreed: number; refused: number } {
  const random = seededRandom(seed);
  let agreed = 0;
  let refused = 0;
  for (let i = 0; i < iterations; i++) {
    const input = mutateBlob(seedBlob, random);
    const where = `iteration ${i} (seed ${seed}), input ${Buffer.from(input).toString('hex')}`;
    let eager: Btf | BtfError;
    try {
      eager = parseBtf(input);
    } catch (err) {
      if (!(err instanceof BtfError)) throw new Error(`${where}: ${String(err)}`);
      eager = err;
    }
    let lazy: Btf;
    try {
      lazy = lazily(input);
    } catch (err) {
      if (!(err instanceof BtfError)) throw new Error(`${where}: lazy parse threw ${String((err as Error).stack ?? err)}`);
      assert.ok(eager instanceof BtfError, `${where}: lazy parse refused a blob the eager parse accepts: ${err.message}`);
      refused++;
      continue;
    }
    // Reach every type in a random order.
    const ids = Array.from({ length: lazy.typeCount }, (_, id) => id).sort(() => random() - 0.5);
    let reachError: BtfError | undefined;
    for (const id of ids) {
      try {
        const t = lazy.typeById(id);
        if (!(eager instanceof BtfError)) assert.deepEqual(t, eager.types[id], `${where}: type ${id}`);
      } catch (err) {
        if (!(err instanceof BtfError)) throw new Error(`${where}: typeById(${id}) threw ${String((err as Error).stack ?? err)}`);
        reachError ??= err;
      }
    }
    if (eager instanceof BtfError) {
      assert.ok(reachError !== undefined, `${where}: every type reached lazily, yet the eager parse refuses: ${eager.message}`);
      assert.equal(btfError(() => lazy.types).message, eager.message, where);
      refused++;
    } else {
      assert.equal(reachError, undefined, `${where}: ${reachError?.message}`);
      for (const t of eager.types) if (t.name !== '') assert.deepEqual(lazy.findByName(t.name).map((x) => x.id), eager.findByName(t.name).map((x) => x.id), where);
      assert.equal(lazy.pointerSize(), eager.pointerSize(), where);
      assert.deepEqual(lazy.types, eager.types, where);
      agreed++;
    }
  }
  return { agreed, refused };
}

test('fuzz: lazy and eager parses of mutated blobs agree, and only BtfError escapes', () => {
  const result = lazyDifferential(syntheticSeed(), 3000, fuzzSeed(11));
  console.log(`# lazy differential, synthetic seed: ${result.agreed} agreed valid, ${result.refused} refused`);
  assert.ok(result.agreed > 0 && result.refused > 0);
});

test('fuzz: lazy and eager parses of mutated compiler BTF agree', { skip: skipWithoutClang() }, () => {
  const seedBlob = new Uint8Array(section(readElfSections(compileBpf(fixturePath('btf', 'kinds.c'))), '.BTF'));
  const result = lazyDifferential(seedBlob, 1500, fuzzSeed(12));
  console.log(`# lazy differential, kinds.c seed: ${result.agreed} agreed valid, ${result.refused} refused`);
  assert.ok(result.agreed > 0 && result.refused > 0);
});

test('createBtf output read lazily resolves CO-RE candidates as the eager parse does', () => {
  const btf = createBtf([
    { id: 1, kind: 'int', name: 'int', size: 4, encoding: 'signed', offset: 0, bits: 32 },
    { id: 2, kind: 'struct', name: 'task', size: 4, bitfieldEncoding: false, members: [{ name: 'pid', type: 1, bitOffset: 0, bitSize: 0 }] },
    { id: 3, kind: 'struct', name: 'task___old', size: 4, bitfieldEncoding: false, members: [{ name: 'tgid', type: 1, bitOffset: 0, bitSize: 0 }] },
    { id: 4, kind: 'union', name: 'task', size: 4, bitfieldEncoding: false, members: [] },
  ]);
  const lazy = lazily(btf.encode());
  const local = createBtf([{ id: 1, kind: 'struct', name: 'task___mine', size: 0, bitfieldEncoding: false, members: [] }]);
  assert.deepEqual(findCoreCandidates(local, 1, lazy).map((t) => t.id), [2, 3]);
  assert.deepEqual(findCoreCandidates(local, 1, btf).map((t) => t.id), [2, 3]);
});

const VMLINUX = '/sys/kernel/btf/vmlinux';

test("the running kernel's BTF read lazily equals the eager parse on what programs look up", { skip: existsSync(VMLINUX) ? false : `${VMLINUX} is absent` }, () => {
  const eager = parseBtf(new Uint8Array(readFileSync(VMLINUX)));
  const lazy = loadKernelBtf();
  assert.equal(lazy.typeCount, eager.types.length);
  assert.equal(lazy.pointerSize(), eager.pointerSize());
  for (const name of ['task_struct', 'sk_buff', 'bpf_map', 'xdp_md', 'vfs_getattr', 'btf_trace_sched_switch', 'long unsigned int']) {
    const found = lazy.findByName(name);
    assert.ok(found.length > 0, name);
    assert.deepEqual(found, eager.findByName(name), name);
    for (const t of found) {
      assert.equal(lazy.describe(t.id), eager.describe(t.id));
      if (t.kind === 'struct') assert.equal(lazy.alignOf(t.id), eager.alignOf(t.id));
    }
  }
  assert.deepEqual(lazy.findByEssentialName('task_struct'), eager.findByEssentialName('task_struct'));
});

test('long chains (a hostile blob): 150,000 typedefs and 100,000 nested arrays are walked without recursion or quadratic time; structs nested 1,025 deep by value are a BtfError', () => {
  const typedefs = [...INT];
  for (let i = 0; i < 150_000; i++) typedefs.push(5, info(KIND.typedef), i + 1);
  const arrays = [...INT];
  for (let i = 0; i < 100_000; i++) arrays.push(0, info(KIND.array), 0, i + 1, 1, 1);
  const structs = [...INT];
  for (let i = 0; i < 1_025; i++) structs.push(5, info(KIND.struct, 1), 4, 5, i + 1, 0);
  for (const lazy of [true, false]) {
    assert.equal(parseBtf(blob(typedefs), { lazy }).alignOf(150_001), 4);
    const nested = parseBtf(blob(arrays), { lazy });
    assert.equal(nested.typeById(100_001).kind, 'array');
    assert.equal(nested.sizeOf(100_001), 4);
    assert.equal(nested.alignOf(100_001), 4);
    assert.equal(parseBtf(blob(structs), { lazy }).alignOf(1_025), 4);
    assert.match(btfError(() => parseBtf(blob(structs), { lazy }).alignOf(1_026)).message, /^BTF type \[\d+\] \(STRUCT\) is nested more than 1024 structs or unions deep/);
  }
});
