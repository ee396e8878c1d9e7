/**
 * Verifier cases for the models of src/verifier/iter.ts, dynptr.ts and the
 * kfunc argument kinds, plus the subprogram-return and sockmap-value rules:
 * each expectation is the Linux kernel's (kernel-agreement.test.ts loads
 * them into the running kernel through cases.ts).
 */
import { MapType } from '../../src/uapi/index.ts';
import type { VerifierCase } from './cases.ts';

const ringbuf = { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 };
/** An arena of 2 pages (BPF_F_MMAPABLE), mapped at a fixed user address. */
const arena = { type: MapType.ARENA, keySize: 0, valueSize: 0, maxEntries: 2, flags: 1 << 10, mapExtra: 1n << 44n };
const sockmap = { type: MapType.SOCKMAP, keySize: 4, valueSize: 4, maxEntries: 4 };

/** r0 = bpf_sk_lookup_tcp(ctx in r1, zeroed IPv4 tuple at fp-16, current netns), r6 = ctx. */
const SK_LOOKUP = `
r6 = r1
*(u64 *)(r10 - 16) = 0
*(u32 *)(r10 - 8) = 0
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
call bpf_sk_lookup_tcp
`;

/** bpf_map_update_elem(map 0, key 0 at fp-20, value in r7, 0). */
const SOCKMAP_UPDATE_R7 = `
*(u32 *)(r10 - 20) = 0
r1 = map_fd(0) ll
r2 = r10
r2 += -20
r3 = r7
r4 = 0
call bpf_map_update_elem
`;

/** An iterator over [0, 10) at fp-8 (bpf_iter_num_new), then r1 = its address again. */
const NUM_NEW = 'r1 = r10\nr1 += -8\nr2 = 0\nr3 = 10\ncall bpf_iter_num_new#0\n';
const NUM_NEXT = 'r1 = r10\nr1 += -8\ncall bpf_iter_num_next#0\n';
const NUM_DESTROY = 'r1 = r10\nr1 += -8\ncall bpf_iter_num_destroy#0\n';
/** A bpf_for loop: `BODY` runs with r0 pointing at the element (4 read-only bytes); `after` runs once drained. */
const numLoop = (body: string, after = ''): string => {
  const lines = body.split('\n').filter((l) => l !== '');
  return `${NUM_NEW}${NUM_NEXT}if r0 == 0 goto +${lines.length + 1}\n${lines.join('\n')}${lines.length ? '\n' : ''}goto -${lines.length + 5}\n${after}${NUM_DESTROY}r0 = 0\nexit`;
};
const ITER = 'tp/syscalls/sys_enter_getpid';

/** A ringbuf dynptr of 8 bytes at fp-16 (bpf_ringbuf_reserve_dynptr on map 0). */
const RESERVE = 'r1 = map_fd(0) ll\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -16\ncall bpf_ringbuf_reserve_dynptr\n';
/** bpf_dynptr_write(fp-16, 0, 8 zero bytes at fp-24, 8, 0). */
const WRITE = '*(u64 *)(r10 - 24) = 0\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -24\nr4 = 8\nr5 = 0\ncall bpf_dynptr_write\n';
const SUBMIT = 'r1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\n';
/** A local dynptr at fp-16 over the 8-byte value of array map 0 at index 0 (bpf_dynptr_from_mem). */
const FROM_MEM = '*(u32 *)(r10 - 4) = 0\nr1 = map_fd(0) ll\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nr1 = r0\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -16\ncall bpf_dynptr_from_mem\n';
const array = { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 };
/** bpf_dynptr_read(4 bytes into fp-32, 4, fp-16, 0, 0). */
const READ = 'r1 = r10\nr1 += -32\nr2 = 4\nr3 = r10\nr3 += -16\nr4 = 0\nr5 = 0\ncall bpf_dynptr_read\n';

