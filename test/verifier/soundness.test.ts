/**
 * Soundness fuzzing: random XDP programs biased toward unsafe pointer
 * arithmetic, packet and map bounds, null checks and stack accesses
 * (fuzz.ts). Every program tsbpf's verifier accepts must run without a
 * memory fault in the checked interpreter, on packets of lengths from
 * 14 to 64 bytes, and (as root) the kernel's verifier must accept it too: an
 * accept the kernel refuses is a soundness bug. Every other program is
 * verified with BPF_F_TEST_STATE_FREQ (by both verifiers), which stores a
 * state at every prune point, so that pruning decides more of its paths. A
 * failing case prints its seed and program. TSBPF_FUZZ_CASES /
 * TSBPF_FUZZ_SEED run more locally.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { disassemble } from '../../src/isa/index.ts';
import { BpfSyscallError, ProgramFlags, loadCollection } from '../../src/kernel/index.ts';
import { MemoryAccessError, loadVmCollection } from '../../src/vm/index.ts';
import { verify } from '../../src/verifier/index.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { fuzzSeed } from '../support/random.ts';
import { soundnessProgram, soundnessSpec } from './fuzz.ts';

checkNoKernelLeaks();

const CASES = Number(process.env.TSBPF_FUZZ_CASES ?? 400);
const SEED = fuzzSeed(20261203);
// XDP test runs need at least an Ethernet header (as BPF_PROG_TEST_RUN).
const PACKET_LENGTHS = [14, 15, 16, 20, 24, 33, 64];

/** prog_flags for the n-th program: every other one stores a state at every prune point. */
const flagsFor = (n: number): number => (n % 2 === 1 ? ProgramFlags.TEST_STATE_FREQ : 0);

function packet(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed * 31 + i * 17) & 0xff;
  return bytes;
}

test(`verifier soundness: ${CASES} random programs, accepted ones never fault`, () => {
  let accepted = 0;
  for (let n = 0; n < CASES; n++) {
    const seed = SEED + n;
    const spec = soundnessSpec(soundnessProgram(seed));
    const result = verify(spec.programs.fuzz!, { maps: spec.maps, logLevel: 0, programFlags: flagsFor(n) });
    if (!result.accepted) continue;
    accepted++;
    const vm = loadVmCollection(spec, { verify: false });
    try {
      for (const length of PACKET_LENGTHS) {
        try {
          vm.programs.fuzz!.run({ data: packet(length, seed) });
        } catch (e) {
          if (e instanceof MemoryAccessError) {
            assert.fail(`seed ${seed} (prog_flags ${flagsFor(n)}): accepted but faults on a ${length}-byte packet: ${e.message}\n${disassemble(spec.programs.fuzz!.instructions, { style: 'kernel' })}`);
          }
          throw e;
        }
      }
    } finally {
      vm.close();
    }
  }
  // The generator must exercise both sides: enough programs pass to test runs, enough fail to test rejections.
  assert.ok(accepted > CASES * 0.1 && accepted < CASES * 0.9, `accepted ${accepted} of ${CASES}`);
});

test('verifier soundness: the kernel accepts what tsbpf accepts, and verdicts agree', { skip: skipWithoutKernel() }, () => {
  const cases = Math.min(CASES, 300);
  let agree = 0;
  for (let n = 0; n < cases; n++) {
    const seed = SEED + n;
    const spec = soundnessSpec(soundnessProgram(seed));
    const programFlags = flagsFor(n);
    const ours = verify(spec.programs.fuzz!, { maps: spec.maps, logLevel: 0, programFlags }).accepted;
    let kernel = true;
    try {
      loadCollection(spec, { programFlags }).close();
    } catch (e) {
      if (!(e instanceof BpfSyscallError)) throw e;
      kernel = false;
    }
    if (ours && !kernel) assert.fail(`seed ${seed} (prog_flags ${programFlags}): tsbpf accepts a program the kernel refuses\n${disassemble(spec.programs.fuzz!.instructions, { style: 'kernel' })}`);
    if (ours === kernel) agree++;
  }
  assert.ok(agree >= cases * 0.95, `verdicts agree on ${agree} of ${cases}`);
});
