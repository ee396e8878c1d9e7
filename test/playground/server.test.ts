import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlaygroundServeError, command, playgroundServer } from '../../src/cli/commands/playground.ts';
import { UsageError } from '../../src/cli/command.ts';

/** A raw request (no URL normalisation by a client), returning status, type and body. */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('tsbpf playground serves the build directory and nothing outside it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsbpf-playground-serve-'));
  const dist = join(root, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>p</title>');
  writeFileSync(join(dist, 'assets', 'a-1.js'), 'export {}');
  writeFileSync(join(dist, 'sw.js'), '// sw');
  writeFileSync(join(root, 'secret.txt'), 'secret');
  const server = playgroundServer(dist);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const page = await get(port, '/');
    assert.equal(page.status, 200);
    assert.equal(page.type, 'text/html; charset=utf-8');
    assert.equal(page.body, '<!doctype html><title>p</title>');
    assert.equal((await get(port, '/?x=1#s=abc')).status, 200);
    assert.equal((await get(port, '/assets/a-1.js')).type, 'text/javascript; charset=utf-8');
    assert.equal((await get(port, '/sw.js')).status, 200);
    for (const path of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/nothing', '/assets', '/%zz']) {
      const response = await get(port, path);
      assert.ok(response.status === 404 || response.status === 400, `${path}: ${response.status}`);
      assert.doesNotMatch(response.body, /secret/);
    }
    assert.equal((await get(port, '/', 'POST')).status, 405);
    const head = await get(port, '/', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  } finally {
    await new Promise((resolve) => server.close(resolve));
    rmSync(root, { recursive: true, force: true });
  }
});

test('tsbpf playground names a missing build and bad arguments', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'tsbpf-playground-empty-'));
  try {
    assert.throws(() => playgroundServer(empty), (e: Error) => e instanceof PlaygroundServeError && /has no index\.html: build the playground first \(npm run build:playground\)/.test(e.message));
    const io = { stdout: () => {}, stderr: () => {}, stdin: async () => new Uint8Array() };
    for (const args of [['--port', 'x'], ['--port', '70000'], ['--port'], ['--host'], ['--dir'], ['--bogus']]) {
      await assert.rejects(command.run(args, io), UsageError, args.join(' '));
    }
    await assert.rejects(command.run(['--dir', empty], io), PlaygroundServeError);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
