import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { CaptureBatch, CaptureReader, PcapError, buildPacket, decodePacket, encodeCapture, ethernet, ipv4, ipv6, payload, readCaptureAll, tcp, udp, type CapturedPacket } from '../../src/net/index.ts';

function corpus(): Uint8Array[] {
  const packets = [
    buildPacket(ethernet(), ipv4(), udp(), payload('x')),
    buildPacket(ethernet(), ipv6(), tcp(), payload(40)),
    new Uint8Array(3),
  ];
  const records = packets.map((data, i) => ({ data, timestamp: BigInt(i) * 1_000_000_007n, comments: i === 1 ? ['c'] : [] }));
  return [
    encodeCapture(records, { format: 'pcap' }),
    encodeCapture(records, { format: 'pcap', littleEndian: false, nanosecond: false }),
    encodeCapture(records, { format: 'pcapng' }),
    encodeCapture(records, { format: 'pcapng', littleEndian: false }),
  ];
}

test('fuzz: mutated and truncated captures either parse or raise PcapError, never anything else', async () => {
  const seeds = corpus();
  const seed = fuzzSeed(0x5eed);
  const random = seededRandom(seed);
  let parsed = 0;
  let rejected = 0;
  for (let round = 0; round < 3000; round++) {
    const input = seeds[round % seeds.length]!.slice();
    let bytes: Uint8Array = input;
    const mutations = 1 + Math.floor(random() * 4);
    for (let m = 0; m < mutations; m++) {
      const kind = random();
      const at = Math.floor(random() * bytes.length);
      if (kind < 0.5) bytes[at] = Math.floor(random() * 256);
      else if (kind < 0.7) bytes[at] ^= 1 << Math.floor(random() * 8);
      else if (kind < 0.85) bytes = bytes.slice(0, at);
      else {
        // Plausible-but-wrong lengths are where parsers break: write a random u32.
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
        if (at + 4 <= bytes.length) view.setUint32(at, Math.floor(random() * 2 ** 32), random() < 0.5);
      }
    }
    try {
      const packets = await readCaptureAll(bytes);
      parsed++;
      for (const p of packets) {
        assert.ok(p.data.length <= p.originalLength, 'captured bytes never exceed the original length');
        assert.ok(p.data.length <= bytes.length);
        decodePacket(p.data);
      }
    } catch (error) {
      if (!(error instanceof PcapError)) {
        assert.fail(`seed ${seed} round ${round}: ${String(error)}\ninput: ${Buffer.from(bytes).toString('hex')}`);
      }
      rejected++;
    }
  }
  // Both outcomes must occur, or the mutations are not exercising anything.
  assert.ok(parsed > 100 && rejected > 100, `parsed ${parsed}, rejected ${rejected}`);
});

test('fuzz: decodePacket never throws on random frames', () => {
  const random = seededRandom(fuzzSeed(1234));
  const base = buildPacket(ethernet(), ipv4(), tcp(), payload(20));
  for (let i = 0; i < 5000; i++) {
    const frame = base.slice(0, Math.floor(random() * (base.length + 1)));
    for (let m = 0; m < 3; m++) if (frame.length) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256);
    const d = decodePacket(frame);
    assert.equal(typeof d.summary, 'string');
  }
});

test('fuzz: readBatch (the WebAssembly record walk for little-endian pcap) gives the iterator\'s packets and fails where it fails, with the same PcapError', async () => {
  const seeds = corpus();
  const seed = fuzzSeed(0xba7c4);
  const random = seededRandom(seed);
  let agreed = 0;
  let failedAlike = 0;
  for (let round = 0; round < 1500; round++) {
    const bytes = seeds[round % 2]!.slice();
    for (let m = 1 + Math.floor(random() * 3); m > 0; m--) {
      const at = Math.floor(random() * bytes.length);
      if (random() < 0.6) bytes[at] = Math.floor(random() * 256);
      else if (at + 4 <= bytes.length) new DataView(bytes.buffer).setUint32(at, Math.floor(random() * 2 ** 32), true);
    }
    const outcome = async (read: () => Promise<CapturedPacket[]>): Promise<CapturedPacket[] | string> => {
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof PcapError)) assert.fail(`seed ${seed} round ${round}: ${String(error)}`);
        return error.message;
      }
    };
    const iterated = await outcome(() => readCaptureAll(bytes));
    const batched = await outcome(async () => {
      const reader = await CaptureReader.open(bytes);
      const batch = new CaptureBatch(1 + (round % 3));
      const packets: CapturedPacket[] = [];
      while ((await reader.readBatch(batch)) > 0) {
        // A batch the record walk parsed says what holds for all its packets: callers skip looking at each.
        const placed = batch.placement;
        if (placed !== undefined) {
          const lengths = [...batch.length.subarray(0, batch.count)];
          assert.deepEqual([placed.shortest, placed.longest, placed.linkType], [Math.min(...lengths), Math.max(...lengths), batch.linkType[0]], `seed ${seed} round ${round}`);
          assert.ok(batch.linkType.subarray(0, batch.count).every((t) => t === placed.linkType));
        }
        for (let n = 0; n < batch.count; n++) packets.push({ data: batch.data(n).slice(), originalLength: batch.originalLength[n]!, timestamp: batch.timestamp(n), interfaceId: 0, linkType: batch.linkType[n]!, offset: batch.offset[n]! });
      }
      return packets;
    });
    if (typeof iterated === 'string') {
      assert.equal(batched, iterated, `seed ${seed} round ${round}`);
      failedAlike++;
    } else {
      assert.deepEqual(batched, iterated, `seed ${seed} round ${round}`);
      agreed++;
    }
  }
  assert.ok(agreed > 100 && failedAlike > 100, `agreed ${agreed}, failed alike ${failedAlike}`);
});
