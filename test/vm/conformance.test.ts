import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { assemble } from '../../src/isa/index.ts';
import type { Instruction } from '../../src/isa/instruction.ts';
import { ProgramLoadError } from '../../src/vm/errors.ts';
import { type IsaVersion, requiredIsaVersion } from '../../src/vm/program.ts';
import { runConformanceProgram } from '../../src/vm/conformance.ts';
import { CONFORMANCE_DIR, skipWithoutConformance } from '../support/env.ts';
import { type ConformanceVector, loadConformanceVectors } from '../support/conformance.ts';

// All 313 vectors of the public eBPF conformance suite, assembled by our
// assembler and run by the interpreter, each loaded at the ISA version it
// needs (and checked to be refused one version below).

const skip = skipWithoutConformance();
const vectors: ConformanceVector[] = !skip && existsSync(CONFORMANCE_DIR) ? loadConformanceVectors(CONFORMANCE_DIR) : [];

function program(v: ConformanceVector): Instruction[] {
  return v.raw ?? assemble(v.asm, { syntax: 'ubpf' });
}

test('conformance: the suite has 313 vectors with the version mix its README states', { skip }, () => {
  assert.equal(vectors.length, 313);
  const byVersion = new Map<number, number>();
  for (const v of vectors) {
    const version = requiredIsaVersion(program(v));
    byVersion.set(version, (byVersion.get(version) ?? 0) + 1);
  }
  // README: v1 163, v2 9, v3 82, v4 59.
  assert.deepEqual(Object.fromEntries(byVersion), { 1: 163, 2: 9, 3: 82, 4: 59 });
});

for (const v of vectors) {
  test(`conformance: ${v.name}`, () => {
    assert.notEqual(v.result, undefined, 'every vector in tests/ has a result');
    const insns = program(v);
    const isa = requiredIsaVersion(insns);
    const mem = v.mem?.slice();
    assert.equal(runConformanceProgram(insns, mem, { isa }), v.result);
    if (isa > 1) {
      assert.throws(() => runConformanceProgram(insns, v.mem?.slice(), { isa: (isa - 1) as IsaVersion }), ProgramLoadError);
    }
  });
}
