// SPDX-License-Identifier: GPL-2.0
// xdp-guard: XDP DDoS mitigation in the style of Cloudflare's L4 drop
// programs. Per packet, in order:
//   1. malformed IPv4/IPv6/TCP headers are dropped (behind up to two VLAN
//      tags; a third tag is malformed too);
//   2. a source in the allow LPM trie passes (allow beats deny);
//   3. a source in the deny LPM trie is dropped;
//   4. every source has a token bucket (LRU hash, refilled from
//      bpf_ktime_get_ns): over its rate, it is dropped;
//   5. TCP SYNs (connection attempts) have a per-source bucket of their own,
//      and while the global SYN budget is exhausted (a SYN flood, usually
//      from spoofed sources) only sources that already completed a
//      handshake (sent an ACK) may open connections.
// Drop counters per reason are per-CPU. User space writes `config` and the
// tries at run time: reloading a configuration never detaches the program.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define NS_PER_TOKEN 1000000000ULL

enum counter {
	COUNTER_PASSED,
	COUNTER_ALLOWLISTED,
	COUNTER_DENYLISTED,
	COUNTER_RATE_LIMITED,
	COUNTER_SYN_FLOOD,
	COUNTER_MALFORMED,
	COUNTER_MAX,
};

/* A token bucket in units of 1e-9 token: `tokens` gains `rate` per ns
 * elapsed, up to `capacity` (burst * 1e9); a packet costs NS_PER_TOKEN.
 * `fill_ns` (capacity / rate, computed by user space) is the time after
 * which the bucket is full whatever it held, so the product below never
 * overflows. rate 0 disables the limit. */
struct bucket_config {
	__u64 rate;
	__u64 capacity;
	__u64 fill_ns;
};

struct guard_config {
	struct bucket_config source;
	struct bucket_config source_syn;
	struct bucket_config global_syn;
};

struct bucket {
	__u64 tokens;
	__u64 last_ns;
};

#define SOURCE_VERIFIED 1

struct source_key {
	__u32 family;
	__u8 addr[16];
};

struct source_state {
	struct bucket packets;
	struct bucket syns;
	__u64 flags;
};

/* An 802.1Q or 802.1ad tag, after the MAC addresses. */
struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

static __always_inline int is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct source_key);
	__type(value, struct source_state);
} sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bucket);
} global_syn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u8);
} allow_v4 SEC(".maps"), deny_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6_key);
	__type(value, __u8);
} allow_v6 SEC(".maps"), deny_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline int count(__u32 counter, int verdict)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &counter);

	if (value)
		*value += 1;
	return verdict;
}

/* Refills `b` for the time since its last packet and takes one token; 1 if there was one. */
static __always_inline int take_token(struct bucket *b, const struct bucket_config *c, __u64 now)
{
	__u64 elapsed;

	if (c->rate == 0)
		return 1;
	elapsed = now - b->last_ns;
	if (b->last_ns == 0 || now < b->last_ns || elapsed >= c->fill_ns)
		b->tokens = c->capacity;
	else {
		b->tokens += elapsed * c->rate;
		if (b->tokens > c->capacity)
			b->tokens = c->capacity;
	}
	b->last_ns = now;
	if (b->tokens < NS_PER_TOKEN)
		return 0;
	b->tokens -= NS_PER_TOKEN;
	return 1;
}

