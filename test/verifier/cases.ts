/**
 * Verifier cases in assembly: each names the program type, the maps it
 * uses (referenced as `map_fd(N)`, N the index in `maps`), and what the
 * Linux kernel answers: 'accept', or the last line of its verifier log.
 * test/verifier/rules.test.ts checks tsbpf's verifier against the expected
 * answer; test/verifier/kernel-agreement.test.ts loads every case into the
 * running kernel and checks that the expectation is the kernel's.
 */
import { existsSync } from 'node:fs';
import { loadKernelBtf } from '../../src/btf/index.ts';
import { MapType, ProgramFlags } from '../../src/uapi/index.ts';
import type { CaseFunction } from './case-btf.ts';
import { MESSAGE_CASES } from './cases-messages.ts';
import { MODEL_CASES } from './cases-models.ts';

export interface CaseMap {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  /** Initial value of a read-only array (frozen after filling). */
  rodata?: Uint8Array;
  /** map_extra (an arena's user address). */
  mapExtra?: bigint;
}

export interface VerifierCase {
  name: string;
  /** libbpf section name giving the program type. */
  section: string;
  asm: string;
  maps?: CaseMap[];
  /** 'accept', or the kernel's final message (the last line before the statistics). */
  expect: 'accept' | string;
  /** BPF_PROG_LOAD prog_flags (ProgramFlags: BPF_F_TEST_STATE_FREQ...), for tsbpf and the kernel alike. */
  programFlags?: number;
  license?: string;
  /** BTF prototypes of the program's functions (func_info), for global functions and their argument tags. */
  functions?: CaseFunction[];
  /** Verified as an unprivileged load (no CAP_BPF/CAP_PERFMON), which this machine's kernel does not allow (kernelSkip says so). */
  unprivileged?: boolean;
  /** Why this case cannot be loaded into the kernel as bare instructions (checked in the kernel elsewhere). */
  kernelSkip?: string;
  /**
   * Final messages a kernel gives for this program by a policy of its own
   * build (the verdict is the same); `expect` is upstream 6.18's, and
   * tsbpf's.
   */
  kernelAlso?: string[];
}

const hash = (valueSize = 16): CaseMap => ({ type: MapType.HASH, keySize: 4, valueSize, maxEntries: 16 });
const array = (valueSize = 16): CaseMap => ({ type: MapType.ARRAY, keySize: 4, valueSize, maxEntries: 4 });
const ringbuf: CaseMap = { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 };

/** r0 = lookup(map 0, key 0 on the stack) */
const LOOKUP = `
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
r1 = map_fd(0) ll
call bpf_map_lookup_elem
`;

/** r2 = data, r3 = data_end of an XDP context in r1 */
const XDP_PKT = `
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
`;

