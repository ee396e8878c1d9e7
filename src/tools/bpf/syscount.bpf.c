// syscount: system calls counted per syscall number or per process, with
// their total latency when asked (-L).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
const volatile __u32 target_tid = 0;
const volatile bool failures_only = false;
const volatile __s32 target_errno = 0;
const volatile bool by_process = false;
const volatile bool measure_latency = false;

struct syscall_stats {
	__u64 count;
	__u64 total_ns;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} entered SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct syscall_stats);
} stats SEC(".maps");

static __always_inline bool wanted(__u64 id)
{
	if (target_tgid && (id >> 32) != target_tgid)
		return false;
	if (target_tid && (__u32)id != target_tid)
		return false;
	return true;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int on_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), now;
	__u32 tid = (__u32)id;

	if (!measure_latency || !wanted(id))
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&entered, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int on_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), *start = 0, delta = 0;
	__u32 tid = (__u32)id, key;
	struct syscall_stats *s, fresh = {};
	long ret = ctx->ret;

	if (!wanted(id))
		return 0;
	if (measure_latency) {
		start = bpf_map_lookup_elem(&entered, &tid);
		/* Entered before tracing began: no latency to count. */
		if (!start)
			return 0;
		delta = bpf_ktime_get_ns() - *start;
		bpf_map_delete_elem(&entered, &tid);
	}
	if (failures_only && ret >= 0)
		return 0;
	if (target_errno && ret != -target_errno)
		return 0;
	/* The syscall number: -1 for the exit of a restarted call is skipped as BCC does. */
	if (ctx->id < 0)
		return 0;
	key = by_process ? (__u32)(id >> 32) : (__u32)ctx->id;
	s = bpf_map_lookup_elem(&stats, &key);
	if (!s) {
		if (by_process)
			bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		bpf_map_update_elem(&stats, &key, &fresh, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&stats, &key);
		if (!s)
			return 0;
	}
	__sync_fetch_and_add(&s->count, 1);
	if (measure_latency)
		__sync_fetch_and_add(&s->total_ns, delta);
	return 0;
}
