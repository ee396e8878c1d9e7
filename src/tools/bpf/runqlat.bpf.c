// runqlat: time tasks wait on a run queue (wakeup or preemption to running
// again), counted in log2 slots, overall, per process or per thread.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

/* 0: one histogram, 1: per process (-P), 2: per thread (-L). */
const volatile __u32 group_by = 0;
const volatile __u32 target_tgid = 0;
const volatile bool in_msecs = false;

struct hist_key {
	__u32 id;
	__u32 slot;
};
const struct hist_key *unused_hist_key __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} enqueued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct hist_key);
	__type(value, __u64);
} hist SEC(".maps");

/* The name of each process or thread a histogram is kept for. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, char[TASK_COMM_LEN]);
} names SEC(".maps");

static __always_inline int enqueue(struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	__u64 now;

	if (!tid)
		return 0;
	if (target_tgid && BPF_CORE_READ(p, tgid) != target_tgid)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&enqueued, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	return enqueue(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *p)
{
	return enqueue(p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct hist_key key = {};
	__u64 *since, delta, one = 1, *count;
	__u32 tid;

	/* A preempted task stays runnable: it waits from now. */
	if (task_state(prev) == TASK_RUNNING)
		enqueue(prev);
	tid = BPF_CORE_READ(next, pid);
	since = bpf_map_lookup_elem(&enqueued, &tid);
	if (!since)
		return 0;
	delta = (bpf_ktime_get_ns() - *since) / 1000;
	bpf_map_delete_elem(&enqueued, &tid);
	if (in_msecs)
		delta /= 1000;
	key.slot = log2_slot(delta);
	if (group_by == 1)
		key.id = BPF_CORE_READ(next, tgid);
	else if (group_by == 2)
		key.id = tid;
	if (group_by) {
		char comm[TASK_COMM_LEN];
		BPF_CORE_READ_STR_INTO(&comm, next, comm);
		bpf_map_update_elem(&names, &key.id, &comm, BPF_ANY);
	}
	count = bpf_map_lookup_elem(&hist, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&hist, &key, &one, BPF_NOEXIST);
	return 0;
}
