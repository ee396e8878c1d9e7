/**
 * ELF section name → program type, expected attach type and attach target,
 * following libbpf's SEC() table (section_defs in libbpf.c). This is data so
 * that attach logic (the kernel backend) can read the same table.
 *
 * Matching, as in libbpf's sec_def_matches():
 * - `'exact'`: the section name equals `prefix`;
 * - `'target'` (libbpf's "name+"): the name equals `prefix` or is
 *   `prefix/TARGET`; TARGET becomes ProgramSpec.attachTo;
 * - `'required'` (libbpf's "name/"): the name must be `prefix/TARGET`.
 * The first matching entry wins, so more specific names come first.
 *
 * Names libbpf 1.x no longer accepts but older toolchains emit (iproute2's
 * `classifier`/`action` sections, samples/bpf's `socket1`, `xdp_prog`,
 * `kprobe/...`) are resolved by LEGACY_PREFIXES, a plain prefix match tried
 * when no entry matches.
 */
import { AttachType, ProgramType } from '../uapi/enums.ts';

export type SectionMatch = 'exact' | 'target' | 'required';

/** What kind of thing `attachTo` names, so attach code knows how to use it. */
export type AttachTargetKind =
  | 'kernel-function' // kprobe / kretprobe: func[+offset]
  | 'kernel-function-pattern' // kprobe.multi: glob
  | 'syscall' // ksyscall: syscall name
  | 'user-function' // uprobe: binary:function[+offset]
  | 'usdt' // usdt: binary:provider:name
  | 'tracepoint' // category/name
  | 'raw-tracepoint' // name
  | 'btf-function' // fentry/fexit/fmod_ret/lsm/tp_btf/freplace: BTF name
  | 'iterator' // iter: name
  | 'struct-ops'; // struct_ops: member name

export interface SectionDef {
  prefix: string;
  match: SectionMatch;
  programType: ProgramType;
  expectedAttachType?: AttachType;
  sleepable?: boolean;
  /** BPF_F_XDP_HAS_FRAGS. */
  xdpFrags?: boolean;
  /** The target is resolved in kernel BTF at load time (attach_btf_id). */
  attachBtf?: boolean;
  /** Attach with a kretprobe / uretprobe / return-side multi probe. */
  returnProbe?: boolean;
  targetKind?: AttachTargetKind;
}

const P = ProgramType;
const A = AttachType;

const def = (prefix: string, match: SectionMatch, programType: ProgramType, extra: Omit<SectionDef, 'prefix' | 'match' | 'programType'> = {}): SectionDef => ({
  prefix,
  match,
  programType,
  ...extra,
});

