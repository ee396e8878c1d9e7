import { TsbpfError } from '../errors.ts';
import { ProgramType } from './enums.ts';

/**
 * The kernel's BPF helper functions (enum bpf_func_id in
 * include/uapi/linux/bpf.h) with their verifier prototypes (struct
 * bpf_func_proto), as data. Verifier, VM, disassembler and kernel feature
 * probes all read this one table.
 *
 * Provenance, per field:
 * - `id`/`name`: enum bpf_func_id, checked against the running kernel's BTF
 *   by test/uapi/helpers.test.ts.
 * - `ret`, `args`, `gplOnly`, `pktAccess`, `mightSleep`: copied mechanically
 *   from every `struct bpf_func_proto` initializer in the Linux 6.12.117
 *   sources (kernel/, net/, security/, drivers/media/rc/); `source` names the
 *   file and variable each entry comes from. Normalized to Linux 6.18, where
 *   ARG_SCALAR was folded back into ARG_ANYTHING (bpf_loop's first argument).
 * - `allowFastcall`: the proto's allow_fastcall, for helpers the kernel also
 *   inlines on x86-64 (verifier_inlines_helper_call): measured on Linux 6.18
 *   by whether a subprogram's bpf_fastcall spill and fill around the call
 *   still count toward the 512-byte call-chain stack limit.
 *   `gplOnly` was also measured on Linux 6.18 by loading a non-GPL program
 *   calling each helper: it agreed for all 194 helpers loadable there.
 * - Availability per program type (`HELPER_AVAILABILITY`): measured on Linux
 *   6.18 by loading, for each program type and attach type, a program calling
 *   each helper and reading whether the verifier answered "program of this
 *   type cannot use helper". TRACING, LSM and LIRC_MODE2 cannot be loaded on
 *   that machine and were derived from the sources' tracing_prog_func_proto,
 *   bpf_tracing_func_proto, bpf_lsm_func_proto and lirc_mode2_func_proto
 *   switches on top of the measured RAW_TRACEPOINT set. EXT programs use the
 *   helpers of the program they replace; STRUCT_OPS programs those of their
 *   struct_ops type: neither is tabulated.
 *
 * Several helpers have more than one prototype, chosen by program type
 * (e.g. bpf_perf_event_output for tracing vs. __sk_buff contexts); the entry
 * holds the principal one and `variants` names the others whose prototype
 * differs (found from the `case BPF_FUNC_x: return &proto` lines of every
 * *_func_proto switch). Most differ only in which context or BTF type an
 * argument points to; a few in arity (bpf_get_cgroup_classid_curr_proto has
 * no argument).
 */

/** Bits of a type value holding the base type (BPF_BASE_TYPE_BITS = 8 in include/linux/bpf.h). */
export const BASE_TYPE_MASK = 0xff;

/** enum bpf_type_flag: modifiers or-ed onto argument and return types (Linux 6.18 values). */
export const TypeFlag = {
  PTR_MAYBE_NULL: 1 << 8,
  MEM_RDONLY: 1 << 9,
  MEM_RINGBUF: 1 << 10,
  MEM_USER: 1 << 11,
  MEM_PERCPU: 1 << 12,
  OBJ_RELEASE: 1 << 13,
  PTR_UNTRUSTED: 1 << 14,
  MEM_UNINIT: 1 << 15,
  DYNPTR_TYPE_LOCAL: 1 << 16,
  DYNPTR_TYPE_RINGBUF: 1 << 17,
  MEM_FIXED_SIZE: 1 << 18,
  MEM_ALLOC: 1 << 19,
  PTR_TRUSTED: 1 << 20,
  MEM_RCU: 1 << 21,
  NON_OWN_REF: 1 << 22,
  DYNPTR_TYPE_SKB: 1 << 23,
  DYNPTR_TYPE_XDP: 1 << 24,
  MEM_ALIGNED: 1 << 25,
  MEM_WRITE: 1 << 26,
  DYNPTR_TYPE_SKB_META: 1 << 27,
} as const;
const F = TypeFlag;

/**
 * enum bpf_arg_type: base types, then the kernel's named combinations of a
 * base type with flags (ARG_PTR_TO_UNINIT_MEM = ARG_PTR_TO_MEM | MEM_UNINIT |
 * MEM_WRITE, ...). Names drop the `ARG_` prefix.
 */
export const ArgType = {
  DONTCARE: 0,
  CONST_MAP_PTR: 1,
  PTR_TO_MAP_KEY: 2,
  PTR_TO_MAP_VALUE: 3,
  PTR_TO_MEM: 4,
  PTR_TO_ARENA: 5,
  CONST_SIZE: 6,
  CONST_SIZE_OR_ZERO: 7,
  PTR_TO_CTX: 8,
  ANYTHING: 9,
  PTR_TO_SPIN_LOCK: 10,
  PTR_TO_SOCK_COMMON: 11,
  PTR_TO_SOCKET: 12,
  PTR_TO_BTF_ID: 13,
  PTR_TO_RINGBUF_MEM: 14,
  CONST_ALLOC_SIZE_OR_ZERO: 15,
  PTR_TO_BTF_ID_SOCK_COMMON: 16,
  PTR_TO_PERCPU_BTF_ID: 17,
  PTR_TO_FUNC: 18,
  PTR_TO_STACK: 19,
  PTR_TO_CONST_STR: 20,
  PTR_TO_TIMER: 21,
  KPTR_XCHG_DEST: 22,
  PTR_TO_DYNPTR: 23,
  PTR_TO_MAP_VALUE_OR_NULL: 3 | F.PTR_MAYBE_NULL,
  PTR_TO_MEM_OR_NULL: 4 | F.PTR_MAYBE_NULL,
  PTR_TO_CTX_OR_NULL: 8 | F.PTR_MAYBE_NULL,
  PTR_TO_SOCKET_OR_NULL: 12 | F.PTR_MAYBE_NULL,
  PTR_TO_STACK_OR_NULL: 19 | F.PTR_MAYBE_NULL,
  PTR_TO_BTF_ID_OR_NULL: 13 | F.PTR_MAYBE_NULL,
  PTR_TO_UNINIT_MEM: 4 | F.MEM_UNINIT | F.MEM_WRITE,
  PTR_TO_FIXED_SIZE_MEM: 4 | F.MEM_FIXED_SIZE,
} as const;
const A = ArgType;

/** enum bpf_return_type: base types and named combinations. Names drop the `RET_` prefix. */
export const ReturnType = {
  INTEGER: 0,
  VOID: 1,
  PTR_TO_MAP_VALUE: 2,
  PTR_TO_SOCKET: 3,
  PTR_TO_TCP_SOCK: 4,
  PTR_TO_SOCK_COMMON: 5,
  PTR_TO_MEM: 6,
  PTR_TO_MEM_OR_BTF_ID: 7,
  PTR_TO_BTF_ID: 8,
  PTR_TO_MAP_VALUE_OR_NULL: 2 | F.PTR_MAYBE_NULL,
  PTR_TO_SOCKET_OR_NULL: 3 | F.PTR_MAYBE_NULL,
  PTR_TO_TCP_SOCK_OR_NULL: 4 | F.PTR_MAYBE_NULL,
  PTR_TO_SOCK_COMMON_OR_NULL: 5 | F.PTR_MAYBE_NULL,
  PTR_TO_RINGBUF_MEM_OR_NULL: 6 | F.PTR_MAYBE_NULL | F.MEM_RINGBUF,
  PTR_TO_DYNPTR_MEM_OR_NULL: 6 | F.PTR_MAYBE_NULL,
  PTR_TO_BTF_ID_OR_NULL: 8 | F.PTR_MAYBE_NULL,
  PTR_TO_BTF_ID_TRUSTED: 8 | F.PTR_TRUSTED,
} as const;
const R = ReturnType;

export interface HelperArg {
  /** An `ArgType` value, possibly or-ed with `TypeFlag`s. */
  readonly type: number;
  /** Byte size for ARG_PTR_TO_FIXED_SIZE_MEM (the proto's `argN_size`). */
  readonly size?: number;
  /** Kernel struct a PTR_TO_BTF_ID argument must point to; absent when the verifier decides it from context (BPF_PTR_POISON in the kernel). */
  readonly btfType?: string;
}

