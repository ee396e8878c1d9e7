import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CaptureBatch,
  CaptureReader,
  LinkType,
  PcapError,
  PcapWriter,
  encodeCapture,
  readCaptureAll,
  toEthernet,
  parseLinkHeader,
  ETH_P_IPV6,
  ETH_P_IP,
} from '../../src/net/index.ts';

/** A little builder for hand-made files, independent of the writers under test. */
class Bytes {
  parts: number[] = [];
  constructor(readonly little: boolean) {}
  u8(...v: number[]): this {
    this.parts.push(...v);
    return this;
  }
  u16(v: number): this {
    return this.little ? this.u8(v & 0xff, v >> 8) : this.u8(v >> 8, v & 0xff);
  }
  u32(v: number): this {
    const b = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    return this.u8(...(this.little ? b.reverse() : b));
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function pcapFile(little: boolean, magic: number, linkType: number, records: [number, number, number[], number?][]): Uint8Array {
  const b = new Bytes(little).u32(magic).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(linkType);
  for (const [sec, frac, data, orig] of records) b.u32(sec).u32(frac).u32(data.length).u32(orig ?? data.length).u8(...data);
  return b.bytes();
}

for (const little of [true, false]) {
  const order = little ? 'little' : 'big';
  test(`pcap ${order}-endian microsecond and nanosecond magic`, async () => {
    const us = await readCaptureAll(pcapFile(little, 0xa1b2c3d4, 1, [[1700000000, 123456, [1, 2, 3], 60]]));
    assert.equal(us.length, 1);
    assert.deepEqual(us[0]!.data, Uint8Array.of(1, 2, 3));
    assert.equal(us[0]!.originalLength, 60);
    assert.equal(us[0]!.timestamp, 1700000000_123456000n);
    assert.equal(us[0]!.linkType, LinkType.ETHERNET);
    assert.equal(us[0]!.offset, 24);
    const ns = await readCaptureAll(pcapFile(little, 0xa1b23c4d, 101, [[5, 7, [0x45]], [6, 999999999, [0x60, 0]]]));
    assert.deepEqual(
      ns.map((p) => [p.timestamp, p.linkType, p.offset]),
      [
        [5_000000007n, 101, 24],
        [6_999999999n, 101, 41],
      ],
    );
  });

  test(`pcapng ${order}-endian: sections, interfaces, tsresol, EPB/SPB/PB, skipped blocks, options`, async () => {
    const b = new Bytes(little);
    const block = (type: number, body: (x: Bytes) => void): void => {
      const inner = new Bytes(little);
      body(inner);
      while (inner.parts.length % 4) inner.u8(0);
      const length = inner.parts.length + 12;
      b.u32(type).u32(length).u8(...inner.parts).u32(length);
    };
    const option = (x: Bytes, code: number, value: number[]): void => {
      x.u16(code).u16(value.length).u8(...value);
      while (x.parts.length % 4) x.u8(0);
    };
    block(0x0a0d0d0a, (x) => {
      x.u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff);
      option(x, 4, [...Buffer.from('test')]);
      x.u32(0);
    });
    block(1, (x) => {
      x.u16(1).u16(0).u32(4); // Ethernet, snaplen 4
      option(x, 2, [...Buffer.from('eth0')]);
      x.u32(0);
    });
    block(1, (x) => {
      x.u16(101).u16(0).u32(0);
      option(x, 9, [9]); // nanoseconds
      option(x, 14, little ? [10, 0, 0, 0, 0, 0, 0, 0] : [0, 0, 0, 0, 0, 0, 0, 10]); // +10 s
      x.u32(0);
    });
    block(4, (x) => x.u16(1).u16(4).u8(10, 0, 0, 1).u16(0).u16(0)); // NRB: skipped
    block(6, (x) => {
      // EPB on interface 1, ts = 3 * 2^32 + 5 ns
      x.u32(1).u32(3).u32(5).u32(5).u32(9).u8(0x45, 1, 2, 3, 4);
      while (x.parts.length % 4) x.u8(0);
      option(x, 1, [...Buffer.from('hello')]);
      option(x, 2, little ? [1, 0, 0, 0] : [0, 0, 0, 1]);
      x.u32(0);
    });
    block(3, (x) => x.u32(6).u8(9, 8, 7, 6, 5, 4)); // SPB on interface 0, snaplen 4 truncates
    block(2, (x) => x.u16(0).u16(0).u32(0).u32(2_000_000).u32(1).u32(1).u8(7)); // obsolete PB, microseconds
    block(5, (x) => x.u32(0).u32(0).u32(0)); // ISB: skipped
    block(0x40000bad, (x) => x.u32(32473).u8(1, 2, 3, 4)); // custom: skipped
    // A second section with the other byte order: interfaces restart.
    const second = new Bytes(!little);
    second.u32(0x0a0d0d0a).u32(28).u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff).u32(28);
    second.u32(1).u32(20).u16(229).u16(0).u32(0).u32(20);
    second.u32(6).u32(36).u32(0).u32(0).u32(1000).u32(2).u32(2).u8(0x60, 0, 0, 0).u32(36);
    const file = Uint8Array.from([...b.parts, ...second.parts]);

    const reader = await CaptureReader.open(file);
    assert.equal(reader.format, 'pcapng');
    const packets = [];
    for await (const p of reader) packets.push(p);
    assert.equal(packets.length, 4);
    const [epb, spb, pb, v6] = packets;
    assert.deepEqual(epb!.data, Uint8Array.of(0x45, 1, 2, 3, 4));
    assert.equal(epb!.linkType, 101);
    assert.equal(epb!.interfaceId, 1);
    assert.equal(epb!.originalLength, 9);
    assert.equal(epb!.timestamp, (3n << 32n) + 5n + 10_000_000_000n);
    assert.deepEqual(epb!.comments, ['hello']);
    assert.equal(epb!.flags, 1);
    assert.deepEqual(spb!.data, Uint8Array.of(9, 8, 7, 6));
    assert.equal(spb!.originalLength, 6);
    assert.equal(spb!.linkType, 1);
    assert.equal(pb!.timestamp, 2_000_000_000n); // 2,000,000 us
    assert.equal(v6!.linkType, 229);
    assert.equal(v6!.timestamp, 1000n * 1000n);
    assert.equal(v6!.offset, b.parts.length + 28 + 20);
    assert.equal(reader.littleEndian, !little);
    assert.equal(reader.interfaces.length, 1);
  });
}

