// Reading the verifier's figures and verdict line out of kernel logs of each
// level, as the kernel (6.18 and 5.x) prints them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VerifierLogError, parseVerifierLog } from '../support/verifier-corpus/kernel-log.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

test('a rejection at BPF_LOG_STATS: message, time, stack depth per subprogram, stats line', () => {
  const log = [
    'R0 invalid mem access \'map_value_or_null\'',
    'verification time 31 usec',
    'stack depth 8+0+16',
    'processed 12 insns (limit 1000000) max_states_per_insn 1 total_states 3 peak_states 3 mark_read 2',
    '',
  ].join('\n');
  assert.deepEqual(parseVerifierLog(log), {
    lastMessage: "R0 invalid mem access 'map_value_or_null'",
    messages: ["R0 invalid mem access 'map_value_or_null'"],
    verificationTimeUs: 31,
    stackDepth: [8, 0, 16],
    stats: { processedInsns: 12, insnLimit: 1000000, maxStatesPerInsn: 1, totalStates: 3, peakStates: 3, markRead: 2 },
  });
});

test('a level-2 log: the last line that is not a figure is the message; framing lines are skipped', () => {
  const log = [
    '-- BEGIN PROG LOAD LOG --',
    'func#0 @0',
    '0: R1=ctx() R10=fp0',
    '; return *(int *)(data + 14); @ prog.c:12',
    '4: (61) r0 = *(u32 *)(r2 +14)',
    'invalid access to packet, off=14 size=4, R2(id=0,off=14,r=0)',
    'R2 offset is outside of the packet',
    'processed 5 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
    '-- END PROG LOAD LOG --',
  ].join('\r\n');
  const parsed = parseVerifierLog(log);
  assert.equal(parsed.lastMessage, 'R2 offset is outside of the packet');
  assert.deepEqual(parsed.messages.slice(-2), ['invalid access to packet, off=14 size=4, R2(id=0,off=14,r=0)', 'R2 offset is outside of the packet']);
  assert.equal(parsed.messages[0], 'func#0 @0', 'framing lines are not messages');
  assert.equal(parsed.stats?.processedInsns, 5);
  assert.equal(parsed.verificationTimeUs, undefined, 'no BPF_LOG_STATS, no time');
});

test('older kernels without mark_read; an accepted program has no message; no stats means the verifier never ran', () => {
  const old = parseVerifierLog('processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0\n');
  assert.deepEqual(old, { messages: [], stats: { processedInsns: 3, insnLimit: 1000000, maxStatesPerInsn: 0, totalStates: 0, peakStates: 0 } });
  assert.deepEqual(parseVerifierLog(''), { messages: [] });
  assert.deepEqual(parseVerifierLog('Unrecognized arg#0 type PTR\n'), { lastMessage: 'Unrecognized arg#0 type PTR', messages: ['Unrecognized arg#0 type PTR'] });
  assert.throws(() => parseVerifierLog('processed 99999999999999999999 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0'), VerifierLogError);
});

test('fuzz: random logs give figures or VerifierLogError, nothing else', () => {
  const seed = fuzzSeed(0x10e);
  const rand = seededRandom(seed);
  const pieces = ['processed ', 'insns ', '(limit ', ') ', 'max_states_per_insn ', 'total_states ', 'peak_states ', 'mark_read ', 'verification time ', 'usec', 'stack depth ', '+', '12', '0', '99999999999999999999', '\n', '\r', ' ', 'R0', "'", '-- END PROG LOAD LOG --'];
  for (let i = 0; i < 2000; i++) {
    const log = Array.from({ length: Math.floor(rand() * 30) }, () => pieces[Math.floor(rand() * pieces.length)]).join('');
    try {
      const parsed = parseVerifierLog(log);
      if (parsed.stats !== undefined) assert.ok(Number.isSafeInteger(parsed.stats.processedInsns));
    } catch (err) {
      if (!(err instanceof VerifierLogError)) throw new Error(`case ${i} (seed ${seed}) ${JSON.stringify(log)}: ${(err as Error).stack}`);
    }
  }
});
