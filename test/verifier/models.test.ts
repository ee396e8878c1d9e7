/**
 * A clang-compiled program using bpf_for, bpf_repeat and a ring-buffer
 * dynptr (fixtures/verifier/iterators.c): tsbpf's verifier and the running
 * kernel both accept it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadCollection } from '../../src/kernel/index.ts';
import { loadCollectionSpec } from '../../src/object/index.ts';
import { verify } from '../../src/verifier/index.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';

checkNoKernelLeaks();

const clangSkip = skipWithoutClang();

test('tsbpf verifies bpf_for, bpf_repeat and a ringbuf dynptr', { skip: clangSkip }, () => {
  const spec = loadCollectionSpec(compileBpf(fixturePath('verifier', 'iterators.c')));
  const result = verify(spec.programs.squares!, { maps: spec.maps });
  assert.ok(result.accepted, `${result.error?.message}\n${result.log}`);
  // Each loop converges at its _next call instead of being unrolled 16 and 3 times over.
  assert.ok(result.processedInsns < 2000, `processed ${result.processedInsns}`);
});

test('the kernel accepts the same object', { skip: clangSkip || skipWithoutKernel() }, () => {
  const spec = loadCollectionSpec(compileBpf(fixturePath('verifier', 'iterators.c')));
  loadCollection(spec).close();
});
