/**
 * kfunc calls (check_kfunc_call, check_kfunc_args), for the kfuncs src/uapi
 * knows: availability per program type, scalar and kernel-object pointer
 * arguments (trusted / RCU rules, NULL only for `__nullable`), acquired
 * references and their release, NULL-able results. Prototypes come from
 * BTF (the kernel's FUNC of that name, else the program's `.ksyms` extern).
 * Iterator arguments follow iter.ts. Argument kinds not modelled here
 * (memory and size pairs, dynptrs, callbacks, contexts) refuse the call as
 * not modelled.
 */
import { type Btf, type BtfType } from '../btf/index.ts';
import { ArgType, KfuncFlag, type KfuncSpec, PROGRAM_CONTEXT_TYPES, TypeFlag, contextProjection, kfuncByName } from '../uapi/index.ts';
import { regTypeName } from './log.ts';
import { Rejection } from './errors.ts';
import { checkPtrOffReg } from './ptr-off.ts';
import { MAYBE_NULL, NOT_INIT_REG, type Reg, RegType, baseOf, pointerReg, unknownScalar } from './state.ts';
import { scalarConstUnsigned, scalarIsConst, scalarIsZero } from './scalar.ts';
import { type IterArgContext, type IterSlotRef, processIterArg } from './iter.ts';
import { type DynptrArgContext, type DynptrUse, dynptrFlag, processDynptrArg } from './dynptr.ts';

const isNullConstant = (reg: Reg): boolean => reg.type === RegType.SCALAR && scalarIsZero(reg.v);

export type KfuncParam =
  | { kind: 'ignored' }
  | { kind: 'scalar'; constant: boolean }
  | { kind: 'object'; struct: string; nullable: boolean }
  /** A pointer to an iterator struct: the iterator argument of an iterator kfunc, or an `__iter` argument. */
  | { kind: 'iter'; struct: string; size: number; tagged: boolean }
  /** A pointer to struct bpf_dynptr: an initialised dynptr, or with `__uninit` one the kfunc creates. */
  | { kind: 'dynptr'; uninit: boolean }
  /**
   * Memory the kfunc reads and writes: `size` bytes (a pointer to a sized
   * scalar), or as many as the next argument says (`__sz`, `__szk` for a
   * constant); `__opt` allows NULL for a sized buffer. `size` is the
   * pointee's (0 for void), used when the size argument is no scalar.
   */
  | { kind: 'mem'; size: number; sized: 'sz' | 'szk' | undefined; optional: boolean }
  /** The size argument of the `mem` argument before it. */
  | { kind: 'size' }
  /** `__map`: a map (struct bpf_map *), given as the map's address. */
  | { kind: 'map' }
  | { kind: 'other'; what: string };
/** `mem`: a pointer to a sized non-struct type, read-only memory of that size (an `int *` is 4 bytes). */
export type KfuncReturn = { kind: 'void' } | { kind: 'scalar' } | { kind: 'object'; struct: string } | { kind: 'mem'; size: number } | { kind: 'other'; what: string };

export interface KfuncPrototype {
  params: KfuncParam[];
  ret: KfuncReturn;
}

/** A kfunc call site: the name the object's `.ksyms` relocation gives, and the prototype from BTF. */
export interface KfuncTarget {
  name: string;
  prototype: KfuncPrototype | undefined;
  /** Structs found at offset 0 of a struct, walking first members (btf_struct_ids_match's non-strict walk). */
  structsAtZero: (struct: string) => readonly string[];
  /** A kernel BTF type id's struct or union name ('' for void, undefined when it is neither). */
  kernelTypeName: (id: number) => string | undefined;
}

/** The struct itself, then the struct its first member is (at offset 0), and so on. */
export function structsAtZero(btf: Btf, struct: string): string[] {
  const out = [struct];
  let t: BtfType | undefined = btf.findByName(struct, 'struct')[0];
  while (t !== undefined && t.kind === 'struct' && t.members[0] !== undefined && t.members[0].bitOffset === 0 && out.length < 16) {
    t = btf.resolve(t.members[0].type);
    if (t.kind !== 'struct') break;
    out.push(t.name);
  }
  return out;
}

