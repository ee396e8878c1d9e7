import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { VmProgram, RunInputError } from '../../src/vm/runtime.ts';
import { ContextAccessError } from '../../src/vm/context.ts';
import { ProgramLoadError } from '../../src/vm/errors.ts';
import { UnsupportedHelperError } from '../../src/vm/helpers/index.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { buildPacket, ethernet, ipv4, ipv6, udp, tcp, payload, decodePacket } from '../../src/net/index.ts';
import { skipWithoutKernel } from '../support/env.ts';

/** XDP: drop non-IPv4, swap MACs and TX UDP, grow 8 bytes of metadata, push a 4-byte header on TCP and pass. */
const XDP_SOURCE = `
  r6 = r1
  r2 = *(u32 *)(r6 + 0)
  r3 = *(u32 *)(r6 + 4)
  r4 = r2
  r4 += 34
  if r4 > r3 goto drop
  r5 = *(u16 *)(r2 + 12)
  if r5 != 0x8 goto drop
  r5 = *(u8 *)(r2 + 23)
  if r5 == 17 goto swap
  r1 = r6
  r2 = -8
  call 54
  r1 = r6
  r2 = -4
  call 44
  if r0 != 0 goto drop
  r2 = *(u32 *)(r6 + 0)
  r3 = *(u32 *)(r6 + 4)
  r4 = r2
  r4 += 4
  if r4 > r3 goto drop
  *(u32 *)(r2 + 0) = 0x11223344
  r0 = 2
  exit
swap:
  r4 = *(u32 *)(r2 + 0)
  r5 = *(u16 *)(r2 + 4)
  r7 = *(u32 *)(r2 + 6)
  r8 = *(u16 *)(r2 + 10)
  *(u32 *)(r2 + 0) = r7
  *(u16 *)(r2 + 4) = r8
  *(u32 *)(r2 + 6) = r4
  *(u16 *)(r2 + 10) = r5
  r0 = 3
  exit
drop:
  r0 = 1
  exit`;

/** tc: read len, protocol and mark; set mark and cb[0]; load bytes; rewrite the IPv4 TTL with l3_csum_replace. */
const TC_SOURCE = `
  r6 = r1
  r7 = *(u32 *)(r6 + 0)
  r8 = *(u32 *)(r6 + 16)
  *(u32 *)(r6 + 8) = r7
  *(u32 *)(r6 + 48) = r8
  r1 = r6
  r2 = 22
  r3 = r10
  r3 += -4
  r4 = 2
  call 26
  if r0 != 0 goto out
  r9 = *(u16 *)(r10 - 4)
  r1 = r9
  r1 += -1
  *(u16 *)(r10 - 8) = r1
  r1 = r6
  r2 = 22
  r3 = r10
  r3 += -8
  r4 = 2
  r5 = 0
  call 9
  r1 = r6
  r2 = 24
  r3 = r9
  r4 = *(u16 *)(r10 - 8)
  r5 = 2
  call 10
out:
  r0 = r7
  r0 <<= 8
  r0 |= 2
  exit`;

/** Socket filter: the length seen at L3 and the first byte of the network header via skb_load_bytes. */
const SOCKET_SOURCE = `
  r6 = r1
  r7 = *(u32 *)(r6 + 0)
  r1 = r6
  r2 = 0
  r3 = r10
  r3 += -8
  r4 = 1
  call 26
  r0 = *(u8 *)(r10 - 8)
  r0 <<= 16
  r0 |= r7
  exit`;

const packets = [
  buildPacket(ethernet(), ipv4({ ttl: 9 }), udp({ dport: 53 }), payload('abc')),
  buildPacket(ethernet({ dst: 'ff:ff:ff:ff:ff:ff' }), ipv4({ ttl: 64 }), tcp({ dport: 80 }), payload(10)),
  buildPacket(ethernet(), ipv6(), udp(), payload(4)),
  buildPacket(ethernet({ dst: '00:00:00:00:00:00' }), ipv4({ ttl: 1 }), udp(), payload(1)),
];