export const SECTION_DEFS: readonly SectionDef[] = [
  def('socket', 'exact', P.SOCKET_FILTER),
  def('sk_reuseport/migrate', 'exact', P.SK_REUSEPORT, { expectedAttachType: A.SK_REUSEPORT_SELECT_OR_MIGRATE }),
  def('sk_reuseport', 'exact', P.SK_REUSEPORT, { expectedAttachType: A.SK_REUSEPORT_SELECT }),
  def('kprobe', 'target', P.KPROBE, { targetKind: 'kernel-function' }),
  def('uprobe', 'target', P.KPROBE, { targetKind: 'user-function' }),
  def('uprobe.s', 'target', P.KPROBE, { targetKind: 'user-function', sleepable: true }),
  def('kretprobe', 'target', P.KPROBE, { targetKind: 'kernel-function', returnProbe: true }),
  def('uretprobe', 'target', P.KPROBE, { targetKind: 'user-function', returnProbe: true }),
  def('uretprobe.s', 'target', P.KPROBE, { targetKind: 'user-function', returnProbe: true, sleepable: true }),
  def('kprobe.multi', 'target', P.KPROBE, { expectedAttachType: A.TRACE_KPROBE_MULTI, targetKind: 'kernel-function-pattern' }),
  def('kretprobe.multi', 'target', P.KPROBE, { expectedAttachType: A.TRACE_KPROBE_MULTI, targetKind: 'kernel-function-pattern', returnProbe: true }),
  def('kprobe.session', 'target', P.KPROBE, { expectedAttachType: A.TRACE_KPROBE_SESSION, targetKind: 'kernel-function-pattern' }),
  def('uprobe.multi', 'target', P.KPROBE, { expectedAttachType: A.TRACE_UPROBE_MULTI, targetKind: 'user-function' }),
  def('uretprobe.multi', 'target', P.KPROBE, { expectedAttachType: A.TRACE_UPROBE_MULTI, targetKind: 'user-function', returnProbe: true }),
  def('uprobe.session', 'target', P.KPROBE, { expectedAttachType: A.TRACE_UPROBE_SESSION, targetKind: 'user-function' }),
  def('uprobe.multi.s', 'target', P.KPROBE, { expectedAttachType: A.TRACE_UPROBE_MULTI, targetKind: 'user-function', sleepable: true }),
  def('uretprobe.multi.s', 'target', P.KPROBE, { expectedAttachType: A.TRACE_UPROBE_MULTI, targetKind: 'user-function', returnProbe: true, sleepable: true }),
  def('uprobe.session.s', 'target', P.KPROBE, { expectedAttachType: A.TRACE_UPROBE_SESSION, targetKind: 'user-function', sleepable: true }),
  def('ksyscall', 'target', P.KPROBE, { targetKind: 'syscall' }),
  def('kretsyscall', 'target', P.KPROBE, { targetKind: 'syscall', returnProbe: true }),
  def('usdt', 'target', P.KPROBE, { targetKind: 'usdt' }),
  def('usdt.s', 'target', P.KPROBE, { targetKind: 'usdt', sleepable: true }),
  def('tc/ingress', 'exact', P.SCHED_CLS, { expectedAttachType: A.TCX_INGRESS }),
  def('tc/egress', 'exact', P.SCHED_CLS, { expectedAttachType: A.TCX_EGRESS }),
  def('tcx/ingress', 'exact', P.SCHED_CLS, { expectedAttachType: A.TCX_INGRESS }),
  def('tcx/egress', 'exact', P.SCHED_CLS, { expectedAttachType: A.TCX_EGRESS }),
  def('tc', 'exact', P.SCHED_CLS),
  def('classifier', 'exact', P.SCHED_CLS),
  def('action', 'exact', P.SCHED_ACT),
  def('netkit/primary', 'exact', P.SCHED_CLS, { expectedAttachType: A.NETKIT_PRIMARY }),
  def('netkit/peer', 'exact', P.SCHED_CLS, { expectedAttachType: A.NETKIT_PEER }),
  def('tracepoint', 'target', P.TRACEPOINT, { targetKind: 'tracepoint' }),
  def('tp', 'target', P.TRACEPOINT, { targetKind: 'tracepoint' }),
  def('raw_tracepoint', 'target', P.RAW_TRACEPOINT, { targetKind: 'raw-tracepoint' }),
  def('raw_tp', 'target', P.RAW_TRACEPOINT, { targetKind: 'raw-tracepoint' }),
  def('raw_tracepoint.w', 'target', P.RAW_TRACEPOINT_WRITABLE, { targetKind: 'raw-tracepoint' }),
  def('raw_tp.w', 'target', P.RAW_TRACEPOINT_WRITABLE, { targetKind: 'raw-tracepoint' }),
  def('tp_btf', 'target', P.TRACING, { expectedAttachType: A.TRACE_RAW_TP, attachBtf: true, targetKind: 'btf-function' }),
  def('fentry', 'target', P.TRACING, { expectedAttachType: A.TRACE_FENTRY, attachBtf: true, targetKind: 'btf-function' }),
  def('fmod_ret', 'target', P.TRACING, { expectedAttachType: A.MODIFY_RETURN, attachBtf: true, targetKind: 'btf-function' }),
  def('fexit', 'target', P.TRACING, { expectedAttachType: A.TRACE_FEXIT, attachBtf: true, targetKind: 'btf-function' }),
  def('fentry.s', 'target', P.TRACING, { expectedAttachType: A.TRACE_FENTRY, attachBtf: true, sleepable: true, targetKind: 'btf-function' }),
  def('fmod_ret.s', 'target', P.TRACING, { expectedAttachType: A.MODIFY_RETURN, attachBtf: true, sleepable: true, targetKind: 'btf-function' }),
  def('fexit.s', 'target', P.TRACING, { expectedAttachType: A.TRACE_FEXIT, attachBtf: true, sleepable: true, targetKind: 'btf-function' }),
  def('freplace', 'target', P.EXT, { attachBtf: true, targetKind: 'btf-function' }),
  def('lsm', 'target', P.LSM, { expectedAttachType: A.LSM_MAC, attachBtf: true, targetKind: 'btf-function' }),
  def('lsm.s', 'target', P.LSM, { expectedAttachType: A.LSM_MAC, attachBtf: true, sleepable: true, targetKind: 'btf-function' }),
  def('lsm_cgroup', 'target', P.LSM, { expectedAttachType: A.LSM_CGROUP, attachBtf: true, targetKind: 'btf-function' }),
  def('iter', 'target', P.TRACING, { expectedAttachType: A.TRACE_ITER, attachBtf: true, targetKind: 'iterator' }),
  def('iter.s', 'target', P.TRACING, { expectedAttachType: A.TRACE_ITER, attachBtf: true, sleepable: true, targetKind: 'iterator' }),
  def('syscall', 'exact', P.SYSCALL, { sleepable: true }),
  def('xdp.frags/devmap', 'exact', P.XDP, { expectedAttachType: A.XDP_DEVMAP, xdpFrags: true }),
  def('xdp/devmap', 'exact', P.XDP, { expectedAttachType: A.XDP_DEVMAP }),
  def('xdp.frags/cpumap', 'exact', P.XDP, { expectedAttachType: A.XDP_CPUMAP, xdpFrags: true }),
  def('xdp/cpumap', 'exact', P.XDP, { expectedAttachType: A.XDP_CPUMAP }),
  def('xdp.frags', 'exact', P.XDP, { expectedAttachType: A.XDP, xdpFrags: true }),
  def('xdp', 'exact', P.XDP, { expectedAttachType: A.XDP }),
  def('perf_event', 'exact', P.PERF_EVENT),
  def('lwt_in', 'exact', P.LWT_IN),
  def('lwt_out', 'exact', P.LWT_OUT),
  def('lwt_xmit', 'exact', P.LWT_XMIT),
  def('lwt_seg6local', 'exact', P.LWT_SEG6LOCAL),
  def('sockops', 'exact', P.SOCK_OPS, { expectedAttachType: A.CGROUP_SOCK_OPS }),
  def('sk_skb/stream_parser', 'exact', P.SK_SKB, { expectedAttachType: A.SK_SKB_STREAM_PARSER }),
  def('sk_skb/stream_verdict', 'exact', P.SK_SKB, { expectedAttachType: A.SK_SKB_STREAM_VERDICT }),
  def('sk_skb/verdict', 'exact', P.SK_SKB, { expectedAttachType: A.SK_SKB_VERDICT }),
  def('sk_skb', 'exact', P.SK_SKB),
  def('sk_msg', 'exact', P.SK_MSG, { expectedAttachType: A.SK_MSG_VERDICT }),
  def('lirc_mode2', 'exact', P.LIRC_MODE2, { expectedAttachType: A.LIRC_MODE2 }),
  def('flow_dissector', 'exact', P.FLOW_DISSECTOR, { expectedAttachType: A.FLOW_DISSECTOR }),
  def('cgroup_skb/ingress', 'exact', P.CGROUP_SKB, { expectedAttachType: A.CGROUP_INET_INGRESS }),
  def('cgroup_skb/egress', 'exact', P.CGROUP_SKB, { expectedAttachType: A.CGROUP_INET_EGRESS }),
  def('cgroup/skb', 'exact', P.CGROUP_SKB),
  def('cgroup/sock_create', 'exact', P.CGROUP_SOCK, { expectedAttachType: A.CGROUP_INET_SOCK_CREATE }),
  def('cgroup/sock_release', 'exact', P.CGROUP_SOCK, { expectedAttachType: A.CGROUP_INET_SOCK_RELEASE }),
  def('cgroup/sock', 'exact', P.CGROUP_SOCK, { expectedAttachType: A.CGROUP_INET_SOCK_CREATE }),
  def('cgroup/post_bind4', 'exact', P.CGROUP_SOCK, { expectedAttachType: A.CGROUP_INET4_POST_BIND }),
  def('cgroup/post_bind6', 'exact', P.CGROUP_SOCK, { expectedAttachType: A.CGROUP_INET6_POST_BIND }),
  def('cgroup/bind4', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_INET4_BIND }),
  def('cgroup/bind6', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_INET6_BIND }),
  def('cgroup/connect4', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_INET4_CONNECT }),
  def('cgroup/connect6', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_INET6_CONNECT }),
  def('cgroup/connect_unix', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_UNIX_CONNECT }),
  def('cgroup/sendmsg4', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_UDP4_SENDMSG }),
  def('cgroup/sendmsg6', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_UDP6_SENDMSG }),
  def('cgroup/sendmsg_unix', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_UNIX_SENDMSG }),
  def('cgroup/recvmsg4', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_UDP4_RECVMSG }),
  def('cgroup/recvmsg6', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_UDP6_RECVMSG }),
  def('cgroup/recvmsg_unix', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_UNIX_RECVMSG }),
  def('cgroup/getpeername4', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_INET4_GETPEERNAME }),
  def('cgroup/getpeername6', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_INET6_GETPEERNAME }),
  def('cgroup/getpeername_unix', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_UNIX_GETPEERNAME }),
  def('cgroup/getsockname4', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_INET4_GETSOCKNAME }),
  def('cgroup/getsockname6', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_INET6_GETSOCKNAME }),
  def('cgroup/getsockname_unix', 'exact', P.CGROUP_SOCK_ADDR, { expectedAttachType: A.CGROUP_UNIX_GETSOCKNAME }),
  def('cgroup/sysctl', 'exact', P.CGROUP_SYSCTL, { expectedAttachType: A.CGROUP_SYSCTL }),
  def('cgroup/getsockopt', 'exact', P.CGROUP_SOCKOPT, { expectedAttachType: A.CGROUP_GETSOCKOPT }),
  def('cgroup/setsockopt', 'exact', P.CGROUP_SOCKOPT, { expectedAttachType: A.CGROUP_SETSOCKOPT }),
  def('cgroup/dev', 'exact', P.CGROUP_DEVICE, { expectedAttachType: A.CGROUP_DEVICE }),
  def('struct_ops', 'target', P.STRUCT_OPS, { targetKind: 'struct-ops' }),
  def('struct_ops.s', 'target', P.STRUCT_OPS, { targetKind: 'struct-ops', sleepable: true }),
  def('sk_lookup', 'exact', P.SK_LOOKUP, { expectedAttachType: A.SK_LOOKUP }),
  def('netfilter', 'exact', P.NETFILTER, { expectedAttachType: A.NETFILTER }),
];

