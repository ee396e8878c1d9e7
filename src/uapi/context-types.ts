/**
 * The BTF names of each program type's context as a program declares it
 * (include/linux/bpf_types.h, the user-visible type of BPF_PROG_TYPE): the
 * kernel recognises a global function's context argument by this name
 * (btf_is_prog_ctx_type), and checks `__arg_ctx` arguments against it.
 */
import { ProgramType } from './enums.ts';

export interface ContextTypeName {
  /** `struct NAME` (or a typedef, see `typedef`). '' when the type has no distinctly named context (tracing, syscall...). */
  readonly name: string;
  /** The context is a typedef (kprobe's bpf_user_pt_regs_t), resolving to `struct resolved`. */
  readonly typedef?: boolean;
  readonly resolved?: string;
  /** The context is a plain integer type (tracepoint's __u64, lirc's __u32), so no struct matches it. */
  readonly scalar?: boolean;
  /** The kernel struct behind it that a program may name instead (btf_is_projection_of). */
  readonly projection?: string;
}

const SKB: ContextTypeName = { name: '__sk_buff', projection: 'sk_buff' };
const VOID: ContextTypeName = { name: '' };

export const PROGRAM_CONTEXT_TYPES: Readonly<Record<number, ContextTypeName>> = {
  [ProgramType.SOCKET_FILTER]: SKB,
  [ProgramType.SCHED_CLS]: SKB,
  [ProgramType.SCHED_ACT]: SKB,
  [ProgramType.XDP]: { name: 'xdp_md', projection: 'xdp_buff' },
  [ProgramType.CGROUP_SKB]: SKB,
  [ProgramType.CGROUP_SOCK]: { name: 'bpf_sock' },
  [ProgramType.CGROUP_SOCK_ADDR]: { name: 'bpf_sock_addr' },
  [ProgramType.LWT_IN]: SKB,
  [ProgramType.LWT_OUT]: SKB,
  [ProgramType.LWT_XMIT]: SKB,
  [ProgramType.LWT_SEG6LOCAL]: SKB,
  [ProgramType.SOCK_OPS]: { name: 'bpf_sock_ops' },
  [ProgramType.SK_SKB]: SKB,
  [ProgramType.SK_MSG]: { name: 'sk_msg_md' },
  [ProgramType.FLOW_DISSECTOR]: SKB,
  [ProgramType.KPROBE]: { name: 'bpf_user_pt_regs_t', typedef: true, resolved: 'pt_regs' },
  [ProgramType.TRACEPOINT]: { name: '__u64', scalar: true },
  [ProgramType.PERF_EVENT]: { name: 'bpf_perf_event_data' },
  [ProgramType.RAW_TRACEPOINT]: { name: 'bpf_raw_tracepoint_args' },
  [ProgramType.RAW_TRACEPOINT_WRITABLE]: { name: 'bpf_raw_tracepoint_args' },
  [ProgramType.TRACING]: VOID,
  [ProgramType.CGROUP_DEVICE]: { name: 'bpf_cgroup_dev_ctx' },
  [ProgramType.CGROUP_SYSCTL]: { name: 'bpf_sysctl' },
  [ProgramType.CGROUP_SOCKOPT]: { name: 'bpf_sockopt' },
  [ProgramType.LIRC_MODE2]: { name: '__u32', scalar: true },
  [ProgramType.SK_REUSEPORT]: { name: 'sk_reuseport_md' },
  [ProgramType.SK_LOOKUP]: { name: 'bpf_sk_lookup' },
  [ProgramType.STRUCT_OPS]: VOID,
  [ProgramType.EXT]: VOID,
  [ProgramType.LSM]: VOID,
  [ProgramType.SYSCALL]: VOID,
  [ProgramType.NETFILTER]: { name: 'bpf_nf_ctx' },
};
