import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instruction } from '../../src/isa/instruction.ts';
import { disassemble } from '../../src/isa/index.ts';
import { HelperRegistry, standardHelpers } from '../../src/vm/helper-registry.ts';
import { Vm } from '../../src/vm/vm.ts';
import type { LoadedProgram } from '../../src/vm/program.ts';
import { STACK_GUARD, STACK_SIZE } from '../../src/vm/interpreter.ts';
import { loadJit } from '../../src/vm/jit/index.ts';
import { BUFFER_SIZE, Rng, TEST_HELPER_ID, randomProgram } from './fuzz.ts';

// Differential fuzzing: random valid programs (see fuzz.ts) run through the
// interpreter and the JIT (checked, unchecked for programs that follow the
// kernel's calling convention, and with every function through the
// irreducible-CFG dispatch fallback) must agree on r0, the
// instruction count, the final buffer and stack contents and the trace of
// helper calls, also when the instruction budget runs out midway.
// TSBPF_FUZZ_CASES sets the number of programs (default 300);
// TSBPF_FUZZ_SEED the first seed.

const CASES = Number(process.env.TSBPF_FUZZ_CASES ?? 300);
const SEED = Number(process.env.TSBPF_FUZZ_SEED ?? 1);

interface Outcome {
  r0?: bigint;
  instructions?: number;
  error?: string;
  buffer: number[];
  /** The frames of the stack after the run. */
  stack: number[];
  trace: string[];
}

/**
 * A VM with the deterministic test helper. Engines keep their stacks between
 * runs, so the stack each run used is found through acquireStack.
 */
function setup(): { vm: Vm; trace: string[]; stacks: number[] } {
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
  const stacks: number[] = [];
  const acquire = vm.acquireStack.bind(vm);
  vm.acquireStack = (bytes: number): number => {
    const start = acquire(bytes);
    stacks.push(start);
    return start;
  };
  return { vm, trace, stacks };
}

function runOnce(program: LoadedProgram, ctx: { vm: Vm; trace: string[]; stacks: number[] }, seed: number, budget?: number): Outcome {
  ctx.trace.length = 0;
  const rng = new Rng(seed ^ 0x5bd1e995);
  const buffer = Uint8Array.from({ length: BUFFER_SIZE }, () => rng.below(256));
  const out: Outcome = { buffer: [], stack: [], trace: [] };
  try {
    const result = program.run({ mem: buffer, budget });
    out.r0 = result.r0;
    out.instructions = result.instructions;
  } catch (err) {
    out.error = `${(err as Error).name}: ${(err as Error).message}`;
  }
  out.buffer = [...buffer];
  const top = ctx.stacks[ctx.stacks.length - 1]! + STACK_GUARD + STACK_SIZE;
  out.stack = [...ctx.vm.memory.u8.subarray(top - STACK_SIZE, top)];
  out.trace = [...ctx.trace];
  return out;
}

function check(seed: number): void {
  const rng = new Rng(seed);
  // Odd seeds: calls in the interpreter's shared-register model, which only
  // checked mode reproduces (unchecked mode uses the kernel's convention).
  const shared = seed % 2 === 1;
  const insns: Instruction[] = randomProgram(rng, 20 + rng.below(40), shared);
  const reference = setup();
  const expected = runOnce(reference.vm.load(insns), reference, seed);
  const jitCtx = setup();
  const variants: [string, LoadedProgram][] = [
    ['checked', loadJit(jitCtx.vm, insns)],
    ['dispatch', loadJit(jitCtx.vm, insns, { controlFlow: 'dispatch' })],
  ];
  if (!shared) variants.push(['unchecked', loadJit(jitCtx.vm, insns, { checked: false })]);
  for (const [name, jit] of variants) {
    const actual = runOnce(jit, jitCtx, seed);
    assert.deepEqual(actual, expected, `seed ${seed} (${name}):\n${disassemble(insns)}`);
  }
  // Again with a budget that runs out somewhere in the middle: the same
  // BudgetExceededError at the same instruction, after the same effects.
  if (expected.instructions !== undefined && expected.instructions > 1) {
    const budget = 1 + (Math.imul(seed, 7919) >>> 0) % (expected.instructions - 1);
    const limited = runOnce(reference.vm.load(insns), reference, seed, budget);
    for (const [name, jit] of variants) {
      assert.deepEqual(runOnce(jit, jitCtx, seed, budget), limited, `seed ${seed} (${name}, budget ${budget}):\n${disassemble(insns)}`);
    }
  }
}

test(`differential fuzz: ${CASES} random programs, interpreter vs JIT`, () => {
  for (let k = 0; k < CASES; k++) check(SEED + k);
});