test('XDP in the VM: packet pointers from xdp_md, adjust_head/meta, output data and ctx', () => {
  const program = new VmProgram(ProgramType.XDP, assemble(XDP_SOURCE), { name: 'xdp' });
  const udpResult = program.run({ data: packets[0] });
  assert.equal(udpResult.retval, 3);
  assert.deepEqual(udpResult.data!.subarray(0, 6), packets[0]!.subarray(6, 12));
  const tcpResult = program.run({ data: packets[1], ctx: new Uint8Array(24).fill(0, 0).map((_, i) => (i === 4 ? packets[1]!.length : 0)) });
  assert.equal(tcpResult.retval, 2);
  assert.equal(tcpResult.data!.length, 8 + 4 + packets[1]!.length, 'output starts at data_meta');
  assert.deepEqual([...tcpResult.data!.subarray(8, 12)], [0x44, 0x33, 0x22, 0x11]);
  const ctx = new DataView(tcpResult.ctx!.buffer);
  assert.deepEqual([ctx.getUint32(0, true), ctx.getUint32(4, true), ctx.getUint32(8, true), ctx.getUint32(12, true)], [8, 8 + 4 + packets[1]!.length, 0, 1]);
  assert.equal(program.run({ data: packets[2] }).retval, 1);
  assert.equal(program.run({ data: packets[0], repeat: 10 }).retval, 3);
  for (const repeat of [-1, 1.5, Number.NaN, 2 ** 32, 2 ** 40]) {
    assert.throws(() => program.run({ data: packets[0], repeat }), (e: unknown) => e instanceof RunInputError && /repeat must be a non-negative integer|is more than 2\^32-1 \(BPF_PROG_TEST_RUN's __u32\)/.test(e.message), String(repeat));
  }
});

test('clear errors: truncated packet, wrong context size, invalid context access, unavailable helper', () => {
  const program = new VmProgram(ProgramType.XDP, assemble(XDP_SOURCE));
  assert.throws(() => program.run({ data: new Uint8Array(10) }), (e: unknown) => e instanceof RunInputError && /10 bytes, shorter than an Ethernet header/.test(e.message));
  assert.throws(() => program.run({ data: packets[0], ctx: new Uint8Array(32).fill(1) }), /larger than struct xdp_md \(24 bytes\)/);
  assert.throws(() => program.run({ data: packets[0], ctx: new Uint8Array(24) }), /data_end is 0, but data is/);
  assert.throws(() => new VmProgram(ProgramType.XDP, assemble('r2 = 5\n*(u32 *)(r1 + 0) = r2\nr0 = 2\nexit')), (e: unknown) => e instanceof ContextAccessError && e instanceof ProgramLoadError && /xdp_md->data is not writable by xdp programs/.test(e.message) && e.index === 1);
  assert.throws(() => new VmProgram(ProgramType.XDP, assemble('r6 = r1\nr6 += 24\nr0 = *(u32 *)(r6 + 0)\nexit')), /outside the 24-byte context/);
  assert.throws(() => new VmProgram(ProgramType.XDP, assemble('r0 = *(u16 *)(r1 + 0)\nexit')), /xdp_md->data must be read with a 4-byte load/);
  assert.throws(() => new VmProgram(ProgramType.SOCKET_FILTER, assemble('r0 = *(u32 *)(r1 + 76)\nexit')), /__sk_buff->data is not readable by socket_filter programs/);
  assert.throws(() => new VmProgram(ProgramType.KPROBE, assemble('r1 = 0\nr2 = 0\ncall 58\nr0 = 0\nexit')), (e: unknown) => e instanceof UnsupportedHelperError && /bpf_override_return \(helper 58, called at instruction 2\): it changes the return value of a probed kernel function/.test(e.message));
});

const kernelCases: [string, number, string][] = [
  ['xdp', ProgramType.XDP, XDP_SOURCE],
  ['tc', ProgramType.SCHED_CLS, TC_SOURCE],
  ['socket filter', ProgramType.SOCKET_FILTER, SOCKET_SOURCE],
];

for (const [label, type, source] of kernelCases) {
  test(`differential: ${label} program gives the kernel's return value, output packet and ctx`, { skip: skipWithoutKernel() }, () => {
    const instructions = assemble(source);
    const vm = new VmProgram(type, instructions, { name: label });
    const kernel = KernelProgram.load({ type, instructions, name: label.replace(' ', '_') });
    try {
      for (const [n, data] of packets.entries()) {
        const ctx = type === ProgramType.XDP ? undefined : new Uint8Array(192);
        if (ctx) new DataView(ctx.buffer).setUint32(8, 77, true); // mark in
        const fromVm = vm.run({ data, ctx });
        const fromKernel = kernel.run({ data, ctx });
        assert.equal(fromVm.retval, fromKernel.retval, `packet ${n}: return value`);
        assert.deepEqual(fromVm.data, fromKernel.data, `packet ${n}: output packet`);
        assert.deepEqual(fromVm.ctx, fromKernel.ctx, `packet ${n}: output ctx`);
        if (type === ProgramType.SCHED_CLS && data[13] === 0) assert.equal(decodePacket(fromVm.data!).ip!.checksumValid, true);
      }
    } finally {
      kernel.close();
    }
  });
}
