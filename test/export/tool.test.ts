import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { ExportError, Exporter, type MetricTool, type ToolFactory, type ToolMetric, parseExporterConfig } from '../../src/export/index.ts';
import { parsePrometheusTextFormat } from './support.ts';

const FILE = '/etc/tsbpf/tools.yaml';

/**
 * A biolatency-like tool written for the test: a histogram of seconds per
 * disk and a counter of I/O per disk, its typed output set by the test.
 */
function fakeBiolatency(state: { latencies: Map<string, number[]>; closed: number; metrics?: ToolMetric[] }): ToolFactory {
  const bounds = [0.0001, 0.001, 0.01];
  return (options) => {
    const perDisk = options.boolean('per_disk', false);
    const unit = options.string('unit', 'seconds', ['seconds', 'milliseconds']);
    const scale = unit === 'seconds' ? 1 : 1000;
    const labelNames = perDisk ? ['disk'] : [];
    const series = () => (perDisk ? [...state.latencies] : [['', [...state.latencies.values()].flat()] as const]);
    const tool: MetricTool = {
      programs: [{ name: 'block_rq_complete', attachment: { attached: true, description: 'tracepoint block/block_rq_complete' }, info: () => undefined }],
      metrics: state.metrics ?? [
        {
          type: 'histogram',
          name: `bio_latency_${unit}`,
          help: 'Block I/O latency',
          labelNames,
          bounds: bounds.map((b) => b * scale),
          read: () =>
            series().map(([disk, values]) => ({
              labels: perDisk ? [disk] : [],
              counts: [...bounds.map((b, i) => values.filter((v) => v <= b && (i === 0 || v > bounds[i - 1]!)).length), values.filter((v) => v > bounds.at(-1)!).length],
              sum: values.reduce((a, b) => a + b, 0) * scale,
            })),
        },
        { type: 'counter', name: 'bio_total', help: 'Block I/O completed', labelNames, read: () => series().map(([disk, values]) => ({ labels: perDisk ? [disk] : [], value: values.length })) },
      ],
      close: () => void state.closed++,
    };
    return tool;
  };
}

const config = (program: object) => parseExporterConfig(stringify({ programs: [{ name: 'disk', ...program }] }), FILE);

test('a tool is a metric source: its typed output becomes histograms and counters, per label the options ask for', async () => {
  const state = { latencies: new Map([['sda', [0.00005, 0.0005, 0.0005, 0.02]], ['nvme0n1', [0.00001]]]), closed: 0 };
  const exporter = await Exporter.start(config({ tool: 'biolatency', options: { per_disk: true } }), { tools: { biolatency: fakeBiolatency(state) } });
  const text = (await exporter.scrape()).body;
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  const latency = families.get('ebpf_exporter_bio_latency_seconds');
  assert.equal(latency?.type, 'HISTOGRAM');
  const line = (series: string) => new RegExp(`^ebpf_exporter_bio_latency_seconds_${series}$`, 'm');
  for (const [le, count] of [['0.0001', 1], ['0.001', 3], ['0.01', 3], ['+Inf', 4]] as const) assert.match(text, line(`bucket\\{disk="sda",le="${le.replace('+', '\\+')}"\\} ${count}`));
  assert.match(text, line(`sum\\{disk="sda"\\} ${0.00005 + 0.0005 + 0.0005 + 0.02}`));
  assert.match(text, line('count\\{disk="sda"\\} 4'));
  assert.match(text, line('count\\{disk="nvme0n1"\\} 1'), 'one series per disk');
  assert.deepEqual(
    families.get('ebpf_exporter_bio_total')?.metrics.map((m) => [m.labels?.disk, m.value]),
    [
      ['sda', '4'],
      ['nvme0n1', '1'],
    ],
  );
  assert.match(text, /^ebpf_exporter_ebpf_program_attached\{id="0"\} 1$/m, "the tool's programs are reported as the config's");
  state.latencies.get('sda')!.push(0.002);
  assert.match((await exporter.scrape()).body, /^ebpf_exporter_bio_total\{disk="sda"\} 5$/m, 'read again at each scrape');
  await exporter.close();
  assert.equal(state.closed, 1, 'the exporter closes the tool');
});

