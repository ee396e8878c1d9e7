/**
 * Message cases (see cases-messages.ts) for instruction and map loading,
 * program and call structure, stack, context and map accesses, and helper
 * calls: each is the smallest program found to give its message, in tsbpf
 * and the kernel alike.
 */
import { MapType, ProgramFlags } from '../../src/uapi/index.ts';
import type { CaseFunction } from './case-btf.ts';
import type { VerifierCase } from './cases.ts';

const array = (valueSize = 16) => ({ type: MapType.ARRAY, keySize: 4, valueSize, maxEntries: 1 });
const TP = 'tp/syscalls/sys_enter_getpid';
const XDP_MAIN: CaseFunction = { at: 0, name: 'prog', global: true, params: [{ type: 'struct xdp_md *' }] };

/** r0 = lookup(map 0, key 0 on the stack) */
const LOOKUP = '*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\n';
/** 8,193 conditional jumps on an unknown r6, each of which pushes the other branch: one past BPF_COMPLEXITY_LIMIT_JMP_SEQ. */
const JUMPS = Array.from({ length: 8193 }, (_, i) => `if r6 == ${i} goto +0`).join('\n');
/** n static subprograms, each calling the next: with the main program, n + 1 frames. */
const CALL_CHAIN = (n: number) => `${'call pc+2\nr0 = 0\nexit\n'.repeat(n)}r0 = 0\nexit`;

