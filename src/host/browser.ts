/**
 * Host access in a browser: the twin of ./node.ts that package.json's
 * "browser" field substitutes for it. A web page has no file system, kernel
 * or tracefs, so those functions throw HostUnavailableError naming what to
 * pass instead; the clock and text decoding use web APIs.
 */
import { HostUnavailableError, InputTooLargeError, inputLimit } from './errors.ts';

export { HostUnavailableError, InputTooLargeError };

/** The input limit (web pages have no environment: the default). */
export function maxInputBytes(): number {
  return inputLimit();
}

/** Collects chunks into one array, failing with InputTooLargeError past `limit` bytes. */
export { collectBounded } from './bounded.ts';

const PASS_BYTES = 'pass the bytes (a Uint8Array), the config (a record) or the format text';

export function readFile(path: string, limit?: number): Uint8Array {
  void limit;
  throw new HostUnavailableError(`reading ${path}`, PASS_BYTES);
}

export function readTextFile(path: string): string {
  throw new HostUnavailableError(`reading ${path}`, PASS_BYTES);
}

export interface FileReads {
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
  close(): Promise<void>;
}

export function openFileReads(path: string): FileReads {
  throw new HostUnavailableError(`reading ${path}`, 'pass the bytes, a ReadableStream or an iterable of chunks');
}

export function fileExists(path: string): boolean {
  throw new HostUnavailableError(`checking whether ${path} exists`, PASS_BYTES);
}

export function openFileForWriting(path: string): number {
  throw new HostUnavailableError(`writing ${path}`, 'write to a MemorySink');
}

export function writeFileBytes(fd: number, bytes: Uint8Array): void {
  throw new HostUnavailableError(`writing ${bytes.length} bytes to descriptor ${fd}`, 'write to a MemorySink');
}

export function closeFile(fd: number): void {
  throw new HostUnavailableError(`closing descriptor ${fd}`, 'write to a MemorySink');
}

export function kernelRelease(): string {
  throw new HostUnavailableError('reading the kernel release', 'pass the kconfig values (LINUX_KERNEL_VERSION)');
}

export function hostArch(): string {
  throw new HostUnavailableError('reading the CPU architecture', 'pass the kconfig values (LINUX_HAS_SYSCALL_WRAPPER)');
}

export function gunzip(bytes: Uint8Array): Uint8Array {
  throw new HostUnavailableError(`gunzipping ${bytes.length} bytes`, 'pass the decompressed bytes');
}

export function mountTracefs(target: string): void {
  throw new HostUnavailableError(`mounting tracefs on ${target}`, 'give the format text to parseTracepointFormat');
}

export function monotonicNs(): bigint {
  return BigInt(Math.round(performance.now() * 1e6));
}

/** Chunked so String.fromCharCode never gets more arguments than an engine accepts. */
const LATIN1_CHUNK = 1 << 15;

export function latin1Text(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += LATIN1_CHUNK) parts.push(String.fromCharCode(...bytes.subarray(i, i + LATIN1_CHUNK)));
  return parts.join('');
}

export function importKernelBackend(): Promise<typeof import('../kernel/index.ts')> {
  return Promise.reject(new HostUnavailableError('the kernel backend', "load with { backend: 'vm' }"));
}