export const CASES: VerifierCase[] = [
  // --- registers
  { name: 'return constant', section: 'xdp', asm: 'r0 = 2\nexit', expect: 'accept' },
  { name: 'uninitialised r0 at exit', section: 'xdp', asm: 'exit', expect: 'R0 !read_ok' },
  { name: 'uninitialised source register', section: 'xdp', asm: 'r0 = r5\nexit', expect: 'R5 !read_ok' },
  { name: 'write to frame pointer', section: 'xdp', asm: 'r10 = 0\nr0 = 0\nexit', expect: 'frame pointer is read only' },
  { name: 'r1-r5 clobbered by a call', section: 'xdp', asm: 'r6 = r1\ncall bpf_ktime_get_ns\nr0 = r1\nexit', expect: 'R1 !read_ok' },
  {
    // An iterator's context is its bpf_iter_task prototype: the meta (whose seq, inside an anonymous union, is a
    // trusted field), then the task, NULL when the iteration ends.
    name: 'iter/task: the meta gives a trusted seq_file, the task once checked against NULL',
    section: 'iter/task',
    asm: 'r6 = *(u64 *)(r1 + 0)\nr6 = *(u64 *)(r6 + 0)\nr7 = *(u64 *)(r1 + 8)\nif r7 == 0 goto out\n*(u64 *)(r10 - 8) = 0\nr1 = r6\nr2 = r10\nr2 += -8\nr3 = 8\ncall bpf_seq_write\nout:\nr0 = 0\nexit',
    expect: 'accept',
  },
  { name: 'iter/task: the task may be NULL', section: 'iter/task', asm: 'r7 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r7 + 0)\nr0 = 0\nexit', expect: "R7 invalid mem access 'trusted_ptr_or_null_'" },
  {
    // nf_is_valid_access: skb and state are trusted kernel structs; a kfunc taking a __sk_buff takes the sk_buff.
    name: 'netfilter: the context skb is a trusted sk_buff, which a __sk_buff kfunc argument takes',
    section: 'netfilter',
    asm: 'r6 = *(u64 *)(r1 + 8)\nr2 = *(u32 *)(r6 + 112)\nr1 = r6\nr2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_skb#0\nr0 = 1\nexit',
    expect: 'accept',
  },
  {
    // check_stack_read_fixed_off: a narrow load inside a spilled zero, at any offset, is a zero (the selftest
    // partial_stack_load_preserves_zeros), so the path taken on a non-zero byte is never explored.
    name: 'a byte loaded from the middle of a spilled zero is zero',
    section: 'socket',
    asm: '*(u64 *)(r10 - 8) = 0\nr2 = *(u8 *)(r10 - 3)\nif r2 == 0 goto out\nr0 = *(u8 *)(r2 + 0)\nout:\nr0 = 0\nexit',
    expect: 'accept',
  },
  {
    // The kernel's selftests verifier_reg_equal.c subreg_equality_1 and _2: w3 = w2 links both registers when r2's
    // value fits in 32 bits, so the check on w2 bounds r3 too and the read of r1 is unreachable; not otherwise.
    name: 'a 32-bit move of a value that fits in 32 bits links both registers',
    section: 'socket',
    asm: 'call bpf_ktime_get_ns\n*(u64 *)(r10 - 8) = r0\nr2 = *(u32 *)(r10 - 8)\nw3 = w2\nif w2 < 9 goto small\nexit\nsmall:\nif r3 < 9 goto out\nr0 -= r1\nout:\nexit',
    expect: 'accept',
  },
  {
    name: 'a 32-bit move of a wider value links nothing',
    section: 'socket',
    asm: 'call bpf_ktime_get_ns\nr2 = r0\nw3 = w2\nif w2 < 9 goto small\nexit\nsmall:\nif r3 < 9 goto out\nr0 -= r1\nout:\nexit',
    expect: 'R1 !read_ok',
  },
  {
    // check_ld_abs marks r0 unknown in all 64 bits, not narrowed to the load's width: the path past 255 is explored.
    name: 'a byte loaded by LD_ABS is an unknown scalar to the verifier',
    section: 'socket',
    asm: 'r6 = r1\nr0 = *(u8 *)skb[0]\nif r0 > 255 goto wide\nr0 = 0\nexit\nwide:\nr0 = *(u32 *)(r1 + 0)\nexit',
    expect: 'R1 !read_ok',
  },
  { name: 'callee-saved r6 kept over a call', section: 'xdp', asm: 'r6 = 1\ncall bpf_ktime_get_ns\nr0 = r6\nexit', expect: 'accept' },
  { name: 'division by constant zero', section: 'xdp', asm: 'r0 = 1\nr0 /= 0\nexit', expect: 'div by zero' },
  { name: 'division by register is allowed', section: 'xdp', asm: 'r0 = 1\nr1 = 0\nr0 /= r1\nexit', expect: 'accept' },
  { name: 'shift by 64', section: 'xdp', asm: 'r0 = 1\nr0 <<= 64\nexit', expect: 'invalid shift 64' },
  { name: '32-bit shift by 32', section: 'xdp', asm: 'w0 = 1\nw0 <<= 32\nexit', expect: 'invalid shift 32' },
  // --- control flow
  { name: 'unreachable instruction', section: 'xdp', asm: 'r0 = 0\nexit\nr0 = 1\nexit', expect: 'unreachable insn 2' },
  { name: 'jump out of range', section: 'xdp', asm: 'r0 = 0\nif r0 == 0 goto +5\nexit', expect: 'jump out of range from insn 1 to 7' },
  { name: 'last instruction not exit', section: 'xdp', asm: 'r0 = 0', expect: 'last insn is not an exit or jmp' },
  { name: 'infinite loop', section: 'xdp', asm: 'r0 = 0\ngoto -1', expect: 'infinite loop detected at insn 1' },
  {
    name: 'bounded loop',
    section: 'xdp',
    asm: 'r0 = 0\nr1 = 0\nr0 += r1\nr1 += 1\nif r1 < 10 goto -3\nr0 = 2\nexit',
    expect: 'accept',
  },
  {
    name: 'loop without a bound',
    section: 'xdp',
    asm: 'r6 = r1\ncall bpf_get_prandom_u32\nr1 = 0\nr1 += 1\nif r1 != r0 goto -2\nr0 = 2\nexit',
    expect: 'BPF program is too large. Processed 1000001 insn',
  },
  // --- stack
  { name: 'stack write and read', section: 'xdp', asm: '*(u64 *)(r10 - 8) = 7\nr0 = *(u64 *)(r10 - 8)\nexit', expect: 'accept' },
  { name: 'stack access below 512 bytes', section: 'xdp', asm: '*(u64 *)(r10 - 520) = 0\nr0 = 0\nexit', expect: 'invalid write to stack R10 off=-520 size=8' },
  { name: 'stack access above the frame', section: 'xdp', asm: '*(u64 *)(r10 + 0) = 0\nr0 = 0\nexit', expect: 'invalid write to stack R10 off=0 size=8' },
  { name: 'misaligned stack access', section: 'xdp', asm: '*(u32 *)(r10 - 6) = 0\nr0 = 0\nexit', expect: 'misaligned stack access off 0+0+-6 size 4' },
  { name: 'uninitialised stack read as root', section: 'xdp', asm: 'r0 = *(u64 *)(r10 - 8)\nexit', expect: 'accept' },
  { name: 'spill and fill a pointer', section: 'xdp', asm: '*(u64 *)(r10 - 8) = r1\nr1 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r1 + 0)\nexit', expect: 'accept' },
  { name: 'narrow fill of a spilled pointer', section: 'xdp', asm: '*(u64 *)(r10 - 8) = r1\nr1 = *(u32 *)(r10 - 8)\nr0 = 0\nexit', expect: 'invalid size of register fill' },
  {
    // save_aux_ptr_type: a context load is rewritten for the context, so the same load may not read the stack.
    name: 'one load through the context on one path and the stack on another',
    section: 'xdp',
    asm: `r6 = r1
call bpf_get_prandom_u32
*(u64 *)(r10 - 8) = 0
r2 = r10
r2 += -8
if r0 == 0 goto l
r2 = r6
l:
r0 = *(u32 *)(r2 + 0)
r0 = 2
exit`,
    expect: 'same insn cannot be used with different pointers',
  },
  {
    name: 'one store through a map value on one path and the stack on another',
    section: 'xdp',
    maps: [array()],
    asm: `*(u64 *)(r10 - 16) = 0${LOOKUP}r2 = r10
r2 += -16
if r0 == 0 goto l
r2 = r0
l:
*(u64 *)(r2 + 0) = 1
r0 = 2
exit`,
    expect: 'accept',
  },
  {
    // check_stack_range_initialized's clobber: the helper may write anything over the spilled map value pointer.
    name: 'a helper writing over a spilled pointer leaves a number there',
    section: 'tc',
    maps: [array()],
    asm: `r6 = r1${LOOKUP}if r0 == 0 goto out
*(u64 *)(r10 - 16) = r0
r1 = r6
r2 = 0
r3 = r10
r3 += -16
r4 = 0
r5 = 0
call bpf_check_mtu
r1 = *(u64 *)(r10 - 16)
r0 = *(u32 *)(r1 + 0)
out:
r0 = 0
exit`,
    expect: "R1 invalid mem access 'scalar'",
  },
  { name: 'stack pointer subtraction', section: 'xdp', asm: 'r1 = r10\nr2 = 8\nr1 -= r2\nr0 = 0\nexit', expect: 'R1 subtraction from stack pointer prohibited' },
  // --- context
  { name: 'xdp reads ingress_ifindex', section: 'xdp', asm: 'r0 = *(u32 *)(r1 + 12)\nexit', expect: 'accept' },
  { name: 'xdp ctx out of bounds', section: 'xdp', asm: 'r0 = *(u32 *)(r1 + 24)\nexit', expect: 'invalid bpf_context access off=24 size=4' },
  { name: 'xdp ctx write', section: 'xdp', asm: '*(u32 *)(r1 + 12) = 0\nr0 = 0\nexit', expect: 'invalid bpf_context access off=12 size=4' },
  { name: 'xdp narrow ctx load of data', section: 'xdp', asm: 'r0 = *(u16 *)(r1 + 0)\nexit', expect: 'invalid bpf_context access off=0 size=2' },
  { name: 'modified ctx pointer', section: 'xdp', asm: 'r1 += 4\nr0 = *(u32 *)(r1 + 0)\nexit', expect: 'dereference of modified ctx ptr R1 off=4 disallowed' },
  { name: 'tc writes mark', section: 'tc', asm: 'r2 = 1\n*(u32 *)(r1 + 8) = r2\nr0 = 0\nexit', expect: 'accept' },
  { name: 'socket filter reads len', section: 'socket', asm: 'r0 = *(u32 *)(r1 + 0)\nexit', expect: 'accept' },
  { name: 'socket filter cannot read data', section: 'socket', asm: 'r0 = *(u32 *)(r1 + 76)\nexit', expect: 'invalid bpf_context access off=76 size=4' },
  { name: 'tc narrow read of protocol', section: 'tc', asm: 'r0 = *(u16 *)(r1 + 16)\nexit', expect: 'accept' },
  // --- packet
  { name: 'unchecked packet read', section: 'xdp', asm: `${XDP_PKT}r0 = *(u8 *)(r2 + 0)\nexit`, expect: 'R2 offset is outside of the packet' },
  {
    name: 'checked packet read',
    section: 'xdp',
    asm: `${XDP_PKT}r4 = r2\nr4 += 14\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 + 13)\nexit\nr0 = 1\nexit`,
    expect: 'accept',
  },
  {
    name: 'read one byte past the check',
    section: 'xdp',
    asm: `${XDP_PKT}r4 = r2\nr4 += 14\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 + 14)\nexit\nr0 = 1\nexit`,
    expect: 'R2 offset is outside of the packet',
  },
  {
    name: 'packet check in the other direction',
    section: 'xdp',
    asm: `${XDP_PKT}r4 = r2\nr4 += 4\nif r3 >= r4 goto +2\nr0 = 1\nexit\nr0 = *(u32 *)(r2 + 0)\nexit`,
    expect: 'accept',
  },
  {
    name: 'packet write in tc',
    section: 'tc',
    asm: `r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr4 = r2\nr4 += 1\nif r4 > r3 goto +1\n*(u8 *)(r2 + 0) = 0\nr0 = 0\nexit`,
    expect: 'accept',
  },
  {
    name: 'packet write in cgroup skb',
    section: 'cgroup_skb/ingress',
    asm: `r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr4 = r2\nr4 += 1\nif r4 > r3 goto +1\n*(u8 *)(r2 + 0) = 0\nr0 = 1\nexit`,
    expect: 'cannot write into packet',
  },
  {
    name: 'packet pointer invalidated by adjust_head',
    section: 'xdp',
    asm: `${XDP_PKT}r4 = r2\nr4 += 1\nif r4 > r3 goto +5\nr6 = r2\nr2 = 0\ncall bpf_xdp_adjust_head\nr0 = *(u8 *)(r6 + 0)\nexit\nr0 = 1\nexit`,
    expect: "R6 invalid mem access 'scalar'",
  },
  {
    name: 'variable packet offset bounded by a mask',
    section: 'xdp',
    asm: `${XDP_PKT}r4 = *(u32 *)(r1 + 12)\nr4 &= 15\nr2 += r4\nr5 = r2\nr5 += 4\nif r5 > r3 goto +2\nr0 = *(u32 *)(r2 + 0)\nexit\nr0 = 1\nexit`,
    expect: 'accept',
  },
  // --- maps
  { name: 'lookup without null check', section: 'xdp', maps: [hash()], asm: `${LOOKUP}r0 = *(u64 *)(r0 + 0)\nexit`, expect: "R0 invalid mem access 'map_value_or_null'" },
  { name: 'lookup with null check', section: 'xdp', maps: [hash()], asm: `${LOOKUP}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`, expect: 'accept' },
  { name: 'null check with !=', section: 'xdp', maps: [hash()], asm: `${LOOKUP}if r0 != 0 goto +2\nr0 = 1\nexit\nr0 = *(u64 *)(r0 + 8)\nr0 = 2\nexit`, expect: 'accept' },
  { name: 'map value read past the end', section: 'xdp', maps: [hash()], asm: `${LOOKUP}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 16)\nr0 = 2\nexit`, expect: 'R0 min value is outside of the allowed memory range' },
  { name: 'map value negative offset', section: 'xdp', maps: [hash()], asm: `${LOOKUP}if r0 == 0 goto +1\nr0 = *(u8 *)(r0 - 1)\nr0 = 2\nexit`, expect: 'R0 min value is outside of the allowed memory range' },
  {
    name: 'map value index bounded',
    section: 'xdp',
    maps: [array(64)],
    asm: `r6 = *(u32 *)(r1 + 12)\n${LOOKUP}if r0 == 0 goto +4\nr6 &= 7\nr6 <<= 3\nr0 += r6\nr0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: 'accept',
  },
  {
    name: 'map value index unbounded',
    section: 'xdp',
    maps: [array(64)],
    asm: `r6 = *(u32 *)(r1 + 12)\n${LOOKUP}if r0 == 0 goto +3\nr0 += r6\nr0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: 'R0 unbounded memory access, make sure to bounds check any such access',
  },
  {
    name: 'map value index checked with a branch',
    section: 'xdp',
    maps: [array(64)],
    asm: `r6 = *(u32 *)(r1 + 12)\n${LOOKUP}if r0 == 0 goto +4\nif r6 > 56 goto +3\nr0 += r6\nr0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: 'accept',
  },
  {
    name: 'map value index one past with a branch',
    section: 'xdp',
    maps: [array(64)],
    asm: `r6 = *(u32 *)(r1 + 12)\n${LOOKUP}if r0 == 0 goto +4\nif r6 > 57 goto +3\nr0 += r6\nr0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: 'R0 max value is outside of the allowed memory range',
  },
  { name: 'arithmetic on map_value_or_null', section: 'xdp', maps: [hash()], asm: `${LOOKUP}r0 += 8\nr0 = 2\nexit`, expect: 'R0 pointer arithmetic on map_value_or_null prohibited, null-check it first' },
  { name: 'lookup with an uninitialised key as root', section: 'xdp', maps: [hash()], asm: 'r2 = r10\nr2 += -4\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\nr0 = 2\nexit', expect: 'accept' },
  { name: 'lookup key too close to the frame', section: 'xdp', maps: [hash()], asm: 'r2 = r10\nr2 += -2\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\nr0 = 2\nexit', expect: 'invalid read from stack R2 off=-2 size=4' },
  { name: 'key is not a pointer', section: 'xdp', maps: [hash()], asm: 'r2 = 0\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\nr0 = 2\nexit', expect: 'R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_' },
  { name: 'map argument is not a map', section: 'xdp', asm: 'r2 = r10\nr2 += -8\nr1 = 0\ncall bpf_map_lookup_elem\nr0 = 2\nexit', expect: 'R1 type=scalar expected=map_ptr' },
  {
    name: 'update from a map value',
    section: 'xdp',
    maps: [hash()],
    asm: `${LOOKUP}if r0 == 0 goto +7\nr3 = r0\nr2 = r10\nr2 += -4\nr1 = map_fd(0) ll\nr4 = 0\ncall bpf_map_update_elem\nr0 = 2\nexit`,
    expect: 'accept',
  },
  {
    name: 'read-only map written',
    section: 'xdp',
    maps: [{ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0x80 }],
    asm: `${LOOKUP}if r0 == 0 goto +1\n*(u64 *)(r0 + 0) = 1\nr0 = 2\nexit`,
    expect: 'write into map forbidden, value_size=8 off=0 size=8',
  },
  // --- helpers
  { name: 'unknown helper', section: 'xdp', asm: 'call 1000\nr0 = 0\nexit', expect: 'invalid func unknown#1000' },
  { name: 'helper not for this program type', section: 'xdp', asm: 'r2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\ncall bpf_skb_load_bytes\nr0 = 0\nexit', expect: 'program of this type cannot use helper bpf_skb_load_bytes#26' },
  { name: 'GPL-only helper from a non-GPL program', section: 'tracepoint/syscalls/sys_enter_getpid', license: 'MIT', asm: 'call bpf_get_current_task\nr0 = 0\nexit', expect: 'cannot call GPL-restricted function from non-GPL compatible program' },
  { name: 'get_current_comm into the stack', section: 'tracepoint/syscalls/sys_enter_getpid', asm: 'r1 = r10\nr1 += -16\nr2 = 16\ncall bpf_get_current_comm\nr0 = 0\nexit', expect: 'accept' },
  { name: 'get_current_comm size too large', section: 'tracepoint/syscalls/sys_enter_getpid', asm: 'r1 = r10\nr1 += -16\nr2 = 17\ncall bpf_get_current_comm\nr0 = 0\nexit', expect: 'invalid write to stack R1 off=-16 size=17' },
  { name: 'helper size of zero', section: 'tracepoint/syscalls/sys_enter_getpid', asm: 'r1 = r10\nr1 += -16\nr2 = 0\ncall bpf_get_current_comm\nr0 = 0\nexit', expect: 'R2 invalid zero-sized read: u64=[0,0]' },
  {
    name: 'helper size unbounded',
    section: 'tracepoint/syscalls/sys_enter_getpid',
    asm: 'call bpf_get_prandom_u32\nr2 = r0\nr1 = r10\nr1 += -16\ncall bpf_get_current_comm\nr0 = 0\nexit',
    expect: "R2 min value is negative, either use unsigned or 'var &= const'",
  },
  // --- ring buffer references
  {
    name: 'ringbuf reserve and submit',
    section: 'tracepoint/syscalls/sys_enter_getpid',
    maps: [ringbuf],
    asm: 'r1 = map_fd(0) ll\nr2 = 16\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto +4\n*(u64 *)(r0 + 0) = 1\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = 0\nexit',
    expect: 'accept',
  },
  {
    name: 'ringbuf reservation leaked',
    section: 'tracepoint/syscalls/sys_enter_getpid',
    maps: [ringbuf],
    asm: 'r1 = map_fd(0) ll\nr2 = 16\nr3 = 0\ncall bpf_ringbuf_reserve\nr0 = 0\nexit',
    expect: 'BPF_EXIT instruction in main prog would lead to reference leak',
  },
  {
    name: 'ringbuf record written out of bounds',
    section: 'tracepoint/syscalls/sys_enter_getpid',
    maps: [ringbuf],
    asm: 'r1 = map_fd(0) ll\nr2 = 16\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto +4\n*(u64 *)(r0 + 16) = 1\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = 0\nexit',
    expect: 'R0 min value is outside of the allowed memory range',
  },
  {
    name: 'ringbuf reserve size not constant',
    section: 'tracepoint/syscalls/sys_enter_getpid',
    maps: [ringbuf],
    asm: 'call bpf_get_prandom_u32\nr2 = r0\nr1 = map_fd(0) ll\nr3 = 0\ncall bpf_ringbuf_reserve\nr0 = 0\nexit',
    expect: "R2 is not a known constant'",
  },
  // --- bpf-to-bpf calls
  {
    name: 'bpf-to-bpf call',
    section: 'xdp',
    asm: 'r1 = 1\ncall pc+2\nr0 = 2\nexit\nr0 = r1\nr0 += 1\nexit',
    expect: 'accept',
  },
  {
    name: 'callee reads caller-saved register it was not given',
    section: 'xdp',
    asm: 'r6 = 1\ncall pc+2\nr0 = 2\nexit\nr0 = r6\nexit',
    expect: 'R6 !read_ok',
  },
  // --- return values
  { name: 'cgroup skb returns 1', section: 'cgroup_skb/ingress', asm: 'r0 = 1\nexit', expect: 'accept' },
  { name: 'cgroup skb returns 2 on ingress', section: 'cgroup_skb/ingress', asm: 'r0 = 2\nexit', expect: 'At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]' },
  { name: 'cgroup sock returns an unknown value', section: 'cgroup/sock_create', asm: 'call bpf_get_prandom_u32\nexit', expect: 'At program exit the register R0 has unknown scalar value should have been in [0, 1]' },
  { name: 'cgroup sock returns a pointer', section: 'cgroup/sock_create', asm: 'r0 = r1\nexit', expect: 'At program exit the register R0 is not a known value (ctx)' },
  // --- pointer arithmetic
  { name: 'bitwise and on a pointer', section: 'xdp', asm: 'r1 &= 1\nr0 = 0\nexit', expect: 'R1 bitwise operator &= on pointer prohibited' },
  { name: '32-bit arithmetic on a pointer', section: 'xdp', asm: 'w1 += 1\nr0 = 0\nexit', expect: 'R1 32-bit pointer arithmetic prohibited' },
  { name: 'multiply a pointer', section: 'xdp', asm: 'r1 *= 2\nr0 = 0\nexit', expect: 'R1 pointer arithmetic with *= operator prohibited' },
  { name: 'pointer minus pointer as root', section: 'xdp', asm: 'r2 = r10\nr2 -= r1\nr0 = 0\nexit', expect: 'accept' },
];

