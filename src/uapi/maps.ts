import { MapType, ProgramType } from './enums.ts';

/**
 * Map-type rules of the kernel as data: the sizes and flags each map type
 * accepts at BPF_MAP_CREATE (the `*_map_alloc_check`/`*_alloc` functions in
 * kernel/bpf/ and net/core/), which operations it has, and which helpers a
 * program may pass it to (the verifier's check_map_func_compatibility).
 * Taken from the Linux 6.12 sources; constants checked against Linux 6.18's
 * BTF by test/uapi/maps.test.ts. VM maps (src/maps), the verifier and the
 * kernel backend's pre-flight checks all read this.
 */

/** Flags of BPF_MAP_UPDATE_ELEM and BPF_MAP_LOOKUP_ELEM (the anonymous enum in bpf.h). */
export const UpdateFlag = {
  ANY: 0,
  NOEXIST: 1,
  EXIST: 2,
  /** Take the bpf_spin_lock inside the value while copying it. */
  F_LOCK: 4,
} as const;

/** Flags of BPF_MAP_CREATE (`map_flags`, BPF_F_*). */
export const MapFlag = {
  NO_PREALLOC: 1 << 0,
  NO_COMMON_LRU: 1 << 1,
  NUMA_NODE: 1 << 2,
  RDONLY: 1 << 3,
  WRONLY: 1 << 4,
  STACK_BUILD_ID: 1 << 5,
  ZERO_SEED: 1 << 6,
  RDONLY_PROG: 1 << 7,
  WRONLY_PROG: 1 << 8,
  CLONE: 1 << 9,
  MMAPABLE: 1 << 10,
  PRESERVE_ELEMS: 1 << 11,
  INNER_MAP: 1 << 12,
  LINK: 1 << 13,
  PATH_FD: 1 << 14,
  VTYPE_BTF_OBJ_FD: 1 << 15,
  TOKEN_FD: 1 << 16,
  SEGV_ON_FAULT: 1 << 17,
  NO_USER_CONV: 1 << 18,
} as const;

/** BPF_F_ACCESS_MASK in include/linux/bpf.h: access flags most map types accept. */
export const ACCESS_FLAGS = MapFlag.RDONLY | MapFlag.RDONLY_PROG | MapFlag.WRONLY | MapFlag.WRONLY_PROG;

/** The kernel's flag name (`BPF_F_NO_PREALLOC | BPF_F_RDONLY`) for messages. */
export function mapFlagNames(flags: number): string {
  const names = Object.entries(MapFlag)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => `BPF_F_${name}`);
  const known = Object.values(MapFlag).reduce((a, b) => a | b, 0);
  const unknown = flags & ~known;
  if (unknown !== 0) names.push(`0x${(unknown >>> 0).toString(16)}`);
  return names.length > 0 ? names.join(' | ') : '0';
}

/** Flags of bpf_get_stackid / bpf_get_stack (BPF_F_SKIP_FIELD_MASK ...). */
export const StackFlag = {
  SKIP_FIELD_MASK: 0xff,
  USER_STACK: 1 << 8,
  FAST_STACK_CMP: 1 << 9,
  REUSE_STACKID: 1 << 10,
  USER_BUILD_ID: 1 << 11,
} as const;

/** Ring buffer constants: header bits, bpf_ringbuf_output/submit flags, bpf_ringbuf_query selectors. */
export const RingbufConst = {
  BUSY_BIT: 0x8000_0000,
  DISCARD_BIT: 0x4000_0000,
  HEADER_SIZE: 8,
  NO_WAKEUP: 1,
  FORCE_WAKEUP: 2,
  QUERY_AVAIL_DATA: 0,
  QUERY_RING_SIZE: 1,
  QUERY_CONS_POS: 2,
  QUERY_PROD_POS: 3,
} as const;

/** bpf_perf_event_output's flags: BPF_F_INDEX_MASK / BPF_F_CURRENT_CPU (low 32 bits), BPF_F_CTXLEN_MASK (high 32). */
export const PerfEventConst = {
  INDEX_MASK: 0xffff_ffffn,
  CURRENT_CPU: 0xffff_ffffn,
  CTXLEN_MASK: 0xf_ffffn << 32n,
} as const;

