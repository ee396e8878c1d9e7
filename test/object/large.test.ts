// The generated large object (bench/loader.ts's input) loads completely.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MapType } from '../../src/uapi/enums.ts';
import { loadCollectionSpec } from '../../src/object/index.ts';
import { skipWithoutClang } from '../support/env.ts';
import { DEFAULT_SHAPE, compileLargeFixture } from '../support/large-object.ts';

test('generated large object: every program linked, tail-call array and map-in-map initialised', { skip: skipWithoutClang() }, () => {
  const spec = loadCollectionSpec(compileLargeFixture());
  const programs = Object.values(spec.programs);
  assert.equal(programs.length, DEFAULT_SHAPE.programs);
  const tail = spec.maps.tail_calls!;
  assert.equal(tail.type, MapType.PROG_ARRAY);
  assert.deepEqual(tail.contents, programs.map((_, p) => ({ key: p, value: { program: `prog_${p}` } })));
  assert.deepEqual(spec.maps.outer!.contents.map((c) => c.value), Array.from({ length: 8 }, (_, i) => ({ map: `inner_${i}` })));
  for (const program of programs) {
    // Each program reaches helper_(p % helpers) and, through it, every higher helper.
    const p = Number(program.name.slice('prog_'.length));
    const first = p % DEFAULT_SHAPE.helpers;
    const helpers = program.functions.slice(1).map((f) => Number(f.name.slice('helper_'.length))).sort((a, b) => a - b);
    assert.deepEqual(helpers, Array.from({ length: DEFAULT_SHAPE.helpers - first }, (_, i) => first + i), program.name);
    for (const r of program.relocations) assert.ok(r.insnIndex < program.instructions.length);
    assert.equal(program.funcInfo.length, program.functions.length);
  }
});
