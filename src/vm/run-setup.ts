import { TsbpfError } from '../errors.ts';
import { HelperError, VmOptionError } from './errors.ts';
import type { HelperCall, HelperEntry } from './helper-registry.ts';
import { MemoryAccessError, type Region, StackAccessError, type StackFrameInfo, type VmMemory } from './memory.ts';
import type { RunOptions } from './program.ts';

/**
 * The parts of a run that the interpreter and the JIT share: validating the
 * options, marshalling input memory and r1-r5, copying input memory back,
 * and calling a helper. Each engine keeps its own register file; both store
 * a register as two int32 halves, low half first.
 */

const TWO32 = 4294967296;

/**
 * Stores a register value as two int32 halves, low at `regs[index]`, high
 * at `regs[index + 1]`; false (nothing written) if `value` is a number that
 * is not a safe integer. Negative values are sign-extended.
 */
export function writeRegister(regs: Int32Array, index: number, value: number | bigint): boolean {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return false;
    regs[index] = value % TWO32;
    regs[index + 1] = Math.floor(value / TWO32);
  } else {
    const v = BigInt.asUintN(64, value);
    regs[index] = Number(v & 0xffffffffn);
    regs[index + 1] = Number(v >> 32n);
  }
  return true;
}

/** The run's instruction budget (0 = unlimited), or VmOptionError. */
export function runBudget(options: RunOptions, defaultBudget: number): number {
  const budget = options.budget ?? defaultBudget;
  if (!Number.isInteger(budget) || budget < 0) throw new VmOptionError(`invalid instruction budget ${budget}: a non-negative integer is needed (0 = unlimited)`);
  return budget;
}

/** Input memory (RunOptions.mem) copied into a region for the run; copied back by RunRegions.release. */
export interface RunInput {
  readonly region: Region;
  readonly target: Uint8Array;
}

/**
 * Marshals a run's arguments into `regs` (r1 at index `r1Index`, r2 at
 * `r1Index + 2`, ...): input memory as r1 = address, r2 = length (RunOptions.mem),
 * then the explicit r1-r5. Checks that the packet lies in mapped memory.
 * Everything is validated before input memory is allocated, so a throw
 * leaves nothing to release.
 */
export function marshalRunArguments(memory: VmMemory, options: RunOptions, regs: Int32Array, r1Index: number): RunInput | undefined {
  const packet = options.packet;
  if (packet !== undefined && packet.length > 0) memory.check(0, packet.start, packet.length, false, 0);
  const explicit = [options.r1, options.r2, options.r3, options.r4, options.r5];
  for (let r = 0; r < 5; r++) {
    const value = explicit[r];
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new VmOptionError(`r${r + 1} = ${value} is not a safe integer (pass a bigint)`);
  }
  let input: RunInput | undefined;
  if (options.mem !== undefined && options.mem.length > 0) {
    const region = memory.allocateRegion(options.mem.length, 'input', 'input memory', options.memWritable ?? true);
    memory.u8.set(options.mem, region.start);
    input = { region, target: options.mem };
    regs[r1Index] = region.start;
    regs[r1Index + 1] = 0;
    regs[r1Index + 2] = options.mem.length;
    regs[r1Index + 3] = 0;
  }
  for (let r = 0; r < 5; r++) {
    const value = explicit[r];
    if (value !== undefined) writeRegister(regs, r1Index + 2 * r, value);
  }
  return input;
}

/** The regions one run maps: its input memory and the accessible part of its stack. */
export class RunRegions {
  input: RunInput | undefined;
  /** The mapped part of the stack (the current frame and its callers). */
  stack: Region | undefined;

  constructor(private readonly memory: VmMemory) {}

  /** The last stack region mapped: mapped again for the same bounds, so that caches keyed by the region (the JIT's region table) hold. */
  private lastStack: Region | undefined;

  /** Maps [low, top) as the stack in place of the previous mapping (kept if it is the same). */
  mapStack(low: number, top: number): void {
    const current = this.stack;
    if (current !== undefined) {
      if (current.start === low && current.size === top - low) return;
      this.memory.unmap(current);
    }
    let region = this.lastStack;
    if (region === undefined || region.start !== low || region.size !== top - low) region = this.lastStack = { start: low, size: top - low, kind: 'stack', writable: true, name: 'stack' };
    this.stack = this.memory.map(region);
  }

  /** Ends the run (successful or not): input memory copied back into the caller's buffer and freed, the stack unmapped. */
  release(): void {
    const input = this.input;
    if (input !== undefined) {
      input.target.set(this.memory.u8.subarray(input.region.start, input.region.start + input.target.length));
      this.memory.freeRegion(input.region);
      this.input = undefined;
    }
    if (this.stack !== undefined) {
      this.memory.unmap(this.stack);
      this.stack = undefined;
    }
  }
}

/**
 * `error` as a StackAccessError naming `frame` when it is a fault at an
 * address of the run's stack allocation [base, base + bytes) (frames and
 * their guards) that no region held; anything else unchanged.
 */
export function describeStackFault(error: unknown, base: number, bytes: number, frame: StackFrameInfo): unknown {
  if (!(error instanceof MemoryAccessError) || error.region !== undefined || error instanceof StackAccessError) return error;
  if (error.address < BigInt(base) || error.address >= BigInt(base + bytes)) return error;
  return new StackAccessError(error.address, error.size, error.write, error.pc, frame);
}

/** Calls a helper or kfunc; anything it throws that is not a TsbpfError becomes a HelperError at `pc`. */
export function callHelper(entry: HelperEntry, call: HelperCall, pc: number): number | bigint | void {
  try {
    return entry.fn(call);
  } catch (err) {
    if (err instanceof TsbpfError) throw err;
    throw new HelperError(pc, entry.name, err);
  }
}