/** Page size the kernel's size rules refer to (ring buffer, arena); 4096 on x86-64 and arm64's default. */
export const PAGE_SIZE = 4096;
/** MAX_BPF_STACK: the largest sockhash key (hash maps lifted this limit in recent kernels). */
export const MAX_BPF_STACK = 512;
/** KMALLOC_MAX_SIZE on x86-64 with 4 KiB pages: bounds hash map keys and values (E2BIG past it). */
export const KMALLOC_MAX_SIZE = 1 << 22;
/** PCPU_MIN_UNIT_SIZE: the largest per-CPU value. */
export const PERCPU_VALUE_MAX = 32768;
/** LPM trie keys: 4-byte prefix length then 1..256 data bytes. */
export const LPM_KEY_SIZE_MIN = 4 + 1;
export const LPM_KEY_SIZE_MAX = 4 + 256;
/** Bloom filter: map_extra's low 4 bits give the hash count; 0 means this default. */
export const BLOOM_DEFAULT_HASHES = 5;
/** MAX_TAIL_CALL_CNT. */
export const MAX_TAIL_CALLS = 33;
/** sysctl kernel.perf_event_max_stack default: the deepest stack a stack trace map stores. */
export const PERF_EVENT_MAX_STACK = 127;
/** sizeof(struct bpf_stack_build_id). */
export const STACK_BUILD_ID_SIZE = 32;

/** A size rule: `exact` wins; otherwise min/max (inclusive). */
export interface SizeRule {
  readonly exact?: number | readonly number[];
  readonly min?: number;
  readonly max?: number;
  /** Must be a multiple of this. */
  readonly multipleOf?: number;
}

/** What user space can do on a map fd. */
export type MapCommand =
  | 'lookup'
  | 'update'
  | 'delete'
  | 'get_next_key'
  | 'lookup_and_delete'
  | 'batch'
  | 'freeze'
  | 'mmap';

export interface MapTypeRule {
  readonly type: MapType;
  readonly name: string;
  readonly key: SizeRule;
  readonly value: SizeRule;
  /** Whether max_entries must be > 0 (storage maps require 0). */
  readonly maxEntries: 'positive' | 'zero' | 'one' | 'power-of-2-pages';
  /** map_flags accepted; any other bit is EINVAL. */
  readonly flags: number;
  /** Flags that must be present. */
  readonly requiredFlags: number;
  /** Flags the kernel recognizes for this type but refuses with ENOTSUPP (524) rather than EINVAL. */
  readonly notSupportedFlags?: number;
  /** Value is stored once per possible CPU (user space sees one 8-byte aligned slot per CPU). */
  readonly perCpu: boolean;
  /** Entries exist from creation (array-like: lookup never fails for a valid index, delete is EINVAL). */
  readonly preallocatedIndex: boolean;
  /** Commands user space can issue (others return EINVAL/ENOTSUPP). */
  readonly commands: readonly MapCommand[];
  /** Helpers (by name) a program may pass this map to; 'any' when the map side does not restrict (generic map helpers). */
  readonly programHelpers: readonly string[] | 'any';
  /** Needs an inner map template (inner_map_fd) at creation. */
  readonly mapInMap: boolean;
  /** map_extra meaning, if used. */
  readonly mapExtra?: string;
  /** Values are references (fds at the syscall boundary): program, map, socket, device, cgroup, perf event. */
  readonly valueIsReference?: 'program' | 'map' | 'socket' | 'netdev' | 'cpu' | 'xsk' | 'cgroup' | 'perf_event';
}

const F = MapFlag;
const HASH_FLAGS = F.NO_PREALLOC | F.NO_COMMON_LRU | F.NUMA_NODE | ACCESS_FLAGS | F.ZERO_SEED;
const ARRAY_FLAGS = F.NUMA_NODE | F.MMAPABLE | ACCESS_FLAGS | F.PRESERVE_ELEMS | F.INNER_MAP;
const SOCK_FLAGS = F.NUMA_NODE | F.RDONLY | F.WRONLY;
/** Array-backed types other than BPF_MAP_TYPE_ARRAY reject MMAPABLE, INNER_MAP and (except perf event arrays) PRESERVE_ELEMS. */
const OTHER_ARRAY_FLAGS = ARRAY_FLAGS & ~(F.MMAPABLE | F.INNER_MAP | F.PRESERVE_ELEMS);
const HASH_KEY = { min: 1, max: KMALLOC_MAX_SIZE } as const;
const HASH_COMMANDS: readonly MapCommand[] = ['lookup', 'update', 'delete', 'get_next_key', 'lookup_and_delete', 'batch', 'freeze'];
const ARRAY_COMMANDS: readonly MapCommand[] = ['lookup', 'update', 'get_next_key', 'batch', 'freeze', 'mmap'];
const FD_ARRAY_COMMANDS: readonly MapCommand[] = ['lookup', 'update', 'delete', 'get_next_key'];
const QUEUE_COMMANDS: readonly MapCommand[] = ['lookup', 'update', 'lookup_and_delete', 'freeze'];
const STORAGE_COMMANDS: readonly MapCommand[] = ['lookup', 'update', 'delete', 'get_next_key'];
const FD = { exact: 4 } as const;
const POSITIVE = { min: 1 } as const;
const NONE = { exact: 0 } as const;

