/**
 * Base class of every error tsbpf throws on purpose. Callers can catch
 * `TsbpfError` to tell a diagnosed problem (bad input, a rejected program,
 * a failed system call) from a bug.
 */
export class TsbpfError extends Error {
  override name = 'TsbpfError';
}