/** The prototype of the BTF FUNC `funcId`, in the terms the checks use. */
export function kfuncPrototype(btf: Btf, funcId: number): KfuncPrototype | undefined {
  const func = btf.typeById(funcId);
  if (func.kind !== 'func') return undefined;
  const proto = btf.typeById(func.type);
  if (proto.kind !== 'func_proto') return undefined;
  const describe = (t: BtfType): string => `${t.kind} ${t.name}`.trim();
  const isScalar = (t: BtfType): boolean => t.kind === 'int' || t.kind === 'enum' || t.kind === 'enum64';
  const sizeSuffix = (i: number): 'sz' | 'szk' | undefined => {
    const next = proto.params[i];
    if (next === undefined || !isScalar(btf.resolve(next.type))) return undefined;
    return next.name.endsWith('__szk') ? 'szk' : next.name.endsWith('__sz') ? 'sz' : undefined;
  };
  const params = proto.params.map((p, i): KfuncParam => {
    if (p.name.endsWith('__ign')) return { kind: 'ignored' };
    const t = btf.resolve(p.type);
    if (isScalar(t)) return i > 0 && sizeSuffix(i) !== undefined && btf.resolve(proto.params[i - 1]!.type).kind === 'ptr' ? { kind: 'size' } : { kind: 'scalar', constant: p.name.endsWith('__k') };
    if (t.kind === 'ptr') {
      const pointee = btf.resolve(t.type);
      const optional = p.name.endsWith('__opt');
      if (p.name.endsWith('__map')) return { kind: 'map' };
      if (pointee.kind === 'struct' && pointee.name === 'bpf_dynptr') return { kind: 'dynptr', uninit: p.name.endsWith('__uninit') };
      if (pointee.kind === 'struct' && pointee.name.startsWith('bpf_iter_')) return { kind: 'iter', struct: pointee.name, size: pointee.size, tagged: p.name.endsWith('__iter') };
      const sized = sizeSuffix(i + 1);
      if (sized !== undefined && (pointee.kind === 'void' || isScalar(pointee))) return { kind: 'mem', size: pointee.kind === 'void' ? 0 : btf.sizeOf(t.type), sized, optional };
      if (isScalar(pointee) || pointee.kind === 'float') return { kind: 'mem', size: btf.sizeOf(t.type), sized: undefined, optional: false };
      if (pointee.kind === 'struct' && pointee.name !== '' && !pointee.name.startsWith('bpf_dynptr')) {
        return { kind: 'object', struct: pointee.name, nullable: p.name.endsWith('__nullable') || p.name.endsWith('__opt') };
      }
      return { kind: 'other', what: `pointer to ${describe(pointee)}` };
    }
    return { kind: 'other', what: describe(t) };
  });
  const r = btf.resolve(proto.returnType);
  let ret: KfuncReturn;
  if (r.kind === 'void') ret = { kind: 'void' };
  else if (r.kind === 'int' || r.kind === 'enum' || r.kind === 'enum64') ret = { kind: 'scalar' };
  else if (r.kind === 'ptr' && btf.resolve(r.type).kind === 'struct') ret = { kind: 'object', struct: btf.resolve(r.type).name };
  else if (r.kind === 'ptr' && btf.resolve(r.type).kind === 'void') ret = { kind: 'scalar' };
  else if (r.kind === 'ptr' && ['int', 'enum', 'enum64', 'float'].includes(btf.resolve(r.type).kind)) ret = { kind: 'mem', size: btf.sizeOf(r.type) };
  else ret = { kind: 'other', what: describe(r) };
  return { params, ret };
}

/** What the call needs from the verifier's state. */
export interface KfuncCallContext {
  programType: number;
  sleepable: boolean;
  activeLock: boolean;
  regs: readonly Reg[];
  argOffsetZero(regno: number, reg: Reg): void;
  newId(): number;
  acquire(insnIdx: number): number;
  release(id: number): void;
  /** Stack access for iterator arguments. */
  iter: IterArgContext;
  /** Stack access for dynptr arguments. */
  dynptr: DynptrArgContext;
  /** check_mem_reg / check_kfunc_mem_size_reg: the kfunc reads and writes `size` bytes at R`regno` (size from R`regno + 1` when undefined). */
  memAccess(regno: number, size: number | undefined): void;
  /** may_access_direct_pkt_data for writes (bpf_dynptr_slice_rdwr on a packet dynptr). */
  mayWritePacket: boolean;
}

