/**
 * Message cases (see cases-messages.ts) for instruction encodings, pointer
 * arithmetic, memory accesses, and helper and kfunc arguments: each is the
 * smallest program found to give its message, in tsbpf and the kernel alike.
 */
import { existsSync } from 'node:fs';
import { loadKernelBtf } from '../../src/btf/index.ts';
import { MapType } from '../../src/uapi/index.ts';
import type { CaseFunction } from './case-btf.ts';
import type { VerifierCase } from './cases.ts';

const array = (valueSize = 16) => ({ type: MapType.ARRAY, keySize: 4, valueSize, maxEntries: 1 });
const ringbuf = { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 };
const TP = 'tp/syscalls/sys_enter_getpid';
/** sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
const EXEC = 'tp_btf/sched_process_exec';
const XDP_MAIN: CaseFunction = { at: 0, name: 'prog', global: true, params: [{ type: 'struct xdp_md *' }] };

/** r0 = lookup(map 0, key 0 on the stack) */
const LOOKUP = '*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\n';
/** r0 = bpf_sk_lookup_tcp(ctx in r1, zeroed IPv4 tuple at fp-16, current netns) */
const SK_LOOKUP = '*(u64 *)(r10 - 16) = 0\n*(u32 *)(r10 - 8) = 0\nr2 = r10\nr2 += -16\nr3 = 12\nr4 = -1\nr5 = 0\ncall bpf_sk_lookup_tcp\n';

// Kernel BTF facts the kfunc cases need: task_struct's parent (a pointer member the kernel does not list as trusted),
// and a type id that is neither a struct nor void.
const btf = existsSync('/sys/kernel/btf/vmlinux') ? loadKernelBtf() : undefined;
const task = btf?.findByName('task_struct', 'struct')[0];
const PARENT = task?.kind === 'struct' ? (task.members.find((m) => m.name === 'parent')?.bitOffset ?? 0) / 8 : 0;
const INT_ID = btf?.findByName('int', 'int')[0]?.id ?? 1;

