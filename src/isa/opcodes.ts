/**
 * Opcode field values of the BPF instruction set (RFC 9669 §3-5 and the
 * kernel's include/uapi/linux/bpf_common.h + bpf.h extensions).
 *
 * An opcode byte is `class | op | source` for arithmetic and jumps and
 * `class | mode | size` for loads and stores.
 */

export const InsnClass = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;
export type InsnClass = (typeof InsnClass)[keyof typeof InsnClass];

export const Source = { K: 0x00, X: 0x08 } as const;
export type Source = (typeof Source)[keyof typeof Source];

export const AluOp = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;
export type AluOp = (typeof AluOp)[keyof typeof AluOp];

export const JmpOp = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
  /** Kernel extension: conditional pseudo-jump (may_goto). */
  JCOND: 0xe0,
} as const;
export type JmpOp = (typeof JmpOp)[keyof typeof JmpOp];

export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;
export type Size = (typeof Size)[keyof typeof Size];

export const Mode = {
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  MEMSX: 0x80,
  ATOMIC: 0xc0,
} as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

/** `imm` of a BPF_ATOMIC instruction. */
export const AtomicOp = {
  ADD: 0x00,
  OR: 0x40,
  AND: 0x50,
  XOR: 0xa0,
  FETCH: 0x01,
  XCHG: 0xe0 | 0x01,
  CMPXCHG: 0xf0 | 0x01,
  /** Kernel extension (6.15): load-acquire, `dst = smp_load_acquire(src + off)`. */
  LOAD_ACQ: 0x100,
  /** Kernel extension (6.15): store-release, `smp_store_release(dst + off, src)`. */
  STORE_REL: 0x110,
} as const;

/** `src` field of the two-slot `lddw` (BPF_LD | BPF_IMM | BPF_DW). */
export const LdImm64Src = {
  IMM64: 0,
  MAP_FD: 1,
  MAP_VALUE: 2,
  BTF_ID: 3,
  FUNC: 4,
  MAP_IDX: 5,
  MAP_IDX_VALUE: 6,
} as const;
export type LdImm64Src = (typeof LdImm64Src)[keyof typeof LdImm64Src];

/** `src` field of a call instruction. */
export const CallSrc = { HELPER: 0, LOCAL: 1, KFUNC: 2 } as const;
export type CallSrc = (typeof CallSrc)[keyof typeof CallSrc];

/** `src` of BPF_JMP | BPF_JCOND. */
export const JcondSrc = { MAY_GOTO: 0 } as const;

/** Byte-swap direction bit of BPF_END in the ALU class (the `source` bit). */
export const EndSource = { TO_LE: 0x00, TO_BE: 0x08 } as const;

export const CLASS_MASK = 0x07;
export const OP_MASK = 0xf0;
export const SOURCE_MASK = 0x08;
export const SIZE_MASK = 0x18;
export const MODE_MASK = 0xe0;

export const opClass = (opcode: number): InsnClass => (opcode & CLASS_MASK) as InsnClass;
export const aluOp = (opcode: number): AluOp => (opcode & OP_MASK) as AluOp;
export const jmpOp = (opcode: number): JmpOp => (opcode & OP_MASK) as JmpOp;
export const opSource = (opcode: number): Source => (opcode & SOURCE_MASK) as Source;
export const opSize = (opcode: number): Size => (opcode & SIZE_MASK) as Size;
export const opMode = (opcode: number): Mode => (opcode & MODE_MASK) as Mode;

export const isAluClass = (cls: number): boolean => cls === InsnClass.ALU || cls === InsnClass.ALU64;
export const isJmpClass = (cls: number): boolean => cls === InsnClass.JMP || cls === InsnClass.JMP32;
export const isLoadStoreClass = (cls: number): boolean => cls <= InsnClass.STX;

/** Bytes accessed by a load/store of the given size. */
export function sizeBytes(size: Size): 1 | 2 | 4 | 8 {
  switch (size) {
    case Size.B:
      return 1;
    case Size.H:
      return 2;
    case Size.W:
      return 4;
    default:
      return 8;
  }
}

export const OPCODE_LDDW = InsnClass.LD | Mode.IMM | Size.DW; // 0x18
export const OPCODE_CALL = InsnClass.JMP | JmpOp.CALL; // 0x85
export const OPCODE_CALLX = InsnClass.JMP | JmpOp.CALL | Source.X; // 0x8d
export const OPCODE_EXIT = InsnClass.JMP | JmpOp.EXIT; // 0x95
export const OPCODE_JA = InsnClass.JMP | JmpOp.JA; // 0x05
export const OPCODE_JA32 = InsnClass.JMP32 | JmpOp.JA; // 0x06 (gotol)
export const OPCODE_MAY_GOTO = InsnClass.JMP | JmpOp.JCOND; // 0xe5

/** Registers r0-r10; r10 is the read-only frame pointer. */
export const REG_COUNT = 11;
export const FRAME_POINTER = 10;
/** Bytes of one BPF stack frame. */
export const STACK_FRAME_SIZE = 512;
/** The kernel's limit on nested bpf-to-bpf call frames (MAX_CALL_FRAMES). */
export const MAX_CALL_FRAMES = 8;
/** The kernel's limit on chained tail calls (MAX_TAIL_CALL_CNT). */
export const MAX_TAIL_CALL_COUNT = 33;
/** Size in bytes of one instruction slot. */
export const INSN_SIZE = 8;