/** R0 after the call, and for an iterator's `_next` the iterator it advanced (the caller forks the path). */
export interface KfuncCallResult {
  r0: Reg;
  iterNext?: IterSlotRef;
}

const notModelled = (idx: number, what: string): Rejection => new Rejection(idx, `kernel function calls (kfuncs) are not modelled by tsbpf's verifier yet (${what})`, 'ENOTSUPP');

/** Checks the call at `idx` and returns R0 after it (R1-R5 are the caller's to clear). */
export function checkKfuncCall(idx: number, target: KfuncTarget | undefined, ctx: KfuncCallContext): KfuncCallResult {
  if (target === undefined) throw notModelled(idx, `call at insn ${idx}`);
  const spec = kfuncByName(target.name);
  if (spec === undefined || target.prototype === undefined) throw notModelled(idx, target.name);
  if (!spec.programTypes.has(ctx.programType)) throw new Rejection(idx, `calling kernel function ${target.name} is not allowed`, 'EACCES');
  if (spec.flags & KfuncFlag.SLEEPABLE && !ctx.sleepable) throw new Rejection(idx, `program must be sleepable to call sleepable kfunc ${target.name}`, 'EACCES');
  if (ctx.activeLock) throw new Rejection(idx, 'function calls are not allowed while holding a lock', 'EINVAL');
  const special = SPECIAL_KFUNCS[target.name];
  if (special) return { r0: special(idx, target, ctx) };
  const { params, ret } = target.prototype;
  let released = 0;
  const meta: ArgMeta = { refObjId: 0, iter: undefined, dynptr: undefined, constSize: undefined };
  params.forEach((param, i) => {
    const regno = i + 1;
    const reg = ctx.regs[regno] ?? NOT_INIT_REG;
    if (reg.type === RegType.NOT_INIT) throw new Rejection(idx, `R${regno} !read_ok`, 'EACCES');
    const refId = checkArg(idx, spec, param, i, regno, reg, ctx, target, meta);
    if (refId !== 0) meta.refObjId = refId;
    if (spec.flags & KfuncFlag.RELEASE && param.kind === 'object' && released === 0) {
      if (refId === 0) throw new Rejection(idx, `release kernel function ${spec.name} expects refcounted PTR_TO_BTF_ID`, 'EINVAL');
      released = refId;
    }
  });
  if (released) ctx.release(released);
  const slice = DYNPTR_SLICES[spec.name];
  const r0 = slice !== undefined ? dynptrSlice(idx, spec.name, slice, meta, ctx) : kfuncResult(idx, spec, ret, ctx, meta);
  return spec.flags & KfuncFlag.ITER_NEXT && meta.iter !== undefined ? { r0, iterNext: meta.iter.slot } : { r0 };
}

/** What the arguments tell the result: the reference an argument holds, the iterator a `_next` advanced. */
interface ArgMeta {
  refObjId: number;
  iter: { slot: IterSlotRef; flags: number } | undefined;
  /** The initialised dynptr an argument named. */
  dynptr: DynptrUse | undefined;
  /** A `__szk` argument's value. */
  constSize: number | undefined;
}

/** Dynptr kfuncs whose dynptr argument has a fixed type (the kernel's special_kfunc_list). */
const DYNPTR_CONSTRUCTOR_TYPE: Readonly<Record<string, number>> = {
  bpf_dynptr_from_skb: TypeFlag.DYNPTR_TYPE_SKB,
  bpf_dynptr_from_xdp: TypeFlag.DYNPTR_TYPE_XDP,
};
/** bpf_dynptr_slice (read-only) and bpf_dynptr_slice_rdwr: memory of the `__szk` size, NULL when the data is not contiguous. */
const DYNPTR_SLICES: Readonly<Record<string, { writable: boolean }>> = {
  bpf_dynptr_slice: { writable: false },
  bpf_dynptr_slice_rdwr: { writable: true },
};
const PACKET_DYNPTR_FLAG: Readonly<Record<string, number>> = { skb: TypeFlag.DYNPTR_TYPE_SKB, xdp: TypeFlag.DYNPTR_TYPE_XDP };

