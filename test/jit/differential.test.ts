import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instruction } from '../../src/isa/instruction.ts';
import { disassemble } from '../../src/isa/index.ts';
import { HelperRegistry, standardHelpers } from '../../src/vm/helper-registry.ts';
import { Vm } from '../../src/vm/vm.ts';
import type { VmMemory } from '../../src/vm/memory.ts';
import type { LoadedProgram } from '../../src/vm/program.ts';
import { STACK_GUARD, STACK_SIZE } from '../../src/vm/interpreter.ts';
import { loadJit } from '../../src/vm/jit/index.ts';
import { MapError, createVmMap, registerMapHelpers } from '../../src/maps/index.ts';
import type { VmMap } from '../../src/maps/base.ts';
import { MapType } from '../../src/uapi/enums.ts';
import { fuzzSeed } from '../support/random.ts';
import { BUFFER_SIZE, FUZZ_CPU, type FuzzMapSpec, Rng, TEST_HELPER_ID, randomMapProgram, randomMapSpecs, withMapHandles } from './fuzz.ts';

// Differential fuzzing: random valid programs (see fuzz.ts) run through the
// interpreter and the JIT (checked, unchecked for programs that follow the
// kernel's calling convention, and with every function through the
// irreducible-CFG dispatch fallback), once and three times in a row, must agree on r0, the
// instruction count, the final buffer and stack contents, the trace of
// helper calls and the full contents of the VM maps the program used
// (an array, a hash and an LRU hash, whose lookups the JIT inlines, and a
// per-CPU array), also when the instruction budget runs out midway.
// Every engine gets its own identical fresh maps.
// TSBPF_FUZZ_CASES sets the number of programs (default 300);
// TSBPF_FUZZ_SEED the first seed.

const CASES = Number(process.env.TSBPF_FUZZ_CASES ?? 300);
const SEED = fuzzSeed(1);

interface Outcome {
  r0?: bigint;
  instructions?: number;
  error?: string;
  buffer: number[];
  /** The frames of the stack after the run. */
  stack: number[];
  trace: string[];
  /** The maps' elements as `map key=value` (hex; per-CPU values separated by '|'). */
  maps: string[];
}

interface Engine {
  vm: Vm;
  trace: string[];
  stacks: number[];
}

/**
 * A VM with the real map helpers (on CPU FUZZ_CPU) and the deterministic
 * test helper. Engines keep their stacks between runs, so the stack each
 * run used is found through acquireStack.
 */
