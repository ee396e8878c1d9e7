import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assemble } from '../../src/isa/asm.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { VmProgram, RunInputError } from '../../src/vm/runtime.ts';
import { RunEnvironment, TRACE_LINES_KEPT } from '../../src/vm/helpers/environment.ts';
import { CaptureBatch, CaptureReader, LinkType, PcapError, buildPacket, encodeCapture, ethernet, ipv4, ipv6, payload, readCaptureAll, udp } from '../../src/net/index.ts';

/**
 * XDP: bumps the EtherType's low byte; pops 4 bytes (bpf_xdp_adjust_head)
 * off IPv4 frames and passes them; redirects the rest to ifindex 7; drops
 * frames shorter than 14 bytes of data. Its uninitialised stack slot goes
 * into r7 and is returned for UDP port 1 (it must read 0 in every run).
 */
const EDITOR = assemble(`
  r6 = r1
  r7 = *(u64 *)(r10 - 8)
  *(u64 *)(r10 - 8) = r6
  r2 = *(u32 *)(r6 + 0)
  r3 = *(u32 *)(r6 + 4)
  r4 = r2
  r4 += 38
  if r4 > r3 goto short
  r5 = *(u16 *)(r2 + 36)
  if r5 != 0x100 goto edit
  r0 = r7
  exit
edit:
  r5 = *(u8 *)(r2 + 13)
  r5 += 1
  *(u8 *)(r2 + 13) = r5
  r5 = *(u8 *)(r2 + 12)
  if r5 != 0x08 goto redirect
  r1 = r6
  r2 = 4
  call 44
  r0 = 2
  exit
redirect:
  r1 = 7
  r2 = 0
  call 23
  exit
short:
  r0 = 1
  exit
`);

/** Frames of every outcome: IPv4 (edited, shortened), IPv6 (redirected), UDP to port 1 (stack read), too short for the test run, too long for a frame. */
function frames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < 60; i++) {
    const body = payload(new Uint8Array(i % 23).fill(i));
    if (i % 5 === 0) out.push(buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ sport: 5, dport: 1 }), body));
    else if (i % 5 === 1) out.push(buildPacket(ethernet(), ipv6({ src: 'fe80::5', dst: 'fe80::2' }), udp({ sport: 5, dport: 80 }), body));
    else if (i % 5 === 2) out.push(new Uint8Array(10 + (i % 4)));
    else if (i === 13) out.push(new Uint8Array(4000));
    else out.push(buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: `10.0.0.${i}` }), udp({ sport: 5, dport: 53 }), body));
  }
  return out;
}

