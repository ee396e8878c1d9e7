/**
 * Arenas (BPF_MAP_TYPE_ARENA): memory shared with user space that programs
 * reach through `addr_space_cast`. A cast from the user address space (1)
 * to the kernel's (0) gives an arena pointer, which the kernel lets any
 * access through (its fault handler catches bad addresses), and arithmetic
 * on an arena pointer keeps it one. Casts need a program that uses an arena.
 */
import { type Instruction, isLddw } from '../isa/index.ts';
import { MapType } from '../uapi/index.ts';
import { Rejection } from './errors.ts';
import { type Reg, RegType, type VerifierMap, pointerReg, unknownScalar } from './state.ts';
import { SCALAR_UNKNOWN } from './scalar.ts';

/** env->prog->aux->arena: some lddw of the program loads an arena map. */
export function programUsesArena(insns: readonly Instruction[], mapAt: (idx: number, insn: Instruction) => VerifierMap | undefined): boolean {
  for (let i = 0; i < insns.length; i++) {
    if (isLddw(insns[i]!) && mapAt(i, insns[i]!)?.spec.type === MapType.ARENA) return true;
  }
  return false;
}

/**
 * `rD = addr_space_cast(rS, dst_as, src_as)` (a 64-bit MOV with offset 1;
 * imm = dst_as << 16 | src_as, 1 or 1 << 16 as src/isa's validation makes sure).
 */
export function addrSpaceCast(idx: number, insn: Instruction, usesArena: boolean): Reg {
  if (!usesArena) throw new Rejection(idx, 'addr_space_cast insn can only be used in a program that has an associated arena', 'EINVAL');
  // as(1) to as(0) is a pointer into the arena; the other way gives the user address, a plain value.
  return insn.imm === 1 ? pointerReg(RegType.PTR_TO_ARENA, { v: SCALAR_UNKNOWN }) : unknownScalar();
}

/** adjust_reg_min_max_vals' first rule: an ALU operation with an arena pointer on either side gives an arena pointer. */
export function arenaAluResult(dst: Reg, src: Reg | undefined): Reg | undefined {
  if (dst.type === RegType.PTR_TO_ARENA) return dst;
  if (src !== undefined && src.type === RegType.PTR_TO_ARENA) return src;
  return undefined;
}
