import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { ExportError, Exporter, parseExporterConfig } from '../../src/export/index.ts';
import { command as exporterCommand } from '../../src/cli/commands/exporter.ts';
import { EXPORTER_TOOLS } from '../../src/tools/index.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { getppid, parsePrometheusTextFormat, waitFor } from './support.ts';

checkNoKernelLeaks();
const skip = skipWithoutKernel();
const FILE = '/etc/tsbpf/tools.yaml';

const config = (programs: object[]) => parseExporterConfig(stringify({ programs }), FILE);

type Families = Map<string, { type: string; metrics: Array<{ labels?: Record<string, string>; value?: string; count?: string }> }>;

async function scrape(exporter: Exporter): Promise<Families> {
  return new Map(parsePrometheusTextFormat((await exporter.scrape()).body).map((f) => [f.name, f]) as Array<[string, Families extends Map<string, infer F> ? F : never]>);
}

test('syscount and runqlat run for the exporter: the syscalls a workload makes, run-queue waits, their programs', { skip }, async () => {
  const calls = 500;
  const exporter = await Exporter.start(
    config([
      { name: 'calls', tool: 'syscount', options: { pid: process.pid, interval: 1 } },
      { name: 'sched', tool: 'runqlat', options: { interval: 1 } },
    ]),
    { tools: EXPORTER_TOOLS },
  );
  try {
    getppid(calls);
    const getppids = await waitFor('the getppid counter', async () => {
      const count = Number((await scrape(exporter)).get('ebpf_exporter_syscalls_total')?.metrics.find((m) => m.labels?.syscall === 'getppid')?.value ?? 0);
      return count >= calls ? count : undefined;
    });
    assert.ok(getppids >= calls, `${getppids} getppid calls counted`);

    const families = await waitFor('run-queue waits', async () => {
      const scraped = await scrape(exporter);
      return Number(scraped.get('ebpf_exporter_run_queue_latency_seconds')?.metrics[0]?.count ?? 0) > 0 ? scraped : undefined;
    });
    assert.equal(families.get('ebpf_exporter_run_queue_latency_seconds')?.type, 'HISTOGRAM');
    assert.equal(families.get('ebpf_exporter_syscalls_total')?.type, 'COUNTER');
    // Totals are cumulative: a later scrape never shows fewer calls.
    getppid(calls);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const later = Number((await scrape(exporter)).get('ebpf_exporter_syscalls_total')?.metrics.find((m) => m.labels?.syscall === 'getppid')?.value);
    assert.ok(later >= getppids + calls, `${later} after ${getppids} and ${calls} more`);

    const programs = exporter.sources.flatMap((source) => source.programs.map((program) => ({ source: source.name, program })));
    assert.deepEqual([...new Set(programs.map((p) => p.source))].sort(), ['calls', 'sched']);
    for (const { source, program } of programs) {
      assert.ok(program.attachment.attached, `${source}:${program.name} attached`);
      assert.ok((program.info()?.id ?? 0) > 0, `${source}:${program.name} has a kernel id`);
    }
  } finally {
    await exporter.close();
  }
});

test('a bad tool option is an error naming the config key, and loads nothing', { skip }, async () => {
  await assert.rejects(Exporter.start(config([{ name: 'calls', tool: 'syscount', options: { pid: 'self' } }]), { tools: EXPORTER_TOOLS }), (error: Error) => {
    assert.ok(error instanceof ExportError);
    assert.match(error.message, /tools\.yaml: programs\[0\]\.options\.pid: must be an integer/);
    return true;
  });
  await assert.rejects(Exporter.start(config([{ name: 'disk', tool: 'biolatency', options: { per_disks: true } }]), { tools: EXPORTER_TOOLS }), /programs\[0\]\.options\.per_disks: tool 'biolatency' has no such option/);
  await assert.rejects(
    Exporter.start(config([{ name: 'execs', tool: 'execsnoop', options: { cgroup: '/nonexistent/cgroup' } }]), { tools: EXPORTER_TOOLS }),
    /tools\.yaml: programs\[0\]: tool 'execsnoop' did not start: .*\/nonexistent\/cgroup/,
  );
  await assert.rejects(Exporter.start(config([{ name: 'x', tool: 'tcpconnect' }]), { tools: EXPORTER_TOOLS }), /programs\[0\]\.tool: no tool 'tcpconnect' \(tools: biolatency, execsnoop, opensnoop, runqlat, syscount\)/);
});

