// biolatency: block I/O latency (issue, or insert with -Q, to completion)
// counted in log2 slots, per disk when asked.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

const volatile bool include_queued = false;
const volatile bool per_disk = false;
const volatile bool in_msecs = false;
const volatile __u32 target_dev = 0;

struct hist_key {
	__u32 dev;
	__u32 slot;
};
const struct hist_key *unused_hist_key __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct request *);
	__type(value, __u64);
} started SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hist_key);
	__type(value, __u64);
} hist SEC(".maps");

/* MAJOR << 20 | MINOR, the kernel's dev_t. */
static __always_inline __u32 request_dev(struct request *rq)
{
	struct gendisk *disk = BPF_CORE_READ(rq, q, disk);

	if (!disk)
		return 0;
	return (BPF_CORE_READ(disk, major) << 20) | BPF_CORE_READ(disk, first_minor);
}

static __always_inline int start(struct request *rq, bool issued)
{
	__u64 now;

	if (target_dev && request_dev(rq) != target_dev)
		return 0;
	/* With -Q the insert time stands; requests that skip the queue start at issue. */
	if (issued && include_queued && bpf_map_lookup_elem(&started, &rq))
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&started, &rq, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(on_insert, struct request *rq)
{
	if (!include_queued)
		return 0;
	return start(rq, false);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(on_issue, struct request *rq)
{
	return start(rq, true);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(on_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	__u64 *begin = bpf_map_lookup_elem(&started, &rq);
	struct hist_key key = {};
	__u64 delta, one = 1, *count;

	if (!begin)
		return 0;
	delta = (bpf_ktime_get_ns() - *begin) / 1000;
	if (in_msecs)
		delta /= 1000;
	key.slot = log2_slot(delta);
	if (per_disk)
		key.dev = request_dev(rq);
	count = bpf_map_lookup_elem(&hist, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&hist, &key, &one, BPF_NOEXIST);
	bpf_map_delete_elem(&started, &rq);
	return 0;
}
