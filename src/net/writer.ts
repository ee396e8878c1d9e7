/**
 * Capture writers: classic pcap (microsecond or nanosecond) and pcapng
 * (one section, an interface per link type seen, Enhanced Packet Blocks with
 * optional comments). Output goes to a `ByteSink`: a file (buffered, written
 * synchronously so memory stays constant) or memory.
 */
import { closeFile, openFileForWriting, writeFileBytes } from '../host/node.ts';
import { PcapError } from './errors.ts';
import { LinkType } from './linktype.ts';

export interface ByteSink {
  write(bytes: Uint8Array): void;
  close(): void;
}

/** Buffers writes to a file in 64 KiB blocks. */
export class FileSink implements ByteSink {
  private readonly fd: number;
  private readonly buffer = new Uint8Array(1 << 16);
  private used = 0;

  constructor(path: string) {
    this.fd = openFileForWriting(path);
  }

  write(bytes: Uint8Array): void {
    if (this.used + bytes.length > this.buffer.length) this.flush();
    if (bytes.length >= this.buffer.length) {
      writeFileBytes(this.fd, bytes);
      return;
    }
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
  }

  private flush(): void {
    writeFileBytes(this.fd, this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  close(): void {
    this.flush();
    closeFile(this.fd);
  }
}

/** Collects the output in memory; `bytes()` concatenates it. */
export class MemorySink implements ByteSink {
  private readonly chunks: Uint8Array[] = [];

  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
  }

  close(): void {}

  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** What a writer needs of a packet; `CapturedPacket` from the readers fits. */
export interface PacketRecord {
  data: Uint8Array;
  /** Defaults to data.length. */
  originalLength?: number;
  /** Nanoseconds since the epoch (default 0). */
  timestamp?: bigint;
  /** pcapng only: written as opt_comment. */
  comments?: string[];
  /** pcapng: the link type of this packet's interface (default: the writer's). */
  linkType?: number;
}

export interface WriterOptions {
  linkType?: number;
  snapLength?: number;
  /** pcap: nanosecond magic (default true: no precision is lost). */
  nanosecond?: boolean;
  littleEndian?: boolean;
}

export interface CaptureWriter {
  write(packet: PacketRecord): void;
  close(): void;
}

function toSink(target: string | ByteSink): ByteSink {
  return typeof target === 'string' ? new FileSink(target) : target;
}

function checkLength(packet: PacketRecord): number {
  const original = packet.originalLength ?? packet.data.length;
  if (original < packet.data.length) throw new PcapError(`original length ${original} is less than the ${packet.data.length} captured bytes`);
  if (original > 0xffffffff) throw new PcapError(`original length ${original} does not fit in 32 bits`);
  return original;
}

export class PcapWriter implements CaptureWriter {
  private readonly sink: ByteSink;
  private readonly little: boolean;
  private readonly nanosecond: boolean;
  readonly linkType: number;

  constructor(target: string | ByteSink, options: WriterOptions = {}) {
    this.sink = toSink(target);
    this.little = options.littleEndian ?? true;
    this.nanosecond = options.nanosecond ?? true;
    this.linkType = options.linkType ?? LinkType.ETHERNET;
    const header = new DataView(new ArrayBuffer(24));
    header.setUint32(0, this.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, this.little);
    header.setUint16(4, 2, this.little);
    header.setUint16(6, 4, this.little);
    header.setUint32(16, options.snapLength ?? 262144, this.little);
    header.setUint32(20, this.linkType, this.little);
    this.sink.write(new Uint8Array(header.buffer));
  }

  write(packet: PacketRecord): void {
    if (packet.linkType !== undefined && packet.linkType !== this.linkType) {
      throw new PcapError(`pcap holds one link type (${this.linkType}); this packet is link type ${packet.linkType} (write pcapng instead)`);
    }
    const original = checkLength(packet);
    const ts = packet.timestamp ?? 0n;
    const unit = this.nanosecond ? 1_000_000_000n : 1_000_000n;
    const units = this.nanosecond ? ts : ts / 1000n;
    const seconds = units / unit;
    if (seconds > 0xffffffffn || seconds < 0n) throw new PcapError(`timestamp ${ts} ns does not fit pcap's unsigned 32-bit seconds`);
    const record = new Uint8Array(16 + packet.data.length);
    const view = new DataView(record.buffer);
    view.setUint32(0, Number(seconds), this.little);
    view.setUint32(4, Number(units % unit), this.little);
    view.setUint32(8, packet.data.length, this.little);
    view.setUint32(12, original, this.little);
    record.set(packet.data, 16);
    this.sink.write(record);
  }

  close(): void {
    this.sink.close();
  }
}

const encoder = new TextEncoder();

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Encodes a pcapng block: type, total length, body, options, total length. */
function block(type: number, body: Uint8Array, options: [number, Uint8Array][], little: boolean): Uint8Array {
  const optionBytes = options.length === 0 ? 0 : options.reduce((n, [, v]) => n + 4 + pad4(v.length), 0) + 4;
  const length = 12 + pad4(body.length) + optionBytes;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, type, little);
  view.setUint32(4, length, little);
  out.set(body, 8);
  let at = 8 + pad4(body.length);
  for (const [code, value] of options) {
    view.setUint16(at, code, little);
    view.setUint16(at + 2, value.length, little);
    out.set(value, at + 4);
    at += 4 + pad4(value.length);
  }
  // The end-of-options marker is already zero.
  view.setUint32(length - 4, length, little);
  return out;
}

export class PcapngWriter implements CaptureWriter {
  private readonly sink: ByteSink;
  private readonly little: boolean;
  private readonly snapLength: number;
  private readonly defaultLinkType: number;
  /** Interface id by link type. */
  private readonly interfaces = new Map<number, number>();