function dynptrSlice(idx: number, name: string, slice: { writable: boolean }, meta: ArgMeta, ctx: KfuncCallContext): Reg {
  const dynptr = meta.dynptr?.dynptr;
  if (dynptr === undefined || meta.constSize === undefined) throw notModelled(idx, `${name} without a dynptr on the stack`);
  const packet = PACKET_DYNPTR_FLAG[dynptr.type] ?? 0;
  if (slice.writable && !ctx.mayWritePacket) throw new Rejection(idx, 'the prog does not allow writes to packet data', 'EINVAL');
  // A packet slice is invalidated with packet pointers; a ringbuf one dies with its reservation.
  return pointerReg(RegType.PTR_TO_MEM | packet | (slice.writable ? 0 : TypeFlag.MEM_RDONLY) | MAYBE_NULL, { memSize: meta.constSize, refObjId: dynptr.refObjId, id: ctx.newId() });
}

const ITER_KFUNC = KfuncFlag.ITER_NEW | KfuncFlag.ITER_NEXT | KfuncFlag.ITER_DESTROY;

/** One argument; returns the reference it holds (0 if none). */
function checkArg(idx: number, spec: KfuncSpec, param: KfuncParam, i: number, regno: number, reg: Reg, ctx: KfuncCallContext, target: KfuncTarget, meta: ArgMeta): number {
  switch (param.kind) {
    case 'ignored':
      return 0;
    case 'map':
      if (spec.flags & (KfuncFlag.TRUSTED_ARGS | KfuncFlag.RCU) && isNullConstant(reg)) throw new Rejection(idx, `Possibly NULL pointer passed to trusted arg${i}`, 'EACCES');
      // A kernel pointer to a struct bpf_map is checked as an object argument of that type.
      if (baseOf(reg.type) === RegType.PTR_TO_BTF_ID) return checkArg(idx, spec, { kind: 'object', struct: 'bpf_map', nullable: false }, i, regno, reg, ctx, target, meta);
      if (reg.type !== RegType.CONST_PTR_TO_MAP) throw new Rejection(idx, `pointer in R${regno} isn't map pointer`, 'EINVAL');
      return 0;
    case 'size':
      // Consumed by the memory argument before it when a scalar; anything else is refused as a scalar argument would be.
      if (reg.type !== RegType.SCALAR) throw new Rejection(idx, `R${regno} is not a scalar`, 'EINVAL');
      return 0;
    case 'dynptr': {
      if (isNullConstant(reg) || reg.type & MAYBE_NULL) throw new Rejection(idx, `Possibly NULL pointer passed to trusted arg${i}`, 'EACCES');
      let argType = ArgType.PTR_TO_DYNPTR | (reg.type === RegType.CONST_PTR_TO_DYNPTR ? TypeFlag.MEM_RDONLY : 0) | (param.uninit ? TypeFlag.MEM_UNINIT : 0);
      argType |= DYNPTR_CONSTRUCTOR_TYPE[spec.name] ?? 0;
      // A clone has its parent's type and shares its reference.
      if (param.uninit && meta.dynptr !== undefined) argType |= dynptrFlag(meta.dynptr.dynptr.type);
      const used = processDynptrArg(idx, regno, reg, argType, ctx.dynptr, param.uninit && meta.dynptr !== undefined ? meta.dynptr.dynptr.refObjId : 0);
      if (used !== undefined) meta.dynptr = used;
      return 0;
    }
    case 'mem': {
      if (param.sized === undefined) {
        if (isNullConstant(reg) || reg.type & MAYBE_NULL) throw new Rejection(idx, `Possibly NULL pointer passed to trusted arg${i}`, 'EACCES');
        ctx.memAccess(regno, param.size);
        return reg.refObjId;
      }
      const sizeReg = ctx.regs[regno + 1] ?? NOT_INIT_REG;
      // is_kfunc_arg_mem_size: without a scalar size, the pointer is plain memory of its pointee's size.
      if (sizeReg.type !== RegType.SCALAR) {
        if (param.size === 0) throw new Rejection(idx, `arg#${i} pointer type UNKNOWN  must point to scalar, or struct with scalar`, 'EINVAL');
        ctx.memAccess(regno, param.size);
        return reg.refObjId;
      }
      if (!(param.optional && isNullConstant(reg))) {
        try {
          ctx.memAccess(regno, undefined);
        } catch (e) {
          if (!(e instanceof Rejection)) throw e;
          throw new Rejection(idx, `${e.message}\narg#${i} arg#${i + 1} memory, len pair leads to invalid memory access`, e.errno);
        }
      }
      if (param.sized === 'szk') {
        if (!scalarIsConst(sizeReg.v)) throw new Rejection(idx, `R${regno + 1} must be a known constant`, 'EINVAL');
        meta.constSize = scalarConstUnsigned(sizeReg.v);
      }
      return reg.refObjId;
    }
    case 'iter': {
      // Only the first argument of an iterator kfunc, or one tagged `__iter`, is an iterator (is_kfunc_arg_iter).
      if (!(spec.flags & ITER_KFUNC && i === 0) && !param.tagged) throw notModelled(idx, `${spec.name} argument ${i}: pointer to struct ${param.struct}`);
      // Linux 6.18 treats every iterator argument as trusted: NULL is refused before the stack check.
      if (isNullConstant(reg) || reg.type & MAYBE_NULL) throw new Rejection(idx, `Possibly NULL pointer passed to trusted arg${i}`, 'EACCES');
      const used = processIterArg(idx, regno, reg, param.struct, param.size, spec.flags & ITER_KFUNC && i === 0 ? spec.flags : 0, spec.name, ctx.iter);
      if (used === undefined) return 0;
      const first = ctx.iter.frame(used.slot.frameno).stack[used.slot.spi]?.object;
      meta.iter = { slot: used.slot, flags: first?.kind === 'iter' ? first.flags : 0 };
      return used.refObjId;
    }
    case 'other':
      throw notModelled(idx, `${spec.name} argument ${i}: ${param.what}`);
    case 'scalar':
      if (reg.type !== RegType.SCALAR) throw new Rejection(idx, `R${regno} is not a scalar`, 'EINVAL');
      if (param.constant && !scalarIsConst(reg.v)) throw new Rejection(idx, `R${regno} must be a known constant`, 'EINVAL');
      return 0;
    case 'object': {
      if (param.struct === PROGRAM_CONTEXT_TYPES[ctx.programType]?.name) {
        // KF_ARG_PTR_TO_CTX: the program's own context, unmodified.
        if (reg.type !== RegType.PTR_TO_CTX) throw new Rejection(idx, `arg#${i} expected pointer to ctx, but got ${regTypeName(reg.type)}`, 'EINVAL');
        checkPtrOffReg(idx, regno, reg, false);
        return 0;
      }
      const isNull = isNullConstant(reg);
      if (isNull && param.nullable) return 0;
      if (isNull) throw new Rejection(idx, `Possibly NULL pointer passed to trusted arg${i}`, 'EACCES');
      // Other pointers would be memory of the struct's size, which only structs of scalars may be (not modelled: refused).
      if (baseOf(reg.type) !== RegType.PTR_TO_BTF_ID) throw new Rejection(idx, `arg#${i} pointer type STRUCT ${param.struct} must point to scalar, or struct with scalar`, 'EINVAL');
      if (reg.type & MAYBE_NULL) throw new Rejection(idx, `Possibly NULL pointer passed to trusted arg${i}`, 'EACCES');
      const trusted = (reg.type & TypeFlag.PTR_TRUSTED) !== 0 || reg.refObjId !== 0;
      const rcu = (reg.type & TypeFlag.MEM_RCU) !== 0;
      const needsTrusted = (spec.flags & (KfuncFlag.TRUSTED_ARGS | KfuncFlag.RELEASE)) !== 0;
      if (needsTrusted && !trusted) throw new Rejection(idx, `R${regno} must be referenced or trusted`, 'EINVAL');
      if (spec.flags & KfuncFlag.RCU && !trusted && !rcu) throw new Rejection(idx, `R${regno} must be a rcu pointer`, 'EINVAL');
      if (reg.type & TypeFlag.PTR_UNTRUSTED) throw new Rejection(idx, `R${regno} must be referenced or trusted`, 'EINVAL');
      // Releasing a reference needs the exact type; otherwise a struct that starts with the expected one will do.
      const strict = spec.flags & KfuncFlag.RELEASE && reg.refObjId !== 0;
      const matches = strict ? reg.btfName === param.struct : target.structsAtZero(reg.btfName ?? '').includes(param.struct);
      // A kfunc taking a context's projection (__sk_buff, xdp_md) casts it to the kernel struct: that struct will do.
      const projected = contextProjection(param.struct);
      if (!matches && (projected === undefined || projected !== reg.btfName)) {
        throw new Rejection(idx, `kernel function ${spec.name} args#${i} expected pointer to STRUCT ${param.struct} but R${regno} has a pointer to STRUCT ${reg.btfName ?? ''}`, 'EINVAL');
      }
      ctx.argOffsetZero(regno, reg);
      return reg.refObjId;
    }
  }
}

