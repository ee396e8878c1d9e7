/**
 * Function pointers and callbacks (bpf_loop, bpf_for_each_map_elem).
 *
 * In the kernel, `lddw rX, func` (src = BPF_PSEUDO_FUNC) gives the address
 * of a subprogram that a helper then calls. The VM resolves such an lddw to
 * a token: a small number below the never-mapped first 64 KiB, so it can
 * never be dereferenced, which names the target instruction of the
 * program. A helper given a token runs the target as a nested run of a
 * trampoline — `call <target>; exit` in front of the program's own
 * instructions — in the program's engine, with r1-r5 as arguments and the
 * caller's run environment. Nothing in the interpreter or the JIT is
 * special-cased: the callback is an ordinary bpf-to-bpf call in a run of
 * its own that continues its caller's call chain (RunOptions.chain: the
 * caller's frames and stack bytes count toward the kernel's limits), and
 * pointers into the caller's stack (the usual callback_ctx) stay valid
 * because the caller's stack stays mapped during the helper.
 */
import { TsbpfError } from '../../errors.ts';
import { type Instruction, isLddw } from '../../isa/instruction.ts';
import { CallSrc, LdImm64Src, OPCODE_CALL, OPCODE_EXIT } from '../../isa/opcodes.ts';
import { BudgetExceededError, VmRuntimeError } from '../errors.ts';
import type { HelperCall } from '../helper-registry.ts';
import type { VmMemory } from '../memory.ts';
import type { LoadedProgram } from '../program.ts';

/** Instructions of a trampoline in front of the program's: `call <target>; exit`. */
const TRAMPOLINE_SLOTS = 2;

/** BudgetExceededErrors whose pc is already the program's (from a callback inside a callback). */
const callbackBudgetErrors = new WeakSet<BudgetExceededError>();

/** Lowest token; tokens stay below the 64 KiB NULL guard. */
export const FUNCTION_POINTER_BASE = 0x1000;
const FUNCTION_POINTER_LIMIT = 0x10000;

export class FunctionPointerError extends TsbpfError {
  override name = 'FunctionPointerError';
}

interface Callback {
  readonly program: string;
  readonly target: number;
  instructions: readonly Instruction[];
  load: TrampolineLoader;
  trampoline?: LoadedProgram;
}

/**
 * Loads a trampoline in the caller's engine. `shift` is where the
 * program's own instructions start in it (2): the program's frame sizes
 * move by as much, and the trampoline's own frame takes no stack.
 */
export type TrampolineLoader = (instructions: readonly Instruction[], shift: number) => LoadedProgram;

const tables = new WeakMap<VmMemory, Map<number, Callback>>();

function tableOf(memory: VmMemory): Map<number, Callback> {
  let table = tables.get(memory);
  if (table === undefined) tables.set(memory, (table = new Map()));
  return table;
}

function freeToken(table: Map<number, Callback>, program: string): number {
  for (let token = FUNCTION_POINTER_BASE; token < FUNCTION_POINTER_LIMIT; token++) if (!table.has(token)) return token;
  throw new FunctionPointerError(`program '${program}': no function pointer tokens left in this VM (${FUNCTION_POINTER_LIMIT - FUNCTION_POINTER_BASE} in use)`);
}

export interface ResolvedFunctionPointers {
  /** The program with every BPF_PSEUDO_FUNC lddw replaced by its token. */
  instructions: Instruction[];
  /** Releases the tokens (when the program is closed). */
  release(): void;
}

/**
 * Replaces every `lddw rX, func` (src = BPF_PSEUDO_FUNC, imm = pc-relative
 * offset of the function, as the kernel takes it) of `instructions` by a
 * token for that function. `load` loads a trampoline program in the
 * caller's engine the first time a helper calls one of them.
 */
export function resolveFunctionPointers(
  memory: VmMemory,
  program: string,
  instructions: readonly Instruction[],
  load: TrampolineLoader,
): ResolvedFunctionPointers {
  const table = tableOf(memory);
  const out = instructions.map((i) => ({ ...i }));
  const byTarget = new Map<number, number>();
  const entries: Callback[] = [];
  for (let pc = 0; pc < out.length; pc++) {
    const insn = out[pc]!;
    if (!isLddw(insn)) continue;
    if (insn.src === LdImm64Src.FUNC) {
      const target = pc + 1 + insn.imm;
      if (target < 0 || target >= out.length) throw new FunctionPointerError(`program '${program}': function pointer at instruction ${pc} targets ${target}, outside the program (${out.length} instructions)`);
      let token = byTarget.get(target);
      if (token === undefined) {
        token = freeToken(table, program);
        const entry: Callback = { program, target, instructions: out, load };
        table.set(token, entry);
        entries.push(entry);
        byTarget.set(target, token);
      }
      out[pc] = { ...insn, src: 0, imm: token };
      out[pc + 1] = { ...out[pc + 1]!, imm: 0 };
    }
    pc++;
  }
  return {
    instructions: out,
    release: () => {
      for (const token of byTarget.values()) table.delete(token);
    },
  };
}

/**
 * Calls the function a program's function pointer names with r1-r5 and
 * returns its r0. Throws VmRuntimeError for a value that is not a function
 * pointer of this VM (the verifier would have rejected the program).
 */
export function callFunctionPointer(call: HelperCall, pointer: bigint, args: readonly (number | bigint)[]): bigint {
  const callback = pointer < BigInt(FUNCTION_POINTER_LIMIT) ? tables.get(call.memory)?.get(Number(pointer)) : undefined;
  if (callback === undefined) throw new VmRuntimeError(call.pc, `0x${pointer.toString(16)} is not a function pointer (load one with lddw of a subprogram)`);
  if (callback.trampoline === undefined) {
    const call0: Instruction = { opcode: OPCODE_CALL, dst: 0, src: CallSrc.LOCAL, offset: 0, imm: callback.target + 1 };
    const exit: Instruction = { opcode: OPCODE_EXIT, dst: 0, src: 0, offset: 0, imm: 0 };
    callback.trampoline = callback.load([call0, exit, ...callback.instructions], TRAMPOLINE_SLOTS);
  }
  const [r1, r2, r3, r4, r5] = args;
  // The callback's frame goes on top of its caller's chain (it counts toward the 512 bytes and the frame limit),
  // and its instructions count against the caller's budget, so that no number of callbacks outlasts it.
  const budget = call.remainingBudget();
  // Nothing left (0 would mean unlimited): the callback's first instruction is past the budget.
  if (call.budget !== 0 && budget <= 0) throw new BudgetExceededError(callback.target, call.budget);
  let result;
  try {
    result = callback.trampoline.run({ r1, r2, r3, r4, r5, context: call.context, chain: call.callbackChain(), budget: budget === 0 ? 0 : budget + TRAMPOLINE_SLOTS });
  } catch (error) {
    // The run's budget ran out inside the callback: the caller's error, at the callback's instruction (renumbered once, in the innermost callback).
    if (!(error instanceof BudgetExceededError)) throw error;
    // At the trampoline's exit: the callback's last instruction (its exit) was one too many; named by its entry.
    const pc = callbackBudgetErrors.has(error) ? error.pc : error.pc < TRAMPOLINE_SLOTS ? callback.target : error.pc - TRAMPOLINE_SLOTS;
    const outer = new BudgetExceededError(pc, call.budget);
    callbackBudgetErrors.add(outer);
    throw outer;
  }
  // The trampoline's call and exit are not the program's instructions.
  call.chargeBudget(result.instructions - TRAMPOLINE_SLOTS);
  return result.r0;
}
