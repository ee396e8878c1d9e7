import { TsbpfError } from '../errors.ts';
import { helperById } from '../uapi/helpers.ts';
import type { VmMemory } from './memory.ts';
import type { LoadedProgram, StackChain } from './program.ts';

/** Argument registers of a call: r1-r5. */
export type ArgIndex = 1 | 2 | 3 | 4 | 5;

/**
 * What a helper or kfunc implementation sees of the running program. The
 * interpreter and the JIT both provide it, so one implementation serves
 * both engines.
 */
export interface HelperCall {
  /** The VM's address space; pointers in registers are offsets into it. */
  readonly memory: VmMemory;
  /** Index of the call instruction, for error messages. */
  readonly pc: number;
  /** The program making the call (after tail calls: the current one). */
  readonly program: LoadedProgram;
  /** `RunOptions.context`, passed through untouched (program-type context objects, test state...). */
  readonly context: unknown;
  /** The register as an unsigned number; throws if it is 2^53 or more (use argU64). */
  arg(n: ArgIndex): number;
  /** Low 32 bits, unsigned. */
  argU32(n: ArgIndex): number;
  /** Low 32 bits, signed (an `int` parameter). */
  argI32(n: ArgIndex): number;
  argU64(n: ArgIndex): bigint;
  argI64(n: ArgIndex): bigint;
  /**
   * The register as a pointer to `size` accessible bytes (writable ones if
   * `write`); throws MemoryAccessError naming the call's instruction otherwise.
   */
  pointer(n: ArgIndex, size: number, write: boolean): number;
  /** `pointer` as a view; valid until the memory grows (an allocation), so do not keep it. */
  bytes(n: ArgIndex, size: number, write: boolean): Uint8Array;
  /**
   * bpf_tail_call's mechanism: after this helper returns, execution continues
   * at the first instruction of `target` in the current stack frame (context
   * still in r1, frame reset). Returns false, changing nothing, once the run
   * has made MAX_TAIL_CALL_COUNT tail calls: the kernel then falls through
   * to the next instruction.
   */
  tailCall(target: LoadedProgram): boolean;
  /** Ends the whole program with `r0` once this helper returns (used by uBPF's unwind helper). */
  exitProgram(r0: number | bigint): void;
  /**
   * The call chain at this call (frames and their stack bytes, the
   * caller's included), which a callback the helper runs continues
   * (RunOptions.chain).
   */
  callbackChain(): StackChain;
  /** The run's instruction budget (0 = unlimited). */
  readonly budget: number;
  /** Instructions the run may still execute at this call (0 = unlimited): a callback's run gets no more. */
  remainingBudget(): number;
  /** Counts `instructions` a callback ran against the run's budget (they are in its instruction count). */
  chargeBudget(instructions: number): void;
}

/**
 * A helper's implementation. It returns r0: a number (an integer, negative
 * values are sign-extended: `return -22` is -EINVAL) or a bigint (taken
 * modulo 2^64); `undefined` means 0.
 */
export type HelperFn = (call: HelperCall) => number | bigint | void;

export interface HelperEntry {
  readonly fn: HelperFn;
  /** Shown in errors and traces: `bpf_map_lookup_elem`, `bpf_obj_new_impl`... */
  readonly name: string;
}

export class HelperRegistryError extends TsbpfError {
  override name = 'HelperRegistryError';
}

/** kfuncs are identified by BTF id within a BTF object (0 = vmlinux, n = the module BTF fd at index n, the call's `offset`). */
const kfuncKey = (btfId: number, btfObject: number): number => btfObject * 2 ** 32 + (btfId >>> 0);

/**
 * Helper (call src=0, by id) and kfunc (call src=2, by BTF id)
 * implementations. Registries chain: a lookup that misses here asks the
 * parent, so a runner can add or override a few functions (the conformance
 * suite's helper 5) without touching the shared `standardHelpers`.
 */
export class HelperRegistry {
  private readonly helpers = new Map<number, HelperEntry>();
  private readonly kfuncs = new Map<number, HelperEntry>();

  constructor(readonly parent?: HelperRegistry) {}

  /** Registers helper `id`. `name` defaults to the kernel's name for that id. */
  register(id: number, fn: HelperFn, name?: string): this {
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) throw new HelperRegistryError(`invalid helper id ${id}`);
    const entry = { fn, name: name ?? defaultHelperName(id) };
    const existing = this.helpers.get(id);
    if (existing !== undefined) {
      throw new HelperRegistryError(`helper ${id} is already registered here as ${existing.name}`);
    }
    this.helpers.set(id, entry);
    return this;
  }

  registerKfunc(btfId: number, fn: HelperFn, name: string, btfObject = 0): this {
    if (!Number.isInteger(btfId) || btfId <= 0 || btfId > 0xffffffff) throw new HelperRegistryError(`invalid kfunc BTF id ${btfId}`);
    const key = kfuncKey(btfId, btfObject);
    const existing = this.kfuncs.get(key);
    if (existing !== undefined) {
      throw new HelperRegistryError(`kfunc with BTF id ${btfId} is already registered here as ${existing.name}`);
    }
    this.kfuncs.set(key, { fn, name });
    return this;
  }

  helper(id: number): HelperEntry | undefined {
    return this.helpers.get(id) ?? this.parent?.helper(id);
  }

  kfunc(btfId: number, btfObject = 0): HelperEntry | undefined {
    return this.kfuncs.get(kfuncKey(btfId, btfObject)) ?? this.parent?.kfunc(btfId, btfObject);
  }
}

export function defaultHelperName(id: number): string {
  const spec = helperById(id);
  return spec !== undefined ? `bpf_${spec.name}` : `helper ${id}`;
}

/**
 * The registry every VM uses unless given another. Helper implementations
 * (maps, time, printing, ...) register here when their module is imported.
 */
export const standardHelpers = new HelperRegistry();
