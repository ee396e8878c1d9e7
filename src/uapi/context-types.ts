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
  /** The kernel's own context struct (the second type of BPF_PROG_TYPE), when it is a struct: bpf_cast_to_kern_ctx's result. */
  readonly kernel?: string;
}

const SKB: ContextTypeName = { name: '__sk_buff', projection: 'sk_buff', kernel: 'sk_buff' };
const VOID: ContextTypeName = { name: '' };

export const PROGRAM_CONTEXT_TYPES: Readonly<Record<number, ContextTypeName>> = {
  [ProgramType.SOCKET_FILTER]: SKB,
  [ProgramType.SCHED_CLS]: SKB,
  [ProgramType.SCHED_ACT]: SKB,
  [ProgramType.XDP]: { name: 'xdp_md', projection: 'xdp_buff', kernel: 'xdp_buff' },
  [ProgramType.CGROUP_SKB]: SKB,
  [ProgramType.CGROUP_SOCK]: { name: 'bpf_sock', kernel: 'sock' },
  [ProgramType.CGROUP_SOCK_ADDR]: { name: 'bpf_sock_addr', kernel: 'bpf_sock_addr_kern' },
  [ProgramType.LWT_IN]: SKB,
  [ProgramType.LWT_OUT]: SKB,
  [ProgramType.LWT_XMIT]: SKB,
  [ProgramType.LWT_SEG6LOCAL]: SKB,
  [ProgramType.SOCK_OPS]: { name: 'bpf_sock_ops', kernel: 'bpf_sock_ops_kern' },
  [ProgramType.SK_SKB]: SKB,
  [ProgramType.SK_MSG]: { name: 'sk_msg_md', kernel: 'sk_msg' },
  [ProgramType.FLOW_DISSECTOR]: { ...SKB, kernel: 'bpf_flow_dissector' },
  [ProgramType.KPROBE]: { name: 'bpf_user_pt_regs_t', typedef: true, resolved: 'pt_regs', kernel: 'pt_regs' },
  [ProgramType.TRACEPOINT]: { name: '__u64', scalar: true },
  [ProgramType.PERF_EVENT]: { name: 'bpf_perf_event_data', kernel: 'bpf_perf_event_data_kern' },
  [ProgramType.RAW_TRACEPOINT]: { name: 'bpf_raw_tracepoint_args' },
  [ProgramType.RAW_TRACEPOINT_WRITABLE]: { name: 'bpf_raw_tracepoint_args' },
  [ProgramType.TRACING]: VOID,
  [ProgramType.CGROUP_DEVICE]: { name: 'bpf_cgroup_dev_ctx', kernel: 'bpf_cgroup_dev_ctx' },
  [ProgramType.CGROUP_SYSCTL]: { name: 'bpf_sysctl', kernel: 'bpf_sysctl_kern' },
  [ProgramType.CGROUP_SOCKOPT]: { name: 'bpf_sockopt', kernel: 'bpf_sockopt_kern' },
  [ProgramType.LIRC_MODE2]: { name: '__u32', scalar: true },
  [ProgramType.SK_REUSEPORT]: { name: 'sk_reuseport_md', kernel: 'sk_reuseport_kern' },
  [ProgramType.SK_LOOKUP]: { name: 'bpf_sk_lookup', kernel: 'bpf_sk_lookup_kern' },
  [ProgramType.STRUCT_OPS]: VOID,
  [ProgramType.EXT]: VOID,
  [ProgramType.LSM]: VOID,
  [ProgramType.SYSCALL]: VOID,
  [ProgramType.NETFILTER]: { name: 'bpf_nf_ctx', kernel: 'bpf_nf_ctx' },
};

const PROJECTIONS = new Map<string, string>(Object.values(PROGRAM_CONTEXT_TYPES).flatMap((c) => (c.projection !== undefined ? [[c.name, c.projection] as const] : [])));

/** btf_is_projection_of: the kernel struct behind a UAPI context struct (sk_buff for __sk_buff, xdp_buff for xdp_md). */
export function contextProjection(name: string): string | undefined {
  return PROJECTIONS.get(name);
}