export const MESSAGE_CASES_ACCESS: VerifierCase[] = [
  // --- program structure and reserved instruction fields
  { name: 'msg: a call past the last instruction', section: 'xdp', asm: 'call pc+5\nr0 = 2\nexit', expect: 'call to invalid destination' },
  { name: 'msg: a helper call with a destination register', section: 'xdp', asm: '.insn 0x85, 1, 0, 0, 5\nr0 = 2\nexit', expect: 'BPF_CALL uses reserved fields' },
  { name: 'msg: an exit with an immediate', section: 'xdp', asm: 'r0 = 2\n.insn 0x95, 0, 0, 0, 1', expect: 'BPF_EXIT uses reserved fields' },
  { name: 'msg: a register store with an immediate', section: 'xdp', asm: '.insn 0x7b, 10, 1, -8, 1\nr0 = 2\nexit', expect: 'BPF_STX uses reserved fields' },
  { name: 'msg: LD_ABS with a destination register', section: 'socket', asm: 'r6 = r1\n.insn 0x30, 1, 0, 0, 0\nr0 = 0\nexit', expect: 'BPF_LD_[ABS|IND] uses reserved fields' },
  { name: 'msg: LD_ABS in an XDP program', section: 'xdp', asm: 'r6 = r1\nr0 = *(u8 *)skb[0]\nr0 = 2\nexit', expect: 'BPF_LD_[ABS|IND] instructions not allowed for this program type' },

  // --- pointer arithmetic (adjust_reg_min_max_vals, adjust_ptr_min_max_vals, check_reg_sane_offset)
  { name: 'msg: arithmetic on data_end', section: 'xdp', asm: 'r3 = *(u32 *)(r1 + 4)\nr3 += 1\nr0 = 2\nexit', expect: 'R3 pointer arithmetic on pkt_end prohibited' },
  { name: 'msg: a scalar minus a pointer', section: 'xdp', asm: 'r0 = 1\nr0 -= r10\nr0 = 2\nexit', expect: 'R0 tried to subtract pointer from scalar' },
  { name: 'msg: a pointer plus a pointer', section: 'xdp', asm: 'r1 += r10\nr0 = 2\nexit', expect: 'R1 pointer += pointer prohibited' },
  {
    name: 'msg: a fixed pointer offset of 2^30',
    section: 'xdp',
    asm: 'r1 = r10\nr1 += 536870911\nr1 += 536870911\nr0 = 2\nexit',
    expect: 'fp pointer offset 1073741822 is not allowed',
  },

  // --- memory accesses by region
  { name: 'msg: a context pointer moved below its start', section: 'xdp', asm: 'r1 += -8\nr0 = *(u32 *)(r1 + 8)\nexit', expect: 'negative offset ctx ptr R1 off=-8 disallowed' },
  { name: 'msg: an atomic add into the context', section: 'tc', asm: 'r2 = 1\nlock *(u32 *)(r1 + 8) += r2\nr0 = 0\nexit', expect: 'BPF_ATOMIC stores into R1 ctx is not allowed' },
  {
    name: 'msg: an 8-byte read of a socket field',
    section: 'tc',
    asm: `${SK_LOOKUP}if r0 == 0 goto +3\nr1 = *(u64 *)(r0 + 0)\nr1 = r0\ncall bpf_sk_release\nr0 = 0\nexit`,
    expect: 'R0 invalid sock access off=0 size=8',
  },
  { name: 'msg: a write before the tracepoint buffer', section: 'raw_tp.w', asm: 'r6 = *(u64 *)(r1 + 0)\nr7 = 1\n*(u64 *)(r6 - 8) = r7\nr0 = 0\nexit', expect: 'R6 invalid tracepoint buffer access: off=-8, size=8' },
  { name: 'msg: a read before a map struct', section: 'xdp', maps: [array()], asm: 'r1 = map_fd(0) ll\nr0 = *(u32 *)(r1 - 8)\nr0 = 2\nexit', expect: 'R1 is bpf_array invalid negative access: off=-8' },
  { name: 'msg: a read before a kernel struct', section: TP, asm: 'call bpf_get_current_task_btf\nr1 = *(u64 *)(r0 - 8)\nr0 = 0\nexit', expect: 'R0 is ptr_task_struct invalid negative access: off=-8' },

  // --- helper arguments (check_func_arg, check_mem_size_reg, check_reg_const_str)
  { name: 'msg: a task where a socket is expected', section: EXEC, asm: 'r1 = *(u64 *)(r1 + 0)\ncall bpf_skc_to_tcp_sock\nr0 = 0\nexit', expect: 'R1 is of type task_struct but sock_common is expected' },
  {
    name: 'msg: the context socket released',
    section: 'tc',
    asm: 'r1 = *(u64 *)(r1 + 168)\nif r1 == 0 goto +1\ncall bpf_sk_release\nr0 = 0\nexit',
    expect: 'R1 must be referenced when passed to release function',
  },
  {
    name: 'msg: a ringbuf record submitted past its start',
    section: TP,
    maps: [ringbuf],
    asm: 'r1 = map_fd(0) ll\nr2 = 16\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto +4\nr1 = r0\nr1 += 8\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = 0\nexit',
    expect: 'R1 must have zero offset when passed to release func or trusted arg to kfunc',
  },
  {
    name: 'msg: a helper size below 2^63 but unbounded',
    section: TP,
    asm: 'call bpf_get_prandom_u32\nr2 = r0\nr2 >>= 1\nr1 = r10\nr1 += -16\nr3 = 0\ncall bpf_probe_read_kernel\nr0 = 0\nexit',
    expect: "R2 unbounded memory access, use 'var &= const' or 'if (var < const)'",
  },
  {
    name: 'msg: a constant string on the stack',
    section: 'xdp',
    asm: '*(u64 *)(r10 - 8) = 0\nr1 = r10\nr1 += -8\nr2 = 8\nr3 = r10\nr3 += -8\ncall bpf_strncmp\nr0 = 2\nexit',
    expect: 'R3 type=fp expected=map_value',
  },
  {
    name: 'msg: a constant string in a writable map',
    section: 'xdp',
    maps: [array()],
    asm: `${LOOKUP}if r0 == 0 goto +7\n*(u64 *)(r10 - 16) = 0\nr1 = r10\nr1 += -16\nr2 = 8\nr3 = r0\ncall bpf_strncmp\nr0 = 2\nexit`,
    expect: "R3 does not point to a readonly map'",
  },

  // --- callbacks and global functions
  {
    name: 'msg: a bpf_loop callback returns a map pointer',
    section: 'xdp',
    maps: [array()],
    asm: 'r1 = 1\nr2 = func(pc+6) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 2\nexit\nr0 = map_fd(0) ll\nexit',
    functions: [XDP_MAIN, { at: 8, name: 'cb', returns: 'u64', params: [{ type: 'u64' }, { type: 'u64 *' }] }],
    expect: 'R0 not a scalar value',
  },
  {
    // A global function's dynptr argument is a CONST_PTR_TO_DYNPTR, which it does not own.
    name: 'msg: a global function submits its dynptr argument',
    section: 'xdp',
    maps: [array(8)],
    asm: `${LOOKUP}r1 = r0\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -16\ncall bpf_dynptr_from_mem\nr1 = r10\nr1 += -16\ncall pc+2\nr0 = 2\nexit\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr0 = 0\nexit`,
    functions: [XDP_MAIN, { at: 17, name: 'f', global: true, params: [{ type: 'struct bpf_dynptr *' }] }],
    expect: 'cannot release unowned const bpf_dynptr',
  },

  // --- kfunc arguments
  { name: 'msg: bpf_rdonly_cast given a pointer as type id', section: TP, asm: 'r1 = 0\nr2 = r10\ncall bpf_rdonly_cast#0\nr0 = 0\nexit', expect: 'R2 is not a scalar' },
  {
    name: 'msg: bpf_rdonly_cast given an unknown type id',
    section: TP,
    asm: 'call bpf_get_prandom_u32\nr2 = r0\nr1 = 0\ncall bpf_rdonly_cast#0\nr0 = 0\nexit',
    expect: 'R2 must be a known constant',
  },
  { name: 'msg: bpf_rdonly_cast to int', section: TP, asm: `r1 = 0\nr2 = ${INT_ID}\ncall bpf_rdonly_cast#0\nr0 = 0\nexit`, expect: 'kfunc bpf_rdonly_cast type ID argument must be of a struct or void' },
  {
    name: 'msg: a cgroup reference released as a task',
    section: TP,
    asm: 'r1 = 1\ncall bpf_cgroup_from_id#0\nif r0 == 0 goto +2\nr1 = r0\ncall bpf_task_release#0\nr0 = 0\nexit',
    expect: 'kernel function bpf_task_release args#0 expected pointer to STRUCT task_struct but R1 has a pointer to STRUCT cgroup',
  },
  {
    name: 'msg: an unlisted task pointer member released',
    section: EXEC,
    asm: `r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + ${PARENT})\ncall bpf_task_release#0\nr0 = 0\nexit`,
    expect: 'R1 must be referenced or trusted',
  },
];
