/**
 * Global (non-static) functions, as the kernel verifies them: each is
 * checked once on its own, with its arguments typed from its BTF prototype
 * and `arg:` decl tags (btf_prepare_func_args), and a call to it only checks
 * the caller's registers against that prototype (btf_check_func_arg_match)
 * before assuming an unknown scalar result. The kernel verifies the main
 * program first, then every global function a verified path called.
 */
import { type Btf, type BtfType, type FuncInfo, isModifier } from '../btf/index.ts';
import { AttachType, PROGRAM_CONTEXT_TYPES, ProgramType, TypeFlag } from '../uapi/index.ts';
import { Rejection } from './errors.ts';
import { regTypeName } from './log.ts';
import { scalarIsZero } from './scalar.ts';
import { MAYBE_NULL, NOT_INIT_REG, type Reg, RegType, copyReg, pointerReg, unknownScalar } from './state.ts';

const TRUSTED = TypeFlag.PTR_TRUSTED;
const BTF_PTR_TYPES: readonly number[] = [RegType.PTR_TO_BTF_ID, RegType.PTR_TO_BTF_ID | TRUSTED, RegType.PTR_TO_BTF_ID | TypeFlag.MEM_RCU];
const isNullScalar = (r: Reg): boolean => r.type === RegType.SCALAR && scalarIsZero(r.v);

/** What a global function's argument is verified as (struct bpf_subprog_arg_info). */
export type GlobalArg =
  | { kind: 'scalar' }
  | { kind: 'ctx' }
  | { kind: 'dynptr' }
  | { kind: 'arena' }
  /** Memory of the pointee's BTF size; NULL allowed unless tagged `__arg_nonnull`. */
  | { kind: 'mem'; size: number; nullable: boolean }
  /** `__arg_trusted`: a trusted pointer to the kernel struct of that name. */
  | { kind: 'trusted'; btfName: string; nullable: boolean };

export interface GlobalFunction {
  name: string;
  /** The prototype as the verifier uses it, or the kernel's reason it cannot be used. */
  args: readonly GlobalArg[] | undefined;
  problem: string | undefined;
}

const MAX_BPF_FUNC_REG_ARGS = 5;

/** btf_type_str: the kernel's name for a BTF kind. */
const KIND_NAMES: Readonly<Record<BtfType['kind'], string>> = {
  void: 'UNKNOWN', int: 'INT', ptr: 'PTR', array: 'ARRAY', struct: 'STRUCT', union: 'UNION', enum: 'ENUM', fwd: 'FWD', typedef: 'TYPEDEF',
  volatile: 'VOLATILE', const: 'CONST', restrict: 'RESTRICT', func: 'FUNC', func_proto: 'FUNC_PROTO', var: 'VAR', datasec: 'DATASEC',
  float: 'FLOAT', decl_tag: 'DECL_TAG', type_tag: 'TYPE_TAG', enum64: 'ENUM64',
};

const ARG_TAGS = ['ctx', 'trusted', 'nonnull', 'nullable', 'arena'] as const;
type ArgTag = (typeof ARG_TAGS)[number];

/** Does this kernel have a struct of this name (for `__arg_trusted`); undefined when no kernel BTF is at hand. */
export type KernelStructLookup = (name: string) => boolean | undefined;

/**
 * The global functions of a program (by first instruction), each with its
 * prototype or the problem the kernel reports for it. The main program
 * (instruction 0) is not one of them.
 */
export function globalFunctions(btf: Btf, funcInfo: readonly FuncInfo[], programType: number, attachType: number | undefined, kernelStruct: KernelStructLookup): Map<number, GlobalFunction> {
  const out = new Map<number, GlobalFunction>();
  // Read only when the program has a global function (a walk over every type of the object).
  let tags: Map<number, Map<number, string[]>> | undefined;
  for (const info of funcInfo) {
    if (info.insnIndex === 0) continue;
    let func: BtfType;
    try {
      func = btf.typeById(info.typeId);
    } catch {
      continue;
    }
    if (func.kind !== 'func' || func.linkage !== 'global') continue;
    let args: GlobalArg[] | undefined;
    let problem: string | undefined;
    try {
      args = prepareArgs(btf, func.id, func.name, (tags ??= argTagsByFunction(btf)).get(func.id) ?? new Map(), programType, attachType, kernelStruct);
    } catch (e) {
      if (!(e instanceof PrepareError)) throw e;
      problem = e.message;
    }
    out.set(info.insnIndex, { name: func.name, args, problem });
  }
  return out;
}

