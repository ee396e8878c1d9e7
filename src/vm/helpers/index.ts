/**
 * The VM's helper implementations for user space. Importing this module
 * registers them in `standardHelpers` once; `registerRuntimeHelpers` adds
 * them to another registry. `unavailableReason` explains, for a helper the
 * VM does not implement, why it cannot exist in user space; the runtime
 * uses it to refuse such programs at load time.
 */
import { TsbpfError } from '../../errors.ts';
import { helperById } from '../../uapi/helpers.ts';
import { type HelperRegistry, standardHelpers } from '../helper-registry.ts';
import { registerCoreHelpers } from './core.ts';
import { registerNetHelpers } from './net.ts';
import { registerRuntimeMapHelpers } from './maps.ts';

export { RunEnvironment, HelperEnvironmentError, type EnvironmentOptions, type EventInput, type ProcessIdentity, type MemoryRange, type Route, type RedirectDecision } from './environment.ts';
export { PacketBuffer, XDP_HEADROOM, XDP_FRAME_BYTES, XDP_TAILROOM, SKB_HEADROOM, ETH_HLEN } from './packet.ts';
export { formatBpf } from './format.ts';
export { FibResult, lookupRoute } from './net.ts';
export { runCpu } from './maps.ts';
export { RedirectMap, REDIRECT_MAP_TYPES } from './redirect-map.ts';
export { resolveFunctionPointers, callFunctionPointer, FunctionPointerError, FUNCTION_POINTER_BASE, type ResolvedFunctionPointers } from './callbacks.ts';

export function registerRuntimeHelpers(registry: HelperRegistry): void {
  registerCoreHelpers(registry);
  registerNetHelpers(registry);
  registerRuntimeMapHelpers(registry);
}

let registered = false;
/** Registers the runtime helpers in `standardHelpers` (idempotent). */
export function installRuntimeHelpers(): void {
  if (registered) return;
  registered = true;
  registerRuntimeHelpers(standardHelpers);
}
installRuntimeHelpers();

/** Why helpers of a family have no user-space meaning, by name pattern; first match wins. */
const UNAVAILABLE: readonly [RegExp, string][] = [
  [/^override_return$/, 'it changes the return value of a probed kernel function, and the VM runs no kernel functions'],
  [/^(send_signal|send_signal_thread)$/, 'it signals the current task, and a VM run has no task to signal'],
  [/^probe_write_user$/, "it writes into the current process's memory, which the VM does not have"],
  [/^(get_current_task|get_current_task_btf|task_pt_regs|get_task_stack|get_current_ancestor_cgroup_id|current_task_under_cgroup|skb_under_cgroup|get_ns_current_pid_tgid|task_storage_get|task_storage_delete|inode_storage_get|inode_storage_delete|d_path|ima_.*|bprm_opts_set|get_func_ip|get_attach_cookie|get_func_arg.*|get_func_ret|get_branch_snapshot|copy_from_user.*|find_vma|get_cgroup_classid|get_route_realm|get_socket_.*|get_netns_cookie|get_listener_sock|sk_.*|tcp_.*|skc_to_.*|sock_.*|bind|setsockopt|getsockopt|msg_.*|sk_storage_.*|sysctl_.*|seq_.*|sys_.*|btf_find_by_name_kind|kallsyms_lookup_name|timer_.*|kptr_xchg|per_cpu_ptr|this_cpu_ptr|dynptr_.*|user_ringbuf_drain|cgrp_storage_.*|load_hdr_opt|store_hdr_opt|reserve_hdr_opt|rc_.*|lwt_.*|xdp_get_buff_len|xdp_load_bytes|xdp_store_bytes|check_mtu|redirect_neigh|redirect_peer|clone_redirect|skb_(vlan_push|vlan_pop|get_tunnel_key|set_tunnel_key|get_tunnel_opt|set_tunnel_opt|change_proto|change_type|change_tail|change_head|pull_data|adjust_room|get_xfrm_state|cgroup_id|ancestor_cgroup_id|cgroup_classid|ecn_set_ce|set_tstamp|output|set_tunnel_.*)|perf_event_read.*|perf_prog_read_value|read_branch_records|get_hash_recalc|set_hash|set_hash_invalid|csum_update|csum_level|fib_lookup_.*|ktime_get_tai_ns_.*|snprintf_btf|trace_vprintk_btf|ringbuf_.*_dynptr)$/,
    'it needs kernel objects (tasks, sockets, sk_buff internals, devices, BTF-typed kernel pointers) that do not exist in user space'],
];

/** Why the helper named `name` (without `bpf_`) cannot run in the VM. */
export function unavailableReason(name: string): string {
  for (const [pattern, reason] of UNAVAILABLE) if (pattern.test(name)) return reason;
  return 'the VM does not implement it';
}

/** A program calls helpers that cannot run in user space. */
export class UnsupportedHelperError extends TsbpfError {
  override name = 'UnsupportedHelperError';
  constructor(
    readonly program: string,
    readonly helpers: readonly { id: number; name: string; index: number; reason: string }[],
  ) {
    super(
      `program '${program}' cannot run in the VM: ` +
        helpers.map((h) => `bpf_${h.name} (helper ${h.id}, called at instruction ${h.index}): ${h.reason}`).join('; '),
    );
  }
}

/** The name of helper `id` for messages. */
export function helperName(id: number): string {
  return helperById(id)?.name ?? `unknown_helper_${id}`;
}
