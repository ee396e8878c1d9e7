import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Exporter, loadExporterConfig } from '../../src/export/index.ts';
import { skipWithoutClang, skipWithoutCommand, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { dashboardExpressions, fleetProgramDirectory, getppid, pwrites, parsePrometheusTextFormat, programDirectory, startOtlpReceiver, startPrometheus, waitFor } from './support.ts';

checkNoKernelLeaks();

const needs = { skip: skipWithoutKernel() || skipWithoutClang() };

async function scrape(url: string, accept?: string): Promise<{ text: string; contentType: string }> {
  const response = await fetch(`${url}/metrics`, accept ? { headers: { accept } } : {});
  assert.equal(response.status, 200);
  return { text: await response.text(), contentType: response.headers.get('content-type') ?? '' };
}

function family(text: string, name: string) {
  const found = parsePrometheusTextFormat(text).find((f) => f.name === name);
  assert.ok(found, `no family ${name} in:\n${text.slice(0, 2000)}`);
  return found;
}

const counterValue = (text: string, name: string, labels: Record<string, string> = {}): number =>
  family(text, name)
    .metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((sum, m) => sum + Number(m.value), 0);

test('an ebpf_exporter config: counters and an exp2 histogram scraped while the workload runs, parsed by a Prometheus text parser', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid);
  t.after(cleanup);
  const exporter = await Exporter.start(loadExporterConfig(join(dir, 'syscalls.yaml')));
  t.after(() => exporter.close());
  const { port } = await exporter.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;

  getppid(10);
  const before = await scrape(url);
  assert.match(before.contentType, /^text\/plain; version=0\.0\.4/);
  getppid(250);
  pwrites(dir, [1, 100, 100, 5000]);
  const after = await scrape(url);

  assert.equal(counterValue(after.text, 'ebpf_exporter_getppid_calls_total') - counterValue(before.text, 'ebpf_exporter_getppid_calls_total'), 250, 'per-CPU counter summed over CPUs');
  const events = (text: string) => counterValue(text, 'ebpf_exporter_getppid_events_total');
  assert.equal(events(after.text) - events(before.text), 250, 'perf_event_array counter: one per sample');
  assert.ok(family(after.text, 'ebpf_exporter_getppid_events_total').metrics.every((m) => m.labels?.comm !== undefined && m.labels.comm.length > 0));
  assert.equal(counterValue(after.text, 'dropped_perf_event_map_events_getppid_events_total'), 0);
  const syscalls = (text: string) => counterValue(text, 'ebpf_exporter_syscalls_total', { syscall: 'getppid' });
  assert.equal(syscalls(after.text) - syscalls(before.text), 250, 'hash counter labelled by syscall name');
  assert.ok(family(after.text, 'ebpf_exporter_syscalls_total').metrics.every((m) => m.labels?.comm !== undefined && !m.labels.comm.includes('\u0000')));

  const histogram = family(after.text, 'ebpf_exporter_pwrite_bytes');
  assert.equal(histogram.type, 'HISTOGRAM');
  const [series] = histogram.metrics;
  assert.ok(series?.buckets);
  assert.equal(Object.keys(series.buckets).length, 26, 'bucket_min..bucket_max backfilled, and +Inf');
  assert.equal(series.buckets['1'], '1');
  assert.equal(series.buckets['64'], '1');
  assert.equal(series.buckets['128'], '3');
  assert.equal(series.buckets['4096'], '3');
  assert.equal(series.buckets['8192'], '4');
  assert.equal(series.count, '4');
  assert.equal(series.sum, String(1 + 100 + 100 + 5000), 'the slot after bucket_max holds the sum');

  assert.equal(counterValue(after.text, 'ebpf_exporter_enabled_configs', { name: 'syscalls' }), 1);
  const attached = family(after.text, 'ebpf_exporter_ebpf_program_attached').metrics;
  assert.equal(attached.length, 3);
  assert.ok(attached.every((m) => m.value === '1'));
  const runCounts = family(after.text, 'ebpf_exporter_ebpf_program_run_count_total').metrics;
  assert.equal(runCounts.length, 3, 'run statistics on while the exporter runs');
  assert.ok(runCounts.every((m) => Number(m.value) > 0));
  assert.ok(family(after.text, 'ebpf_exporter_ebpf_program_run_time_seconds_total').metrics.some((m) => Number(m.value) > 0));
  assert.equal(counterValue(after.text, 'ebpf_exporter_decoder_errors_total', { config: 'syscalls' }), 0);
  assert.equal(family(after.text, 'ebpf_exporter_scrape_duration_seconds').type, 'HISTOGRAM');
  assert.match(after.text, /^ebpf_exporter_scrape_duration_seconds_count\{format="text"\} 1$/m, 'the scrape before this one was timed');

  if (!skipWithoutCommand('promtool', 'apt-get install prometheus')) {
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: after.text, encoding: 'utf8' });
    assert.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
  }

  const open = await scrape(url, 'application/openmetrics-text; version=1.0.0');
  assert.match(open.contentType, /^application\/openmetrics-text/);
  assert.match(open.text, /^# TYPE ebpf_exporter_getppid_calls counter$/m);
  assert.match(open.text, /^ebpf_exporter_getppid_calls_total \d+$/m);
  assert.ok(open.text.endsWith('# EOF\n'));
  const second = await scrape(url);
  assert.match(second.text, /^# TYPE ebpf_exporter_getppid_calls_total counter$/m, 'an OpenMetrics scrape leaves the text format names alone');

  // Scrapes between the phases of a workload thread (same process, so the program counts it) making getppid calls:
  // each scrape must see exactly the calls made so far, whatever the machine's load does to the timing.
  const PHASES = 4;
  const CALLS_PER_PHASE = 5_000;
  const start = counterValue((await scrape(url)).text, 'ebpf_exporter_getppid_calls_total');
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', () => { for (let i = 0; i < ${CALLS_PER_PHASE}; i++) void process.ppid; parentPort.postMessage('done'); });`,
    { eval: true },
  );
  try {
    for (let phase = 1; phase <= PHASES; phase++) {
      const done = new Promise((resolve) => worker.once('message', resolve));
      worker.postMessage('go');
      await done;
      assert.equal(counterValue((await scrape(url)).text, 'ebpf_exporter_getppid_calls_total') - start, phase * CALLS_PER_PHASE, `the scrape after phase ${phase} of the workload`);
    }
  } finally {
    await worker.terminate();
  }

  const missing = await fetch(`${url}/nothing`);
  assert.equal(missing.status, 404);
  await missing.text();
});

