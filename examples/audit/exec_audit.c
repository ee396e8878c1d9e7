// SPDX-License-Identifier: GPL-2.0
// exec_audit: one ring-buffer record per successful exec, in the style of
// Falco's execve events: pid, parent pid, uid, cgroup id (cgroup v2, which
// user space maps to a path and a container id), the command name, the
// executed file and the full argument vector as the new program sees it
// (read from its mm's arg_start..arg_end, NUL-separated).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define ARGS_SIZE 4096
#define FILENAME_SIZE 256

/* sched/sched_process_exec as tracefs' format describes it. */
struct sched_process_exec {
	__u64 common;
	__u32 filename_loc; /* __data_loc: offset (low 16 bits) and length */
	int pid;
	int old_pid;
};

/* The fields used, relocated against the running kernel's BTF (CO-RE). */
struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} __attribute__((preserve_access_index));

struct task_struct {
	struct task_struct *real_parent;
	struct mm_struct *mm;
	int tgid;
} __attribute__((preserve_access_index));

#define EVENT_ARGS_TRUNCATED 1

struct exec_event {
	__u64 cgroup_id;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 args_size;
	__u32 flags;
	char comm[16];
	char filename[FILENAME_SIZE];
	char args[ARGS_SIZE];
};

/* Ring buffers carry no value type: this puts struct exec_event into the BTF. */
const struct exec_event *unused_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

/* Records that found the ring buffer full: user space reports them as lost. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int exec_audit(struct sched_process_exec *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	unsigned long start, end, size;
	struct exec_event *e;
	__u64 uid_gid;
	__u32 zero = 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u64 *count = bpf_map_lookup_elem(&lost, &zero);

		if (count)
			__sync_fetch_and_add(count, 1);
		return 0;
	}
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	uid_gid = bpf_get_current_uid_gid();
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->flags = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + (ctx->filename_loc & 0xffff));

	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	size = end > start ? end - start : 0;
	if (size > ARGS_SIZE) {
		size = ARGS_SIZE;
		e->flags |= EVENT_ARGS_TRUNCATED;
	}
	e->args_size = 0;
	/* The mask keeps the verifier's bound; a size of exactly ARGS_SIZE reads ARGS_SIZE - 1 bytes and is marked truncated. */
	if (size >= ARGS_SIZE) {
		size = ARGS_SIZE - 1;
		e->flags |= EVENT_ARGS_TRUNCATED;
	}
	size &= ARGS_SIZE - 1;
	if (size > 0 && bpf_probe_read_user(e->args, size, (void *)start) == 0)
		e->args_size = size;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
