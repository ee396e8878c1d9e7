/**
 * The record walk of classic little-endian pcap files in WebAssembly, for
 * CaptureReader.readBatch: a capture's first batches are where JavaScript
 * runs before V8 has optimised it (hundreds of nanoseconds per record),
 * while a WebAssembly function is compiled before its first call. The
 * module is a few hundred bytes, encoded here; it holds the read buffer's
 * bytes and the batch columns in its own memory, or in the caller's (the
 * VM's: the packets are then run where they were parsed, with no copy).
 *
 * Layout of the scanner's area (the start of its own memory, or a ScanArea
 * of the caller's) for a batch capacity `cap`: the columns originalLength,
 * seconds and offset (f64, 8·cap bytes each), then start, length and
 * nanoseconds (u32, 4·cap bytes each), the shortest and the longest
 * captured length (u32), then the bytes.
 */
import type { CaptureBatch } from './pcap.ts';

const I32 = 0x7f;
const F64 = 0x7c;
const PAGE = 65536;

const uleb = (value: number): number[] => {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
};
const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (text: string): number[] => [...uleb(text.length), ...[...text].map((c) => c.charCodeAt(0))];

// Parameters, then locals, by index.
const [AT, END, CAP, DELTA, LIMIT, UNITS, SCALE, OFFSET_BASE, COLUMNS] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const [N, CAPTURED, ORIGINAL, NEXT, FRACTION, K4, K8, SECONDS_COLUMN, OFFSET_COLUMN, START_COLUMN, LENGTH_COLUMN, NANOS_COLUMN, SHORTEST, LONGEST, CARRY] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23];
const LOCALS = 15;

const get = (local: number): number[] => [0x20, local];
const set = (local: number): number[] => [0x21, local];
const tee = (local: number): number[] => [0x22, local];
const i32 = (value: number): number[] => [0x41, ...sleb(value)];
const sleb = (value: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
};
const load32 = (offset: number): number[] => [0x28, 0, ...uleb(offset)];
const store32 = [0x36, 2, 0];
const storeF64 = [0x39, 3, 0];
const [ADD, SUB, MUL, DIV_U, REM_U, SHL, LT_U, GT_U, GE_U] = [0x6a, 0x6b, 0x6c, 0x6e, 0x70, 0x74, 0x49, 0x4b, 0x4f];
const SELECT = 0x1b;
const [I64_EXTEND_U, I64_ADD, F64_FROM_U32, F64_FROM_U64, F64_ADD] = [0xad, 0x7c, 0xb8, 0xba, 0xa0];
const breakIf = [0x0d, 1];
const column = (base: number, scaled: number): number[] => [...get(scaled), ...get(base), ADD];
/** `local` = CAPTURED when `compare`(CAPTURED, local) holds. */
const keep = (local: number, compare: number): number[] => [...get(CAPTURED), ...get(local), ...get(CAPTURED), ...get(local), compare, SELECT, ...set(local)];

/**
 * scan(at, end, cap, delta, limit, unitsPerSecond, nanosPerUnit, offsetBase, columns) -> count:
 * reads records from `at` while a whole record lies before `end`, its
 * captured length is within `limit` and the original length, and fewer than
 * `cap` are read, into the columns laid out from `columns`. Starts and
 * offsets are written relative to `delta` (the address of the caller's
 * first byte), offsets plus `offsetBase`. The shortest and the longest
 * captured length read (u32) follow the columns.
 */
