import { TsbpfError } from '../errors.ts';

/** Capabilities the kernel checks for each kind of operation, used to explain EPERM/EACCES. */
export type Capability = 'CAP_BPF' | 'CAP_SYS_ADMIN' | 'CAP_PERFMON' | 'CAP_NET_ADMIN';

function permissionHint(errno: string, capabilities: readonly Capability[] | undefined): string {
  if ((errno !== 'EPERM' && errno !== 'EACCES') || !capabilities || capabilities.length === 0) return '';
  // As root the capabilities are there: the refusal comes from kernel policy, and advice to become root would mislead.
  if (process.geteuid?.() === 0) {
    // EACCES as root is a check that looked at the object (the verifier, a pinned file's mode), not policy.
    if (errno === 'EACCES') return '';
    return ` (refused although this process is root and has ${capabilities.join(' + ')}: the kernel's policy forbids it here, e.g. lockdown, an LSM, or a feature this kernel does not allow)`;
  }
  return ` (this needs ${capabilities.join(' + ')}; run as root, or grant the capabilities to node)`;
}

/** A failed system call other than bpf(): perf_event_open, mmap, ioctl, epoll... */
export class SyscallError extends TsbpfError {
  override name = 'SyscallError';
  /** Errno name: `EPERM`, `EINVAL`... */
  readonly code: string;
  readonly errno: number;
  /** What was being done, e.g. `perf_event_open(tracepoint syscalls/sys_enter_openat)`. */
  readonly operation: string;

  constructor(operation: string, code: string, errno: number, detail?: string, capabilities?: readonly Capability[]) {
    super(`${operation} failed: ${code}${detail ? `: ${detail}` : ''}${permissionHint(code, capabilities)}`);
    this.operation = operation;
    this.code = code;
    this.errno = errno;
  }
}

/** How many trailing verifier log lines the message of a BpfSyscallError shows. */
const LOG_TAIL_LINES = 8;

/**
 * A failed bpf() command. For PROG_LOAD and BTF_LOAD the message ends with
 * the last lines of the verifier log and `log` holds all of it (like
 * cilium/ebpf's VerifierError).
 */
export class BpfSyscallError extends TsbpfError {
  override name = 'BpfSyscallError';
  /** Errno name: `EPERM`, `EINVAL`... */
  readonly code: string;
  readonly errno: number;
  /** The bpf() command name without prefix: `PROG_LOAD`, `MAP_CREATE`... */
  readonly command: string;
  /** The complete verifier (or BTF) log, when the command produces one. */
  readonly log: string | undefined;
  /** Whether the log buffer was too small to hold the whole log. */
  readonly logTruncated: boolean;

  constructor(
    command: string,
    code: string,
    errno: number,
    options: { subject?: string; detail?: string; log?: string; logTruncated?: boolean; capabilities?: readonly Capability[] } = {},
  ) {
    const subject = options.subject ? ` ${options.subject}` : '';
    // PROG_LOAD's EACCES is the verifier refusing the program, whoever loads it.
    const verifierRejection = command === 'PROG_LOAD' && code === 'EACCES';
    const detail = options.detail ? `: ${options.detail}` : verifierRejection ? ': the verifier rejected the program' : '';
    let message = `bpf(${command})${subject} failed: ${code}${detail}${verifierRejection ? '' : permissionHint(code, options.capabilities)}`;
    const lines = (options.log ?? '').trimEnd().split('\n').filter((l) => l.length > 0);
    if (lines.length > 0) {
      const tail = lines.slice(-LOG_TAIL_LINES);
      const omitted = lines.length - tail.length;
      message += `\nverifier log${omitted > 0 ? ` (last ${tail.length} of ${lines.length} lines, see .log)` : ''}${options.logTruncated ? ' [truncated]' : ''}:\n  ${tail.join('\n  ')}`;
    }
    super(message);
    this.command = command;
    this.code = code;
    this.errno = errno;
    this.log = options.log;
    this.logTruncated = options.logTruncated ?? false;
  }
}

/** A kernel feature this operation needs is missing (not built in, too old...). */
export class NotSupportedError extends TsbpfError {
  override name = 'NotSupportedError';
}

/** Wrong arguments to a kernel backend call (sizes, names, ranges). */
export class KernelArgumentError extends TsbpfError {
  override name = 'KernelArgumentError';
}

export { ClosedError } from '../backend/index.ts';
