import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { ExportConfigError, ExportError, Exporter, type ExporterConfig, type MetricTool, type ToolFactory, parseExporterConfig } from '../../src/export/index.ts';
import { skipWithoutCommand, skipWithoutKernel } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { getppid, parsePrometheusTextFormat, pwrites, startPrometheus, waitFor } from './support.ts';

checkNoKernelLeaks();

const needs = { skip: skipWithoutKernel() };

/** A script counting this process's getppid calls and measuring its pwrite64 sizes with every aggregation. */
const SCRIPT = `
BEGIN { printf("exporting\\n"); }
tracepoint:syscalls:sys_enter_getppid /pid == $1/ { @calls[comm] = count(); @by_cpu[comm, "getppid"] = count(); @hidden = count(); }
tracepoint:syscalls:sys_enter_pwrite64 /pid == $1/ {
  @sizes = hist(args->count);
  @linear = lhist(args->count, 0, 1000, 100);
  @stats = stats(args->count);
  @mean = avg(args->count);
  @smallest = min(args->count);
  @largest = max(args->count);
  @bytes = sum(args->count);
  @last[pid] = args->count;
}
END { printf("never\\n"); }
`;

/** The script's config (written to DIR/script.yaml, so relative paths resolve there), `extra` appended to its programs. */
function scriptConfig(dir: string, extra = ''): ExporterConfig {
  const file = join(dir, 'script.yaml');
  const text = `programs:
  - name: app
    script: ${JSON.stringify(SCRIPT)}
    args: [${process.pid}]
    maps:
      by_cpu: { name: app_calls_by_kind_total, help: Calls by command and kind, labels: [comm, kind] }
      hidden: false
      last: { labels: [pid] }
${extra}`;
  writeFileSync(file, text);
  return parseExporterConfig(text, file);
}

async function scrapeText(url: string, accept?: string): Promise<string> {
  const response = await fetch(`${url}/metrics`, accept ? { headers: { accept } } : {});
  assert.equal(response.status, 200);
  return response.text();
}

const families = (text: string) => new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));

test('a trace script is a metric source: each aggregation map becomes a Prometheus family, scraped while the workload runs', needs, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-script-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const warnings: string[] = [];
  const exporter = await Exporter.start(scriptConfig(dir), { warn: (m) => warnings.push(m) });
  t.after(() => exporter.close());
  const { port } = await exporter.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;

  const calls = (text: string) => Number(families(text).get('ebpf_exporter_app_calls_total')?.metrics.find((m) => m.labels?.key === 'node')?.value ?? 0);
  const before = await scrapeText(url);
  getppid(300);
  pwrites(dir, [1, 100, 100, 5000]);
  const after = await scrapeText(url);
  assert.equal(calls(after) - calls(before), 300, 'count() → counter labelled by its key, every call counted');
  const all = families(after);
  assert.equal(all.get('ebpf_exporter_app_calls_total')?.type, 'COUNTER');
  const byKind = all.get('ebpf_exporter_app_calls_by_kind_total');
  assert.equal(byKind?.help, 'Calls by command and kind');
  assert.deepEqual(byKind?.metrics.map((m) => m.labels), [{ comm: 'node', kind: 'getppid' }], 'two keys → two labels named by the config');
  assert.equal(all.get('ebpf_exporter_app_hidden_total'), undefined, 'maps: { hidden: false } keeps a map out');

  /** Cumulative bucket counts of `values` at integer upper bounds `bounds`, as Prometheus exposes them. */
  const cumulative = (bounds: number[], values: number[]) =>
    Object.fromEntries([...bounds.map((b) => [String(b), String(values.filter((v) => v <= b).length)]), ['+Inf', String(values.length)]]);
  const written = [1, 100, 100, 5000];
  const sizes = all.get('ebpf_exporter_app_sizes');
  assert.equal(sizes?.type, 'HISTOGRAM');
  // hist(): bpftrace's buckets from the first to the last used one, [1] to [4K, 8K), as integer upper bounds 1, 3, 7... 8191.
  const powers = Array.from({ length: 13 }, (_, i) => 2 ** (i + 1) - 1);
  assert.deepEqual(sizes?.metrics[0]?.buckets, cumulative(powers, written));
  assert.equal(sizes?.metrics[0]?.count, '4');
  const linear = all.get('ebpf_exporter_app_linear');
  // lhist(0, 1000, 100): [0, 100) to [900, 1000); 5000 lies above the last bucket, in +Inf only.
  assert.deepEqual(linear?.metrics[0]?.buckets, cumulative(Array.from({ length: 10 }, (_, i) => i * 100 + 99), written));
  const stats = all.get('ebpf_exporter_app_stats');
  assert.equal(stats?.type, 'SUMMARY');
  assert.equal(stats?.metrics[0]?.count, '4');
  assert.equal(stats?.metrics[0]?.sum, '5201');
  const gauge = (name: string) => {
    const found = all.get(`ebpf_exporter_app_${name}`);
    assert.equal(found?.type, 'GAUGE', name);
    return Number(found.metrics[0]!.value);
  };
  assert.equal(gauge('mean'), 1300);
  assert.equal(gauge('smallest'), 1);
  assert.equal(gauge('largest'), 5000);
  assert.equal(gauge('bytes'), 5201);
  assert.deepEqual(
    all.get('ebpf_exporter_app_last')?.metrics.map((m) => [m.labels, m.value]),
    [[{ pid: String(process.pid) }, '5000']],
    'a value map listed in maps: is a gauge',
  );

  // Buckets once seen stay: a later scrape with new buckets keeps the old ones, so no bucket series disappears.
  pwrites(dir, [0]);
  const later = families(await scrapeText(url)).get('ebpf_exporter_app_sizes')?.metrics[0]?.buckets;
  assert.deepEqual(later, cumulative([0, ...powers], [0, ...written]));

  const programs = all.get('ebpf_exporter_ebpf_program_attached')?.metrics ?? [];
  assert.ok(programs.length >= 3 && programs.filter((m) => m.value === '0').length === 1, 'END is the one program not attached');
  assert.ok(warnings.some((w) => /script 'app' printed: exporting/.test(w)), warnings.join('\n'));
  assert.ok(warnings.some((w) => /app:.*END: a script in the exporter never ends/.test(w)), warnings.join('\n'));
  assert.equal(Number(all.get('ebpf_exporter_decoder_errors_total')?.metrics.find((m) => m.labels?.config === 'app')?.value), 0);

  if (!skipWithoutCommand('promtool', 'apt-get install prometheus')) {
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: after, encoding: 'utf8' });
    assert.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
  }
  const open = await scrapeText(url, 'application/openmetrics-text; version=1.0.0');
  assert.match(open, /^# TYPE ebpf_exporter_app_calls counter$/m);
  assert.match(open, /^ebpf_exporter_app_stats_sum 5201$/m);
  assert.ok(open.endsWith('# EOF\n'));
});