const body: number[] = [
  ...get(CAP), ...i32(8), MUL, ...get(COLUMNS), ADD, ...set(SECONDS_COLUMN),
  ...get(CAP), ...i32(16), MUL, ...get(COLUMNS), ADD, ...set(OFFSET_COLUMN),
  ...get(CAP), ...i32(24), MUL, ...get(COLUMNS), ADD, ...set(START_COLUMN),
  ...get(CAP), ...i32(28), MUL, ...get(COLUMNS), ADD, ...set(LENGTH_COLUMN),
  ...get(CAP), ...i32(32), MUL, ...get(COLUMNS), ADD, ...set(NANOS_COLUMN),
  ...i32(-1), ...set(SHORTEST),
  0x02, 0x40, // block
  0x03, 0x40, // loop
  ...get(N), ...get(CAP), GE_U, ...breakIf,
  ...get(AT), ...i32(16), ADD, ...get(END), GT_U, ...breakIf,
  ...get(AT), ...load32(8), ...set(CAPTURED),
  ...get(AT), ...load32(12), ...set(ORIGINAL),
  ...get(CAPTURED), ...get(LIMIT), GT_U, ...breakIf,
  ...get(CAPTURED), ...get(ORIGINAL), GT_U, ...breakIf,
  ...get(AT), ...i32(16), ADD, ...get(CAPTURED), ADD, ...tee(NEXT), ...get(END), GT_U, ...breakIf,
  ...get(AT), ...load32(4), ...set(FRACTION),
  ...keep(SHORTEST, LT_U),
  ...keep(LONGEST, GT_U),
  ...get(N), ...i32(2), SHL, ...set(K4),
  ...get(N), ...i32(3), SHL, ...set(K8),
  ...column(COLUMNS, K8), ...get(ORIGINAL), F64_FROM_U32, ...storeF64,
  // A fraction of a whole second or more (a writer's bug, read as libpcap does) carries into the seconds; the divisions only then.
  ...get(FRACTION), ...get(UNITS), GE_U,
  0x04, 0x40, // if
  ...get(FRACTION), ...get(UNITS), DIV_U, ...set(CARRY),
  ...get(FRACTION), ...get(UNITS), REM_U, ...set(FRACTION),
  0x05, // else
  ...i32(0), ...set(CARRY),
  0x0b, // end if
  ...column(SECONDS_COLUMN, K8), ...get(AT), ...load32(0), I64_EXTEND_U, ...get(CARRY), I64_EXTEND_U, I64_ADD, F64_FROM_U64, ...storeF64,
  ...column(OFFSET_COLUMN, K8), ...get(OFFSET_BASE), ...get(AT), ...get(DELTA), SUB, F64_FROM_U32, F64_ADD, ...storeF64,
  ...column(START_COLUMN, K4), ...get(AT), ...i32(16), ADD, ...get(DELTA), SUB, ...store32,
  ...column(LENGTH_COLUMN, K4), ...get(CAPTURED), ...store32,
  ...column(NANOS_COLUMN, K4), ...get(FRACTION), ...get(SCALE), MUL, ...store32,
  ...get(NEXT), ...set(AT),
  ...get(N), ...i32(1), ADD, ...set(N),
  0x0c, 0, // br loop
  0x0b, // end loop
  0x0b, // end block
  ...get(CAP), ...i32(36), MUL, ...get(COLUMNS), ADD, ...get(SHORTEST), ...store32,
  ...get(CAP), ...i32(36), MUL, ...get(COLUMNS), ADD, ...get(LONGEST), 0x36, 2, 4,
  ...get(N),
  0x0b,
];

const code = [...vector([[LOCALS, I32]]), ...body];

/** The module, with a memory of its own (exported) or the caller's (imported as env.memory). */
function moduleBytes(importMemory: boolean): Uint8Array<ArrayBuffer> {
  const imports = importMemory ? section(2, vector([[...name('env'), ...name('memory'), 0x02, 0x00, 1]])) : [];
  const memory = importMemory ? [] : section(5, vector([[0x00, 1]]));
  const exports = importMemory ? [[...name('scan'), 0x00, 0]] : [[...name('scan'), 0x00, 0], [...name('memory'), 0x02, 0]];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector([[0x60, ...vector([I32, I32, I32, I32, I32, I32, I32, F64, I32].map((t) => [t])), ...vector([[I32]])]])),
    ...imports,
    ...section(3, vector([[0]])),
    ...memory,
    ...section(7, vector(exports)),
    ...section(10, vector([[...uleb(code.length), ...code]])),
  ]);
}

const compiled: { own?: WebAssembly.Module; imported?: WebAssembly.Module } = {};

/** Column bytes per packet of capacity: three f64 and three u32 columns. */
const COLUMN_BYTES = 36;
/** After the columns: the shortest and the longest captured length of the batch. */
const EXTREMES_BYTES = 8;

/**
 * Where a scanner works in a caller's WebAssembly memory (the VM's, so that
 * the packets it finds are run where they lie): `reserve(bytes)` returns
 * the address of at least `bytes` bytes that nothing else uses until the
 * next call (and that stay in place while the same size is asked for).
 */
export interface ScanArea {
  readonly memory: WebAssembly.Memory;
  reserve(bytes: number): number;
}

/**
 * Where the last `read` left the batch in the scanner's memory: the address
 * of `bytes[0]` and of the u32 start and length columns; and what holds for
 * all its packets, so that a caller need not look at each.
 */