export interface HelperSpec {
  readonly id: number;
  /** Name without the `bpf_` prefix, as in `BPF_FUNC_<name>`. */
  readonly name: string;
  /** Only programs with a GPL-compatible license may call it. */
  readonly gplOnly: boolean;
  /** A `ReturnType` value, possibly or-ed with `TypeFlag`s. */
  readonly ret: number;
  /** Kernel struct a PTR_TO_BTF_ID return value points to. */
  readonly retBtfType?: string;
  /** Arguments R1..R5 in order; registers past the last are not read. */
  readonly args: readonly HelperArg[];
  /** May be called with packet pointers as memory arguments (the proto's pkt_access). */
  readonly pktAccess: boolean;
  /** Only callable from sleepable programs (the proto's might_sleep). */
  readonly mightSleep: boolean;
  /**
   * A bpf_fastcall function the kernel inlines (allow_fastcall): it keeps the caller-saved registers it neither takes
   * nor returns, so the spills and fills clang puts around it are removed after verification.
   */
  readonly allowFastcall: boolean;
  /** `file:variable` of the kernel's bpf_func_proto this entry was taken from. */
  readonly source: string;
  /** Other bpf_func_proto variables for this helper whose prototype differs (per program type). */
  readonly variants: readonly string[];
}

interface HelperRow {
  id: number;
  name: string;
  gplOnly: boolean;
  ret: number;
  retBtfType?: string;
  args: readonly (number | HelperArg)[];
  pktAccess?: boolean;
  mightSleep?: boolean;
  allowFastcall?: boolean;
  source: string;
  variants?: readonly string[];
}