SEC("xdp")
int xdp_guard(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct source_key key = {};
	struct guard_config *cfg;
	struct source_state *state;
	struct tcphdr *tcp = 0;
	__u32 zero = 0;
	__be16 l3_proto;
	void *l3, *l4;
	__u64 now;
	__u8 protocol;

	if ((void *)(eth + 1) > data_end)
		return count(COUNTER_MALFORMED, XDP_DROP);
	/* Up to two VLAN tags (802.1ad outside 802.1Q): a tag must not be a way around the rules. */
	l3 = eth + 1;
	l3_proto = eth->h_proto;
#pragma unroll
	for (int tags = 0; tags < 2; tags++) {
		struct vlan_tag *tag = l3;

		if (!is_vlan(l3_proto))
			break;
		if ((void *)(tag + 1) > data_end)
			return count(COUNTER_MALFORMED, XDP_DROP);
		l3_proto = tag->proto;
		l3 = tag + 1;
	}
	if (is_vlan(l3_proto))
		return count(COUNTER_MALFORMED, XDP_DROP);
	if (l3_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		struct lpm_v4_key lpm = { .prefixlen = 32 };

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
			return count(COUNTER_MALFORMED, XDP_DROP);
		l4 = (void *)ip + ip->ihl * 4;
		if (l4 > data_end || bpf_ntohs(ip->tot_len) < ip->ihl * 4)
			return count(COUNTER_MALFORMED, XDP_DROP);
		__builtin_memcpy(lpm.addr, &ip->saddr, 4);
		if (bpf_map_lookup_elem(&allow_v4, &lpm))
			return count(COUNTER_ALLOWLISTED, XDP_PASS);
		if (bpf_map_lookup_elem(&deny_v4, &lpm))
			return count(COUNTER_DENYLISTED, XDP_DROP);
		key.family = 4;
		__builtin_memcpy(key.addr, &ip->saddr, 4);
		/* Later fragments carry no TCP header. */
		protocol = (ip->frag_off & bpf_htons(0x1fff)) ? 0 : ip->protocol;
	} else if (l3_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		struct lpm_v6_key lpm = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return count(COUNTER_MALFORMED, XDP_DROP);
		l4 = ip6 + 1;
		__builtin_memcpy(lpm.addr, &ip6->saddr, 16);
		if (bpf_map_lookup_elem(&allow_v6, &lpm))
			return count(COUNTER_ALLOWLISTED, XDP_PASS);
		if (bpf_map_lookup_elem(&deny_v6, &lpm))
			return count(COUNTER_DENYLISTED, XDP_DROP);
		key.family = 6;
		__builtin_memcpy(key.addr, &ip6->saddr, 16);
		/* TCP right after the fixed header; extension headers are not followed. */
		protocol = ip6->nexthdr;
	} else {
		return count(COUNTER_PASSED, XDP_PASS);
	}

	if (protocol == IPPROTO_TCP) {
		tcp = l4;
		if ((void *)(tcp + 1) > data_end || tcp->doff < 5)
			return count(COUNTER_MALFORMED, XDP_DROP);
		/* Combinations no TCP stack sends: scans and flood tools. */
		if (tcp->syn && (tcp->fin || tcp->rst))
			return count(COUNTER_MALFORMED, XDP_DROP);
	}

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return count(COUNTER_PASSED, XDP_PASS);
	now = bpf_ktime_get_ns();
	state = bpf_map_lookup_elem(&sources, &key);
	if (!state) {
		struct source_state fresh = {};

		bpf_map_update_elem(&sources, &key, &fresh, BPF_ANY);
		state = bpf_map_lookup_elem(&sources, &key);
		if (!state)
			return count(COUNTER_PASSED, XDP_PASS);
	}
	if (!take_token(&state->packets, &cfg->source, now))
		return count(COUNTER_RATE_LIMITED, XDP_DROP);

	if (tcp && tcp->syn && !tcp->ack) {
		struct bucket *global;

		if (!take_token(&state->syns, &cfg->source_syn, now))
			return count(COUNTER_SYN_FLOOD, XDP_DROP);
		global = bpf_map_lookup_elem(&global_syn, &zero);
		if (global && !take_token(global, &cfg->global_syn, now) && !(state->flags & SOURCE_VERIFIED))
			return count(COUNTER_SYN_FLOOD, XDP_DROP);
	} else if (tcp && tcp->ack && !tcp->syn) {
		state->flags |= SOURCE_VERIFIED;
	}
	return count(COUNTER_PASSED, XDP_PASS);
}
