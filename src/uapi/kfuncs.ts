/**
 * Kernel functions (kfuncs) BPF programs may call: the flags the kernel
 * registers them with (BTF_ID_FLAGS in kernel/bpf/helpers.c, cpumask.c) and
 * the program types their id sets are registered for
 * (register_btf_kfunc_id_set, mapped to hooks as bpf_prog_type_to_kfunc_hook
 * does). Prototypes come from BTF (vmlinux's FUNC of that name). Only the
 * kfuncs listed here are known to the verifier; it refuses others as not
 * modelled rather than guess.
 */
import { ProgramType } from './enums.ts';

/** KF_* flags (include/linux/btf.h). */
export const KfuncFlag = {
  ACQUIRE: 1 << 0,
  RELEASE: 1 << 1,
  RET_NULL: 1 << 2,
  TRUSTED_ARGS: 1 << 4,
  SLEEPABLE: 1 << 5,
  DESTRUCTIVE: 1 << 6,
  RCU: 1 << 7,
  ITER_NEW: 1 << 8,
  ITER_NEXT: 1 << 9,
  ITER_DESTROY: 1 << 10,
  RCU_PROTECTED: 1 << 11,
} as const;

export interface KfuncSpec {
  readonly name: string;
  readonly flags: number;
  /** Program types whose hook the kfunc's id set is registered for. */
  readonly programTypes: ReadonlySet<number>;
}

const P = ProgramType;
/** Program types sharing a kfunc hook (bpf_prog_type_to_kfunc_hook). */
const TRACING_HOOK = [P.TRACING, P.TRACEPOINT, P.PERF_EVENT, P.LSM];
const CGROUP_HOOK = [P.CGROUP_SKB, P.CGROUP_SOCK, P.CGROUP_DEVICE, P.CGROUP_SOCK_ADDR, P.CGROUP_SOCKOPT, P.CGROUP_SYSCTL];
/** generic_kfunc_set: TRACING, SCHED_CLS, XDP, STRUCT_OPS, SYSCALL, CGROUP_SKB. */
const GENERIC = new Set<number>([...TRACING_HOOK, P.SCHED_CLS, P.XDP, P.STRUCT_OPS, P.SYSCALL, ...CGROUP_HOOK]);
/** cpumask_kfunc_set: TRACING, STRUCT_OPS, SYSCALL. */
const CPUMASK = new Set<number>([...TRACING_HOOK, P.STRUCT_OPS, P.SYSCALL]);

/** bpf_kfunc_set_skb (net/core/filter.c): the skb program types, netfilter and tracing. */
const SKB_DYNPTR = new Set<number>([P.SCHED_CLS, P.SCHED_ACT, P.SK_SKB, P.SOCKET_FILTER, P.CGROUP_SKB, P.LWT_OUT, P.LWT_IN, P.LWT_XMIT, P.LWT_SEG6LOCAL, P.NETFILTER, ...TRACING_HOOK]);

/** common_kfunc_set, registered for BPF_PROG_TYPE_UNSPEC: every program type. */
const COMMON = new Set<number>(Object.values(ProgramType));