const ROWS: readonly HelperRow[] = [
  { id: 1, name: 'map_lookup_elem', gplOnly: false, ret: R.PTR_TO_MAP_VALUE_OR_NULL, args: [A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY], pktAccess: true, source: 'kernel/bpf/helpers.c:bpf_map_lookup_elem_proto' },
  { id: 2, name: 'map_update_elem', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY, A.PTR_TO_MAP_VALUE, A.ANYTHING], pktAccess: true, source: 'kernel/bpf/helpers.c:bpf_map_update_elem_proto' },
  { id: 3, name: 'map_delete_elem', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY], pktAccess: true, source: 'kernel/bpf/helpers.c:bpf_map_delete_elem_proto' },
  { id: 4, name: 'probe_read', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_probe_read_compat_proto' },
  { id: 5, name: 'ktime_get_ns', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_ktime_get_ns_proto' },
  { id: 6, name: 'trace_printk', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'kernel/trace/bpf_trace.c:bpf_trace_printk_proto' },
  { id: 7, name: 'get_prandom_u32', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_get_prandom_u32_proto' },
  { id: 8, name: 'get_smp_processor_id', gplOnly: false, ret: R.INTEGER, args: [], allowFastcall: true, source: 'kernel/bpf/helpers.c:bpf_get_smp_processor_id_proto' },
  { id: 9, name: 'skb_store_bytes', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_store_bytes_proto' },
  { id: 10, name: 'l3_csum_replace', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_l3_csum_replace_proto' },
  { id: 11, name: 'l4_csum_replace', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_l4_csum_replace_proto' },
  { id: 12, name: 'tail_call', gplOnly: false, ret: R.VOID, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.ANYTHING], source: 'kernel/bpf/core.c:bpf_tail_call_proto' },
  { id: 13, name: 'clone_redirect', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_clone_redirect_proto' },
  { id: 14, name: 'get_current_pid_tgid', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_get_current_pid_tgid_proto' },
  { id: 15, name: 'get_current_uid_gid', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_get_current_uid_gid_proto' },
  { id: 16, name: 'get_current_comm', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'kernel/bpf/helpers.c:bpf_get_current_comm_proto' },
  { id: 17, name: 'get_cgroup_classid', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_get_cgroup_classid_proto', variants: ['bpf_get_cgroup_classid_curr_proto'] },
  { id: 18, name: 'skb_vlan_push', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_vlan_push_proto' },
  { id: 19, name: 'skb_vlan_pop', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_skb_vlan_pop_proto' },
  { id: 20, name: 'skb_get_tunnel_key', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_get_tunnel_key_proto' },
  { id: 21, name: 'skb_set_tunnel_key', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_set_tunnel_key_proto' },
  { id: 22, name: 'perf_event_read', gplOnly: true, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_perf_event_read_proto' },
  { id: 23, name: 'redirect', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_redirect_proto' },
  { id: 24, name: 'get_route_realm', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_get_route_realm_proto' },
  { id: 25, name: 'perf_event_output', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO], source: 'kernel/trace/bpf_trace.c:bpf_perf_event_output_proto' },
  { id: 26, name: 'skb_load_bytes', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'net/core/filter.c:bpf_skb_load_bytes_proto' },
  { id: 27, name: 'get_stackid', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.ANYTHING], source: 'kernel/bpf/stackmap.c:bpf_get_stackid_proto', variants: ['bpf_get_stackid_proto_pe'] },
  { id: 28, name: 'csum_diff', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_MEM | F.PTR_MAYBE_NULL | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO, A.PTR_TO_MEM | F.PTR_MAYBE_NULL | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO, A.ANYTHING], pktAccess: true, source: 'net/core/filter.c:bpf_csum_diff_proto' },
  { id: 29, name: 'skb_get_tunnel_opt', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'net/core/filter.c:bpf_skb_get_tunnel_opt_proto' },
  { id: 30, name: 'skb_set_tunnel_opt', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'net/core/filter.c:bpf_skb_set_tunnel_opt_proto' },
  { id: 31, name: 'skb_change_proto', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_change_proto_proto' },
  { id: 32, name: 'skb_change_type', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_change_type_proto' },
  { id: 33, name: 'skb_under_cgroup', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_under_cgroup_proto' },
  { id: 34, name: 'get_hash_recalc', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_get_hash_recalc_proto' },
  { id: 35, name: 'get_current_task', gplOnly: true, ret: R.INTEGER, args: [], source: 'kernel/trace/bpf_trace.c:bpf_get_current_task_proto' },
  { id: 36, name: 'probe_write_user', gplOnly: true, ret: R.INTEGER, args: [A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'kernel/trace/bpf_trace.c:bpf_probe_write_user_proto' },
  { id: 37, name: 'current_task_under_cgroup', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.ANYTHING], source: 'kernel/bpf/helpers.c:bpf_current_task_under_cgroup_proto' },
  { id: 38, name: 'skb_change_tail', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_change_tail_proto' },
  { id: 39, name: 'skb_pull_data', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_pull_data_proto' },
  { id: 40, name: 'csum_update', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_csum_update_proto' },
  { id: 41, name: 'set_hash_invalid', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_set_hash_invalid_proto' },
  { id: 42, name: 'get_numa_node_id', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_get_numa_node_id_proto' },
  { id: 43, name: 'skb_change_head', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_change_head_proto' },
  { id: 44, name: 'xdp_adjust_head', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_xdp_adjust_head_proto' },
  { id: 45, name: 'probe_read_str', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_probe_read_compat_str_proto' },
  { id: 46, name: 'get_socket_cookie', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_get_socket_cookie_proto', variants: ['bpf_get_socket_ptr_cookie_proto'] },
  { id: 47, name: 'get_socket_uid', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_get_socket_uid_proto' },
  { id: 48, name: 'set_hash', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_set_hash_proto' },
  { id: 49, name: 'setsockopt', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'net/core/filter.c:bpf_sock_ops_setsockopt_proto', variants: ['bpf_sk_setsockopt_proto', 'bpf_unlocked_sk_setsockopt_proto'] },
  { id: 50, name: 'skb_adjust_room', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_adjust_room_proto' },
  { id: 51, name: 'redirect_map', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_xdp_redirect_map_proto', variants: ['bpf_msg_redirect_map_proto', 'bpf_sk_redirect_map_proto'] },
  { id: 52, name: 'sk_redirect_map', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.ANYTHING, A.ANYTHING], source: 'net/core/sock_map.c:bpf_sk_redirect_map_proto' },
  { id: 53, name: 'sock_map_update', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY, A.ANYTHING], pktAccess: true, source: 'net/core/sock_map.c:bpf_sock_map_update_proto' },
  { id: 54, name: 'xdp_adjust_meta', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_xdp_adjust_meta_proto' },
  { id: 55, name: 'perf_event_read_value', gplOnly: true, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.ANYTHING, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'kernel/trace/bpf_trace.c:bpf_perf_event_read_value_proto' },
  { id: 56, name: 'perf_prog_read_value', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'kernel/trace/bpf_trace.c:bpf_perf_prog_read_value_proto' },
  { id: 57, name: 'getsockopt', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'net/core/filter.c:bpf_sock_ops_getsockopt_proto', variants: ['bpf_sk_getsockopt_proto', 'bpf_unlocked_sk_getsockopt_proto'] },
  { id: 58, name: 'override_return', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_override_return_proto' },
  { id: 59, name: 'sock_ops_cb_flags_set', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_sock_ops_cb_flags_set_proto' },
  { id: 60, name: 'msg_redirect_map', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.ANYTHING, A.ANYTHING], source: 'net/core/sock_map.c:bpf_msg_redirect_map_proto' },
  { id: 61, name: 'msg_apply_bytes', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_msg_apply_bytes_proto' },
  { id: 62, name: 'msg_cork_bytes', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_msg_cork_bytes_proto' },
  { id: 63, name: 'msg_pull_data', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_msg_pull_data_proto' },
  { id: 64, name: 'bind', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'net/core/filter.c:bpf_bind_proto' },
  { id: 65, name: 'xdp_adjust_tail', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_xdp_adjust_tail_proto' },
  { id: 66, name: 'skb_get_xfrm_state', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_get_xfrm_state_proto' },
  { id: 67, name: 'get_stack', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/bpf/stackmap.c:bpf_get_stack_proto', variants: ['bpf_get_stack_proto_raw_tp'] },
  { id: 68, name: 'skb_load_bytes_relative', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_load_bytes_relative_proto' },
  { id: 69, name: 'fib_lookup', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_MEM, A.CONST_SIZE, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_fib_lookup_proto' },
  { id: 70, name: 'sock_hash_update', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY, A.ANYTHING], pktAccess: true, source: 'net/core/sock_map.c:bpf_sock_hash_update_proto' },
  { id: 71, name: 'msg_redirect_hash', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY, A.ANYTHING], source: 'net/core/sock_map.c:bpf_msg_redirect_hash_proto' },
  { id: 72, name: 'sk_redirect_hash', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY, A.ANYTHING], source: 'net/core/sock_map.c:bpf_sk_redirect_hash_proto' },
  { id: 73, name: 'lwt_push_encap', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'net/core/filter.c:bpf_lwt_in_push_encap_proto' },
  { id: 74, name: 'lwt_seg6_store_bytes', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'net/core/filter.c:bpf_lwt_seg6_store_bytes_proto' },
  { id: 75, name: 'lwt_seg6_adjust_srh', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_lwt_seg6_adjust_srh_proto' },
  { id: 76, name: 'lwt_seg6_action', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'net/core/filter.c:bpf_lwt_seg6_action_proto' },
  { id: 77, name: 'rc_repeat', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'drivers/media/rc/bpf-lirc.c:rc_repeat_proto' },
  { id: 78, name: 'rc_keydown', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.ANYTHING], source: 'drivers/media/rc/bpf-lirc.c:rc_keydown_proto' },
  { id: 79, name: 'skb_cgroup_id', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_skb_cgroup_id_proto' },
  { id: 80, name: 'get_current_cgroup_id', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_get_current_cgroup_id_proto' },
  { id: 81, name: 'get_local_storage', gplOnly: false, ret: R.PTR_TO_MAP_VALUE, args: [A.CONST_MAP_PTR, A.ANYTHING], source: 'kernel/bpf/cgroup.c:bpf_get_local_storage_proto' },
  { id: 82, name: 'sk_select_reuseport', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY, A.ANYTHING], source: 'net/core/filter.c:sk_select_reuseport_proto' },
  { id: 83, name: 'skb_ancestor_cgroup_id', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_ancestor_cgroup_id_proto' },
  { id: 84, name: 'sk_lookup_tcp', gplOnly: false, ret: R.PTR_TO_SOCKET_OR_NULL, args: [A.PTR_TO_CTX, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO, A.ANYTHING, A.ANYTHING], pktAccess: true, source: 'net/core/filter.c:bpf_sk_lookup_tcp_proto' },
  { id: 85, name: 'sk_lookup_udp', gplOnly: false, ret: R.PTR_TO_SOCKET_OR_NULL, args: [A.PTR_TO_CTX, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO, A.ANYTHING, A.ANYTHING], pktAccess: true, source: 'net/core/filter.c:bpf_sk_lookup_udp_proto' },
  { id: 86, name: 'sk_release', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_BTF_ID_SOCK_COMMON | F.OBJ_RELEASE], source: 'net/core/filter.c:bpf_sk_release_proto' },
  { id: 87, name: 'map_push_elem', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.PTR_TO_MAP_VALUE, A.ANYTHING], pktAccess: true, source: 'kernel/bpf/helpers.c:bpf_map_push_elem_proto' },
  { id: 88, name: 'map_pop_elem', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.PTR_TO_MAP_VALUE | F.MEM_UNINIT | F.MEM_WRITE], source: 'kernel/bpf/helpers.c:bpf_map_pop_elem_proto' },
  { id: 89, name: 'map_peek_elem', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.PTR_TO_MAP_VALUE | F.MEM_UNINIT | F.MEM_WRITE], source: 'kernel/bpf/helpers.c:bpf_map_peek_elem_proto' },
  { id: 90, name: 'msg_push_data', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_msg_push_data_proto' },
  { id: 91, name: 'msg_pop_data', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_msg_pop_data_proto' },
  { id: 92, name: 'rc_pointer_rel', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING], source: 'drivers/media/rc/bpf-lirc.c:rc_pointer_rel_proto' },
  { id: 93, name: 'spin_lock', gplOnly: false, ret: R.VOID, args: [A.PTR_TO_SPIN_LOCK], source: 'kernel/bpf/helpers.c:bpf_spin_lock_proto' },
  { id: 94, name: 'spin_unlock', gplOnly: false, ret: R.VOID, args: [A.PTR_TO_SPIN_LOCK], source: 'kernel/bpf/helpers.c:bpf_spin_unlock_proto' },
  { id: 95, name: 'sk_fullsock', gplOnly: false, ret: R.PTR_TO_SOCKET_OR_NULL, args: [A.PTR_TO_SOCK_COMMON], source: 'net/core/filter.c:bpf_sk_fullsock_proto' },
  { id: 96, name: 'tcp_sock', gplOnly: false, ret: R.PTR_TO_TCP_SOCK_OR_NULL, args: [A.PTR_TO_SOCK_COMMON], source: 'net/core/filter.c:bpf_tcp_sock_proto' },
  { id: 97, name: 'skb_ecn_set_ce', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_skb_ecn_set_ce_proto' },
  { id: 98, name: 'get_listener_sock', gplOnly: false, ret: R.PTR_TO_SOCKET_OR_NULL, args: [A.PTR_TO_SOCK_COMMON], source: 'net/core/filter.c:bpf_get_listener_sock_proto' },
  { id: 99, name: 'skc_lookup_tcp', gplOnly: false, ret: R.PTR_TO_SOCK_COMMON_OR_NULL, args: [A.PTR_TO_CTX, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO, A.ANYTHING, A.ANYTHING], pktAccess: true, source: 'net/core/filter.c:bpf_skc_lookup_tcp_proto' },
  { id: 100, name: 'tcp_check_syncookie', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_BTF_ID_SOCK_COMMON, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], pktAccess: true, source: 'net/core/filter.c:bpf_tcp_check_syncookie_proto' },
  { id: 101, name: 'sysctl_get_name', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_MEM, A.CONST_SIZE, A.ANYTHING], source: 'kernel/bpf/cgroup.c:bpf_sysctl_get_name_proto' },
  { id: 102, name: 'sysctl_get_current_value', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'kernel/bpf/cgroup.c:bpf_sysctl_get_current_value_proto' },
  { id: 103, name: 'sysctl_get_new_value', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'kernel/bpf/cgroup.c:bpf_sysctl_get_new_value_proto' },
  { id: 104, name: 'sysctl_set_new_value', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'kernel/bpf/cgroup.c:bpf_sysctl_set_new_value_proto' },
  { id: 105, name: 'strtol', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.ANYTHING, { type: A.PTR_TO_FIXED_SIZE_MEM | F.MEM_UNINIT | F.MEM_WRITE | F.MEM_ALIGNED, size: 8 }], source: 'kernel/bpf/helpers.c:bpf_strtol_proto' },
  { id: 106, name: 'strtoul', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.ANYTHING, { type: A.PTR_TO_FIXED_SIZE_MEM | F.MEM_UNINIT | F.MEM_WRITE | F.MEM_ALIGNED, size: 8 }], source: 'kernel/bpf/helpers.c:bpf_strtoul_proto' },
  { id: 107, name: 'sk_storage_get', gplOnly: false, ret: R.PTR_TO_MAP_VALUE_OR_NULL, args: [A.CONST_MAP_PTR, A.PTR_TO_BTF_ID_SOCK_COMMON, A.PTR_TO_MAP_VALUE_OR_NULL, A.ANYTHING], source: 'net/core/bpf_sk_storage.c:bpf_sk_storage_get_proto', variants: ['bpf_sk_storage_get_cg_sock_proto', 'bpf_sk_storage_get_tracing_proto'] },
  { id: 108, name: 'sk_storage_delete', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.PTR_TO_BTF_ID_SOCK_COMMON], source: 'net/core/bpf_sk_storage.c:bpf_sk_storage_delete_proto', variants: ['bpf_sk_storage_delete_tracing_proto'] },
  { id: 109, name: 'send_signal', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_send_signal_proto' },
  { id: 110, name: 'tcp_gen_syncookie', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_BTF_ID_SOCK_COMMON, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], pktAccess: true, source: 'net/core/filter.c:bpf_tcp_gen_syncookie_proto' },
  { id: 111, name: 'skb_output', gplOnly: true, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'sk_buff' }, A.CONST_MAP_PTR, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO], source: 'net/core/filter.c:bpf_skb_output_proto' },
  { id: 112, name: 'probe_read_user', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_probe_read_user_proto' },
  { id: 113, name: 'probe_read_kernel', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_probe_read_kernel_proto' },
  { id: 114, name: 'probe_read_user_str', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_probe_read_user_str_proto' },
  { id: 115, name: 'probe_read_kernel_str', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_probe_read_kernel_str_proto' },
  { id: 116, name: 'tcp_send_ack', gplOnly: false, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'tcp_sock' }, A.ANYTHING], source: 'net/ipv4/bpf_tcp_ca.c:bpf_tcp_send_ack_proto' },
  { id: 117, name: 'send_signal_thread', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_send_signal_thread_proto' },
  { id: 118, name: 'jiffies64', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_jiffies64_proto' },
  { id: 119, name: 'read_branch_records', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_MEM_OR_NULL, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_read_branch_records_proto' },
  { id: 120, name: 'get_ns_current_pid_tgid', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING, A.ANYTHING, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'kernel/bpf/helpers.c:bpf_get_ns_current_pid_tgid_proto' },
  { id: 121, name: 'xdp_output', gplOnly: true, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'xdp_buff' }, A.CONST_MAP_PTR, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO], source: 'net/core/filter.c:bpf_xdp_output_proto' },
  { id: 122, name: 'get_netns_cookie', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX_OR_NULL], source: 'net/core/filter.c:bpf_get_netns_cookie_sock_proto' },
  { id: 123, name: 'get_current_ancestor_cgroup_id', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING], source: 'kernel/bpf/helpers.c:bpf_get_current_ancestor_cgroup_id_proto' },
  { id: 124, name: 'sk_assign', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_BTF_ID_SOCK_COMMON, A.ANYTHING], source: 'net/core/filter.c:bpf_sk_assign_proto', variants: ['bpf_sk_lookup_assign_proto'] },
  { id: 125, name: 'ktime_get_boot_ns', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_ktime_get_boot_ns_proto' },
  { id: 126, name: 'seq_printf', gplOnly: true, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'seq_file' }, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.PTR_TO_MEM | F.PTR_MAYBE_NULL | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO], source: 'kernel/trace/bpf_trace.c:bpf_seq_printf_proto' },
  { id: 127, name: 'seq_write', gplOnly: true, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'seq_file' }, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO], source: 'kernel/trace/bpf_trace.c:bpf_seq_write_proto' },
  { id: 128, name: 'sk_cgroup_id', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_BTF_ID_SOCK_COMMON], source: 'net/core/filter.c:bpf_sk_cgroup_id_proto' },
  { id: 129, name: 'sk_ancestor_cgroup_id', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_BTF_ID_SOCK_COMMON, A.ANYTHING], source: 'net/core/filter.c:bpf_sk_ancestor_cgroup_id_proto' },
  { id: 130, name: 'ringbuf_output', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/bpf/ringbuf.c:bpf_ringbuf_output_proto' },
  { id: 131, name: 'ringbuf_reserve', gplOnly: false, ret: R.PTR_TO_RINGBUF_MEM_OR_NULL, args: [A.CONST_MAP_PTR, A.CONST_ALLOC_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/bpf/ringbuf.c:bpf_ringbuf_reserve_proto' },
  { id: 132, name: 'ringbuf_submit', gplOnly: false, ret: R.VOID, args: [A.PTR_TO_RINGBUF_MEM | F.OBJ_RELEASE, A.ANYTHING], source: 'kernel/bpf/ringbuf.c:bpf_ringbuf_submit_proto' },
  { id: 133, name: 'ringbuf_discard', gplOnly: false, ret: R.VOID, args: [A.PTR_TO_RINGBUF_MEM | F.OBJ_RELEASE, A.ANYTHING], source: 'kernel/bpf/ringbuf.c:bpf_ringbuf_discard_proto' },
  { id: 134, name: 'ringbuf_query', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.ANYTHING], source: 'kernel/bpf/ringbuf.c:bpf_ringbuf_query_proto' },
  { id: 135, name: 'csum_level', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING], source: 'net/core/filter.c:bpf_csum_level_proto' },
  { id: 136, name: 'skc_to_tcp6_sock', gplOnly: false, ret: R.PTR_TO_BTF_ID_OR_NULL, retBtfType: 'tcp6_sock', args: [A.PTR_TO_BTF_ID_SOCK_COMMON], source: 'net/core/filter.c:bpf_skc_to_tcp6_sock_proto' },
  { id: 137, name: 'skc_to_tcp_sock', gplOnly: false, ret: R.PTR_TO_BTF_ID_OR_NULL, retBtfType: 'tcp_sock', args: [A.PTR_TO_BTF_ID_SOCK_COMMON], source: 'net/core/filter.c:bpf_skc_to_tcp_sock_proto' },
  { id: 138, name: 'skc_to_tcp_timewait_sock', gplOnly: false, ret: R.PTR_TO_BTF_ID_OR_NULL, retBtfType: 'tcp_timewait_sock', args: [A.PTR_TO_BTF_ID_SOCK_COMMON], source: 'net/core/filter.c:bpf_skc_to_tcp_timewait_sock_proto' },
  { id: 139, name: 'skc_to_tcp_request_sock', gplOnly: false, ret: R.PTR_TO_BTF_ID_OR_NULL, retBtfType: 'tcp_request_sock', args: [A.PTR_TO_BTF_ID_SOCK_COMMON], source: 'net/core/filter.c:bpf_skc_to_tcp_request_sock_proto' },
  { id: 140, name: 'skc_to_udp6_sock', gplOnly: false, ret: R.PTR_TO_BTF_ID_OR_NULL, retBtfType: 'udp6_sock', args: [A.PTR_TO_BTF_ID_SOCK_COMMON], source: 'net/core/filter.c:bpf_skc_to_udp6_sock_proto' },
  { id: 141, name: 'get_task_stack', gplOnly: false, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'task_struct' }, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/bpf/stackmap.c:bpf_get_task_stack_proto' },
  { id: 142, name: 'load_hdr_opt', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_MEM | F.MEM_WRITE, A.CONST_SIZE, A.ANYTHING], source: 'net/core/filter.c:bpf_sock_ops_load_hdr_opt_proto' },
  { id: 143, name: 'store_hdr_opt', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.ANYTHING], source: 'net/core/filter.c:bpf_sock_ops_store_hdr_opt_proto' },
  { id: 144, name: 'reserve_hdr_opt', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_sock_ops_reserve_hdr_opt_proto' },
  { id: 145, name: 'inode_storage_get', gplOnly: false, ret: R.PTR_TO_MAP_VALUE_OR_NULL, args: [A.CONST_MAP_PTR, { type: A.PTR_TO_BTF_ID_OR_NULL, btfType: 'inode' }, A.PTR_TO_MAP_VALUE_OR_NULL, A.ANYTHING], source: 'kernel/bpf/bpf_inode_storage.c:bpf_inode_storage_get_proto' },
  { id: 146, name: 'inode_storage_delete', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, { type: A.PTR_TO_BTF_ID_OR_NULL, btfType: 'inode' }], source: 'kernel/bpf/bpf_inode_storage.c:bpf_inode_storage_delete_proto' },
  { id: 147, name: 'd_path', gplOnly: false, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'path' }, A.PTR_TO_MEM, A.CONST_SIZE_OR_ZERO], source: 'kernel/trace/bpf_trace.c:bpf_d_path_proto' },
  { id: 148, name: 'copy_from_user', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING], mightSleep: true, source: 'kernel/bpf/helpers.c:bpf_copy_from_user_proto' },
  { id: 149, name: 'snprintf_btf', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_MEM, A.CONST_SIZE, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_snprintf_btf_proto' },
  { id: 150, name: 'seq_printf_btf', gplOnly: true, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'seq_file' }, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/trace/bpf_trace.c:bpf_seq_printf_btf_proto' },
  { id: 151, name: 'skb_cgroup_classid', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_skb_cgroup_classid_proto' },
  { id: 152, name: 'redirect_neigh', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING, A.PTR_TO_MEM | F.PTR_MAYBE_NULL | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'net/core/filter.c:bpf_redirect_neigh_proto' },
  { id: 153, name: 'per_cpu_ptr', gplOnly: false, ret: R.PTR_TO_MEM_OR_BTF_ID | F.PTR_MAYBE_NULL | F.MEM_RDONLY, args: [A.PTR_TO_PERCPU_BTF_ID, A.ANYTHING], source: 'kernel/bpf/helpers.c:bpf_per_cpu_ptr_proto' },
  { id: 154, name: 'this_cpu_ptr', gplOnly: false, ret: R.PTR_TO_MEM_OR_BTF_ID | F.MEM_RDONLY, args: [A.PTR_TO_PERCPU_BTF_ID], source: 'kernel/bpf/helpers.c:bpf_this_cpu_ptr_proto' },
  { id: 155, name: 'redirect_peer', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_redirect_peer_proto' },
  { id: 156, name: 'task_storage_get', gplOnly: false, ret: R.PTR_TO_MAP_VALUE_OR_NULL, args: [A.CONST_MAP_PTR, { type: A.PTR_TO_BTF_ID_OR_NULL, btfType: 'task_struct' }, A.PTR_TO_MAP_VALUE_OR_NULL, A.ANYTHING], source: 'kernel/bpf/bpf_task_storage.c:bpf_task_storage_get_proto' },
  { id: 157, name: 'task_storage_delete', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, { type: A.PTR_TO_BTF_ID_OR_NULL, btfType: 'task_struct' }], source: 'kernel/bpf/bpf_task_storage.c:bpf_task_storage_delete_proto' },
  { id: 158, name: 'get_current_task_btf', gplOnly: true, ret: R.PTR_TO_BTF_ID_TRUSTED, retBtfType: 'task_struct', args: [], source: 'kernel/trace/bpf_trace.c:bpf_get_current_task_btf_proto' },
  { id: 159, name: 'bprm_opts_set', gplOnly: false, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'linux_binprm' }, A.ANYTHING], source: 'kernel/bpf/bpf_lsm.c:bpf_bprm_opts_set_proto' },
  { id: 160, name: 'ktime_get_coarse_ns', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_ktime_get_coarse_ns_proto' },
  { id: 161, name: 'ima_inode_hash', gplOnly: false, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'inode' }, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], mightSleep: true, source: 'kernel/bpf/bpf_lsm.c:bpf_ima_inode_hash_proto' },
  { id: 162, name: 'sock_from_file', gplOnly: false, ret: R.PTR_TO_BTF_ID_OR_NULL, retBtfType: 'socket', args: [{ type: A.PTR_TO_BTF_ID, btfType: 'file' }], source: 'net/core/filter.c:bpf_sock_from_file_proto' },
  { id: 163, name: 'check_mtu', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, { type: A.PTR_TO_FIXED_SIZE_MEM | F.MEM_WRITE | F.MEM_ALIGNED, size: 4 }, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_check_mtu_proto' },
  { id: 164, name: 'for_each_map_elem', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.PTR_TO_FUNC, A.PTR_TO_STACK_OR_NULL, A.ANYTHING], source: 'kernel/bpf/bpf_iter.c:bpf_for_each_map_elem_proto' },
  { id: 165, name: 'snprintf', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_MEM_OR_NULL, A.CONST_SIZE_OR_ZERO, A.PTR_TO_CONST_STR, A.PTR_TO_MEM | F.PTR_MAYBE_NULL | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO], source: 'kernel/bpf/helpers.c:bpf_snprintf_proto' },
  { id: 166, name: 'sys_bpf', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], mightSleep: true, source: 'kernel/bpf/syscall.c:bpf_sys_bpf_proto' },
  { id: 167, name: 'btf_find_by_name_kind', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.ANYTHING, A.ANYTHING], mightSleep: true, source: 'kernel/bpf/btf.c:bpf_btf_find_by_name_kind_proto' },
  { id: 168, name: 'sys_close', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING], mightSleep: true, source: 'kernel/bpf/syscall.c:bpf_sys_close_proto' },
  { id: 169, name: 'timer_init', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_TIMER, A.CONST_MAP_PTR, A.ANYTHING], source: 'kernel/bpf/helpers.c:bpf_timer_init_proto' },
  { id: 170, name: 'timer_set_callback', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_TIMER, A.PTR_TO_FUNC], source: 'kernel/bpf/helpers.c:bpf_timer_set_callback_proto' },
  { id: 171, name: 'timer_start', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_TIMER, A.ANYTHING, A.ANYTHING], source: 'kernel/bpf/helpers.c:bpf_timer_start_proto' },
  { id: 172, name: 'timer_cancel', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_TIMER], source: 'kernel/bpf/helpers.c:bpf_timer_cancel_proto' },
  { id: 173, name: 'get_func_ip', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'kernel/trace/bpf_trace.c:bpf_get_func_ip_proto_tracing', variants: ['bpf_get_func_ip_proto_kprobe_multi', 'bpf_get_func_ip_proto_uprobe_multi'] },
  { id: 174, name: 'get_attach_cookie', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'kernel/bpf/bpf_lsm.c:bpf_get_attach_cookie_proto' },
  { id: 175, name: 'task_pt_regs', gplOnly: true, ret: R.PTR_TO_BTF_ID, retBtfType: 'pt_regs', args: [{ type: A.PTR_TO_BTF_ID, btfType: 'task_struct' }], source: 'kernel/trace/bpf_trace.c:bpf_task_pt_regs_proto' },
  { id: 176, name: 'get_branch_snapshot', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO], source: 'kernel/trace/bpf_trace.c:bpf_get_branch_snapshot_proto' },
  { id: 177, name: 'trace_vprintk', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.PTR_TO_MEM | F.PTR_MAYBE_NULL | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO], source: 'kernel/trace/bpf_trace.c:bpf_trace_vprintk_proto' },
  { id: 178, name: 'skc_to_unix_sock', gplOnly: false, ret: R.PTR_TO_BTF_ID_OR_NULL, retBtfType: 'unix_sock', args: [A.PTR_TO_BTF_ID_SOCK_COMMON], source: 'net/core/filter.c:bpf_skc_to_unix_sock_proto' },
  { id: 179, name: 'kallsyms_lookup_name', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING, { type: A.PTR_TO_FIXED_SIZE_MEM | F.MEM_UNINIT | F.MEM_WRITE | F.MEM_ALIGNED, size: 8 }], source: 'kernel/bpf/syscall.c:bpf_kallsyms_lookup_name_proto' },
  { id: 180, name: 'find_vma', gplOnly: false, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'task_struct' }, A.ANYTHING, A.PTR_TO_FUNC, A.PTR_TO_STACK_OR_NULL, A.ANYTHING], source: 'kernel/bpf/task_iter.c:bpf_find_vma_proto' },
  { id: 181, name: 'loop', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING, A.PTR_TO_FUNC, A.PTR_TO_STACK_OR_NULL, A.ANYTHING], source: 'kernel/bpf/bpf_iter.c:bpf_loop_proto' },
  { id: 182, name: 'strncmp', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE, A.PTR_TO_CONST_STR], source: 'kernel/bpf/helpers.c:bpf_strncmp_proto' },
  { id: 183, name: 'get_func_arg', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, { type: A.PTR_TO_FIXED_SIZE_MEM | F.MEM_UNINIT | F.MEM_WRITE | F.MEM_ALIGNED, size: 8 }], source: 'kernel/trace/bpf_trace.c:bpf_get_func_arg_proto' },
  { id: 184, name: 'get_func_ret', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, { type: A.PTR_TO_FIXED_SIZE_MEM | F.MEM_UNINIT | F.MEM_WRITE | F.MEM_ALIGNED, size: 8 }], source: 'kernel/trace/bpf_trace.c:bpf_get_func_ret_proto' },
  { id: 185, name: 'get_func_arg_cnt', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'kernel/trace/bpf_trace.c:bpf_get_func_arg_cnt_proto' },
  { id: 186, name: 'get_retval', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/cgroup.c:bpf_get_retval_proto' },
  { id: 187, name: 'set_retval', gplOnly: false, ret: R.INTEGER, args: [A.ANYTHING], source: 'kernel/bpf/cgroup.c:bpf_set_retval_proto' },
  { id: 188, name: 'xdp_get_buff_len', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX], source: 'net/core/filter.c:bpf_xdp_get_buff_len_proto', variants: ['bpf_xdp_get_buff_len_trace_proto'] },
  { id: 189, name: 'xdp_load_bytes', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], source: 'net/core/filter.c:bpf_xdp_load_bytes_proto' },
  { id: 190, name: 'xdp_store_bytes', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE], source: 'net/core/filter.c:bpf_xdp_store_bytes_proto' },
  { id: 191, name: 'copy_from_user_task', gplOnly: true, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING, { type: A.PTR_TO_BTF_ID, btfType: 'task_struct' }, A.ANYTHING], mightSleep: true, source: 'kernel/bpf/helpers.c:bpf_copy_from_user_task_proto' },
  { id: 192, name: 'skb_set_tstamp', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_CTX, A.ANYTHING, A.ANYTHING], source: 'net/core/filter.c:bpf_skb_set_tstamp_proto' },
  { id: 193, name: 'ima_file_hash', gplOnly: false, ret: R.INTEGER, args: [{ type: A.PTR_TO_BTF_ID, btfType: 'file' }, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE], mightSleep: true, source: 'kernel/bpf/bpf_lsm.c:bpf_ima_file_hash_proto' },
  { id: 194, name: 'kptr_xchg', gplOnly: false, ret: R.PTR_TO_BTF_ID_OR_NULL, args: [A.KPTR_XCHG_DEST, A.PTR_TO_BTF_ID_OR_NULL | F.OBJ_RELEASE], source: 'kernel/bpf/helpers.c:bpf_kptr_xchg_proto' },
  { id: 195, name: 'map_lookup_percpu_elem', gplOnly: false, ret: R.PTR_TO_MAP_VALUE_OR_NULL, args: [A.CONST_MAP_PTR, A.PTR_TO_MAP_KEY, A.ANYTHING], pktAccess: true, source: 'kernel/bpf/helpers.c:bpf_map_lookup_percpu_elem_proto' },
  { id: 196, name: 'skc_to_mptcp_sock', gplOnly: false, ret: R.PTR_TO_BTF_ID_OR_NULL, retBtfType: 'mptcp_sock', args: [A.PTR_TO_SOCK_COMMON], source: 'net/core/filter.c:bpf_skc_to_mptcp_sock_proto' },
  { id: 197, name: 'dynptr_from_mem', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING, A.PTR_TO_DYNPTR | F.DYNPTR_TYPE_LOCAL | F.MEM_UNINIT | F.MEM_WRITE], source: 'kernel/bpf/helpers.c:bpf_dynptr_from_mem_proto' },
  { id: 198, name: 'ringbuf_reserve_dynptr', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.ANYTHING, A.ANYTHING, A.PTR_TO_DYNPTR | F.DYNPTR_TYPE_RINGBUF | F.MEM_UNINIT | F.MEM_WRITE], source: 'kernel/bpf/ringbuf.c:bpf_ringbuf_reserve_dynptr_proto' },
  { id: 199, name: 'ringbuf_submit_dynptr', gplOnly: false, ret: R.VOID, args: [A.PTR_TO_DYNPTR | F.DYNPTR_TYPE_RINGBUF | F.OBJ_RELEASE, A.ANYTHING], source: 'kernel/bpf/ringbuf.c:bpf_ringbuf_submit_dynptr_proto' },
  { id: 200, name: 'ringbuf_discard_dynptr', gplOnly: false, ret: R.VOID, args: [A.PTR_TO_DYNPTR | F.DYNPTR_TYPE_RINGBUF | F.OBJ_RELEASE, A.ANYTHING], source: 'kernel/bpf/ringbuf.c:bpf_ringbuf_discard_dynptr_proto' },
  { id: 201, name: 'dynptr_read', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.PTR_TO_DYNPTR | F.MEM_RDONLY, A.ANYTHING, A.ANYTHING], source: 'kernel/bpf/helpers.c:bpf_dynptr_read_proto' },
  { id: 202, name: 'dynptr_write', gplOnly: false, ret: R.INTEGER, args: [A.PTR_TO_DYNPTR | F.MEM_RDONLY, A.ANYTHING, A.PTR_TO_MEM | F.MEM_RDONLY, A.CONST_SIZE_OR_ZERO, A.ANYTHING], source: 'kernel/bpf/helpers.c:bpf_dynptr_write_proto' },
  { id: 203, name: 'dynptr_data', gplOnly: false, ret: R.PTR_TO_DYNPTR_MEM_OR_NULL, args: [A.PTR_TO_DYNPTR | F.MEM_RDONLY, A.ANYTHING, A.CONST_ALLOC_SIZE_OR_ZERO], source: 'kernel/bpf/helpers.c:bpf_dynptr_data_proto' },
  { id: 204, name: 'tcp_raw_gen_syncookie_ipv4', gplOnly: true, ret: R.INTEGER, args: [{ type: A.PTR_TO_FIXED_SIZE_MEM, size: 20 }, A.PTR_TO_MEM, A.CONST_SIZE_OR_ZERO], pktAccess: true, source: 'net/core/filter.c:bpf_tcp_raw_gen_syncookie_ipv4_proto' },
  { id: 205, name: 'tcp_raw_gen_syncookie_ipv6', gplOnly: true, ret: R.INTEGER, args: [{ type: A.PTR_TO_FIXED_SIZE_MEM, size: 40 }, A.PTR_TO_MEM, A.CONST_SIZE_OR_ZERO], pktAccess: true, source: 'net/core/filter.c:bpf_tcp_raw_gen_syncookie_ipv6_proto' },
  { id: 206, name: 'tcp_raw_check_syncookie_ipv4', gplOnly: true, ret: R.INTEGER, args: [{ type: A.PTR_TO_FIXED_SIZE_MEM, size: 20 }, { type: A.PTR_TO_FIXED_SIZE_MEM, size: 20 }], pktAccess: true, source: 'net/core/filter.c:bpf_tcp_raw_check_syncookie_ipv4_proto' },
  { id: 207, name: 'tcp_raw_check_syncookie_ipv6', gplOnly: true, ret: R.INTEGER, args: [{ type: A.PTR_TO_FIXED_SIZE_MEM, size: 40 }, { type: A.PTR_TO_FIXED_SIZE_MEM, size: 20 }], pktAccess: true, source: 'net/core/filter.c:bpf_tcp_raw_check_syncookie_ipv6_proto' },
  { id: 208, name: 'ktime_get_tai_ns', gplOnly: false, ret: R.INTEGER, args: [], source: 'kernel/bpf/helpers.c:bpf_ktime_get_tai_ns_proto' },
  { id: 209, name: 'user_ringbuf_drain', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, A.PTR_TO_FUNC, A.PTR_TO_STACK_OR_NULL, A.ANYTHING], source: 'kernel/bpf/ringbuf.c:bpf_user_ringbuf_drain_proto' },
  { id: 210, name: 'cgrp_storage_get', gplOnly: false, ret: R.PTR_TO_MAP_VALUE_OR_NULL, args: [A.CONST_MAP_PTR, { type: A.PTR_TO_BTF_ID_OR_NULL, btfType: 'cgroup' }, A.PTR_TO_MAP_VALUE_OR_NULL, A.ANYTHING], source: 'kernel/bpf/bpf_cgrp_storage.c:bpf_cgrp_storage_get_proto' },
  { id: 211, name: 'cgrp_storage_delete', gplOnly: false, ret: R.INTEGER, args: [A.CONST_MAP_PTR, { type: A.PTR_TO_BTF_ID_OR_NULL, btfType: 'cgroup' }], source: 'kernel/bpf/bpf_cgrp_storage.c:bpf_cgrp_storage_delete_proto' },
];

