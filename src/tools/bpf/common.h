/* Shared by the tools' BPF programs: the log2 slot of a histogram value and
 * the task-state constant the scheduler tools compare against. */
#ifndef TSBPF_TOOLS_COMMON_H
#define TSBPF_TOOLS_COMMON_H

#include <bpf/bpf_core_read.h>

#define TASK_RUNNING 0
#define TASK_COMM_LEN 16
#define PF_KTHREAD 0x00200000

/* Bits needed to hold v: 0 for 0, 1 for 1, 2 for 2-3, 3 for 4-7... (BCC's bpf_log2l). */
static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 bits = 0;
	if (v >> 32) { v >>= 32; bits += 32; }
	if (v >> 16) { v >>= 16; bits += 16; }
	if (v >> 8) { v >>= 8; bits += 8; }
	if (v >> 4) { v >>= 4; bits += 4; }
	if (v >> 2) { v >>= 2; bits += 2; }
	if (v >> 1) { v >>= 1; bits += 1; }
	return bits + (__u32)v;
}

/* The task's state: 5.14 renamed task_struct.state to __state. */
struct task_struct___pre_5_14 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre_5_14 *)task, state);
}

#endif
