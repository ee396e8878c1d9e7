/**
 * Verifier cases for the models of src/verifier/iter.ts, dynptr.ts and the
 * kfunc argument kinds, plus the subprogram-return and sockmap-value rules:
 * each expectation is the Linux kernel's (kernel-agreement.test.ts loads
 * them into the running kernel through cases.ts).
 */
import { MapType } from '../../src/uapi/index.ts';
import type { VerifierCase } from './cases.ts';

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

export const MODEL_CASES: VerifierCase[] = [
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
];
