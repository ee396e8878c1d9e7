// execsnoop: one record per execve() with its full argument list, the
// parent, the uid and the result. The arguments are read from the new
// image's stack when the exec succeeds (sched_process_exec: the kernel has
// just written them there, so they are all present), and from the caller's
// argv at entry otherwise (which can miss pages not yet faulted in, such as
// a forked child's string constants).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

#define ARG_SIZE 128
#define MAX_ARGS 60
#define ARGS_BYTES (ARG_SIZE * MAX_ARGS)
/* args_count when the arguments came whole from the new image: user space splits them. */
#define MAX_ARGS_UNCOUNTED 0xffffffff

const volatile __u32 max_args = 20;
const volatile bool filter_cgroup = false;
const volatile __u32 target_uid = 0xffffffff;

struct exec_event {
	__u64 ts_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s32 ret;
	__u32 args_count;
	__u32 args_size;
	/* Set when argv had more than max_args arguments. */
	__u32 truncated;
	char comm[TASK_COMM_LEN];
	char args[ARGS_BYTES];
};
const struct exec_event *unused_exec_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct exec_event);
} pending SEC(".maps");

/* Zeroed scratch space: the event is too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Records dropped because the ring buffer was full (user space reads and reports it). */
__u64 lost_events = 0;

SEC("tracepoint/syscalls/sys_enter_execve")
int enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 zero = 0, i;
	struct task_struct *task;
	struct exec_event *e;
	const char **argv = (const char **)ctx->args[1];
	const char *arg;
	long len;

	if (filter_cgroup && !bpf_current_task_under_cgroup(&cgroup, 0))
		return 0;
	if (target_uid != 0xffffffff && (__u32)bpf_get_current_uid_gid() != target_uid)
		return 0;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = 0;
	e->args_count = 0;
	e->args_size = 0;
	e->truncated = 0;
	for (i = 0; i < MAX_ARGS && i < max_args; i++) {
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		if (e->args_size > ARGS_BYTES - ARG_SIZE)
			break;
		len = bpf_probe_read_user_str(&e->args[e->args_size], ARG_SIZE, arg);
		if (len <= 0)
			break;
		e->args_size += len;
		e->args_count++;
	}
	if (i == max_args || i == MAX_ARGS) {
		if (!bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) && arg)
			e->truncated = 1;
	}
	bpf_map_update_elem(&pending, &tgid, e, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct exec_event *e = bpf_map_lookup_elem(&pending, &tgid);
	struct mm_struct *mm;
	unsigned long start, end, size;

	if (!e)
		return 0;
	mm = BPF_CORE_READ(p, mm);
	start = BPF_CORE_READ(mm, arg_start);
	end = BPF_CORE_READ(mm, arg_end);
	if (end <= start)
		return 0;
	size = end - start;
	e->truncated = size > ARGS_BYTES;
	if (size > ARGS_BYTES)
		size = ARGS_BYTES;
	if (bpf_probe_read_user(e->args, size, (void *)start))
		return 0;
	e->args_size = size;
	/* Counted in user space, up to max_args. */
	e->args_count = MAX_ARGS_UNCOUNTED;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct exec_event *e = bpf_map_lookup_elem(&pending, &tgid);
	__u32 size;

	if (!e)
		return 0;
	e->ret = (__s32)ctx->ret;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	size = offsetof(struct exec_event, args) + e->args_size;
	if (size <= sizeof(*e) && bpf_ringbuf_output(&events, e, size, 0))
		__sync_fetch_and_add(&lost_events, 1);
	bpf_map_delete_elem(&pending, &tgid);
	return 0;
}
