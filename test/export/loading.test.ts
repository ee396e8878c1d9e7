import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Exporter, ExportError, loadExporterConfig } from '../../src/export/index.ts';
import { spawnTsbpf } from '../support/cli.ts';
import { fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { cgroup2Mount } from '../../src/kernel/index.ts';
import { parsePrometheusTextFormat, programDirectory, waitFor } from './support.ts';

checkNoKernelLeaks();

const needs = { skip: skipWithoutKernel() || skipWithoutClang() };

/** Writes `yaml` as a programs config using the compiled test object; returns its path. */
function config(dir: string, name: string, yaml: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `programs:\n  - name: ${name}\n    object: syscalls.bpf.o\n${yaml}`);
  return path;
}

test('problems found when loading name the file, the key path and the map, and leave nothing loaded', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid);
  t.after(cleanup);
  const rejects = async (path: string, pattern: RegExp) => {
    await assert.rejects(Exporter.start(loadExporterConfig(path)), (error: unknown) => {
      assert.ok(error instanceof ExportError, String(error));
      assert.match(error.message, pattern);
      return true;
    });
  };
  const missing = config(dir, 'missing', '    metrics: { counters: [{ name: nosuch_total, help: x }] }\n');
  await rejects(missing, new RegExp(`^${missing}: programs\\[0\\]\\.metrics\\.counters\\[0\\]: program 'missing' has no map 'nosuch_total'`));
  const ringbuf = config(dir, 'ringbuf', '    metrics: { counters: [{ name: pwrite_spans, help: x }] }\n');
  await rejects(ringbuf, /programs\[0\]\.metrics\.counters\[0\]: map 'pwrite_spans' has 0-byte values; metrics read u64 values/);
  const spans = config(dir, 'spans', '    tracing: { spans: [{ ringbuf: pwrite_spans, labels: [{ name: size, size: 8, decoders: [{ name: uint }] }] }] }\n');
  await rejects(spans, /tracing needs an OTLP receiver: set otlp\.endpoint/);
  const noObject = join(dir, 'absent.yaml');
  writeFileSync(noObject, 'programs:\n  - name: absent\n    object: absent.bpf.o\n    metrics: { counters: [{ name: a, help: a }] }\n');
  await rejects(noObject, new RegExp(`program 'absent' \\(${join(dir, 'absent.bpf.o')}\\): .*ENOENT`));
});

test('keys that do not match the labels count as decoder errors; the scrape goes on', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid);
  t.after(cleanup);
  const path = config(
    dir,
    'mismatch',
    `    metrics:
      counters:
        - { name: syscalls_total, help: x, labels: [{ name: syscall, size: 8, decoders: [{ name: uint }] }] }
        - { name: getppid_calls_total, help: y }
`,
  );
  const warnings: string[] = [];
  const exporter = await Exporter.start(loadExporterConfig(path), { warn: (w) => warnings.push(w) });
  t.after(() => exporter.close());
  for (let i = 0; i < 5; i++) void process.ppid;
  const first = await exporter.scrape();
  const second = await exporter.scrape();
  const value = (text: string, name: string) => Number(parsePrometheusTextFormat(text).find((f) => f.name === name)?.metrics[0]?.value);
  assert.equal(value(first.body, 'ebpf_exporter_decoder_errors_total'), 1, 'the map families are read before the own metrics, so a scrape shows its own errors');
  assert.equal(value(second.body, 'ebpf_exporter_decoder_errors_total'), 2);
  assert.ok(value(second.body, 'ebpf_exporter_getppid_calls_total') >= 5, 'the other metric is still served');
  assert.match(warnings[0]!, /decode error in 'mismatch': the labels \(syscall: 8\) cover 8 bytes, the key has 24/);
  const [a, b] = await Promise.all([exporter.scrape(), exporter.scrape()]);
  assert.equal(a.body, b.body);
  const third = await exporter.scrape();
  assert.equal(value(a.body, 'ebpf_exporter_decoder_errors_total'), 3, 'two concurrent scrapes read the maps once');
  assert.equal(value(third.body, 'ebpf_exporter_decoder_errors_total'), 4);
  assert.equal(warnings.length, 1, 'the same decode error is not repeated within a minute');
});

