// The VM as users call it, beside the kernel and tcpdump in the same run.
// Sections 1-3 load each program as loadVmCollection does by default
// (verified: an accepted program runs the JIT without per-access checks),
// and section 2 also with `verify: false` (every access checked).
//
// 1. Per-run overhead: an empty XDP program (r0 = XDP_PASS; exit) through
//    `program.run({ data, repeat })` on the interpreter, the JIT and the
//    kernel (BPF_PROG_TEST_RUN); the reported durationNs is the mean over
//    the repetitions, so this is what one more iteration of each engine's
//    loop costs.
// 2. Repeated runs of the bench programs (bench/support/programs.ts, shared
//    with bench/jit.ts) through `program.run({ data, repeat })`, the VM's
//    time over the kernel's.
// 3. One `program.run({ data })` call: wall time per call for one packet
//    (the VM's set-up and result copy; the kernel's system call), for an
//    empty program, a filter and a program using a map, beside the time of
//    one iteration of a repeated run of the same program.
// 4. A 200,000-packet capture through `program.runCapture` (the path of
//    `tsbpf run --pcap` on the VM), packets/s beside
//    `tcpdump -r FILE -w OUT 'udp port 9'` filtering the same file; both
//    must find the same packets; and `filterCapture(FILE, 'udp port 9')`.
// 5. The same capture cold, each run in a fresh process with the package
//    built by tsc (as installed), interleaved with tcpdump's whole command
//    (`tcpdump -r FILE -w /dev/null 'udp port 9'`): `tsbpf run
//    examples/xdp-drop-udp.s --pcap FILE --jit` as a whole command (Node's
//    start and module loading included; `node -e 0` beside it), the time
//    that command reports (from opening the capture to its end), a
//    script's first `program.runCapture` (from assembling and loading the
//    program to the last batch, the consumer's loop over the return values
//    included; again counting drops from `batch.verdicts`) and its first `filterCapture(FILE, 'udp port 9')` (src/cbpf,
//    the same path; from compiling the filter to the last packet). Times
//    in ms, rates in packets/s, ratios tcpdump's time over the row's.
//
//   node --import tsx bench/vm-run.ts [capture]   (as root for the kernel column; `capture`: sections 4 and 5 only)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Instruction, LdImm64Src, assemble } from '../src/isa/index.ts';
import { PcapWriter, buildPacket, ethernet, ipv4, payload, readCaptureAll, tcp, udp } from '../src/net/index.ts';
import { MapType, ProgramType } from '../src/uapi/enums.ts';
import { XdpAction } from '../src/uapi/program-types.ts';
import { filterCapture } from '../src/cbpf/index.ts';
import type { BpfProgram } from '../src/backend/index.ts';
import { type CollectionSpec, collectionFromInstructions } from '../src/object/index.ts';
import { type VmProgram, loadVmCollection } from '../src/vm/index.ts';
import { type Case, calibrate, cases, mapRelocations, u32, u64, withMaps } from './support/programs.ts';
import { buildPackage } from './support/built.ts';

const EMPTY = assemble('r0 = 2\nexit');
const DROP_UDP_9 = assemble(`
    r2 = *(u32 *)(r1 + 4)
    r1 = *(u32 *)(r1 + 0)
    r3 = r1
    r3 += 42
    if r3 > r2 goto pass
    r4 = *(u16 *)(r1 + 12)
    if r4 != 0x8 goto pass
    r4 = *(u8 *)(r1 + 14)
    r4 &= 0xf
    if r4 != 5 goto pass
    r4 = *(u8 *)(r1 + 23)
    if r4 != 17 goto pass
    r4 = *(u16 *)(r1 + 36)
    if r4 != 0x900 goto pass
    r0 = 1
    exit
pass:
    r0 = 2
    exit
`);
/** One array lookup and an increment: the per-run cost of a program that uses a map (map 0 is `hits`). */
const MAP_COUNTER: Case = {
  name: 'map counter',
  packet: new Uint8Array(64),
  maps: [{ name: 'hits', type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, fill: [] }],
  source: `
    *(u32 *)(r10 - 4) = 0
    r1 = 0 ll
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto done
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
done:
    r0 = 2
    exit
`,
};
const PACKET_64 = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ sport: 12345, dport: 80 }), payload(new Uint8Array(22)));

/** ns per run of `program` on `data`, from the durations it reports for repeated runs (fastest of the samples). */
function repeatedNs(program: BpfProgram, data: Uint8Array): { ns: number; retval: number } {
  let retval = 0;
  const ns = calibrate((repeat) => {
    const result = program.run({ data, repeat });
    retval = result.retval;
    return result.durationNs;
  }, 4, 20);
  return { ns, retval };
}

