import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/index.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { collectionFromInstructions } from '../../src/object/index.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { ProgramLoadError, StackAccessError, StackLimitError, loadVmCollection } from '../../src/vm/index.ts';
import { Rng } from '../jit/fuzz.ts';
import { fuzzSeed } from '../support/random.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';

checkNoKernelLeaks();

// Stack isolation fuzz: random call chains (bpf-to-bpf calls and bpf_loop
// callbacks) whose functions use frames of random sizes, spill stack
// pointers to the stack (which sizes their frame), and access the stack
// through a pointer kept in the packet, where no load-time sizing can follow
// it, at random offsets. A model says what must happen: past 512 bytes along
// the chain, the kernel's refusal; an access outside the run's frames, a
// StackAccessError naming the function's frame and the offset from its r10;
// otherwise the run ends with the value it wrote and read back. Both engines
// must agree with the model. TSBPF_FUZZ_CASES sets the count (default 300);
// TSBPF_FUZZ_SEED the first seed.

const CASES = Number(process.env.TSBPF_FUZZ_CASES ?? 300);
const SEED = fuzzSeed(7);
const MAX_STACK = 512;

interface FunctionShape {
  /** Bytes of its own the function stores at (its deepest r10 offset). */
  store: number;
  /** A pointer r10 - `spillAt` stored at r10 - `slot` and loaded back, then written through. */
  spill?: { at: number; slot: number };
  /** An access of 8 bytes at r10 + `offset` through a pointer loaded from the packet. */
  escape?: number;
  /** How the next function is reached (the last one reaches none). */
  next?: 'call' | 'callback';
}

const round16 = (n: number): number => (n + 15) & ~15;

/** The frame the engines give the function: its deepest r10 offset, rounded as the kernel does. */
function frameOf(f: FunctionShape): number {
  return round16(Math.max(f.store, f.spill?.at ?? 0, f.spill?.slot ?? 0));
}

/**
 * A run's stack allocation reaches from 1024 bytes below the top of its
 * first frame (512 of frames, 512 of guard) to 512 above it (guard); an
 * escape stays inside it, where only stack regions are (further away lie
 * the program's other regions, which a pointer may reach in any case).
 */
const ALLOCATION_BELOW = 1024;
const ALLOCATION_ABOVE = 512;

function randomShape(rng: Rng): FunctionShape[] {
  const count = 1 + rng.below(5);
  const shape = Array.from({ length: count }, (_, k) => {
    const f: FunctionShape = { store: rng.chance(0.2) ? 0 : 8 * (1 + rng.below(rng.chance(0.3) ? 64 : 20)) };
    if (rng.chance(0.4)) f.spill = { at: 1 + rng.below(200), slot: 8 * (1 + rng.below(16)) };
    if (rng.chance(0.4)) f.escape = 8 * (rng.below(150) - 100);
    if (k + 1 < count) f.next = rng.chance(0.35) ? 'callback' : 'call';
    return f;
  });
  let above = 0;
  for (const f of shape) {
    if (f.escape !== undefined) f.escape = Math.min(above + ALLOCATION_ABOVE - 8, Math.max(above - ALLOCATION_BELOW, f.escape));
    above = f.next === 'callback' ? 0 : above + frameOf(f);
  }
  return shape;
}

/**
 * The program: function k gets the packet's address in r1 (a call) or r2
 * (a callback's ctx) and returns 0 after its own checks, or 99 when a value
 * it wrote did not read back.
 */
function source(shape: readonly FunctionShape[]): string {
  const lines: string[] = ['r1 = *(u32 *)(r1 + 0)'];
  shape.forEach((f, k) => {
    if (k > 0) lines.push(`f${k}:`, shape[k - 1]!.next === 'callback' ? 'r1 = r2' : '');
    lines.push('r6 = r1');
    if (f.store > 0) lines.push(`r2 = ${k + 1}`, `*(u64 *)(r10 - ${f.store}) = r2`);
    if (f.spill !== undefined) lines.push('r2 = r10', `r2 += -${f.spill.at}`, `*(u64 *)(r10 - ${f.spill.slot}) = r2`, `r3 = *(u64 *)(r10 - ${f.spill.slot})`, '*(u8 *)(r3 + 0) = 1');
    if (f.escape !== undefined) {
      lines.push('r2 = r10', '*(u64 *)(r6 + 0) = r2', 'r3 = *(u64 *)(r6 + 0)', 'r4 = 0x55', `*(u64 *)(r3 ${f.escape < 0 ? '-' : '+'} ${Math.abs(f.escape)}) = r4`);
      lines.push(`r4 = *(u64 *)(r3 ${f.escape < 0 ? '-' : '+'} ${Math.abs(f.escape)})`, `if r4 != 0x55 goto bad${k}`);
    }
    if (f.next === 'call') lines.push('r1 = r6', `call f${k + 1}`);
    else if (f.next === 'callback') lines.push('r1 = 1', `r2 = func(f${k + 1}) ll`, 'r3 = r6', 'r4 = 0', 'call bpf_loop');
    lines.push('r0 = 0', 'exit');
    if (f.escape !== undefined) lines.push(`bad${k}:`, 'r0 = 99', 'exit');
  });
  return lines.filter((l) => l !== '').join('\n');
}

