// offcputime: time threads spend blocked, summed per (process, thread,
// user stack, kernel stack) at the moment they left the CPU.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "common.h"
#include "stacks.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
const volatile __u32 target_tid = 0;
const volatile bool user_threads_only = false;
const volatile bool kernel_threads_only = false;
const volatile __u64 min_block_us = 1;
const volatile __u64 max_block_us = -1ULL;
/* -1: any state; otherwise only tasks leaving the CPU in this state. */
const volatile long state_filter = -1;

struct offcpu_key {
	__u32 pid;
	__u32 tgid;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	char comm[TASK_COMM_LEN];
};
const struct offcpu_key *unused_offcpu_key __attribute__((unused));

struct departure {
	__u64 ts_ns;
	struct offcpu_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct departure);
} departed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct offcpu_key);
	__type(value, __u64);
} offcpu_us SEC(".maps");

static __always_inline bool wanted(struct task_struct *t)
{
	__u32 tgid = BPF_CORE_READ(t, tgid), pid = BPF_CORE_READ(t, pid);
	bool kthread = BPF_CORE_READ(t, flags) & PF_KTHREAD;

	if (!pid)
		return false;
	if (target_tgid && tgid != target_tgid)
		return false;
	if (target_tid && pid != target_tid)
		return false;
	if (user_threads_only && kthread)
		return false;
	if (kernel_threads_only && !kthread)
		return false;
	if (state_filter != -1 && task_state(t) != state_filter)
		return false;
	return true;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct departure *d, fresh = {};
	__u64 now = bpf_ktime_get_ns(), delta, *total;
	__u32 pid;

	if (wanted(prev)) {
		pid = BPF_CORE_READ(prev, pid);
		fresh.ts_ns = now;
		fresh.key.pid = pid;
		fresh.key.tgid = BPF_CORE_READ(prev, tgid);
		fresh.key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		fresh.key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
		BPF_CORE_READ_STR_INTO(&fresh.key.comm, prev, comm);
		bpf_map_update_elem(&departed, &pid, &fresh, BPF_ANY);
	}
	pid = BPF_CORE_READ(next, pid);
	d = bpf_map_lookup_elem(&departed, &pid);
	if (!d)
		return 0;
	delta = (now - d->ts_ns) / 1000;
	if (delta >= min_block_us && delta <= max_block_us) {
		total = bpf_map_lookup_elem(&offcpu_us, &d->key);
		if (total)
			__sync_fetch_and_add(total, delta);
		else
			bpf_map_update_elem(&offcpu_us, &d->key, &delta, BPF_NOEXIST);
	}
	bpf_map_delete_elem(&departed, &pid);
	return 0;
}