/** Wall ns per `program.run({ data })` call (fastest of the samples). */
function singleCallNs(program: BpfProgram, data: Uint8Array): number {
  return calibrate((repeat) => {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < repeat; k++) program.run({ data });
    return Number(process.hrtime.bigint() - t0) / repeat;
  }, 4, 10);
}

interface KernelSide {
  load(instructions: Instruction[], c?: Case): { program: BpfProgram; close(): void };
}

async function kernelSide(): Promise<KernelSide | string> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'not root on Linux';
  try {
    const { KernelProgram } = await import('../src/kernel/program.ts');
    const { KernelMap } = await import('../src/kernel/map.ts');
    return {
      load(instructions, c) {
        const maps = (c?.maps ?? []).map((m) => {
          const map = KernelMap.create({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, name: m.name });
          for (const [k, v] of m.fill) map.update(u32(k), u64(v));
          return map;
        });
        try {
          const program = KernelProgram.load({ type: ProgramType.XDP, instructions: withMaps(instructions, c?.maps, (k) => [LdImm64Src.MAP_FD, maps[k]!.fd]), name: 'bench' });
          return {
            program,
            close: () => {
              program.close();
              for (const m of maps) m.close();
            },
          };
        } catch (error) {
          for (const m of maps) m.close();
          throw error;
        }
      },
    };
  } catch (error) {
    return `kernel backend unavailable: ${(error as Error).message}`;
  }
}

/** How a row loads its program: as loadVmCollection does by default (verified; an accepted program runs the JIT without per-access checks), or with `verify: false` (every access checked at run time). */
type Engine = { name: string; jit: boolean; verify: boolean };
const INTERPRETER: Engine = { name: 'VM interpreter', jit: false, verify: true };
const JIT: Engine = { name: 'VM JIT', jit: true, verify: true };
const JIT_UNVERIFIED: Engine = { name: 'VM JIT, verify: false', jit: true, verify: false };

/** The program as users load it: a one-program CollectionSpec (the case's maps, with their entries, referenced by relocations) through loadVmCollection. */
function loadedProgram(instructions: Instruction[], engine: Engine, c?: Case): { program: VmProgram; close(): void } {
  const spec: CollectionSpec = collectionFromInstructions({ name: 'bench', section: 'xdp', instructions: withMaps(instructions, c?.maps, () => [LdImm64Src.MAP_FD, 0]) });
  spec.programs.bench!.relocations.push(...mapRelocations(instructions, c?.maps));
  for (const m of c?.maps ?? []) {
    const contents = m.fill.map(([k, v]) => ({ key: u32(k), value: u64(v) }));
    spec.maps[m.name] = { name: m.name, type: m.type as MapType, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: 0, pinning: 'none', contents, readOnly: false, frozen: false, section: '.maps' };
  }
  const collection = loadVmCollection(spec, { jit: engine.jit, verify: engine.verify });
  return { program: collection.programs.bench!, close: () => collection.close() };
}

const fmt = (ns: number): string => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
const geomean = (xs: number[]): number => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  for (const r of rows) console.log(r.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  '));
}

// `node bench/vm-run.ts capture` runs sections 4 and 5 only.
const captureOnly = process.argv[2] === 'capture';
const kernel = await kernelSide();
if (typeof kernel === 'string') console.log(`kernel column skipped: ${kernel}`);

// 1. Per-run overhead.
if (!captureOnly) {
  console.log('\nper-run overhead: empty XDP program, program.run({ data: 64 bytes, repeat }), durationNs');
  const rows = [['engine', 'ns per run']];
  for (const engine of [INTERPRETER, JIT, JIT_UNVERIFIED]) {
    const loaded = loadedProgram(EMPTY, engine);
    try {
      const { ns, retval } = repeatedNs(loaded.program, PACKET_64);
      assert.equal(retval, XdpAction.PASS);
      rows.push([engine.name, fmt(ns)]);
    } finally {
      loaded.close();
    }
  }
  if (typeof kernel !== 'string') {
    const loaded = kernel.load(EMPTY);
    try {
      rows.push(['kernel BPF_PROG_TEST_RUN', fmt(repeatedNs(loaded.program, PACKET_64).ns)]);
    } finally {
      loaded.close();
    }
  }
  table(rows);
}