test('modified (Kuznetzov) pcap records carry 8 extra header bytes', async () => {
  const b = new Bytes(true).u32(0xa1b2cd34).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(1);
  b.u32(1).u32(2).u32(2).u32(2).u32(3).u16(0x800).u8(0, 0).u8(0xaa, 0xbb);
  const [p] = await readCaptureAll(b.bytes());
  assert.deepEqual(p!.data, Uint8Array.of(0xaa, 0xbb));
  assert.equal(p!.timestamp, 1_000_002_000n);
});

test('writers round-trip through the readers (pcap us/ns, pcapng, both byte orders)', async () => {
  const packets = [
    { data: Uint8Array.of(1, 2, 3, 4), timestamp: 1_700_000_000_123_456_789n, originalLength: 100 },
    { data: new Uint8Array(1500).fill(7), timestamp: 1n },
  ];
  for (const format of ['pcap', 'pcapng'] as const) {
    for (const littleEndian of [true, false]) {
      for (const nanosecond of [true, false]) {
        const file = encodeCapture(packets, { format, littleEndian, nanosecond, linkType: LinkType.RAW });
        const back = await readCaptureAll(file);
        assert.equal(back.length, 2);
        const precise = format === 'pcapng' || nanosecond;
        assert.equal(back[0]!.timestamp, precise ? packets[0]!.timestamp : 1_700_000_000_123_456_000n);
        assert.equal(back[1]!.timestamp, precise ? 1n : 0n);
        assert.deepEqual(back[0]!.data, packets[0]!.data);
        assert.equal(back[0]!.originalLength, 100);
        assert.deepEqual(back[1]!.data, packets[1]!.data);
        assert.equal(back[1]!.linkType, LinkType.RAW);
      }
    }
  }
  const withComment = encodeCapture([{ data: Uint8Array.of(9), comments: ['a', 'bc'], linkType: 228 }, { data: Uint8Array.of(8) }], { format: 'pcapng' });
  const back = await readCaptureAll(withComment);
  assert.deepEqual(back[0]!.comments, ['a', 'bc']);
  assert.deepEqual([back[0]!.linkType, back[1]!.linkType, back[1]!.interfaceId], [228, 1, 1]);
});

test('pcap writer refuses a second link type and inconsistent lengths', () => {
  const w = new PcapWriter({ write() {}, close() {} });
  assert.throws(() => w.write({ data: Uint8Array.of(1), linkType: 101 }), /one link type/);
  assert.throws(() => w.write({ data: Uint8Array.of(1, 2), originalLength: 1 }), /less than/);
});

