import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, relative, resolve } from 'node:path';
import { createContext, runInContext } from 'node:vm';
import { webcrypto } from 'node:crypto';
import { build } from 'esbuild';
import { ROOT, browserFieldPlugin } from './support.ts';
import { assemble, disassemble } from '../../src/isa/index.ts';
import * as NodeHost from '../../src/host/node.ts';
import * as BrowserHost from '../../src/host/browser.ts';
import { TsbpfError } from '../../src/errors.ts';

// The browser host must offer everything the Node host does, with the same signatures.
const browserHostCoversNode: typeof NodeHost = BrowserHost;
void browserHostCoversNode;

async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [join(ROOT, 'test/browser/page.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [browserFieldPlugin()],
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).map((p) => relative(ROOT, resolve(ROOT, p)));
  assert.ok(inputs.includes(join('src', 'host', 'browser.ts')), 'the bundle uses the browser host');
  assert.ok(!inputs.includes(join('src', 'host', 'node.ts')), 'the bundle does not include the Node host');
  return result.outputFiles[0]!.text;
}

/** A context with only the globals of a web page that tsbpf uses: no process, require, Buffer or node: modules. */
function browserLikeContext(): object {
  const context = createContext({
    TextEncoder,
    TextDecoder,
    performance,
    console,
    queueMicrotask,
    crypto: { getRandomValues: webcrypto.getRandomValues.bind(webcrypto) },
  });
  for (const name of ['process', 'require', 'Buffer', 'module', 'global', 'setImmediate']) {
    assert.equal(runInContext(`typeof ${name}`, context), 'undefined', `${name} is not in the page context`);
  }
  assert.equal(runInContext('typeof WebAssembly', context), 'object');
  return context;
}

test('the VM bundles for the browser and runs programs without Node', async () => {
  const code = await bundlePage();
  assert.doesNotMatch(code, /["']node:/, 'no node: module in the bundle');
  assert.doesNotMatch(code, /^\s*import\s|\bimport\(|\brequire\(/m, 'the bundle imports nothing');

  const context = browserLikeContext();
  runInContext(code, context, { filename: 'tsbpf-page.js' });
  const results = JSON.parse(runInContext('globalThis.tsbpfPageResults', context) as string);

  const expectedCounts = { verdicts: [2, 1, 2, 1, 1, 2], ipv4: [3, 0, 0, 0, 0, 0, 0, 0], ipv6: [2, 0, 0, 0, 0, 0, 0, 0], vlan: [1, 0, 0, 0, 0, 0, 0, 0] };
  assert.deepEqual(results.interpreter, { engine: 'interpreter', ...expectedCounts });
  assert.deepEqual(results.jit, { engine: 'jit', ...expectedCounts });
  assert.equal(results.arithmetic.interpreter, String((1000 * 3 + 7) ^ 0xff));
  assert.equal(results.arithmetic.jit, results.arithmetic.interpreter);
  assert.equal(results.arithmetic.listing, disassemble(assemble('r0 = r1\nr0 *= 3\nr0 += 7\nr0 ^= r2\nexit')));
  assert.deepEqual(results.collection, [2]);
  // Regression: the host's error arrives as itself, not wrapped in an ObjectError without its cause.
  assert.equal(results.fileAccess.name, 'HostUnavailableError');
  assert.match(results.fileAccess.message, /reading \/tmp\/object\.o needs Node: in the browser pass the bytes/);
});

test('the browser host decodes latin-1 as Node does and names the missing facility', () => {
  const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff);
  assert.equal(BrowserHost.latin1Text(bytes.subarray(3)), NodeHost.latin1Text(bytes.subarray(3)));
  const first = BrowserHost.monotonicNs();
  assert.ok(BrowserHost.monotonicNs() >= first);
  assert.throws(
    () => BrowserHost.readFile('/sys/kernel/btf/vmlinux'),
    (e: Error) => e instanceof BrowserHost.HostUnavailableError && e instanceof TsbpfError && e.message === 'reading /sys/kernel/btf/vmlinux needs Node: in the browser pass the bytes (a Uint8Array), the config (a record) or the format text instead',
  );
});
