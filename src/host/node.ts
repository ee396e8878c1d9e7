/**
 * Host access for Node: the only place the VM-side areas (isa, btf, object,
 * vm, maps, uapi, net) touch the file system, the OS or Node globals.
 * package.json's "browser" field maps this module to ./browser.ts, whose
 * functions have the same signatures, so bundlers build the VM for web pages.
 * Keep the two in step: test/browser/bundle.test.ts checks they match.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { concatChunks } from './bounded.ts';
import { HostUnavailableError, InputTooLargeError, inputLimit } from './errors.ts';

export { HostUnavailableError, InputTooLargeError };
export { collectBounded } from './bounded.ts';

/** The input limit: TSBPF_MAX_INPUT_BYTES, or 256 MiB. */
export function maxInputBytes(): number {
  return inputLimit(process.env);
}

/**
 * The bytes of the file at `path` (synchronous), at most `limit` bytes
 * (default maxInputBytes()): a larger regular file is refused before it is
 * read, and a device, pipe or procfs file is read only up to the limit, so
 * `/dev/zero` fails with InputTooLargeError instead of exhausting memory.
 */
export function readFile(path: string, limit = maxInputBytes()): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const stat = fstatSync(fd);
    if (stat.isFile() && stat.size > limit) throw new InputTooLargeError(path, limit);
    // procfs and sysfs files report size 0 and devices no size: read them in chunks up to the limit.
    if (stat.isFile() && stat.size > 0) {
      const buffer = readFileSync(fd);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(Math.min(1 << 20, limit + 1 - total));
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      chunks.push(chunk.subarray(0, read));
      total += read;
      if (total > limit) throw new InputTooLargeError(path, limit);
    }
    return concatChunks(chunks, total);
  } finally {
    closeSync(fd);
  }
}


/** The file at `path` decoded as UTF-8 (synchronous). */
export function readTextFile(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Reads of one file into buffers the caller owns and reuses (no allocation per read). */
export interface FileReads {
  /** Reads up to `length` bytes into `into` at `offset`; resolves 0 at the end of the file (a pipe's writer gone). */
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Longest stretch of synchronous reads before a read waits for the event
 * loop's next turn. Not shorter: the turn also runs the tasks V8 has
 * queued meanwhile (garbage collection steps), measured at 3-13 ms each in
 * the first capture of a fresh `tsbpf run`, which a capture read in a few
 * tens of milliseconds would otherwise not wait for.
 */
const SYNC_READS_NS = 100_000_000n;

/**
 * Sequential reads of the file at `path` (a regular file, a pipe or a
 * device), opened on the first read. A regular file is read synchronously,
 * as tcpdump reads one: it cannot block the way a pipe can, and a read from
 * the page cache costs less than the hand-off to Node's thread pool, which
 * the first batches of a capture wait on. So that timers and signal
 * handlers still run during a long file, a read after 100 ms of them
 * (SYNC_READS_NS) waits for the event loop's next turn. Pipes and devices
 * are read asynchronously.
 */
export function openFileReads(path: string): FileReads {
  let handle: Promise<FileHandle> | undefined;
  let fd: number | undefined;
  let closed = false;
  let yielded = monotonicNs();
  const named = (error: unknown): unknown => {
    // Node names the path on open failures only: name it on read failures too (EISDIR...).
    if (error instanceof Error && !error.message.includes(path)) error.message = `${error.message} '${path}'`;
    return error;
  };
  const openRegular = (): number | undefined => {
    let opened: number;
    try {
      if (!statSync(path).isFile()) return undefined;
      opened = openSync(path, 'r');
    } catch {
      // Missing, unreadable...: the asynchronous open reports it as it always has.
      return undefined;
    }
    if (fstatSync(opened).isFile()) return opened;
    closeSync(opened);
    return undefined;
  };
  return {
    async read(into, offset, length) {
      if (closed) return 0;
      if (handle === undefined && fd === undefined) {
        fd = openRegular();
        if (fd === undefined) handle = open(path, 'r');
      }
      try {
        if (fd !== undefined) {
          if (monotonicNs() - yielded > SYNC_READS_NS) {
            await new Promise<void>((resolve) => setImmediate(resolve));
            yielded = monotonicNs();
            if (closed) return 0;
          }
          return readSync(fd, into, offset, length, null);
        }
        const { bytesRead } = await (await handle!).read(into, offset, length, null);
        return bytesRead;
      } catch (error) {
        throw named(error);
      }
    },
    async close() {
      closed = true;
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      if (handle !== undefined) await (await handle).close();
    },
  };
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}

/** Opens `path` for writing (created or truncated); returns a descriptor for writeFileBytes/closeFile. */
export function openFileForWriting(path: string): number {
  return openSync(path, 'w');
}

export function writeFileBytes(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

export function closeFile(fd: number): void {
  closeSync(fd);
}

/** The running kernel's release string (uname -r). */
export function kernelRelease(): string {
  return release();
}

/** The CPU architecture in Node's spelling ('x64', 'arm64', ...). */
export function hostArch(): string {
  return process.arch;
}

export function gunzip(bytes: Uint8Array): Uint8Array {
  const buffer = gunzipSync(bytes);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Mounts tracefs on `target` (needs root); throws when mount fails. */
export function mountTracefs(target: string): void {
  execFileSync('mount', ['-t', 'tracefs', 'nodev', target], { stdio: 'ignore' });
}

/** A monotonic clock in nanoseconds. */
export function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

/** Bytes as ISO-8859-1 text: one char per byte, code point = byte value. */
export function latin1Text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** The kernel backend, imported on demand (generated bindings with `backend: 'kernel'`). */
export function importKernelBackend(): Promise<typeof import('../kernel/index.ts')> {
  return import('../kernel/index.ts');
}