test('streams a large file from disk in chunks with bounded memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-pcap-'));
  try {
    const path = join(dir, 'big.pcap');
    const writer = new PcapWriter(path);
    const count = 200_000;
    const data = new Uint8Array(300);
    for (let i = 0; i < count; i++) {
      data[0] = i & 0xff;
      data[1] = i >> 8;
      writer.write({ data, timestamp: BigInt(i) * 1000n });
    }
    writer.close();
    let seen = 0;
    let sum = 0;
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for await (const p of (await CaptureReader.open(path))) {
      assert.equal(p.data[0]! | (p.data[1]! << 8), seen & 0xffff);
      assert.equal(p.timestamp, BigInt(seen) * 1000n);
      sum += p.data.length;
      seen++;
      if (seen % 5000 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    assert.equal(seen, count);
    assert.equal(sum, count * 300);
    // The file is ~63 MB; a streaming reader holds a few 1 MiB chunks (plus garbage not yet collected),
    // far less than the file.
    assert.ok(peak < 24 << 20, `arrayBuffers grew by ${peak} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chunk boundaries anywhere give the same packets', async () => {
  const file = encodeCapture(
    Array.from({ length: 20 }, (_, i) => ({ data: new Uint8Array(i * 7).fill(i), timestamp: BigInt(i) })),
    { format: 'pcapng' },
  );
  const whole = await readCaptureAll(file);
  for (const size of [1, 3, 13, 64]) {
    const chunks = [];
    for (let i = 0; i < file.length; i += size) chunks.push(file.slice(i, i + size));
    assert.deepEqual(await readCaptureAll(chunks), whole);
  }
});

async function rejects(bytes: Uint8Array, pattern: RegExp, offset?: number): Promise<void> {
  await assert.rejects(readCaptureAll(bytes), (error: unknown) => {
    assert.ok(error instanceof PcapError, `expected PcapError, got ${String(error)}`);
    assert.match(error.message, pattern);
    if (offset !== undefined) assert.equal(error.offset, offset);
    return true;
  });
}

test('malformed and truncated files: PcapError naming the offset and the problem', async () => {
  await rejects(Uint8Array.of(1, 2), /too short/, 0);
  await rejects(Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0), /not a pcap or pcapng file: magic 0xdeadbeef/, 0);
  const good = pcapFile(true, 0xa1b2c3d4, 1, [[1, 2, [1, 2, 3, 4]]]);
  await rejects(good.slice(0, 20), /file header is truncated/, 0);
  await rejects(good.slice(0, 30), /truncated packet record header: 6 of 16/, 24);
  await rejects(good.slice(0, good.length - 1), /truncated packet: 4 bytes declared, 3 present/, 40);
  await rejects(pcapFile(true, 0xa1b2c3d4, 1, [[1, 2, [1, 2, 3, 4], 2]]), /captured length 4 exceeds the original length 2/, 32);
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(32, 0x7fffffff, true);
  await rejects(huge, /captured length 2147483647 is larger than the snap length/, 32);
  const version = good.slice();
  version[4] = 3;
  await rejects(version, /pcap version 3\.4/, 4);

  const ng = encodeCapture([{ data: Uint8Array.of(1, 2, 3) }], { format: 'pcapng' });
  const badTrailer = ng.slice();
  badTrailer[badTrailer.length - 4] ^= 4;
  await rejects(badTrailer, /ends with length/);
  await rejects(ng.slice(0, ng.length - 2), /truncated block type 0x6/);
  const badBom = ng.slice();
  badBom[8] = 0;
  await rejects(badBom, /byte-order magic/, 8);
  const badLength = ng.slice();
  badLength[4] = 13;
  await rejects(badLength, /not a multiple of 4/, 4);
  // An EPB naming an interface that was never described.
  const shbLength = new DataView(ng.buffer).getUint32(4, true);
  const idbLength = new DataView(ng.buffer).getUint32(shbLength + 4, true);
  const noIface = Uint8Array.from([...ng.subarray(0, shbLength), ...ng.subarray(shbLength + idbLength)]);
  await rejects(noIface, /interface 0, but the section has described 0/);
  // Captured length larger than the block.
  const epbAt = shbLength + idbLength;
  const overrun = ng.slice();
  new DataView(overrun.buffer).setUint32(epbAt + 20, 200, true);
  await rejects(overrun, /runs past the end of its block/);
  // An option running past its block.
  const opt = ng.slice();
  new DataView(opt.buffer).setUint16(24 + 2, 200, true);
  await rejects(opt, /option 4 of 200 bytes runs past/, 24);
});

test('link-layer headers of every supported link type convert to Ethernet', () => {
  const ip4 = Uint8Array.of(0x45, 0, 0, 20);
  const ip6 = Uint8Array.of(0x60, 0, 0, 0);
  const cases: [number, Uint8Array, number, number][] = [
    [LinkType.NULL, Uint8Array.of(2, 0, 0, 0, ...ip4), 4, ETH_P_IP],
    [LinkType.NULL, Uint8Array.of(0, 0, 0, 30, ...ip6), 4, ETH_P_IPV6],
    [LinkType.LOOP, Uint8Array.of(0, 0, 0, 2, ...ip4), 4, ETH_P_IP],
    [LinkType.RAW, ip6, 0, ETH_P_IPV6],
    [LinkType.IPV4, ip4, 0, ETH_P_IP],
    [LinkType.IPV6, ip6, 0, ETH_P_IPV6],
    [LinkType.LINUX_SLL, Uint8Array.of(0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd, ...ip6), 16, ETH_P_IPV6],
    [LinkType.LINUX_SLL2, Uint8Array.of(0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...ip4), 20, ETH_P_IP],
  ];
  for (const [linkType, frame, headerLength, protocol] of cases) {
    assert.deepEqual(parseLinkHeader(linkType, frame), { headerLength, protocol }, `link type ${linkType}`);
    const eth = toEthernet(linkType, frame);
    assert.equal(eth.length, frame.length - headerLength + 14);
    assert.equal((eth[12]! << 8) | eth[13]!, protocol);
    assert.deepEqual(eth.subarray(14), frame.subarray(headerLength));
  }
  const ethernetFrame = new Uint8Array(20);
  assert.equal(toEthernet(LinkType.ETHERNET, ethernetFrame), ethernetFrame);
  assert.throws(() => toEthernet(LinkType.ETHERNET, new Uint8Array(10)), /10-byte frame is shorter than the 14-byte ETHERNET header/);
  assert.throws(() => toEthernet(LinkType.RAW, Uint8Array.of(0x50)), /IP version 5/);
  assert.throws(() => toEthernet(105, new Uint8Array(30)), /IEEE802_11 cannot be converted/);
});

test('reads a file by path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-pcap-'));
  try {
    const path = join(dir, 'x.pcapng');
    writeFileSync(path, encodeCapture([{ data: Uint8Array.of(5) }], { format: 'pcapng' }));
    const packets = await readCaptureAll(path);
    assert.deepEqual(packets[0]!.data, Uint8Array.of(5));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a capture file read in 1 MiB reads: records cut at every read boundary, and records longer than a read, come out as from the bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-reads-'));
  try {
    const path = join(dir, 'big.pcap');
    const writer = new PcapWriter(path, { snapLength: 4 << 20 });
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) >>> 0);
    // About 4.5 MiB: small records of every length cut at the 1 MiB read boundaries, and a few of 300 KiB to 1.5 MiB.
    for (let i = 0; i < 9000; i++) {
      const length = i % 1500 === 700 ? (300 << 10) + ((next() % 5) << 18) : 14 + (next() % 400);
      const data = new Uint8Array(length);
      for (let k = 0; k < length; k += 97) data[k] = next() & 0xff;
      data[length - 1] = i & 0xff;
      writer.write({ data, timestamp: BigInt(i) * 1_000_123n });
    }
    writer.close();
    const fromFile = await readCaptureAll(path);
    const fromBytes = await readCaptureAll(readFileSync(path));
    assert.equal(fromFile.length, 9000);
    assert.deepEqual(fromFile, fromBytes);
    // The batch path (the record walk) over the same file, closed early once, then to the end.
    for (const stopAfter of [3, Infinity]) {
      const reader = await CaptureReader.open(path);
      const batch = new CaptureBatch(1000);
      let n = 0;
      let batches = 0;
      while (batches++ < stopAfter && (await reader.readBatch(batch)) > 0) {
        for (let k = 0; k < batch.count; k++, n++) assert.deepEqual(batch.data(k), fromBytes[n]!.data, `packet ${n}`);
      }
      await reader.close();
      if (stopAfter === Infinity) assert.equal(n, 9000);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