/** An xdp dynptr at fp-16 over the packet (ctx kept in r6), then an 8-byte slice of it at offset 0 in r0 (buffer fp-32). */
const FROM_XDP = 'r6 = r1\nr2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_xdp#0\n';
const SLICE = 'r1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -32\nr4 = 8\ncall bpf_dynptr_slice#0\n';

export const MODEL_CASES: VerifierCase[] = [
  // check_resource_leak (Linux 6.18): gen_ld_abs may end the program at run time, so nothing may be held there.
  {
    name: 'references: LD_ABS while holding a socket reference',
    section: 'tc',
    asm: `${SK_LOOKUP}r7 = r0\nr0 = *(u8 *)skb[0]\nif r7 == 0 goto +2\nr1 = r7\ncall bpf_sk_release\nr0 = 0\nexit`,
    expect: 'BPF_LD_[ABS|IND] would lead to reference leak',
  },
  // raw_tp_writable_prog_is_valid_access: the first argument is the writable tracepoint buffer; the context itself is read-only.
  { name: 'raw_tp.w: the tracepoint buffer is writable', section: 'raw_tp.w', asm: 'r6 = *(u64 *)(r1 + 0)\nr7 = 4242\n*(u64 *)(r6 + 8) = r7\nr0 = 0\nexit', expect: 'accept' },
  { name: 'raw_tp.w: the context is not', section: 'raw_tp.w', asm: 'r0 = 0\n*(u64 *)(r1 + 8) = r0\nexit', expect: 'invalid bpf_context access off=8 size=8' },
  { name: 'raw_tp.w: the buffer pointer is read whole', section: 'raw_tp.w', asm: 'r6 = *(u32 *)(r1 + 0)\nr0 = 0\nexit', expect: 'invalid bpf_context access off=0 size=4' },
  {
    name: 'raw_tp.w: a variable offset into the buffer',
    section: 'raw_tp.w',
    asm: 'r6 = *(u64 *)(r1 + 0)\nr0 = *(u64 *)(r1 + 8)\nr0 &= 0xff\nr6 += r0\nr7 = 4242\n*(u64 *)(r6 + 0) = r7\nr0 = 0\nexit',
    expect: 'R6 invalid variable buffer offset: off=0, var_off=(0x0; 0xff)',
  },
  // --- subprogram return (prepare_func_exit copies R0 to the caller whatever it holds)
  { name: 'a void subprogram leaves R0 unset', section: 'xdp', asm: 'call pc+2\nr0 = 2\nexit\nr1 = 1\nexit', expect: 'accept' },
  { name: "the caller reads a void subprogram's R0", section: 'xdp', asm: 'call pc+1\nexit\nr1 = 1\nexit', expect: 'R0 !read_ok' },
  // --- sockmap and sockhash values are sockets (resolve_map_arg_type)
  {
    name: 'sockmap: update with a looked-up socket',
    section: 'tc',
    maps: [sockmap],
    asm: `${SK_LOOKUP}if r0 == 0 goto +11\nr7 = r0\n${SOCKMAP_UPDATE_R7}r1 = r7\ncall bpf_sk_release\nr0 = 0\nexit`,
    expect: 'accept',
  },
  {
    name: 'sockmap: update with a stack value',
    section: 'tc',
    maps: [sockmap],
    asm: `r7 = r10\nr7 += -8\n*(u64 *)(r10 - 8) = 0\n${SOCKMAP_UPDATE_R7}r0 = 0\nexit`,
    expect: 'R3 type=fp expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_',
  },
  {
    name: 'sockmap: a socket not checked for NULL',
    section: 'tc',
    maps: [sockmap],
    asm: `${SK_LOOKUP}r7 = r0\n${SOCKMAP_UPDATE_R7}r0 = 0\nexit`,
    expect: 'R3 type=sock_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_',
  },
  {
    name: 'sockmap: peek takes no socket',
    section: 'tc',
    maps: [sockmap],
    asm: 'r1 = map_fd(0) ll\nr2 = r10\nr2 += -8\nr3 = 0\ncall bpf_map_peek_elem\nr0 = 0\nexit',
    expect: 'invalid arg_type for sockmap/sockhash',
  },

  // --- open-coded iterators (iter.ts)
  { name: 'iter: bpf_for reading each element', section: ITER, asm: numLoop('r0 = *(u32 *)(r0 + 0)'), expect: 'accept' },
  { name: 'iter: a counter converges', section: ITER, asm: `r6 = 0\n${numLoop('r6 += 1')}`, expect: 'accept' },
  { name: 'iter: an element read past its 4 bytes', section: ITER, asm: numLoop('r0 = *(u32 *)(r0 + 4)'), expect: 'R0 min value is outside of the allowed memory range' },
  { name: 'iter: an element written', section: ITER, asm: numLoop('*(u32 *)(r0 + 0) = 1'), expect: 'R0 cannot write into rdonly_mem' },
  { name: 'iter: next used without its NULL check', section: ITER, asm: `${NUM_NEW}${NUM_NEXT}r0 = *(u32 *)(r0 + 0)\n${NUM_DESTROY}r0 = 0\nexit`, expect: "R0 invalid mem access 'scalar'" },
  { name: 'iter: never destroyed', section: ITER, asm: `${NUM_NEW}r0 = 0\nexit`, expect: 'BPF_EXIT instruction in main prog would lead to reference leak' },
  { name: 'iter: next on an uninitialised iterator', section: ITER, asm: `${NUM_NEXT}r0 = 0\nexit`, expect: 'expected an initialized iter_num as arg #0' },
  { name: 'iter: created twice', section: ITER, asm: `${NUM_NEW}${NUM_NEW}r0 = 0\nexit`, expect: 'expected uninitialized iter_num as arg #0' },
  { name: 'iter: destroyed twice', section: ITER, asm: `${NUM_NEW}${NUM_DESTROY}${NUM_DESTROY}r0 = 0\nexit`, expect: 'expected an initialized iter_num as arg #0' },
  { name: 'iter: NULL for the iterator', section: ITER, asm: 'r1 = 0\nr2 = 0\nr3 = 10\ncall bpf_iter_num_new#0\nr0 = 0\nexit', expect: 'Possibly NULL pointer passed to trusted arg0' },
  { name: 'iter: not on the stack', section: ITER, asm: 'r1 = 1\nr2 = 0\nr3 = 10\ncall bpf_iter_num_new#0\nr0 = 0\nexit', expect: 'arg#0 expected pointer to an iterator on stack' },
  { name: 'iter: at a misaligned offset', section: ITER, asm: 'r1 = r10\nr1 += -12\nr2 = 0\nr3 = 10\ncall bpf_iter_num_new#0\nr0 = 0\nexit', expect: 'expected uninitialized iter_num as arg #0' },
  { name: 'iter: next at a misaligned offset', section: ITER, asm: `${NUM_NEW}r1 = r10\nr1 += -4\ncall bpf_iter_num_next#0\nr0 = 0\nexit`, expect: 'expected an initialized iter_num as arg #0' },
  { name: 'iter: overwritten by a store', section: ITER, asm: `${NUM_NEW}*(u64 *)(r10 - 8) = 0\n${NUM_DESTROY}r0 = 0\nexit`, expect: 'expected an initialized iter_num as arg #0' },
  { name: 'iter: its slot read as data', section: ITER, asm: `${NUM_NEW}r0 = *(u64 *)(r10 - 8)\n${NUM_DESTROY}r0 = 0\nexit`, expect: 'invalid read from stack off -8+0 size 8' },
  {
    name: 'iter: an element kept past destroy',
    section: ITER,
    asm: `${NUM_NEW}${NUM_NEXT}if r0 == 0 goto +6\nr6 = r0\n${NUM_DESTROY}r0 = *(u32 *)(r6 + 0)\nexit\n${NUM_DESTROY}r0 = 0\nexit`,
    expect: "R6 invalid mem access 'scalar'",
  },
  {
    name: 'iter: the second iteration is verified too',
    section: ITER,
    asm: `r7 = r10\n${numLoop('r0 = *(u64 *)(r7 - 16)\nr7 = 0')}`,
    expect: "R7 invalid mem access 'scalar'",
  },

  // --- dynptrs (dynptr.ts)
  { name: 'dynptr: ringbuf reserve, write, submit', section: 'xdp', maps: [ringbuf], asm: `${RESERVE}${WRITE}${SUBMIT}r0 = 2\nexit`, expect: 'accept' },
  { name: 'dynptr: ringbuf reservation never submitted', section: 'xdp', maps: [ringbuf], asm: `${RESERVE}r0 = 2\nexit`, expect: 'BPF_EXIT instruction in main prog would lead to reference leak' },
  { name: 'dynptr: submitted twice', section: 'xdp', maps: [ringbuf], asm: `${RESERVE}${SUBMIT}${SUBMIT}r0 = 2\nexit`, expect: 'arg 1 is an unacquired reference' },
  { name: 'dynptr: a ringbuf dynptr overwritten', section: 'xdp', maps: [ringbuf], asm: `${RESERVE}*(u64 *)(r10 - 8) = 0\n${SUBMIT}r0 = 2\nexit`, expect: 'cannot overwrite referenced dynptr' },
  { name: 'dynptr: local dynptr over stack memory', section: 'xdp', asm: '*(u64 *)(r10 - 24) = 0\nr1 = r10\nr1 += -24\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -16\ncall bpf_dynptr_from_mem\nr0 = 2\nexit', expect: 'Unsupported reg type fp for bpf_dynptr_from_mem data' },
  { name: 'dynptr: local dynptr over a map value, read', section: 'xdp', maps: [array], asm: `${FROM_MEM}${READ}r0 = 2\nexit`, expect: 'accept' },
  { name: 'dynptr: read from an uninitialised dynptr', section: 'xdp', asm: `${READ}r0 = 2\nexit`, expect: 'Expected an initialized dynptr as arg #2' },
  { name: 'dynptr: a local dynptr submitted', section: 'xdp', maps: [array], asm: `${FROM_MEM}${SUBMIT}r0 = 2\nexit`, expect: 'arg 1 is an unacquired reference' },
  { name: 'dynptr: a local dynptr overwritten is gone', section: 'xdp', maps: [array], asm: `${FROM_MEM}*(u64 *)(r10 - 16) = 0\n${READ}r0 = 2\nexit`, expect: 'Expected an initialized dynptr as arg #2' },
  { name: 'dynptr: at a misaligned offset', section: 'xdp', maps: [ringbuf], asm: 'r1 = map_fd(0) ll\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -20\ncall bpf_ringbuf_reserve_dynptr\nr0 = 2\nexit', expect: 'Dynptr has to be an uninitialized dynptr' },
  { name: 'dynptr: not on the stack', section: 'xdp', asm: `r1 = r10\nr1 += -32\nr2 = 4\nr3 = 1\nr4 = 0\nr5 = 0\ncall bpf_dynptr_read\nr0 = 2\nexit`, expect: 'R3 type=scalar expected=fp, dynptr_ptr' },

  // --- kfunc dynptrs and memory/size pairs
  { name: 'dynptr kfunc: an xdp slice read', section: 'xdp', asm: `${FROM_XDP}${SLICE}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`, expect: 'accept' },
  { name: 'dynptr kfunc: a slice read past its size', section: 'xdp', asm: `${FROM_XDP}${SLICE}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 8)\nr0 = 2\nexit`, expect: 'R0 min value is outside of the allowed memory range' },
  { name: 'dynptr kfunc: a slice without its NULL check', section: 'xdp', asm: `${FROM_XDP}${SLICE}r0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit`, expect: "R0 invalid mem access 'rdonly_mem_or_null'" },
  {
    name: 'dynptr kfunc: a slice size that is not constant',
    section: 'xdp',
    asm: `${FROM_XDP}call bpf_get_prandom_u32\nr4 = r0\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -32\ncall bpf_dynptr_slice#0\nr0 = 2\nexit`,
    expect: 'arg#2 arg#3 memory, len pair leads to invalid memory access',
  },
  {
    name: 'dynptr kfunc: a pointer as the slice size',
    section: 'xdp',
    asm: `${FROM_XDP}r1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -32\nr4 = *(u32 *)(r6 + 0)\ncall bpf_dynptr_slice#0\nr0 = 2\nexit`,
    expect: 'arg#2 pointer type UNKNOWN  must point to scalar, or struct with scalar',
  },
  {
    name: 'dynptr kfunc: a slice too big for its buffer',
    section: 'xdp',
    asm: `${FROM_XDP}r1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -32\nr4 = 64\ncall bpf_dynptr_slice#0\nr0 = 2\nexit`,
    expect: 'arg#2 arg#3 memory, len pair leads to invalid memory access',
  },
  { name: 'dynptr kfunc: a number as the slice buffer', section: 'xdp', asm: `${FROM_XDP}r1 = r10\nr1 += -16\nr2 = 0\nr3 = 5\nr4 = 8\ncall bpf_dynptr_slice#0\nr0 = 2\nexit`, expect: 'arg#2 arg#3 memory, len pair leads to invalid memory access' },
  { name: 'dynptr kfunc: a slice with no buffer (__opt)', section: 'xdp', asm: `${FROM_XDP}r1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\nr4 = 8\ncall bpf_dynptr_slice#0\nr0 = 2\nexit`, expect: 'accept' },
  {
    name: 'dynptr kfunc: an xdp slice after bpf_xdp_adjust_head',
    section: 'xdp',
    asm: `${FROM_XDP}${SLICE}if r0 == 0 goto +5\nr7 = r0\nr1 = r6\nr2 = 0\ncall bpf_xdp_adjust_head\nr0 = *(u64 *)(r7 + 0)\nr0 = 2\nexit`,
    expect: "R7 invalid mem access 'scalar'",
  },
  { name: 'dynptr kfunc: from_xdp given the stack', section: 'xdp', asm: 'r1 = r10\nr2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_xdp#0\nr0 = 2\nexit', expect: 'arg#0 expected pointer to ctx, but got fp' },
  { name: 'dynptr kfunc: from_xdp in a socket filter', section: 'socket', asm: `${FROM_XDP}r0 = 0\nexit`, expect: 'calling kernel function bpf_dynptr_from_xdp is not allowed' },
  { name: 'dynptr kfunc: size of a ringbuf dynptr', section: 'xdp', maps: [ringbuf], asm: `${RESERVE}r1 = r10\nr1 += -16\ncall bpf_dynptr_size#0\n${SUBMIT}r0 = 2\nexit`, expect: 'accept' },
  { name: 'dynptr kfunc: size of an uninitialised dynptr', section: 'xdp', asm: 'r1 = r10\nr1 += -16\ncall bpf_dynptr_size#0\nr0 = 2\nexit', expect: 'Expected an initialized dynptr as arg #0' },
  { name: 'dynptr kfunc: a ringbuf dynptr cloned, the clone submitted', section: 'xdp', maps: [ringbuf], asm: `${RESERVE}r1 = r10\nr1 += -16\nr2 = r10\nr2 += -48\ncall bpf_dynptr_clone#0\nr1 = r10\nr1 += -48\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr0 = 2\nexit`, expect: 'accept' },

  { name: 'dynptr kfunc: a scalar for the dynptr', section: 'xdp', asm: 'r1 = 1\ncall bpf_dynptr_size#0\nr0 = 2\nexit', expect: 'arg#0 expected pointer to stack or const struct bpf_dynptr' },
  {
    name: 'dynptr kfunc: a writable slice in a socket filter',
    section: 'socket',
    asm: 'r2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_skb#0\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\nr4 = 8\ncall bpf_dynptr_slice_rdwr#0\nr0 = 0\nexit',
    expect: 'the prog does not allow writes to packet data',
    // This machine's 6.18.44 build refuses bpf_dynptr_slice_rdwr in every program type and for every dynptr kind
    // (tc and xdp included), a restriction of that build, as its refusal of ARENA maps is.
    kernelAlso: ['bpf_dynptr_slice_rdwr() is not allowed'],
  },
  { name: 'dynptr kfunc: from_skb given a modified context', section: 'tc', asm: 'r1 += 8\nr2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_skb#0\nr0 = 0\nexit', expect: 'dereference of modified ctx ptr R1 off=8 disallowed' },
  {
    name: 'dynptr kfunc: a bounded but unknown slice size',
    section: 'xdp',
    asm: `${FROM_XDP}call bpf_get_prandom_u32\nr4 = r0\nr4 &= 7\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -32\ncall bpf_dynptr_slice#0\nr0 = 2\nexit`,
    expect: 'R4 must be a known constant',
  },
  { name: 'dynptr kfunc: from_xdp given a context at a variable offset', section: 'xdp', asm: 'r6 = r1\ncall bpf_get_prandom_u32\nr0 &= 8\nr1 = r6\nr1 += r0\nr2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_xdp#0\nr0 = 2\nexit', expect: 'variable ctx access var_off=(0x0; 0x8) disallowed' },
  { name: 'iter: at a variable offset', section: ITER, asm: 'call bpf_get_prandom_u32\nr0 &= 8\nr1 = r10\nr1 += -16\nr1 += r0\nr2 = 0\nr3 = 10\ncall bpf_iter_num_new#0\nr0 = 0\nexit', expect: 'expected uninitialized iter_num as arg #0' },
  // --- arenas (arena.ts)
  { name: 'arena: a cast pointer reads and writes', section: 'xdp', maps: [arena], asm: 'r1 = map_fd(0) ll\nr2 = 0\nr2 = addr_space_cast(r2, 0, 1)\nr2 += 64\n*(u32 *)(r2 + 0) = 1\nr0 = *(u32 *)(r2 + 8)\nr0 = 2\nexit', expect: 'accept' },
  { name: 'arena: addr_space_cast without an arena', section: 'xdp', asm: 'r2 = 0\nr2 = addr_space_cast(r2, 0, 1)\nr0 = 2\nexit', expect: 'addr_space_cast insn can only be used in a program that has an associated arena' },
  { name: 'arena: a user address is a plain value', section: 'xdp', maps: [arena], asm: 'r1 = map_fd(0) ll\nr2 = 0\nr2 = addr_space_cast(r2, 1, 0)\nr0 = *(u32 *)(r2 + 0)\nr0 = 2\nexit', expect: "R2 invalid mem access 'scalar'" },
  {
    name: 'arena: pages allocated by a program that cannot sleep',
    section: 'xdp',
    maps: [arena],
    asm: 'r1 = map_fd(0) ll\nr2 = 0\nr3 = 1\nr4 = -1\nr5 = 0\ncall bpf_arena_alloc_pages#0\nr0 = 2\nexit',
    expect: 'program must be sleepable to call sleepable kfunc bpf_arena_alloc_pages',
  },

  { name: 'arena: a cast between other address spaces', section: 'xdp', maps: [arena], asm: 'r1 = map_fd(0) ll\nr2 = 0\nr2 = addr_space_cast(r2, 0, 2)\nr0 = 2\nexit', expect: 'addr_space_cast insn can only convert between address space 1 and 0' },
];