test('tool problems: unknown tools and options, bad option values and a tool that fails to start name the config place; bad output counts as decode errors', async () => {
  const state = { latencies: new Map<string, number[]>(), closed: 0 };
  const tools = { biolatency: fakeBiolatency(state) };
  await assert.rejects(Exporter.start(config({ tool: 'biolatncy' }), { tools }), /tools\.yaml: programs\[0\]\.tool: no tool 'biolatncy' \(tools: biolatency\)/);
  await assert.rejects(Exporter.start(config({ tool: 'biolatency' })), /no tool 'biolatency' \(this exporter was started without tools\)/);
  await assert.rejects(Exporter.start(config({ tool: 'biolatency', options: { per_disc: true } }), { tools }), /programs\[0\]\.options\.per_disc: tool 'biolatency' has no such option/);
  assert.equal(state.closed, 1, 'a tool started with an unknown option is closed again');
  await assert.rejects(Exporter.start(config({ tool: 'biolatency', options: { per_disk: 'yes' } }), { tools }), /programs\[0\]\.options\.per_disk: must be true or false, not "yes"/);
  await assert.rejects(Exporter.start(config({ tool: 'biolatency', options: { unit: 'hours' } }), { tools }), /options\.unit: 'hours' is not one of seconds, milliseconds/);
  const failing: ToolFactory = () => {
    throw new Error('no block devices');
  };
  await assert.rejects(Exporter.start(config({ tool: 'biolatency' }), { tools: { biolatency: failing } }), (error: unknown) => {
    assert.ok(error instanceof ExportError);
    assert.equal(error.message, "/etc/tsbpf/tools.yaml: programs[0]: tool 'biolatency' did not start: no block devices");
    return true;
  });
  const declared = (metrics: ToolMetric[]) => Exporter.start(config({ tool: 'biolatency' }), { tools: { biolatency: fakeBiolatency({ ...state, metrics }) } });
  await assert.rejects(declared([{ type: 'gauge', name: 'x', help: 'x', labelNames: ['__x'], read: () => [] }]), /metric 'x'\): '__x' is not a label name it may use/);
  await assert.rejects(declared([{ type: 'histogram', name: 'h', help: 'h', labelNames: [], bounds: [2, 1], read: () => [] }]), /bucket bounds must be finite and ascending: 2, 1/);
  await assert.rejects(declared([{ type: 'gauge', name: 'bad name', help: 'x', labelNames: [], read: () => [] }]), /'ebpf_exporter_bad name' is not a Prometheus metric name/);
  await assert.rejects(
    declared([
      { type: 'gauge', name: 'x', help: 'x', labelNames: [], read: () => [] },
      { type: 'gauge', name: 'x', help: 'x', labelNames: [], read: () => [] },
    ]),
    /programs\[0\]\.tool.*: program 'disk': metric 'ebpf_exporter_x' is defined twice|program 'disk': metric 'ebpf_exporter_x' is defined twice/,
  );

  const warnings: string[] = [];
  const exporter = await Exporter.start(config({ tool: 'biolatency' }), {
    tools: {
      biolatency: fakeBiolatency({
        ...state,
        metrics: [
          { type: 'counter', name: 'wrong_labels_total', help: 'x', labelNames: ['a'], read: () => [{ labels: [], value: 1 }] },
          { type: 'histogram', name: 'short', help: 'x', labelNames: [], bounds: [1, 2], read: () => [{ labels: [], counts: [1, 2] }] },
          { type: 'gauge', name: 'fine', help: 'x', labelNames: [], read: () => [{ labels: [], value: 3 }] },
          { type: 'gauge', name: 'wide', help: 'x', labelNames: ['id'], read: () => Array.from({ length: 100_001 }, (_, i) => ({ labels: [String(i)], value: i })) },
        ],
      }),
    },
    warn: (m) => warnings.push(m),
  });
  const text = (await exporter.scrape()).body;
  await exporter.close();
  assert.match(text, /^ebpf_exporter_fine 3$/m, 'one bad metric does not take the others down');
  assert.doesNotMatch(text, /^ebpf_exporter_wrong_labels_total /m);
  assert.match(text, /^ebpf_exporter_decoder_errors_total\{config="disk"\} 3$/m);
  assert.equal(text.match(/^ebpf_exporter_wide\{/gm)?.length, 100_000, 'a tool cannot flood the scrape with label sets');
  assert.match(warnings.join('\n'), /0 label value\(s\) for 1 label\(s\) \(a\)/);
});