export const MESSAGE_CASES_PROGRAM: VerifierCase[] = [
  // --- instruction encodings and map references (resolve_pseudo_ldimm64, check_atomic_rmw)
  { name: 'msg2: an ld_imm64 whose second half names a register', section: 'xdp', asm: '.insn 0x18, 1, 0, 0, 0\n.insn 0, 1, 0, 0, 0\nr0 = 2\nexit', expect: 'invalid bpf_ld_imm64 insn' },
  {
    name: 'msg2: an ld_imm64 of a map fd that is no open file',
    section: 'xdp',
    asm: '.insn 0x18, 1, 1, 0, 1000000\n.insn 0, 0, 0, 0, 0\nr0 = 2\nexit',
    expect: 'fd 1000000 is not pointing to valid bpf_map',
  },
  { name: 'msg2: an atomic add of one byte', section: 'xdp', asm: 'r1 = 1\n.insn 0xd3, 10, 1, -8, 0\nr0 = 2\nexit', expect: 'invalid atomic operand size' },

  // --- program and call structure (push_stack, check_max_stack_depth)
  { name: 'msg2: 8,193 pending branches', section: 'xdp', asm: `call bpf_get_prandom_u32\nr6 = r0\n${JUMPS}\nr0 = 2\nexit`, expect: 'The sequence of 8193 jumps is too complex.' },
  {
    // The chain is never run (r0 is 0), so only check_max_stack_depth, after the paths are explored, sees its nine frames.
    name: 'msg2: a call chain of nine frames behind a branch never taken',
    section: 'xdp',
    asm: `r0 = 0\nif r0 != 0 goto +2\nr0 = 2\nexit\n${CALL_CHAIN(8)}`,
    expect: 'the call stack of 8 frames is too deep !',
  },

  // --- the stack (check_stack_write_fixed_off, check_stack_access_within_bounds)
  {
    name: "msg2: a subprogram spills a stack pointer into its caller's frame",
    section: 'xdp',
    asm: 'r1 = r10\nr1 += -8\ncall pc+2\nr0 = 2\nexit\n*(u64 *)(r1 + 0) = r10\nr0 = 0\nexit',
    expect: 'cannot spill pointers to stack into stack frame of the caller',
  },
  {
    name: 'msg2: a stack read at a 32-bit variable offset',
    section: 'socket',
    asm: 'r2 = *(u32 *)(r1 + 0)\nr1 = r10\nr1 += r2\nr0 = *(u8 *)(r1 - 8)\nr0 = 0\nexit',
    expect: 'invalid unbounded variable-offset read from stack R1',
  },
  {
    name: 'msg2: a stack write at a variable offset that may reach above the frame',
    section: 'socket',
    asm: 'r2 = *(u32 *)(r1 + 0)\nr2 &= 8\nr1 = r10\nr1 += r2\n*(u8 *)(r1 - 4) = r2\nr0 = 0\nexit',
    expect: 'invalid variable-offset write to stack R1 var_off=(0x0; 0x8) off=-4 size=1',
  },
  {
    name: 'msg2: a stack pointer plus at least 2^29',
    section: 'socket',
    asm: 'r2 = *(u32 *)(r1 + 0)\nr2 &= 1\nr2 += 0x20000000\nr1 = r10\nr1 += r2\nr0 = 0\nexit',
    expect: 'value 536870912 makes fp pointer be out of bounds',
  },

  // --- packet, context, map and kernel struct accesses
  {
    name: 'msg2: a 4-byte packet load at offset 1 under strict alignment',
    section: 'xdp',
    programFlags: ProgramFlags.STRICT_ALIGNMENT,
    asm: 'r2 = *(u32 *)(r1 + 0)\nr0 = *(u32 *)(r2 + 1)\nr0 = 2\nexit',
    expect: 'misaligned packet access off 2+0+0+1 size 4',
  },
  { name: 'msg2: a read past the flow keys', section: 'flow_dissector', asm: 'r1 = *(u64 *)(r1 + 144)\nr0 = *(u8 *)(r1 + 56)\nr0 = 0\nexit', expect: 'invalid access to flow keys off=56 size=1' },
  {
    name: 'msg2: a bpf_for_each_map_elem callback writes the key',
    section: 'xdp',
    maps: [array()],
    asm: 'r1 = map_fd(0) ll\nr2 = func(pc+6) ll\nr3 = 0\nr4 = 0\ncall bpf_for_each_map_elem\nr0 = 2\nexit\nr3 = 0\n*(u32 *)(r2 + 0) = r3\nr0 = 0\nexit',
    functions: [XDP_MAIN, { at: 9, name: 'cb', returns: 'u64', params: [{ type: 'void *' }, { type: 'u64 *' }, { type: 'u64 *' }, { type: 'void *' }] }],
    expect: 'write to change key R2 not allowed',
  },
  {
    name: 'msg2: a read of a map value the program may only write (BPF_F_WRONLY_PROG)',
    section: 'xdp',
    maps: [{ ...array(), flags: 0x100 }],
    asm: `${LOOKUP}if r0 == 0 goto +1\nr0 = *(u32 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: 'read from map forbidden, value_size=16 off=0 size=4',
  },
  { name: 'msg2: a write into a task_struct', section: TP, asm: 'call bpf_get_current_task_btf\nr1 = 0\n*(u32 *)(r0 + 0) = r1\nr0 = 0\nexit', expect: 'only read is supported' },
  { name: 'msg2: a write into a map struct', section: 'xdp', maps: [array()], asm: 'r1 = map_fd(0) ll\nr2 = 0\n*(u32 *)(r1 + 0) = r2\nr0 = 2\nexit', expect: 'only read from bpf_array is supported' },
  { name: 'msg2: LD_ABS with a scalar in r6', section: 'socket', asm: 'r6 = 0\nr0 = *(u8 *)skb[0]\nexit', expect: 'at the time of BPF_LD_ABS|IND R6 != pointer to skb' },

  // --- helper calls (check_helper_call, check_func_arg, check_map_func_compatibility)
  {
    name: 'msg2: bpf_copy_from_user in a tracepoint program',
    section: TP,
    asm: 'r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\ncall bpf_copy_from_user\nr0 = 0\nexit',
    expect: 'helper call might sleep in a non-sleepable prog',
  },
  { name: 'msg2: a packet pointer as the bpf_trace_printk format', section: 'xdp', asm: 'r1 = *(u32 *)(r1 + 0)\nr2 = 4\ncall bpf_trace_printk\nr0 = 2\nexit', expect: 'helper access to the packet is not allowed' },
  {
    name: 'msg2: a lookup in a queue, whose key is zero bytes',
    section: 'xdp',
    maps: [{ type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 4 }],
    asm: 'r2 = r10\nr2 += -8\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\nr0 = 2\nexit',
    expect: 'invalid zero-sized read',
  },
  {
    name: 'msg2: a lookup in a perf event array',
    section: 'xdp',
    maps: [{ type: MapType.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4 }],
    asm: `${LOOKUP}r0 = 2\nexit`,
    expect: 'cannot pass map_type 4 into func bpf_map_lookup_elem#1',
  },
  {
    name: 'msg2: a sockmap delete in a tracepoint program',
    section: TP,
    maps: [{ type: MapType.SOCKMAP, keySize: 4, valueSize: 4, maxEntries: 4 }],
    asm: '*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = map_fd(0) ll\ncall bpf_map_delete_elem\nr0 = 0\nexit',
    expect: 'cannot pass map_type 15 into func bpf_map_delete_elem#3',
  },
  {
    name: 'msg2: a constant string without its NUL',
    section: 'xdp',
    maps: [{ ...array(8), flags: 0x80, rodata: new TextEncoder().encode('abcdefgh') }],
    asm: `${LOOKUP}if r0 == 0 goto +6\nr3 = r0\n*(u64 *)(r10 - 16) = 0\nr1 = r10\nr1 += -16\nr2 = 8\ncall bpf_strncmp\nr0 = 2\nexit`,
    expect: 'string is not zero-terminated',
  },
];