class PrepareError {
  constructor(readonly message: string) {}
}

/** `arg:NAME` decl tags, by function type id and argument index, in type order. */
function argTagsByFunction(btf: Btf): Map<number, Map<number, string[]>> {
  const out = new Map<number, Map<number, string[]>>();
  for (const t of btf.types) {
    if (t.kind !== 'decl_tag' || t.componentIdx < 0 || !t.name.startsWith('arg:')) continue;
    let byArg = out.get(t.type);
    if (byArg === undefined) out.set(t.type, (byArg = new Map()));
    byArg.set(t.componentIdx, [...(byArg.get(t.componentIdx) ?? []), t.name.slice(4)]);
  }
  return out;
}

function skipModifiers(btf: Btf, id: number): BtfType {
  return btf.resolve(id);
}

/** btf_prepare_func_args for a global function. */
function prepareArgs(
  btf: Btf,
  funcId: number,
  name: string,
  tagsByArg: Map<number, string[]>,
  programType: number,
  attachType: number | undefined,
  kernelStruct: KernelStructLookup,
): GlobalArg[] {
  const func = btf.typeById(funcId);
  const proto = func.kind === 'func' ? btf.typeById(func.type) : undefined;
  if (proto?.kind !== 'func_proto') throw new PrepareError(`Invalid type of function ${name}()`);
  if (proto.params.length > MAX_BPF_FUNC_REG_ARGS) {
    throw new PrepareError(`Global function ${name}() with ${proto.params.length} > ${MAX_BPF_FUNC_REG_ARGS} args. Buggy compiler.`);
  }
  const ret = skipModifiers(btf, proto.returnType);
  if (ret.kind !== 'int' && ret.kind !== 'enum' && ret.kind !== 'enum64') {
    throw new PrepareError(`Global function ${name}() doesn't return scalar. Only those are supported.`);
  }
  return proto.params.map((param, i) => {
    const tags = new Set<ArgTag>();
    for (const tag of tagsByArg.get(i) ?? []) {
      if (!(ARG_TAGS as readonly string[]).includes(tag)) throw new PrepareError(`arg#${i} has unsupported set of tags`);
      tags.add(tag as ArgTag);
    }
    const t = skipModifiers(btf, param.type);
    if (t.kind === 'ptr') {
      if (tags.has('ctx') || isProgramContextType(btf, t.type, programType)) {
        if (tags.size > 1 || (tags.size === 1 && !tags.has('ctx'))) throw new PrepareError(`arg#${i} has invalid combination of tags`);
        if (tags.has('ctx')) validateContextType(btf, t.type, i, programType, attachType);
        return { kind: 'ctx' };
      }
      const pointee = skipModifiers(btf, t.type);
      if ((pointee.kind === 'struct' || (pointee.kind === 'fwd' && pointee.fwdKind === 'struct')) && pointee.name === 'bpf_dynptr') {
        if (tags.size > 0) throw new PrepareError(`arg#${i} has invalid combination of tags`);
        return { kind: 'dynptr' };
      }
      if (tags.has('trusted')) {
        if (tags.has('nonnull')) throw new PrepareError(`arg#${i} has invalid combination of tags`);
        const structName = pointee.name.replace(/___.*$/, '');
        if (kernelStruct(structName) === false) throw new PrepareError(`arg#${i} reference type('${KIND_NAMES[pointee.kind]} ${pointee.name}') has no matches`);
        return { kind: 'trusted', btfName: structName, nullable: tags.has('nullable') };
      }
      if (tags.has('arena')) {
        if (tags.size > 1) throw new PrepareError(`arg#${i} arena cannot be combined with any other tags`);
        return { kind: 'arena' };
      }
      if (tags.has('nullable')) throw new PrepareError(`arg#${i} has invalid combination of tags`);
      let size: number;
      try {
        size = btf.sizeOf(pointee.id);
      } catch {
        throw new PrepareError(`arg#${i} reference type('${KIND_NAMES[pointee.kind]} ${pointee.name}') size cannot be determined: -22`);
      }
      return { kind: 'mem', size, nullable: !tags.has('nonnull') };
    }
    if (tags.size > 0) throw new PrepareError(`arg#${i} has pointer tag, but is not a pointer type`);
    if (t.kind === 'int' || t.kind === 'enum' || t.kind === 'enum64') return { kind: 'scalar' };
    throw new PrepareError(`Arg#${i} type ${KIND_NAMES[t.kind]} in ${name}() is not supported yet.`);
  });
}

