/**
 * Random XDP programs for soundness fuzzing of the verifier, biased toward
 * what verifiers get wrong: pointer arithmetic with bounded and unbounded
 * scalars, packet bounds checks that are right, off by one or missing, map
 * values with and without null checks, stack accesses at every width and
 * offset, and branches that refine (or fail to refine) ranges on both
 * sides. Unlike the JIT fuzzer's programs these are often unsafe: the
 * verifier must reject those, and a program it accepts must never fault
 * when run (checked interpreter) and must be accepted by the kernel too.
 */
import {
  AluOp,
  type Instruction,
  JmpOp,
  LdImm64Src,
  Size,
  alu32Imm,
  alu64Imm,
  alu64Reg,
  callHelper,
  exit,
  jmpImm,
  jmpReg,
  lddw,
  ldx,
  mov64Imm,
  mov64Reg,
  st,
  stx,
} from '../../src/isa/index.ts';
import type { CollectionSpec, MapSpec } from '../../src/object/index.ts';
import { MapType, ProgramType, helperId } from '../../src/uapi/index.ts';
import { Rng } from '../jit/fuzz.ts';

export const FUZZ_MAP: MapSpec = {
  name: 'values',
  type: MapType.ARRAY,
  keySize: 4,
  valueSize: 32,
  maxEntries: 4,
  flags: 0,
  pinning: 'none',
  contents: [],
  readOnly: false,
  frozen: false,
  section: '.maps',
};

const SIZES = [Size.B, Size.H, Size.W, Size.DW] as const;
const SCALARS = [0, 1, 2, 3, 4, 5];
const ALU_OPS = [AluOp.ADD, AluOp.SUB, AluOp.AND, AluOp.OR, AluOp.LSH, AluOp.RSH, AluOp.MUL, AluOp.XOR, AluOp.ARSH];
const CMP_OPS = [JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JEQ, JmpOp.JNE, JmpOp.JSGT, JmpOp.JSLT, JmpOp.JSGE, JmpOp.JSLE, JmpOp.JSET];

/**
 * Register roles: r6 = ctx, r7 = packet data, r8 = data_end, r9 = a map
 * value or NULL, r10 = frame; r0-r5 hold scalars and derived pointers.
 */
export function soundnessProgram(seed: number): Instruction[] {
  const rng = new Rng(seed);
  const out: Instruction[] = [
    mov64Reg(6, 1),
    ldx(Size.W, 7, 6, 0),
    ldx(Size.W, 8, 6, 4),
    st(Size.W, 10, -4, rng.below(6)),
    mov64Reg(2, 10),
    alu64Imm(AluOp.ADD, 2, -4),
    ...lddw(1, 0, LdImm64Src.MAP_FD),
    callHelper(helperId('map_lookup_elem')),
    mov64Reg(9, 0),
  ];
  if (rng.chance(0.95)) out.push(jmpImm(JmpOp.JNE, 9, 0, 2), mov64Imm(0, 2), exit());
  for (const r of SCALARS) out.push(mov64Imm(r, rng.below(8)));
  const body = 3 + rng.below(10);
  for (let n = 0; n < body; n++) out.push(...fragment(rng));
  out.push(mov64Imm(0, 2), exit());
  return out;
}