test('script problems: compile errors name the config place, bad map settings and probes that cannot attach', needs, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-script-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  const start = (program: object) => Exporter.start(parseExporterConfig(stringify({ programs: [{ name: 'bad', ...program }] }), file));
  await assert.rejects(start({ script: 'tracepoint:nosuch:event { @x = count(); }' }), (error: unknown) => {
    assert.ok(error instanceof ExportError, String(error));
    // The script is a plain scalar on the config's line 3, from column 13: the error is placed there.
    assert.match(error.message, /^program 'bad': .*bad\.yaml:3:13-\d+: .*nosuch/);
    return true;
  });
  await assert.rejects(start({ script: 'BEGIN { @x = count(); }', maps: { y: { name: 'y_total' } } }), /programs\[0\]\.maps: the script has no map @y \(it has @x\)/);
  await assert.rejects(start({ script: 'BEGIN { @x[1, 2] = count(); }', maps: { x: { labels: ['a'] } } }), /programs\[0\]\.maps\.x\.labels: @x has 2 key\(s\), the config names 1 label\(s\)/);
  await assert.rejects(start({ script: 'BEGIN { @x = "text"; }', maps: { x: {} } }), /programs\[0\]\.maps\.x: @x holds string values, which are not numbers/);
  await assert.rejects(start({ script: 'BEGIN { @x[1] = hist(1); }', maps: { x: { labels: ['le'] } } }), /'le' is the bucket label of a histogram/);

  // A probe that cannot attach leaves the exporter running with the program reported as not attached.
  const warnings: string[] = [];
  const exporter = await Exporter.start(parseExporterConfig(stringify({ programs: [{ name: 'half', script: 'uprobe:/bin/true:tsbpf_no_such_symbol { @x = count(); } BEGIN { @y = count(); }' }] }), file), {
    warn: (m) => warnings.push(m),
  });
  t.after(() => exporter.close());
  const text = (await exporter.scrape()).body;
  assert.match(text, /^ebpf_exporter_half_y_total 1$/m, 'BEGIN ran once');
  assert.match(text, /^ebpf_exporter_ebpf_program_attached\{id="\d+"\} 0$/m);
  assert.ok(warnings.some((w) => /program 'half:.*' is not attached: uprobe:.*tsbpf_no_such_symbol/.test(w)), warnings.join('\n'));
});