test('tsbpf exporter on the command line: --check, config errors with file and line, usage errors', async () => {
  const ok = await spawnTsbpf(['exporter', '--config', fixturePath('export', 'syscalls.yaml'), '--check']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /syscalls\.yaml: 1 program\(s\), 4 metric\(s\), 0 event stream\(s\): ok/);
  const bad = await spawnTsbpf(['exporter', '--config', fixturePath('export', 'syscalls.bpf.c'), '--check']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /syscalls\.bpf\.c:\d+: YAML syntax|syscalls\.bpf\.c(:\d+)?: .*(must be a YAML mapping|YAML)/);
  const port = await spawnTsbpf(['exporter', '--config', 'x.yaml', '--port', '99999']);
  assert.equal(port.code, 2);
  assert.match(port.stderr, /--port needs a port number from 0 to 65535, got '99999'/);
  const none = await spawnTsbpf(['exporter']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--config FILE \(or --config.dir with --config.names\) is required/);
  const compat = await spawnTsbpf(['exporter', '--config.dir', fixturePath('export'), '--config.names', 'syscalls', '--web.listen-address', ':9999', '--check']);
  assert.equal(compat.code, 0, compat.stderr);
  assert.match(compat.stdout, /export\/syscalls\.yaml: 1 program\(s\), 4 metric\(s\)/);
  const twice = await spawnTsbpf(['exporter', '--config', fixturePath('export', 'syscalls.yaml'), '--config', fixturePath('export', 'syscalls.yaml'), '--check']);
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /syscalls\.yaml: program 'syscalls' is also defined in .*syscalls\.yaml/);
  const half = await spawnTsbpf(['exporter', '--config.dir', '/etc']);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /--config.dir and --config.names go together/);
  const missing = await spawnTsbpf(['exporter', '--config', '/nonexistent/exporter.yaml']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\/nonexistent\/exporter\.yaml: cannot read the config: ENOENT/);
  assert.ok(!(missing.stderr.includes('    at ')), 'no stack trace');
});

test('cgroup_id_map: the exporter keeps the matching cgroups in the map as they come and go', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid);
  t.after(cleanup);
  // In the cgroup2 hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified in the hybrid layout).
  const cgroup = join(cgroup2Mount(), `tsbpf-export-test-${process.pid}`);
  mkdirSync(cgroup);
  // cgroupfs directories go with rmdir (their control files cannot be unlinked); the test removes it itself when it gets that far.
  t.after(() => existsSync(cgroup) && rmdirSync(cgroup));
  const path = config(
    dir,
    'cgroups',
    `    cgroup_id_map:
      name: cgroup_filter
      regexps: ['/tsbpf-export-test-${process.pid}$']
    metrics: { counters: [{ name: getppid_calls_total, help: y }] }
`,
  );
  const exporter = await Exporter.start(loadExporterConfig(path));
  t.after(() => exporter.close());
  const source = exporter.sources[0]!;
  const filter = source.map('cgroup_filter')!;
  const id = statSync(cgroup, { bigint: true }).ino;
  const key = new Uint8Array(new BigUint64Array([id]).buffer);
  assert.deepEqual([...filter.keys()].map((k) => new DataView(k.buffer).getBigUint64(0, true)), [id], 'only the matching cgroup, filled at start');
  assert.deepEqual(filter.lookup(key), new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  rmdirSync(cgroup);
  await waitFor('the removed cgroup to leave the map', async () => (filter.lookup(key) === undefined ? true : undefined), 5000, 100);
});

test('kaddrs: const volatile kaddr_<symbol> gets its /proc/kallsyms address; an unknown symbol is an error', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid);
  t.after(cleanup);
  const exporter = await Exporter.start(loadExporterConfig(config(dir, 'kaddrs', '    kaddrs: [_stext]\n    metrics: { counters: [{ name: getppid_calls_total, help: y }] }\n')));
  t.after(() => exporter.close());
  const rodata = exporter.sources[0]!.map('.rodata')!.lookup(new Uint8Array(4))!;
  const expected = readFileSync('/proc/kallsyms', 'utf8').split('\n').find((line) => line.endsWith(' _stext'))!.split(' ')[0]!;
  assert.equal(new DataView(rodata.buffer, rodata.byteOffset).getBigUint64(0, true), BigInt(`0x${expected}`));
  await assert.rejects(
    Exporter.start(loadExporterConfig(config(dir, 'nosym', '    kaddrs: [no_such_symbol_xyz]\n    metrics: { counters: [{ name: getppid_calls_total, help: y }] }\n'))),
    /kaddrs: no symbol 'no_such_symbol_xyz' in \/proc\/kallsyms/,
  );
});

