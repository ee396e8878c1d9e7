/**
 * The running kernel's verdict on one program of a collection: loaded with
 * its maps (and the programs it needs beside it), at log level
 * BPF_LOG_STATS so that the verifier's statistics and verification time are
 * always there, and again at the requested log level when a log is wanted.
 */
import type { CollectionSpec } from '../../../src/object/index.ts';
import { BpfSyscallError, loadCollection } from '../../../src/kernel/index.ts';
import { TsbpfError } from '../../../src/errors.ts';
import { ProgramType } from '../../../src/uapi/enums.ts';
import { parseVerifierLog } from './kernel-log.ts';

const MAX_MESSAGES = 20;

/** BPF_LOG_STATS: messages and statistics only, no instruction trace (the cheapest log, the honest timing). */
export const LOG_STATS = 4;

export type KernelVerdictKind = 'accepted' | 'rejected' | 'not-loadable';

export interface KernelVerdict {
  /**
   * `rejected` when the verifier ran and refused (its stats line is in the
   * log); `not-loadable` when loading failed for another reason (map or BTF
   * creation, an unresolved kfunc, the syscall refusing before the verifier
   * ran), which says nothing about the verifier and is excluded from
   * agreement.
   */
  verdict: KernelVerdictKind;
  /** errno name of the failed load (EACCES, EINVAL, EPERM...). */
  errno?: string;
  /** The log's last meaningful line on rejection: the verifier's message. */
  message?: string;
  /** On rejection, every diagnostic line of the BPF_LOG_STATS log (no instruction trace), at most the last 20. */
  messages?: string[];
  /** Why the program could not be judged, for `not-loadable`. */
  reason?: string;
  processedInsns?: number;
  insnLimit?: number;
  maxStatesPerInsn?: number;
  totalStates?: number;
  peakStates?: number;
  markRead?: number;
  verificationTimeUs?: number;
  stackDepth?: number[];
  /** The kernel refused the object's BTF, so the program was loaded without it (as libbpf does). */
  btfDropped: boolean;
  /** `testRun`: r0 of one BPF_PROG_TEST_RUN of the accepted program (as a signed 32-bit value). */
  retval?: number;
  /** `testRun`: why the test run failed (program types without test runs, ...). */
  testRunError?: string;
  /** The log at the requested level (`logLevel` option), when one was requested. */
  log?: string;
}

export interface KernelVerdictOptions {
  /** Programs of the collection loaded beside it (selftests' `__auxiliary`). */
  companions?: readonly string[];
  /** Extra BPF_PROG_LOAD prog_flags. */
  programFlags?: number;
  /** Also load at this level (1 or 2, BPF_LOG_STATS added) and keep the log. */
  logLevel?: 0 | 1 | 2;
  /** Program type for a section that does not determine one. */
  programType?: number;
  /** Run the accepted program once, as test_loader runs `__retval()` tests: 64 zero bytes in, room for 256 out. */
  testRun?: boolean;
}

/** test_loader.c's TEST_DATA_LEN and its output room (TEST_DATA_LEN << 2). */
const TEST_DATA_LEN = 64;
const TEST_DATA_OUT = TEST_DATA_LEN << 2;

/** A spec safe to load for measurement: nothing pinned (the corpus must leave no trace in bpffs). */
function unpinned(spec: CollectionSpec): CollectionSpec {
  const maps = Object.fromEntries(Object.entries(spec.maps).map(([name, m]) => [name, m.pinning === 'none' ? m : { ...m, pinning: 'none' as const }]));
  return { ...spec, maps };
}

interface LoadOutcome {
  ok: boolean;
  log: string;
  error?: unknown;
  retval?: number;
  testRunError?: string;
}

const isBtfRefusal = (error: unknown): boolean => error instanceof BpfSyscallError && error.command === 'BTF_LOAD';

/**
 * As libbpf: BTF is optional. When the kernel refuses the object's BTF (the
 * selftests' naked functions have unnamed arguments, which the BTF checker
 * rejects), load without it, which also drops func_info and line_info.
 */
function loadWithOptionalBtf(spec: CollectionSpec, program: string, options: KernelVerdictOptions, logLevel: 4 | 5 | 6): LoadOutcome & { btfDropped: boolean } {
  const outcome = loadOnce(spec, program, options, logLevel);
  if (outcome.ok || !isBtfRefusal(outcome.error) || spec.btf === undefined) return { ...outcome, btfDropped: false };
  const withoutBtf: CollectionSpec = { ...spec };
  delete withoutBtf.btf;
  return { ...loadOnce(withoutBtf, program, options, logLevel), btfDropped: true };
}

