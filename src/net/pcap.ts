/**
 * Capture files: classic pcap (microsecond and nanosecond magic, both byte
 * orders, and the "modified" Kuznetzov variant) and pcapng (sections,
 * several interfaces with their own link type, snap length and timestamp
 * resolution; Enhanced, Simple and obsolete Packet blocks; every other block
 * skipped). Readers stream: they hold one record at a time whatever the
 * file's size. Malformed input raises PcapError with the byte offset.
 */
import { PcapError } from './errors.ts';
import { PcapScanner, type ScanArea, type ScanPlacement } from './pcap-scan.ts';
import { ByteStream, type ByteSource } from './source.ts';
import { linkTypeName } from './linktype.ts';

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CaptureInterface {
  /** LINKTYPE_* of the frames captured on it. */
  linkType: number;
  /** Maximum captured length (0: unlimited). */
  snapLength: number;
  /** Timestamp units per second (1e6 for microsecond pcap, 1e9 for nanosecond...). */
  unitsPerSecond: bigint;
  /** pcapng if_tsoffset: seconds added to every timestamp. */
  offsetSeconds: bigint;
  /** pcapng if_name / if_description, when present. */
  name?: string;
  description?: string;
}

export interface CapturedPacket {
  /** The captured bytes (owned by the caller). */
  data: Uint8Array;
  /** Length of the packet on the wire (>= data.length). */
  originalLength: number;
  /** Nanoseconds since the Unix epoch. */
  timestamp: bigint;
  /** Index into the reader's `interfaces` (always 0 for pcap). */
  interfaceId: number;
  linkType: number;
  /** Byte offset of the packet's record in the file. */
  offset: number;
  /** pcapng opt_comment values. */
  comments?: string[];
  /** pcapng epb_flags (direction, reception type...). */
  flags?: number;
}

/**
 * Packets read at once by `CaptureReader.readBatch`, as columns (no object
 * per packet): packet `i` is `bytes[start[i], start[i] + length[i])`. The
 * arrays are reused by the next `readBatch` of the same reader, and `bytes`
 * may be the reader's own buffer: copy what must outlive the batch.
 */