/** Iterators, dynptrs, kfunc argument kinds, subprogram returns and sockmap values (cases-models.ts). */
// Linked scalars with a delta (BPF_ADD_CONST64/32: `r7 = r6; r7 += K` keeps r7 = r6 + K): a branch on one bounds the
// other. The unsafe variants are what a looser rule would accept: a 32-bit link must zero-extend, 32- and 64-bit
// deltas of one register must not bound each other, and states whose deltas differ must not prune each other.
const LOOKUP_TO_R9 = `*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\nif r0 == 0 goto out\nr9 = r0\n`;
const RANDOM_TO_R6 = 'call bpf_get_prandom_u32\nr6 = r0\n';
const READ_R9 = 'r0 = *(u8 *)(r9 + 0)\nout:\nr0 = 0\nexit';
CASES.push(
  {
    name: 'linked scalars: a negative delta carries the bound back (r7 = r6 - 8 <= 55, so r6 <= 63)',
    section: 'socket',
    maps: [array(64)],
    asm: `${RANDOM_TO_R6}r6 &= 0xff\nr7 = r6\nr7 += -8\nif r7 > 55 goto out\n${LOOKUP_TO_R9}r9 += r6\n${READ_R9}`,
    expect: 'accept',
  },
  {
    name: 'linked scalars: a negative delta, one byte past the value',
    section: 'socket',
    maps: [array(64)],
    asm: `${RANDOM_TO_R6}r6 &= 0xff\nr7 = r6\nr7 += -8\nif r7 > 56 goto out\n${LOOKUP_TO_R9}r9 += r6\n${READ_R9}`,
    expect: 'R9 max value is outside of the allowed memory range',
  },
  {
    name: 'linked scalars: a subtracted constant is a negative delta',
    section: 'socket',
    maps: [array(64)],
    asm: `${RANDOM_TO_R6}r7 = r6\nr7 -= 3\nif r7 > 60 goto out\n${LOOKUP_TO_R9}r9 += r6\n${READ_R9}`,
    expect: 'accept',
  },
  {
    name: 'linked scalars: a 32-bit delta bounds its source modulo 2^32 only (w6 = 0xffffffff passes w7 = w6 + 1 <= 10)',
    section: 'socket',
    maps: [array(64)],
    asm: `${RANDOM_TO_R6}w6 = w6\nr7 = r6\nw7 += 1\nif r7 > 10 goto out\n${LOOKUP_TO_R9}r9 += r6\n${READ_R9}`,
    expect: 'R9 unbounded memory access, make sure to bounds check any such access',
  },
  {
    name: 'linked scalars: a 32-bit delta does not bound a 64-bit delta of the same register',
    section: 'socket',
    maps: [array(64)],
    asm: `${RANDOM_TO_R6}w6 = w6\nr7 = r6\nw7 += 1\nr8 = r6\nr8 += 2\nif r7 > 10 goto out\n${LOOKUP_TO_R9}r9 += r8\n${READ_R9}`,
    expect: 'R9 unbounded memory access, make sure to bounds check any such access',
  },
  {
    name: 'linked scalars: copying a register with a delta links the copy to it alone',
    section: 'socket',
    maps: [array(64)],
    asm: `${RANDOM_TO_R6}r7 = r6\nr7 += 4\nr8 = r7\nif r6 > 10 goto out\n${LOOKUP_TO_R9}r9 += r8\n${READ_R9}`,
    expect: 'math between map_value pointer and register with unbounded min value is not allowed',
  },
  {
    // The kernel's check_add_const_regsafe_off: the path with r1 = r0 + 50 reaches the join after the one with
    // r1 = r0 + 1 was stored there, and must not be pruned by it.
    name: 'linked scalars: a state whose delta differs is not pruned (BPF_F_TEST_STATE_FREQ)',
    section: 'socket',
    maps: [array(10)],
    programFlags: ProgramFlags.TEST_STATE_FREQ,
    asm: `${LOOKUP_TO_R9}call bpf_ktime_get_ns\nr6 = r0\ncall bpf_ktime_get_ns\nr7 = r0\ncall bpf_ktime_get_ns\nr1 = r0\nif r6 > r7 goto one\nr1 += 1\ngoto two\none:\nr1 += 50\ngoto +0\ntwo:\nif r0 > 8 goto out\nr9 += r1\n*(u8 *)(r9 + 0) = r0\nout:\nr0 = 0\nexit`,
    expect: 'R9 min value is outside of the allowed memory range',
  },
);
CASES.push(...MODEL_CASES);
CASES.push(...MESSAGE_CASES);

