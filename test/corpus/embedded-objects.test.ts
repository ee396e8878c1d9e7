// Carving BPF objects out of host binaries (libbpf skeletons embed theirs),
// as the corpus does for libbpf-tools: exact bytes back, both byte orders,
// nothing from random data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadCollectionSpec } from '../../src/object/index.ts';
import { embeddedBpfObjects } from '../support/verifier-corpus/objects.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

test('objects embedded in a binary come back byte for byte, in either byte order', { skip: skipWithoutClang() }, () => {
  const little = new Uint8Array(readFileSync(compileBpf(fixturePath('object', 'legacy_maps.c'))));
  const big = new Uint8Array(readFileSync(compileBpf(fixturePath('object', 'globals.c'), { bigEndian: true })));
  // A host ELF header (x86-64) first, as in a real executable, then the skeletons' bytes between other data.
  const host = new Uint8Array(64);
  host.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  host[18] = 62;
  const binary = new Uint8Array([...host, ...new Uint8Array(100).fill(0x7f), ...little, 1, 2, 3, ...big, 0x7f, 0x45]);
  const found = embeddedBpfObjects(binary);
  assert.equal(found.length, 2);
  assert.deepEqual(found[0], little);
  assert.deepEqual(found[1], big);
  assert.equal(loadCollectionSpec(found[1]!).byteOrder, 'big');
  assert.deepEqual(embeddedBpfObjects(little.subarray(0, little.length - 1)), [], 'a truncated object is not taken');
});

test('fuzz: random bytes with ELF-looking headers never throw', () => {
  const seed = fuzzSeed(0xe1f);
  const rand = seededRandom(seed);
  for (let i = 0; i < 300; i++) {
    const bytes = new Uint8Array(64 + Math.floor(rand() * 512)).map(() => Math.floor(rand() * 256));
    const at = Math.floor(rand() * (bytes.length - 64));
    bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, rand() < 0.5 ? 1 : 2], at);
    bytes[at + 18] = 247;
    bytes[at + 19] = 0;
    for (const object of embeddedBpfObjects(bytes)) assert.ok(object.length >= 64 && object.length <= bytes.length, `seed ${seed} case ${i}`);
  }
});
