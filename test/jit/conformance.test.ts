import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { assemble } from '../../src/isa/index.ts';
import { type LoadedProgram, requiredIsaVersion } from '../../src/vm/program.ts';
import { Vm } from '../../src/vm/vm.ts';
import { conformanceHelpers } from '../../src/vm/conformance.ts';
import { loadJit } from '../../src/vm/jit/index.ts';
import { CONFORMANCE_DIR, skipWithoutConformance } from '../support/env.ts';
import { type ConformanceVector, loadConformanceVectors } from '../support/conformance.ts';

// The 313 vectors of the public eBPF conformance suite through the JIT, each
// compared with the expected r0 and with the interpreter's final memory, once
// and three times in a row.

const skip = skipWithoutConformance();
const vectors: ConformanceVector[] = !skip && existsSync(CONFORMANCE_DIR) ? loadConformanceVectors(CONFORMANCE_DIR) : [];

test('conformance (jit): all 313 vectors are present', { skip }, () => {
  assert.equal(vectors.length, 313);
});

for (const v of vectors) {
  test(`conformance (jit): ${v.name}`, () => {
    const insns = v.raw ?? assemble(v.asm, { syntax: 'ubpf' });
    const isa = requiredIsaVersion(insns);
    const jitVm = new Vm({ helpers: conformanceHelpers() });
    const jitMem = v.mem?.slice();
    const jit = loadJit(jitVm, insns, { isa });
    assert.equal(jit.run({ mem: jitMem }).r0, v.result);
    const interpVm = new Vm({ helpers: conformanceHelpers() });
    const interpMem = v.mem?.slice();
    const interpreted = interpVm.load(insns, { isa }).run({ mem: interpMem });
    assert.deepEqual(jitMem, interpMem, 'final memory differs from the interpreter');
    // Unchecked mode must compute the same (these programs are memory-safe).
    const unchecked = loadJit(new Vm({ helpers: conformanceHelpers() }), insns, { isa, checked: false });
    assert.equal(unchecked.run({ mem: v.mem?.slice() }).r0, interpreted.r0);
    assert.equal(jit.run({ mem: v.mem?.slice() }).instructions, interpreted.instructions, 'instruction count');
    // Three runs after one set-up, each on the memory the one before left: the JIT counts no budget in all
    // but the last when the program's instruction bound (instructionBound) is within it.
    const repeated = (program: LoadedProgram): string => {
      const mem = v.mem?.slice();
      try {
        const r = program.runRepeated({ mem }, 3);
        return `r0=${r.r0} insns=${r.instructions} mem=${mem?.join(',')}`;
      } catch (error) {
        return `${(error as Error).message} mem=${mem?.join(',')}`;
      }
    };
    assert.equal(repeated(jit), repeated(interpVm.load(insns, { isa })), 'repeated runs');
  });
}
