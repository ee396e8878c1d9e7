// tcpconnect: active TCP connections, seen as the CLOSE -> SYN_SENT state
// change of sock:inet_sock_set_state (in the connecting task's context).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MAX_PORTS 16

const volatile __u32 target_tgid = 0;
const volatile __u32 target_uid = 0xffffffff;
const volatile __u16 family_only = 0;
const volatile __u32 port_count = 0;
const volatile __u16 ports[MAX_PORTS] = {};

struct connect_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 uid;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u16 pad;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[TASK_COMM_LEN];
};
const struct connect_event *unused_connect_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Records dropped because the ring buffer was full (user space reads and reports it). */
__u64 lost_events = 0;

static __always_inline bool port_wanted(__u16 port)
{
	__u32 i;

	if (port_count == 0)
		return true;
	for (i = 0; i < MAX_PORTS && i < port_count; i++)
		if (ports[i] == port)
			return true;
	return false;
}

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct connect_event *e;
	__u16 family;

	if (ctx->protocol != IPPROTO_TCP || ctx->oldstate != TCP_CLOSE || ctx->newstate != TCP_SYN_SENT)
		return 0;
	family = ctx->family;
	if (family_only && family != family_only)
		return 0;
	if (target_tgid && tgid != target_tgid)
		return 0;
	if (target_uid != 0xffffffff && (__u32)bpf_get_current_uid_gid() != target_uid)
		return 0;
	if (!port_wanted(ctx->dport))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->family = family;
	e->sport = ctx->sport;
	e->dport = ctx->dport;
	e->pad = 0;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	if (family == AF_INET) {
		bpf_probe_read_kernel(e->saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(e->daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->daddr, 16, ctx->daddr_v6);
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
