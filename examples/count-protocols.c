// SPDX-License-Identifier: GPL-2.0
// XDP program counting packets per IP protocol (TCP, UDP, ICMP, other) and
// bytes per IPv4 source address. Build:
//   clang-19 -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c examples/count-protocols.c -o count-protocols.o
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} packets_by_protocol SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} bytes_by_source SEC(".maps");

SEC("xdp")
int count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	__u32 protocol = ip->protocol;
	__u64 *packets = bpf_map_lookup_elem(&packets_by_protocol, &protocol);
	if (packets)
		__sync_fetch_and_add(packets, 1);

	__u32 source = ip->saddr;
	__u64 length = data_end - data;
	__u64 *bytes = bpf_map_lookup_elem(&bytes_by_source, &source);
	if (bytes)
		__sync_fetch_and_add(bytes, length);
	else
		bpf_map_update_elem(&bytes_by_source, &source, &length, BPF_NOEXIST);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
