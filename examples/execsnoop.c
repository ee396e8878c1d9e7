// execsnoop: one ring buffer record per execve() (pid, parent's pid, comm,
// file name), optionally only for the children of one process
// (target_ppid, set from user space before loading).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

/* syscalls/sys_enter_execve as tracefs' format describes it. */
struct sys_enter_execve {
	__u64 common;
	int syscall_nr;
	int pad;
	const char *filename;
	const char *const *argv;
	const char *const *envp;
};

/* The fields used, relocated against the running kernel's BTF (CO-RE). */
struct task_struct {
	struct task_struct *real_parent;
	int tgid;
} __attribute__((preserve_access_index));

struct event {
	__u32 pid;
	__u32 ppid;
	char comm[16];
	char filename[64];
};

/* Ring buffers carry no value type: this puts struct event into the BTF for `tsbpf gen types`. */
const struct event *unused_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

const volatile __u32 target_ppid = 0;

SEC("tracepoint/syscalls/sys_enter_execve")
int handle_exec(struct sys_enter_execve *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	struct event *e;

	if (target_ppid && ppid != target_ppid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = ppid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), ctx->filename);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