type Outcome = { kind: 'ok' } | { kind: 'limit' } | { kind: 'escape'; frame: number; offset: number };

/**
 * What the model says, in execution order: a run's program (the entry's, or
 * a callback's trampoline, loaded at the callback's first call) is refused
 * at load when the functions it reaches through calls take more than 512
 * bytes; a function whose frame takes the chain past 512 bytes fails when it
 * is called; an escape outside its run's frames faults.
 */
function expected(shape: readonly FunctionShape[]): Outcome {
  // The bytes of the functions reached through calls from function k, to the next callback.
  const segment = (k: number): number => {
    let bytes = frameOf(shape[k]!);
    while (shape[k]!.next === 'call') bytes += frameOf(shape[++k]!);
    return bytes;
  };
  let chain = 0;
  // Frames above the function's own in its run (a callback's run starts on a trampoline frame of no bytes).
  let above = 0;
  for (let k = 0; k < shape.length; k++) {
    const f = shape[k]!;
    const frame = frameOf(f);
    if ((k === 0 || shape[k - 1]!.next === 'callback') && segment(k) > MAX_STACK) return { kind: 'limit' };
    chain += frame;
    if (chain > MAX_STACK) return { kind: 'limit' };
    if (f.escape !== undefined && (f.escape < -frame || f.escape + 8 > above)) return { kind: 'escape', frame: k, offset: f.escape };
    above = f.next === 'callback' ? 0 : above + frame;
  }
  return { kind: 'ok' };
}

function runOn(jit: boolean, program: string): Outcome | string {
  let collection;
  try {
    collection = loadVmCollection(collectionFromInstructions({ name: 'stack', section: 'xdp', instructions: assemble(program) }), { jit, verify: false });
    const retval = collection.program('stack').run({ data: new Uint8Array(64) }).retval;
    return retval === 0 ? { kind: 'ok' } : `retval ${retval}`;
  } catch (error) {
    if ((error instanceof ProgramLoadError || error instanceof StackLimitError) && /combined stack size of \d+ calls is (\d+)\. Too large/.test(error.message)) {
      const bytes = Number(/is (\d+)\./.exec(error.message)![1]);
      return bytes > MAX_STACK ? { kind: 'limit' } : `limit at ${bytes} bytes`;
    }
    if (error instanceof StackAccessError) return { kind: 'escape', frame: error.frame.frame, offset: error.offset };
    return `${(error as Error).name}: ${(error as Error).message}`;
  } finally {
    collection?.close();
  }
}

test(`stack isolation fuzz: ${CASES} call chains with callbacks, spilled and escaping stack pointers, against the model on both engines`, (t) => {
  const seen = { ok: 0, limit: 0, escape: 0, callbacks: 0, spills: 0 };
  for (let k = 0; k < CASES; k++) {
    const rng = new Rng(SEED + k);
    const shape = randomShape(rng);
    const program = source(shape);
    const model = expected(shape);
    seen[model.kind]++;
    if (shape.some((f) => f.next === 'callback')) seen.callbacks++;
    if (shape.some((f) => f.spill !== undefined)) seen.spills++;
    for (const jit of [false, true]) assert.deepEqual(runOn(jit, program), model, `seed ${SEED + k} (${jit ? 'jit' : 'interpreter'}):\n${program}`);
  }
  t.diagnostic(`outcomes ${JSON.stringify(seen)}`);
  // The cases cover every outcome.
  assert.ok(seen.ok > CASES / 10 && seen.limit > CASES / 20 && seen.escape > CASES / 10 && seen.callbacks > CASES / 5 && seen.spills > CASES / 5, JSON.stringify(seen));
});

test('the kernel agrees on the chains without callbacks or escapes: it loads those within 512 bytes and refuses the others', { skip: skipWithoutKernel() }, () => {
  let checked = 0;
  for (let k = 0; checked < 40; k++) {
    const rng = new Rng(SEED + 100_000 + k);
    const shape = randomShape(rng).map((f) => ({ ...f, escape: undefined, next: f.next === undefined ? undefined : ('call' as const) }));
    const program = source(shape).replace('r1 = *(u32 *)(r1 + 0)', 'r1 = 0');
    let loaded = true;
    try {
      KernelProgram.load({ type: ProgramType.SOCKET_FILTER, instructions: assemble(program), name: 'stack' }).close();
    } catch {
      loaded = false;
    }
    assert.equal(loaded, expected(shape).kind === 'ok', `seed ${SEED + 100_000 + k}:\n${program}`);
    checked++;
  }
});