export class CaptureBatch {
  count = 0;
  bytes: Uint8Array = new Uint8Array(0);
  readonly start: Int32Array;
  readonly length: Int32Array;
  readonly originalLength: Float64Array;
  /** The timestamp as whole seconds since the epoch and nanoseconds within the second. */
  readonly seconds: Float64Array;
  readonly nanoseconds: Uint32Array;
  readonly linkType: Uint16Array;
  /** Byte offset of each packet's record in the file. */
  readonly offset: Float64Array;
  /** pcapng: the packets as read, with their interface, comments and flags (pcap records have none of these). */
  records: CapturedPacket[] | undefined;
  /**
   * Set when `readBatch` was given a ScanArea and parsed the batch there:
   * where `bytes[0]` and the start and length columns (u32) also lie in that
   * memory, until the next `readBatch`.
   */
  placement: ScanPlacement | undefined;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a capture batch holds at least one packet, not ${capacity}`);
    this.start = new Int32Array(capacity);
    this.length = new Int32Array(capacity);
    this.originalLength = new Float64Array(capacity);
    this.seconds = new Float64Array(capacity);
    this.nanoseconds = new Uint32Array(capacity);
    this.linkType = new Uint16Array(capacity);
    this.offset = new Float64Array(capacity);
  }

  /** Packet `i`'s timestamp in nanoseconds since the epoch. */
  timestamp(i: number): bigint {
    return BigInt(this.seconds[i]!) * 1_000_000_000n + BigInt(this.nanoseconds[i]!);
  }

  /** Packet `i`'s bytes (a view, valid as long as the batch). */
  data(i: number): Uint8Array {
    return this.bytes.subarray(this.start[i]!, this.start[i]! + this.length[i]!);
  }
}

/** Captured lengths above this are corrupt, not big packets (libpcap uses 256 KiB; pcapng blocks are kept under 64 MiB). */
const MAX_RECORD = 64 << 20;
const PCAP_MAX_CAPLEN = 262144;

/**
 * The largest captured length a pcap record may declare: the file's snap
 * length (at least libpcap's 256 KiB), but never past MAX_RECORD, so that
 * a header claiming a 4 GiB snap length cannot make a stream buffer that much.
 */
const recordLimit = (snapLength: number): number => Math.max(Math.min(snapLength, MAX_RECORD), PCAP_MAX_CAPLEN);

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const BLOCK_IDB = 1;
const BLOCK_PB = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const EPB_FLAGS = 2;

const utf8 = new TextDecoder('utf-8', { fatal: false });

function u32(bytes: Uint8Array, at: number, little: boolean): number {
  return little
    ? (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0
    : ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function u16(bytes: Uint8Array, at: number, little: boolean): number {
  return little ? bytes[at]! | (bytes[at + 1]! << 8) : (bytes[at]! << 8) | bytes[at + 1]!;
}

interface RawOption {
  code: number;
  value: Uint8Array;
}

/** Parses a pcapng option list occupying all of `bytes` (which starts at file offset `base`). */
function parseOptions(bytes: Uint8Array, little: boolean, base: number): RawOption[] {
  const options: RawOption[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new PcapError(`option header needs 4 bytes, ${bytes.length - at} left in the block`, base + at);
    const code = u16(bytes, at, little);
    const length = u16(bytes, at + 2, little);
    if (code === OPT_ENDOFOPT) break;
    const padded = (length + 3) & ~3;
    if (at + 4 + padded > bytes.length) {
      throw new PcapError(`option ${code} of ${length} bytes runs past the end of its block`, base + at);
    }
    options.push({ code, value: bytes.slice(at + 4, at + 4 + length) });
    at += 4 + padded;
  }
  return options;
}

function nanoseconds(units: bigint, iface: CaptureInterface): bigint {
  const ns = iface.unitsPerSecond === 1_000_000_000n ? units : (units * 1_000_000_000n) / iface.unitsPerSecond;
  return ns + iface.offsetSeconds * 1_000_000_000n;
}

/**
 * A capture being read. `open` reads the file header; iterate to get the
 * packets. pcapng interfaces are added to `interfaces` as their blocks are
 * met (a new section starts a new list, as the format says).
 */
export class CaptureReader implements AsyncIterable<CapturedPacket> {
  format!: CaptureFormat;
  /** Byte order of the current section. */
  littleEndian = true;
  interfaces: CaptureInterface[] = [];
  /** pcap only: the magic's precision. */
  nanosecond = false;
  private modified = false;
  private iterating = false;

  private constructor(private readonly stream: ByteStream) {}

  /** Opens a capture and reads its header. Throws PcapError if it is not pcap or pcapng. */
  static async open(source: ByteSource): Promise<CaptureReader> {
    const reader = new CaptureReader(new ByteStream(source));
    try {
      await reader.readHeader();
    } catch (error) {
      await reader.stream.close();
      throw error;
    }
    return reader;
  }

  private async readHeader(): Promise<void> {
    const s = this.stream;
    if (!(await s.fill(4))) throw new PcapError(`file is ${s.buffered} bytes long, too short for a capture header`, 0);
    const head = s.peek(4);
    const le = u32(head, 0, true);
    const be = u32(head, 0, false);
    if (be === PCAPNG_SHB) {
      this.format = 'pcapng';
      await this.readSectionHeader();
      return;
    }
    const magic = [PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_MODIFIED];
    if (magic.includes(le)) this.littleEndian = true;
    else if (magic.includes(be)) this.littleEndian = false;
    else throw new PcapError(`not a pcap or pcapng file: magic 0x${be.toString(16).padStart(8, '0')}`, 0);
    this.format = 'pcap';
    const value = this.littleEndian ? le : be;
    this.nanosecond = value === PCAP_MAGIC_NS;
    this.modified = value === PCAP_MAGIC_MODIFIED;
    if (!(await s.fill(24))) throw new PcapError(`pcap file header is truncated: ${s.buffered} of 24 bytes`, 0);
    const h = s.take(24);
    const major = u16(h, 4, this.littleEndian);
    if (major !== 2) throw new PcapError(`pcap version ${major}.${u16(h, 6, this.littleEndian)} is not 2.x`, 4);
    this.interfaces = [
      {
        linkType: u32(h, 20, this.littleEndian) & 0xffff,
        snapLength: u32(h, 16, this.littleEndian),
        unitsPerSecond: this.nanosecond ? 1_000_000_000n : 1_000_000n,
        offsetSeconds: 0n,
      },
    ];
  }

  /** Reads a whole pcapng block at the current position: [type, body, offset], or undefined at a clean end of file. */
  private async readBlock(): Promise<[number, Uint8Array, number] | undefined> {
    const s = this.stream;
    const offset = s.offset;
    if (!(await s.fill(1))) return undefined;
    if (!(await s.fill(12))) throw new PcapError(`truncated block: ${s.buffered} bytes left, a block takes at least 12`, offset);
    let head = s.peek(12);
    if (u32(head, 0, true) === PCAPNG_SHB) {
      // A new section may switch byte order: read it from its byte-order magic.
      const bom = u32(head, 8, true);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = true;
      else if (u32(head, 8, false) === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = false;
      else throw new PcapError(`section header byte-order magic is 0x${u32(head, 8, false).toString(16)}, not 0x1a2b3c4d`, offset + 8);
    }
    const little = this.littleEndian;
    const type = u32(head, 0, little);
    const length = u32(head, 4, little);
    if (length < 12 || length % 4 !== 0) throw new PcapError(`block type 0x${type.toString(16)} has length ${length}: not a multiple of 4 of at least 12`, offset + 4);
    if (length > MAX_RECORD) throw new PcapError(`block type 0x${type.toString(16)} claims ${length} bytes, more than the ${MAX_RECORD}-byte limit`, offset + 4);
    if (!(await s.fill(length))) throw new PcapError(`truncated block type 0x${type.toString(16)}: ${length} bytes declared, ${s.buffered} present`, offset);
    const block = s.take(length);
    head = block;
    const trailer = u32(block, length - 4, little);
    if (trailer !== length) throw new PcapError(`block type 0x${type.toString(16)} ends with length ${trailer}, but starts with ${length}`, offset + length - 4);
    return [type, block.subarray(8, length - 4), offset];
  }

  private async readSectionHeader(): Promise<void> {
    const block = await this.readBlock();
    if (block === undefined) throw new PcapError('empty file', 0);
    this.startSection(block[1], block[2]);
  }

  private startSection(body: Uint8Array, offset: number): void {
    if (body.length < 16) throw new PcapError(`section header block body is ${body.length} bytes, needs 16`, offset);
    const major = u16(body, 4, this.littleEndian);
    if (major !== 1) throw new PcapError(`pcapng version ${major}.${u16(body, 6, this.littleEndian)} is not 1.x`, offset + 12);
    parseOptions(body.subarray(16), this.littleEndian, offset + 24);
    this.interfaces = [];
  }

  private addInterface(body: Uint8Array, offset: number): void {
    const little = this.littleEndian;
    if (body.length < 8) throw new PcapError(`interface description block body is ${body.length} bytes, needs 8`, offset);
    const iface: CaptureInterface = {
      linkType: u16(body, 0, little),
      snapLength: u32(body, 4, little),
      unitsPerSecond: 1_000_000n,
      offsetSeconds: 0n,
    };
    for (const option of parseOptions(body.subarray(8), little, offset + 16)) {
      if (option.code === IF_TSRESOL) {
        if (option.value.length !== 1) throw new PcapError(`if_tsresol option has ${option.value.length} bytes, not 1`, offset);
        const v = option.value[0]!;
        const exponent = BigInt(v & 0x7f);
        if ((v & 0x80) === 0 && exponent > 18n) throw new PcapError(`if_tsresol 10^-${exponent} is finer than attoseconds`, offset);
        iface.unitsPerSecond = v & 0x80 ? 1n << exponent : 10n ** exponent;
      } else if (option.code === IF_TSOFFSET) {
        if (option.value.length !== 8) throw new PcapError(`if_tsoffset option has ${option.value.length} bytes, not 8`, offset);
        const view = new DataView(option.value.buffer, option.value.byteOffset, 8);
        iface.offsetSeconds = view.getBigInt64(0, little);
      } else if (option.code === IF_NAME) iface.name = utf8.decode(option.value);
      else if (option.code === IF_DESCRIPTION) iface.description = utf8.decode(option.value);
    }
    this.interfaces.push(iface);
  }

  private interfaceAt(id: number, offset: number): CaptureInterface {
    const iface = this.interfaces[id];
    if (iface === undefined) {
      throw new PcapError(`packet refers to interface ${id}, but the section has described ${this.interfaces.length}`, offset);
    }
    return iface;
  }

  private checkLengths(captured: number, original: number, room: number, offset: number): void {
    if (captured > room) throw new PcapError(`captured length ${captured} runs past the end of its block (${room} bytes of packet data)`, offset);
    if (captured > original) throw new PcapError(`captured length ${captured} exceeds the original length ${original}`, offset);
  }

  private async nextPcapng(): Promise<CapturedPacket | undefined> {
    for (;;) {
      const block = await this.readBlock();
      if (block === undefined) return undefined;
      const [type, body, offset] = block;
      const little = this.littleEndian;
      switch (type) {
        case PCAPNG_SHB:
          this.startSection(body, offset);
          break;
        case BLOCK_IDB:
          this.addInterface(body, offset);
          break;
        case BLOCK_EPB:
        case BLOCK_PB: {
          if (body.length < 20) throw new PcapError(`packet block body is ${body.length} bytes, needs 20`, offset);
          const interfaceId = type === BLOCK_EPB ? u32(body, 0, little) : u16(body, 0, little);
          const iface = this.interfaceAt(interfaceId, offset + 8);
          const units = (BigInt(u32(body, 4, little)) << 32n) | BigInt(u32(body, 8, little));
          const captured = u32(body, 12, little);
          const original = u32(body, 16, little);
          this.checkLengths(captured, original, body.length - 20, offset + 20);
          const packet: CapturedPacket = {
            data: body.slice(20, 20 + captured),
            originalLength: original,
            timestamp: nanoseconds(units, iface),
            interfaceId,
            linkType: iface.linkType,
            offset,
          };
          const optionsAt = 20 + ((captured + 3) & ~3);
          for (const option of parseOptions(body.subarray(optionsAt), little, offset + 8 + optionsAt)) {
            if (option.code === OPT_COMMENT) (packet.comments ??= []).push(utf8.decode(option.value));
            else if (option.code === EPB_FLAGS && type === BLOCK_EPB && option.value.length === 4) packet.flags = u32(option.value, 0, little);
          }
          return packet;
        }
        case BLOCK_SPB: {
          if (body.length < 4) throw new PcapError(`simple packet block body is ${body.length} bytes, needs 4`, offset);
          const iface = this.interfaceAt(0, offset);
          const original = u32(body, 0, little);
          let captured = Math.min(original, body.length - 4);
          if (iface.snapLength > 0) captured = Math.min(captured, iface.snapLength);
          return {
            data: body.slice(4, 4 + captured),
            originalLength: original,
            timestamp: 0n,
            interfaceId: 0,
            linkType: iface.linkType,
            offset,
          };
        }
        default:
          // Name resolution, statistics, decryption secrets, custom and future blocks carry no packets.
          break;
      }
    }
  }

  private async nextPcap(): Promise<CapturedPacket | undefined> {
    const s = this.stream;
    const offset = s.offset;
    const headerLength = this.modified ? 24 : 16;
    if (!(await s.fill(1))) return undefined;
    if (!(await s.fill(headerLength))) throw new PcapError(`truncated packet record header: ${s.buffered} of ${headerLength} bytes`, offset);
    const h = s.peek(headerLength);
    const little = this.littleEndian;
    const seconds = u32(h, 0, little);
    const fraction = u32(h, 4, little);
    const captured = u32(h, 8, little);
    const original = u32(h, 12, little);
    const iface = this.interfaces[0]!;
    this.checkPcapRecord(h, 0, offset);
    if (!(await s.fill(headerLength + captured))) {
      throw new PcapError(`truncated packet: ${captured} bytes declared, ${s.buffered - headerLength} present`, offset + headerLength);
    }
    const record = s.take(headerLength + captured);
    const units = BigInt(seconds) * iface.unitsPerSecond + BigInt(fraction);
    return {
      data: record.slice(headerLength),
      originalLength: original,
      timestamp: nanoseconds(units, iface),
      interfaceId: 0,
      linkType: iface.linkType,
      offset,
    };
  }

  /**
   * Reads the next packets into `batch` (as many as it holds, or as are
   * buffered, at least one): returns how many, 0 at the end of the capture.
   * A classic pcap is parsed in place in the read buffer, with no
   * allocation per packet; pcapng packets are read one by one and copied.
   * With `area`, little-endian pcap records are parsed in that memory
   * (`batch.placement` says where). Do not mix with iterating the reader.
   */
  async readBatch(batch: CaptureBatch, area?: ScanArea): Promise<number> {
    batch.count = 0;
    batch.placement = undefined;
    if (this.format === 'pcapng') return this.readPcapngBatch(batch);
    const s = this.stream;
    const headerLength = this.modified ? 24 : 16;
    if (!(await s.fill(1))) return 0;
    // At least one whole record, then every whole record already buffered.
    if (!(await s.fill(headerLength))) throw new PcapError(`truncated packet record header: ${s.buffered} of ${headerLength} bytes`, s.offset);
    const first = this.checkPcapRecord(s.peek(headerLength), 0, s.offset);
    if (!(await s.fill(headerLength + first))) throw new PcapError(`truncated packet: ${first} bytes declared, ${s.buffered - headerLength} present`, s.offset + headerLength);
    const bytes = s.peek(s.buffered);
    const little = this.littleEndian;
    const iface = this.interfaces[0]!;
    const scanner = this.scanner(area);
    if (scanner !== undefined) {
      const limit = recordLimit(iface.snapLength);
      const { count, consumed } = scanner.read(batch, bytes, s.generation, s.position, s.offset, limit, this.nanosecond, iface.linkType);
      // None read: the first record is one the checks below report.
      if (count > 0) {
        batch.bytes = bytes;
        batch.count = count;
        batch.records = undefined;
        batch.placement = scanner.placement;
        s.take(consumed);
        return count;
      }
    }
    const nanosPerUnit = this.nanosecond ? 1 : 1000;
    const unitsPerSecond = this.nanosecond ? 1e9 : 1e6;
    let at = 0;
    let n = 0;
    while (n < batch.capacity && at + headerLength <= bytes.length) {
      const captured = this.checkPcapRecord(bytes, at, s.offset + at);
      if (at + headerLength + captured > bytes.length) break;
      const fraction = u32(bytes, at + 4, little);
      batch.seconds[n] = u32(bytes, at, little) + Math.floor(fraction / unitsPerSecond);
      batch.nanoseconds[n] = (fraction % unitsPerSecond) * nanosPerUnit;
      batch.start[n] = at + headerLength;
      batch.length[n] = captured;
      batch.originalLength[n] = u32(bytes, at + 12, little);
      batch.linkType[n] = iface.linkType;
      batch.offset[n] = s.offset + at;
      at += headerLength + captured;
      n++;
    }
    batch.bytes = bytes;
    batch.count = n;
    batch.records = undefined;
    s.take(at);
    return n;
  }

  private pcapScanner: PcapScanner | null | undefined;

  /** The WebAssembly record walk in `area` (or its own memory), for little-endian classic pcap (null where WebAssembly cannot be compiled). */
  private scanner(area: ScanArea | undefined): PcapScanner | undefined {
    if (this.pcapScanner === undefined || (this.pcapScanner !== null && this.pcapScanner.area !== area)) {
      try {
        this.pcapScanner = this.littleEndian && !this.modified ? new PcapScanner(area) : null;
      } catch {
        this.pcapScanner = null;
      }
    }
    return this.pcapScanner ?? undefined;
  }

  /** Checks the pcap record header at `bytes[at]` (file offset `offset`) and returns its captured length. */
  private checkPcapRecord(bytes: Uint8Array, at: number, offset: number): number {
    const captured = u32(bytes, at + 8, this.littleEndian);
    const original = u32(bytes, at + 12, this.littleEndian);
    const iface = this.interfaces[0]!;
    const limit = recordLimit(iface.snapLength);
    if (captured > limit) throw new PcapError(`captured length ${captured} is larger than the snap length ${iface.snapLength} allows${limit < iface.snapLength ? ` (records are read up to ${limit} bytes)` : ''}`, offset + 8);
    if (captured > original) throw new PcapError(`captured length ${captured} exceeds the original length ${original}`, offset + 8);
    return captured;
  }

  private async readPcapngBatch(batch: CaptureBatch): Promise<number> {
    const packets: CapturedPacket[] = [];
    let total = 0;
    // A batch of pcapng packets stops at about 1 MiB of data, whatever its capacity.
    while (packets.length < batch.capacity && total < 1 << 20) {
      const packet = await this.nextPcapng();
      if (packet === undefined) break;
      packets.push(packet);
      total += packet.data.length;
    }
    const bytes = new Uint8Array(total);
    let at = 0;
    packets.forEach((p, n) => {
      bytes.set(p.data, at);
      batch.start[n] = at;
      batch.length[n] = p.data.length;
      batch.originalLength[n] = p.originalLength;
      batch.seconds[n] = Number(p.timestamp / 1_000_000_000n);
      batch.nanoseconds[n] = Number(p.timestamp % 1_000_000_000n);
      batch.linkType[n] = p.linkType;
      batch.offset[n] = p.offset;
      at += p.data.length;
    });
    batch.bytes = bytes;
    batch.count = packets.length;
    batch.records = packets;
    return packets.length;
  }

  /** The next packet, or undefined at the end of the capture. */
  async next(): Promise<CapturedPacket | undefined> {
    return this.format === 'pcap' ? this.nextPcap() : this.nextPcapng();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<CapturedPacket, void, undefined> {
    if (this.iterating) throw new PcapError('a capture can be iterated only once');
    this.iterating = true;
    try {
      for (;;) {
        const packet = await this.next();
        if (packet === undefined) return;
        yield packet;
      }
    } finally {
      await this.stream.close();
    }
  }

  /** Stops reading (closes the file) before the end. */
  close(): Promise<void> {
    return this.stream.close();
  }

  describe(): string {
    const links = [...new Set(this.interfaces.map((i) => linkTypeName(i.linkType)))].join(', ');
    return `${this.format}${this.format === 'pcap' ? (this.nanosecond ? ' (ns)' : ' (us)') : ''}, ${this.littleEndian ? 'little' : 'big'}-endian, ${links}`;
  }
}

/** Streams the packets of a capture file (pcap or pcapng). */
export async function* readCapture(source: ByteSource): AsyncGenerator<CapturedPacket, void, undefined> {
  yield* await CaptureReader.open(source);
}

/** Reads a whole capture into memory (small files and tests). */
export async function readCaptureAll(source: ByteSource): Promise<CapturedPacket[]> {
  const packets: CapturedPacket[] = [];
  for await (const packet of readCapture(source)) packets.push(packet);
  return packets;
}