/** Forward-only pieces, each self-contained so jumps stay inside the program. */
function fragment(rng: Rng): Instruction[] {
  const s = rng.pick(SCALARS);
  const t = rng.pick(SCALARS.filter((r) => r !== s));
  switch (rng.below(12)) {
    case 0:
      return [mov64Imm(s, rng.chance(0.5) ? rng.below(64) - 8 : rng.next() | 0)];
    case 1:
      return [alu64Imm(rng.pick(ALU_OPS), s, rng.pick([0, 1, 3, 7, 8, 15, 31, 63, -1, 255]) || 1)];
    case 2:
      return [alu64Reg(rng.pick([AluOp.ADD, AluOp.SUB, AluOp.AND, AluOp.OR]), s, t)];
    case 3:
      return [alu32Imm(rng.pick([AluOp.ADD, AluOp.AND, AluOp.RSH, AluOp.MOV]), s, rng.below(40))];
    case 4: {
      // Read a scalar from the packet, with a bounds check that may be short.
      const need = rng.below(12);
      const check = need + rng.pick([0, 0, 0, 1, -1]);
      return [mov64Reg(s, 7), alu64Imm(AluOp.ADD, s, check), jmpReg(JmpOp.JGT, s, 8, 2), ldx(rng.pick(SIZES), t, 7, Math.max(0, need - 1)), mov64Imm(s, 0)];
    }
    case 5: {
      // Packet pointer plus a scalar, checked (or not) against data_end, then accessed.
      const off = rng.below(8);
      const len = rng.pick([1, 2, 4, 8]);
      const checked = rng.chance(0.85);
      const seq: Instruction[] = rng.chance(0.8) ? [alu64Imm(AluOp.AND, t, 15)] : [];
      seq.push(mov64Reg(s, 7), alu64Reg(AluOp.ADD, s, t), mov64Reg(0, s), alu64Imm(AluOp.ADD, 0, off + len + (rng.chance(0.2) ? -1 : 0)));
      if (checked) seq.push(jmpReg(JmpOp.JGT, 0, 8, 1));
      seq.push(ldx(sizeOf(len), 0, s, off));
      return seq;
    }
    case 6: {
      // Bound a scalar from one side or both, then use it as a map value index.
      const bound = rng.pick([7, 8, 15, 16, 24, 25, 31, 32]);
      const op = rng.pick([JmpOp.JGT, JmpOp.JGE, JmpOp.JSGT]);
      return [jmpImm(op, s, bound, 3), mov64Reg(t, 9), alu64Reg(AluOp.ADD, t, s), ldx(rng.pick(SIZES), t, t, 0)];
    }
    case 7:
      // A map value access at a constant offset (r9 may still be NULL).
      return [ldx(rng.pick(SIZES), s, 9, rng.chance(0.85) ? rng.below(25) : rng.below(40) - 4)];
    case 8:
      return [stx(rng.pick(SIZES), 9, s, rng.chance(0.85) ? rng.below(25) : rng.below(36))];
    case 9: {
      // Stack at a random offset and width, through r10 or a derived pointer.
      const off = -8 * (1 + rng.below(8)) + (rng.chance(0.1) ? rng.below(8) : 0);
      if (rng.chance(0.5)) return [stx(rng.pick(SIZES), 10, s, off)];
      return [mov64Reg(t, 10), alu64Reg(AluOp.ADD, t, s), ldx(Size.B, s, t, off)];
    }
    case 10:
      // A branch on a scalar that refines it on both sides.
      return [jmpImm(rng.pick(CMP_OPS), s, rng.pick([0, 1, 4, 8, 16, -1, 0x7fffffff]), 1), alu64Imm(AluOp.AND, s, rng.pick([7, 15, 0xff]))];
    default:
      return [jmpReg(rng.pick(CMP_OPS), s, t, 1), mov64Reg(s, t)];
  }
}

function sizeOf(bytes: number): Size {
  return bytes === 1 ? Size.B : bytes === 2 ? Size.H : bytes === 4 ? Size.W : Size.DW;
}

/** A one-program spec around `instructions`, with the fuzz map referenced by the lddw at slot 6. */
export function soundnessSpec(instructions: Instruction[]): CollectionSpec {
  const mapInsn = instructions.findIndex((i) => i.opcode === 0x18 && i.src === LdImm64Src.MAP_FD);
  return {
    programs: {
      fuzz: {
        name: 'fuzz',
        section: 'xdp',
        type: ProgramType.XDP,
        sleepable: false,
        programFlags: 0,
        instructions,
        functions: [{ name: 'fuzz', insnIndex: 0 }],
        relocations: [{ kind: 'map', insnIndex: mapInsn, mapName: FUZZ_MAP.name }],
        coreRelocations: [],
        funcInfo: [],
        lineInfo: [],
        license: 'GPL',
        kernelVersion: 0,
      },
    },
    maps: { [FUZZ_MAP.name]: FUZZ_MAP },
    variables: {},
    externs: {},
    byteOrder: 'little',
    license: 'GPL',
    kernelVersion: 0,
  };
}