// 2. Repeated runs of the bench programs.
if (!captureOnly) {
  console.log('\nbench programs, program.run({ data, repeat }): ns per run');
  const rows = [['program', 'kernel', 'VM interpreter', 'VM JIT', 'JIT/kernel', 'JIT, verify: false', 'its /kernel', 'JIT/interpreter']];
  const ratios: number[] = [];
  const uncheckedRatios: number[] = [];
  for (const c of cases) {
    const instructions = assemble(c.source, { syntax: 'ubpf' });
    const [interp, jit, unverified] = [INTERPRETER, JIT, JIT_UNVERIFIED].map((engine) => {
      const loaded = loadedProgram(instructions, engine, c);
      try {
        return repeatedNs(loaded.program, c.packet);
      } finally {
        loaded.close();
      }
    }) as [{ ns: number; retval: number }, { ns: number; retval: number }, { ns: number; retval: number }];
    assert.equal(jit.retval, interp.retval, `${c.name}: JIT and interpreter disagree`);
    assert.equal(unverified.retval, interp.retval, `${c.name}: the unverified JIT and the interpreter disagree`);
    let kernelCell = '-';
    let ratio = '-';
    let uncheckedRatio = '-';
    if (typeof kernel !== 'string') {
      const loaded = kernel.load(instructions, c);
      try {
        const k = repeatedNs(loaded.program, c.packet);
        assert.equal(k.retval, jit.retval, `${c.name}: kernel returned ${k.retval}, the VM ${jit.retval}`);
        kernelCell = fmt(k.ns);
        ratios.push(jit.ns / k.ns);
        uncheckedRatios.push(unverified.ns / k.ns);
        ratio = `${(jit.ns / k.ns).toFixed(2)}x`;
        uncheckedRatio = `${(unverified.ns / k.ns).toFixed(2)}x`;
      } finally {
        loaded.close();
      }
    }
    rows.push([c.name, kernelCell, fmt(interp.ns), fmt(jit.ns), ratio, fmt(unverified.ns), uncheckedRatio, `${(jit.ns / interp.ns).toFixed(2)}x`]);
  }
  if (ratios.length > 0) rows.push(['geometric mean', '', '', '', `${geomean(ratios).toFixed(2)}x`, '', `${geomean(uncheckedRatios).toFixed(2)}x`, '']);
  table(rows);
}

// 3. One run() call, beside one iteration of a repeated run of the same program.
if (!captureOnly) {
  console.log('\none program.run({ data: 64 bytes }) call (wall time), beside one iteration inside program.run({ data, repeat })');
  const rows = [['program', 'engine', 'single run()', 'in repeat', 'single/repeat']];
  const programs: Array<[string, Instruction[], Case | undefined]> = [
    ['empty (r0 = XDP_PASS)', EMPTY, undefined],
    ['UDP/9 filter', DROP_UDP_9, undefined],
    ['map counter (1 array lookup)', assemble(MAP_COUNTER.source), MAP_COUNTER],
  ];
  for (const [name, instructions, c] of programs) {
    for (const engine of [INTERPRETER, JIT]) {
      const loaded = loadedProgram(instructions, engine, c);
      try {
        const single = singleCallNs(loaded.program, PACKET_64);
        const repeated = repeatedNs(loaded.program, PACKET_64).ns;
        rows.push([name, engine.name, fmt(single), fmt(repeated), `${(single / repeated).toFixed(1)}x`]);
      } finally {
        loaded.close();
      }
    }
    if (typeof kernel !== 'string') {
      const loaded = kernel.load(instructions, c);
      try {
        const single = singleCallNs(loaded.program, PACKET_64);
        const repeated = repeatedNs(loaded.program, PACKET_64).ns;
        rows.push([name, 'kernel (one system call)', fmt(single), fmt(repeated), `${(single / repeated).toFixed(1)}x`]);
      } finally {
        loaded.close();
      }
    }
  }
  table(rows);
}