test('events that do not decode, and exports the receiver refuses, count as lost', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid);
  t.after(cleanup);
  const refusing = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(400, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => refusing.close(() => resolve())));
  const path = join(dir, 'lost.yaml');
  writeFileSync(
    path,
    `otlp: { endpoint: 'http://127.0.0.1:${(refusing.address() as AddressInfo).port}' }
programs:
  - name: lost
    object: syscalls.bpf.o
    tracing:
      logs:
        # 24 bytes of labels over 16-byte records: every record fails to decode.
        - { ringbuf: pwrite_logs, labels: [{ name: a, size: 8, decoders: [{ name: uint }] }, { name: b, size: 16, decoders: [{ name: hex }] }] }
      spans:
        - { ringbuf: pwrite_spans, labels: [{ name: size, size: 8, decoders: [{ name: uint }] }] }
`,
  );
  const exporter = await Exporter.start(loadExporterConfig(path));
  t.after(() => exporter.close());
  const fd = openSync(join(dir, 'scratch'), 'w');
  for (const size of [5, 6]) writeSync(fd, new Uint8Array(size), 0, size, 0);
  closeSync(fd);
  const lost = async (reason: string, ringbuf: string) => {
    const text = (await exporter.scrape()).body;
    return parsePrometheusTextFormat(text)
      .find((f) => f.name === 'ebpf_exporter_lost_events_total')
      ?.metrics.find((m) => m.labels?.reason === reason && m.labels.ringbuf === ringbuf)?.value;
  };
  await waitFor('two undecodable log records', async () => {
    await exporter.events!.flush().catch(() => undefined);
    return (await lost('decode_error', 'pwrite_logs')) === '2' ? true : undefined;
  });
  await waitFor('two spans the receiver refused', async () => {
    await exporter.events!.flush().catch(() => undefined);
    return (await lost('export_failed', 'pwrite_spans')) === '2' ? true : undefined;
  });
});

test('programs attach by their section (a uprobe on node itself); one that cannot attach is reported and the rest keep running', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid, [`-DNODE_PATH="${process.execPath}"`]);
  t.after(cleanup);
  const warnings: string[] = [];
  const exporter = await Exporter.start(loadExporterConfig(config(dir, 'uprobes', '    metrics: { counters: [{ name: uv_getppid_calls_total, help: y }] }\n')), { warn: (w) => warnings.push(w) });
  t.after(() => exporter.close());
  for (let i = 0; i < 40; i++) void process.ppid;
  const text = (await exporter.scrape()).body;
  const families = parsePrometheusTextFormat(text);
  assert.equal(families.find((f) => f.name === 'ebpf_exporter_uv_getppid_calls_total')?.metrics[0]?.value, '40');
  const programs = exporter.sources[0]!.programs;
  assert.deepEqual(programs.find((p) => p.name === 'node_getppid')?.attachment.attached, true);
  const never = programs.find((p) => p.name === 'never_attached')!;
  assert.equal(never.attachment.attached, false);
  const neverId = String(never.info()!.id);
  assert.equal(families.find((f) => f.name === 'ebpf_exporter_ebpf_program_attached')?.metrics.find((m) => m.labels?.id === neverId)?.value, '0');
  assert.ok(warnings.some((w) => w.startsWith("program 'uprobes:never_attached' is not attached: ") && w.includes('/nonexistent/tsbpf-test-binary')), warnings.join('\n'));
});

test('a program the verifier refuses fails the start with the config program named and the verifier log kept', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid, ['-DBROKEN_PROGRAM']);
  t.after(cleanup);
  await assert.rejects(Exporter.start(loadExporterConfig(config(dir, 'broken', '    metrics: { counters: [{ name: getppid_calls_total, help: y }] }\n'))), (error: unknown) => {
    assert.ok(error instanceof ExportError, String(error));
    assert.match(error.message, new RegExp(`^program 'broken' \\(${join(dir, 'syscalls.bpf.o')}\\): .*broken`, 's'));
    assert.match(error.message, /invalid mem access/);
    return true;
  });
});

test('tsbpf exporter --config.check loads and attaches every program, says so and unloads', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid);
  t.after(cleanup);
  const check = await spawnTsbpf(['exporter', '--config', join(dir, 'syscalls.yaml'), '--config.check']);
  assert.equal(check.code, 0, check.stderr);
  assert.equal(check.stdout, 'syscalls: 3 of 3 program(s) attached\n');
  const broken = programDirectory(process.pid, [`-DNODE_PATH="${process.execPath}"`]);
  t.after(broken.cleanup);
  const partial = await spawnTsbpf(['exporter', '--config', join(broken.dir, 'syscalls.yaml'), '--config.check']);
  assert.equal(partial.code, 1);
  assert.match(partial.stdout, /^syscalls: 4 of 5 program\(s\) attached; not attached: syscalls:never_attached\n$/);
  assert.match(partial.stderr, /warning: program 'syscalls:never_attached' is not attached/);
});