function kfuncResult(idx: number, spec: KfuncSpec, ret: KfuncReturn, ctx: KfuncCallContext, meta: ArgMeta): Reg {
  switch (ret.kind) {
    case 'void':
      return NOT_INIT_REG;
    case 'scalar':
      return unknownScalar();
    case 'other':
      throw notModelled(idx, `${spec.name} returns ${ret.what}`);
    case 'mem': {
      // The memory lives as long as the reference an argument holds (an iterator's element dies with the iterator).
      const maybeNull = (spec.flags & KfuncFlag.RET_NULL) !== 0;
      return pointerReg(RegType.PTR_TO_MEM | TypeFlag.MEM_RDONLY | (maybeNull ? MAYBE_NULL : 0), { memSize: ret.size, refObjId: meta.refObjId, id: maybeNull ? ctx.newId() : 0 });
    }
    case 'object': {
      const maybeNull = (spec.flags & KfuncFlag.RET_NULL) !== 0;
      // An RCU-protected iterator's elements are RCU pointers; other iterators' and kfuncs' results are trusted.
      const trust = meta.iter !== undefined && meta.iter.flags & TypeFlag.MEM_RCU ? TypeFlag.MEM_RCU : TypeFlag.PTR_TRUSTED;
      let r0 = pointerReg(RegType.PTR_TO_BTF_ID | trust | (maybeNull ? MAYBE_NULL : 0), { btfName: ret.struct });
      if (maybeNull) r0 = { ...r0, id: ctx.newId() };
      if (spec.flags & KfuncFlag.ACQUIRE) {
        const id = ctx.acquire(idx);
        r0 = { ...r0, id: maybeNull ? id : r0.id, refObjId: id };
      }
      return r0;
    }
  }
}