function loadOnce(spec: CollectionSpec, program: string, options: KernelVerdictOptions, logLevel: 4 | 5 | 6): LoadOutcome {
  const programs = [program, ...(options.companions ?? [])];
  try {
    const collection = loadCollection(spec, {
      programs,
      logLevel,
      ...(options.programFlags !== undefined ? { programFlags: options.programFlags } : {}),
      ...(options.programType !== undefined ? { programTypes: Object.fromEntries(programs.map((p) => [p, options.programType!])) } : {}),
    });
    const loaded = collection.programs[program]!;
    const outcome: LoadOutcome = { ok: true, log: loaded.verifierLog };
    try {
      // BPF_PROG_TYPE_SYSCALL test runs take no data: test_loader runs them with empty options.
      const input = loaded.type === ProgramType.SYSCALL ? {} : { data: new Uint8Array(TEST_DATA_LEN), dataOutSize: TEST_DATA_OUT };
      if (options.testRun && logLevel === LOG_STATS) outcome.retval = loaded.run(input).retval | 0;
    } catch (error) {
      outcome.testRunError = `${(error as Error).name}: ${(error as Error).message.split('\n')[0]}`;
    } finally {
      collection.close();
    }
    return outcome;
  } catch (error) {
    return { ok: false, log: error instanceof BpfSyscallError && error.command === 'PROG_LOAD' ? (error.log ?? '') : '', error };
  }
}

/** Loads `program` of `spec` into the running kernel and reports the verdict and the verifier's figures. */
export function kernelVerdict(spec: CollectionSpec, program: string, options: KernelVerdictOptions = {}): KernelVerdict {
  const loadable = unpinned(spec);
  const first = loadWithOptionalBtf(loadable, program, options, LOG_STATS);
  const parsed = parseVerifierLog(first.log);
  const out: KernelVerdict = { verdict: first.ok ? 'accepted' : 'rejected', btfDropped: first.btfDropped };
  if (!first.ok) {
    const error = first.error;
    if (error instanceof BpfSyscallError) out.errno = error.code;
    // EPERM with no message before the first instruction: the kernel refused the attach target (this machine's kernel
    // refuses some tracing targets to root), not the program; nothing the verifier said.
    const refusedTarget = error instanceof BpfSyscallError && error.code === 'EPERM' && parsed.stats?.processedInsns === 0 && parsed.lastMessage === undefined;
    if (!(error instanceof BpfSyscallError) || error.command !== 'PROG_LOAD' || parsed.stats === undefined || refusedTarget) {
      out.verdict = 'not-loadable';
      out.reason = notLoadableReason(error, parsed.lastMessage);
    } else if (parsed.lastMessage !== undefined) {
      out.message = parsed.lastMessage;
      out.messages = parsed.messages.slice(-MAX_MESSAGES);
    }
  }
  if (parsed.stats !== undefined) {
    out.processedInsns = parsed.stats.processedInsns;
    out.insnLimit = parsed.stats.insnLimit;
    out.maxStatesPerInsn = parsed.stats.maxStatesPerInsn;
    out.totalStates = parsed.stats.totalStates;
    out.peakStates = parsed.stats.peakStates;
    if (parsed.stats.markRead !== undefined) out.markRead = parsed.stats.markRead;
  }
  if (first.retval !== undefined) out.retval = first.retval;
  if (first.testRunError !== undefined) out.testRunError = first.testRunError;
  if (parsed.verificationTimeUs !== undefined) out.verificationTimeUs = parsed.verificationTimeUs;
  if (parsed.stackDepth !== undefined) out.stackDepth = parsed.stackDepth;
  if (options.logLevel !== undefined && options.logLevel > 0 && out.verdict !== 'not-loadable') {
    out.log = loadWithOptionalBtf(loadable, program, options, (options.logLevel | LOG_STATS) as 5 | 6).log;
  } else if (options.logLevel !== undefined) {
    out.log = first.log;
  }
  return out;
}

function notLoadableReason(error: unknown, lastLine: string | undefined): string {
  if (error instanceof BpfSyscallError) {
    const what = error.command === 'PROG_LOAD' ? 'PROG_LOAD failed before the verifier ran' : `bpf(${error.command}) failed`;
    return `${what}: ${error.code}${lastLine !== undefined ? ` (${lastLine})` : ''}`;
  }
  if (error instanceof TsbpfError) return `${error.name}: ${error.message.split('\n')[0]}`;
  return `unexpected failure: ${(error as Error).message ?? String(error)}`;
}