function rule(r: Omit<MapTypeRule, 'requiredFlags' | 'perCpu' | 'preallocatedIndex' | 'mapInMap'> & Partial<MapTypeRule>): MapTypeRule {
  return { requiredFlags: 0, perCpu: false, preallocatedIndex: false, mapInMap: false, ...r };
}

export const MAP_TYPE_RULES: readonly MapTypeRule[] = [
  rule({ type: MapType.HASH, name: 'hash', key: HASH_KEY, value: POSITIVE, maxEntries: 'positive', flags: HASH_FLAGS & ~F.NO_COMMON_LRU, commands: HASH_COMMANDS, programHelpers: 'any' }),
  rule({ type: MapType.ARRAY, name: 'array', key: { exact: 4 }, value: POSITIVE, maxEntries: 'positive', flags: ARRAY_FLAGS & ~F.PRESERVE_ELEMS, preallocatedIndex: true, commands: ARRAY_COMMANDS, programHelpers: 'any' }),
  rule({ type: MapType.PROG_ARRAY, name: 'prog_array', key: { exact: 4 }, value: FD, maxEntries: 'positive', flags: OTHER_ARRAY_FLAGS, preallocatedIndex: true, commands: FD_ARRAY_COMMANDS, programHelpers: ['tail_call'], valueIsReference: 'program' }),
  rule({ type: MapType.PERF_EVENT_ARRAY, name: 'perf_event_array', key: { exact: 4 }, value: FD, maxEntries: 'positive', flags: OTHER_ARRAY_FLAGS | F.PRESERVE_ELEMS, preallocatedIndex: true, commands: FD_ARRAY_COMMANDS, programHelpers: ['perf_event_read', 'perf_event_output', 'skb_output', 'perf_event_read_value', 'xdp_output'], valueIsReference: 'perf_event' }),
  rule({ type: MapType.PERCPU_HASH, name: 'percpu_hash', key: HASH_KEY, value: { min: 1, max: PERCPU_VALUE_MAX }, maxEntries: 'positive', flags: HASH_FLAGS & ~F.NO_COMMON_LRU, perCpu: true, commands: HASH_COMMANDS, programHelpers: 'any' }),
  rule({ type: MapType.PERCPU_ARRAY, name: 'percpu_array', key: { exact: 4 }, value: { min: 1, max: PERCPU_VALUE_MAX }, maxEntries: 'positive', flags: OTHER_ARRAY_FLAGS, perCpu: true, preallocatedIndex: true, commands: ARRAY_COMMANDS.filter((c) => c !== 'mmap'), programHelpers: 'any' }),
  rule({ type: MapType.STACK_TRACE, name: 'stack_trace', key: { exact: 4 }, value: { min: 8, max: 8 * PERF_EVENT_MAX_STACK, multipleOf: 8 }, maxEntries: 'positive', flags: F.NUMA_NODE | F.RDONLY | F.WRONLY | F.STACK_BUILD_ID, commands: ['lookup', 'delete', 'get_next_key', 'lookup_and_delete'], programHelpers: ['get_stackid'] }),
  rule({ type: MapType.CGROUP_ARRAY, name: 'cgroup_array', key: { exact: 4 }, value: FD, maxEntries: 'positive', flags: OTHER_ARRAY_FLAGS, preallocatedIndex: true, commands: FD_ARRAY_COMMANDS, programHelpers: ['skb_under_cgroup', 'current_task_under_cgroup'], valueIsReference: 'cgroup' }),
  rule({ type: MapType.LRU_HASH, name: 'lru_hash', key: HASH_KEY, value: POSITIVE, maxEntries: 'positive', flags: HASH_FLAGS & ~F.NO_PREALLOC, notSupportedFlags: F.NO_PREALLOC, commands: HASH_COMMANDS, programHelpers: 'any' }),
  rule({ type: MapType.LRU_PERCPU_HASH, name: 'lru_percpu_hash', key: HASH_KEY, value: { min: 1, max: PERCPU_VALUE_MAX }, maxEntries: 'positive', flags: HASH_FLAGS & ~F.NO_PREALLOC, notSupportedFlags: F.NO_PREALLOC, perCpu: true, commands: HASH_COMMANDS, programHelpers: 'any' }),
  rule({ type: MapType.LPM_TRIE, name: 'lpm_trie', key: { min: LPM_KEY_SIZE_MIN, max: LPM_KEY_SIZE_MAX }, value: POSITIVE, maxEntries: 'positive', flags: F.NO_PREALLOC | F.NUMA_NODE | ACCESS_FLAGS, requiredFlags: F.NO_PREALLOC, commands: ['lookup', 'update', 'delete', 'get_next_key', 'batch', 'freeze'], programHelpers: 'any' }),
  rule({ type: MapType.ARRAY_OF_MAPS, name: 'array_of_maps', key: { exact: 4 }, value: FD, maxEntries: 'positive', flags: OTHER_ARRAY_FLAGS, preallocatedIndex: true, mapInMap: true, commands: [...FD_ARRAY_COMMANDS, 'batch'], programHelpers: ['map_lookup_elem'], valueIsReference: 'map' }),
  rule({ type: MapType.HASH_OF_MAPS, name: 'hash_of_maps', key: HASH_KEY, value: FD, maxEntries: 'positive', flags: HASH_FLAGS & ~F.NO_COMMON_LRU, mapInMap: true, commands: ['lookup', 'update', 'delete', 'get_next_key', 'batch'], programHelpers: ['map_lookup_elem'], valueIsReference: 'map' }),
  rule({ type: MapType.DEVMAP, name: 'devmap', key: { exact: 4 }, value: { exact: [4, 8] }, maxEntries: 'positive', flags: F.NUMA_NODE | F.RDONLY | F.WRONLY, preallocatedIndex: true, commands: FD_ARRAY_COMMANDS, programHelpers: ['redirect_map', 'map_lookup_elem'], valueIsReference: 'netdev' }),
  rule({ type: MapType.SOCKMAP, name: 'sockmap', key: { exact: 4 }, value: { exact: [4, 8] }, maxEntries: 'positive', flags: SOCK_FLAGS, preallocatedIndex: true, commands: FD_ARRAY_COMMANDS, programHelpers: ['sk_redirect_map', 'sock_map_update', 'msg_redirect_map', 'sk_select_reuseport', 'map_lookup_elem', 'map_update_elem', 'map_delete_elem'], valueIsReference: 'socket' }),
  rule({ type: MapType.CPUMAP, name: 'cpumap', key: { exact: 4 }, value: { exact: [4, 8] }, maxEntries: 'positive', flags: F.NUMA_NODE, preallocatedIndex: true, commands: FD_ARRAY_COMMANDS, programHelpers: ['redirect_map'], valueIsReference: 'cpu' }),
  rule({ type: MapType.XSKMAP, name: 'xskmap', key: { exact: 4 }, value: { exact: 4 }, maxEntries: 'positive', flags: F.NUMA_NODE | F.RDONLY | F.WRONLY, preallocatedIndex: true, commands: FD_ARRAY_COMMANDS, programHelpers: ['redirect_map', 'map_lookup_elem'], valueIsReference: 'xsk' }),
  rule({ type: MapType.SOCKHASH, name: 'sockhash', key: { min: 1, max: MAX_BPF_STACK }, value: { exact: [4, 8] }, maxEntries: 'positive', flags: SOCK_FLAGS, commands: FD_ARRAY_COMMANDS, programHelpers: ['sk_redirect_hash', 'sock_hash_update', 'msg_redirect_hash', 'sk_select_reuseport', 'map_lookup_elem', 'map_update_elem', 'map_delete_elem'], valueIsReference: 'socket' }),
  rule({ type: MapType.CGROUP_STORAGE, name: 'cgroup_storage', key: { exact: [8, 16] }, value: { min: 1 }, maxEntries: 'zero', flags: F.NUMA_NODE | ACCESS_FLAGS, commands: STORAGE_COMMANDS, programHelpers: ['get_local_storage'] }),
  rule({ type: MapType.REUSEPORT_SOCKARRAY, name: 'reuseport_sockarray', key: { exact: 4 }, value: { exact: [4, 8] }, maxEntries: 'positive', flags: F.NUMA_NODE | ACCESS_FLAGS, preallocatedIndex: true, commands: FD_ARRAY_COMMANDS, programHelpers: ['sk_select_reuseport'], valueIsReference: 'socket' }),
  rule({ type: MapType.PERCPU_CGROUP_STORAGE, name: 'percpu_cgroup_storage', key: { exact: [8, 16] }, value: { min: 1, max: PERCPU_VALUE_MAX }, maxEntries: 'zero', flags: F.NUMA_NODE | ACCESS_FLAGS, perCpu: true, commands: STORAGE_COMMANDS, programHelpers: ['get_local_storage'] }),
  rule({ type: MapType.QUEUE, name: 'queue', key: NONE, value: POSITIVE, maxEntries: 'positive', flags: F.NUMA_NODE | ACCESS_FLAGS, commands: QUEUE_COMMANDS, programHelpers: ['map_peek_elem', 'map_pop_elem', 'map_push_elem'] }),
  rule({ type: MapType.STACK, name: 'stack', key: NONE, value: POSITIVE, maxEntries: 'positive', flags: F.NUMA_NODE | ACCESS_FLAGS, commands: QUEUE_COMMANDS, programHelpers: ['map_peek_elem', 'map_pop_elem', 'map_push_elem'] }),
  rule({ type: MapType.SK_STORAGE, name: 'sk_storage', key: FD, value: POSITIVE, maxEntries: 'zero', flags: F.NO_PREALLOC | F.CLONE, requiredFlags: F.NO_PREALLOC, commands: STORAGE_COMMANDS, programHelpers: ['sk_storage_get', 'sk_storage_delete', 'kptr_xchg'] }),
  rule({ type: MapType.DEVMAP_HASH, name: 'devmap_hash', key: { exact: 4 }, value: { exact: [4, 8] }, maxEntries: 'positive', flags: F.NUMA_NODE | F.RDONLY | F.WRONLY, commands: FD_ARRAY_COMMANDS, programHelpers: ['redirect_map', 'map_lookup_elem'], valueIsReference: 'netdev' }),
  rule({ type: MapType.STRUCT_OPS, name: 'struct_ops', key: { exact: 4 }, value: POSITIVE, maxEntries: 'one', flags: F.LINK | F.VTYPE_BTF_OBJ_FD, commands: ['lookup', 'update', 'delete'], programHelpers: [] }),
  rule({ type: MapType.RINGBUF, name: 'ringbuf', key: NONE, value: NONE, maxEntries: 'power-of-2-pages', flags: F.NUMA_NODE, commands: ['mmap'], programHelpers: ['ringbuf_output', 'ringbuf_reserve', 'ringbuf_query', 'ringbuf_reserve_dynptr', 'ringbuf_submit_dynptr', 'ringbuf_discard_dynptr'] }),
  rule({ type: MapType.INODE_STORAGE, name: 'inode_storage', key: FD, value: POSITIVE, maxEntries: 'zero', flags: F.NO_PREALLOC | F.CLONE, requiredFlags: F.NO_PREALLOC, commands: STORAGE_COMMANDS, programHelpers: ['inode_storage_get', 'inode_storage_delete', 'kptr_xchg'] }),
  rule({ type: MapType.TASK_STORAGE, name: 'task_storage', key: FD, value: POSITIVE, maxEntries: 'zero', flags: F.NO_PREALLOC | F.CLONE, requiredFlags: F.NO_PREALLOC, commands: STORAGE_COMMANDS, programHelpers: ['task_storage_get', 'task_storage_delete', 'kptr_xchg'] }),
  rule({ type: MapType.BLOOM_FILTER, name: 'bloom_filter', key: NONE, value: POSITIVE, maxEntries: 'positive', flags: F.NUMA_NODE | F.ZERO_SEED | ACCESS_FLAGS, commands: ['lookup', 'update', 'freeze'], programHelpers: ['map_peek_elem', 'map_push_elem'], mapExtra: 'number of hash functions in bits 0-3 (0 means 5); other bits must be 0' }),
  rule({ type: MapType.USER_RINGBUF, name: 'user_ringbuf', key: NONE, value: NONE, maxEntries: 'power-of-2-pages', flags: F.NUMA_NODE, commands: ['mmap'], programHelpers: ['user_ringbuf_drain'] }),
  rule({ type: MapType.CGRP_STORAGE, name: 'cgrp_storage', key: FD, value: POSITIVE, maxEntries: 'zero', flags: F.NO_PREALLOC | F.CLONE, requiredFlags: F.NO_PREALLOC, commands: STORAGE_COMMANDS, programHelpers: ['cgrp_storage_get', 'cgrp_storage_delete', 'kptr_xchg'] }),
  rule({ type: MapType.ARENA, name: 'arena', key: NONE, value: NONE, maxEntries: 'positive', flags: F.MMAPABLE | F.SEGV_ON_FAULT | F.NO_USER_CONV | F.NUMA_NODE | ACCESS_FLAGS, requiredFlags: F.MMAPABLE, commands: ['mmap'], programHelpers: [], mapExtra: 'user-space address the arena is mapped at (page aligned), or 0' }),
];