for (const jit of [false, true]) {
  const engine = jit ? 'JIT' : 'interpreter';

  test(`runBatch (${engine}): the verdicts, packets and redirects of run(), refused inputs reported, a zeroed stack per packet`, () => {
    const program = new VmProgram(ProgramType.XDP, EDITOR, { jit });
    try {
      const packets = frames();
      const batch = program.runBatch(packets, { output: true });
      assert.equal(batch.retvals.length, packets.length);
      packets.forEach((data, n) => {
        let single;
        try {
          single = program.run({ data });
        } catch (error) {
          assert.ok(error instanceof RunInputError);
          assert.ok(batch.errors.get(n) instanceof RunInputError, `packet ${n} is refused by both`);
          assert.equal(batch.errors.get(n)!.message, error.message);
          assert.equal(batch.data![n], undefined);
          return;
        }
        assert.equal(batch.errors.has(n), false, `packet ${n}`);
        assert.equal(batch.retvals[n], single.retval, `packet ${n}`);
        assert.deepEqual(batch.data![n], single.data, `packet ${n}`);
        assert.deepEqual(batch.redirects.get(n), single.redirect, `packet ${n}`);
      });
      // Every outcome occurs: passed and shortened, redirected, stack read (0), refused.
      assert.ok(batch.retvals.includes(2) && batch.retvals.includes(4) && batch.retvals.includes(0), String(batch.retvals));
      assert.ok(batch.redirects.size > 0 && batch.errors.size > 0, `${batch.redirects.size} redirects, ${batch.errors.size} refused`);
      assert.ok(batch.durationNs > 0);
      // Without output, only the return values.
      const bare = program.runBatch(packets);
      assert.deepEqual(bare.retvals, batch.retvals);
      assert.equal(bare.data, undefined);
    } finally {
      program.close();
    }
  });

  test(`runCapture (${engine}): every packet of a pcap and a pcapng, in batches, as runBatch; other link types converted`, async () => {
    const program = new VmProgram(ProgramType.XDP, EDITOR, { jit });
    try {
      const packets = frames();
      const expected = program.runBatch(packets, { output: true });
      for (const format of ['pcap', 'pcapng'] as const) {
        const capture = encodeCapture(packets.map((data, i) => ({ data, timestamp: 1_700_000_000_123_456_789n + BigInt(i) * 1000n })), { format });
        let seen = 0;
        for await (const batch of program.runCapture(capture, { output: true, batchSize: 7 })) {
          assert.ok(batch.packets.count <= 7);
          for (let n = 0; n < batch.packets.count; n++, seen++) {
            assert.equal(batch.retvals[n], expected.retvals[seen], `${format} packet ${seen}`);
            assert.deepEqual(batch.data![n], expected.data![seen], `${format} packet ${seen}`);
            assert.deepEqual(batch.redirects.get(n), expected.redirects.get(seen));
            assert.equal(batch.errors.has(n), expected.errors.has(seen));
            assert.equal(batch.packets.timestamp(n), 1_700_000_000_123_456_789n + BigInt(seen) * 1000n);
          }
        }
        assert.equal(seen, packets.length);
      }
      // A raw-IP capture: each frame gets an Ethernet header first; a frame with no IP version is refused.
      const ip = buildPacket(ipv4({ src: '10.0.0.1', dst: '10.0.0.9' }), udp({ sport: 5, dport: 53 }), payload('x'));
      const raw = encodeCapture([{ data: ip }, { data: new Uint8Array([0x10, 0, 0]) }], { linkType: LinkType.RAW });
      const results = [];
      for await (const batch of program.runCapture(raw)) for (let n = 0; n < batch.packets.count; n++) results.push(batch.errors.get(n) ?? batch.retvals[n]);
      assert.equal(results[0], 2);
      assert.ok(results[1] instanceof PcapError, String(results[1]));
    } finally {
      program.close();
    }
  });

  test(`run({ repeat }) (${engine}): one engine call, the same result as single runs, memory carried from run to run`, () => {
    // Counts its runs in the packet's first byte: repetitions see what the previous one wrote, as in the kernel.
    const counter = assemble(`
      r2 = *(u32 *)(r1 + 0)
      r3 = *(u32 *)(r1 + 4)
      r4 = r2
      r4 += 14
      if r4 > r3 goto out
      r5 = *(u8 *)(r2 + 0)
      r5 += 1
      *(u8 *)(r2 + 0) = r5
    out:
      r0 = 2
      exit
    `);
    const program = new VmProgram(ProgramType.XDP, counter, { jit });
    try {
      const result = program.run({ data: new Uint8Array(64), repeat: 200 });
      assert.equal(result.retval, 2);
      assert.equal(result.data![0], 200);
      assert.ok(result.durationNs >= 0);
    } finally {
      program.close();
    }
  });
}

test('a repeated run keeps the last TRACE_LINES_KEPT trace lines', () => {
  const env = new RunEnvironment();
  for (let i = 0; i < 5 * TRACE_LINES_KEPT + 3; i++) env.print(`line ${i}`);
  const lines = env.traceLines();
  assert.equal(lines.length, TRACE_LINES_KEPT);
  assert.equal(lines.at(-1), `line ${5 * TRACE_LINES_KEPT + 2}`);
  assert.ok(env.trace.length <= 2 * TRACE_LINES_KEPT);
});