function setup(): Engine {
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
  registerMapHelpers(helpers, { cpuOf: () => FUZZ_CPU });
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

/** What a case's maps hold before each run: per map, [key, values (one per CPU)]. */
type Contents = [Uint8Array, Uint8Array[]][][];

const isArray = (spec: FuzzMapSpec): boolean => spec.type === MapType.ARRAY || spec.type === MapType.PERCPU_ARRAY;

function randomContents(rng: Rng, specs: readonly FuzzMapSpec[]): Contents {
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => (rng.chance(0.3) ? 0 : rng.below(256)));
  return specs.map((spec) => {
    const values = (): Uint8Array[] => Array.from({ length: spec.cpus ?? 1 }, () => bytes(spec.valueSize));
    const elements: [Uint8Array, Uint8Array[]][] = [];
    if (isArray(spec)) {
      for (let i = 0; i < spec.maxEntries; i++) elements.push([Uint8Array.of(i, 0, 0, 0), values()]);
      return elements;
    }
    // Hash maps: some of the small keys programs use (the key's first byte), so lookups hit and miss;
    // LRU maps start full, so that inserting evicts and which entries lookups referenced matters.
    const present = new Set<number>();
    const count = spec.type === MapType.LRU_HASH ? spec.maxEntries : rng.below(spec.maxEntries + 1);
    while (present.size < count) present.add(rng.below(2 * spec.maxEntries + 2));
    for (const first of present) {
      const key = new Uint8Array(spec.keySize);
      key[0] = first;
      elements.push([key, values()]);
    }
    return elements;
  });
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** One engine's copy of a case's maps. */
class CaseMaps {
  readonly maps: VmMap[];

  constructor(
    memory: VmMemory,
    specs: readonly FuzzMapSpec[],
    seeds: readonly number[],
    private readonly contents: Contents,
  ) {
    this.maps = specs.map((spec, k) => createVmMap(memory, { ...spec, name: `fuzz${k}`, seed: seeds[k] }));
    this.fill();
  }

  get handles(): number[] {
    return this.maps.map((m) => m.handle);
  }

  private fill(): void {
    this.maps.forEach((map, k) => {
      for (const [key, values] of this.contents[k]!) {
        if (map.perCpu) map.updatePerCpu(key, values);
        else map.update(key, values[0]!);
      }
    });
  }

  /** Back to the initial contents (the same operations in every engine, so equal states stay equal). */
  reset(): void {
    for (const map of this.maps) if (map.type !== MapType.ARRAY && map.type !== MapType.PERCPU_ARRAY) for (const key of [...map.keys()]) map.delete(key);
    this.fill();
  }

  /** The maps' elements; a map whose internals a program corrupted gives its error (EFAULT) instead. */
  snapshot(): string[] {
    return this.maps.flatMap((map, k) => {
      try {
        return [...map.entries()].map(([key, value]) => `${k} ${hex(key)}=${map.perCpu ? map.lookupPerCpu(key)!.map(hex).join('|') : hex(value)}`);
      } catch (error) {
        if (!(error instanceof MapError)) throw error;
        return [`${k} ${error.message}`];
      }
    });
  }

  close(): void {
    for (const map of this.maps) map.close();
  }
}

function runOnce(program: LoadedProgram, engine: Engine, maps: CaseMaps, seed: number, budget?: number, repeat = 1): Outcome {
  engine.trace.length = 0;
  const rng = new Rng(seed ^ 0x5bd1e995);
  const buffer = Uint8Array.from({ length: BUFFER_SIZE }, () => rng.below(256));
  const out: Outcome = { buffer: [], stack: [], trace: [], maps: [] };
  try {
    const result = program.runRepeated({ mem: buffer, budget }, repeat);
    out.r0 = result.r0;
    out.instructions = result.instructions;
  } catch (err) {
    out.error = `${(err as Error).name}: ${(err as Error).message}`;
  }
  out.buffer = [...buffer];
  const top = engine.stacks[engine.stacks.length - 1]! + STACK_GUARD + STACK_SIZE;
  out.stack = [...engine.vm.memory.u8.subarray(top - STACK_SIZE, top)];
  out.trace = [...engine.trace];
  out.maps = maps.snapshot();
  return out;
}

type JitLoadOptions = NonNullable<Parameters<typeof loadJit>[2]>;

const reference = setup();
const jitEngine = setup();

function check(seed: number): void {
  const rng = new Rng(seed);
  // Odd seeds: calls in the interpreter's shared-register model, which only
  // checked mode reproduces (unchecked mode uses the kernel's convention).
  const shared = seed % 2 === 1;
  const specs = randomMapSpecs(rng);
  const generated = randomMapProgram(rng, specs, 20 + rng.below(40), shared);
  const seeds = specs.map(() => rng.next());
  const contents = randomContents(rng, specs);
  const allMaps: CaseMaps[] = [];
  const newMaps = (engine: Engine): CaseMaps => {
    const maps = new CaseMaps(engine.vm.memory, specs, seeds, contents);
    allMaps.push(maps);
    return maps;
  };
  try {
    const referenceMaps = newMaps(reference);
    const insns: Instruction[] = withMapHandles(generated, referenceMaps.handles);
    const interpreted = reference.vm.load(insns);
    const expected = runOnce(interpreted, reference, referenceMaps, seed);
    const options: [string, JitLoadOptions][] = [
      ['checked', {}],
      ['dispatch', { controlFlow: 'dispatch' }],
    ];
    if (!shared) options.push(['unchecked', { checked: false }]);
    const variants = options.map(([name, option]) => {
      const maps = newMaps(jitEngine);
      return { name, maps, jit: loadJit(jitEngine.vm, withMapHandles(generated, maps.handles), option) };
    });
    const describe = (what: string): string => `seed ${seed} (${what}); maps ${JSON.stringify(specs)}:\n${disassemble(insns)}`;
    for (const { name, maps, jit } of variants) assert.deepEqual(runOnce(jit, jitEngine, maps, seed), expected, describe(name));
    // Again with a budget that runs out somewhere in the middle: the same
    // BudgetExceededError at the same instruction, after the same effects.
    // (Not after a program corrupted a map: resetting it may fail, as it should.
    // Nor after a spilled stack pointer: a run stopped before its slot is overwritten leaves an address there.)
    if (expected.instructions !== undefined && expected.instructions > 1 && !expected.maps.some((m) => /EFAULT/.test(m)) && !generated.spillsPointers) {
      const budget = 1 + ((Math.imul(seed, 7919) >>> 0) % (expected.instructions - 1));
      referenceMaps.reset();
      const limited = runOnce(interpreted, reference, referenceMaps, seed, budget);
      for (const { name, maps, jit } of variants) {
        maps.reset();
        assert.deepEqual(runOnce(jit, jitEngine, maps, seed, budget), limited, describe(`${name}, budget ${budget}`));
      }
    }
    // Three runs after one set-up, each seeing what the one before left in memory (last: a run may
    // leave a map corrupt).
    if (!expected.maps.some((m) => /EFAULT/.test(m))) {
      referenceMaps.reset();
      const repeated = runOnce(interpreted, reference, referenceMaps, seed, undefined, 3);
      for (const { name, maps, jit } of variants) {
        maps.reset();
        assert.deepEqual(runOnce(jit, jitEngine, maps, seed, undefined, 3), repeated, describe(`${name}, repeated`));
      }
    }
  } finally {
    for (const maps of allMaps) maps.close();
  }
}

test(`differential fuzz: ${CASES} random programs with maps, interpreter vs JIT`, () => {
  for (let k = 0; k < CASES; k++) check(SEED + k);
});
