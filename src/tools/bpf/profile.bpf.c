// profile: timed samples of on-CPU stacks (user and kernel), counted per
// (process, thread, stacks).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.h"
#include "stacks.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
const volatile __u32 target_tid = 0;
const volatile bool user_stacks_only = false;
const volatile bool kernel_stacks_only = false;
const volatile bool include_idle = false;

struct sample_key {
	__u32 pid;
	__u32 tgid;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	char comm[TASK_COMM_LEN];
};
const struct sample_key *unused_sample_key __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct sample_key);
	__type(value, __u64);
} counts SEC(".maps");

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), one = 1, *count;
	__u32 tgid = id >> 32, pid = (__u32)id;
	struct sample_key key = {};

	if (!include_idle && pid == 0)
		return 0;
	if (target_tgid && tgid != target_tgid)
		return 0;
	if (target_tid && pid != target_tid)
		return 0;
	key.pid = pid;
	key.tgid = tgid;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.user_stack_id = kernel_stacks_only ? -1 : bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	key.kernel_stack_id = user_stacks_only ? -1 : bpf_get_stackid(ctx, &stacks, 0);
	count = bpf_map_lookup_elem(&counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 0;
}