/**
 * Map types created without BTF key/value types, as libbpf does
 * (bpf_object__create_map): the kernel refuses BTF for them (ENOTSUPP) or
 * their values are fds and ids that BTF cannot describe.
 */
export const MAP_TYPES_WITHOUT_BTF: ReadonlySet<number> = new Set<number>([
  MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY, MapType.STACK_TRACE, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.DEVMAP,
  MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP, MapType.SOCKMAP, MapType.SOCKHASH, MapType.QUEUE, MapType.STACK, MapType.ARENA,
]);

const rulesByType = new Map<number, MapTypeRule>(MAP_TYPE_RULES.map((r) => [r.type, r]));

export function mapTypeRule(type: number): MapTypeRule | undefined {
  return rulesByType.get(type);
}

/**
 * The map types each map-specific helper accepts (the second half of the
 * verifier's check_map_func_compatibility). Helpers not listed here accept
 * any map whose own rule allows them (`programHelpers`).
 */
export const HELPER_MAP_TYPES: Readonly<Record<string, readonly MapType[]>> = {
  tail_call: [MapType.PROG_ARRAY],
  perf_event_read: [MapType.PERF_EVENT_ARRAY],
  perf_event_output: [MapType.PERF_EVENT_ARRAY],
  perf_event_read_value: [MapType.PERF_EVENT_ARRAY],
  skb_output: [MapType.PERF_EVENT_ARRAY],
  xdp_output: [MapType.PERF_EVENT_ARRAY],
  ringbuf_output: [MapType.RINGBUF],
  ringbuf_reserve: [MapType.RINGBUF],
  ringbuf_query: [MapType.RINGBUF],
  ringbuf_reserve_dynptr: [MapType.RINGBUF],
  ringbuf_submit_dynptr: [MapType.RINGBUF],
  ringbuf_discard_dynptr: [MapType.RINGBUF],
  user_ringbuf_drain: [MapType.USER_RINGBUF],
  get_stackid: [MapType.STACK_TRACE],
  current_task_under_cgroup: [MapType.CGROUP_ARRAY],
  skb_under_cgroup: [MapType.CGROUP_ARRAY],
  redirect_map: [MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP],
  sk_redirect_map: [MapType.SOCKMAP],
  msg_redirect_map: [MapType.SOCKMAP],
  sock_map_update: [MapType.SOCKMAP],
  sk_redirect_hash: [MapType.SOCKHASH],
  msg_redirect_hash: [MapType.SOCKHASH],
  sock_hash_update: [MapType.SOCKHASH],
  get_local_storage: [MapType.CGROUP_STORAGE, MapType.PERCPU_CGROUP_STORAGE],
  sk_select_reuseport: [MapType.REUSEPORT_SOCKARRAY, MapType.SOCKMAP, MapType.SOCKHASH],
  map_pop_elem: [MapType.QUEUE, MapType.STACK],
  map_peek_elem: [MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER],
  map_push_elem: [MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER],
  map_lookup_percpu_elem: [MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH],
  sk_storage_get: [MapType.SK_STORAGE],
  sk_storage_delete: [MapType.SK_STORAGE],
  inode_storage_get: [MapType.INODE_STORAGE],
  inode_storage_delete: [MapType.INODE_STORAGE],
  task_storage_get: [MapType.TASK_STORAGE],
  task_storage_delete: [MapType.TASK_STORAGE],
  cgrp_storage_get: [MapType.CGRP_STORAGE],
  cgrp_storage_delete: [MapType.CGRP_STORAGE],
};

