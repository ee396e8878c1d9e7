/**
 * Differential test of the scalar tracking against the running kernel: random
 * programs of ALU operations and conditional jumps are loaded with a level-2
 * verifier log, and every register state the kernel prints for a written or
 * compared register must equal src/verifier/scalar.ts's prediction.
 * scripts/verifier-scalar-diff.ts runs the same comparison at larger scale.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelProgram } from '../../src/kernel/program.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { compareWithLog, generateProgram } from './support/scalar-programs.ts';

checkNoKernelLeaks();

test('the kernel prints exactly the scalar states the model predicts', { skip: skipWithoutKernel() }, () => {
  const rand = seededRandom(fuzzSeed(2026));
  let agreed = 0;
  const disagreements: string[] = [];
  for (let i = 0; i < 40; i++) {
    const program = generateProgram(rand, 30);
    const loaded = KernelProgram.load({ type: ProgramType.SOCKET_FILTER, instructions: program.instructions, license: 'GPL', logLevel: 2, logSize: 1 << 22 });
    try {
      const result = compareWithLog(program, loaded.verifierLog);
      agreed += result.agreed;
      for (const d of result.disagreements) disagreements.push(`program ${i}: ${d.text} @${d.where}\n  model  ${d.expected}\n  kernel ${d.actual}`);
    } finally {
      loaded.close();
    }
  }
  assert.ok(agreed > 1000, `only ${agreed} checks`);
  assert.deepEqual(disagreements, [], `${disagreements.length} disagreements, ${agreed} agreements`);
});