// 4. A capture, beside tcpdump.
{
  const COUNT = 200_000;
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-vm-run-'));
  try {
    const file = join(dir, 'traffic.pcap');
    const writer = new PcapWriter(file, { nanosecond: false });
    for (let i = 0; i < COUNT; i++) {
      const body = payload(new Uint8Array(i % 97).fill(i & 0xff));
      const l4 = i % 4 === 0 ? udp({ sport: 40000 + (i % 1000), dport: 9 }) : i % 4 === 1 ? tcp({ sport: 40000, dport: 80, flags: 0x18 }) : udp({ sport: 40000, dport: 53 });
      writer.write({ data: buildPacket(ethernet(), ipv4({ src: `10.0.${(i >> 8) & 0xff}.${i & 0xff}`, dst: '10.1.0.1' }), l4, body), timestamp: 1_700_000_000_000_000_000n + BigInt(i) * 1000n });
    }
    writer.close();
    console.log(`\n${COUNT}-packet capture (a quarter UDP to port 9): packets/s, best of 3 (first run in brackets)`);
    const rows = [['filter', 'packets/s', 'vs tcpdump']];
    const matched = join(dir, 'matched.pcap');
    let tcpdumpRate = 0;
    const tcpdump = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' });
    if (tcpdump.error !== undefined) rows.push(["tcpdump -r FILE -w OUT 'udp port 9'", '(tcpdump not installed)', '']);
    else {
      let best = Infinity;
      for (let k = 0; k < 3; k++) {
        const t0 = process.hrtime.bigint();
        const run = spawnSync('tcpdump', ['-r', file, '-w', matched, 'udp port 9'], { encoding: 'utf8' });
        assert.equal(run.status, 0, run.stderr);
        best = Math.min(best, Number(process.hrtime.bigint() - t0));
      }
      tcpdumpRate = COUNT / (best / 1e9);
      rows.push(["tcpdump -r FILE -w OUT 'udp port 9' (process included)", tcpdumpRate.toFixed(0), '1.00x']);
    }
    const expectedDrops = tcpdump.error === undefined ? (await readCaptureAll(matched)).length : COUNT / 4;
    for (const engine of [INTERPRETER, JIT]) {
      const { program, close } = loadedProgram(DROP_UDP_9, engine);
      const rates: number[] = [];
      for (let k = 0; k < 3; k++) {
        let packets = 0;
        let drops = 0;
        const t0 = process.hrtime.bigint();
        for await (const batch of program.runCapture(file)) {
          packets += batch.packets.count;
          for (let n = 0; n < batch.packets.count; n++) if (batch.retvals[n] === XdpAction.DROP) drops++;
        }
        rates.push(packets / (Number(process.hrtime.bigint() - t0) / 1e9));
        assert.equal(packets, COUNT);
        assert.equal(drops, expectedDrops, 'the VM and tcpdump find the same packets');
      }
      close();
      const best = Math.max(...rates);
      rows.push([`${engine.name}, program.runCapture`, `${best.toFixed(0)} (${rates[0]!.toFixed(0)})`, tcpdumpRate > 0 ? `${(best / tcpdumpRate).toFixed(2)}x` : '-']);
    }
    const filterRates: number[] = [];
    for (let k = 0; k < 3; k++) {
      let matched = 0;
      const t0 = process.hrtime.bigint();
      for await (const packet of filterCapture(file, 'udp port 9')) matched += packet.data.length > 0 ? 1 : 0;
      filterRates.push(COUNT / (Number(process.hrtime.bigint() - t0) / 1e9));
      assert.equal(matched, expectedDrops, 'filterCapture and tcpdump find the same packets');
    }
    const bestFilter = Math.max(...filterRates);
    rows.push(["filterCapture(FILE, 'udp port 9') (JIT)", `${bestFilter.toFixed(0)} (${filterRates[0]!.toFixed(0)})`, tcpdumpRate > 0 ? `${(bestFilter / tcpdumpRate).toFixed(2)}x` : '-']);
    table(rows);
    coldCapture(file, COUNT, expectedDrops, dir, tcpdump.error === undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Section 5: the capture in fresh processes, interleaved with tcpdump; medians of ROUNDS (fastest in brackets). */
function coldCapture(file: string, count: number, expectedDrops: number, dir: string, haveTcpdump: boolean): void {
  const ROUNDS = 11;
  const example = join(import.meta.dirname, '..', 'examples', 'xdp-drop-udp.s');
  const built = buildPackage();
  try {
    const script = join(dir, 'first-capture.mjs');
    writeFileSync(
      script,
      `import { readFileSync } from 'node:fs';
const { loadVmCollection } = await import(${JSON.stringify(join(built.dist, 'vm', 'index.js'))});
const { collectionFromInstructions } = await import(${JSON.stringify(join(built.dist, 'object', 'index.js'))});
const { assemble } = await import(${JSON.stringify(join(built.dist, 'isa', 'index.js'))});
const t0 = process.hrtime.bigint();
const spec = collectionFromInstructions({ name: 'drop', section: 'xdp', instructions: assemble(readFileSync(${JSON.stringify(example)}, 'utf8')) });
const program = loadVmCollection(spec, { jit: true }).programs.drop;
let packets = 0, drops = 0;
const counted = process.argv[3] === 'verdicts';
for await (const batch of program.runCapture(process.argv[2])) {
  packets += batch.packets.count;
  if (counted && batch.verdicts !== undefined) drops += batch.verdicts[1];
  else for (let n = 0; n < batch.packets.count; n++) if (batch.retvals[n] === 1) drops++;
}
console.log(JSON.stringify({ packets, drops, ns: Number(process.hrtime.bigint() - t0) }));
`,
    );
    const filterScript = join(dir, 'first-filter.mjs');
    writeFileSync(
      filterScript,
      `const { filterCapture } = await import(${JSON.stringify(join(built.dist, 'cbpf', 'index.js'))});
const t0 = process.hrtime.bigint();
let matched = 0;
for await (const packet of filterCapture(process.argv[2], 'udp port 9')) matched += packet.data.length > 0 ? 1 : 0;
console.log(JSON.stringify({ matched, ns: Number(process.hrtime.bigint() - t0) }));
`,
    );
    // Nanoseconds per whole capture: each row's rate is `count` over it.
    const samples: Record<string, number[]> = { tcpdump: [], node: [], process: [], reported: [], script: [], verdicts: [], filter: [] };
    const wall = (command: string, args: string[]): { ns: number; stdout: string } => {
      const t0 = process.hrtime.bigint();
      const run = spawnSync(command, args, { encoding: 'utf8' });
      const ns = Number(process.hrtime.bigint() - t0);
      assert.equal(run.status, 0, run.stderr);
      return { ns, stdout: run.stdout };
    };
    const loadBefore = loadavg()[0]!.toFixed(1);
    for (let round = 0; round < ROUNDS; round++) {
      if (haveTcpdump) samples.tcpdump!.push(wall('tcpdump', ['-r', file, '-w', '/dev/null', 'udp port 9']).ns);
      samples.node!.push(wall(process.execPath, ['-e', '0']).ns);
      const cli = wall(process.execPath, built.cli(['run', example, '--type', 'xdp', '--pcap', file, '--jit']));
      assert.match(cli.stdout, new RegExp(`XDP_DROP\\s+${expectedDrops}\\b`));
      samples.process!.push(cli.ns);
      samples.reported!.push(Number(/\((\d+\.\d+) s\)/.exec(cli.stdout)![1]) * 1e9);
      const first = JSON.parse(wall(process.execPath, [script, file]).stdout) as { packets: number; drops: number; ns: number };
      assert.deepEqual([first.packets, first.drops], [count, expectedDrops]);
      samples.script!.push(first.ns);
      const counting = JSON.parse(wall(process.execPath, [script, file, 'verdicts']).stdout) as { packets: number; drops: number; ns: number };
      assert.deepEqual([counting.packets, counting.drops], [count, expectedDrops]);
      samples.verdicts!.push(counting.ns);
      const filtered = JSON.parse(wall(process.execPath, [filterScript, file]).stdout) as { matched: number; ns: number };
      assert.equal(filtered.matched, expectedDrops);
      samples.filter!.push(filtered.ns);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const reference = haveTcpdump ? median(samples.tcpdump!) : 0;
    console.log(`\ncold: each run in a fresh process (package built by tsc), median of ${ROUNDS} interleaved rounds (fastest in brackets); vs tcpdump: its whole command's median time over the row's; load average ${loadBefore} before, ${loadavg()[0]!.toFixed(1)} after`);
    const rows = [['run', 'ms', 'packets/s', 'vs tcpdump']];
    const row = (what: string, xs: number[]): void => {
      if (xs.length === 0) return;
      const [typical, fastest] = [median(xs), Math.min(...xs)];
      rows.push([what, `${(typical / 1e6).toFixed(1)} (${(fastest / 1e6).toFixed(1)})`, `${(count / (typical / 1e9)).toFixed(0)} (${(count / (fastest / 1e9)).toFixed(0)})`, reference > 0 ? `${(reference / typical).toFixed(2)}x` : '-']);
    };
    row("tcpdump -r FILE -w /dev/null 'udp port 9' (whole command)", samples.tcpdump!);
    row("node -e '0' (Node's own start and exit, no capture)", samples.node!);
    row('tsbpf run xdp-drop-udp.s --pcap FILE --jit (whole command: Node start, module loading, verify, load)', samples.process!);
    row('  the same, the time it reports (capture open to end)', samples.reported!);
    row('first program.runCapture of a fresh process (program load to last batch, a loop over retvals)', samples.script!);
    row('  the same, drops counted from batch.verdicts', samples.verdicts!);
    row("first filterCapture(FILE, 'udp port 9') of a fresh process (compile to last packet)", samples.filter!);
    table(rows);
  } finally {
    built.remove();
  }
}
