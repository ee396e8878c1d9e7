// tcplife: one record per TCP session when it closes: the owning process
// (seen when it connected or closed), addresses, ports, bytes each way and
// the session's lifespan, all from sock:inet_sock_set_state.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define IPPROTO_TCP 6
#define MAX_PORTS 16

const volatile __u32 target_tgid = 0;
const volatile __u16 family_only = 0;
const volatile __u32 local_port_count = 0;
const volatile __u16 local_ports[MAX_PORTS] = {};
const volatile __u32 remote_port_count = 0;
const volatile __u16 remote_ports[MAX_PORTS] = {};

struct owner {
	__u32 pid;
	char comm[TASK_COMM_LEN];
};

struct life_event {
	__u64 ts_ns;
	__u64 span_ns;
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u32 pid;
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[TASK_COMM_LEN];
};
const struct life_event *unused_life_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, const void *);
	__type(value, __u64);
} birth SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, const void *);
	__type(value, struct owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Records dropped because the ring buffer was full (user space reads and reports it). */
__u64 lost_events = 0;

static __always_inline bool port_in(__u16 port, const volatile __u16 *list, __u32 count)
{
	__u32 i;

	if (count == 0)
		return true;
	for (i = 0; i < MAX_PORTS && i < count; i++)
		if (list[i] == port)
			return true;
	return false;
}

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const void *sk = ctx->skaddr;
	__u64 now = bpf_ktime_get_ns(), *born;
	struct owner *who, me = {};
	struct life_event *e;
	struct tcp_sock *tp;
	__u32 tgid;
	/* Each field read once: CO-RE offsets reused from a register would make a modified ctx pointer. */
	int newstate = ctx->newstate;
	__u16 family = ctx->family, sport = ctx->sport, dport = ctx->dport;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (family_only && family != family_only)
		return 0;
	if (!port_in(sport, local_ports, local_port_count) || !port_in(dport, remote_ports, remote_port_count))
		return 0;
	if (newstate < TCP_FIN_WAIT1) {
		/* Connection starts (or becomes established): its lifespan runs from the first of these. */
		if (!bpf_map_lookup_elem(&birth, &sk))
			bpf_map_update_elem(&birth, &sk, &now, BPF_ANY);
	}
	if (newstate == TCP_SYN_SENT || newstate == TCP_LAST_ACK) {
		/* Here the owner is the current task (connect or close); elsewhere it may be softirq context. */
		me.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(me.comm, sizeof(me.comm));
		bpf_map_update_elem(&owners, &sk, &me, BPF_ANY);
	}
	if (newstate != TCP_CLOSE)
		return 0;
	born = bpf_map_lookup_elem(&birth, &sk);
	if (!born) {
		bpf_map_delete_elem(&owners, &sk);
		return 0;
	}
	who = bpf_map_lookup_elem(&owners, &sk);
	tgid = who ? who->pid : bpf_get_current_pid_tgid() >> 32;
	if (target_tgid && tgid != target_tgid)
		goto done;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		goto done;
	}
	tp = (struct tcp_sock *)sk;
	e->ts_ns = now;
	e->span_ns = now - *born;
	e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
	e->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
	e->pid = tgid;
	e->family = family;
	e->lport = sport;
	e->rport = dport;
	e->pad = 0;
	__builtin_memset(e->laddr, 0, sizeof(e->laddr));
	__builtin_memset(e->raddr, 0, sizeof(e->raddr));
	if (family == AF_INET) {
		bpf_probe_read_kernel(e->laddr, 4, ctx->saddr);
		bpf_probe_read_kernel(e->raddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e->laddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->raddr, 16, ctx->daddr_v6);
	}
	if (who)
		__builtin_memcpy(e->comm, who->comm, sizeof(e->comm));
	else
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&birth, &sk);
	bpf_map_delete_elem(&owners, &sk);
	return 0;
}
