// perfmon: per-process CPU time, time blocked off-CPU and run-queue
// latency, from the scheduler's switch and wakeup tracepoints.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;

/* Where a thread is now: running since, blocked since, or runnable since. */
struct thread_state {
	__u64 oncpu_since;
	__u64 blocked_since;
	__u64 runnable_since;
};

struct process_stats {
	__u64 oncpu_ns;
	__u64 offcpu_ns;
	__u64 runq_ns;
	__u64 runq_max_ns;
	__u64 runq_count;
	__u64 switches;
	char comm[TASK_COMM_LEN];
};
const struct process_stats *unused_process_stats __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct thread_state);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct process_stats);
} processes SEC(".maps");

static __always_inline struct thread_state *thread_of(__u32 tid)
{
	struct thread_state *t = bpf_map_lookup_elem(&threads, &tid), fresh = {};

	if (t)
		return t;
	bpf_map_update_elem(&threads, &tid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&threads, &tid);
}

static __always_inline struct process_stats *process_of(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct process_stats *s = bpf_map_lookup_elem(&processes, &tgid), fresh = {};

	if (s)
		return s;
	/* The thread group leader's name is the process's name. */
	BPF_CORE_READ_STR_INTO(&fresh.comm, task, group_leader, comm);
	bpf_map_update_elem(&processes, &tgid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&processes, &tgid);
}

static __always_inline bool wanted(struct task_struct *task)
{
	if (!BPF_CORE_READ(task, pid))
		return false;
	return !target_tgid || BPF_CORE_READ(task, tgid) == target_tgid;
}

static __always_inline int woken(struct task_struct *p)
{
	struct thread_state *t;
	struct process_stats *s;
	__u64 now;

	if (!wanted(p))
		return 0;
	t = thread_of(BPF_CORE_READ(p, pid));
	s = process_of(p);
	if (!t || !s)
		return 0;
	now = bpf_ktime_get_ns();
	if (t->blocked_since) {
		__sync_fetch_and_add(&s->offcpu_ns, now - t->blocked_since);
		t->blocked_since = 0;
	}
	t->runnable_since = now;
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	return woken(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *p)
{
	return woken(p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns(), waited;
	struct thread_state *t;
	struct process_stats *s;

	if (wanted(prev)) {
		t = thread_of(BPF_CORE_READ(prev, pid));
		s = process_of(prev);
		if (t && s) {
			if (t->oncpu_since)
				__sync_fetch_and_add(&s->oncpu_ns, now - t->oncpu_since);
			__sync_fetch_and_add(&s->switches, 1);
			t->oncpu_since = 0;
			if (task_state(prev) == TASK_RUNNING)
				t->runnable_since = now;
			else
				t->blocked_since = now;
		}
	}
	if (wanted(next)) {
		t = thread_of(BPF_CORE_READ(next, pid));
		s = process_of(next);
		if (t && s) {
			if (t->runnable_since) {
				waited = now - t->runnable_since;
				__sync_fetch_and_add(&s->runq_ns, waited);
				__sync_fetch_and_add(&s->runq_count, 1);
				if (waited > s->runq_max_ns)
					s->runq_max_ns = waited;
				t->runnable_since = 0;
			}
			t->oncpu_since = now;
		}
	}
	return 0;
}

/* Exited threads leave the table, so that it holds only live ones. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);

	bpf_map_delete_elem(&threads, &tid);
	return 0;
}
