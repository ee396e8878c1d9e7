import { TsbpfError } from '../errors.ts';

/**
 * Errors of the VM execution engines (interpreter and JIT). Each names the
 * instruction index it concerns; memory faults are `MemoryAccessError` from
 * memory.ts.
 */

/** The message of something thrown by code outside tsbpf (a helper, the WebAssembly engine). */
export function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** A program the VM refuses to load; `index` is the offending instruction. */
export class ProgramLoadError extends TsbpfError {
  override name = 'ProgramLoadError';
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {
    super(`instruction ${index}: ${reason}`);
  }
}

export interface MissingFunction {
  /** Instruction index of the call. */
  readonly index: number;
  /** Helper id (call src=0) or BTF id (kfunc, call src=2). */
  readonly id: number;
  readonly kind: 'helper' | 'kfunc';
  /** Helper name from the kernel's enum bpf_func_id, when known. */
  readonly name: string | undefined;
}

/** The program calls helpers or kfuncs that the registry does not provide. */
export class UnknownHelperError extends TsbpfError {
  override name = 'UnknownHelperError';
  constructor(readonly missing: readonly MissingFunction[]) {
    const list = missing
      .map((m) => `${m.kind} ${m.id}${m.name !== undefined ? ` (bpf_${m.name})` : ''} called at instruction ${m.index}`)
      .join(', ');
    super(`program calls functions that are not registered: ${list}`);
  }
}

/** A bad option of a VM or a run (budget, initial registers, ...). */
export class VmOptionError extends TsbpfError {
  override name = 'VmOptionError';
}

/** A fault while running: a bad call, falling off the end, a misused instruction. */
export class VmRuntimeError extends TsbpfError {
  override name = 'VmRuntimeError';
  constructor(
    readonly pc: number,
    readonly reason: string,
  ) {
    super(`instruction ${pc}: ${reason}`);
  }
}

/** The run executed more instructions than its budget allows. */
export class BudgetExceededError extends VmRuntimeError {
  override name = 'BudgetExceededError';
  constructor(
    pc: number,
    readonly budget: number,
  ) {
    super(pc, `instruction budget of ${budget} exhausted (set RunOptions.budget, 0 = unlimited)`);
  }
}

/** A bpf-to-bpf call would exceed MAX_CALL_FRAMES. */
export class CallDepthError extends VmRuntimeError {
  override name = 'CallDepthError';
  constructor(
    pc: number,
    readonly frames: number,
    readonly limit: number,
  ) {
    super(pc, `the call stack of ${frames} frames is too deep (MAX_CALL_FRAMES is ${limit})`);
  }
}

/** A helper or kfunc implementation threw something that is not a TsbpfError. */
export class HelperError extends VmRuntimeError {
  override name = 'HelperError';
  constructor(
    pc: number,
    readonly helper: string,
    override readonly cause: unknown,
  ) {
    super(pc, `${helper} failed: ${describeCause(cause)}`);
  }
}

/**
 * A bpf-to-bpf call that would take its call chain's frames past the
 * kernel's MAX_BPF_STACK (512 bytes together): what the load-time check
 * cannot follow (recursion) is checked when the call runs, with the
 * kernel's message.
 */
export class StackLimitError extends VmRuntimeError {
  override name = 'StackLimitError';
  constructor(
    pc: number,
    readonly frames: number,
    readonly bytes: number,
  ) {
    super(pc, `combined stack size of ${frames} calls is ${bytes}. Too large (the frames of a call chain share 512 bytes)`);
  }
}