export const HELPERS: readonly HelperSpec[] = ROWS.map((row) => ({
  id: row.id,
  name: row.name,
  gplOnly: row.gplOnly,
  ret: row.ret,
  ...(row.retBtfType !== undefined ? { retBtfType: row.retBtfType } : {}),
  args: row.args.map((a) => (typeof a === 'number' ? { type: a } : a)),
  pktAccess: row.pktAccess ?? false,
  mightSleep: row.mightSleep ?? false,
  allowFastcall: row.allowFastcall ?? false,
  source: row.source,
  variants: row.variants ?? [],
}));

const byId = new Map(HELPERS.map((h) => [h.id, h]));
const byName = new Map(HELPERS.map((h) => [h.name, h]));

export function helperById(id: number): HelperSpec | undefined {
  return byId.get(id);
}

/** Accepts `map_lookup_elem` or `bpf_map_lookup_elem`. */
export function helperByName(name: string): HelperSpec | undefined {
  return byName.get(name.startsWith('bpf_') ? name.slice(4) : name);
}

/** A helper name that is not in the kernel's enum bpf_func_id. */
export class UnknownHelperNameError extends TsbpfError {
  override name = 'UnknownHelperNameError';
  constructor(readonly helper: string) {
    super(`bpf_${helper.replace(/^bpf_/, '')} is not a helper of enum bpf_func_id`);
  }
}

