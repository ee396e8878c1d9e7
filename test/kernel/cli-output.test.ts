// What a bpftool user expects from tsbpf prog/map/link and trace-pipe.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { runCommand } from '../support/cli.ts';
import { writeSpecVariable } from '../../src/backend/index.ts';
import { loadCollection } from '../../src/kernel/collection.ts';
import { enableRunTimeStats, mapInfo } from '../../src/kernel/info.ts';
import { attachTracepoint } from '../../src/kernel/link.ts';
import { loadCollectionSpec } from '../../src/object/load.ts';
import { compileBpf } from '../support/clang.ts';
import { ROOT, fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from './support.ts';

checkNoKernelLeaks();
const kernel = { skip: skipWithoutKernel() || skipWithoutClang() };

const cli = runCommand;

test('map dump decodes keys and values with the map BTF (bpftool style); prog show/list give bpftool fields; link list names perf_event types', kernel, async () => {
  using collection = loadCollection(compileBpf(fixturePath('..', 'kernel', 'fixtures', 'typed.c')));
  assert.equal(collection.programs.record!.run({ data: new Uint8Array(64) }).retval, 0);
  const flows = await cli('map', ['dump', String(mapInfo(collection.maps.flows!.fd).id)]);
  assert.match(flows, /^\{"ifname":"lo","addr":16777343,"proto":"PROTO_UDP","port":53,"pad":0\}: \{"bytes":81985529216486945,"delta":-7,"kind":5,"urgent":1,"level":4095,"spare":0,"seen":true,"hops":\[1,2,3\],"as_u32":67305985,"as_bytes":\[1,2,3,4\],"cookie":18446744073709551615\}\nFound 1 element\n$/);
  const perCpu = await cli('map', ['dump', String(mapInfo(collection.maps.per_cpu!.fd).id)]);
  assert.match(perCpu, /^key: 0\n {2}value \(CPU 00\): \{"bytes":\d+,/);
  const json = JSON.parse(await cli('map', ['dump', String(mapInfo(collection.maps.flows!.fd).id), '--json'])) as { entries: Array<{ key: string; formatted: { key: { ifname: string }; value: { proto?: string; seen: boolean } } }> };
  assert.equal(json.entries[0]!.formatted.key.ifname, 'lo');
  assert.equal(json.entries[0]!.formatted.value.seen, true);
  assert.match(json.entries[0]!.key, /^6c 6f 00/, 'the raw bytes stay beside the decoded form');

  const stats = enableRunTimeStats();
  try {
    const program = collection.programs.record!;
    // Another test (tsbpf top's) may have statistics on already, counting the first run too.
    const runsBefore = program.info().runCount;
    program.run({ data: new Uint8Array(64), repeat: 3 });
    const id = program.info().id;
    const shown = await cli('prog', ['show', String(id)]);
    const loadedAt = /^\tloaded_at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\+0000 {2}uid 0$/m.exec(shown);
    assert.ok(loadedAt, shown);
    assert.ok(Math.abs(Date.parse(`${loadedAt[1]}Z`) - Date.now()) < 120_000, `loaded_at ${loadedAt[1]} is about now`);
    assert.match(shown, new RegExp(`^${id}: socket_filter  name record  tag [0-9a-f]{16}  gpl  run_time_ns \\d+ run_cnt ${runsBefore + 3n}\\n`));
    assert.match(shown, /^\txlated \d+B {2}jited \d+B {2}map_ids \d+,\d+\n\tbtf_id \d+\n\tverified_insns \d+\n$/m);
    const fields = JSON.parse(await cli('prog', ['show', String(id), '--json'])) as Record<string, unknown>;
    assert.deepEqual(Object.keys(fields), ['id', 'type', 'name', 'tag', 'gpl_compatible', 'run_time_ns', 'run_cnt', 'loaded_at', 'uid', 'bytes_xlated', 'jited', 'bytes_jited', 'map_ids', 'btf_id', 'verified_insns']);
    assert.equal(fields.type, 'socket_filter');
    assert.equal(fields.run_cnt, Number(runsBefore) + 3);
    assert.match(await cli('prog', ['list']), new RegExp(`^${id}: socket_filter  name record`, 'm'));
  } finally {
    stats.close();
  }
});

test('link list names perf_event links and their tracepoint, in text and JSON', kernel, async () => {
  using collection = loadCollection(compileBpf(fixturePath('..', 'kernel', 'fixtures', 'printk.c')));
  const link = attachTracepoint(collection.programs.say!, 'syscalls', 'sys_enter_getppid');
  try {
    const id = link.info().id;
    assert.match(await cli('link', ['list']), new RegExp(`^${id}: perf_event  prog \\d+\\n\\tevent_type tracepoint  tracepoint sys_enter_getppid`, 'm'));
    const links = JSON.parse(await cli('link', ['list', '--json'])) as Array<Record<string, unknown>>;
    assert.deepEqual(links.find((l) => l.id === id), { id, type: 'perf_event', prog_id: links.find((l) => l.id === id)!.prog_id, event_type: 'tracepoint', tracepoint: 'sys_enter_getppid' });
  } finally {
    link.close();
  }
});

test('tsbpf trace-pipe prints bpf_printk output; --json splits the fields', kernel, async () => {
  const marker = 100_000 + Math.floor(Math.random() * 900_000);
  const spec = loadCollectionSpec(compileBpf(fixturePath('..', 'kernel', 'fixtures', 'printk.c')));
  writeSpecVariable(spec, 'target_tgid', process.pid);
  writeSpecVariable(spec, 'marker', marker);
  using collection = loadCollection(spec);
  using links = collection.attach();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'trace-pipe', '--json', '--count', '1', '--match', `tsbpf-trace-pipe ${marker}`, '--timeout', '20'], { cwd: ROOT });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  let done = false;
  void exited.then(() => (done = true));
  // Keep calling getppid until the reader has seen a line (it may start after the first calls).
  while (!done) {
    void process.ppid;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await exited, 0);
  const line = JSON.parse(stdout) as { pid: number; message: string; function: string; cpu: number };
  assert.equal(line.message, `tsbpf-trace-pipe ${marker}`);
  assert.equal(line.pid, process.pid);
  assert.equal(line.function, 'bpf_trace_printk');
  assert.equal(Object.keys(links.links).length, 1);
});