/** Found by review: each was accepted once, and the kernel refuses it. */
CASES.push(
  {
    name: 'sign-extending fill from the middle of a spilled register',
    section: 'xdp',
    maps: [array(256)],
    asm: `r6 = -1\n*(u64 *)(r10 - 16) = r6\nr6 = *(s8 *)(r10 - 9)\n${LOOKUP}if r0 == 0 goto +2\nr0 += r6\nr0 = *(u8 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: 'R0 min value is negative, either use unsigned index or do a if (index >=0) check.',
  },
  {
    name: 'callback stack counts toward the combined limit',
    section: 'xdp',
    asm: '*(u64 *)(r10 - 400) = 0\nr1 = 2\nr2 = func(pc+6) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit\n*(u64 *)(r10 - 200) = 0\nr0 = 0\nexit',
    expect: 'combined stack size of 2 calls is 608. Too large',
    kernelSkip: 'callbacks need BTF func_info in the kernel; the reviewer checked this verdict with generated BTF',
  },
  {
    name: 'a subprogram returns a pointer to its stack',
    section: 'xdp',
    asm: 'call pc+3\nr0 = *(u64 *)(r0 + 0)\nr0 = 0\nexit\nr0 = r10\nr0 += -8\nexit',
    expect: 'cannot return stack pointer to the caller',
  },
);

/** Array lookups with a constant in-range key cannot fail (the kernel elides their NULL). */
CASES.push(
  { name: 'array lookup with a constant key needs no null check', section: 'xdp', maps: [array(16)], asm: `${LOOKUP}r0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`, expect: 'accept' },
  {
    name: 'array lookup with a key past max_entries may fail',
    section: 'xdp',
    maps: [array(16)],
    asm: `*(u32 *)(r10 - 4) = 4\nr2 = r10\nr2 += -4\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\nr0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: "R0 invalid mem access 'map_value_or_null'",
  },
  { name: 'hash lookup with a constant key may fail', section: 'xdp', maps: [hash()], asm: `${LOOKUP}r0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`, expect: "R0 invalid mem access 'map_value_or_null'" },
);

/** The entry function of an XDP case, for cases that declare their functions' BTF. */
const XDP_MAIN: CaseFunction = { at: 0, name: 'prog', global: true, params: [{ type: 'struct xdp_md *' }] };
/** Main: pass a pointer to 4 initialised stack bytes to the function at insn 6, return XDP_PASS. */
const CALL_WITH_STACK_INT = '*(u32 *)(r10 - 4) = 42\nr1 = r10\nr1 += -4\ncall pc+2\nr0 = 2\nexit\n';
const globalFn = (params: { type: string; tags?: string[] }[], extra: Partial<CaseFunction> = {}): CaseFunction[] => [XDP_MAIN, { at: 6, name: 'f', global: true, params, ...extra }];

/** Global functions: verified on their own from their BTF prototype; calls checked against it (btf_check_func_arg_match). */
CASES.push(
  {
    name: 'global function: a pointer argument may be NULL',
    section: 'xdp',
    functions: globalFn([{ type: 'int *' }]),
    asm: `${CALL_WITH_STACK_INT}r0 = *(u32 *)(r1 + 0)\nexit`,
    expect: "R1 invalid mem access 'mem_or_null'",
  },
  {
    name: 'global function: pointer argument checked for NULL',
    section: 'xdp',
    functions: globalFn([{ type: 'int *' }]),
    asm: `${CALL_WITH_STACK_INT}r0 = 0\nif r1 == 0 goto +1\nr0 = *(u32 *)(r1 + 0)\nexit`,
    expect: 'accept',
  },
  {
    name: 'global function: __arg_nonnull needs no NULL check',
    section: 'xdp',
    functions: globalFn([{ type: 'int *', tags: ['nonnull'] }]),
    asm: `${CALL_WITH_STACK_INT}r0 = *(u32 *)(r1 + 0)\nexit`,
    expect: 'accept',
  },
  {
    name: 'global function: memory argument sized by its BTF type',
    section: 'xdp',
    functions: globalFn([{ type: 'int *', tags: ['nonnull'] }]),
    asm: `${CALL_WITH_STACK_INT}r0 = *(u32 *)(r1 + 4)\nexit`,
    expect: 'R1 min value is outside of the allowed memory range',
  },
  {
    name: 'global function: a scalar passed as memory',
    section: 'xdp',
    functions: globalFn([{ type: 'int *' }]),
    asm: `r1 = 5\nr1 += 0\nr1 += 0\ncall pc+2\nr0 = 2\nexit\nr0 = 0\nexit`,
    expect: "Caller passes invalid args into func#1 ('f')",
  },
  {
    name: 'global function: NULL passed as nullable memory',
    section: 'xdp',
    functions: globalFn([{ type: 'int *' }]),
    asm: `r1 = 0\nr1 += 0\nr1 += 0\ncall pc+2\nr0 = 2\nexit\nr0 = 0\nexit`,
    expect: 'accept',
  },
  {
    name: 'global function: NULL-able map value passed as non-NULL memory',
    section: 'xdp',
    maps: [hash(16)],
    functions: [XDP_MAIN, { at: 10, name: 'f', global: true, params: [{ type: 'struct pair *', tags: ['nonnull'] }] }],
    asm: `${LOOKUP}r1 = r0\ncall pc+2\nr0 = 2\nexit\nr0 = 0\nexit`,
    expect: "Caller passes invalid args into func#1 ('f')",
  },
  {
    name: 'global function: a pointer passed as a scalar argument',
    section: 'xdp',
    functions: globalFn([{ type: 'int' }]),
    asm: `r1 = r10\nr1 += -8\nr1 += 0\ncall pc+2\nr0 = 2\nexit\nr0 = r1\nexit`,
    expect: "Caller passes invalid args into func#1 ('f')",
  },
  {
    name: 'global function: the context argument recognised by its struct name',
    section: 'xdp',
    functions: globalFn([{ type: 'struct xdp_md *' }]),
    asm: `r1 += 0\nr1 += 0\nr1 += 0\ncall pc+2\nr0 = 2\nexit\nr0 = *(u32 *)(r1 + 12)\nexit`,
    expect: 'accept',
  },
  {
    name: 'global function: the stack passed as the context',
    section: 'xdp',
    functions: globalFn([{ type: 'struct xdp_md *' }]),
    asm: `r1 = r10\nr1 += -8\nr1 += 0\ncall pc+2\nr0 = 2\nexit\nr0 = 0\nexit`,
    expect: "Caller passes invalid args into func#1 ('f')",
  },
  {
    name: 'global function: __arg_ctx on another struct',
    section: 'xdp',
    functions: globalFn([{ type: 'struct pair *', tags: ['ctx'] }]),
    asm: `r1 += 0\nr1 += 0\nr1 += 0\ncall pc+2\nr0 = 2\nexit\nr0 = 0\nexit`,
    expect: "Caller passes invalid args into func#1 ('f')",
  },
  {
    name: 'global function: a void pointer argument has no size',
    section: 'xdp',
    functions: globalFn([{ type: 'void *' }]),
    asm: `${CALL_WITH_STACK_INT}r0 = 0\nexit`,
    expect: "Caller passes invalid args into func#1 ('f')",
  },
  {
    name: 'global function: must return a scalar type',
    section: 'xdp',
    functions: globalFn([{ type: 'int *' }], { returns: 'void' }),
    asm: `${CALL_WITH_STACK_INT}r0 = 0\nexit`,
    expect: "Caller passes invalid args into func#1 ('f')",
  },
  {
    name: 'global function: returns a pointer',
    section: 'xdp',
    functions: globalFn([{ type: 'struct xdp_md *' }]),
    asm: `r1 += 0\nr1 += 0\nr1 += 0\ncall pc+2\nr0 = 2\nexit\nr0 = r1\nexit`,
    expect: 'At subprogram exit the register R0 is not a scalar value (ctx)',
  },
  {
    name: 'global function: its result is an unknown scalar to the caller',
    section: 'cgroup_skb/ingress',
    functions: [{ at: 0, name: 'prog', global: true, params: [{ type: 'struct __sk_buff *' }] }, { at: 2, name: 'f', global: true, params: [] }],
    asm: 'call pc+1\nexit\nr0 = 1\nexit',
    expect: 'At program exit the register R0 has unknown scalar value should have been in [0, 1]',
  },
  {
    name: 'global function: a static one is verified with its caller',
    section: 'xdp',
    functions: [XDP_MAIN, { at: 2, name: 'f', params: [] }],
    asm: 'call pc+1\nexit\nr0 = 2\nexit',
    expect: 'accept',
  },
  {
    name: 'global function: changing packet data invalidates the caller',
    section: 'xdp',
    functions: [XDP_MAIN, { at: 12, name: 'f', global: true, params: [{ type: 'struct xdp_md *' }] }],
    asm: `${XDP_PKT}r7 = r2\nr6 = r2\nr6 += 1\nif r6 > r3 goto +4\ncall pc+5\nr0 = *(u8 *)(r7 + 0)\nr0 = 2\nexit\nr0 = 2\nexit\nr2 = 0\ncall bpf_xdp_adjust_head\nr0 = 0\nexit`,
    expect: "R7 invalid mem access 'scalar'",
  },
);

