/**
 * Differential test against Debian's tcpdump/libpcap: over a capture of
 * varied traffic, every expression selects exactly the packets
 * `tcpdump -r FILE -w - EXPR` selects, compiled by tsbpf (optimised and
 * not) and run on the classic interpreter and on the eBPF conversion
 * (VM interpreter and JIT); tcpdump's own `-dd` program run by tsbpf's
 * classic interpreter selects them too. Listings are compared with
 * tcpdump's and the share of identical ones is reported.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { CbpfProgram, compileFilter, filterCapture, FilterSyntaxError, formatCbpf, PacketFilter, parseCbpf, type CbpfInstruction } from '../../src/cbpf/index.ts';
import { encodeCapture, readCaptureAll } from '../../src/net/index.ts';
import { skipWithoutCommand } from '../support/env.ts';
import { generateExpressions, HANDWRITTEN } from './expressions.ts';
import { buildTraffic } from './traffic.ts';

const run = promisify(execFile);
const skip = skipWithoutCommand('tcpdump', 'apt-get install tcpdump');

interface Reference {
  expression: string;
  error?: string;
  selected?: Set<bigint>;
  program?: CbpfInstruction[];
  unoptimised?: CbpfInstruction[];
}

async function tcpdump(file: string, expression: string): Promise<Reference> {
  try {
    // '--': an expression may start with '-' ("-ip[8] > 100").
    const [{ stdout }, listing, unoptimised] = await Promise.all([
      run('tcpdump', ['-r', file, '-w', '-', '--', expression], { encoding: 'buffer', maxBuffer: 64 << 20 }),
      run('tcpdump', ['-r', file, '-dd', '--', expression], { encoding: 'utf8' }),
      run('tcpdump', ['-r', file, '-O', '-dd', '--', expression], { encoding: 'utf8' }),
    ]);
    const packets = await readCaptureAll(new Uint8Array(stdout));
    return { expression, selected: new Set(packets.map((p) => p.timestamp)), program: parseCbpf(listing.stdout), unoptimised: parseCbpf(unoptimised.stdout) };
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? error);
    return { expression, error: stderr.split('\n').filter((l) => l.startsWith('tcpdump: ')).join(' ').replace(/^tcpdump: /, '') };
  }
}

/** Runs `work` over `items` with at most `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  }));
  return results;
}

const sameInstructions = (a: readonly CbpfInstruction[], b: readonly CbpfInstruction[]): boolean =>
  a.length === b.length && a.every((x, i) => x.code === b[i]!.code && x.jt === b[i]!.jt && x.jf === b[i]!.jf && x.k >>> 0 === b[i]!.k >>> 0);

test('tsbpf and tcpdump select the same packets for several hundred expressions', { skip, timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-cbpf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const traffic = buildTraffic({ seed: 7, count: 600 });
  const file = join(dir, 'traffic.pcap');
  writeFileSync(file, encodeCapture(traffic, { nanosecond: false }));
  const expressions = [...HANDWRITTEN, ...generateExpressions(260, 42)];
  const references = await pool(expressions, 4, (e) => tcpdump(file, e));

  let compared = 0;
  let identical = 0;
  let errors = 0;
  let sameMessage = 0;
  const messageDifferences: string[] = [];
  const mismatches: string[] = [];
  for (const [n, ref] of references.entries()) {
    const e = ref.expression;
    if (ref.error !== undefined) {
      errors++;
      assert.throws(() => compileFilter(e), (err: unknown) => {
        assert.ok(err instanceof FilterSyntaxError, `'${e}': ${String(err)}`);
        // libpcap says "can't parse filter expression: syntax error" where we say "syntax error".
        if (ref.error!.includes(err.problem)) sameMessage++;
        else messageDifferences.push(`'${e}': tcpdump says '${ref.error}', tsbpf '${err.problem}'`);
        return true;
      }, `tcpdump rejects '${e}' (${ref.error}), tsbpf must too`);
      continue;
    }
    compared++;
    const expected = ref.selected!;
    const ours = compileFilter(e);
    if (sameInstructions(ours, ref.program!)) identical++;
    // Code generation: without the optimiser, the program is libpcap's instruction for instruction.
    const unoptimised = compileFilter(e, { optimize: false });
    if (!sameInstructions(unoptimised, ref.unoptimised!)) mismatches.push(`'${e}': the unoptimised program differs from tcpdump -O's\n${formatCbpf(unoptimised)}`);
    const engines: PacketFilter[] = [new PacketFilter(ours)];
    if (n % 3 === 0) engines.push(new PacketFilter(ours, 'interpreter'));
    if (n % 9 === 0) engines.push(new PacketFilter(ours, 'jit'));
    const theirs = new CbpfProgram(ref.program!);
    const selectedBy = (accepts: (p: (typeof traffic)[number]) => boolean): Set<bigint> => new Set(traffic.filter(accepts).map((p) => p.timestamp!));
    const results: Array<[string, Set<bigint>]> = [
      ['tcpdump -dd on the tsbpf cBPF VM', selectedBy((p) => theirs.run(p.data, p.originalLength ?? p.data.length) !== 0)],
      ...engines.map((f): [string, Set<bigint>] => [`tsbpf ${f.engine}`, selectedBy((p) => f.matches(p.data, p.originalLength ?? p.data.length))]),
    ];
    for (const f of engines) f.close();
    if (n % 3 === 1) {
      // The capture path users call: the VM's batch path over the file, as tcpdump reads it.
      const streamed = new Set<bigint>();
      for await (const packet of filterCapture(file, e)) streamed.add(packet.timestamp);
      results.push(['filterCapture (VM batch path, JIT)', streamed]);
    }
    for (const [what, got] of results) {
      if (got.size !== expected.size || [...got].some((ts) => !expected.has(ts))) {
        mismatches.push(`'${e}': ${what} selects ${got.size} packets, tcpdump ${expected.size}\n${formatCbpf(ours)}`);
      }
    }
  }
  t.diagnostic(`${expressions.length} expressions (${HANDWRITTEN.length} written, ${expressions.length - HANDWRITTEN.length} generated): ${compared} compared on ${traffic.length} packets, ${errors} refused by both`);
  t.diagnostic(`optimised programs identical to tcpdump's instruction for instruction: ${identical}/${compared} (${((100 * identical) / compared).toFixed(1)}%)`);
  t.diagnostic(`refusals worded as libpcap words them: ${sameMessage}/${errors}${messageDifferences.map((m) => `; ${m}`).join('')}`);
  assert.deepEqual(mismatches, []);
  assert.ok(compared >= 350, `only ${compared} expressions compiled on both sides`);
});

test('tsbpf filter -d prints the listing tcpdump -d prints', { skip }, async () => {
  const expressions = ['tcp port 80', 'ip[2:2] > 576', 'less 100', 'ether host 02:00:00:00:00:01', 'tcp[tcpflags] & (tcp-syn|tcp-ack) != 0', 'vlan 10 and ip6', 'icmp[icmptype] = icmp-echo', 'len - 14 > 50'];
  for (const e of expressions) {
    const { stdout } = await run('tcpdump', ['-d', e], { encoding: 'utf8' });
    assert.equal(formatCbpf(compileFilter(e)), stdout, e);
    const dd = await run('tcpdump', ['-dd', e], { encoding: 'utf8' });
    assert.equal(formatCbpf(compileFilter(e), 'dd'), dd.stdout, e);
    const ddd = await run('tcpdump', ['-ddd', e], { encoding: 'utf8' });
    assert.equal(formatCbpf(compileFilter(e), 'ddd'), ddd.stdout, e);
    const unoptimised = await run('tcpdump', ['-O', '-d', e], { encoding: 'utf8' });
    assert.equal(formatCbpf(compileFilter(e, { optimize: false })), unoptimised.stdout, `${e} (-O)`);
  }
});
