import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { CollectionError } from '../../src/backend/index.ts';
import { loadCollection } from '../../src/kernel/collection.ts';
import { KernelArgumentError } from '../../src/kernel/errors.ts';
import { withNetworkNamespace } from '../../src/kernel/netns.ts';
import { parseUprobeTarget } from '../../src/kernel/section-attach.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from './support.ts';

checkNoKernelLeaks();
const kernel = { skip: skipWithoutKernel() || skipWithoutClang() };

interface Hits {
  raw_tp_hits: bigint;
  tp_btf_hits: bigint;
  uprobe_hits: bigint;
  perf_hits: bigint;
  xdp_packets: bigint;
}

test('attach() from SEC(): raw_tp, tp_btf, uprobe BINARY:FUNCTION, perf_event with options, xdp on the interface given', kernel, (t) => {
  const ns = `tsbpf_attach_${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  t.after(() => execFileSync('ip', ['netns', 'del', ns]));
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  using collection = loadCollection(compileBpf(fixturePath('..', 'kernel', 'fixtures', 'attach.c')));
  collection.writeVariable('target_tgid', process.pid);
  const bss = collection.typed<number, Hits & { target_tgid: number }>('.bss');

  // Without an interface the XDP program is left out, with the reason; named, it is an error.
  using partial = collection.attach({ programs: ['on_raw'] });
  assert.deepEqual(Object.keys(partial.links), ['on_raw']);
  partial.close();
  assert.throws(() => collection.attach({ programs: ['on_xdp'] }), (e) => e instanceof CollectionError && /XDP needs an interface: attach\(\{ interface: 'eth0' \}\)/.test(e.message));

  using links = withNetworkNamespace(ns, () => collection.attach({ interface: 'lo', xdpMode: 'generic', perfEvent: { frequency: 1000, cpus: [0] } }));
  assert.deepEqual(Object.keys(links.links).sort(), ['on_btf', 'on_getppid', 'on_raw', 'on_sample', 'on_xdp']);
  for (let i = 0; i < 3; i++) void process.ppid;
  const send = `const s = require('dgram').createSocket('udp4'); let n = 4; for (let i = 0; i < 4; i++) s.send('x', 9, '127.0.0.1', () => { if (--n === 0) s.close(); });`;
  execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', send]);
  const start = Date.now();
  while (Date.now() - start < 150); // CPU time for the sampling event
  const hits = bss.get(0)!;
  assert.equal(hits.uprobe_hits, 3n, 'getppid through libc, three times');
  assert.ok(hits.raw_tp_hits >= 3n && hits.tp_btf_hits >= 3n, `syscalls seen: raw_tp ${hits.raw_tp_hits}, tp_btf ${hits.tp_btf_hits}`);
  assert.ok(hits.perf_hits > 0n, 'CPU-clock samples on CPU 0');
  assert.ok(hits.xdp_packets >= 4n, `UDP packets through lo's generic XDP: ${hits.xdp_packets}`);
  links.close();
  const after = bss.get(0)!.uprobe_hits;
  void process.ppid;
  assert.equal(bss.get(0)!.uprobe_hits, after, 'closed links detach');
});

test('uprobe section targets: BINARY:FUNCTION[+OFFSET], names searched in $PATH and the library directories', kernel, () => {
  assert.deepEqual(parseUprobeTarget('/bin/true:main+0x10', 'x'), { path: '/bin/true', symbol: 'main', offset: 16 });
  assert.match(parseUprobeTarget('libc.so.6:malloc', 'x').path, /\/libc\.so\.6$/);
  assert.equal(parseUprobeTarget('ls:0x40', 'x').symbol, undefined);
  assert.throws(() => parseUprobeTarget('no-colon', 'program p'), (e) => e instanceof KernelArgumentError && /program p: uprobe target 'no-colon' is not BINARY:FUNCTION/.test(e.message));
  assert.throws(() => parseUprobeTarget('tsbpf-no-such-binary:main', 'x'), /is in none of/);
});
