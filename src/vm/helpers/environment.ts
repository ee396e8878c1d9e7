/**
 * The per-run state helpers read and write: what the user supplies about
 * the event (process identity, readable memory, stacks, routes, clock) and
 * what the run records (trace_printk lines, the redirect decision). The
 * runtime passes one `RunEnvironment` per run as `RunOptions.context`;
 * helpers get it back from `HelperCall.context`.
 */
import { TsbpfError } from '../../errors.ts';
import { monotonicNs } from '../../host/node.ts';
import type { HelperCall } from '../helper-registry.ts';
import type { PacketBuffer } from './packet.ts';

/** The task a tracing program's event happened in (bpf_get_current_*). */
export interface ProcessIdentity {
  pid: number;
  /** Thread-group id (the process id user space sees); defaults to pid. */
  tgid?: number;
  uid: number;
  gid: number;
  /** Up to 15 bytes are kept (TASK_COMM_LEN 16 with the NUL). */
  comm: string;
  cgroupId?: bigint;
}

/** Memory the event can read with probe_read*: `bytes` live at kernel/user `address`. */
export interface MemoryRange {
  address: bigint;
  bytes: Uint8Array;
}

/** A route for bpf_fib_lookup: longest-prefix match on the destination. */
export interface Route {
  /** CIDR, IPv4 or IPv6: '10.0.0.0/8', '2001:db8::/32', '0.0.0.0/0'. */
  prefix: string;
  /** Egress interface. */
  ifindex: number;
  /** Next hop; absent for directly connected networks (the destination is the neighbour). */
  gateway?: string;
  /** MACs filled into bpf_fib_lookup's smac/dmac; a route without dmac yields BPF_FIB_LKUP_RET_NO_NEIGH. */
  smac?: string;
  dmac?: string;
  /** Egress MTU (default 1500): bigger packets get BPF_FIB_LKUP_RET_FRAG_NEEDED when tot_len is checked. */
  mtu?: number;
  /** Route type: unicast (default), blackhole, unreachable, prohibit. */
  type?: 'unicast' | 'blackhole' | 'unreachable' | 'prohibit';
}

/** What the program asked for with bpf_redirect / bpf_redirect_map. */
export interface RedirectDecision {
  helper: 'redirect' | 'redirect_map';
  /** bpf_redirect's ifindex, or the map key for redirect_map. */
  target: number;
  flags: number;
  /** The map's name, for redirect_map. */
  map?: string;
}

/** What the user can tell about the event a program runs on. */
export interface EventInput {
  process?: ProcessIdentity;
  /** Address ranges probe_read* may read; any other address fails with -EFAULT. */
  memory?: MemoryRange[];
  /** Instruction pointers, innermost first, for get_stack / get_stackid. */
  kernelStack?: bigint[];
  userStack?: bigint[];
  /** bpf_get_smp_processor_id (default 0). */
  cpu?: number;
  /** Routes for bpf_fib_lookup. */
  routes?: Route[];
}

export interface EnvironmentOptions extends EventInput {
  /** Monotonic clock in ns for ktime_get_ns/boot_ns/coarse_ns (default: the host's monotonic clock). */
  clock?: () => bigint;
  /** Source of bpf_get_prandom_u32 (default: Math.random); give one for reproducible runs. */
  random?: () => number;
  /** Called with each trace_printk line as it is printed. */
  onTrace?: (line: string) => void;
}

/** trace_printk lines a run keeps (all are passed to onTrace). */
export const TRACE_LINES_KEPT = 1000;

export class RunEnvironment {
  readonly event: EventInput;
  readonly clock: () => bigint;
  readonly random: () => number;
  readonly onTrace: ((line: string) => void) | undefined;
  /** trace_printk / trace_vprintk output of the run, one entry per call. */
  readonly trace: string[] = [];
  redirect: RedirectDecision | undefined;
  /** The packet of an XDP or skb program. */
  packet: PacketBuffer | undefined;
  /** VM address of the context, when the program has one. */
  contextAddress = 0;
  /** Held bpf_spin_locks by lock address, to diagnose double locking and unlocking an unheld lock. */
  readonly heldLocks = new Set<number>();

  constructor(options: EnvironmentOptions = {}) {
    this.event = options;
    this.clock = options.clock ?? monotonicNs;
    this.random = options.random ?? (() => Math.floor(Math.random() * 2 ** 32));
    this.onTrace = options.onTrace;
  }

  /** Clears what a run left (trace, redirect, packet, context, held locks), for the next run with the same event and sources. */
  reset(): void {
    // Only when there is something to clear: V8's Set.clear() allocates a new table even for an empty set, and a
    // length write takes a slow path; both cost more than running a short program.
    if (this.trace.length !== 0) this.trace.length = 0;
    this.redirect = undefined;
    this.packet = undefined;
    this.contextAddress = 0;
    if (this.heldLocks.size !== 0) this.heldLocks.clear();
  }

  print(line: string): void {
    const trace = this.trace;
    // A repeated run prints on every repetition: keep the latest lines, in bounded memory.
    if (trace.length >= 2 * TRACE_LINES_KEPT) trace.splice(0, trace.length - TRACE_LINES_KEPT + 1);
    trace.push(line);
    this.onTrace?.(line);
  }

  /** The run's trace lines: the last TRACE_LINES_KEPT of them (a repeated run prints once per repetition). */
  traceLines(): string[] {
    const trace = this.trace;
    if (trace.length === 0) return [];
    return trace.slice(Math.max(0, trace.length - TRACE_LINES_KEPT));
  }
}

/** A helper needed something the run did not provide (a packet for skb_load_bytes...). */
export class HelperEnvironmentError extends TsbpfError {
  override name = 'HelperEnvironmentError';
}

/**
 * The run's environment. A run started without one (a bare
 * `LoadedProgram.run`) gets a fresh default per call: helpers work, but
 * nothing they record (trace lines, redirects) outlives the call.
 */
export function environmentOf(call: HelperCall): RunEnvironment {
  const ctx = call.context;
  return ctx instanceof RunEnvironment ? ctx : new RunEnvironment();
}

/** The packet of the run, or an error naming the helper that needs one. */
export function packetOf(call: HelperCall, helper: string): PacketBuffer {
  const packet = environmentOf(call).packet;
  if (packet === undefined) throw new HelperEnvironmentError(`instruction ${call.pc}: bpf_${helper} needs a packet, and this run has none (run an XDP/TC/socket-filter program with data)`);
  return packet;
}
