/**
 * Errors of host access, shared by the Node host and its browser twin so
 * that both export the same classes and callers can catch them by type.
 */
import { TsbpfError } from '../errors.ts';

/** A Node-only host facility was used in a browser. */
export class HostUnavailableError extends TsbpfError {
  override name = 'HostUnavailableError';
  constructor(
    readonly operation: string,
    alternative: string,
  ) {
    super(`${operation} needs Node: in the browser ${alternative} instead`);
  }
}

/**
 * An input (file, device, pipe, standard input) larger than the input limit:
 * 256 MiB unless TSBPF_MAX_INPUT_BYTES says otherwise. Reading stops at the
 * limit, so an endless input (/dev/zero, `yes |`) fails fast instead of
 * exhausting memory.
 */
export class InputTooLargeError extends TsbpfError {
  override name = 'InputTooLargeError';
  constructor(
    readonly source: string,
    readonly limit: number,
  ) {
    super(`${source} is larger than the input limit of ${limit} bytes (set TSBPF_MAX_INPUT_BYTES to raise it)`);
  }
}

/** The default input limit: bigger than any BPF object, BTF or listing met in practice. */
export const DEFAULT_INPUT_LIMIT = 256 * 1024 * 1024;

/** The input limit: TSBPF_MAX_INPUT_BYTES when set to a positive integer, else DEFAULT_INPUT_LIMIT. */
export function inputLimit(environment: Record<string, string | undefined> = {}): number {
  const text = environment.TSBPF_MAX_INPUT_BYTES;
  if (text === undefined || text === '') return DEFAULT_INPUT_LIMIT;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new TsbpfError(`TSBPF_MAX_INPUT_BYTES must be a positive integer, got '${text}'`);
  return value;
}
