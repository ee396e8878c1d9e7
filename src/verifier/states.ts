/**
 * Per-instruction states as data: what `VerifyOptions.collectStates` returns.
 * Each time a path reaches an instruction, the state before it is copied
 * into plain objects (registers and stack slots in the log's notation plus
 * the numbers behind them), so a viewer can show every path that reached an
 * instruction without parsing the log.
 */
import { formatReg, regTypeName } from './log.ts';
import { type Frame, RegType, SLOT_CHAR, Slot, type VerifierState } from './state.ts';
import { scalarConstValue, scalarIsConst, scalarSminExact, scalarSmaxExact, scalarUminExact, scalarUmaxExact } from './scalar.ts';

export interface RegisterState {
  regno: number;
  /** The kernel's type name (`scalar`, `ctx`, `pkt`, `map_value_or_null`...). */
  type: string;
  /** The register as the kernel's log prints it (`pkt(off=14,r=34)`, `scalar(umax=255,var_off=(0x0; 0xff))`). */
  text: string;
  /** A scalar's known value (signed, decimal), when it is a constant. */
  value?: string;
  /** Bounds of a scalar or of a pointer's variable offset, as decimal strings. */
  smin: string;
  smax: string;
  umin: string;
  umax: string;
}

export interface StackSlotState {
  /** Offset from the frame pointer of the slot's lowest byte (-8, -16...). */
  offset: number;
  /** One character per byte, lowest address first as the log prints them: `m` data, `0` zero, `r` spilled register, `?` unwritten. */
  kinds: string;
  /** The spilled register, when the slot holds one. */
  spilled?: RegisterState;
}

export interface FrameState {
  frameno: number;
  /** Instruction of the call that created the frame, -1 for the main program. */
  callsite: number;
  registers: RegisterState[];
  stack: StackSlotState[];
}

/** The state of one path on arrival at an instruction. */
export interface PathState {
  /** The instruction the path came from (-1 for the program's entry). */
  from: number;
  frames: FrameState[];
  /** Ids of the references the path holds (ringbuf reservations, sockets). */
  references: number[];
}

export interface InstructionStates {
  insnIndex: number;
  /** Every arrival, in the order the verifier explored them (at most `limit`). */
  paths: PathState[];
  /** Arrivals not kept once the per-instruction limit (or MAX_COLLECTED_STATES in all) was reached. */
  dropped: number;
}

function registerState(regno: number, reg: Frame['regs'][number], frameno: number): RegisterState {
  const v = reg.v;
  return {
    regno,
    type: regTypeName(reg.type),
    text: formatReg(reg, frameno),
    ...(reg.type === RegType.SCALAR && scalarIsConst(v) ? { value: BigInt.asIntN(64, scalarConstValue(v)!).toString() } : {}),
    smin: scalarSminExact(v).toString(),
    smax: scalarSmaxExact(v).toString(),
    umin: scalarUminExact(v).toString(),
    umax: scalarUmaxExact(v).toString(),
  };
}

function frameState(frame: Frame): FrameState {
  const registers: RegisterState[] = [];
  frame.regs.forEach((reg, regno) => {
    if (reg.type !== RegType.NOT_INIT) registers.push(registerState(regno, reg, frame.frameno));
  });
  const stack: StackSlotState[] = [];
  frame.stack.forEach((slot, spi) => {
    if (slot === undefined || slot.types.every((t) => t === Slot.INVALID)) return;
    const kinds = slot.types.map((t) => SLOT_CHAR[t]).join('');
    stack.push({ offset: -(spi + 1) * 8, kinds, ...(slot.spilled !== undefined && slot.types[7] === Slot.SPILL ? { spilled: registerState(-1, slot.spilled, frame.frameno) } : {}) });
  });
  return { frameno: frame.frameno, callsite: frame.callsite, registers, stack };
}

/** Most path states kept in all, whatever the per-instruction limit: a copy is a few hundred bytes. */
export const MAX_COLLECTED_STATES = 100_000;

/** Collects the state of every arrival at every instruction, keeping at most `limit` per instruction and MAX_COLLECTED_STATES in all. */
export class StateCollector {
  private readonly byInsn = new Map<number, InstructionStates>();
  private kept = 0;

  constructor(private readonly limit: number) {}

  readonly record = (insnIdx: number, state: VerifierState): void => {
    let entry = this.byInsn.get(insnIdx);
    if (entry === undefined) {
      entry = { insnIndex: insnIdx, paths: [], dropped: 0 };
      this.byInsn.set(insnIdx, entry);
    }
    if (entry.paths.length >= this.limit || this.kept >= MAX_COLLECTED_STATES) {
      entry.dropped++;
      return;
    }
    this.kept++;
    entry.paths.push({ from: state.prevInsnIdx, frames: state.frames.map(frameState), references: state.refs.map((r) => r.id) });
  };

  /** The collected states, by instruction index ascending. */
  result(): InstructionStates[] {
    return [...this.byInsn.values()].sort((a, b) => a.insnIndex - b.insnIndex);
  }
}
