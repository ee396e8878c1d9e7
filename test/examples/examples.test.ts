import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileBpf } from '../support/clang.ts';
import { ROOT, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';

// The README's examples, run as a user runs them.

test('README: tsbpf run on the assembly example drops the 100 IPv4 packets to UDP port 9', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', 'examples/xdp-drop-udp.s', '--type', 'xdp', '--pcap', 'examples/traffic.pcap', '--json'], { cwd: ROOT, encoding: 'utf8' });
  const summary = JSON.parse(out);
  assert.equal(summary.packets, 400);
  assert.deepEqual(summary.verdicts, { XDP_PASS: 300, XDP_DROP: 100 });
});

test('README: count-protocols gives the same map contents on the interpreter, the JIT and the kernel', { skip: skipWithoutClang() || skipWithoutKernel() }, () => {
  const object = compileBpf(join(ROOT, 'examples', 'count-protocols.c'));
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/count-protocols.ts', object], { cwd: ROOT, encoding: 'utf8' });
  const lines = out.trim().split('\n');
  assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), ['vm', 'vm', 'kernel']);
  const results = lines.map((l) => l.replace(/^(vm --jit|vm|kernel)\s+/, ''));
  assert.equal(results[0], 'packets by protocol 1:50 6:100 17:200; bytes from 20 sources, 10.0.0.1 sent 1920');
  assert.equal(results[1], results[0]);
  assert.equal(results[2], results[0]);
});

test('README: execsnoop through generated bindings sees the three commands it starts', { skip: skipWithoutClang() || skipWithoutKernel() }, () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/execsnoop.ts'], { cwd: ROOT, encoding: 'utf8' });
  const lines = out.trim().split('\n');
  assert.equal(lines[0], 'PID      PPID     COMM             FILENAME');
  assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/).slice(2)), [['node', '/bin/true'], ['node', '/bin/echo'], ['node', '/usr/bin/env']]);
});

test('README: examples/execsnoop.gen.ts is what tsbpf gen types writes for examples/execsnoop.c', { skip: skipWithoutClang() }, () => {
  const object = compileBpf(join(ROOT, 'examples', 'execsnoop.c'));
  const fresh = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'gen', 'types', object, '--name', 'execsnoop', '--import-from', '../src'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(fresh.replace(/^const OBJECT = .*$/m, ''), readFileSync(join(ROOT, 'examples', 'execsnoop.gen.ts'), 'utf8').replace(/^const OBJECT = .*$/m, ''));
});
