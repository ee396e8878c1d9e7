import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/index.ts';
import { VerifierError, verify } from '../../src/verifier/index.ts';
import { MAX_COLLECTED_STATES } from '../../src/verifier/states.ts';
import { ProgramType } from '../../src/uapi/index.ts';

// r0 is 1 or 2 depending on a packet byte. fp-8, read after `out`, holds the context pointer on the path that fails
// the bounds check and the packet byte on the others: that path is not pruned at `out`, which two paths reach.
const BRANCHES = assemble(`
  r2 = *(u32 *)(r1 + 4)
  r3 = *(u32 *)(r1 + 0)
  *(u64 *)(r10 - 8) = r1
  r4 = r3
  r4 += 1
  r0 = 2
  if r4 > r2 goto out
  r5 = *(u8 *)(r3 + 0)
  *(u64 *)(r10 - 8) = r5
  if r5 == 7 goto out
  r0 = 1
out:
  r6 = *(u64 *)(r10 - 8)
  exit`);

test('collectStates returns each path state before each instruction, as the log prints it', () => {
  const result = verify(BRANCHES, { type: ProgramType.XDP, collectStates: true, logLevel: 2 });
  assert.equal(result.accepted, true);
  const states = result.states!;
  assert.deepEqual(states.map((s) => s.insnIndex), [...new Set(states.map((s) => s.insnIndex))].sort((a, b) => a - b));
  const atOut = states.find((s) => s.insnIndex === 11)!;
  // At `out`: the fall-through and the failed bounds check (r5 == 7 is pruned there against the fall-through).
  assert.ok(atOut.paths.length >= 2, `${atOut.paths.length} paths reached out`);
  const r0s = atOut.paths.map((p) => p.frames[0]!.registers.find((r) => r.regno === 0)!.value).sort();
  assert.ok(r0s.includes('1') && r0s.includes('2'), `r0 values at exit: ${r0s.join(',')}`);
  assert.deepEqual(atOut.paths.map((p) => p.from).sort(), [...new Set(atOut.paths.map((p) => p.from))].sort());
  // The packet pointer after the bounds check: the same text as the level-2 log's state line.
  const load = states.find((s) => s.insnIndex === 7)!.paths[0]!.frames[0]!;
  const r3 = load.registers.find((r) => r.regno === 3)!;
  assert.equal(r3.type, 'pkt');
  assert.equal(r3.text, 'pkt(r=1)');
  assert.match(result.log, /R3=pkt\(r=1\)/);
  const store = states.find((s) => s.insnIndex === 9)!.paths[0]!.frames[0]!;
  assert.deepEqual(store.stack.map((s) => [s.offset, s.kinds]), [[-8, 'rrrrrrrr']]);
  assert.equal(store.stack[0]!.spilled!.umax, '255');
});

test('collectStates keeps at most the given number of arrivals, counts the rest, and is off by default', () => {
  const loop = assemble('r1 = 0\nloop:\nr1 += 1\nif r1 < 20 goto loop\nr0 = 0\nexit');
  const limited = verify(loop, { type: ProgramType.XDP, collectStates: 3 });
  const head = limited.states!.find((s) => s.insnIndex === 1)!;
  assert.equal(head.paths.length, 3);
  assert.equal(head.paths.length + head.dropped, 20);
  assert.equal(verify(loop, { type: ProgramType.XDP }).states, undefined);
  assert.throws(() => verify(loop, { type: ProgramType.XDP, collectStates: 0 }), VerifierError);
});

test('collectStates keeps at most MAX_COLLECTED_STATES in all, counting the rest per instruction', () => {
  // A bounded loop unrolled by the verifier: each of its 3 instructions is reached once per iteration.
  const iterations = 40_000;
  const loop = assemble(`r1 = 0\nloop:\nr1 += 1\nr2 = r1\nif r1 < ${iterations} goto loop\nr0 = 0\nexit`);
  const result = verify(loop, { type: ProgramType.XDP, collectStates: iterations });
  assert.equal(result.accepted, true);
  const kept = result.states!.reduce((n, s) => n + s.paths.length, 0);
  const dropped = result.states!.reduce((n, s) => n + s.dropped, 0);
  assert.equal(kept, MAX_COLLECTED_STATES);
  assert.equal(kept + dropped, result.processedInsns);
});
