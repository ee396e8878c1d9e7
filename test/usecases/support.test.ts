/** What the use cases share: configuration files (sizes, encodings, syntax errors) and builds of their programs. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BuildError, buildBpfObject, ConfigFileError, exampleSource, MAX_CONFIG_BYTES, parseConfigText, readConfigFile } from '../../src/tools/usecase-support/index.ts';
import { skipWithoutClang } from '../support/env.ts';

test('configuration files: too large, not UTF-8, a directory, bad syntax, aliases: each a ConfigFileError with the place', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'big.yaml'), Buffer.alloc(MAX_CONFIG_BYTES + 1, 0x20));
  assert.throws(() => readConfigFile(join(dir, 'big.yaml')), (err: unknown) => err instanceof ConfigFileError && /big\.yaml:0: cannot read the file/.test(err.message));
  writeFileSync(join(dir, 'latin1.yaml'), Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
  assert.throws(() => readConfigFile(join(dir, 'latin1.yaml')), /latin1\.yaml:0: the file is not UTF-8 text/);
  assert.throws(() => readConfigFile(dir), /:0: cannot read the file \(EISDIR\)/);
  assert.throws(() => parseConfigText('a: 1\nb: [1, 2\nc: 3\n', 'x.yaml'), (err: unknown) => err instanceof ConfigFileError && err.file === 'x.yaml' && err.line >= 2);
  // An alias is not a value of any accepted type: no expansion, no blow-up.
  const root = parseConfigText('a: &x [1, 2]\nb: *x\n', 'alias.yaml');
  assert.throws(() => root.object(['a', 'b']).get('b')!.list(), /alias\.yaml:2: b: expected a list/);
});

test('builds: a missing source is a BuildError; an example builds once and is reused', { skip: skipWithoutClang() }, (t) => {
  assert.throws(() => buildBpfObject('/nonexistent/prog.c'), BuildError);
  const cache = mkdtempSync(join(tmpdir(), 'tsbpf-build-'));
  const saved = process.env.TSBPF_CACHE_DIR;
  process.env.TSBPF_CACHE_DIR = cache;
  t.after(() => {
    if (saved === undefined) delete process.env.TSBPF_CACHE_DIR;
    else process.env.TSBPF_CACHE_DIR = saved;
    rmSync(cache, { recursive: true, force: true });
  });
  const source = exampleSource('ddos/xdp_guard.c');
  const first = buildBpfObject(source);
  assert.equal(buildBpfObject(source), first);
  // An edited copy is compiled anew, never served the object of the old content.
  const copy = join(cache, 'xdp_guard.c');
  writeFileSync(copy, readFileSync(source));
  const fromCopy = buildBpfObject(copy);
  writeFileSync(copy, `${readFileSync(copy, 'utf8')}\n/* edited */\n`);
  const edited = buildBpfObject(copy);
  assert.notEqual(edited, fromCopy);
  assert.ok(existsSync(edited) && existsSync(fromCopy));
  const broken = join(cache, 'broken.c');
  writeFileSync(broken, 'int f(void) { return undeclared; }\n');
  assert.throws(() => buildBpfObject(broken), (err: unknown) => err instanceof BuildError && /failed on .*broken\.c:\n.*undeclared/s.test(err.message));
});