test('a real Prometheus server scrapes the exporter (the fleet program), its HTTP API returns the counter the workload increments, and the dashboard queries run', { skip: needs.skip || skipWithoutCommand('prometheus', 'apt-get install prometheus') }, async (t) => {
  const { dir, cleanup } = fleetProgramDirectory();
  t.after(cleanup);
  const exporter = await Exporter.start(loadExporterConfig(join(dir, 'node-activity.yaml')));
  t.after(() => exporter.close());
  const { port } = await exporter.listen(0, '127.0.0.1');

  const prometheus = await startPrometheus(`127.0.0.1:${port}`);
  t.after(prometheus.stop);
  const api = prometheus.query;
  const log = prometheus.log;
  const getppids = async (): Promise<number | undefined> => {
    const [first] = await api('ebpf_exporter_syscalls_total{job="tsbpf",syscall="getppid"}');
    return first === undefined ? undefined : Number(first.value[1]);
  };
  getppid(300);
  const seen = await waitFor(`Prometheus to scrape getppid calls (log: ${log()})`, async () => {
    const value = await getppids();
    return value !== undefined && value >= 300 ? value : undefined;
  });
  getppid(700);
  await waitFor('Prometheus to see the workload grow the counter', async () => {
    const value = await getppids();
    return value !== undefined && value >= seen + 700 ? value : undefined;
  });
  assert.equal((await api('up{job="tsbpf"}'))[0]?.value[1], '1');

  // Every query of the Grafana dashboard is valid PromQL for this data; the ones over program statistics and syscalls return series.
  const { expressions } = dashboardExpressions();
  const results = await waitFor('rates over two scrapes for the dashboard', async () => {
    const all = await Promise.all(expressions.map((e) => api(e.replaceAll('$__rate_interval', '10s').replaceAll('$node', '.*'))));
    return all.every((r, i) => r.length > 0 || !/syscalls_total|run_count|run_time/.test(expressions[i]!)) ? all : undefined;
  });
  assert.equal(results.length, expressions.length);
});

