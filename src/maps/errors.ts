import { TsbpfError } from '../errors.ts';

/** The errno values VM maps return, with the numbers Linux uses (asm-generic/errno*.h). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  EOPNOTSUPP: 95,
  ENOTSUPP: 524,
} as const;
export type ErrnoName = keyof typeof Errno;

/**
 * A map operation the kernel would fail with `errno`. Shaped like the kernel
 * backend's BpfSyscallError (`code` is the errno name, `errno` its number),
 * so code catching one handles the other the same way.
 */
export class MapError extends TsbpfError {
  override name = 'MapError';
  readonly errno: number;

  constructor(
    /** Errno name as the kernel returns it: `E2BIG`, `ENOENT`, `EEXIST`, `EINVAL`... */
    readonly code: ErrnoName,
    /** `hash map 'counts'`: which map. */
    readonly map: string,
    /** What was being done: `update`, `create`... */
    readonly operation: string,
    detail: string,
  ) {
    super(`${map}: ${operation} failed: ${code}: ${detail}`);
    this.errno = Errno[code];
  }
}

/** Negative errno, as helpers return it to programs. */
export function negErrno(code: ErrnoName): number {
  return -Errno[code];
}

const names = new Map<number, ErrnoName>(Object.entries(Errno).map(([k, v]) => [v, k as ErrnoName]));

/** The name of errno `n` (positive or negative), e.g. `E2BIG`. */
export function errnoName(n: number): ErrnoName | undefined {
  return names.get(Math.abs(n));
}