/** The id of a helper named like helperByName accepts; throws UnknownHelperNameError for other names. */
export function helperId(name: string): number {
  const spec = helperByName(name);
  if (spec === undefined) throw new UnknownHelperNameError(name);
  return spec.id;
}

/** The base type of an argument or return type value (without flags). */
export function baseType(type: number): number {
  return type & BASE_TYPE_MASK;
}

/** Whether `flag` (a `TypeFlag`) is set in an argument or return type value. */
export function hasTypeFlag(type: number, flag: number): boolean {
  return (type & flag) !== 0;
}

function typeName(type: number, bases: Readonly<Record<string, number>>, prefix: string): string {
  const exact = Object.entries(bases).find(([, v]) => v === type);
  if (exact) return prefix + exact[0];
  const base = Object.entries(bases).find(([, v]) => v === baseType(type));
  const parts = [base ? prefix + base[0] : `${prefix}unknown(${baseType(type)})`];
  for (const [flag, bit] of Object.entries(TypeFlag)) if (type & bit) parts.push(flag);
  return parts.join(' | ');
}

/** The kernel's spelling: `ARG_PTR_TO_UNINIT_MEM`, `ARG_PTR_TO_MEM | MEM_RDONLY`. */
export function argTypeName(type: number): string {
  return typeName(type, ArgType, 'ARG_');
}