test('ring-buffer records become OpenTelemetry spans and logs at an OTLP/HTTP receiver', needs, async (t) => {
  const { dir, cleanup } = programDirectory(process.pid);
  t.after(cleanup);
  const receiver = await startOtlpReceiver();
  t.after(() => receiver.close());
  const labels = `
          - { name: trace_id, size: 16, decoders: [{ name: hex }] }
          - { name: parent_span_id, size: 8, decoders: [{ name: hex }] }
          - { name: span_id, size: 8, decoders: [{ name: hex }] }
          - { name: span_monotonic_timestamp_ns, size: 8, decoders: [{ name: uint }] }
          - { name: span_duration_ns, size: 8, decoders: [{ name: uint }] }
          - { name: size, size: 8, decoders: [{ name: uint }] }
          - { name: fd, size: 8, decoders: [{ name: uint }] }`;
  writeFileSync(
    join(dir, 'tracing.yaml'),
    `otlp:
  endpoint: ${receiver.url}
programs:
  - name: pwrites
    object: syscalls.bpf.o
    tracing:
      spans:
        - name: pwrite
          ringbuf: pwrite_spans
          service: tsbpf-test
          labels:${labels}
      logs:
        - name: pwrite
          ringbuf: pwrite_logs
          labels:
            - { name: size, size: 8, decoders: [{ name: uint }] }
            - { name: fd, size: 8, decoders: [{ name: uint }, { name: static_map, static_map: { "0": stdin }, allow_unknown: true }] }
`,
  );
  const exporter = await Exporter.start(loadExporterConfig(join(dir, 'tracing.yaml')));
  t.after(() => exporter.close());
  const sizes = [3, 33, 333];
  const before = Date.now();
  pwrites(dir, sizes);
  await waitFor('three spans and three logs at the receiver', async () => {
    await exporter.events!.flush();
    const spans = (receiver.requests.get('/v1/traces') ?? []).flatMap(spansOf);
    const logs = (receiver.requests.get('/v1/logs') ?? []).flatMap(logsOf);
    return spans.length >= 3 && logs.length >= 3 ? true : undefined;
  });
  const spans = (receiver.requests.get('/v1/traces') ?? []).flatMap(spansOf);
  assert.equal(spans.length, 3);
  assert.deepEqual(spans.map((s) => s.attributes.size).sort((a, b) => Number(a) - Number(b)), sizes.map(String));
  for (const span of spans) {
    assert.equal(span.name, 'pwrite');
    assert.equal(span.service, 'tsbpf-test');
    assert.equal(span.attributes['ebpf_exporter.config'], 'pwrites');
    assert.match(span.traceId, /^[0-9a-f]{32}$/);
    assert.match(span.spanId, /^[0-9a-f][13579bdf][0-9a-f]{14}$/, 'the span id the program chose (odd: its first byte in memory)');
    assert.equal(span.parentSpanId, '');
    assert.equal(span.attributes.trace_id, undefined, 'span fields are not attributes');
    assert.equal(BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano), 1000n, 'span_duration_ns');
    const startMs = Number(BigInt(span.startTimeUnixNano) / 1_000_000n);
    assert.ok(Math.abs(startMs - before) < 5000, `start ${startMs} is near ${before}: ktime converted to wall time`);
  }
  const logs = (receiver.requests.get('/v1/logs') ?? []).flatMap(logsOf);
  assert.deepEqual(logs.map((l) => l.attributes.size).sort((a, b) => Number(a) - Number(b)), sizes.map(String));
  assert.ok(logs.every((l) => l.body === 'pwrite' && /^\d+$/.test(l.attributes.fd!) && l.service === 'ebpf_exporter'));

  const { port } = await exporter.listen(0, '127.0.0.1');
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.equal(counterValue(text, 'ebpf_exporter_events_total', { ringbuf: 'pwrite_spans' }), 3);
  assert.equal(counterValue(text, 'ebpf_exporter_events_total', { ringbuf: 'pwrite_logs' }), 3);
  assert.equal(family(text, 'ebpf_exporter_lost_events_total').metrics.length, 0);
});

type Attributes = Record<string, string | undefined>;
interface OtlpAttribute {
  key: string;
  value: { stringValue?: string };
}
const attributesOf = (list: OtlpAttribute[] | undefined): Attributes => Object.fromEntries((list ?? []).map((a) => [a.key, a.value.stringValue]));

function spansOf(request: unknown) {
  const body = request as { resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ spans: Array<{ name: string; traceId: string; spanId: string; parentSpanId?: string; startTimeUnixNano: string; endTimeUnixNano: string; attributes: OtlpAttribute[] }> }> }> };
  return body.resourceSpans.flatMap((r) =>
    r.scopeSpans.flatMap((s) => s.spans.map((span) => ({ ...span, parentSpanId: span.parentSpanId ?? '', service: attributesOf(r.resource.attributes)['service.name'], attributes: attributesOf(span.attributes) }))),
  );
}

function logsOf(request: unknown) {
  const body = request as { resourceLogs: Array<{ resource: { attributes: OtlpAttribute[] }; scopeLogs: Array<{ logRecords: Array<{ body: { stringValue: string }; attributes: OtlpAttribute[] }> }> }> };
  return body.resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords.map((l) => ({ body: l.body.stringValue, service: attributesOf(r.resource.attributes)['service.name'], attributes: attributesOf(l.attributes) }))));
}
