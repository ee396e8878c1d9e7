// tcpdump filters in tsbpf against libpcap, in one run:
// - compile speed: expressions compiled (parse, code generation, libpcap's
//   optimiser, checker) per second by compileFilter;
// - filtering speed over one capture of varied traffic (test/cbpf/traffic.ts,
//   repeated to 200k packets): packets per second through filterCapture
//   (read the file, compile, filter: what a library user calls) on the three
//   engines (classic interpreter; the kernel's eBPF conversion on the VM
//   interpreter; the same through the WebAssembly JIT), the bare
//   PacketFilter.matches loop over packets already in memory, and
//   `tsbpf run --filter --jit` (the CLI, built by tsc as installed) against
//   `tcpdump -r FILE EXPR -w /dev/null` (libpcap reading and filtering the
//   same file, process start included: its time for an empty capture is
//   printed too).
//
//   node --import tsx bench/cbpf.ts
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFilter, filterCapture, PacketFilter, type FilterEngine } from '../src/cbpf/index.ts';
import { encodeCapture, readCaptureAll } from '../src/net/index.ts';
import { generateExpressions, HANDWRITTEN } from '../test/cbpf/expressions.ts';
import { buildTraffic } from '../test/cbpf/traffic.ts';
import { buildPackage, type BuiltPackage } from './support/built.ts';

const PACKETS = 200_000;
const EXPRESSIONS = ['tcp port 80', 'host 10.0.0.1 or net 192.168.0.0/16', 'tcp[tcpflags] & (tcp-syn|tcp-ack) != 0 and not port 22', 'vlan and ip6', '(tcp or udp) and portrange 1000-2000 and ip[8] < 128'];

const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;

function compileSpeed(): void {
  const corpus = [...HANDWRITTEN, ...generateExpressions(200, 42)].filter((e) => {
    try {
      compileFilter(e);
      return true;
    } catch {
      return false;
    }
  });
  for (const optimize of [true, false]) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    while (seconds(t0) < 2) {
      for (const e of corpus) compileFilter(e, { optimize });
      n += corpus.length;
    }
    console.log(`compileFilter${optimize ? '' : ' (no optimiser)'}: ${Math.round(n / seconds(t0))} filters/s over ${corpus.length} expressions (mean ${(corpus.reduce((s, e) => s + compileFilter(e, { optimize }).length, 0) / corpus.length).toFixed(1)} instructions)`);
  }
  const t0 = process.hrtime.bigint();
  for (const e of corpus.slice(0, 40)) execFileSync('tcpdump', ['-d', '--', e], { stdio: ['ignore', 'ignore', 'ignore'] });
  console.log(`reference: tcpdump -d, one process per expression: ${Math.round(40 / seconds(t0))} filters/s (process start included)\n`);
}

async function filterSpeed(built: BuiltPackage): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-bench-cbpf-'));
  try {
    const base = buildTraffic({ seed: 1, count: 2000 });
    const packets = Array.from({ length: PACKETS }, (_, i) => ({ ...base[i % base.length]!, timestamp: BigInt(i) * 1000n }));
    const file = join(dir, 'traffic.pcap');
    const empty = join(dir, 'empty.pcap');
    writeFileSync(file, encodeCapture(packets, { nanosecond: false }));
    writeFileSync(empty, encodeCapture([], { nanosecond: false }));
    const inMemory = (await readCaptureAll(file)).map((p) => ({ data: p.data, wire: p.originalLength }));
    const tcpdumpStart = (() => {
      const t0 = process.hrtime.bigint();
      execFileSync('tcpdump', ['-r', empty, '-w', '/dev/null', 'tcp'], { stdio: 'ignore' });
      return seconds(t0);
    })();
    console.log(`${PACKETS} packets; tcpdump on an empty capture takes ${(tcpdumpStart * 1e3).toFixed(0)} ms (process start)`);
    for (const expression of EXPRESSIONS) {
      let t0 = process.hrtime.bigint();
      execFileSync('tcpdump', ['-r', file, '-w', '/dev/null', '--', expression], { stdio: 'ignore' });
      const reference = PACKETS / seconds(t0);
      const rows: Array<[string, number, number]> = [];
      for (const engine of ['cbpf', 'interpreter', 'jit'] as FilterEngine[]) {
        t0 = process.hrtime.bigint();
        let accepted = 0;
        for await (const packet of filterCapture(file, expression, { engine })) accepted += packet.data.length > 0 ? 1 : 0;
        rows.push([`filterCapture, ${engine}`, PACKETS / seconds(t0), accepted]);
      }
      for (const engine of ['cbpf', 'interpreter', 'jit'] as FilterEngine[]) {
        const filter = PacketFilter.compile(expression, { engine });
        let accepted = 0;
        for (const p of inMemory.slice(0, 5000)) accepted += filter.matches(p.data, p.wire) ? 1 : 0;
        t0 = process.hrtime.bigint();
        accepted = 0;
        for (const p of inMemory) accepted += filter.matches(p.data, p.wire) ? 1 : 0;
        rows.push([`PacketFilter.matches, ${engine}`, PACKETS / seconds(t0), accepted]);
        filter.close();
      }
      t0 = process.hrtime.bigint();
      const cli = execFileSync(process.execPath, built.cli(['run', '--filter', expression, '--pcap', file, '--jit']), { encoding: 'utf8' });
      rows.push(['tsbpf run --filter --jit (CLI)', PACKETS / seconds(t0), Number(/(\d+) passed/.exec(cli)?.[1] ?? -1)]);
      console.log(`'${expression}': tcpdump -r FILE EXPR -w /dev/null ${Math.round(reference)} packets/s`);
      for (const [what, rate, accepted] of rows) console.log(`  ${what.padEnd(34)} ${String(Math.round(rate)).padStart(9)} packets/s  ${(rate / reference).toFixed(2)}x tcpdump  (${accepted} accepted)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

compileSpeed();
const built = buildPackage();
try {
  await filterSpeed(built);
} finally {
  built.remove();
}
