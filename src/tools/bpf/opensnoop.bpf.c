// opensnoop: one ring buffer record per open()/openat()/openat2() that
// returns, with the caller, the flags, the result and the path.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

#define NAME_MAX_LEN 256

const volatile __u32 target_tgid = 0;
const volatile __u32 target_tid = 0;
const volatile __u32 target_uid = 0xffffffff;
const volatile bool failed_only = false;

struct open_args {
	const char *path;
	__s32 flags;
	__u32 mode;
};

struct open_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 ret;
	__s32 flags;
	__u32 mode;
	char comm[TASK_COMM_LEN];
	char path[NAME_MAX_LEN];
};
const struct open_event *unused_open_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct open_args);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Records dropped because the ring buffer was full (user space reads and reports it). */
__u64 lost_events = 0;

static __always_inline int remember(const char *path, __s32 flags, __u32 mode)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct open_args args = { .path = path, .flags = flags, .mode = mode };

	if (target_tgid && tgid != target_tgid)
		return 0;
	if (target_tid && tid != target_tid)
		return 0;
	if (target_uid != 0xffffffff && (__u32)bpf_get_current_uid_gid() != target_uid)
		return 0;
	bpf_map_update_elem(&pending, &tid, &args, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return remember((const char *)ctx->args[0], (__s32)ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return remember((const char *)ctx->args[1], (__s32)ctx->args[2], (__u32)ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return remember((const char *)ctx->args[1], (__s32)how.flags, (__u32)how.mode);
}

static __always_inline int report(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct open_args *args = bpf_map_lookup_elem(&pending, &tid);
	struct open_event *e;

	if (!args)
		return 0;
	if (failed_only && ret >= 0)
		goto done;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		goto done;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = tid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = (__s32)ret;
	e->flags = args->flags;
	e->mode = args->mode;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->path, sizeof(e->path), args->path);
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return report(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return report(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return report(ctx->ret);
}