/** btf_is_prog_ctx_type: an untagged pointer argument naming the program type's context struct. */
function isProgramContextType(btf: Btf, pointeeId: number, programType: number): boolean {
  const ctx = PROGRAM_CONTEXT_TYPES[programType];
  if (ctx === undefined) return false;
  let t = btf.typeById(pointeeId);
  if (programType === ProgramType.KPROBE) {
    while (isModifier(t) && t.kind !== 'typedef') t = btf.typeById(t.type);
    if (t.kind === 'typedef' && t.name === 'bpf_user_pt_regs_t') return true;
  }
  t = skipModifiers(btf, t.id);
  if (t.kind !== 'struct' && t.kind !== 'union') return false;
  if (ctx.name === '' || ctx.scalar) return false;
  return t.name === ctx.name || t.name === ctx.projection || t.name === ctx.resolved;
}

/** btf_validate_prog_ctx_type: what an `__arg_ctx` argument may point to. */
function validateContextType(btf: Btf, pointeeId: number, arg: number, programType: number, attachType: number | undefined): void {
  let t = btf.typeById(pointeeId);
  if (programType === ProgramType.KPROBE || programType === ProgramType.PERF_EVENT) {
    while (isModifier(t) && t.kind !== 'typedef') t = btf.typeById(t.type);
    if (t.kind === 'typedef' && t.name === 'bpf_user_pt_regs_t') return;
  }
  t = skipModifiers(btf, t.id);
  if (t.kind === 'void') return;
  if (t.name === '') throw new PrepareError(`arg#${arg} type doesn't have a name`);
  const isStruct = t.kind === 'struct';
  const isU64 = t.kind === 'int' && t.size === 8;
  switch (programType) {
    case ProgramType.KPROBE:
    case ProgramType.PERF_EVENT:
      if (isStruct && t.name === 'pt_regs') return;
      break;
    case ProgramType.RAW_TRACEPOINT:
    case ProgramType.RAW_TRACEPOINT_WRITABLE:
    case ProgramType.LSM:
    case ProgramType.STRUCT_OPS:
      if (isU64) return;
      break;
    case ProgramType.TRACING:
      if (attachType === AttachType.TRACE_RAW_TP && ((isStruct && t.name === 'bpf_raw_tracepoint_args') || isU64)) return;
      if (attachType === AttachType.TRACE_ITER && isStruct && t.name.startsWith('bpf_iter__')) return;
      if ((attachType === AttachType.TRACE_FENTRY || attachType === AttachType.TRACE_FEXIT || attachType === AttachType.MODIFY_RETURN) && isU64) return;
      break;
    case ProgramType.TRACEPOINT:
    case ProgramType.SYSCALL:
    case ProgramType.EXT:
      return;
    default:
      break;
  }
  const ctx = PROGRAM_CONTEXT_TYPES[programType];
  const ctxStruct = ctx?.resolved ?? ctx?.name ?? '';
  if (ctx === undefined || ctxStruct === '' || ctx.scalar) throw new PrepareError(`arg#${arg} should be void pointer`);
  if (!isStruct || t.name !== ctxStruct) throw new PrepareError(`arg#${arg} should be \`struct ${ctxStruct} *\``);
}