test('fuzz: mutated script configs give an ExportConfigError or a config, never anything else', () => {
  const random = seededRandom(fuzzSeed(1516));
  const base = `programs:\n  - name: app\n    script: |\n${SCRIPT.split('\n')
    .map((line) => `      ${line}`)
    .join('\n')}\n    args: [1]\n    max_map_keys: 100\n    maps:\n      calls: { name: c_total, labels: [comm] }\n      hidden: false\n`;
  const pieces = ['{', '}', '(', ')', '@', '$1', ';', '/', ':', '- ', '\n', '  ', '"', 'count()', 'hist(', 'false', '[', ']', 'labels', 'maps'];
  let accepted = 0;
  for (let i = 0; i < 300; i++) {
    const chars = [...base];
    for (let m = 0; m < 1 + Math.floor(random() * 3); m++) {
      const at = Math.floor(random() * chars.length);
      if (random() < 0.5) chars.splice(at, 1 + Math.floor(random() * 6));
      else chars.splice(at, 0, pieces[Math.floor(random() * pieces.length)]!);
    }
    const text = chars.join('');
    try {
      parseExporterConfig(text, '/etc/tsbpf/app.yaml');
      accepted++;
    } catch (error) {
      assert.ok(error instanceof ExportConfigError, `input ${i} threw ${String(error)}:\n${text}`);
    }
  }
  assert.ok(accepted > 0 && accepted < 300, `${accepted} of 300 accepted: the fuzzer reaches both outcomes`);
});

/** A tool whose typed output the test sets: calls per syscall, and a latency histogram in seconds. */
function fakeSyscount(): { factory: ToolFactory; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const factory: ToolFactory = (options) => {
    const prefix = options.string('prefix', 'syscount');
    const tool: MetricTool = {
      programs: [],
      metrics: [
        { type: 'counter', name: `${prefix}_calls_total`, help: 'System calls', labelNames: ['syscall'], read: () => [...calls].map(([syscall, value]) => ({ labels: [syscall], value })) },
        { type: 'histogram', name: `${prefix}_latency_seconds`, help: 'Latency', labelNames: [], bounds: [0.001, 0.01], read: () => [{ labels: [], counts: [5, 3, 1], sum: 0.5 }] },
      ],
      close: () => undefined,
    };
    return tool;
  };
  return { factory, calls };
}

test('a real Prometheus server scrapes a script program and a tool program and returns their counters', { skip: needs.skip || skipWithoutCommand('prometheus', 'apt-get install prometheus') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-script-prometheus-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const syscount = fakeSyscount();
  syscount.calls.set('read', 7);
  const exporter = await Exporter.start(scriptConfig(dir, '  - name: tool\n    tool: syscount\n    options: { prefix: fake }\n'), { tools: { syscount: syscount.factory } });
  t.after(() => exporter.close());
  const { port } = await exporter.listen(0, '127.0.0.1');
  const prometheus = await startPrometheus(`127.0.0.1:${port}`);
  t.after(prometheus.stop);
  const value = async (promql: string): Promise<number | undefined> => {
    const [first] = await prometheus.query(promql);
    return first === undefined ? undefined : Number(first.value[1]);
  };
  getppid(400);
  const seen = await waitFor(`Prometheus to scrape the script's counter (log: ${prometheus.log()})`, async () => {
    const calls = await value('ebpf_exporter_app_calls_total{job="tsbpf",key="node"}');
    return calls !== undefined && calls >= 400 ? calls : undefined;
  });
  getppid(600);
  syscount.calls.set('read', 9);
  await waitFor('Prometheus to see the workload grow the script counter and the tool counter', async () => {
    const calls = await value('ebpf_exporter_app_calls_total{job="tsbpf",key="node"}');
    const reads = await value('ebpf_exporter_fake_calls_total{job="tsbpf",syscall="read"}');
    return calls !== undefined && calls >= seen + 600 && reads === 9 ? true : undefined;
  });
  // 9 values, 5 of them up to 1 ms: the median interpolates to 4.5/5 of the first bucket.
  const median = await value('histogram_quantile(0.5, ebpf_exporter_fake_latency_seconds_bucket{job="tsbpf"})');
  assert.ok(median !== undefined && Math.abs(median - 0.0009) < 1e-9, String(median));
});
