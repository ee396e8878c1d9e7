// CO-RE relocations of a loaded spec applied for a target BTF with another layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyProgramCore, loadCollectionSpec } from '../../src/object/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';

test('applyProgramCore patches a copy for the target layout', { skip: skipWithoutClang() }, () => {
  const spec = loadCollectionSpec(compileBpf(fixturePath('object', 'core.c')));
  const target = loadCollectionSpec(compileBpf(fixturePath('object', 'core.c'), { args: ['-DSHUFFLED'] })).btf!;
  const program = spec.programs.core_prog!;
  const before = structuredClone(program.instructions);
  const { instructions, report } = applyProgramCore(program, target);
  assert.deepEqual(program.instructions, before, 'the spec is not modified');
  const values = Object.fromEntries(report.entries.map((e) => [`${e.result.kind} ${e.relocation.accessString}`, e.result.targetValue]));
  assert.deepEqual(values, {
    'field_byte_offset 0:0': 44n, // pid after comm[32], flags, tgid
    'field_exists 0:2': 1n,
    'field_byte_size 0:3': 32n,
    'enum_value_exists 1': 1n,
    'enum_value 1': 5n,
  });
  assert.equal(report.poisoned.length, 0);
  for (const e of report.entries) {
    assert.deepEqual(instructions.slice(e.insnIndex, e.insnIndex + e.after.length), e.after);
  }
  // Against its own BTF nothing changes.
  assert.deepEqual(applyProgramCore(program, spec.btf!).instructions, before);
});
