// Helpers shared by the exporter's BPF programs.
#pragma once
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* Adds to the u64 at map[key], creating the slot on first use. */
static __always_inline void add(void *map, void *key, __u64 amount) {
  __u64 *value = bpf_map_lookup_elem(map, key);
  if (value)
    __sync_fetch_and_add(value, amount);
  else
    bpf_map_update_elem(map, key, &amount, BPF_NOEXIST);
}
