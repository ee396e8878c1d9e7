// Exporter benchmark: one /metrics scrape of a kernel hash map holding 10,000
// label sets (two labels: a uint id and a static_map-decoded status code),
// measured through what users call: HTTP GET /metrics, made by curl in a
// separate process, so this process's CPU time is the exporter's own.
// References in the same run, over the same map:
//   - bpftool map dump -j (the kernel's own tool reading and printing the map),
//   - the parts alone: the raw batch read of the map (bpf() from JS), and
//     prom-client formatting the same 10,000 series from a plain Counter.
// Needs root. `node --import tsx bench/exporter.ts`
import { spawn, spawnSync } from 'node:child_process';
import { Counter, Registry } from 'prom-client';
import { Exporter, MapsProgramSource, parseExporterConfig } from '../src/export/index.ts';
import { KernelMap, mapInfo } from '../src/kernel/index.ts';
import { MapType } from '../src/uapi/index.ts';

const LABEL_SETS = 10_000;
const SCRAPES = 40;

if (process.geteuid?.() !== 0) {
  console.log('skipped: needs root (a kernel map)');
  process.exit(0);
}

const map = KernelMap.create({ type: MapType.HASH, name: 'requests_total', keySize: 8, valueSize: 8, maxEntries: LABEL_SETS });
const codes = [200, 301, 404, 500];
const keys: Uint8Array[] = [];
const values: Uint8Array[] = [];
for (let i = 0; i < LABEL_SETS; i++) {
  const key = new Uint8Array(8);
  new DataView(key.buffer).setUint32(0, Math.floor(i / codes.length), true);
  new DataView(key.buffer).setUint32(4, codes[i % codes.length]!, true);
  const value = new Uint8Array(8);
  new DataView(value.buffer).setBigUint64(0, BigInt(1 + ((i * 7919) % 100000)), true);
  keys.push(key);
  values.push(value);
}
map.updateBatch(keys, values);

const config = parseExporterConfig(
  `program_stats: false
programs:
  - name: bench
    metrics:
      counters:
        - name: requests_total
          help: Requests by id and status
          labels:
            - { name: id, size: 4, decoders: [{ name: uint }] }
            - { name: status, size: 4, decoders: [{ name: uint }, { name: static_map, static_map: { 200: ok, 301: moved, 404: not_found, 500: error } }] }
`,
  '/bench/exporter.yaml',
);
const source = new MapsProgramSource('bench', { requests_total: map });
const exporter = await Exporter.start(config, { sources: { bench: source } });
const { port } = await exporter.listen(0, '127.0.0.1');
const url = `http://127.0.0.1:${port}/metrics`;

const stats = (samples: number[]): { p50: number; p99: number; mean: number } => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length / 2)]!, p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!, mean: samples.reduce((s, x) => s + x, 0) / samples.length };
};
const ms = (x: number): string => `${x.toFixed(2).padStart(8)} ms`;

// curl runs asynchronously so this process serves while it is measured.
async function curlScrapes(count: number, accept: string): Promise<{ latencies: number[]; cpuMs: number; bytes: number }> {
  const before = process.cpuUsage();
  const output = await new Promise<string>((resolve, reject) => {
    // One curl process, one connection reused; -o applies to one URL, so each gets its own.
    const urls = Array.from({ length: count }, () => ['-o', '/dev/null', url]).flat();
    const child = spawn('curl', ['-s', '-H', `Accept: ${accept}`, '-w', '%{time_total} %{size_download}\\n', ...urls]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`curl exited ${code}`))));
  });
  const cpu = process.cpuUsage(before);
  const lines = output.trim().split('\n').map((l) => l.split(' ').map(Number));
  return { latencies: lines.map(([t]) => t! * 1000), cpuMs: (cpu.user + cpu.system) / 1000 / count, bytes: lines[0]![1]! };
}

await curlScrapes(5, 'text/plain'); // warm-up: decode cache filled, JIT warm
const text = await curlScrapes(SCRAPES, 'text/plain');
const open = await curlScrapes(SCRAPES, 'application/openmetrics-text; version=1.0.0');
const body = await (await fetch(url)).text();
const series = body.split('\n').filter((l) => l.startsWith('ebpf_exporter_requests_total{')).length;
if (series !== LABEL_SETS) throw new Error(`expected ${LABEL_SETS} series, got ${series}`);

// Reference: bpftool map dump of the same map.
const id = mapInfo(map.fd).id;
const bpftool: number[] = [];
for (let i = 0; i < 10; i++) {
  const t0 = process.hrtime.bigint();
  const result = spawnSync('bpftool', ['map', 'dump', 'id', String(id), '-j'], { maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`bpftool failed: ${result.stderr}`);
  bpftool.push(Number(process.hrtime.bigint() - t0) / 1e6);
}

// Reference parts: the raw batch read, and prom-client formatting the same series from a Counter.
const cpuOf = (runs: number, body: () => unknown): number => {
  body();
  const before = process.cpuUsage();
  for (let i = 0; i < runs; i++) body();
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / 1000 / runs;
};
const readMs = cpuOf(SCRAPES, () => map.lookupBatch({ batchSize: 4096 }));
const registry = new Registry();
const counter = new Counter({ name: 'requests_total', help: 'Requests by id and status', labelNames: ['id', 'status'], registers: [registry] });
const names: Record<number, string> = { 200: 'ok', 301: 'moved', 404: 'not_found', 500: 'error' };
keys.forEach((key, i) => counter.inc({ id: String(new DataView(key.buffer).getUint32(0, true)), status: names[new DataView(key.buffer).getUint32(4, true)]! }, Number(new DataView(values[i]!.buffer).getBigUint64(0, true))));
let formatMs = 0;
{
  await registry.metrics();
  const before = process.cpuUsage();
  for (let i = 0; i < SCRAPES; i++) await registry.metrics();
  const cpu = process.cpuUsage(before);
  formatMs = (cpu.user + cpu.system) / 1000 / SCRAPES;
}

const t = stats(text.latencies);
const o = stats(open.latencies);
const b = stats(bpftool);
console.log(`${LABEL_SETS} label sets, ${SCRAPES} scrapes each, body ${(text.bytes / 1024).toFixed(0)} KiB (text format)`);
console.log(`tsbpf exporter GET /metrics, text format       latency p50 ${ms(t.p50)}  p99 ${ms(t.p99)}   exporter CPU/scrape ${ms(text.cpuMs)}`);
console.log(`tsbpf exporter GET /metrics, OpenMetrics       latency p50 ${ms(o.p50)}  p99 ${ms(o.p99)}   exporter CPU/scrape ${ms(open.cpuMs)}`);
console.log(`reference: bpftool map dump -j (same map)      wall    p50 ${ms(b.p50)}  p99 ${ms(b.p99)}`);
console.log(`reference parts: batch read ${ms(readMs)} + prom-client Counter formatting ${ms(formatMs)} = ${ms(readMs + formatMs)} CPU`);
console.log(`ratios: scrape latency / bpftool dump ${(t.p50 / b.p50).toFixed(2)}x;  scrape CPU / (read + prom-client format) ${(text.cpuMs / (readMs + formatMs)).toFixed(2)}x`);

await exporter.close();
map.close();
