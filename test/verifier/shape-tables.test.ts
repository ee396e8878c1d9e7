/**
 * The shape pass's per-instruction tables come from a pool kept between
 * programs (src/verifier/cfg.ts): a shape must get zeroed tables of its own
 * while another is in use, and a release only gives back the tables of the
 * shape it belongs to. Pooled tables are longer than the program: only
 * their first entries, one per instruction, belong to it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assemble } from '../../src/isa/index.ts';
import { analyzeShape } from '../../src/verifier/cfg.ts';

// A branch and a call: prune points, two subprograms and live registers to mark.
const PROGRAM = assemble('r1 = 1\nif r1 > 2 goto +1\ncall 1\ncall pc+1\nexit\nr0 = 0\nexit');
const ofProgram = (table: Uint8Array | Uint16Array | Int32Array): number[] => [...table.subarray(0, PROGRAM.length)];

test('a shape taken while another is in use has tables of its own', () => {
  const first = analyzeShape(PROGRAM);
  const second = analyzeShape(PROGRAM);
  try {
    assert.notEqual(first.prunePoint.buffer, second.prunePoint.buffer);
    second.prunePoint.fill(7);
    assert.ok(ofProgram(first.prunePoint).every((b) => b <= 1), 'the first shape kept its marks');
  } finally {
    second.release();
    first.release();
  }
});

test('pooled tables come back zeroed, and a second release of an old shape frees nothing', () => {
  const reference = analyzeShape(PROGRAM);
  assert.deepEqual(reference.subprogs, [{ start: 0, end: 5 }, { start: 5, end: 7 }]);
  const expected = { prunePoint: ofProgram(reference.prunePoint), liveIn: ofProgram(reference.liveIn), subprogOf: ofProgram(reference.subprogOf) };
  for (const table of [reference.prunePoint, reference.forceCheckpoint, reference.iterNext, reference.liveIn, reference.subprogOf]) table.fill(9);
  reference.release();
  const next = analyzeShape(PROGRAM);
  try {
    assert.deepEqual({ prunePoint: ofProgram(next.prunePoint), liveIn: ofProgram(next.liveIn), subprogOf: ofProgram(next.subprogOf) }, expected);
    assert.ok(ofProgram(next.iterNext).every((b) => b === 0) && ofProgram(next.forceCheckpoint).every((b) => b === 0));
    // A stale release (the first shape's, again) must not hand the tables `next` holds to another shape.
    reference.release();
    const other = analyzeShape(PROGRAM);
    try {
      assert.notEqual(other.liveIn.buffer, next.liveIn.buffer);
    } finally {
      other.release();
    }
  } finally {
    next.release();
  }
});