test('execsnoop and opensnoop: execs per command, failed opens per command and errno', { skip }, async () => {
  const execs = 3;
  const opens = 20;
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-tools-source-'));
  const exporter = await Exporter.start(
    config([
      { name: 'execs', tool: 'execsnoop', options: { include_failed: true } },
      { name: 'opens', tool: 'opensnoop', options: { pid: process.pid, failed_only: true } },
    ]),
    { tools: EXPORTER_TOOLS },
  );
  try {
    for (let i = 0; i < execs; i++) assert.equal(spawnSync('true').status, 0);
    assert.equal(spawnSync(join(dir, 'missing-binary')).error?.message.includes('ENOENT'), true);
    for (let i = 0; i < opens; i++) assert.throws(() => openSync(join(dir, `missing-${i}`), 'r'), /ENOENT/);
    const families = await waitFor('the exec and open counters', async () => {
      const scraped = await scrape(exporter);
      const trues = Number(scraped.get('ebpf_exporter_execs_total')?.metrics.find((m) => m.labels?.comm === 'true' && m.labels.error === '')?.value ?? 0);
      const failed = scraped.get('ebpf_exporter_opens_total')?.metrics.filter((m) => m.labels?.error === 'ENOENT').reduce((sum, m) => sum + Number(m.value), 0) ?? 0;
      return trues >= execs && failed >= opens ? scraped : undefined;
    });
    const failedExec = families.get('ebpf_exporter_execs_total')?.metrics.find((m) => m.labels?.error === 'ENOENT');
    assert.ok(Number(failedExec?.value) >= 1, 'the failed exec is counted with its errno');
    assert.ok(
      families.get('ebpf_exporter_opens_total')?.metrics.every((m) => m.labels?.error !== ''),
      'failed_only counts no successful open',
    );
  } finally {
    await exporter.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsbpf exporter --config.check starts the tools of a config and stops them', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-tools-source-'));
  try {
    const file = join(dir, 'tools.yaml');
    writeFileSync(file, stringify({ programs: [{ name: 'calls', tool: 'syscount' }, { name: 'sched', tool: 'runqlat' }] }));
    let stdout = '';
    const io = { stdout: (text: string) => void (stdout += text), stderr: () => undefined, stdin: () => Promise.resolve(new Uint8Array()) };
    assert.equal(await exporterCommand.run(['--config', file, '--config.check'], io), 0);
    assert.match(stdout, /^calls, sched: (\d+) of \1 program\(s\) attached\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const ITERATIONS = 25;

test('fuzz: random tool options start the tool or fail with an ExportError, never a crash or a leak', { skip }, async () => {
  const keys = ['per_disk', 'queued', 'interval', 'pid', 'per_process', 'latency', 'failures_only', 'include_failed', 'cgroup', 'failed_only', 'name', 'perdisk'];
  const values: unknown[] = [true, false, 1, 0, -1, 1.5, 2 ** 40, 'x', '', '/nonexistent/cgroup', [], ['a'], null, { nested: 1 }];
  let seed = 0x5eed;
  const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const tools = Object.keys(EXPORTER_TOOLS);
  let started = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const options = Object.fromEntries(Array.from({ length: 1 + random(3) }, () => [keys[random(keys.length)]!, values[random(values.length)]]));
    const tool = tools[random(tools.length)]!;
    try {
      const exporter = await Exporter.start(config([{ name: 'fuzzed', tool, options }]), { tools: EXPORTER_TOOLS });
      started++;
      await exporter.close();
    } catch (error) {
      assert.ok(error instanceof ExportError, `${tool} ${JSON.stringify(options)}: ${(error as Error).stack}`);
      assert.match(error.message, /tools\.yaml: programs\[0\]/);
    }
  }
  assert.ok(started < ITERATIONS, 'most random options are rejected');
});
