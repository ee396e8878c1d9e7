import { AttachType, ProgramType } from './enums.ts';

/**
 * Program types as data: the context struct each type's programs receive,
 * its layout, which fields each type may read and write (the kernel's
 * `*_is_valid_access` functions in net/core/filter.c, kernel/bpf/cgroup.c,
 * kernel/trace/bpf_trace.c), which fields yield packet pointers, the return
 * values the kernel accepts, and whether BPF_PROG_TEST_RUN works. The VM
 * translates context accesses from this, the verifier checks them, the
 * kernel backend sizes test-run contexts with it.
 *
 * Layouts were generated from Linux 6.18's BTF (x86-64) and are checked
 * against it by test/uapi/program-types.test.ts. Union members are all
 * listed (they overlap); pointer fields of the uapi structs (`__bpf_md_ptr`)
 * are 8 bytes.
 */

/** A field of a context struct: [name, byte offset, byte size]. */
export interface ContextField {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

export interface ContextLayout {
  readonly struct: string;
  readonly size: number;
  readonly fields: readonly ContextField[];
}

function layout(struct: string, size: number, fields: readonly (readonly [string, number, number])[]): ContextLayout {
  return { struct, size, fields: fields.map(([name, offset, size]) => ({ name, offset, size })) };
}

/** Layouts of the uapi context structs (and x86-64 pt_regs). */
export const CONTEXT_LAYOUTS = {
  __sk_buff: layout('__sk_buff', 192, [
    ['len', 0, 4],
    ['pkt_type', 4, 4],
    ['mark', 8, 4],
    ['queue_mapping', 12, 4],
    ['protocol', 16, 4],
    ['vlan_present', 20, 4],
    ['vlan_tci', 24, 4],
    ['vlan_proto', 28, 4],
    ['priority', 32, 4],
    ['ingress_ifindex', 36, 4],
    ['ifindex', 40, 4],
    ['tc_index', 44, 4],
    ['cb', 48, 20],
    ['hash', 68, 4],
    ['tc_classid', 72, 4],
    ['data', 76, 4],
    ['data_end', 80, 4],
    ['napi_id', 84, 4],
    ['family', 88, 4],
    ['remote_ip4', 92, 4],
    ['local_ip4', 96, 4],
    ['remote_ip6', 100, 16],
    ['local_ip6', 116, 16],
    ['remote_port', 132, 4],
    ['local_port', 136, 4],
    ['data_meta', 140, 4],
    ['flow_keys', 144, 8],
    ['tstamp', 152, 8],
    ['wire_len', 160, 4],
    ['gso_segs', 164, 4],
    ['sk', 168, 8],
    ['gso_size', 176, 4],
    ['tstamp_type', 180, 1],
    ['hwtstamp', 184, 8],
  ]),
  xdp_md: layout('xdp_md', 24, [
    ['data', 0, 4],
    ['data_end', 4, 4],
    ['data_meta', 8, 4],
    ['ingress_ifindex', 12, 4],
    ['rx_queue_index', 16, 4],
    ['egress_ifindex', 20, 4],
  ]),
  bpf_sock_addr: layout('bpf_sock_addr', 72, [
    ['user_family', 0, 4],
    ['user_ip4', 4, 4],
    ['user_ip6', 8, 16],
    ['user_port', 24, 4],
    ['family', 28, 4],
    ['type', 32, 4],
    ['protocol', 36, 4],
    ['msg_src_ip4', 40, 4],
    ['msg_src_ip6', 44, 16],
    ['sk', 64, 8],
  ]),
  bpf_sock: layout('bpf_sock', 80, [
    ['bound_dev_if', 0, 4],
    ['family', 4, 4],
    ['type', 8, 4],
    ['protocol', 12, 4],
    ['mark', 16, 4],
    ['priority', 20, 4],
    ['src_ip4', 24, 4],
    ['src_ip6', 28, 16],
    ['src_port', 44, 4],
    ['dst_port', 48, 2],
    ['dst_ip4', 52, 4],
    ['dst_ip6', 56, 16],
    ['state', 72, 4],
    ['rx_queue_mapping', 76, 4],
  ]),
  bpf_sock_ops: layout('bpf_sock_ops', 224, [
    ['op', 0, 4],
    ['args', 4, 16],
    ['reply', 4, 4],
    ['replylong', 4, 16],
    ['family', 20, 4],
    ['remote_ip4', 24, 4],
    ['local_ip4', 28, 4],
    ['remote_ip6', 32, 16],
    ['local_ip6', 48, 16],
    ['remote_port', 64, 4],
    ['local_port', 68, 4],
    ['is_fullsock', 72, 4],
    ['snd_cwnd', 76, 4],
    ['srtt_us', 80, 4],
    ['bpf_sock_ops_cb_flags', 84, 4],
    ['state', 88, 4],
    ['rtt_min', 92, 4],
    ['snd_ssthresh', 96, 4],
    ['rcv_nxt', 100, 4],
    ['snd_nxt', 104, 4],
    ['snd_una', 108, 4],
    ['mss_cache', 112, 4],
    ['ecn_flags', 116, 4],
    ['rate_delivered', 120, 4],
    ['rate_interval_us', 124, 4],
    ['packets_out', 128, 4],
    ['retrans_out', 132, 4],
    ['total_retrans', 136, 4],
    ['segs_in', 140, 4],
    ['data_segs_in', 144, 4],
    ['segs_out', 148, 4],
    ['data_segs_out', 152, 4],
    ['lost_out', 156, 4],
    ['sacked_out', 160, 4],
    ['sk_txhash', 164, 4],
    ['bytes_received', 168, 8],
    ['bytes_acked', 176, 8],
    ['sk', 184, 8],
    ['skb_data', 192, 8],
    ['skb_data_end', 200, 8],
    ['skb_len', 208, 4],
    ['skb_tcp_flags', 212, 4],
    ['skb_hwtstamp', 216, 8],
  ]),
  sk_msg_md: layout('sk_msg_md', 80, [
    ['data', 0, 8],
    ['data_end', 8, 8],
    ['family', 16, 4],
    ['remote_ip4', 20, 4],
    ['local_ip4', 24, 4],
    ['remote_ip6', 28, 16],
    ['local_ip6', 44, 16],
    ['remote_port', 60, 4],
    ['local_port', 64, 4],
    ['size', 68, 4],
    ['sk', 72, 8],
  ]),
  bpf_perf_event_data: layout('bpf_perf_event_data', 184, [
    ['regs', 0, 168],
    ['sample_period', 168, 8],
    ['addr', 176, 8],
  ]),
  pt_regs: layout('pt_regs', 168, [
    ['r15', 0, 8],
    ['r14', 8, 8],
    ['r13', 16, 8],
    ['r12', 24, 8],
    ['bp', 32, 8],
    ['bx', 40, 8],
    ['r11', 48, 8],
    ['r10', 56, 8],
    ['r9', 64, 8],
    ['r8', 72, 8],
    ['ax', 80, 8],
    ['cx', 88, 8],
    ['dx', 96, 8],
    ['si', 104, 8],
    ['di', 112, 8],
    ['orig_ax', 120, 8],
    ['ip', 128, 8],
    ['cs', 136, 2],
    ['csx', 136, 8],
    ['fred_cs', 136, 8],
    ['flags', 144, 8],
    ['sp', 152, 8],
    ['ss', 160, 2],
    ['ssx', 160, 8],
    ['fred_ss', 160, 8],
  ]),
  bpf_raw_tracepoint_args: layout('bpf_raw_tracepoint_args', 0, [
    ['args', 0, 0],
  ]),
  bpf_sysctl: layout('bpf_sysctl', 8, [
    ['write', 0, 4],
    ['file_pos', 4, 4],
  ]),
  bpf_sockopt: layout('bpf_sockopt', 40, [
    ['sk', 0, 8],
    ['optval', 8, 8],
    ['optval_end', 16, 8],
    ['level', 24, 4],
    ['optname', 28, 4],
    ['optlen', 32, 4],
    ['retval', 36, 4],
  ]),
  sk_reuseport_md: layout('sk_reuseport_md', 56, [
    ['data', 0, 8],
    ['data_end', 8, 8],
    ['len', 16, 4],
    ['eth_protocol', 20, 4],
    ['ip_protocol', 24, 4],
    ['bind_inany', 28, 4],
    ['hash', 32, 4],
    ['sk', 40, 8],
    ['migrating_sk', 48, 8],
  ]),
  bpf_flow_keys: layout('bpf_flow_keys', 56, [
    ['nhoff', 0, 2],
    ['thoff', 2, 2],
    ['addr_proto', 4, 2],
    ['is_frag', 6, 1],
    ['is_first_frag', 7, 1],
    ['is_encap', 8, 1],
    ['ip_proto', 9, 1],
    ['n_proto', 10, 2],
    ['sport', 12, 2],
    ['dport', 14, 2],
    ['ipv4_src', 16, 4],
    ['ipv4_dst', 20, 4],
    ['ipv6_src', 16, 16],
    ['ipv6_dst', 32, 16],
    ['flags', 48, 4],
    ['flow_label', 52, 4],
  ]),
  bpf_sk_lookup: layout('bpf_sk_lookup', 72, [
    ['sk', 0, 8],
    ['cookie', 0, 8],
    ['family', 8, 4],
    ['protocol', 12, 4],
    ['remote_ip4', 16, 4],
    ['remote_ip6', 20, 16],
    ['remote_port', 36, 2],
    ['local_ip4', 40, 4],
    ['local_ip6', 44, 16],
    ['local_port', 60, 4],
    ['ingress_ifindex', 64, 4],
  ]),
  bpf_nf_ctx: layout('bpf_nf_ctx', 16, [
    ['state', 0, 8],
    ['skb', 8, 8],
  ]),
  bpf_cgroup_dev_ctx: layout('bpf_cgroup_dev_ctx', 12, [
    ['access_type', 0, 4],
    ['major', 4, 4],
    ['minor', 8, 4],
  ]),
} as const satisfies Record<string, ContextLayout>;

/** What a load of a context field gives the verifier (bpf_insn_access_aux.reg_type); scalar when absent. */
export type ContextPointer =
  | 'packet'
  | 'packet_end'
  | 'packet_meta'
  | 'sock_common_or_null'
  | 'sock_or_null'
  | 'sock'
  | 'flow_keys'
  /** A trusted pointer to the named kernel struct (PTR_TO_BTF_ID | PTR_TRUSTED). */
  | `trusted_btf_id:${string}`;

export interface ContextAccess {
  /** Fields that may be read; every other byte of the struct is rejected ("invalid bpf_context access"). */
  readonly read: readonly string[];
  /** Fields that may be written (full-size stores only). */
  readonly write: readonly string[];
  /** Fields whose load yields a pointer rather than a scalar. */
  readonly pointers: Readonly<Record<string, ContextPointer>>;
  /**
   * Fields readable with a narrower load (1, 2 bytes at any aligned offset
   * inside the field, as bpf_ctx_narrow_access_ok allows); fields not listed
   * must be read at their full size.
   */
  readonly narrowReads: readonly string[];
  /** Fields that may only be accessed with an 8-byte load even though their declared size differs. */
  readonly exactSize?: Readonly<Record<string, number>>;
  /** Fields readable only under these expected attach types (AttachType values). */
  readonly readAttachTypes?: Readonly<Record<string, readonly number[]>>;
  /** Fields writable only under these expected attach types. */
  readonly writeAttachTypes?: Readonly<Record<string, readonly number[]>>;
}

export interface ProgramTypeSpec {
  readonly type: ProgramType;
  /** Name as libbpf's section prefixes and bpftool print it. */
  readonly name: string;
  /** Key into CONTEXT_LAYOUTS, or a description when the context is not a fixed struct. */
  readonly context: keyof typeof CONTEXT_LAYOUTS | 'tracepoint record' | 'btf function arguments' | 'struct_ops arguments' | 'syscall arguments' | 'lirc sample';
  /** Context size the kernel accepts for direct loads (bytes past it are rejected). */
  readonly contextSize: number;
  /** First byte a program may load when it is not 0 (tracepoint records hide their 8-byte common header). */
  readonly contextStart?: number;
  /** How context loads are checked; absent when any aligned in-bounds read is allowed (tracepoint records, syscall args). */
  readonly access?: ContextAccess;
  /** Direct packet access through data/data_end (and data_meta). */
  readonly packetAccess: boolean;
  /** The return values the verifier enforces (check_return_code), inclusive; undefined means it accepts any value. */
  readonly returnRange?: readonly [number, number];
  /** The return codes the kernel acts on (values outside are treated as the type's error/default case). */
  readonly actions?: Readonly<Record<string, number>>;
  /** BPF_PROG_TEST_RUN support. */
  readonly testRun: boolean;
  /** The kernel struct a test-run ctx_in/ctx_out carries, when it accepts one. */
  readonly testRunContext?: string;
}

const SKB = CONTEXT_LAYOUTS.__sk_buff;
function names(layoutFields: readonly ContextField[], exclude: readonly string[] = []): string[] {
  return layoutFields.map((f) => f.name).filter((n) => !exclude.includes(n));
}
/** __sk_buff fields read through dedicated rules in bpf_skb_is_valid_access. */
const SKB_SOCKET_FIELDS = ['family', 'remote_ip4', 'local_ip4', 'remote_ip6', 'local_ip6', 'remote_port', 'local_port'];
const SKB_PACKET = { data: 'packet', data_end: 'packet_end' } as const;
/** Fields bpf_skb_is_valid_access lets through as narrow loads (its default case, 4-byte fields). */
const SKB_NARROW = names(SKB.fields).filter(
  (n) => !['data', 'data_end', 'data_meta', 'flow_keys', 'sk', 'tstamp', 'hwtstamp', 'tstamp_type', 'cb', 'remote_ip4', 'local_ip4', 'remote_ip6', 'local_ip6'].includes(n),
);
const SKB_EXACT = { tstamp: 8, hwtstamp: 8, sk: 8 };

function skbAccess(deny: readonly string[], write: readonly string[], pointers: Readonly<Record<string, ContextPointer>>): ContextAccess {
  const read = names(SKB.fields, ['flow_keys', 'tstamp_type', ...deny]);
  return {
    read,
    write,
    pointers: { sk: 'sock_common_or_null', ...pointers },
    narrowReads: SKB_NARROW.filter((n) => read.includes(n)).concat(['cb']),
    exactSize: SKB_EXACT,
  };
}

/** sk_filter_is_valid_access. */
const SOCKET_FILTER_ACCESS = skbAccess(['tc_classid', 'data', 'data_meta', 'data_end', ...SKB_SOCKET_FIELDS, 'tstamp', 'wire_len', 'hwtstamp'], ['cb'], {});
/** tc_cls_act_is_valid_access (tstamp_type is a 1-byte read there). */
const TC_ACCESS: ContextAccess = {
  ...skbAccess(SKB_SOCKET_FIELDS, ['mark', 'tc_index', 'priority', 'tc_classid', 'cb', 'tstamp', 'queue_mapping'], { ...SKB_PACKET, data_meta: 'packet_meta' }),
  read: names(SKB.fields, ['flow_keys', ...SKB_SOCKET_FIELDS]),
};
/** cg_skb_is_valid_access (data/data_end need CAP_BPF, assumed). */
const CGROUP_SKB_ACCESS = skbAccess(['tc_classid', 'data_meta', 'wire_len'], ['mark', 'priority', 'cb', 'tstamp'], SKB_PACKET);
/** lwt_is_valid_access. */
const LWT_ACCESS = skbAccess(['tc_classid', ...SKB_SOCKET_FIELDS, 'data_meta', 'tstamp', 'wire_len', 'hwtstamp'], ['mark', 'priority', 'cb'], SKB_PACKET);
/** sk_skb_is_valid_access. */
const SK_SKB_ACCESS = skbAccess(['tc_classid', 'data_meta', 'tstamp', 'wire_len', 'hwtstamp', 'mark'], ['tc_index', 'priority'], SKB_PACKET);
/** flow_dissector_is_valid_access: only data, data_end, flow_keys, read-only. */
const FLOW_DISSECTOR_ACCESS: ContextAccess = {
  read: ['data', 'data_end', 'flow_keys'],
  write: [],
  pointers: { ...SKB_PACKET, flow_keys: 'flow_keys' },
  narrowReads: [],
  exactSize: { flow_keys: 8 },
};

/** Every field readable at its full width, `write` writable; narrow loads only for `narrowReads`. */
function readOnly(
  layoutFields: readonly ContextField[],
  pointers: Readonly<Record<string, ContextPointer>> = {},
  write: readonly string[] = [],
  narrowReads: readonly string[] = [],
): ContextAccess {
  return { read: names(layoutFields), write, pointers, narrowReads };
}

const XDP_ACCESS: ContextAccess = {
  read: names(CONTEXT_LAYOUTS.xdp_md.fields),
  write: [],
  pointers: { data: 'packet', data_end: 'packet_end', data_meta: 'packet_meta' },
  narrowReads: [],
  readAttachTypes: { egress_ifindex: [AttachType.XDP_DEVMAP] },
};

/** pe_prog_is_valid_access: registers as 8-byte words, sample_period and addr also narrower. */
const PERF_EVENT_ACCESS: ContextAccess = {
  ...readOnly(CONTEXT_LAYOUTS.bpf_perf_event_data.fields),
  narrowReads: ['sample_period', 'addr'],
  exactSize: { regs: 8 },
};

const A = AttachType;
const SOCK_CREATE_RELEASE = [A.CGROUP_INET_SOCK_CREATE, A.CGROUP_INET_SOCK_RELEASE];
/** sock_filter_is_valid_access / __sock_filter_check_attach_type. */
const CGROUP_SOCK_ACCESS: ContextAccess = {
  ...readOnly(CONTEXT_LAYOUTS.bpf_sock.fields, {}, ['bound_dev_if', 'mark', 'priority'], names(CONTEXT_LAYOUTS.bpf_sock.fields, ['bound_dev_if', 'mark', 'priority'])),
  readAttachTypes: {
    bound_dev_if: SOCK_CREATE_RELEASE,
    mark: SOCK_CREATE_RELEASE,
    priority: SOCK_CREATE_RELEASE,
    src_ip4: [A.CGROUP_INET4_POST_BIND],
    src_ip6: [A.CGROUP_INET6_POST_BIND],
    src_port: [A.CGROUP_INET4_POST_BIND, A.CGROUP_INET6_POST_BIND],
  },
  writeAttachTypes: { bound_dev_if: SOCK_CREATE_RELEASE, mark: SOCK_CREATE_RELEASE, priority: SOCK_CREATE_RELEASE },
};
const INET4_ADDR = [A.CGROUP_INET4_BIND, A.CGROUP_INET4_CONNECT, A.CGROUP_INET4_GETPEERNAME, A.CGROUP_INET4_GETSOCKNAME, A.CGROUP_UDP4_SENDMSG, A.CGROUP_UDP4_RECVMSG];
const INET6_ADDR = [A.CGROUP_INET6_BIND, A.CGROUP_INET6_CONNECT, A.CGROUP_INET6_GETPEERNAME, A.CGROUP_INET6_GETSOCKNAME, A.CGROUP_UDP6_SENDMSG, A.CGROUP_UDP6_RECVMSG];
const SOCK_ADDR_WRITABLE = ['user_ip4', 'user_ip6', 'user_port', 'msg_src_ip4', 'msg_src_ip6'];
const SOCK_ADDR_FAMILY = { user_ip4: INET4_ADDR, user_ip6: INET6_ADDR, msg_src_ip4: [A.CGROUP_UDP4_SENDMSG], msg_src_ip6: [A.CGROUP_UDP6_SENDMSG] };
/** sock_addr_is_valid_access: address fields only for their family's attach types. */
const CGROUP_SOCK_ADDR_ACCESS: ContextAccess = {
  ...readOnly(CONTEXT_LAYOUTS.bpf_sock_addr.fields, { sk: 'sock' }, SOCK_ADDR_WRITABLE, SOCK_ADDR_WRITABLE),
  readAttachTypes: SOCK_ADDR_FAMILY,
  writeAttachTypes: SOCK_ADDR_FAMILY,
};
/** cg_sockopt_is_valid_access: retval only for getsockopt, level/optname writable only for setsockopt. */
const CGROUP_SOCKOPT_ACCESS: ContextAccess = {
  ...readOnly(CONTEXT_LAYOUTS.bpf_sockopt.fields, { sk: 'sock', optval: 'packet', optval_end: 'packet_end' }, ['level', 'optname', 'optlen', 'retval']),
  readAttachTypes: { retval: [A.CGROUP_GETSOCKOPT] },
  writeAttachTypes: { retval: [A.CGROUP_GETSOCKOPT], level: [A.CGROUP_SETSOCKOPT], optname: [A.CGROUP_SETSOCKOPT] },
};

/** XDP program return codes (enum xdp_action). */
export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;

/** tc return codes (TC_ACT_* in include/uapi/linux/pkt_cls.h). */
export const TcAction = {
  UNSPEC: -1,
  OK: 0,
  RECLASSIFY: 1,
  SHOT: 2,
  PIPE: 3,
  STOLEN: 4,
  QUEUED: 5,
  REPEAT: 6,
  REDIRECT: 7,
  TRAP: 8,
} as const;

/** sk_skb / sk_msg verdicts (enum sk_action). */
export const SkAction = { DROP: 0, PASS: 1 } as const;

/** Return codes of BPF_PROG_TYPE_LWT_* (enum bpf_ret_code). */
export const LwtAction = { OK: 0, DROP: 2, REDIRECT: 7, LWT_REROUTE: 128, FLOW_DISSECTOR_CONTINUE: 129 } as const;

const L = CONTEXT_LAYOUTS;

export const PROGRAM_TYPES: readonly ProgramTypeSpec[] = [
  { type: ProgramType.SOCKET_FILTER, name: 'socket_filter', context: '__sk_buff', contextSize: L.__sk_buff.size, access: SOCKET_FILTER_ACCESS, packetAccess: false, testRun: true, testRunContext: '__sk_buff' },
  // kprobe_prog_is_valid_access: any read inside pt_regs aligned to its size, whatever the registers' own widths.
  { type: ProgramType.KPROBE, name: 'kprobe', context: 'pt_regs', contextSize: L.pt_regs.size, packetAccess: false, testRun: false },
  { type: ProgramType.SCHED_CLS, name: 'sched_cls', context: '__sk_buff', contextSize: L.__sk_buff.size, access: TC_ACCESS, packetAccess: true, actions: TcAction, testRun: true, testRunContext: '__sk_buff' },
  { type: ProgramType.SCHED_ACT, name: 'sched_act', context: '__sk_buff', contextSize: L.__sk_buff.size, access: TC_ACCESS, packetAccess: true, actions: TcAction, testRun: true, testRunContext: '__sk_buff' },
  { type: ProgramType.TRACEPOINT, name: 'tracepoint', context: 'tracepoint record', contextSize: 8192, contextStart: 8, packetAccess: false, testRun: false },
  { type: ProgramType.XDP, name: 'xdp', context: 'xdp_md', contextSize: L.xdp_md.size, access: XDP_ACCESS, packetAccess: true, actions: XdpAction, testRun: true, testRunContext: 'xdp_md' },
  { type: ProgramType.PERF_EVENT, name: 'perf_event', context: 'bpf_perf_event_data', contextSize: L.bpf_perf_event_data.size, access: PERF_EVENT_ACCESS, packetAccess: false, testRun: false },
  // Egress may return 0-3 (bit 1: congestion notification); ingress only 0-1.
  { type: ProgramType.CGROUP_SKB, name: 'cgroup_skb', context: '__sk_buff', contextSize: L.__sk_buff.size, access: CGROUP_SKB_ACCESS, packetAccess: true, returnRange: [0, 3], testRun: true, testRunContext: '__sk_buff' },
  { type: ProgramType.CGROUP_SOCK, name: 'cgroup_sock', context: 'bpf_sock', contextSize: L.bpf_sock.size, access: CGROUP_SOCK_ACCESS, packetAccess: false, returnRange: [0, 1], testRun: false },
  { type: ProgramType.LWT_IN, name: 'lwt_in', context: '__sk_buff', contextSize: L.__sk_buff.size, access: LWT_ACCESS, packetAccess: true, actions: LwtAction, testRun: true, testRunContext: '__sk_buff' },
  { type: ProgramType.LWT_OUT, name: 'lwt_out', context: '__sk_buff', contextSize: L.__sk_buff.size, access: LWT_ACCESS, packetAccess: true, actions: LwtAction, testRun: true, testRunContext: '__sk_buff' },
  { type: ProgramType.LWT_XMIT, name: 'lwt_xmit', context: '__sk_buff', contextSize: L.__sk_buff.size, access: LWT_ACCESS, packetAccess: true, actions: LwtAction, testRun: true, testRunContext: '__sk_buff' },
  { type: ProgramType.SOCK_OPS, name: 'sock_ops', context: 'bpf_sock_ops', contextSize: L.bpf_sock_ops.size, access: readOnly(L.bpf_sock_ops.fields, { sk: 'sock_or_null', skb_data: 'packet', skb_data_end: 'packet_end' }, ['args', 'reply', 'replylong', 'sk_txhash'], ['skb_tcp_flags']), packetAccess: true, returnRange: [0, 1], testRun: false },
  { type: ProgramType.SK_SKB, name: 'sk_skb', context: '__sk_buff', contextSize: L.__sk_buff.size, access: SK_SKB_ACCESS, packetAccess: true, actions: SkAction, testRun: false },
  { type: ProgramType.CGROUP_DEVICE, name: 'cgroup_device', context: 'bpf_cgroup_dev_ctx', contextSize: L.bpf_cgroup_dev_ctx.size, access: readOnly(L.bpf_cgroup_dev_ctx.fields, {}, [], ['access_type']), packetAccess: false, returnRange: [0, 1], testRun: false },
  { type: ProgramType.SK_MSG, name: 'sk_msg', context: 'sk_msg_md', contextSize: L.sk_msg_md.size, access: readOnly(L.sk_msg_md.fields, { data: 'packet', data_end: 'packet_end', sk: 'sock' }), packetAccess: true, actions: SkAction, testRun: false },
  { type: ProgramType.RAW_TRACEPOINT, name: 'raw_tracepoint', context: 'bpf_raw_tracepoint_args', contextSize: 8 * 12, packetAccess: false, testRun: true },
  { type: ProgramType.CGROUP_SOCK_ADDR, name: 'cgroup_sock_addr', context: 'bpf_sock_addr', contextSize: L.bpf_sock_addr.size, access: CGROUP_SOCK_ADDR_ACCESS, packetAccess: false, returnRange: [0, 1], testRun: false },
  { type: ProgramType.LWT_SEG6LOCAL, name: 'lwt_seg6local', context: '__sk_buff', contextSize: L.__sk_buff.size, access: LWT_ACCESS, packetAccess: true, actions: LwtAction, testRun: true, testRunContext: '__sk_buff' },
  { type: ProgramType.LIRC_MODE2, name: 'lirc_mode2', context: 'lirc sample', contextSize: 4, packetAccess: false, testRun: false },
  { type: ProgramType.SK_REUSEPORT, name: 'sk_reuseport', context: 'sk_reuseport_md', contextSize: L.sk_reuseport_md.size, access: readOnly(L.sk_reuseport_md.fields, { data: 'packet', data_end: 'packet_end', sk: 'sock', migrating_sk: 'sock_or_null' }, [], ['len', 'ip_protocol', 'bind_inany']), packetAccess: true, actions: SkAction, testRun: false },
  { type: ProgramType.FLOW_DISSECTOR, name: 'flow_dissector', context: '__sk_buff', contextSize: L.__sk_buff.size, access: FLOW_DISSECTOR_ACCESS, packetAccess: true, testRun: true, testRunContext: 'bpf_flow_keys' },
  { type: ProgramType.CGROUP_SYSCTL, name: 'cgroup_sysctl', context: 'bpf_sysctl', contextSize: L.bpf_sysctl.size, access: readOnly(L.bpf_sysctl.fields, {}, ['file_pos'], ['write', 'file_pos']), packetAccess: false, returnRange: [0, 1], testRun: false },
  { type: ProgramType.RAW_TRACEPOINT_WRITABLE, name: 'raw_tracepoint_writable', context: 'bpf_raw_tracepoint_args', contextSize: 8 * 12, packetAccess: false, testRun: true },
  { type: ProgramType.CGROUP_SOCKOPT, name: 'cgroup_sockopt', context: 'bpf_sockopt', contextSize: L.bpf_sockopt.size, access: CGROUP_SOCKOPT_ACCESS, packetAccess: true, returnRange: [0, 1], testRun: false },
  { type: ProgramType.TRACING, name: 'tracing', context: 'btf function arguments', contextSize: 8 * 12, packetAccess: false, testRun: true },
  { type: ProgramType.STRUCT_OPS, name: 'struct_ops', context: 'struct_ops arguments', contextSize: 8 * 12, packetAccess: false, testRun: true },
  { type: ProgramType.EXT, name: 'ext', context: 'btf function arguments', contextSize: 8 * 12, packetAccess: false, testRun: false },
  { type: ProgramType.LSM, name: 'lsm', context: 'btf function arguments', contextSize: 8 * 12, packetAccess: false, testRun: false },
  { type: ProgramType.SK_LOOKUP, name: 'sk_lookup', context: 'bpf_sk_lookup', contextSize: L.bpf_sk_lookup.size, access: readOnly(L.bpf_sk_lookup.fields, { sk: 'sock_or_null' }, [], names(L.bpf_sk_lookup.fields, ['sk', 'cookie'])), packetAccess: false, returnRange: [0, 1], testRun: true, testRunContext: 'bpf_sk_lookup' },
  { type: ProgramType.SYSCALL, name: 'syscall', context: 'syscall arguments', contextSize: 65535, packetAccess: false, testRun: true },
  { type: ProgramType.NETFILTER, name: 'netfilter', context: 'bpf_nf_ctx', contextSize: L.bpf_nf_ctx.size, access: readOnly(L.bpf_nf_ctx.fields, { state: 'trusted_btf_id:nf_hook_state', skb: 'trusted_btf_id:sk_buff' }), packetAccess: false, returnRange: [0, 1], testRun: true },
];

const byType = new Map<number, ProgramTypeSpec>(PROGRAM_TYPES.map((p) => [p.type, p]));

export function programTypeSpec(type: number): ProgramTypeSpec | undefined {
  return byType.get(type);
}

/** The field of `layout` containing byte `offset`, preferring the first declared (union members overlap). */
export function contextFieldAt(layout: ContextLayout, offset: number): ContextField | undefined {
  return layout.fields.find((f) => offset >= f.offset && offset < f.offset + f.size);
}

/**
 * Whether a program of `spec`'s type may access context field `field`
 * (reading or writing), with `attachType` its expected attach type.
 * Widths and narrow loads are separate rules (`narrowReads`, `exactSize`).
 */
export function contextFieldAccessible(spec: ProgramTypeSpec, field: string, write: boolean, attachType?: number): boolean {
  const access = spec.access;
  if (access === undefined) return !write;
  if (!(write ? access.write : access.read).includes(field)) return false;
  const only = (write ? access.writeAttachTypes : access.readAttachTypes)?.[field];
  return only === undefined || (attachType !== undefined && only.includes(attachType));
}
