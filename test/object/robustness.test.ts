// Inputs that used to crash, recurse or read without end: a map-in-map
// containing its own definition, devices and endless standard input. Each
// must end quickly in a typed error naming the place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../../src/errors.ts';
import { InputTooLargeError, readFile } from '../../src/host/node.ts';
import { ObjectError, loadCollectionSpec } from '../../src/object/index.ts';
import { compileBpf } from '../support/clang.ts';
import { ROOT, skipWithoutClang } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

const clang = { skip: skipWithoutClang() };
const LIMIT = 1 << 20;

/** `tsbpf ARGS` with a small input limit; stdin from `stdinPath` (a device) when given. */
function tsbpf(args: string[], stdinPath?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const stdin = stdinPath === undefined ? 'ignore' : openSync(stdinPath, 'r');
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, TSBPF_MAX_INPUT_BYTES: String(LIMIT) },
      stdio: [stdin, 'pipe', 'pipe'],
    });
    if (typeof stdin === 'number') closeSync(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('a map-in-map whose values name its own definition is an ObjectError, in the API and in every CLI command', clang, async () => {
  const path = compileBpf(join(ROOT, 'test', 'object', 'fixtures', 'recursive_map.c'));
  assert.throws(
    () => loadCollectionSpec(path),
    (e) => e instanceof ObjectError && /map 'self.inner': an inner map definition cannot have 'values' itself: 'values' names the outer map's own definition/.test(e.message),
  );
  for (const args of [['object', path], ['disasm', path]]) {
    const { code, stderr } = await tsbpf(args);
    assert.equal(code, 1, args.join(' '));
    assert.match(stderr, /^tsbpf \w+: section '\.maps', offset \d+: map 'self\.inner'.*contains itself\n$/);
  }
});

test('fuzz: mutated recursive map-in-map objects only ever throw TsbpfError', clang, () => {
  const original = new Uint8Array(readFileSync(compileBpf(join(ROOT, 'test', 'object', 'fixtures', 'recursive_map.c'))));
  const random = seededRandom(fuzzSeed(11));
  let rejected = 0;
  for (let i = 0; i < 300; i++) {
    const bytes = original.slice();
    for (let n = 1 + Math.floor(random() * 6); n > 0; n--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    try {
      loadCollectionSpec(bytes);
    } catch (error) {
      if (!(error instanceof TsbpfError)) throw new Error(`iteration ${i}: ${String((error as Error).stack)}`);
      rejected++;
    }
  }
  assert.ok(rejected > 0);
});

test('readFile stops at the input limit: devices and oversized files are InputTooLargeError, procfs files still read', () => {
  assert.throws(() => readFile('/dev/zero', 4096), (e) => e instanceof InputTooLargeError && e.limit === 4096 && /\/dev\/zero is larger than the input limit of 4096 bytes \(set TSBPF_MAX_INPUT_BYTES/.test(e.message));
  const big = '/tmp/library-robustness-big.bin';
  writeFileSync(big, new Uint8Array(8192));
  assert.throws(() => readFile(big, 8191), InputTooLargeError);
  assert.equal(readFile(big, 8192).length, 8192);
  assert.match(new TextDecoder().decode(readFile('/proc/self/status', 1 << 20)), /^Name:/, 'procfs reports size 0 and is read in chunks');
});

test('endless inputs: object, asm, disasm, btf dump of /dev/zero and asm - on endless stdin end with the limit error', async () => {
  const runs: Array<[string[], string | undefined, string]> = [
    [['object', '/dev/zero'], undefined, '/dev/zero'],
    [['disasm', '/dev/urandom'], undefined, '/dev/urandom'],
    [['btf', 'dump', '/dev/zero'], undefined, '/dev/zero'],
    [['asm', '/dev/zero'], undefined, '/dev/zero'],
    [['asm', '-'], '/dev/zero', 'standard input'],
  ];
  const outcomes = await Promise.all(runs.map(([args, stdin]) => tsbpf(args, stdin)));
  outcomes.forEach(({ code, stderr }, i) => {
    const [args, , source] = runs[i]!;
    assert.equal(code, 1, args.join(' '));
    assert.equal(stderr, `tsbpf ${args[0]}: ${source} is larger than the input limit of ${LIMIT} bytes (set TSBPF_MAX_INPUT_BYTES to raise it)\n`);
  });
});