/** The registers a global function starts with (do_check_common for a subprogram). */
export function globalEntryRegs(args: readonly GlobalArg[], newId: () => number): Reg[] {
  return args.map((arg): Reg => {
    switch (arg.kind) {
      case 'ctx':
        return pointerReg(RegType.PTR_TO_CTX);
      case 'dynptr':
        return pointerReg(RegType.CONST_PTR_TO_DYNPTR, { id: newId() });
      case 'mem':
        return pointerReg(RegType.PTR_TO_MEM | (arg.nullable ? MAYBE_NULL : 0), { memSize: arg.size, id: newId() });
      case 'trusted':
        return pointerReg(RegType.PTR_TO_BTF_ID | TRUSTED | (arg.nullable ? MAYBE_NULL : 0), { btfName: arg.btfName, id: newId() });
      case 'scalar':
      case 'arena':
        return unknownScalar();
    }
  });
}

/** The verifier's checks a call to a global function borrows (check_func_arg_reg_off, check_mem_reg). */
export interface GlobalCallChecks {
  argOffset(regno: number, reg: Reg): void;
  /** The function may read and write `size` bytes at the register. */
  memAccess(regno: number, reg: Reg, size: number): void;
}

/**
 * btf_check_func_arg_match: the caller's R1-R5 against the prototype. A
 * mismatch rejects the call with the kernel's two lines: the reason, then
 * "Caller passes invalid args into func#N".
 */
export function checkGlobalCall(idx: number, subprog: number, func: GlobalFunction, regs: readonly Reg[], checks: GlobalCallChecks): void {
  const fail = (reason: string): never => {
    throw new Rejection(idx, `${reason}\nCaller passes invalid args into func#${subprog} ('${func.name}')`, 'EINVAL');
  };
  if (func.args === undefined) return fail(func.problem ?? 'Global functions need valid BTF');
  func.args.forEach((arg, i) => {
    const regno = i + 1;
    const reg = regs[regno] ?? NOT_INIT_REG;
    try {
      checkArg(arg, i, regno, reg, checks);
    } catch (e) {
      if (!(e instanceof Rejection)) throw e;
      fail(e.message);
    }
  });
}

function checkArg(arg: GlobalArg, i: number, regno: number, reg: Reg, checks: GlobalCallChecks): void {
  const reject = (message: string): never => {
    throw new Rejection(0, message, 'EINVAL');
  };
  switch (arg.kind) {
    case 'scalar':
      if (reg.type !== RegType.SCALAR) reject(`R${regno} is not a scalar`);
      return;
    case 'ctx':
      checks.argOffset(regno, reg);
      if (reg.type !== RegType.PTR_TO_CTX) reject(`arg#${i} expects pointer to ctx`);
      return;
    case 'mem':
      checks.argOffset(regno, reg);
      if (isNullScalar(reg)) return;
      checks.memAccess(regno, nonNull(reg), arg.size);
      if (!arg.nullable && reg.type & MAYBE_NULL) reject(`arg#${i} is expected to be non-NULL`);
      return;
    case 'arena':
      if (reg.type !== RegType.PTR_TO_ARENA && reg.type !== RegType.SCALAR) reject(`R${regno} is not a pointer to arena or scalar.`);
      return;
    case 'dynptr':
      if (reg.type !== RegType.PTR_TO_STACK && reg.type !== RegType.CONST_PTR_TO_DYNPTR) reject(`arg#${i} expected pointer to stack or const struct bpf_dynptr`);
      return;
    case 'trusted':
      if (arg.nullable && isNullScalar(reg)) return;
      // check_reg_type's btf_ptr_types: plain, trusted or RCU kernel pointers (or-NULL only for a nullable argument).
      if (!BTF_PTR_TYPES.includes(reg.type & ~(arg.nullable ? MAYBE_NULL : 0))) reject(`R${regno} type=${regTypeName(reg.type)} expected=${BTF_PTR_TYPES.map(regTypeName).join(', ')}`);
      if (reg.btfName !== arg.btfName) reject(`R${regno} is of type ${reg.btfName ?? ''} but ${arg.btfName} is expected`);
      checks.argOffset(regno, reg);
      return;
  }
}

/** `reg` without its or-null flag (a copy: registers are not changed in place). */
function nonNull(reg: Reg): Reg {
  const r = copyReg(reg);
  r.type = reg.type & ~MAYBE_NULL;
  return r;
}