test('CaptureReader.readBatch: the packets iteration gives, in columns; a truncated or corrupt record is a PcapError with its offset', async () => {
  const packets = frames().map((data, i) => ({ data, originalLength: data.length + (i % 3), timestamp: 1_600_000_000_000_001_000n + BigInt(i) * 999_999_000n }));
  for (const options of [{ format: 'pcap' as const, nanosecond: false }, { format: 'pcap' as const, nanosecond: true, littleEndian: false }, { format: 'pcapng' as const }]) {
    const bytes = encodeCapture(packets, options);
    const expected = await readCaptureAll(bytes);
    // Chunks of 100 bytes: records straddle chunk boundaries.
    const chunks = Array.from({ length: Math.ceil(bytes.length / 100) }, (_, k) => bytes.subarray(k * 100, k * 100 + 100));
    const reader = await CaptureReader.open(chunks);
    const batch = new CaptureBatch(16);
    let seen = 0;
    while ((await reader.readBatch(batch)) > 0) {
      for (let n = 0; n < batch.count; n++, seen++) {
        const e = expected[seen]!;
        assert.deepEqual(batch.data(n), e.data, `${JSON.stringify(options)} packet ${seen}`);
        assert.equal(batch.originalLength[n], e.originalLength);
        assert.equal(batch.timestamp(n), e.timestamp);
        assert.equal(batch.linkType[n], e.linkType);
        assert.equal(batch.offset[n], e.offset);
      }
    }
    assert.equal(seen, expected.length);
  }
  const good = encodeCapture(packets.slice(0, 3), { format: 'pcap' });
  const truncated = await CaptureReader.open(good.subarray(0, good.length - 5));
  const batch = new CaptureBatch(2);
  assert.equal(await truncated.readBatch(batch), 2);
  await assert.rejects(truncated.readBatch(batch), (e: unknown) => e instanceof PcapError && /truncated packet/.test(e.message));
  const corrupt = good.slice();
  new DataView(corrupt.buffer).setUint32(24 + 8, 0x7fffffff, true);
  await assert.rejects((await CaptureReader.open(corrupt)).readBatch(batch), (e: unknown) => e instanceof PcapError && /offset 32\b/.test(e.message));
  assert.throws(() => new CaptureBatch(0), RangeError);
});

test('runCapture without output: a program that calls nothing runs whole batches in one WebAssembly call, with the results and errors of run()', async () => {
  // Writes the packet, reads at a length-dependent offset (past data_end faults, without a bounds check), returns what it read.
  const source = assemble(`
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u8 *)(r2 + 0)
    r3 += 1
    *(u8 *)(r2 + 0) = r3
    r4 = *(u8 *)(r2 + 14)
    r4 &= 63
    r2 += r4
    r0 = *(u8 *)(r2 + 20)
    r0 += r3
    exit
  `);
  const packets = frames().map((frame, i) => (frame.length >= 34 ? frame.map((b, k) => (k === 14 ? (i * 7) % 40 : b)) : frame));
  const capture = encodeCapture(packets.map((data) => ({ data })));
  for (const jit of [false, true]) {
    const program = new VmProgram(ProgramType.XDP, source, { jit });
    try {
      const expected: (number | string)[] = packets.map((data) => {
        try {
          return program.run({ data }).retval;
        } catch (error) {
          return (error as Error).name;
        }
      });
      const firstFault = expected.findIndex((e) => e === 'MemoryAccessError');
      assert.ok(firstFault > 0, 'some packet makes the program fault');
      // The packets before the first fault, then the fault itself, exactly as run() gives them.
      const got: (number | string)[] = [];
      await assert.rejects(async () => {
        for await (const batch of program.runCapture(capture, { batchSize: 5 })) {
          for (let n = 0; n < batch.packets.count; n++) got.push(batch.errors.has(n) ? batch.errors.get(n)!.name : batch.retvals[n]!);
        }
      }, (e: unknown) => (e as Error).name === 'MemoryAccessError');
      assert.deepEqual(got, expected.slice(0, got.length), jit ? 'JIT' : 'interpreter');
      assert.ok(got.length >= firstFault - 5, `${got.length} results before the failing batch`);
      // The packets without the faulting ones: every result, and run() afterwards still sees a clean frame.
      const clean = packets.filter((_, i) => expected[i] !== 'MemoryAccessError');
      const cleanExpected = expected.filter((e) => e !== 'MemoryAccessError');
      const all: (number | string)[] = [];
      for await (const batch of program.runCapture(encodeCapture(clean.map((data) => ({ data }))), { batchSize: 8 })) {
        for (let n = 0; n < batch.packets.count; n++) all.push(batch.errors.has(n) ? batch.errors.get(n)!.name : batch.retvals[n]!);
      }
      assert.deepEqual(all, cleanExpected);
      // The JIT's loop counts the verdicts of a batch it ran whole (no runt refused): each value below 16, the rest together.
      let counted = 0;
      for await (const batch of program.runCapture(encodeCapture(clean.filter((p) => p.length >= 34).map((data) => ({ data }))), { batchSize: 8 })) {
        if (batch.verdicts === undefined) continue;
        assert.ok(jit && batch.errors.size === 0);
        const expectedCounts = new Array<number>(17).fill(0);
        for (const r of batch.retvals.subarray(0, batch.packets.count)) expectedCounts[Math.min(r, 16)]!++;
        assert.deepEqual([...batch.verdicts], expectedCounts);
        assert.ok(expectedCounts[16]! > 0 && expectedCounts[16]! < batch.packets.count, 'both kinds of value counted');
        counted++;
      }
      assert.equal(counted > 0, jit, 'only the JIT counts, in its loop');
      const last = clean.filter((p) => p.length >= 34).at(-1)!;
      assert.deepEqual(program.run({ data: last }).data![0], (last[0]! + 1) & 0xff);
    } finally {
      program.close();
    }
  }
});