export interface ScanPlacement {
  readonly memory: WebAssembly.Memory;
  readonly bytes: number;
  readonly starts: number;
  readonly lengths: number;
  /** The shortest and the longest captured length. */
  readonly shortest: number;
  readonly longest: number;
  /** The link type of every packet. */
  readonly linkType: number;
}

/**
 * One reader's scanner: its memory (the module's own, or a ScanArea of the
 * caller's) holds the bytes of the read buffer last copied in (kept while
 * the buffer is the same generation) and the columns of the batch being read.
 */
export class PcapScanner {
  private readonly memory: WebAssembly.Memory;
  private readonly scan: (at: number, end: number, cap: number, delta: number, limit: number, units: number, scale: number, offsetBase: number, columns: number) => number;
  /** What the memory holds: bytes [copiedFrom, copiedTo) of the stream buffer of `generation`, at `origin + dataStart`. */
  private generation = -1;
  private copiedFrom = 0;
  private copiedTo = 0;
  private dataStart = 0;
  private origin = 0;
  /** Where the last read left its batch. */
  placement: ScanPlacement | undefined;

  constructor(readonly area?: ScanArea) {
    if (area === undefined) {
      compiled.own ??= new WebAssembly.Module(moduleBytes(false));
      const instance = new WebAssembly.Instance(compiled.own);
      this.memory = instance.exports.memory as WebAssembly.Memory;
      this.scan = instance.exports.scan as PcapScanner['scan'];
    } else {
      compiled.imported ??= new WebAssembly.Module(moduleBytes(true));
      this.memory = area.memory;
      this.scan = new WebAssembly.Instance(compiled.imported, { env: { memory: area.memory } }).exports.scan as PcapScanner['scan'];
    }
  }

  /** `bytes` of room at the start of which the columns go: the caller's area, or the module's memory grown. */
  private reserve(bytes: number): number {
    if (this.area !== undefined) return this.area.reserve(bytes);
    if (bytes > this.memory.buffer.byteLength) this.memory.grow(Math.ceil((bytes - this.memory.buffer.byteLength) / PAGE));
    return 0;
  }

  /**
   * Reads records from `bytes` (the stream buffer's unread part, which
   * starts at `position` in the buffer of `generation` and at file offset
   * `fileOffset`) into `batch`'s columns; returns how many, and how many
   * bytes they take. Stops early at a record it does not take (over
   * `limit`, captured above original, cut off): the caller's own checks
   * then report that one.
   */
  read(batch: CaptureBatch, bytes: Uint8Array, generation: number, position: number, fileOffset: number, limit: number, nanosecond: boolean, linkType: number): { count: number; consumed: number } {
    const cap = batch.capacity;
    const dataStart = Math.ceil((cap * COLUMN_BYTES + EXTREMES_BYTES) / 8) * 8;
    if (generation !== this.generation || dataStart !== this.dataStart || position < this.copiedFrom || position + bytes.length > this.copiedTo) {
      this.origin = this.reserve(dataStart + bytes.length);
      new Uint8Array(this.memory.buffer).set(bytes, this.origin + dataStart);
      this.generation = generation;
      this.dataStart = dataStart;
      this.copiedFrom = position;
      this.copiedTo = position + bytes.length;
    }
    const origin = this.origin;
    const at = origin + dataStart + (position - this.copiedFrom);
    const count = this.scan(at, at + bytes.length, cap, at, limit, nanosecond ? 1e9 : 1e6, nanosecond ? 1 : 1000, fileOffset, origin);
    const memory = this.memory.buffer;
    batch.originalLength.set(new Float64Array(memory, origin, count));
    batch.seconds.set(new Float64Array(memory, origin + cap * 8, count));
    batch.offset.set(new Float64Array(memory, origin + cap * 16, count));
    batch.start.set(new Int32Array(memory, origin + cap * 24, count));
    batch.length.set(new Int32Array(memory, origin + cap * 28, count));
    batch.nanoseconds.set(new Uint32Array(memory, origin + cap * 32, count));
    batch.linkType.fill(linkType, 0, count);
    const extremes = new Uint32Array(memory, origin + cap * COLUMN_BYTES, 2);
    this.placement = { memory: this.memory, bytes: at, starts: origin + cap * 24, lengths: origin + cap * 28, shortest: extremes[0]!, longest: extremes[1]!, linkType };
    const consumed = count === 0 ? 0 : batch.start[count - 1]! + batch.length[count - 1]!;
    return { count, consumed };
  }
}