  constructor(target: string | ByteSink, options: WriterOptions & { application?: string } = {}) {
    this.sink = toSink(target);
    this.little = options.littleEndian ?? true;
    this.snapLength = options.snapLength ?? 0;
    this.defaultLinkType = options.linkType ?? LinkType.ETHERNET;
    const body = new DataView(new ArrayBuffer(16));
    body.setUint32(0, 0x1a2b3c4d, this.little);
    body.setUint16(4, 1, this.little);
    body.setUint16(6, 0, this.little);
    body.setBigInt64(8, -1n, this.little);
    const shbUserAppl = 4;
    this.sink.write(block(0x0a0d0d0a, new Uint8Array(body.buffer), [[shbUserAppl, encoder.encode(options.application ?? 'tsbpf')]], this.little));
  }

  private interfaceFor(linkType: number): number {
    let id = this.interfaces.get(linkType);
    if (id === undefined) {
      id = this.interfaces.size;
      this.interfaces.set(linkType, id);
      const body = new DataView(new ArrayBuffer(8));
      body.setUint16(0, linkType, this.little);
      body.setUint32(4, this.snapLength, this.little);
      const ifTsresol = 9;
      this.sink.write(block(1, new Uint8Array(body.buffer), [[ifTsresol, Uint8Array.of(9)]], this.little));
    }
    return id;
  }

  write(packet: PacketRecord): void {
    const original = checkLength(packet);
    const id = this.interfaceFor(packet.linkType ?? this.defaultLinkType);
    const ts = packet.timestamp ?? 0n;
    if (ts < 0n || ts >= 1n << 64n) throw new PcapError(`timestamp ${ts} ns does not fit pcapng's 64 bits`);
    const body = new Uint8Array(20 + packet.data.length);
    const view = new DataView(body.buffer);
    view.setUint32(0, id, this.little);
    view.setUint32(4, Number(ts >> 32n), this.little);
    view.setUint32(8, Number(ts & 0xffffffffn), this.little);
    view.setUint32(12, packet.data.length, this.little);
    view.setUint32(16, original, this.little);
    body.set(packet.data, 20);
    const options = (packet.comments ?? []).map((c): [number, Uint8Array] => [1, encoder.encode(c)]);
    this.sink.write(block(6, body, options, this.little));
  }

  close(): void {
    this.sink.close();
  }
}

/** Encodes packets as a pcap (default) or pcapng file in memory. */
export function encodeCapture(packets: Iterable<PacketRecord>, options: WriterOptions & { format?: 'pcap' | 'pcapng' } = {}): Uint8Array {
  const sink = new MemorySink();
  const writer = options.format === 'pcapng' ? new PcapngWriter(sink, options) : new PcapWriter(sink, options);
  for (const packet of packets) writer.write(packet);
  writer.close();
  return sink.bytes();
}
