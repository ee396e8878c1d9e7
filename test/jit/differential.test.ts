import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instruction } from '../../src/isa/instruction.ts';
import { disassemble } from '../../src/isa/index.ts';
import { HelperRegistry, standardHelpers } from '../../src/vm/helper-registry.ts';
import { Vm } from '../../src/vm/vm.ts';
import type { LoadedProgram } from '../../src/vm/program.ts';
import { loadJit } from '../../src/vm/jit/index.ts';
import { BUFFER_SIZE, Rng, TEST_HELPER_ID, randomProgram } from './fuzz.ts';

// Differential fuzzing: random valid programs (see fuzz.ts) run through the
// interpreter and the JIT (checked, unchecked, and with every function
// through the irreducible-CFG dispatch fallback) must agree on r0, the
// instruction count, the final buffer and stack contents and the trace of
// helper calls. TSBPF_FUZZ_CASES sets the number of programs (default 300);
// TSBPF_FUZZ_SEED the first seed.

const CASES = Number(process.env.TSBPF_FUZZ_CASES ?? 300);
const SEED = Number(process.env.TSBPF_FUZZ_SEED ?? 1);

interface Outcome {
  r0?: bigint;
  instructions?: number;
  error?: string;
  buffer: number[];
  stack: number[];
  trace: string[];
}

/** One VM for both engines, so that stack and buffer addresses (and pointer values) coincide. */
function setup(): { vm: Vm; trace: string[]; stacks: Uint8Array[] } {
  const trace: string[] = [];
  const helpers = new HelperRegistry(standardHelpers).register(
    TEST_HELPER_ID,
    (call) => {
      const args = [1, 2, 3, 4, 5].map((n) => call.argU64(n as 1 | 2 | 3 | 4 | 5));
      trace.push(`${call.pc}:${args.join(',')}`);
      let h = 0xcbf29ce484222325n;
      for (const a of args) h = BigInt.asUintN(64, (h ^ a) * 0x100000001b3n);
      return h;
    },
    'test_helper',
  );
  const vm = new Vm({ helpers, budget: 1_000_000 });
  const stacks: Uint8Array[] = [];
  // Keep each run's stack contents when it is released.
  const release = vm.releaseStack.bind(vm);
  vm.releaseStack = (start: number): void => {
    stacks.push(vm.memory.u8.slice(start, start + 4608));
    release(start);
  };
  return { vm, trace, stacks };
}

function runOnce(program: LoadedProgram, ctx: { trace: string[]; stacks: Uint8Array[] }, seed: number): Outcome {
  ctx.trace.length = 0;
  ctx.stacks.length = 0;
  const rng = new Rng(seed ^ 0x5bd1e995);
  const buffer = Uint8Array.from({ length: BUFFER_SIZE }, () => rng.below(256));
  const out: Outcome = { buffer: [], stack: [], trace: [] };
  try {
    const result = program.run({ mem: buffer });
    out.r0 = result.r0;
    out.instructions = result.instructions;
  } catch (err) {
    out.error = `${(err as Error).name}: ${(err as Error).message}`;
  }
  out.buffer = [...buffer];
  out.stack = [...(ctx.stacks[0] ?? [])];
  out.trace = [...ctx.trace];
  return out;
}

function check(seed: number): void {
  const rng = new Rng(seed);
  const insns: Instruction[] = randomProgram(rng, 20 + rng.below(40));
  const ctx = setup();
  const checked = loadJit(ctx.vm, insns);
  const unchecked = loadJit(ctx.vm, insns, { checked: false });
  const dispatch = loadJit(ctx.vm, insns, { controlFlow: 'dispatch' });
  const interpreted = ctx.vm.load(insns);
  const expected = runOnce(interpreted, ctx, seed);
  for (const [name, jit] of [['checked', checked], ['unchecked', unchecked], ['dispatch', dispatch]] as const) {
    const actual = runOnce(jit, ctx, seed);
    assert.deepEqual(actual, expected, `seed ${seed} (${name}):\n${disassemble(insns)}`);
  }
}

test(`differential fuzz: ${CASES} random programs, interpreter vs JIT`, () => {
  for (let k = 0; k < CASES; k++) check(SEED + k);
});
