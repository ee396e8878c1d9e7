// Checks the context access tables of src/uapi/program-types.ts against the
// running kernel's verifier: for each program type and context field, a
// full-width load (and a store) is offered to the verifier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutKernel } from '../support/env.ts';
import { CONTEXT_LAYOUTS, PROGRAM_TYPES, contextFieldAccessible } from '../../src/uapi/program-types.ts';
import { AttachType, ProgramType, programTypeName } from '../../src/uapi/enums.ts';
import { Size } from '../../src/isa/opcodes.ts';
import { exit, ldx, mov64Imm, stx } from '../../src/isa/instruction.ts';

/** Expected attach types to try per program type (undefined: none needed). */
const ATTACH: Partial<Record<number, (number | undefined)[]>> = {
  [ProgramType.XDP]: [undefined, AttachType.XDP_DEVMAP],
  [ProgramType.CGROUP_SOCK]: [AttachType.CGROUP_INET_SOCK_CREATE, AttachType.CGROUP_INET4_POST_BIND, AttachType.CGROUP_INET6_POST_BIND],
  [ProgramType.CGROUP_SOCK_ADDR]: [AttachType.CGROUP_UDP4_SENDMSG, AttachType.CGROUP_UDP6_SENDMSG, AttachType.CGROUP_INET4_BIND, AttachType.CGROUP_INET6_CONNECT, AttachType.CGROUP_UNIX_CONNECT],
  [ProgramType.SK_REUSEPORT]: [AttachType.SK_REUSEPORT_SELECT_OR_MIGRATE],
  [ProgramType.CGROUP_SOCKOPT]: [AttachType.CGROUP_SETSOCKOPT, AttachType.CGROUP_GETSOCKOPT],
  [ProgramType.SK_LOOKUP]: [AttachType.SK_LOOKUP],
  [ProgramType.NETFILTER]: [AttachType.NETFILTER],
  [ProgramType.CGROUP_SKB]: [AttachType.CGROUP_INET_EGRESS],
};
const SIZE: Record<number, Size> = { 1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW };

test('context field access matches the running kernel verifier', { skip: skipWithoutKernel() }, async () => {
  const { KernelProgram } = await import('../../src/kernel/program.ts');
  const accepts = (type: number, attach: number | undefined, insns: ReturnType<typeof mov64Imm>[]): boolean => {
    try {
      KernelProgram.load({ type, expectedAttachType: attach, instructions: [...insns, mov64Imm(0, 0), exit()] }).close();
      return true;
    } catch (error) {
      const log = (error as { log?: string }).log ?? '';
      assert.match(log, /invalid bpf_context access|cannot write|invalid access|R1 /, `${programTypeName(type)}: ${String(error)}`);
      return false;
    }
  };
  const mismatches: string[] = [];
  for (const spec of PROGRAM_TYPES) {
    if (!spec.access || !(spec.context in CONTEXT_LAYOUTS)) continue;
    const layout = CONTEXT_LAYOUTS[spec.context as keyof typeof CONTEXT_LAYOUTS];
    for (const attach of ATTACH[spec.type] ?? [undefined]) {
      for (const field of layout.fields) {
        const width = spec.access.exactSize?.[field.name] ?? (SIZE[field.size] !== undefined ? field.size : 4);
        const size = SIZE[width]!;
        const where = `${spec.name}${attach === undefined ? '' : ` (attach ${attach})`}`;
        const read = accepts(spec.type, attach, [ldx(size, 2, 1, field.offset)]);
        if (read !== contextFieldAccessible(spec, field.name, false, attach)) mismatches.push(`${where} read ${field.name}: kernel ${read}`);
        const write = accepts(spec.type, attach, [mov64Imm(2, 0), stx(size, 1, field.offset, 2)]);
        if (write !== contextFieldAccessible(spec, field.name, true, attach)) mismatches.push(`${where} write ${field.name}: kernel ${write}`);
        if (read && width > 1 && spec.access.exactSize?.[field.name] === undefined) {
          const narrow = accepts(spec.type, attach, [ldx(Size.B, 2, 1, field.offset)]);
          if (narrow !== spec.access.narrowReads.includes(field.name)) mismatches.push(`${where} 1-byte read of ${field.name}: kernel ${narrow}`);
        }
      }
    }
  }
  assert.equal(mismatches.length, 0, `${mismatches.length} mismatches:\n${mismatches.join('\n')}`);
});

test('return value ranges match the kernel verifier', { skip: skipWithoutKernel() }, async () => {
  const { KernelProgram } = await import('../../src/kernel/program.ts');
  const accepts = (type: number, attach: number | undefined, r0: number): boolean => {
    try {
      KernelProgram.load({ type, expectedAttachType: attach, instructions: [mov64Imm(0, r0), exit()] }).close();
      return true;
    } catch (error) {
      assert.match((error as { log?: string }).log ?? '', /R0/, `${programTypeName(type)} r0=${r0}: ${String(error)}`);
      return false;
    }
  };
  const mismatches: string[] = [];
  for (const spec of PROGRAM_TYPES) {
    if (!(spec.context in CONTEXT_LAYOUTS) || spec.type === ProgramType.LIRC_MODE2) continue;
    const attach = (ATTACH[spec.type] ?? [undefined])[0];
    const [lo, hi] = spec.returnRange ?? [-1000, 1000];
    for (const r0 of [lo, hi, hi + 1, lo - 1]) {
      const expected = r0 >= lo && r0 <= hi;
      if (spec.returnRange === undefined && (r0 === hi + 1 || r0 === lo - 1)) continue;
      if (accepts(spec.type, attach, r0) !== expected) mismatches.push(`${spec.name} (attach ${attach}) r0=${r0}: kernel ${!expected}`);
    }
  }
  assert.equal(mismatches.length, 0, `${mismatches.length} mismatches:\n${mismatches.join('\n')}`);
});