test('runCapture on a named pipe: batches come as the writer writes, not at its end; the capture ends when the writer closes', { skip: process.platform !== 'linux' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-fifo-'));
  try {
    const fifo = join(dir, 'live.pcap');
    execFileSync('mkfifo', [fifo]);
    const frame = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ sport: 1, dport: 9 }), payload(10));
    const capture = encodeCapture(Array.from({ length: 200 }, (_, i) => ({ data: frame, timestamp: BigInt(i) })));
    const half = 24 + 100 * (16 + frame.length);
    // Opening a pipe for writing waits for its reader: both opens run at once.
    const writing = (async (): Promise<FileHandle> => {
      const writer = await open(fifo, 'w');
      await writer.write(capture.subarray(0, half));
      return writer;
    })();
    const program = new VmProgram(ProgramType.XDP, assemble('r0 = 2\nexit'), { jit: true });
    let seen = 0;
    let wroteRest = false;
    for await (const batch of program.runCapture(fifo)) {
      seen += batch.packets.count;
      if (!wroteRest) {
        // The first packets arrived while the writer still holds the pipe open.
        wroteRest = true;
        const writer = await writing;
        await writer.write(capture.subarray(half));
        await writer.close();
      }
    }
    assert.ok(wroteRest);
    assert.equal(seen, 200);
    program.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('per-packet clock: runBatch timestamps and runCapture captureClock are what bpf_ktime_get_ns reads while each packet runs', async () => {
  const clockReader = assemble(`
  call 5
  exit
`);
  const frame = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ sport: 5, dport: 9 }));
  const packets = Array.from({ length: 5 }, () => frame);
  const timestamps = [7n, 1_000_000_123n, 2n ** 40n + 5n, 3n, 0xfffffff0n];
  const low32 = timestamps.map((t) => Number(t & 0xffffffffn));
  const capture = encodeCapture(packets.map((data, n) => ({ data, timestamp: timestamps[n]! })), { format: 'pcapng' });
  for (const type of [ProgramType.XDP, ProgramType.SOCKET_FILTER]) {
    for (const jit of [false, true]) {
      const program = new VmProgram(type, clockReader, { jit, clock: () => 42n });
      try {
        assert.deepEqual([...program.runBatch(packets, { timestamps }).retvals], low32, `runBatch, type ${type}, jit ${jit}`);
        const seen: number[] = [];
        for await (const batch of program.runCapture(capture, { captureClock: true, batchSize: 2 })) seen.push(...batch.retvals.subarray(0, batch.packets.count));
        assert.deepEqual(seen, low32, `runCapture, type ${type}, jit ${jit}`);
        // Without a per-packet clock the program's own clock is read, before and after.
        assert.deepEqual([...program.runBatch(packets.slice(0, 2)).retvals], [42, 42]);
        assert.equal(program.run({ data: frame }).retval, 42);
        assert.throws(() => program.runBatch(packets, { timestamps: [1n] }), (e: unknown) => e instanceof RunInputError && /1 timestamps for 5 packets/.test(e.message));
      } finally {
        program.close();
      }
    }
  }
});