/** The kernel's spelling: `RET_PTR_TO_MAP_VALUE_OR_NULL`. */
export function returnTypeName(type: number): string {
  return typeName(type, ReturnType, 'RET_');
}

/**
 * Helper ids each program type may call (the kernel's per-type
 * `*_func_proto` switches), for any of its attach types; see
 * `HELPER_ATTACH_RESTRICTIONS` for helpers only some attach types get.
 * Measured as root with all capabilities: unprivileged programs get fewer.
 */
export const HELPER_AVAILABILITY: Readonly<Partial<Record<ProgramType, readonly number[]>>> = {
  [ProgramType.SOCKET_FILTER]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 80, 87, 88, 89, 93, 94, 105,
    106, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140,
    141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182,
    191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.KPROBE]: [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 55, 67, 80, 87, 88, 89, 93, 94, 105,
    106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153, 154, 156,
    157, 158, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197, 198, 199,
    200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.SCHED_CLS]: [
    1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31,
    32, 33, 34, 35, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48, 50, 55, 66, 68, 69, 79, 80, 83, 84, 85, 86, 87, 88,
    89, 93, 94, 95, 96, 97, 98, 99, 100, 105, 106, 107, 108, 109, 110, 112, 113, 114, 115, 117, 118, 120, 122,
    123, 124, 125, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 148, 149, 151, 152, 153, 154, 155,
    156, 157, 158, 160, 163, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 192, 194, 195,
    196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211
  ],
  [ProgramType.SCHED_ACT]: [
    1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31,
    32, 33, 34, 35, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48, 50, 55, 66, 68, 69, 79, 80, 83, 84, 85, 86, 87, 88,
    89, 93, 94, 95, 96, 97, 98, 99, 100, 105, 106, 107, 108, 109, 110, 112, 113, 114, 115, 117, 118, 120, 122,
    123, 124, 125, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 148, 149, 151, 152, 153, 154, 155,
    156, 157, 158, 160, 163, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 192, 194, 195,
    196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211
  ],
  [ProgramType.TRACEPOINT]: [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 55, 67, 80, 87, 88, 89, 93, 94, 105,
    106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153, 154, 156,
    157, 158, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197, 198, 199,
    200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.XDP]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 23, 25, 28, 35, 37, 42, 44, 51, 54, 55, 65, 69, 80, 84, 85, 86,
    87, 88, 89, 93, 94, 99, 100, 105, 106, 109, 110, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132,
    133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 163, 164, 165, 169, 170, 171,
    172, 175, 176, 177, 178, 180, 181, 182, 188, 189, 190, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203,
    204, 205, 206, 207, 208, 209, 210, 211
  ],
  [ProgramType.PERF_EVENT]: [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 55, 56, 67, 80, 87, 88, 89, 93, 94,
    105, 106, 109, 112, 113, 114, 115, 117, 118, 119, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153,
    154, 156, 157, 158, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197,
    198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.CGROUP_SKB]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 79, 80, 81, 83, 84, 85, 86,
    87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 105, 106, 107, 108, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123,
    125, 128, 129, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160,
    164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201,
    202, 203, 208, 209, 210, 211
  ],
  [ProgramType.CGROUP_SOCK]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 46, 55, 80, 81, 87, 88, 89, 93, 94, 105, 106,
    107, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153, 154,
    156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 180, 181, 182, 186, 187, 191, 194, 195, 197,
    198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.LWT_IN]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 24, 25, 26, 28, 33, 34, 35, 37, 39, 42, 55, 73, 80, 87, 88, 89,
    93, 94, 105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 136, 137, 138,
    139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180,
    181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.LWT_OUT]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 24, 25, 26, 28, 33, 34, 35, 37, 39, 42, 55, 80, 87, 88, 89, 93,
    94, 105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 136, 137, 138, 139,
    140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181,
    182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.LWT_XMIT]: [
    1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 33, 34, 35,
    37, 38, 39, 40, 41, 42, 43, 55, 73, 80, 87, 88, 89, 93, 94, 105, 106, 109, 112, 113, 114, 115, 117, 118, 120,
    123, 125, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160,
    164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201,
    202, 203, 208, 209, 210, 211
  ],
  [ProgramType.SOCK_OPS]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 46, 49, 53, 55, 57, 59, 70, 80, 81, 87, 88, 89,
    93, 94, 96, 105, 106, 107, 108, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133,
    134, 136, 137, 138, 139, 140, 141, 142, 143, 144, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170,
    171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209,
    210, 211
  ],
  [ProgramType.SK_SKB]: [
    1, 2, 3, 5, 6, 7, 8, 9, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 38, 39, 42, 43, 46, 47, 50, 52, 55, 72, 80,
    84, 85, 86, 87, 88, 89, 93, 94, 99, 105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132,
    133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172,
    175, 176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.CGROUP_DEVICE]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 55, 80, 81, 87, 88, 89, 93, 94, 105, 106, 109,
    112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153, 154, 156, 157, 158,
    164, 165, 169, 170, 171, 172, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197, 198, 199, 200, 201, 202, 203,
    208, 209, 210, 211
  ],
  [ProgramType.SK_MSG]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 55, 60, 61, 62, 63, 71, 80, 87, 88, 89, 90, 91,
    93, 94, 105, 106, 107, 108, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133, 134,
    136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176,
    177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.RAW_TRACEPOINT]: [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 55, 67, 80, 87, 88, 89, 93, 94, 105,
    106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153, 154, 156,
    157, 158, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197, 198, 199,
    200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.CGROUP_SOCK_ADDR]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 46, 49, 55, 57, 64, 80, 81, 84, 85, 86, 87, 88,
    89, 93, 94, 99, 105, 106, 107, 108, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133,
    134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175,
    176, 177, 178, 180, 181, 182, 186, 187, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210,
    211
  ],
  [ProgramType.LWT_SEG6LOCAL]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 24, 25, 26, 28, 33, 34, 35, 37, 39, 42, 55, 74, 75, 76, 80, 87,
    88, 89, 93, 94, 105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 136, 137,
    138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178,
    180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.LIRC_MODE2]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 35, 42, 77, 78, 80, 87, 88, 89, 92, 93, 94, 105, 106, 112, 113, 114, 115, 118,
    120, 123, 125, 130, 131, 132, 133, 134, 149, 153, 154, 158, 164, 165, 169, 170, 171, 172, 175, 177, 181, 182,
    194, 195, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.SK_REUSEPORT]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 26, 35, 37, 42, 46, 55, 68, 80, 82, 87, 88, 89, 93, 94, 105, 106,
    109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153, 154, 156, 157,
    158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197, 198, 199, 200, 201,
    202, 203, 208, 209, 210, 211
  ],
  [ProgramType.FLOW_DISSECTOR]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 26, 35, 37, 42, 55, 80, 87, 88, 89, 93, 94, 105, 106, 109, 112,
    113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153,
    154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 194, 195, 196,
    197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.CGROUP_SYSCTL]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 55, 80, 81, 87, 88, 89, 93, 94, 101, 102, 103,
    104, 105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153,
    154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197, 198,
    199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.RAW_TRACEPOINT_WRITABLE]: [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 55, 67, 80, 87, 88, 89, 93, 94, 105,
    106, 109, 112, 113, 114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153, 154, 156,
    157, 158, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197, 198, 199,
    200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.CGROUP_SOCKOPT]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 49, 55, 57, 80, 81, 87, 88, 89, 93, 94, 96, 105,
    106, 107, 108, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149,
    153, 154, 156, 157, 158, 164, 165, 169, 170, 171, 172, 175, 176, 177, 180, 181, 182, 186, 187, 191, 194, 195,
    197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.TRACING]: [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 36, 37, 42, 45, 46, 55, 67, 80, 87, 88, 89, 93,
    94, 105, 106, 107, 108, 109, 111, 112, 113, 114, 115, 117, 118, 120, 121, 123, 125, 126, 127, 130, 131, 132,
    133, 134, 136, 137, 138, 139, 140, 141, 147, 148, 149, 150, 153, 154, 156, 157, 158, 162, 164, 165, 169, 170,
    171, 172, 173, 174, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 188, 191, 194, 195, 196, 197, 198, 199,
    200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.LSM]: [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 36, 37, 42, 45, 46, 49, 55, 57, 67, 80, 87, 88,
    89, 93, 94, 105, 106, 107, 108, 109, 111, 112, 113, 114, 115, 117, 118, 120, 121, 123, 125, 126, 127, 130,
    131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 145, 146, 147, 148, 149, 150, 153, 154, 156, 157, 158, 159,
    161, 162, 164, 165, 169, 170, 171, 172, 173, 174, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 188, 191,
    193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.SK_LOOKUP]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 55, 80, 86, 87, 88, 89, 93, 94, 105, 106, 109,
    112, 113, 114, 115, 117, 118, 120, 123, 124, 125, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 148,
    149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 194,
    195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211
  ],
  [ProgramType.SYSCALL]: [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 46, 55, 67, 80, 87, 88, 89, 93, 94,
    105, 106, 107, 108, 109, 111, 112, 113, 114, 115, 117, 118, 120, 121, 123, 125, 130, 131, 132, 133, 134, 136,
    137, 138, 139, 140, 141, 147, 148, 149, 153, 154, 156, 157, 158, 162, 164, 165, 166, 167, 168, 169, 170, 171,
    172, 173, 175, 176, 177, 178, 179, 180, 181, 182, 188, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203,
    208, 209, 210, 211
  ],
  [ProgramType.NETFILTER]: [
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 35, 37, 42, 55, 80, 87, 88, 89, 93, 94, 105, 106, 109, 112, 113,
    114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153, 154, 156, 157, 158, 164, 165,
    169, 170, 171, 172, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197, 198, 199, 200, 201, 202, 203, 208, 209,
    210, 211
  ],
};