/** r0 = bpf_task_from_pid(1): an acquired, NULL-able task reference. */
const TASK_FROM_PID = 'r1 = 1\ncall bpf_task_from_pid#0\n';

/** kfunc calls: availability per program type, argument types, references acquired and released. */
CASES.push(
  { name: 'kfunc: acquire, check and release a task', section: 'tp/syscalls/sys_enter_getpid', asm: `${TASK_FROM_PID}if r0 == 0 goto +2\nr1 = r0\ncall bpf_task_release#0\nr0 = 0\nexit`, expect: 'accept' },
  { name: 'kfunc: acquired task never released', section: 'tp/syscalls/sys_enter_getpid', asm: `${TASK_FROM_PID}r0 = 0\nexit`, expect: 'BPF_EXIT instruction in main prog would lead to reference leak' },
  { name: 'kfunc: NULL-able result released unchecked', section: 'tp/syscalls/sys_enter_getpid', asm: `${TASK_FROM_PID}r1 = r0\ncall bpf_task_release#0\nr0 = 0\nexit`, expect: 'Possibly NULL pointer passed to trusted arg0' },
  { name: 'kfunc: not available to socket filters', section: 'socket', asm: `${TASK_FROM_PID}r0 = 0\nexit`, expect: 'calling kernel function bpf_task_from_pid is not allowed' },
  { name: 'kfunc: release of a pointer never acquired', section: 'tp/syscalls/sys_enter_getpid', asm: 'call bpf_get_current_task_btf\nr1 = r0\ncall bpf_task_release#0\nr0 = 0\nexit', expect: 'release kernel function bpf_task_release expects refcounted PTR_TO_BTF_ID' },
  { name: 'kfunc: a scalar passed as a task', section: 'tp/syscalls/sys_enter_getpid', asm: 'r1 = 0\ncall bpf_task_release#0\nr0 = 0\nexit', expect: 'Possibly NULL pointer passed to trusted arg0' },
  { name: 'kfunc: the stack passed as a task', section: 'tp/syscalls/sys_enter_getpid', asm: 'r1 = r10\ncall bpf_task_release#0\nr0 = 0\nexit', expect: 'arg#0 pointer type STRUCT task_struct must point to scalar, or struct with scalar' },
  { name: 'kfunc: a released task is no longer a pointer', section: 'tp/syscalls/sys_enter_getpid', asm: `${TASK_FROM_PID}if r0 == 0 goto +4\nr6 = r0\nr1 = r0\ncall bpf_task_release#0\nr0 = *(u32 *)(r6 + 0)\nr0 = 0\nexit`, expect: "R6 invalid mem access 'scalar'" },
  { name: 'kfunc: acquire from a trusted task', section: 'tp/syscalls/sys_enter_getpid', asm: 'call bpf_get_current_task_btf\nr1 = r0\ncall bpf_task_acquire#0\nif r0 == 0 goto +2\nr1 = r0\ncall bpf_task_release#0\nr0 = 0\nexit', expect: 'accept' },
  { name: 'kfunc: a scalar argument given a pointer', section: 'tp/syscalls/sys_enter_getpid', asm: 'r1 = r10\ncall bpf_task_from_pid#0\nr0 = 0\nexit', expect: 'R1 is not a scalar' },
  {
    name: 'kfunc: a bpf_cpumask passed where a cpumask is expected',
    section: 'tp/syscalls/sys_enter_getpid',
    asm: 'call bpf_cpumask_create#0\nif r0 == 0 goto +7\nr6 = r0\nr1 = 0\nr2 = r6\ncall bpf_cpumask_set_cpu#0\nr1 = r6\ncall bpf_cpumask_release#0\nr0 = 0\nexit',
    expect: 'accept',
  },
);

/** Byte offset of a member of a struct in the running kernel's BTF, and the struct's size (undefined without kernel BTF). */
function kernelMember(struct: string, member: string): { offset: number; size: number } | undefined {
  if (!existsSync('/sys/kernel/btf/vmlinux')) return undefined;
  const type = loadKernelBtf().findByName(struct, 'struct')[0];
  const m = type?.kind === 'struct' ? type.members.find((k) => k.name === member) : undefined;
  return type?.kind === 'struct' && m ? { offset: m.bitOffset / 8, size: type.size } : undefined;
}

/** Tracing contexts typed by the target's BTF prototype, and walks through kernel structs (btf_ctx_access, btf_struct_access). */
const PID = kernelMember('task_struct', 'pid');
const REAL_PARENT = kernelMember('task_struct', 'real_parent');
const PARENT = kernelMember('task_struct', 'parent');
if (PID && REAL_PARENT && PARENT) {
  // sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
  const EXEC = 'tp_btf/sched_process_exec';
  CASES.push(
    { name: 'tp_btf: a struct pointer argument is a kernel object', section: EXEC, asm: `r1 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r1 + ${PID.offset})\nr0 = 0\nexit`, expect: 'accept' },
    { name: 'tp_btf: a scalar argument is no pointer', section: EXEC, asm: 'r1 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r1 + 0)\nr0 = 0\nexit', expect: "R1 invalid mem access 'scalar'" },
    { name: 'tp_btf: no argument past the prototype', section: EXEC, asm: 'r1 = *(u64 *)(r1 + 24)\nr0 = 0\nexit', expect: 'invalid bpf_context access off=24 size=8' },
    {
      name: 'tp_btf: read past the end of a kernel struct',
      section: EXEC,
      asm: `r1 = *(u64 *)(r1 + 0)\nr0 = *(u64 *)(r1 + ${PID.size})\nr0 = 0\nexit`,
      expect: `access beyond struct task_struct at off ${PID.size} size 8`,
    },
    {
      name: 'tp_btf: a pointer member the kernel does not list is readable',
      section: EXEC,
      asm: `r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + ${PARENT.offset})\nr0 = *(u32 *)(r1 + ${PID.offset})\nr0 = 0\nexit`,
      expect: 'accept',
    },
    {
      name: 'tp_btf: a pointer member the kernel does not list is untrusted',
      section: EXEC,
      asm: `r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + ${PARENT.offset})\ncall bpf_task_acquire#0\nif r0 == 0 goto +2\nr1 = r0\ncall bpf_task_release#0\nr0 = 0\nexit`,
      expect: 'R1 must be a rcu pointer',
    },
    {
      name: 'tp_btf: a pointer member the kernel lists as RCU may be acquired',
      section: EXEC,
      asm: `r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + ${REAL_PARENT.offset})\ncall bpf_task_acquire#0\nif r0 == 0 goto +2\nr1 = r0\ncall bpf_task_release#0\nr0 = 0\nexit`,
      expect: 'accept',
    },
    {
      name: 'tp_btf: an __rcu pointer member the kernel lists is not NULL',
      section: EXEC,
      asm: `r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + ${REAL_PARENT.offset})\nr0 = *(u32 *)(r1 + ${PID.offset})\nr0 = 0\nexit`,
      expect: 'accept',
    },
    {
      name: 'tp_btf: half of a pointer member',
      section: EXEC,
      asm: `r1 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r1 + ${REAL_PARENT.offset})\nr0 = 0\nexit`,
      expect: `cannot access ptr member real_parent with moff ${REAL_PARENT.offset} in struct task_struct with off ${REAL_PARENT.offset} size 4`,
    },
    {
      name: 'tp_btf: variable offset into a kernel struct',
      section: EXEC,
      asm: 'r2 = *(u64 *)(r1 + 8)\nr1 = *(u64 *)(r1 + 0)\nr2 &= 8\nr1 += r2\nr0 = *(u32 *)(r1 + 0)\nr0 = 0\nexit',
      expect: 'R1 is ptr_task_struct invalid variable offset: off=0, var_off=(0x0; 0x8)',
    },
  );
}