test('runCapture runs each packet where the reader parsed it: run() results for truncated records, runts and oversized frames, in every capture format; the batch keeps its bytes as read; two streams of one program interleave', async () => {
  // Calls nothing (the one-call loop): writes byte 13, returns the length it sees and the byte written; 99 below 14 bytes.
  const source = assemble(`
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 14
    if r4 > r3 goto out
    r5 = *(u8 *)(r2 + 13)
    r5 += 1
    *(u8 *)(r2 + 13) = r5
    r0 = r3
    r0 -= r2
    r0 <<= 8
    r0 |= r5
    exit
  out:
    r0 = 99
    exit
  `);
  const records = frames().map((data, i) => (i % 3 === 0 && data.length > 20 ? { data: data.subarray(0, 20 + (i % 7)), originalLength: data.length } : { data }));
  const program = new VmProgram(ProgramType.XDP, source, { jit: true });
  const reference = new VmProgram(ProgramType.XDP, source, { jit: false });
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-batch-'));
  try {
    const expected = records.map(({ data }) => {
      try {
        return reference.run({ data }).retval;
      } catch (error) {
        assert.ok(error instanceof RunInputError, String(error));
        return 'refused';
      }
    });
    const collect = async (capture: string | Uint8Array, batchSize: number): Promise<(number | string)[]> => {
      const got: (number | string)[] = [];
      for await (const batch of program.runCapture(capture, { batchSize })) {
        for (let n = 0; n < batch.packets.count; n++) {
          got.push(batch.errors.has(n) ? 'refused' : batch.retvals[n]!);
          // The program wrote byte 13 of the packet it ran on, not of the batch's bytes.
          assert.deepEqual(batch.packets.data(n), records[got.length - 1]!.data);
        }
      }
      return got;
    };
    const file = join(dir, 'capture.pcap');
    const pcap = encodeCapture(records, { snapLength: 40 });
    writeFileSync(file, pcap);
    for (const [what, capture] of [
      ['pcap bytes', pcap],
      ['pcap file', file],
      ['big-endian pcap', encodeCapture(records, { littleEndian: false })],
      ['pcapng', encodeCapture(records, { format: 'pcapng' })],
    ] as const) {
      for (const batchSize of [1, 7, 4096]) assert.deepEqual(await collect(capture, batchSize), expected, `${what}, batches of ${batchSize}`);
    }
    // Runts and oversized frames filtered out: whole batches without a refused packet take the loop with the reader's columns.
    const taken = records.filter((_, i) => expected[i] !== 'refused');
    const clean = encodeCapture(taken);
    const streams = [program.runCapture(clean, { batchSize: 4 }), program.runCapture(clean, { batchSize: 5 })];
    const results: number[][] = [[], []];
    for (let active = 2; active > 0; ) {
      active = 0;
      for (let k = 0; k < 2; k++) {
        const next = await streams[k]!.next();
        if (next.done) continue;
        active++;
        for (let n = 0; n < next.value.packets.count; n++) results[k]!.push(next.value.retvals[n]!);
      }
    }
    const takenExpected = expected.filter((e) => e !== 'refused');
    assert.deepEqual(results[0], takenExpected);
    assert.deepEqual(results[1], takenExpected);
  } finally {
    program.close();
    reference.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runCapture on bad captures: a cut-off record header or body, absurd lengths (even under a 4 GiB snap length) and an endless stream give a PcapError, never a hang', async () => {
  const program = new VmProgram(ProgramType.XDP, assemble('r0 = 2\nexit'), { jit: true });
  const drain = async (capture: Uint8Array | AsyncIterable<Uint8Array>): Promise<number> => {
    let packets = 0;
    for await (const batch of program.runCapture(capture)) packets += batch.packets.count;
    return packets;
  };
  try {
    const good = encodeCapture(frames().map((data) => ({ data })));
    await assert.rejects(drain(good.subarray(0, good.length - 3)), (e: unknown) => e instanceof PcapError && /truncated packet:/.test(e.message));
    await assert.rejects(drain(good.subarray(0, 24 + 10)), (e: unknown) => e instanceof PcapError && /truncated packet record header/.test(e.message));
    const huge = good.slice();
    const view = new DataView(huge.buffer);
    view.setUint32(16, 0xffffffff, true);
    view.setUint32(24 + 8, 0x40000000, true);
    view.setUint32(24 + 12, 0x40000000, true);
    // A header claiming a 4 GiB snap length and a 1 GiB record, then zeros forever: refused before buffering it.
    async function* endless(): AsyncGenerator<Uint8Array> {
      yield huge.subarray(0, 40);
      for (;;) yield new Uint8Array(1 << 16);
    }
    await assert.rejects(drain(endless()), (e: unknown) => e instanceof PcapError && /offset 32\b/.test(e.message) && /read up to/.test(e.message));
    // Valid records forever: batches keep coming with memory reused; the consumer stops when it likes.
    const record = good.subarray(24, 24 + 16 + frames()[0]!.length);
    async function* records(): AsyncGenerator<Uint8Array> {
      yield good.subarray(0, 24);
      for (;;) yield record;
    }
    let packets = 0;
    for await (const batch of program.runCapture(records())) {
      packets += batch.packets.count;
      if (packets >= 20_000) break;
    }
    assert.ok(packets >= 20_000);
  } finally {
    program.close();
  }
});
