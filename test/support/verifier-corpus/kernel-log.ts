/**
 * The figures and the verdict line of a kernel verifier log
 * (kernel/bpf/verifier.c, print_verification_stats): the stats line
 * `processed N insns (limit L) max_states_per_insn M total_states T
 * peak_states P mark_read R`, the BPF_LOG_STATS lines `verification time
 * X usec` and `stack depth A+B`, and the error message, which is the log's
 * last line that is none of these.
 */
import { TsbpfError } from '../../../src/errors.ts';

export class VerifierLogError extends TsbpfError {
  override name = 'VerifierLogError';
}

export interface VerifierStatsLine {
  processedInsns: number;
  insnLimit: number;
  maxStatesPerInsn: number;
  totalStates: number;
  peakStates: number;
  /** Absent before the kernel printed it (5.x kernels). */
  markRead?: number;
}

export interface ParsedVerifierLog {
  /** The stats line; its presence means bpf_check() ran (the verifier, not an earlier syscall check, decided). */
  stats?: VerifierStatsLine;
  /** `verification time X usec` (log level with BPF_LOG_STATS). */
  verificationTimeUs?: number;
  /** `stack depth 16+0+8`: one figure per subprogram. */
  stackDepth?: number[];
  /** The last meaningful line: on rejection, the verifier's message. */
  lastMessage?: string;
  /** Every line that is not a figure, in order (at BPF_LOG_STATS alone: the verifier's diagnostics and nothing else). */
  messages: string[];
}

const STATS_LINE = /^processed (\d+) insns \(limit (\d+)\) max_states_per_insn (\d+) total_states (\d+) peak_states (\d+)(?: mark_read (\d+))?\s*$/;
const TIME_LINE = /^verification time (\d+) usec\s*$/;
const STACK_LINE = /^stack depth (\d+(?:\+\d+)*)\s*$/;
/** Lines that frame a log rather than say anything (libbpf's markers when a log is copied from its output). */
const FRAME_LINE = /^-- (?:BEGIN|END) PROG LOAD LOG --$/;

const toInt = (text: string, line: string): number => {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new VerifierLogError(`verifier log line '${line}' has a number out of range: ${text}`);
  return value;
};

/** Reads the stats, timing, stack depth and last message out of a verifier log of any level. */
export function parseVerifierLog(log: string): ParsedVerifierLog {
  const out: ParsedVerifierLog = { messages: [] };
  for (const raw of log.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || FRAME_LINE.test(trimmed)) continue;
    let m: RegExpExecArray | null;
    if ((m = STATS_LINE.exec(trimmed)) !== null) {
      out.stats = {
        processedInsns: toInt(m[1]!, trimmed),
        insnLimit: toInt(m[2]!, trimmed),
        maxStatesPerInsn: toInt(m[3]!, trimmed),
        totalStates: toInt(m[4]!, trimmed),
        peakStates: toInt(m[5]!, trimmed),
      };
      if (m[6] !== undefined) out.stats.markRead = toInt(m[6], trimmed);
    } else if ((m = TIME_LINE.exec(trimmed)) !== null) {
      out.verificationTimeUs = toInt(m[1]!, trimmed);
    } else if ((m = STACK_LINE.exec(trimmed)) !== null) {
      out.stackDepth = m[1]!.split('+').map((d) => toInt(d, trimmed));
    } else {
      out.lastMessage = trimmed;
      out.messages.push(trimmed);
    }
  }
  return out;
}