/**
 * Whether a program may pass a map of `mapType` to helper `helperName`, as
 * check_map_func_compatibility decides. On false the kernel's message is
 * "cannot pass map_type %d into func %s#%d".
 */
export function mapHelperCompatible(mapType: number, helperName: string): boolean {
  const rule = rulesByType.get(mapType);
  if (rule !== undefined && rule.programHelpers !== 'any' && !rule.programHelpers.includes(helperName)) return false;
  const types = HELPER_MAP_TYPES[helperName];
  return types === undefined || (types as readonly number[]).includes(mapType);
}

/** Program types the kernel calls tracing (is_tracing_prog_type): no spin locks, timers, workqueues or graph roots in their maps. */
const TRACING_PROGRAM_TYPES: ReadonlySet<number> = new Set([
  ProgramType.KPROBE,
  ProgramType.TRACEPOINT,
  ProgramType.PERF_EVENT,
  ProgramType.RAW_TRACEPOINT,
  ProgramType.RAW_TRACEPOINT_WRITABLE,
]);

/** Map types a sleepable program may reference. */
const SLEEPABLE_MAP_TYPES: ReadonlySet<number> = new Set([
  MapType.HASH,
  MapType.LRU_HASH,
  MapType.ARRAY,
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  MapType.ARRAY_OF_MAPS,
  MapType.HASH_OF_MAPS,
  MapType.RINGBUF,
  MapType.USER_RINGBUF,
  MapType.INODE_STORAGE,
  MapType.SK_STORAGE,
  MapType.TASK_STORAGE,
  MapType.CGRP_STORAGE,
  MapType.QUEUE,
  MapType.STACK,
  MapType.ARENA,
]);

