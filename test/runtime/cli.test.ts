import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../../src/cli/commands/run.ts';
import { UsageError, type CliIo } from '../../src/cli/command.ts';
import { PcapError, PcapWriter, buildPacket, decodePacket, ethernet, icmp, ipv4, payload, readCaptureAll, tcp, udp } from '../../src/net/index.ts';
import { ROOT, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { fixture, hex } from './support.ts';
import { spawnTsbpf } from '../support/cli.ts';

async function runCli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const io: CliIo = { stdout: (t) => (out += t), stderr: (t) => (out += t), stdin: async () => new Uint8Array(0) };
  const code = await command.run(args, io);
  return { code, out };
}

/** 40 packets: UDP/53, TCP/80 (with payload), UDP/9 (dropped by the parser), ICMP echo (answered). */
function writeCapture(dir: string): string {
  const path = join(dir, 'in.pcap');
  const writer = new PcapWriter(path);
  for (let i = 0; i < 40; i++) {
    const l4 = [udp({ dport: 53 }), tcp({ dport: 80 }), udp({ dport: 9 }), icmp({ type: 8, code: 0 })][i % 4]!;
    writer.write({ data: buildPacket(ethernet(), ipv4({ src: `10.0.0.${i + 1}`, dst: '10.0.0.254' }), l4, payload('p'.repeat(100))), timestamp: BigInt(i) * 1_000_000n });
  }
  writer.close();
  return path;
}

