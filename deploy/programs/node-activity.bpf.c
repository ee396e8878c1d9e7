// Node-wide activity for the fleet example: system calls by name, and block
// I/O request sizes per device as a log2 histogram (the slot after the last
// bucket holds the byte total). Compiled by deploy/Dockerfile.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"

#define MAX_BUCKET 27

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 1024);
  __type(key, __u64);
  __type(value, __u64);
} syscalls_total SEC(".maps");

struct io_key {
  __u32 dev;
  __u32 bucket;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64 * (MAX_BUCKET + 2));
  __type(key, struct io_key);
  __type(value, __u64);
} block_io_request_bytes SEC(".maps");

struct raw_sys_enter {
  __u64 common;
  long id;
  unsigned long args[6];
};

struct block_rq_issue {
  __u64 common;
  __u32 dev;
  __u32 pad;
  __u64 sector;
  __u32 nr_sector;
  __u32 bytes;
};


SEC("tracepoint/raw_syscalls/sys_enter")
int count_syscalls(struct raw_sys_enter *ctx) {
  __u64 id = ctx->id;
  __u64 *value = bpf_map_lookup_elem(&syscalls_total, &id);
  if (value) {
    *value += 1; // per-CPU slot: no other CPU writes it
    return 0;
  }
  __u64 one = 1;
  bpf_map_update_elem(&syscalls_total, &id, &one, BPF_NOEXIST);
  return 0;
}

SEC("tracepoint/block/block_rq_issue")
int block_sizes(struct block_rq_issue *ctx) {
  __u32 major = ctx->dev >> 20, minor = ctx->dev & ((1U << 20) - 1);
  // The user-space dev_t encoding (new_encode_dev), which the majorminor decoder reads.
  struct io_key key = {.dev = (major << 8) | (minor & 0xff) | ((minor & ~0xffU) << 12)};
  __u64 size = ctx->bytes;
  while (key.bucket < MAX_BUCKET && (1ULL << key.bucket) < size) key.bucket++;
  add(&block_io_request_bytes, &key, 1);
  key.bucket = MAX_BUCKET + 1;
  add(&block_io_request_bytes, &key, size);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