/**
 * check_map_prog_compatibility: why a program of `programType` may not
 * reference a map of `mapType` whose value holds the kernel-managed fields
 * `fieldKinds` ('bpf_spin_lock', 'bpf_timer'...), in the kernel's words, or
 * undefined when it may. The kernel asks when the program is loaded, for
 * each map its instructions reference, before verifying any instruction.
 */
export function mapProgramProblem(mapType: number, fieldKinds: readonly string[], programType: number, sleepable: boolean): string | undefined {
  const tracing = TRACING_PROGRAM_TYPES.has(programType);
  if (tracing && (fieldKinds.includes('bpf_list_head') || fieldKinds.includes('bpf_rb_root'))) return 'tracing progs cannot use bpf_{list_head,rb_root} yet';
  if (fieldKinds.includes('bpf_spin_lock')) {
    if (programType === ProgramType.SOCKET_FILTER) return 'socket filter progs cannot use bpf_spin_lock yet';
    if (tracing) return 'tracing progs cannot use bpf_spin_lock yet';
  }
  if (tracing && fieldKinds.includes('bpf_timer')) return 'tracing progs cannot use bpf_timer yet';
  if (tracing && fieldKinds.includes('bpf_wq')) return 'tracing progs cannot use bpf_wq yet';
  if (mapType === MapType.STRUCT_OPS) return 'bpf_struct_ops map cannot be used in prog';
  if (sleepable && !SLEEPABLE_MAP_TYPES.has(mapType)) return 'Sleepable programs can only use array, hash, ringbuf and local storage maps';
  return undefined;
}

/** Bytes user space sees per CPU for a per-CPU value: round_up(value_size, 8). */
export function perCpuValueStride(valueSize: number): number {
  return (valueSize + 7) & ~7;
}

/**
 * max_entries as libbpf creates the map, from the value an object declares:
 * a perf event array without one gets one slot per possible CPU, and a ring
 * buffer's size is rounded up to a power-of-two multiple of the page size
 * (libbpf's adjust_ringbuf_sz), as the kernel requires.
 */
export function loadTimeMaxEntries(type: number, declared: number, possibleCpus: number): number {
  if (type === MapType.PERF_EVENT_ARRAY && declared === 0) return possibleCpus;
  if (type === MapType.RINGBUF || type === MapType.USER_RINGBUF) {
    if (declared === 0) return PAGE_SIZE;
    for (let pages = 1; pages <= 0xffffffff / PAGE_SIZE; pages *= 2) if (pages * PAGE_SIZE >= declared) return pages * PAGE_SIZE;
  }
  return declared;
}