test('tsbpf run --pcap: verdict counts, --out keeps passed packets (XDP_TX rewritten), --json, --verbose', { skip: skipWithoutClang() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-run-'));
  try {
    const input = writeCapture(dir);
    const out = join(dir, 'passed.pcap');
    const text = await runCli([fixture('xdp_parser'), '--pcap', input, '--out', out]);
    assert.equal(text.code, 0);
    assert.match(text.out, /^40 packets, 30 passed/);
    assert.match(text.out, /XDP_PASS\s+20/);
    assert.match(text.out, /XDP_DROP\s+10/);
    assert.match(text.out, /XDP_TX\s+10/);
    assert.match(text.out, /packets\/s/);
    const passed = await readCaptureAll(out);
    assert.equal(passed.length, 30);
    assert.equal(passed[0]!.timestamp, 0n);
    const reply = decodePacket(passed[2]!.data);
    assert.equal(reply.transport?.type, 0, 'the echo request went out as a reply');
    assert.equal(reply.transport?.checksumValid, true, 'with a correct checksum');
    assert.equal(reply.ip?.dst, '10.0.0.4');

    const json = JSON.parse((await runCli([fixture('xdp_parser'), '--pcap', input, '--json', '--verbose', '--jit'])).out);
    assert.equal(json.packets, 40);
    assert.deepEqual(json.verdicts, { XDP_PASS: 20, XDP_TX: 10, XDP_DROP: 10 });
    assert.equal(json.perPacket.length, 40);
    assert.equal(json.perPacket[2].verdict, 'XDP_DROP');
    const verbose = await runCli([fixture('xdp_parser'), '--pcap', input, '--verbose']);
    assert.match(verbose.out, /#3 \d+ bytes XDP_DROP \(1\)\s+IPv4 10\.0\.0\.3/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsbpf run: socket filter output is truncated to the returned length; others are dropped', { skip: skipWithoutClang() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-run-'));
  try {
    const out = join(dir, 'passed.pcap');
    const result = await runCli([fixture('socket_filter'), '--pcap', writeCapture(dir), '--out', out, '--json']);
    assert.deepEqual(JSON.parse(result.out).verdicts, { accept: 10, 'accept 64': 10, drop: 20 });
    const passed = await readCaptureAll(out);
    // The filter sees the packet from the IP header: 64 bytes of it, plus the Ethernet header in the capture.
    assert.deepEqual(passed.map((p) => p.data.length).slice(0, 2), [14 + 20 + 8 + 100, 14 + 64]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsbpf run --data: return value, output frame and duration', { skip: skipWithoutClang() }, async () => {
  const frame = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), icmp({ type: 8, code: 0 }), payload('hi'));
  const text = await runCli([fixture('xdp_parser'), '--data', hex(frame)]);
  assert.match(text.out, /^retval 3 \(XDP_TX\)\ndata [0-9a-f]+ \(44 bytes\)\nduration \d+ ns\n$/);
  const json = JSON.parse((await runCli([fixture('tc_classifier'), '--data', hex(frame), '--json', '--repeat', '5'])).out);
  assert.equal(json.retval, 0);
  assert.equal(json.verdict, 'TC_ACT_OK');
});

test('tsbpf run --backend kernel gives the same counts and output capture as the VM', { skip: skipWithoutClang() || skipWithoutKernel() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-run-'));
  try {
    const input = writeCapture(dir);
    const vm = JSON.parse((await runCli([fixture('tailcall'), '--program', 'dispatch', '--pcap', input, '--json', '--out', join(dir, 'vm.pcap')])).out);
    const kernel = JSON.parse((await runCli([fixture('tailcall'), '--program', 'dispatch', '--pcap', input, '--json', '--backend', 'kernel', '--out', join(dir, 'k.pcap')])).out);
    assert.deepEqual(vm.verdicts, kernel.verdicts);
    assert.deepEqual(readFileSync(join(dir, 'vm.pcap')), readFileSync(join(dir, 'k.pcap')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsbpf run: malformed and truncated captures, short frames, bad arguments', { skip: skipWithoutClang() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-run-'));
  try {
    const bad = join(dir, 'bad.pcap');
    writeFileSync(bad, 'this is not a capture at all');
    await assert.rejects(runCli([fixture('xdp_parser'), '--pcap', bad]), (e: Error) => e instanceof PcapError && /offset 0: not a pcap or pcapng file/.test(e.message));
    const truncated = join(dir, 'truncated.pcap');
    writeFileSync(truncated, readFileSync(writeCapture(dir)).subarray(0, 400));
    await assert.rejects(runCli([fixture('xdp_parser'), '--pcap', truncated]), /truncated packet/);
    // A frame shorter than an Ethernet header in a capture is counted as refused, not fatal.
    const short = join(dir, 'short.pcap');
    const writer = new PcapWriter(short);
    writer.write({ data: new Uint8Array(10) });
    writer.write({ data: buildPacket(ethernet(), ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }), udp({ dport: 1 })) });
    writer.close();
    const result = JSON.parse((await runCli([fixture('xdp_parser'), '--pcap', short, '--json'])).out);
    assert.equal(result.refused, 1);
    assert.equal(result.passed, 1);
    await assert.rejects(runCli([fixture('tailcall'), '--data', '00']), (e: Error) => e instanceof UsageError && /--program is needed.*dispatch/.test(e.message));
    await assert.rejects(runCli([fixture('xdp_parser'), '--data', 'xyz']), /even number of hex digits/);
    await assert.rejects(runCli([fixture('xdp_parser')]), /exactly one of --pcap and --data/);
    await assert.rejects(runCli([fixture('xdp_parser'), '--data', '00', '--backend', 'kernel', '--jit']), /--jit is for the vm backend/);
    await assert.rejects(runCli([fixture('exec_trace'), '--program', 'on_exec', '--data', '00']), /is TRACEPOINT; tsbpf run runs XDP/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsbpf run on an assembly source: --type gives the program type, on the VM (both engines) and in the kernel', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-run-asm-'));
  try {
    const input = writeCapture(dir);
    const source = join(ROOT, 'examples', 'xdp-drop-udp.s');
    const backends = [[], ['--jit'], ...(skipWithoutKernel() === false ? [['--backend', 'kernel']] : [])];
    for (const backend of backends) {
      const result = await runCli([source, '--type', 'xdp', '--pcap', input, '--json', ...backend]);
      assert.equal(result.code, 0);
      const summary = JSON.parse(result.out);
      assert.deepEqual(summary.verdicts, { XDP_PASS: 30, XDP_DROP: 10 }, `backend ${backend.join(' ') || 'vm'}`);
      // At least half the runs take the median or longer, so the mean is at least half the median (+5% buckets).
      assert.ok(summary.meanProgramNs > 0 && (summary.medianProgramNs === undefined || (summary.medianProgramNs > 0 && summary.medianProgramNs <= summary.meanProgramNs * 2.1)), `median ${summary.medianProgramNs} ns, mean ${summary.meanProgramNs} ns`);
    }
    const toPort9 = buildPacket(ethernet(), ipv4(), udp({ dport: 9 }), payload('x'));
    assert.match((await runCli([source, '--type', 'xdp', '--data', hex(toPort9)])).out, /^retval 1 \(XDP_DROP\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsbpf run on an assembly source: bad input is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-run-asm-'));
  try {
    const bad = join(dir, 'bad.s');
    writeFileSync(bad, 'r0 = 2\nr0 +=\nexit\n');
    await assert.rejects(runCli([bad, '--type', 'xdp', '--data', '00']), /bad\.s:2:\d+: /);
    await assert.rejects(runCli([bad, '--data', '00']), (e: unknown) => e instanceof UsageError && /not an ELF object.*--type/.test(e.message));
    writeFileSync(bad, 'r0 = 2\nexit\n');
    await assert.rejects(runCli([bad, '--type', 'nonsense', '--data', '00']), /'nonsense' is not a section name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tsbpf run --pcap -: a capture piped on standard input streams; a directory or a missing file is named", { skip: process.platform !== 'linux' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-run-stdin-'));
  try {
    const input = writeCapture(dir);
    const source = join(ROOT, 'examples', 'xdp-drop-udp.s');
    const piped = await spawnTsbpf(['run', source, '--type', 'xdp', '--pcap', '-', '--jit', '--json'], readFileSync(input));
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(JSON.parse(piped.stdout).verdicts, { XDP_PASS: 30, XDP_DROP: 10 });
    for (const [path, problem] of [[dir, /EISDIR.*tsbpf-run-stdin-/], [join(dir, 'missing.pcap'), /ENOENT.*missing\.pcap/]] as const) {
      const failed = await spawnTsbpf(['run', source, '--type', 'xdp', '--pcap', path]);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, problem);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