const F = KfuncFlag;
const entries: [string, number, ReadonlySet<number>][] = [
  ['bpf_task_acquire', F.ACQUIRE | F.RCU | F.RET_NULL, GENERIC],
  ['bpf_task_release', F.RELEASE, GENERIC],
  ['bpf_task_from_pid', F.ACQUIRE | F.RET_NULL, GENERIC],
  ['bpf_cgroup_acquire', F.ACQUIRE | F.RCU | F.RET_NULL, GENERIC],
  ['bpf_cgroup_release', F.RELEASE, GENERIC],
  ['bpf_cgroup_ancestor', F.ACQUIRE | F.RCU | F.RET_NULL, GENERIC],
  ['bpf_cgroup_from_id', F.ACQUIRE | F.RET_NULL, GENERIC],
  ['bpf_task_under_cgroup', F.RCU, GENERIC],
  ['bpf_cast_to_kern_ctx', 0, COMMON],
  ['bpf_rdonly_cast', 0, COMMON],
  // Open-coded iterators (common_btf_ids): `_new` takes the iterator's slots, `_next` may return NULL, `_destroy` frees them.
  ['bpf_iter_num_new', F.ITER_NEW, COMMON],
  ['bpf_iter_num_next', F.ITER_NEXT | F.RET_NULL, COMMON],
  ['bpf_iter_num_destroy', F.ITER_DESTROY, COMMON],
  ['bpf_iter_bits_new', F.ITER_NEW, COMMON],
  ['bpf_iter_bits_next', F.ITER_NEXT | F.RET_NULL, COMMON],
  ['bpf_iter_bits_destroy', F.ITER_DESTROY, COMMON],
  ['bpf_iter_task_vma_new', F.ITER_NEW | F.RCU, COMMON],
  ['bpf_iter_task_vma_next', F.ITER_NEXT | F.RET_NULL, COMMON],
  ['bpf_iter_task_vma_destroy', F.ITER_DESTROY, COMMON],
  ['bpf_iter_css_new', F.ITER_NEW | F.TRUSTED_ARGS | F.RCU_PROTECTED, COMMON],
  ['bpf_iter_css_next', F.ITER_NEXT | F.RET_NULL, COMMON],
  ['bpf_iter_css_destroy', F.ITER_DESTROY, COMMON],
  ['bpf_iter_task_new', F.ITER_NEW | F.TRUSTED_ARGS | F.RCU_PROTECTED, COMMON],
  ['bpf_iter_task_next', F.ITER_NEXT | F.RET_NULL, COMMON],
  ['bpf_iter_task_destroy', F.ITER_DESTROY, COMMON],
  // Dynptrs (common_btf_ids; the skb and xdp constructors are net/core/filter.c's sets).
  ['bpf_dynptr_slice', F.RET_NULL, COMMON],
  ['bpf_dynptr_slice_rdwr', F.RET_NULL, COMMON],
  ['bpf_dynptr_adjust', 0, COMMON],
  ['bpf_dynptr_is_null', 0, COMMON],
  ['bpf_dynptr_is_rdonly', 0, COMMON],
  ['bpf_dynptr_size', 0, COMMON],
  ['bpf_dynptr_clone', 0, COMMON],
  ['bpf_dynptr_from_skb', F.TRUSTED_ARGS, SKB_DYNPTR],
  ['bpf_dynptr_from_xdp', 0, new Set<number>([P.XDP])],
  // Arenas (kernel/bpf/arena.c, every program type): pages allocated and freed by sleepable programs.
  ['bpf_arena_alloc_pages', F.TRUSTED_ARGS | F.SLEEPABLE, COMMON],
  ['bpf_arena_free_pages', F.TRUSTED_ARGS | F.SLEEPABLE, COMMON],
  ['bpf_cpumask_create', F.ACQUIRE | F.RET_NULL, CPUMASK],
  ['bpf_cpumask_release', F.RELEASE, CPUMASK],
  ['bpf_cpumask_acquire', F.ACQUIRE | F.TRUSTED_ARGS, CPUMASK],
  ...[
    'first', 'first_zero', 'first_and', 'set_cpu', 'clear_cpu', 'test_cpu', 'test_and_set_cpu', 'test_and_clear_cpu', 'setall', 'clear', 'and', 'or', 'xor',
    'equal', 'intersects', 'subset', 'empty', 'full', 'copy', 'any_distribute', 'any_and_distribute', 'weight',
  ].map((op): [string, number, ReadonlySet<number>] => [`bpf_cpumask_${op}`, F.RCU, CPUMASK]),
];

export const KFUNCS: ReadonlyMap<string, KfuncSpec> = new Map(entries.map(([name, flags, programTypes]) => [name, { name, flags, programTypes }]));

export function kfuncByName(name: string): KfuncSpec | undefined {
  return KFUNCS.get(name);
}
