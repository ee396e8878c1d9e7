// The package's browser entry points bundled as an application would
// bundle them, then run in real headless Chromium (Debian's chromium,
// driven by playwright-core): no node: module in any bundle, the VM and
// generated-bindings runtime working in a page, the errors a page meets
// (files, the kernel backend, a CSP without 'wasm-unsafe-eval', the JIT of
// a module over 8 MB on the main thread) and the same JIT in a Worker.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { encodeBase64 } from '../../src/gen/index.ts';
import { compileBpf } from '../support/clang.ts';
import { skipWithoutClang, skipWithoutCommand } from '../support/env.ts';
import { ROOT, bundleForBrowser } from './support.ts';

const needs = { skip: skipWithoutCommand('chromium', 'apt-get install chromium') || skipWithoutClang(), timeout: 120_000 };

/** The entry points the README shows for pages: the root, the contract with typed maps, the VM side and generated bindings. */
const ENTRY_POINTS = ['tsbpf', 'tsbpf/backend', 'tsbpf/vm', 'tsbpf/maps', 'tsbpf/object', 'tsbpf/btf', 'tsbpf/isa', 'tsbpf/uapi', 'tsbpf/net', 'tsbpf/gen'];

/** What chromium-page.ts reports. */
interface PageResults {
  page: { interpreter: { verdicts: number[] }; jit: { verdicts: number[] } };
  fileAccess: { name: string; message: string; isHostUnavailable: boolean };
  kernelBackend: string;
  events: string[];
  bss: { seq: number };
  mainThreadJit: { name: string; message: string };
  worker: { engine: string; retval: number; moduleBytes: number };
}

test('every browser entry point bundles without node: modules or the kernel backend', async () => {
  const source = `${ENTRY_POINTS.map((e, i) => `import * as m${i} from '${e}';`).join('\n')}\n(globalThis as any).entries = [${ENTRY_POINTS.map((_, i) => `m${i}`).join(', ')}];`;
  const { code, inputs } = await bundleForBrowser({ source });
  assert.doesNotMatch(code, /["']node:/);
  assert.ok(inputs.includes(join('src', 'browser.ts')), 'tsbpf resolves to the browser root');
  assert.deepEqual(inputs.filter((p) => p.startsWith(join('src', 'kernel')) || p === join('src', 'host', 'node.ts')), []);
  // The root names the host's errors, so pages can catch them by type.
  const { inputs: rootInputs } = await bundleForBrowser({ source: `import { HostUnavailableError, InputTooLargeError, typedSpecMap } from 'tsbpf'; (globalThis as any).x = [HostUnavailableError, InputTooLargeError, typedSpecMap];` });
  assert.ok(rootInputs.includes(join('src', 'host', 'errors.ts')));
});

test('in headless Chromium: the VM, typed maps and bindings runtime run; files and the kernel name HostUnavailableError; big JIT modules need a Worker; a CSP without wasm-unsafe-eval is named', needs, async () => {
  const [page, worker, csp] = await Promise.all(['chromium-page.ts', 'chromium-worker.ts', 'chromium-csp.ts'].map((f) => bundleForBrowser({ file: join(ROOT, 'test', 'browser', f) })));
  for (const bundle of [page!, worker!, csp!]) assert.doesNotMatch(bundle.code, /["']node:/);
  const eventsObject = encodeBase64(new Uint8Array(readFileSync(compileBpf(join(ROOT, 'test/backend/fixtures/events.c')))));

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const tab = await browser.newPage();
    await tab.setContent('<!doctype html><title>tsbpf</title>');
    await tab.addScriptTag({ content: page!.code });
    const results = (await tab.evaluate(
      async (inputs) => (globalThis as unknown as { tsbpfChromium: { run: (i: typeof inputs) => Promise<unknown> } }).tsbpfChromium.run(inputs),
      { eventsObject, workerSource: worker!.code },
    )) as PageResults;

    assert.deepEqual(results.page.interpreter.verdicts, [2, 1, 2, 1, 1, 2]);
    assert.deepEqual(results.page.jit.verdicts, [2, 1, 2, 1, 1, 2]);
    assert.equal(results.fileAccess.name, 'HostUnavailableError');
    assert.equal(results.fileAccess.isHostUnavailable, true);
    assert.match(results.fileAccess.message, /reading \/tmp\/prog\.o needs Node: in the browser pass the bytes/);
    assert.equal(results.kernelBackend, "HostUnavailableError: the kernel backend needs Node: in the browser load with { backend: 'vm' } instead");
    assert.deepEqual(results.events, [`1:/tmp/a-rather-long-file-name.txt`, `2:/tmp/a-rather-long-file-name.txt`]);
    assert.equal(results.bss.seq, 2);
    assert.equal(results.mainThreadJit.name, 'JitCompileError');
    assert.match(results.mainThreadJit.message, /8MB[\s\S]*run the VM in a Web Worker/);
    assert.equal(results.worker.engine, 'jit');
    assert.equal(results.worker.retval, 7);
    assert.ok(results.worker.moduleBytes > 8 * 1024 * 1024, `module of ${results.worker.moduleBytes} bytes`);

    const strict = await browser.newPage();
    await strict.setContent(`<!doctype html><meta http-equiv="Content-Security-Policy" content="script-src 'unsafe-inline'"><title>csp</title>`);
    await strict.addScriptTag({ content: csp!.code });
    const underCsp = (await strict.evaluate(() => (globalThis as unknown as { tsbpfCsp: unknown }).tsbpfCsp)) as { jit: { name: string; message: string }; interpreter: number };
    assert.equal(underCsp.jit.name, 'JitCompileError');
    assert.match(underCsp.jit.message, /add 'wasm-unsafe-eval' to its script-src/);
    assert.equal(underCsp.interpreter, 42);
  } finally {
    await browser.close();
  }
});