/**
 * Prefixes of section names from before libbpf 1.0's strict matching
 * (iproute2, samples/bpf, bcc-era objects): `socket1`, `xdp_prog`,
 * `classifier_ingress`, `cgroup_skb`... Longest first.
 */
export const LEGACY_PREFIXES: readonly { prefix: string; programType: ProgramType; expectedAttachType?: AttachType }[] = [
  { prefix: 'cgroup_skb', programType: P.CGROUP_SKB },
  { prefix: 'cgroup/skb', programType: P.CGROUP_SKB },
  { prefix: 'cgroup/sock', programType: P.CGROUP_SOCK, expectedAttachType: A.CGROUP_INET_SOCK_CREATE },
  { prefix: 'cgroup/dev', programType: P.CGROUP_DEVICE, expectedAttachType: A.CGROUP_DEVICE },
  { prefix: 'classifier', programType: P.SCHED_CLS },
  { prefix: 'action', programType: P.SCHED_ACT },
  { prefix: 'socket', programType: P.SOCKET_FILTER },
  { prefix: 'sockops', programType: P.SOCK_OPS, expectedAttachType: A.CGROUP_SOCK_OPS },
  { prefix: 'sk_skb', programType: P.SK_SKB },
  { prefix: 'sk_msg', programType: P.SK_MSG, expectedAttachType: A.SK_MSG_VERDICT },
  { prefix: 'perf_event', programType: P.PERF_EVENT },
  { prefix: 'xdp', programType: P.XDP, expectedAttachType: A.XDP },
  { prefix: 'lwt_in', programType: P.LWT_IN },
  { prefix: 'lwt_out', programType: P.LWT_OUT },
  { prefix: 'lwt_xmit', programType: P.LWT_XMIT },
  { prefix: 'flow_dissector', programType: P.FLOW_DISSECTOR, expectedAttachType: A.FLOW_DISSECTOR },
];