/** may_goto loops: the looping path is explored one level deeper, and converges when it comes back within its ancestor. */
CASES.push(
  { name: 'may_goto: the simplest loop', section: 'xdp', asm: 'may_goto +1\ngoto -2\nr0 = 2\nexit', expect: 'accept' },
  { name: 'may_goto: a loop whose state settles', section: 'xdp', asm: 'r1 = 0\nmay_goto +2\nr1 = 5\ngoto -3\nr0 = r1\nr0 &= 3\nexit', expect: 'accept' },
  {
    name: 'may_goto: the loop body is verified',
    section: 'xdp',
    asm: 'r1 = 0\nmay_goto +3\nr1 += 1\nr0 = *(u64 *)(r10 + 8)\ngoto -4\nr0 = 2\nexit',
    expect: 'invalid read from stack R10 off=8 size=8',
  },
);

/** kprobe contexts: any read inside pt_regs aligned to its size (kprobe_prog_is_valid_access), whatever the register widths. */
CASES.push(
  { name: 'kprobe: 8-byte read of ss at offset 160', section: 'kprobe/do_nanosleep', asm: 'r0 = *(u64 *)(r1 + 160)\nr0 = 0\nexit', expect: 'accept' },
  { name: 'kprobe: read past pt_regs', section: 'kprobe/do_nanosleep', asm: 'r0 = *(u64 *)(r1 + 168)\nr0 = 0\nexit', expect: 'invalid bpf_context access off=168 size=8' },
  { name: 'kprobe: misaligned read', section: 'kprobe/do_nanosleep', asm: 'r0 = *(u32 *)(r1 + 2)\nr0 = 0\nexit', expect: 'invalid bpf_context access off=2 size=4' },
);

/**
 * Precision tracking: a value is safe on the path explored first and unsafe
 * on the other; both meet at a join whose stored state first holds it
 * imprecise. Only if the later use marks its sources precise back through
 * the instructions (ALU, spill and fill, calls, branches) does the second
 * path get explored instead of pruned, and rejected as in the kernel.
 * XDP's rx_queue_index (offset 16) picks the path; ingress_ifindex
 * (offset 12) is the value.
 */
