import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Exporter, MapsProgramSource, parseExporterConfig } from '../../src/export/index.ts';
import { ArrayMap, HashMap } from '../../src/maps/index.ts';
import { MapType } from '../../src/uapi/index.ts';
import { VmMemory } from '../../src/vm/index.ts';
import { parsePrometheusTextFormat } from './support.ts';

// No root needed: the exporter reads any BpfMap, here the VM's own maps.

const u32 = (...values: number[]): Uint8Array => new Uint8Array(new Uint32Array(values).buffer);
const u64 = (value: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(value)]).buffer);

test('VM maps through the exporter: labels, sums of keys decoding alike, skipped label sets, per-CPU values, a linear histogram', async (t) => {
  const memory = new VmMemory(16 << 20);
  const requests = new HashMap(memory, { type: MapType.HASH, name: 'requests_total', keySize: 8, valueSize: 8, maxEntries: 64 });
  requests.update(u32(1, 200), u64(5));
  requests.update(u32(2, 200), u64(7));
  requests.update(u32(1, 201), u64(1)); // 201 maps to 'ok' too: adds to id 1's ok
  requests.update(u32(1, 500), u64(2));
  requests.update(u32(9, 404), u64(3)); // regexp on the id drops it
  const perCpu = new ArrayMap(memory, { type: MapType.PERCPU_ARRAY, name: 'cpu_events_total', keySize: 4, valueSize: 8, maxEntries: 1, cpus: 3 });
  perCpu.updatePerCpu(u32(0), [u64(10), u64(20), u64(30)]);
  const latency = new HashMap(memory, { type: MapType.HASH, name: 'latency_seconds', keySize: 8, valueSize: 8, maxEntries: 64 });
  latency.update(u32(0, 1), u64(4)); // op 0, bucket 1
  latency.update(u32(0, 3), u64(6));
  latency.update(u32(0, 5), u64(100)); // bucket_max + 1: the sum

  const config = parseExporterConfig(
    `program_stats: false
programs:
  - name: vm
    metrics:
      counters:
        - name: requests_total
          help: Requests
          labels:
            - { name: id, size: 4, decoders: [{ name: uint }, { name: regexp, regexps: ['^[0-8]$'] }] }
            - { name: status, size: 4, decoders: [{ name: uint }, { name: static_map, static_map: { 200: ok, 201: ok, 500: error } }] }
        - name: cpu_events_total
          help: Events per CPU
          labels:
            - { name: cpu, size: 2, decoders: [{ name: uint }] }
      histograms:
        - name: latency_seconds
          help: Latency
          bucket_type: linear
          bucket_multiplier: 0.5
          bucket_min: 0
          bucket_max: 4
          labels:
            - { name: op, size: 4, decoders: [{ name: uint }, { name: static_map, static_map: { 0: read } }] }
            - { name: bucket, size: 4, decoders: [{ name: uint }] }
`,
    '/vm.yaml',
  );
  const exporter = await Exporter.start(config, { sources: { vm: new MapsProgramSource('vm', { requests_total: requests, cpu_events_total: perCpu, latency_seconds: latency }) } });
  t.after(() => exporter.close());
  const text = (await exporter.scrape()).body;
  const families = parsePrometheusTextFormat(text);
  const series = (name: string) => families.find((f) => f.name === name)!.metrics;

  assert.deepEqual(
    series('ebpf_exporter_requests_total')
      .map((m) => `${m.labels!.id}/${m.labels!.status}=${m.value}`)
      .sort(),
    ['1/error=2', '1/ok=6', '2/ok=7'],
  );
  assert.deepEqual(
    series('ebpf_exporter_cpu_events_total')
      .map((m) => `${m.labels!.cpu}=${m.value}`)
      .sort(),
    ['0=10', '1=20', '2=30'],
  );
  const [histogram] = series('ebpf_exporter_latency_seconds');
  assert.deepEqual(histogram!.buckets, { '0': '0', '0.5': '4', '1': '4', '1.5': '10', '2': '10', '+Inf': '10' });
  // parse-prometheus-text-format drops a labelled histogram's labels, _sum and _count: read those lines directly.
  assert.match(text, /^ebpf_exporter_latency_seconds_sum\{op="read"\} 50$/m);
  assert.match(text, /^ebpf_exporter_latency_seconds_count\{op="read"\} 10$/m);
  assert.match(text, /^ebpf_exporter_latency_seconds_bucket\{op="read",le="1.5"\} 10$/m);
  assert.equal(series('ebpf_exporter_decoder_errors_total')[0]!.value, '0');
  assert.deepEqual(series('ebpf_exporter_enabled_configs').map((m) => m.labels!.name), ['vm']);
  assert.equal(families.find((f) => f.name === 'ebpf_exporter_ebpf_program_run_count_total')?.metrics.length ?? 0, 0, 'no run statistics without program_stats');

  // A value changed in the map shows in the next scrape; a key removed disappears.
  requests.update(u32(2, 200), u64(70));
  requests.delete(u32(1, 500));
  const next = parsePrometheusTextFormat((await exporter.scrape()).body).find((f) => f.name === 'ebpf_exporter_requests_total')!.metrics;
  assert.deepEqual(next.map((m) => `${m.labels!.id}/${m.labels!.status}=${m.value}`).sort(), ['1/ok=6', '2/ok=70']);
});