/** kfuncs whose result the verifier derives from their arguments (the kernel's special_kfunc_list). */
const SPECIAL_KFUNCS: Readonly<Record<string, (idx: number, target: KfuncTarget, ctx: KfuncCallContext) => Reg>> = {
  /** The program's context as the kernel's own struct (sk_buff, xdp_buff...), trusted. */
  bpf_cast_to_kern_ctx: (idx, _target, ctx) => {
    const reg = ctx.regs[1] ?? NOT_INIT_REG;
    if (reg.type !== RegType.PTR_TO_CTX) throw new Rejection(idx, `arg#0 expected pointer to ctx, but got ${regTypeName(reg.type)}`, 'EINVAL');
    ctx.argOffsetZero(1, reg);
    const kernel = PROGRAM_CONTEXT_TYPES[ctx.programType]?.kernel;
    if (kernel === undefined) throw notModelled(idx, `bpf_cast_to_kern_ctx for this program type`);
    return pointerReg(RegType.PTR_TO_BTF_ID | TypeFlag.PTR_TRUSTED, { btfName: kernel });
  },
  /** Any value read as an untrusted pointer to the kernel type whose BTF id is the constant second argument. */
  bpf_rdonly_cast: (idx, target, ctx) => {
    const id = ctx.regs[2] ?? NOT_INIT_REG;
    if (id.type !== RegType.SCALAR) throw new Rejection(idx, 'R2 is not a scalar', 'EINVAL');
    if (!scalarIsConst(id.v)) throw new Rejection(idx, 'R2 must be a known constant', 'EINVAL');
    const name = target.kernelTypeName(scalarConstUnsigned(id.v));
    if (name === undefined) throw new Rejection(idx, 'kfunc bpf_rdonly_cast type ID argument must be of a struct or void', 'EINVAL');
    if (name === '') return pointerReg(RegType.PTR_TO_MEM | TypeFlag.MEM_RDONLY | TypeFlag.PTR_UNTRUSTED);
    return pointerReg(RegType.PTR_TO_BTF_ID | TypeFlag.PTR_UNTRUSTED, { btfName: name });
  },
};