export interface SectionInfo {
  programType: ProgramType;
  expectedAttachType?: AttachType;
  attachTo?: string;
  sleepable: boolean;
  /** BPF_PROG_LOAD prog_flags implied by the section, besides BPF_F_SLEEPABLE (see `sleepable`). */
  programFlags: number;
  /** The table entry that matched; undefined for a legacy prefix match. */
  def?: SectionDef;
}

/** BPF_F_XDP_HAS_FRAGS (include/uapi/linux/bpf.h). */
export const BPF_F_XDP_HAS_FRAGS = 1 << 5;

/** Program type and attach details for a section name, or undefined when nothing matches. */
export function classifySection(name: string): SectionInfo | undefined {
  // libbpf's SEC("?...") only turns autoload off; the rest of the name says what the program is.
  if (name.startsWith('?')) return classifySection(name.slice(1));
  for (const d of SECTION_DEFS) {
    let attachTo: string | undefined;
    if (d.match === 'exact') {
      if (name !== d.prefix) continue;
    } else if (name === d.prefix) {
      if (d.match === 'required') continue;
    } else if (name.startsWith(`${d.prefix}/`)) {
      attachTo = name.slice(d.prefix.length + 1);
    } else {
      continue;
    }
    const info: SectionInfo = {
      programType: d.programType,
      sleepable: d.sleepable ?? false,
      programFlags: d.xdpFrags ? BPF_F_XDP_HAS_FRAGS : 0,
      def: d,
    };
    if (d.expectedAttachType !== undefined) info.expectedAttachType = d.expectedAttachType;
    if (attachTo !== undefined && attachTo !== '') info.attachTo = attachTo;
    return info;
  }
  // kprobe/ and friends without a libbpf-strict shape are covered above; the
  // rest of the old names only ever selected a program type.
  for (const legacy of LEGACY_PREFIXES) {
    if (!name.startsWith(legacy.prefix)) continue;
    const info: SectionInfo = { programType: legacy.programType, sleepable: false, programFlags: 0 };
    if (legacy.expectedAttachType !== undefined) info.expectedAttachType = legacy.expectedAttachType;
    return info;
  }
  return undefined;
}
