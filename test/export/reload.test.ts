import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Exporter, MapsProgramSource, MetricsServer, parseExporterConfig } from '../../src/export/index.ts';
import { HashMap } from '../../src/maps/index.ts';
import { MapType } from '../../src/uapi/index.ts';
import { VmMemory } from '../../src/vm/index.ts';

// No root needed: VM maps stand in for the kernel's.

const u32 = (value: number): Uint8Array => new Uint8Array(new Uint32Array([value, 0]).buffer);
const u64 = (value: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(value)]).buffer);

const CONFIG = `program_stats: false
programs:
  - name: app
    metrics:
      counters:
        - name: requests_total
          help: Requests
          labels:
            - { name: code, size: 8, decoders: [{ name: uint }] }
`;

/** An exporter over one VM map holding `code` → `count`; `closed` counts its source's closes. */
async function exporterWith(memory: VmMemory, code: number, count: number, state: { closed: number }): Promise<Exporter> {
  const map = new HashMap(memory, { type: MapType.HASH, name: 'requests_total', keySize: 8, valueSize: 8, maxEntries: 16 });
  map.update(u32(code), u64(count));
  const source = new MapsProgramSource('app', { requests_total: map }, [], () => void state.closed++);
  return Exporter.start(parseExporterConfig(CONFIG, '/app.yaml'), { sources: { app: source } });
}

test('a reload swaps exporters behind one port: every scrape during it answers from the old or the new config, never an error', async (t) => {
  const memory = new VmMemory(1 << 20);
  const state = { closed: 0 };
  const server = new MetricsServer(await exporterWith(memory, 200, 5, state));
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}/metrics`;

  let scraping = true;
  const answers: string[] = [];
  const scrapes = (async () => {
    while (scraping) {
      const response = await fetch(url);
      assert.equal(response.status, 200);
      const text = await response.text();
      const line = /^ebpf_exporter_requests_total\{code="(\d+)"\} (\d+)$/m.exec(text);
      assert.ok(line, `a scrape without the counter:\n${text}`);
      answers.push(`${line[1]}=${line[2]}`);
    }
  })();
  while (answers.length < 5) await new Promise((resolve) => setTimeout(resolve, 1));
  const next = await exporterWith(memory, 500, 9, state);
  await server.swap(next);
  assert.equal(state.closed, 1, 'the previous exporter is closed once swapped out');
  const swappedAt = answers.length;
  while (answers.length < swappedAt + 5) await new Promise((resolve) => setTimeout(resolve, 1));
  scraping = false;
  await scrapes;
  assert.ok(answers.slice(0, 5).every((a) => a === '200=5'));
  assert.ok(answers.slice(swappedAt).every((a) => a === '500=9'), 'after the swap, only the new config answers');
  assert.equal(server.exporter, next);
});