const TWO_PATHS = `
r6 = *(u32 *)(r1 + 12)
r6 &= 7
r7 = *(u32 *)(r1 + 16)
r8 = 0
r8 += 1
r8 += 1
r8 += 1
if r7 > 5 goto +1
goto +1
r6 += 100
r9 = 0
if r8 == 3 goto +1
r9 = 1
`;
/** r0 = lookup(map 0, key 0); a NULL result returns (the jump lands on `r0 = 2` of the case's tail). */
const lookupOrReturn = (skip: number): string => `*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\nif r0 == 0 goto +${skip}\n`;
CASES.push(
  {
    name: 'precision: through a spill and a fill',
    section: 'xdp',
    maps: [array(64)],
    asm: `${TWO_PATHS}*(u64 *)(r10 - 16) = r6\n${lookupOrReturn(3)}r7 = *(u64 *)(r10 - 16)\nr0 += r7\nr0 = *(u8 *)(r0 + 56)\nr0 = 2\nexit`,
    expect: 'R0 min value is outside of the allowed memory range',
  },
  {
    name: 'precision: through ALU and a copy',
    section: 'xdp',
    maps: [array(64)],
    asm: `${TWO_PATHS}r7 = r6\nr7 <<= 2\nr7 += 3\n${lookupOrReturn(2)}r0 += r7\nr0 = *(u8 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: 'R0 min value is outside of the allowed memory range',
  },
  {
    name: 'precision: through a static function call and its return value',
    section: 'xdp',
    maps: [array(64)],
    asm: `${TWO_PATHS}r1 = r6\ncall pc+12\nr6 = r0\n${lookupOrReturn(2)}r0 += r6\nr0 = *(u8 *)(r0 + 0)\nr0 = 2\nexit\nr0 = r1\nr0 += 8\nexit`,
    expect: 'R0 min value is outside of the allowed memory range',
  },
  {
    name: 'precision: a branch the first path never takes',
    section: 'xdp',
    asm: `${TWO_PATHS}if r6 > 10 goto +2\nr0 = 2\nexit\nr0 = *(u64 *)(r10 + 8)\nexit`,
    expect: 'invalid read from stack R10 off=8 size=8',
  },
  {
    name: 'precision: a helper size argument',
    section: 'xdp',
    asm: `${TWO_PATHS}r2 = r6\nr2 += 1\nr1 = r10\nr1 += -16\nr3 = 0\ncall bpf_probe_read_kernel\nr0 = 2\nexit`,
    expect: 'invalid write to stack R1 off=-16 size=108',
  },
  {
    name: 'precision: the register linked to a checked one',
    section: 'xdp',
    maps: [array(64)],
    asm: `${TWO_PATHS}r7 = r6\nif r7 > 60 goto +9\n${lookupOrReturn(2)}r0 += r6\nr0 = *(u8 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: 'accept',
  },
  {
    name: 'precision: the register linked to a checked one, without the check',
    section: 'xdp',
    maps: [array(64)],
    asm: `${TWO_PATHS}r7 = r6\nif r7 > 160 goto +9\n${lookupOrReturn(2)}r0 += r6\nr0 = *(u8 *)(r0 + 0)\nr0 = 2\nexit`,
    expect: 'R0 min value is outside of the allowed memory range',
  },
  {
    name: 'precision: a may_goto loop whose counter nothing relies on converges',
    section: 'xdp',
    asm: 'r1 = 0\nr2 = 0\nmay_goto +3\nr1 += 1\nr2 += r1\ngoto -4\nr0 = 2\nexit',
    expect: 'accept',
  },
  {
    name: 'precision: a may_goto loop indexing a map value with its checked counter',
    section: 'xdp',
    maps: [array(64)],
    asm: `${lookupOrReturn(1)}goto +2\nr0 = 2\nexit\nr6 = r0\nr7 = 0\nr8 = 0\nmay_goto +7\nif r7 > 63 goto +6\nr1 = r6\nr1 += r7\nr2 = *(u8 *)(r1 + 0)\nr8 += r2\nr7 += 1\ngoto -8\nr0 = 2\nexit`,
    expect: 'accept',
  },
);

// bpf_loop calls its callback at most nr_loops times: the kernel verifies each count of calls up to R1's umax (its
// callback_depth), so a callback's effect is exact for a small constant and never happens for 0.
const LOOP_CALLBACK_FUNCTIONS = (callbackAt: number): CaseFunction[] => [
  XDP_MAIN,
  { at: callbackAt, name: 'cb', returns: 'u64', params: [{ type: 'u64' }, { type: 'u64 *' }] },
];
const COUNTING_LOOP = (loops: number, expected: number): string =>
  `*(u64 *)(r10 - 8) = 0\nr1 = ${loops}\nr2 = func(pc+10) ll\nr3 = r10\nr3 += -8\nr4 = 0\ncall bpf_loop\nr1 = *(u64 *)(r10 - 8)\nif r1 <= ${expected} goto +1\nr0 /= 0\nr0 = 2\nexit\n` +
  'r1 = *(u64 *)(r2 + 0)\nr1 += 1\n*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit';
CASES.push(
  {
    name: 'bpf_loop: a callback counting calls runs at most nr_loops times',
    section: 'xdp',
    asm: COUNTING_LOOP(3, 3),
    functions: LOOP_CALLBACK_FUNCTIONS(13),
    expect: 'accept',
  },
  {
    name: 'bpf_loop: a callback counting calls, one more call than the check allows',
    section: 'xdp',
    asm: COUNTING_LOOP(3, 2),
    functions: LOOP_CALLBACK_FUNCTIONS(13),
    expect: 'div by zero',
  },
  {
    // The kernel's selftest iter_limit_bug: the first call sets a, the second b, and only then is c still 7. A state in
    // the second call, with no call left after it, must not stand for one in the first (func_states_equal's callback_depth).
    name: 'bpf_loop: a state of a later call does not prune one of an earlier call (BPF_F_TEST_STATE_FREQ)',
    section: 'xdp',
    programFlags: ProgramFlags.TEST_STATE_FREQ,
    asm: `*(u64 *)(r10 - 8) = 7\n*(u64 *)(r10 - 16) = 7\n*(u64 *)(r10 - 24) = 7\nr1 = 2\nr2 = func(pc+14) ll\nr3 = r10\nr3 += -24\nr4 = 0\ncall bpf_loop
r1 = *(u64 *)(r10 - 24)\nif r1 != 42 goto out\nr1 = *(u64 *)(r10 - 16)\nif r1 != 42 goto out\nr1 = *(u64 *)(r10 - 8)\nif r1 != 7 goto out\nr1 /= 0\nout:\nr0 = 2\nexit
r9 = r2\ncall bpf_get_prandom_u32\nr1 = r0\nr2 = 42\nr0 = 0\nif r1 == 1 goto one\nif r1 == 2 goto two\n*(u64 *)(r9 + 16) = r2\nexit\none:\n*(u64 *)(r9 + 0) = r2\nexit\ntwo:\n*(u64 *)(r9 + 8) = r2\nexit`,
    functions: LOOP_CALLBACK_FUNCTIONS(19),
    expect: 'div by zero',
  },
  {
    name: 'bpf_loop: a callback nr_loops 0 never calls is not verified from there',
    section: 'xdp',
    asm: 'r1 = 0\nr2 = func(pc+6) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 2\nexit\nr0 = 0\nr0 /= 0\nexit',
    functions: LOOP_CALLBACK_FUNCTIONS(8),
    expect: 'accept',
  },
  {
    name: 'bpf_loop: the same callback called once is verified',
    section: 'xdp',
    asm: 'r1 = 1\nr2 = func(pc+6) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 2\nexit\nr0 = 0\nr0 /= 0\nexit',
    functions: LOOP_CALLBACK_FUNCTIONS(8),
    expect: 'div by zero',
  },
);

// bpf_fastcall: clang spills the caller-saved registers a bpf_fastcall helper keeps around its call; the kernel
// inlines the call and removes the pairs after verification, so their stack no longer counts toward the 512 bytes a
// call chain may use. Only for a helper it inlines, and only while nothing else touches those slots.
const FASTCALL_CHAIN = (callee: string): string =>
  `r1 = 42\n*(u64 *)(r10 - 512) = r1\ncall pc+2\nr0 = 0\nexit\n*(u64 *)(r10 - 8) = r1\n${callee}\nr0 = 0\nexit`;
CASES.push(
  {
    name: 'bpf_fastcall: the spill and fill around an inlined helper do not count toward the call chain stack',
    section: 'raw_tp',
    asm: FASTCALL_CHAIN('call bpf_get_smp_processor_id\nr1 = *(u64 *)(r10 - 8)'),
    expect: 'accept',
  },
  {
    name: 'bpf_fastcall: a helper the kernel does not inline keeps its spill slot',
    section: 'raw_tp',
    asm: FASTCALL_CHAIN('call bpf_get_prandom_u32\nr1 = *(u64 *)(r10 - 8)'),
    expect: 'combined stack size of 2 calls is 528. Too large',
  },
  {
    name: 'bpf_fastcall: another read of the spill slot keeps it',
    section: 'raw_tp',
    asm: FASTCALL_CHAIN('call bpf_get_smp_processor_id\nr1 = *(u64 *)(r10 - 8)\nr2 = *(u64 *)(r10 - 8)'),
    expect: 'combined stack size of 2 calls is 528. Too large',
  },
  {
    name: 'bpf_fastcall: a register the helper returns in is no fastcall spill',
    section: 'raw_tp',
    asm: 'r1 = 42\n*(u64 *)(r10 - 512) = r1\ncall pc+2\nr0 = 0\nexit\nr0 = 1\n*(u64 *)(r10 - 8) = r0\ncall bpf_get_smp_processor_id\nr0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit',
    expect: 'combined stack size of 2 calls is 528. Too large',
  },
);

// Found by review (each accepted by an earlier version, refused by the kernel): pruning must respect how many bpf_loop
// calls a state has left; a delta link's base id is mapped too; a sign-extending fill keeps a link only for values the
// extension leaves unchanged; a helper's or iterator's access to a bpf_fastcall slot keeps the spills; registers two
// compared ids collect twice, past the kernel's six.
const LOOP_LIMITS = (taken: number, other: number): string =>
  `*(u64 *)(r10 - 8) = 0\ncall bpf_get_prandom_u32\nr1 = ${other}\nif r0 > 5 goto +1\nr1 = ${taken}\nr2 = func(pc+10) ll\nr3 = r10\nr3 += -8\nr4 = 0\ncall bpf_loop\n` +
  'r1 = *(u64 *)(r10 - 8)\nif r1 <= 1 goto +1\nr0 /= 0\nr0 = 2\nexit\nr1 = *(u64 *)(r2 + 0)\nr1 += 1\n*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit';
const FASTCALL_SUBPROG_WITH = (access: string): string =>
  `r1 = 42\n*(u64 *)(r10 - 512) = r1\ncall pc+2\nr0 = 0\nexit\n*(u64 *)(r10 - 8) = r1\ncall bpf_get_smp_processor_id\nr1 = *(u64 *)(r10 - 8)\n${access}r0 = 0\nexit`;
CASES.push(
  {
    name: 'bpf_loop: a state with fewer calls left does not prune one with more (BPF_F_TEST_STATE_FREQ)',
    section: 'xdp',
    programFlags: ProgramFlags.TEST_STATE_FREQ,
    asm: LOOP_LIMITS(3, 1),
    functions: LOOP_CALLBACK_FUNCTIONS(16),
    expect: 'div by zero',
  },
  {
    name: 'bpf_loop: a state with more calls left prunes one with fewer (BPF_F_TEST_STATE_FREQ)',
    section: 'xdp',
    programFlags: ProgramFlags.TEST_STATE_FREQ,
    asm: LOOP_LIMITS(1, 1),
    functions: LOOP_CALLBACK_FUNCTIONS(16),
    expect: 'accept',
  },
  {
    name: 'linked scalars: two paths whose deltas hang off different registers do not prune each other',
    section: 'socket',
    maps: [array(64)],
    asm: `${LOOKUP_TO_R9}call bpf_get_prandom_u32\nr6 = r0\ncall bpf_get_prandom_u32\nr7 = r0\ncall bpf_get_prandom_u32\nif r0 > 100 goto alt\nr8 = r6\nr8 += 5\ngoto join\nalt:\nr8 = r7\nr8 += 5\njoin:\nif r6 > 10 goto out\nr9 += r8\n${READ_R9}`,
    expect: 'math between map_value pointer and register with unbounded min value is not allowed',
  },
  {
    name: 'linked scalars: an s8 fill of an 8-bit value is not linked to it (the extension changes 128-255)',
    section: 'socket',
    maps: [array(128)],
    asm: `${RANDOM_TO_R6}r6 &= 0xff\n*(u64 *)(r10 - 16) = r6\nr1 = *(s8 *)(r10 - 16)\nif r1 s< 0 goto neg\ngoto out\nneg:\n${LOOKUP_TO_R9}r6 += 128\nr9 += r6\n${READ_R9}`,
    expect: 'R9 min value is outside of the allowed memory range',
  },
  {
    name: 'linked scalars: a delta is no pointer offset (r6 - 2^31 bounded through its link indexes a value)',
    section: 'socket',
    maps: [array(128)],
    asm: `${RANDOM_TO_R6}r6 <<= 32\nr6 >>= 32\n*(u64 *)(r10 - 16) = r6\nr1 = *(s32 *)(r10 - 16)\nif r1 s< 0 goto neg\ngoto out\nneg:\n${LOOKUP_TO_R9}r6 += 0x80000000\nif r6 > 10 goto out\nr9 += r6\n${READ_R9}`,
    expect: 'accept',
  },
  {
    name: 'linked scalars: compared registers of one id are collected twice, and those past six lose their link',
    section: 'socket',
    maps: [array(64)],
    asm: `${LOOKUP_TO_R9}${RANDOM_TO_R6}r6 &= 0xff\nr7 = r6\nr7 += 1\nr8 = r6\nr5 = r6\nr4 = r6\nif r7 > r6 goto next\nnext:\nif r6 > 10 goto out\nr9 += r8\nr9 += r4\nr9 += r5\n${READ_R9}`,
    expect: 'R9 max value is outside of the allowed memory range',
  },
  {
    name: 'bpf_fastcall: a helper writing the spill slot keeps it',
    section: 'raw_tp',
    asm: FASTCALL_SUBPROG_WITH('r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\ncall bpf_probe_read_kernel\n'),
    expect: 'combined stack size of 2 calls is 528. Too large',
  },
  {
    name: 'bpf_fastcall: an iterator created in the spill slot keeps it',
    section: 'raw_tp',
    asm: FASTCALL_SUBPROG_WITH('r1 = r10\nr1 += -8\nr2 = 0\nr3 = 10\ncall bpf_iter_num_new#0\nr1 = r10\nr1 += -8\ncall bpf_iter_num_destroy#0\n'),
    expect: 'combined stack size of 2 calls is 528. Too large',
  },
);

// What the kernel checks before it looks at the control flow or any state.
CASES.push(
  { name: 'callx (0x8d) is not in the kernel\'s instruction table', section: 'xdp', asm: '.insn 0x8d,0,0,0,0\nr0 = 2\nexit', expect: 'unknown opcode 8d' },
  { name: 'a 32-bit exit (0x96) is not in the kernel\'s instruction table', section: 'xdp', asm: '.insn 0x96,0,0,0,0\nr0 = 2\nexit', expect: 'unknown opcode 96' },
  { name: 'a jump into the second half of an ld_imm64 names the ld_imm64', section: 'xdp', asm: 'r0 = 2\nif r0 == 0 goto +1\nr1 = 0 ll\nexit', expect: 'jump into the middle of ldimm64 insn 2' },
  {
    // bpf_map_is_rdonly: read-only and frozen; the string must also be at a constant offset.
    name: 'a constant string at a variable offset of frozen read-only data',
    section: 'xdp',
    maps: [{ type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 1, flags: 0x80, rodata: new TextEncoder().encode('abcdefg\0abcdefg\0') }],
    asm: `r6 = r1\n${LOOKUP}if r0 == 0 goto out\nr3 = *(u32 *)(r6 + 12)\nr3 &= 7\nr3 += r0\n*(u64 *)(r10 - 16) = 0\nr1 = r10\nr1 += -16\nr2 = 8\ncall bpf_strncmp\nout:\nr0 = 2\nexit`,
    expect: "R3 is not a constant address'",
  },
);

// Unprivileged loads (no CAP_BPF/CAP_PERFMON) may not let a pointer's value reach a map, a helper, the return value or a
// comparison, nor use variable stack offsets (allow_ptr_leaks, bypass_spec_v1). This machine's kernel refuses such loads
// altogether (kernel.unprivileged_bpf_disabled=2), so these are checked by tsbpf only, with the kernel's words.
const UNPRIVILEGED_SKIP = 'unprivileged loads are disabled on this kernel (kernel.unprivileged_bpf_disabled=2)';
CASES.push(
  { name: 'unprivileged: a stack pointer returned', section: 'socket', unprivileged: true, kernelSkip: UNPRIVILEGED_SKIP, asm: 'r0 = r10\nexit', expect: 'R0 leaks addr as return value' },
  {
    name: 'unprivileged: a stack pointer stored into a map value',
    section: 'socket',
    unprivileged: true,
    kernelSkip: UNPRIVILEGED_SKIP,
    maps: [array()],
    asm: `${LOOKUP}if r0 == 0 goto +2\n*(u64 *)(r0 + 0) = r10\nr0 = 0\nexit`,
    expect: 'R10 leaks addr into map',
  },
  {
    name: 'unprivileged: a stack pointer added atomically into a map value',
    section: 'socket',
    unprivileged: true,
    kernelSkip: UNPRIVILEGED_SKIP,
    maps: [array()],
    asm: `${LOOKUP}if r0 == 0 goto +3\nr1 = r10\nlock *(u64 *)(r0 + 0) += r1\nr0 = 0\nexit`,
    expect: 'R1 leaks addr into mem',
  },
  {
    name: 'unprivileged: a stack pointer passed as a helper scalar',
    section: 'socket',
    unprivileged: true,
    kernelSkip: UNPRIVILEGED_SKIP,
    asm: 'r2 = r10\nr3 = r10\nr3 += -8\nr4 = 4\ncall bpf_skb_load_bytes\nr0 = 0\nexit',
    expect: 'R2 leaks addr into helper function',
  },
  { name: 'unprivileged: a pointer copied as 32 bits', section: 'socket', unprivileged: true, kernelSkip: UNPRIVILEGED_SKIP, asm: 'w0 = w10\nr0 = 0\nexit', expect: 'R10 partial copy of pointer' },
  { name: 'unprivileged: a pointer sign-extended', section: 'socket', unprivileged: true, kernelSkip: UNPRIVILEGED_SKIP, asm: 'r0 = (s32)r10\nr0 = 0\nexit', expect: 'R10 sign-extension part of pointer' },
  { name: 'unprivileged: a pointer compared with a scalar', section: 'socket', unprivileged: true, kernelSkip: UNPRIVILEGED_SKIP, asm: 'r1 = 0\nif r1 > r10 goto +0\nr0 = 0\nexit', expect: 'R10 pointer comparison prohibited' },
  { name: 'unprivileged: a pointer compared with a constant', section: 'socket', unprivileged: true, kernelSkip: UNPRIVILEGED_SKIP, asm: 'r1 = r10\nif r1 > 3 goto +0\nr0 = 0\nexit', expect: 'R1 pointer comparison prohibited' },
  {
    name: 'unprivileged: a variable stack offset',
    section: 'socket',
    unprivileged: true,
    kernelSkip: UNPRIVILEGED_SKIP,
    asm: 'r2 = *(u32 *)(r1 + 0)\nr2 &= 7\nr2 -= 16\nr2 += r10\nr0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit',
    expect: 'R2 variable stack access prohibited for !root, var_off=(0xfffffffffffffff0; 0x7) off=-16',
  },
  { name: 'unprivileged: part of a spilled pointer overwritten', section: 'socket', unprivileged: true, kernelSkip: UNPRIVILEGED_SKIP, asm: '*(u64 *)(r10 - 8) = r1\nr0 = 0\n*(u32 *)(r10 - 8) = r0\nexit', expect: 'attempt to corrupt spilled pointer on stack' },
  { name: 'unprivileged: a stack pointer moved above the frame', section: 'socket', unprivileged: true, kernelSkip: UNPRIVILEGED_SKIP, asm: 'r1 = r10\nr1 += 8\nr0 = 0\nexit', expect: 'R1 stack pointer arithmetic goes out of range, prohibited for pointer arithmetic' },
  {
    name: 'unprivileged: a map value pointer moved past the value',
    section: 'socket',
    unprivileged: true,
    kernelSkip: UNPRIVILEGED_SKIP,
    maps: [array()],
    asm: `${LOOKUP}if r0 == 0 goto +2\nr0 += 16\nr0 = 0\nexit`,
    expect: 'R0 pointer arithmetic of map value goes out of range, prohibited for !root',
  },
);

CASES.push({
  name: 'a kfunc tsbpf does not model is refused as such, naming it',
  section: 'tp/syscalls/sys_enter_getpid',
  asm: 'call bpf_rcu_read_lock#0\ncall bpf_rcu_read_unlock#0\nr0 = 0\nexit',
  expect: "kernel function calls (kfuncs) are not modelled by tsbpf's verifier yet (bpf_rcu_read_lock)",
  kernelSkip: "tsbpf's own refusal: the kernel verifies this kfunc (RCU read sections are not modelled, docs/verifier.md)",
});

// Found while writing a case for every message (each one differed from the kernel before).
const ITER_AT_FP16 = 'r1 = r10\nr1 += -16\nr2 = 0\nr3 = 10\ncall bpf_iter_num_new#0\n';
const ITER_AT_FP16_DESTROY = 'r1 = r10\nr1 += -16\ncall bpf_iter_num_destroy#0\n';
CASES.push(
  {
    name: "a helper reads an iterator's slots",
    section: 'tp/syscalls/sys_enter_getpid',
    maps: [hash()],
    asm: `${ITER_AT_FP16}r2 = r10\nr2 += -16\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\n${ITER_AT_FP16_DESTROY}r0 = 0\nexit`,
    expect: 'invalid read from stack R2 off -16+0 size 4',
  },
  {
    name: "a helper reads an iterator's slots at a variable offset",
    section: 'tp/syscalls/sys_enter_getpid',
    maps: [hash()],
    asm: `${ITER_AT_FP16}call bpf_get_prandom_u32\nr0 &= 8\nr2 = r10\nr2 += -16\nr2 += r0\nr1 = map_fd(0) ll\ncall bpf_map_lookup_elem\n${ITER_AT_FP16_DESTROY}r0 = 0\nexit`,
    expect: 'invalid read from stack R2 var_off (0x0; 0x8)+0 size 4',
  },
  { name: 'a call chain of nine frames, run', section: 'xdp', asm: `${'call pc+2\nr0 = 0\nexit\n'.repeat(8)}r0 = 0\nexit`, expect: 'the call stack of 9 frames is too deep' },
  {
    name: 'bpf_spin_lock at a variable offset, checked before the map',
    section: 'xdp',
    maps: [array()],
    asm: `r6 = r1\n${LOOKUP}if r0 == 0 goto +6\nr1 = *(u32 *)(r6 + 12)\nr1 &= 4\nr1 += r0\ncall bpf_spin_lock\nr0 = 2\nexit\nr0 = 2\nexit`,
    expect: "R1 doesn't have constant offset. bpf_spin_lock has to be at the constant offset",
  },
  {
    name: 'a direct value offset past the verifier bound',
    section: 'xdp',
    maps: [{ type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 1 }],
    asm: 'r1 = map_value(0)+536870912 ll\nr0 = 2\nexit',
    expect: 'direct value offset of 536870912 is not allowed',
  },
  { name: 'a pointer spilled in 4 bytes, privileged too', section: 'xdp', asm: '*(u32 *)(r10 - 8) = r1\nr0 = 2\nexit', expect: 'invalid size of register spill' },
  {
    name: 'a variable-offset read over an iterator',
    section: 'tp/syscalls/sys_enter_getpid',
    asm: `${ITER_AT_FP16}call bpf_get_prandom_u32\nr0 &= 8\nr2 = r10\nr2 += -16\nr2 += r0\nr0 = *(u8 *)(r2 + 0)\n${ITER_AT_FP16_DESTROY}r0 = 0\nexit`,
    expect: 'invalid read from stack R2 var_off (0x0; 0x8)+0 size 1',
  },
  {
    name: 'bpf_spin_lock on a map created without BTF',
    section: 'tc',
    maps: [array()],
    asm: `${LOOKUP}if r0 == 0 goto +3\nr1 = r0\ncall bpf_spin_lock\nr0 = 0\nexit`,
    expect: "map 'm0' has to have BTF in order to use bpf_spin_lock",
  },
  { name: 'a direct value address of a hash map', section: 'xdp', maps: [hash()], asm: 'r1 = map_value(0)+0 ll\nr0 = 2\nexit', expect: 'no direct value access support for this map type' },
  { name: 'a direct value address of an array of four', section: 'xdp', maps: [array()], asm: 'r1 = map_value(0)+0 ll\nr0 = 2\nexit', expect: 'invalid access to map value pointer, value_size=16 off=0' },
  {
    name: 'a direct value address past the value',
    section: 'xdp',
    maps: [{ type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 1 }],
    asm: 'r1 = map_value(0)+16 ll\nr0 = 2\nexit',
    expect: 'invalid access to map value pointer, value_size=16 off=16',
  },
);

CASES.push({
  // Upstream's selftest ld_abs_callback_reject. This kernel (6.18.44) reports a verifier bug here instead, one later
  // kernels fix by refusing LD_ABS/LD_IND anywhere under a callback, as tsbpf does.
  name: 'LD_ABS inside a bpf_loop callback',
  section: 'socket',
  asm: '*(u64 *)(r10 - 8) = r1\nr1 = 1\nr2 = func(pc+7) ll\nr3 = r10\nr3 += -8\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit\nr6 = *(u64 *)(r2 + 0)\nr0 = *(u32 *)skb[0]\nr0 = 0\nexit',
  functions: [
    { at: 0, name: 'prog', global: true, params: [{ type: 'struct __sk_buff *' }] },
    { at: 10, name: 'cb', returns: 'u64', params: [{ type: 'u64' }, { type: 'u64 *' }] },
  ],
  expect: 'cannot use BPF_LD_[ABS|IND] within callback',
  kernelSkip: "this kernel reports 'verifier bug: callback unexpected regs 1' here, a bug later kernels fix (upstream selftest ld_abs_callback_reject)",
});
