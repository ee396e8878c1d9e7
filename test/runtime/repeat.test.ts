import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { assemble } from '../../src/isa/index.ts';
import { collectionFromInstructions } from '../../src/object/index.ts';
import { RunInputError, RunInterruptedError, type VmProgram, loadVmCollection } from '../../src/vm/index.ts';
import { ROOT } from '../support/env.ts';

// Repeated runs that can be bounded or stopped: a time limit and an
// AbortSignal checked between chunks of iterations, runAsync yielding to
// the event loop, and `tsbpf run --repeat N` stopping on Ctrl-C.

const TRILLION = 1e12;
const DATA = new Uint8Array(64);

function withProgram(jit: boolean, source: string, body: (program: VmProgram) => Promise<void> | void): Promise<void> {
  const collection = loadVmCollection(collectionFromInstructions({ name: 'p', section: 'xdp', instructions: assemble(source) }), { jit, verify: false });
  return (async () => {
    try {
      await body(collection.program('p'));
    } finally {
      collection.close();
    }
  })();
}

const ENGINES = [false, true] as const;
const engineName = (jit: boolean): string => (jit ? 'jit' : 'interpreter');

test('runAsync: an AbortSignal stops a run of 10^12 iterations within a second, with what was measured', async () => {
  for (const jit of ENGINES) {
    await withProgram(jit, 'r0 = 2\nexit', async (program) => {
      const started = performance.now();
      const error = await program.runAsync({ data: DATA, repeat: TRILLION, signal: AbortSignal.timeout(100) }).then(
        () => assert.fail('the run ended'),
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      assert.ok(error instanceof RunInterruptedError, String(error));
      assert.ok(elapsed < 1000, `${engineName(jit)}: stopped after ${elapsed} ms`);
      assert.ok(error.repeats > 0 && error.repeats < TRILLION, `${engineName(jit)}: ${error.repeats} runs`);
      assert.equal(error.requested, TRILLION);
      assert.equal(error.retval, 2);
      assert.match(error.message, new RegExp(`program 'p': run interrupted after ${error.repeats} of 1000000000000 runs`));
    });
  }
});

test('run with timeLimitMs ends a run of 10^12 iterations after the limit and says how many it made', async () => {
  for (const jit of ENGINES) {
    await withProgram(jit, 'r0 = 1\nexit', (program) => {
      const started = performance.now();
      const result = program.run({ data: DATA, repeat: TRILLION, timeLimitMs: 100 });
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 100 && elapsed < 1000, `${engineName(jit)}: ${elapsed} ms`);
      assert.ok(result.repeats > 0 && result.repeats < TRILLION);
      assert.equal(result.retval, 1);
      // A limit the run does not reach: all the runs.
      assert.equal(program.run({ data: DATA, repeat: 1000, timeLimitMs: 60_000 }).repeats, 1000);
      assert.equal(program.run({ data: DATA, repeat: 1000 }).repeats, 1000);
    });
  }
});

test('a synchronous run stops for an abort made during it (here by a trace callback); an aborted signal stops it before it starts', async () => {
  // Every run prints a line; the callback aborts at the 1000th.
  const printing = `
    r1 = 0x0a6968
    *(u64 *)(r10 - 8) = r1
    r1 = r10
    r1 += -8
    r2 = 8
    call bpf_trace_printk
    r0 = 2
    exit`;
  for (const jit of ENGINES) {
    const controller = new AbortController();
    let lines = 0;
    const collection = loadVmCollection(collectionFromInstructions({ name: 'p', section: 'xdp', instructions: assemble(printing) }), {
      jit,
      verify: false,
      onTrace: () => {
        if (++lines === 1000) controller.abort(new Error('enough'));
      },
    });
    try {
      const program = collection.program('p');
      assert.throws(() => program.run({ data: DATA, repeat: TRILLION, signal: controller.signal }), (e: unknown) => e instanceof RunInterruptedError && e.repeats >= 1000 && e.repeats < 100_000 && /\(enough\)/.test(e.message), engineName(jit));
      assert.throws(() => program.run({ data: DATA, repeat: 10, signal: controller.signal }), (e: unknown) => e instanceof RunInterruptedError && e.repeats === 0);
    } finally {
      collection.close();
    }
  }
});

test('a repeat past 2^32-1 (BPF_PROG_TEST_RUN\'s __u32) needs a way to stop; bad limits are refused', async () => {
  await withProgram(false, 'r0 = 2\nexit', (program) => {
    assert.throws(() => program.run({ data: DATA, repeat: 2 ** 32 }), (e: unknown) => e instanceof RunInputError && /give a signal or timeLimitMs/.test(e.message));
    assert.throws(() => program.run({ data: DATA, repeat: 2 ** 53 }), RunInputError);
    assert.throws(() => program.run({ data: DATA, repeat: 10, timeLimitMs: -1 }), (e: unknown) => e instanceof RunInputError && /timeLimitMs must be/.test(e.message));
    assert.throws(() => program.run({ data: DATA, repeat: 10, timeLimitMs: Number.NaN }), RunInputError);
  });
});

test('runAsync completes like run: the total repeats, the mean duration, the last result; timeLimitMs bounds it too', async () => {
  for (const jit of ENGINES) {
    await withProgram(jit, 'r0 = 3\nexit', async (program) => {
      const result = await program.runAsync({ data: DATA, repeat: 100_000 });
      assert.equal(result.repeats, 100_000);
      assert.equal(result.retval, 3);
      assert.deepEqual(result.data, DATA);
      const bounded = await program.runAsync({ data: DATA, repeat: TRILLION, timeLimitMs: 50 });
      assert.ok(bounded.repeats > 0 && bounded.repeats < TRILLION);
    });
  }
});

test('tsbpf run --repeat 10^12 stops on Ctrl-C within a second and prints what it measured (exit 130)', async () => {
  const program = join(ROOT, 'examples', 'xdp-drop-udp.s');
  for (const engine of [['--jit'], []]) {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'run', program, '--type', 'xdp', '--data', '00000000000200000000000108004500001c000100004011000000000000', '--repeat', String(TRILLION), ...engine], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    let signalled = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Running: the line that says how to stop it; then Ctrl-C a little later.
      if (signalled === 0 && /Ctrl-C stops/.test(stderr)) setTimeout(() => ((signalled = performance.now()), child.kill('SIGINT')), 200);
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const stoppedIn = performance.now() - signalled;
    assert.equal(code, 130, `${engine.join(' ')}: ${stdout}${stderr}`);
    assert.ok(signalled > 0 && stoppedIn < 1000, `stopped ${stoppedIn} ms after SIGINT`);
    const [, runs] = /^interrupted \(SIGINT\) after (\d+) of 1000000000000 runs$/m.exec(stdout) ?? [];
    assert.ok(runs !== undefined && Number(runs) > 0, stdout);
    assert.match(stdout, /^retval \d+ \(XDP_\w+, the last run\)$/m);
    assert.match(stdout, new RegExp(`^duration \\d+ ns \\(mean of ${runs}\\)$`, 'm'));
  }
});