export interface HelperAttachRestriction {
  readonly programType: ProgramType;
  readonly helper: number;
  /** The `AttachType` values (expected_attach_type) under which the helper is available. */
  readonly attachTypes: readonly number[];
}

/** Helpers a program type offers only for some expected attach types. */
export const HELPER_ATTACH_RESTRICTIONS: readonly HelperAttachRestriction[] = [
  { programType: ProgramType.CGROUP_SOCK_ADDR, helper: 64, attachTypes: [10, 11] },
  { programType: ProgramType.CGROUP_SOCK_ADDR, helper: 186, attachTypes: [8, 9, 10, 11, 14, 15, 49, 50] },
  { programType: ProgramType.CGROUP_SOCK_ADDR, helper: 187, attachTypes: [8, 9, 10, 11, 14, 15, 49, 50] },
  { programType: ProgramType.CGROUP_SOCKOPT, helper: 49, attachTypes: [22] },
  { programType: ProgramType.CGROUP_SOCKOPT, helper: 57, attachTypes: [22] },
];

const availability = new Map<number, ReadonlySet<number>>(
  Object.entries(HELPER_AVAILABILITY).map(([type, ids]) => [Number(type), new Set(ids)]),
);

/**
 * Whether a program of `programType` may call helper `id`, as the kernel's
 * get_func_proto answers; with `attachType`, also checks the restrictions
 * that depend on expected_attach_type. Returns undefined for program types
 * whose helper set is not tabulated (EXT, STRUCT_OPS).
 */
export function helperAllowed(programType: number, id: number, attachType?: number): boolean | undefined {
  const ids = availability.get(programType);
  if (ids === undefined) return undefined;
  if (!ids.has(id)) return false;
  if (attachType === undefined) return true;
  const restriction = HELPER_ATTACH_RESTRICTIONS.find((r) => r.programType === programType && r.helper === id);
  return restriction === undefined || restriction.attachTypes.includes(attachType);
}
