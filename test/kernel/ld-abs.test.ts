import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instruction } from '../../src/isa/index.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { buildPacket, ethernet, ipv4, payload, udp } from '../../src/net/index.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { SKF_LL_OFF, SKF_NET_OFF } from '../../src/vm/program.ts';
import { VmProgram } from '../../src/vm/runtime.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from './support.ts';

checkNoKernelLeaks();

const insn = (opcode: number, dst: number, src: number, offset: number, imm: number): Instruction => ({ opcode, dst, src, offset, imm });
const SIZES = [
  { name: 'u8', abs: 0x30, ind: 0x50, bytes: 1 },
  { name: 'u16', abs: 0x28, ind: 0x48, bytes: 2 },
  { name: 'u32', abs: 0x20, ind: 0x40, bytes: 4 },
];
// Offsets around every boundary: skb->data, the network and link-layer headers (SKF_NET_OFF, SKF_LL_OFF), the tail, and below SKF_LL_OFF.
const OFFSETS = [0, 13, 14, 40, 59, 60, 63, 64, -1, -14, SKF_NET_OFF, SKF_NET_OFF + 9, SKF_NET_OFF + 44, SKF_NET_OFF + 46, SKF_NET_OFF + 50, SKF_NET_OFF - 1, SKF_LL_OFF, SKF_LL_OFF + 12, SKF_LL_OFF + 60, SKF_LL_OFF + 63, SKF_LL_OFF + 64, SKF_LL_OFF - 1, -0x7fffffff];

/** r0 = 1 + the load (LD_ABS, or LD_IND from r7 = `base`): 0 means the load failed and ended the program. */
function loader(opcode: number, offset: number, indirect: boolean, base: number): Instruction[] {
  const load = indirect ? insn(opcode, 0, 7, 0, (offset - base) | 0) : insn(opcode, 0, 0, 0, offset);
  return [insn(0xbf, 6, 1, 0, 0), insn(0xb7, 7, 0, 0, base), load, insn(0x07, 0, 0, 0, 1), insn(0x95, 0, 0, 0, 0)];
}

test('LD_ABS / LD_IND at SKF_NET_OFF and SKF_LL_OFF offsets: the VM (both engines) returns what BPF_PROG_TEST_RUN does, for socket filters and tc', { skip: skipWithoutKernel() }, () => {
  const frame = buildPacket(ethernet({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }), ipv4({ src: '10.1.2.3', dst: '10.4.5.6' }), udp({ sport: 1234, dport: 5678 }), payload(Uint8Array.from({ length: 22 }, (_, i) => i + 1)));
  let inBounds = 0;
  let failed = 0;
  for (const type of [ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS]) {
    for (const size of SIZES) {
      for (const offset of OFFSETS) {
        for (const indirect of [false, true]) {
          const program = loader(indirect ? size.ind : size.abs, offset, indirect, indirect ? 16 : 0);
          const kernel = KernelProgram.load({ type, instructions: program, name: 'ld_abs', license: 'GPL' });
          let expected: number;
          try {
            expected = kernel.run({ data: frame }).retval;
          } finally {
            kernel.close();
          }
          if (expected === 0) failed++;
          else inBounds++;
          for (const jit of [false, true]) {
            const vm = new VmProgram(type, program, { jit });
            const got = vm.run({ data: frame }).retval;
            vm.close();
            assert.equal(got, expected, `${type === ProgramType.SOCKET_FILTER ? 'socket filter' : 'tc'} ${indirect ? 'LD_IND' : 'LD_ABS'} ${size.name} at ${offset}, ${jit ? 'JIT' : 'interpreter'}`);
          }
        }
      }
    }
  }
  assert.ok(inBounds > 20 && failed > 20, `${inBounds} loads in bounds, ${failed} failed`);
});
