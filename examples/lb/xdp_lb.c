// SPDX-License-Identifier: GPL-2.0
// xdp_lb: an L4 load balancer in the style of Katran. Packets to a virtual
// IP (VIP:port/protocol in `vips`) are sent to a backend chosen by Maglev
// consistent hashing of the 5-tuple (`maglev`, filled by user space), and
// remembered per flow in an LRU table so that a flow stays on its backend
// when backends are added or removed (unless its own backend goes). The
// packet is encapsulated in IP-in-IP (outer source: the LB's address on
// the way to the backend) and redirected to the backend's interface; the
// backend decapsulates (xdp_decap below, or an ipip device) and answers the
// client directly.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define BACKEND_ACTIVE 1
#define MAX_BACKENDS 256

enum counter {
	COUNTER_FORWARDED,
	COUNTER_NOT_VIP,
	COUNTER_NO_BACKEND,
	COUNTER_MALFORMED,
	COUNTER_NEW_FLOWS,
	COUNTER_MAX,
};

struct vip_key {
	__u32 addr;
	__u16 port;
	__u8 protocol;
	__u8 pad;
};

struct flow_key {
	__u32 src;
	__u32 dst;
	__u16 sport;
	__u16 dport;
	__u8 protocol;
	__u8 pad[3];
};

struct backend {
	__u32 addr;       /* outer destination */
	__u32 local_addr; /* outer source: the LB's address towards it */
	__u32 ifindex;    /* where to redirect; 0: XDP_TX */
	__u32 flags;
	__u8 mac[6];       /* next hop */
	__u8 local_mac[6]; /* the egress interface's */
};

/* Slots of the Maglev lookup table; set before loading to the table size (a prime). */
const volatile __u32 table_size = 65537;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct vip_key);
	__type(value, __u32);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65537);
	__type(key, __u32);
	__type(value, __u32);
} maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, __u32);
} flows SEC(".maps");

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

/* The flow hash (murmur3's mixing of the 5-tuple's words); src/tools/lb computes the same. */
static __always_inline __u32 mix(__u32 h, __u32 word)
{
	word *= 0xcc9e2d51;
	word = (word << 15) | (word >> 17);
	word *= 0x1b873593;
	h ^= word;
	h = (h << 13) | (h >> 19);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 flow_hash(const struct flow_key *flow)
{
	__u32 h = 0x4c42; /* seed: "LB" */

	h = mix(h, flow->src);
	h = mix(h, flow->dst);
	h = mix(h, flow->sport | ((__u32)flow->dport << 16));
	h = mix(h, flow->protocol);
	h ^= 16;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u16 ip_checksum(struct iphdr *ip)
{
	__u16 *words = (__u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)sizeof(*ip) / 2; i++)
		sum += words[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct flow_key flow = {};
	struct vip_key vip = {};
	struct backend *backend;
	__u32 *slot, *remembered, id, index;
	__u16 *ports;
	__u16 inner_len;

	if ((void *)(ip + 1) > data_end)
		return count(COUNTER_NOT_VIP, XDP_PASS);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return count(COUNTER_NOT_VIP, XDP_PASS);
	if (ip->version != 4 || ip->ihl < 5)
		return count(COUNTER_MALFORMED, XDP_DROP);
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return count(COUNTER_NOT_VIP, XDP_PASS);
	ports = (void *)ip + ip->ihl * 4;
	if ((void *)(ports + 2) > data_end)
		return count(COUNTER_MALFORMED, XDP_DROP);
	vip.addr = ip->daddr;
	vip.port = ports[1];
	vip.protocol = ip->protocol;
	if (!bpf_map_lookup_elem(&vips, &vip))
		return count(COUNTER_NOT_VIP, XDP_PASS);
	/* Fragments other than the first have no ports: Katran drops them too. */
	if (ip->frag_off & bpf_htons(0x3fff))
		return count(COUNTER_MALFORMED, XDP_DROP);
	inner_len = bpf_ntohs(ip->tot_len);
	if (inner_len < ip->ihl * 4 + 4 || inner_len > 0xffff - sizeof(struct iphdr))
		return count(COUNTER_MALFORMED, XDP_DROP);

	flow.src = ip->saddr;
	flow.dst = ip->daddr;
	flow.sport = ports[0];
	flow.dport = ports[1];
	flow.protocol = ip->protocol;

	backend = 0;
	remembered = bpf_map_lookup_elem(&flows, &flow);
	if (remembered) {
		id = *remembered;
		backend = bpf_map_lookup_elem(&backends, &id);
		if (backend && !(backend->flags & BACKEND_ACTIVE))
			backend = 0;
	}
	if (!backend) {
		index = flow_hash(&flow) % (table_size ? table_size : 1);
		slot = bpf_map_lookup_elem(&maglev, &index);
		if (!slot)
			return count(COUNTER_NO_BACKEND, XDP_DROP);
		id = *slot;
		backend = bpf_map_lookup_elem(&backends, &id);
		if (!backend || !(backend->flags & BACKEND_ACTIVE))
			return count(COUNTER_NO_BACKEND, XDP_DROP);
		bpf_map_update_elem(&flows, &flow, &id, BPF_ANY);
		count(COUNTER_NEW_FLOWS, 0);
	}

	/* Room for the outer IPv4 header in front of the inner one. */
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return count(COUNTER_MALFORMED, XDP_DROP);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	struct ethhdr *new_eth = data;
	struct iphdr *outer = data + sizeof(*new_eth);
	if ((void *)(outer + 1) > data_end)
		return count(COUNTER_MALFORMED, XDP_DROP);
	__builtin_memcpy(new_eth->h_dest, backend->mac, ETH_ALEN);
	__builtin_memcpy(new_eth->h_source, backend->local_mac, ETH_ALEN);
	new_eth->h_proto = bpf_htons(ETH_P_IP);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = 0;
	outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = bpf_htons(0x4000); /* DF */
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = backend->local_addr;
	outer->daddr = backend->addr;
	outer->check = ip_checksum(outer);
	count(COUNTER_FORWARDED, 0);
	if (backend->ifindex == 0)
		return XDP_TX;
	return bpf_redirect(backend->ifindex, 0);
}

/* On a backend: strips the outer header of IP-in-IP packets addressed to it, so the stack sees the client's packet to the VIP. */
SEC("xdp")
int xdp_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = data + sizeof(*eth);
	struct ethhdr saved;

	if ((void *)(outer + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (outer->protocol != IPPROTO_IPIP || outer->ihl != 5)
		return XDP_PASS;
	if ((void *)outer + sizeof(*outer) + sizeof(struct iphdr) > data_end)
		return XDP_DROP;
	__builtin_memcpy(&saved, eth, sizeof(saved));
	if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct iphdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(eth, &saved, sizeof(saved));
	return XDP_PASS;
}
