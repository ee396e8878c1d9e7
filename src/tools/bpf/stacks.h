/* The stack-trace map of the tools that count stacks (profile, offcputime):
 * bpf_get_stackid() stores each distinct stack once and returns its id, which
 * the tools' keys carry; src/tools/stacks.ts reads it back. */
#ifndef TSBPF_TOOLS_STACKS_H
#define TSBPF_TOOLS_STACKS_H

#define MAX_STACK_DEPTH 127

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 16384);
} stacks SEC(".maps");

#endif
