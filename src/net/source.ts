import { type FileReads, openFileReads } from '../host/node.ts';

/**
 * Where a capture's bytes come from: a file path, the bytes themselves, or
 * any (async) iterable of chunks such as a Node Readable, a web
 * ReadableStream or `process.stdin`.
 */
export type ByteSource = string | Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Bytes read from a file at once, into one buffer reused for the whole file: few reads, and a chunk still in the cache while its packets are parsed and run. */
const FILE_READ_BYTES = 1 << 20;

function chunksOf(source: Exclude<ByteSource, string>): AsyncIterator<Uint8Array> | Iterator<Uint8Array> {
  if (source instanceof Uint8Array) return [source][Symbol.iterator]();
  if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
  return source[Symbol.iterator]();
}

/**
 * Pulls bytes from a source on demand, keeping only what has been fetched
 * and not yet consumed, so memory stays proportional to the largest record,
 * not to the file. `offset` is the absolute position of the next unread
 * byte, used in error messages.
 */
export class ByteStream {
  private readonly chunks: AsyncIterator<Uint8Array> | Iterator<Uint8Array> | undefined;
  /** A file path's reads, straight into `buffer` (then `chunks` is unset). */
  private readonly file: FileReads | undefined;
  private buffer: Uint8Array = new Uint8Array(0);
  private start = 0;
  private end = 0;
  private done = false;
  /** Absolute offset of `buffer[start]`. */
  offset = 0;
  /** Changes whenever the buffered bytes move or the buffer is replaced, so copies of it can be kept until then. */
  generation = 0;

  constructor(source: ByteSource) {
    if (typeof source === 'string') this.file = openFileReads(source);
    else this.chunks = chunksOf(source);
  }

  /** Where the unread bytes start in the current buffer (see generation). */
  get position(): number {
    return this.start;
  }

  get buffered(): number {
    return this.end - this.start;
  }

  /** Fetches chunks until `n` bytes are buffered or the source ends. Returns whether `n` are available. */
  async fill(n: number): Promise<boolean> {
    while (this.end - this.start < n && !this.done) {
      if (this.file !== undefined) {
        await this.readFile(this.file, n);
        continue;
      }
      const next = await this.chunks!.next();
      if (next.done) {
        this.done = true;
        break;
      }
      this.append(next.value);
    }
    return this.end - this.start >= n;
  }

  /** One read of the file after the buffered bytes (moved to the front first), the buffer grown to hold `n`. */
  private async readFile(file: FileReads, n: number): Promise<void> {
    const have = this.end - this.start;
    if (this.buffer.length < Math.max(n, FILE_READ_BYTES)) {
      const next = new Uint8Array(Math.max(n, FILE_READ_BYTES));
      next.set(this.buffer.subarray(this.start, this.end));
      this.buffer = next;
    } else if (this.start > 0) this.buffer.copyWithin(0, this.start, this.end);
    this.start = 0;
    this.end = have;
    this.ownsBuffer = true;
    this.generation++;
    const read = await file.read(this.buffer, have, this.buffer.length - have);
    if (read === 0) this.done = true;
    this.end += read;
  }

  /** True when `buffer` is our own allocation (may be written), false when it is a caller's chunk. */
  private ownsBuffer = false;

  private append(received: Uint8Array): void {
    if (received.length === 0) return;
    this.generation++;
    // A plain view, so that subarray() never returns a Buffer (whose slice() does not copy).
    const chunk = new Uint8Array(received.buffer, received.byteOffset, received.length);
    const have = this.end - this.start;
    if (have === 0) {
      // The previous bytes are used up: adopt the chunk without copying.
      this.buffer = chunk;
      this.ownsBuffer = false;
      this.start = 0;
      this.end = chunk.length;
      return;
    }
    if (this.ownsBuffer && this.buffer.length >= have + chunk.length) {
      if (this.buffer.length - this.end < chunk.length) {
        this.buffer.copyWithin(0, this.start, this.end);
        this.start = 0;
        this.end = have;
      }
      this.buffer.set(chunk, this.end);
      this.end += chunk.length;
      return;
    }
    const next = new Uint8Array(Math.max(have + chunk.length, 2 * have, 1 << 16));
    next.set(this.buffer.subarray(this.start, this.end));
    next.set(chunk, have);
    this.buffer = next;
    this.ownsBuffer = true;
    this.start = 0;
    this.end = have + chunk.length;
  }

  /**
   * The next `n` buffered bytes without consuming them. Callers must have
   * `fill(n)`ed first. The view stays valid until the next `fill`.
   */
  peek(n: number): Uint8Array {
    return this.buffer.subarray(this.start, this.start + n);
  }

  /** Consumes `n` buffered bytes and returns a view of them (valid until the next `fill`). */
  take(n: number): Uint8Array {
    const bytes = this.buffer.subarray(this.start, this.start + n);
    this.start += n;
    this.offset += n;
    if (this.start === this.end) this.start = this.end = 0;
    return bytes;
  }

  /** Stops reading the source (closes a file stream early). */
  async close(): Promise<void> {
    this.done = true;
    if (this.file !== undefined) await this.file.close();
    else await this.chunks!.return?.();
  }
}
