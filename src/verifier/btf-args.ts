/**
 * Kernel objects through BTF, as the kernel's btf_ctx_access and
 * btf_struct_access see them: a tracing program's context is the attach
 * target's arguments (tp_btf: the `btf_trace_NAME` prototype without its
 * first `void *`; fentry/fexit/fmod_ret/LSM: the function's prototype, fexit
 * adding the return value), each 8 bytes; a pointer to a struct is a
 * PTR_TO_BTF_ID of that struct, anything else a scalar. Loads through a
 * PTR_TO_BTF_ID walk the struct's members: inside the struct, a pointer
 * member read whole gives a pointer to its struct, other members scalars.
 */
import type { Btf, BtfType } from '../btf/index.ts';
import { AttachType, ProgramType } from '../uapi/index.ts';

/** A pointer to a kernel struct, with what its BTF type tags say of it (`__user`, `__percpu`, `__rcu`). */
export interface BtfObject {
  kind: 'object';
  struct: string;
  user: boolean;
  percpu: boolean;
  /** How a pointer read from a trusted parent is trusted (the kernel's BTF_TYPE_SAFE_* field lists and the `__rcu` tag); others are untrusted. */
  trust: 'untrusted' | 'trusted' | 'trusted_or_null' | 'rcu' | 'rcu_or_null';
}

export type BtfArg = { kind: 'scalar' } | BtfObject;

/** Pointer fields the kernel lists by how far it trusts them (BTF_TYPE_SAFE_RCU, _RCU_OR_NULL, _TRUSTED, _TRUSTED_OR_NULL in verifier.c). */
const SAFE_FIELDS: Readonly<Record<string, Readonly<Record<string, BtfObject['trust']>>>> = {
  task_struct: { cpus_ptr: 'rcu', cgroups: 'rcu', real_parent: 'rcu', group_leader: 'rcu' },
  cgroup: { kn: 'rcu' },
  css_set: { dfl_cgrp: 'rcu' },
  mm_struct: { exe_file: 'rcu_or_null' },
  sk_buff: { sk: 'rcu_or_null' },
  request_sock: { sk: 'rcu_or_null' },
  bpf_iter_meta: { seq: 'trusted' },
  bpf_iter__task: { meta: 'trusted', task: 'trusted' },
  linux_binprm: { file: 'trusted' },
  file: { f_inode: 'trusted' },
  dentry: { d_inode: 'trusted' },
  socket: { sk: 'trusted_or_null' },
};

/** The object a pointer type points to, or undefined when it points to something else. */
function pointedObject(btf: Btf, ptrId: number, listed?: BtfObject['trust']): BtfObject | undefined {
  const ptr = btf.resolve(ptrId);
  if (ptr.kind !== 'ptr') return undefined;
  const tags = new Set<string>();
  let t = btf.typeById(ptr.type);
  for (let n = 0; n < 64 && (t.kind === 'type_tag' || t.kind === 'const' || t.kind === 'volatile' || t.kind === 'typedef' || t.kind === 'restrict'); n++) {
    if (t.kind === 'type_tag') tags.add(t.name);
    t = btf.typeById(t.type);
  }
  if (t.kind !== 'struct' || t.name === '') return undefined;
  // An __rcu field the kernel does not list may be NULL.
  const trust = listed ?? (tags.has('rcu') ? 'rcu_or_null' : 'untrusted');
  return { kind: 'object', struct: t.name, user: tags.has('user'), percpu: tags.has('percpu'), trust };
}

export interface TracingContext {
  /** The attach target, for messages. */
  func: string;
  args: readonly BtfArg[];
}

/** Program types whose arguments are typed by their attach target's BTF prototype (raw tracepoints, fentry/fexit/fmod_ret, iterators, LSM). */
export function typedByAttachTarget(programType: number, attachType: number | undefined): boolean {
  return (
    programType === ProgramType.LSM ||
    (programType === ProgramType.TRACING &&
      (attachType === AttachType.TRACE_RAW_TP || attachType === AttachType.TRACE_FENTRY || attachType === AttachType.TRACE_FEXIT || attachType === AttachType.MODIFY_RETURN || attachType === AttachType.TRACE_ITER))
  );
}

/** The arguments a tracing program of this attach type sees at `target`, or undefined when its BTF prototype cannot be found. */
export function tracingContext(btf: Btf, programType: number, attachType: number | undefined, target: string | undefined): TracingContext | undefined {
  if (target === undefined || target === '' || !typedByAttachTarget(programType, attachType)) return undefined;
  let params: readonly { type: number }[] | undefined;
  let returnType: number | undefined;
  if (programType === ProgramType.TRACING && attachType === AttachType.TRACE_RAW_TP) {
    const typedef = btf.findByName(`btf_trace_${target}`, 'typedef')[0];
    const ptr = typedef !== undefined ? btf.resolve(typedef.id) : undefined;
    const proto = ptr?.kind === 'ptr' ? btf.typeById(ptr.type) : undefined;
    if (proto?.kind === 'func_proto') params = proto.params.slice(1);
  } else if (programType === ProgramType.TRACING && attachType === AttachType.TRACE_ITER) {
    // An iterator's context is its bpf_iter_TARGET prototype: the iteration's meta, then the objects it visits, each
    // NULL once the iteration ends (the target's ctx_arg_info: PTR_TO_BTF_ID_OR_NULL | PTR_TRUSTED).
    const func = btf.findByName(`bpf_iter_${target}`, 'func')[0];
    const proto = func?.kind === 'func' ? btf.typeById(func.type) : undefined;
    if (proto?.kind !== 'func_proto') return undefined;
    return { func: `bpf_iter_${target}`, args: proto.params.map((p, i) => pointedObject(btf, p.type, i === 0 ? 'trusted' : 'trusted_or_null') ?? { kind: 'scalar' }) };
  } else {
    const name = programType === ProgramType.LSM ? `bpf_lsm_${target}` : target;
    const func = btf.findByName(name, 'func')[0];
    const proto = func?.kind === 'func' ? btf.typeById(func.type) : undefined;
    if (proto?.kind === 'func_proto') {
      params = proto.params;
      if (attachType === AttachType.TRACE_FEXIT || attachType === AttachType.MODIFY_RETURN) returnType = proto.returnType;
    }
  }
  if (params === undefined) return undefined;
  const types = [...params.map((p) => p.type), ...(returnType !== undefined ? [returnType] : [])];
  return { func: target, args: types.map((id) => argKind(btf, id)) };
}

function argKind(btf: Btf, id: number): BtfArg {
  return pointedObject(btf, id) ?? { kind: 'scalar' };
}

export type StructAccess = { kind: 'scalar' } | BtfObject | { kind: 'error'; message: string };

/**
 * btf_struct_walk: what reading `size` bytes at `off` of kernel struct
 * `name` gives; undefined when the struct is unknown. Through an untrusted
 * pointer a read may run past the end of a member (the kernel skips that
 * check for PTR_UNTRUSTED: such reads are probe reads).
 */
export function btfStructAccess(btf: Btf, name: string, off: number, size: number, untrusted = false): StructAccess | undefined {
  let t: BtfType | undefined = btf.findByName(name, 'struct')[0] ?? btf.findByName(name, 'union')[0];
  if (t === undefined) return undefined;
  const tname = name;
  // Nested structs are walked iteratively; each step moves `off` into the member.
  for (let depth = 0; depth < 32; depth++) {
    if (t.kind !== 'struct' && t.kind !== 'union') return { kind: 'scalar' };
    if (off + size > t.size) return { kind: 'error', message: `access beyond struct ${t.name || tname} at off ${off} size ${size}` };
    let next: { type: BtfType; off: number } | undefined;
    for (const m of t.members) {
      const moff = Math.floor(m.bitOffset / 8);
      if (m.bitSize > 0) {
        const mend = Math.ceil((m.bitOffset + m.bitSize) / 8);
        if (off >= moff && off + size <= mend) return { kind: 'scalar' };
        continue;
      }
      if (off + size <= moff) break;
      let mtype = btf.resolve(m.type);
      let start = moff;
      let msize = mtype.kind === 'void' ? 0 : safeSize(btf, mtype.id);
      // An array member: the element the access starts in.
      while (mtype.kind === 'array') {
        const elem = btf.resolve(mtype.elemType);
        const elemSize = safeSize(btf, elem.id);
        if (elemSize === 0) break;
        const index = Math.min(Math.max(0, Math.floor((off - start) / elemSize)), Math.max(0, mtype.nelems - 1));
        if (off >= start + msize) break;
        start += index * elemSize;
        mtype = elem;
        msize = elemSize;
      }
      if (off >= start + msize) continue;
      if (mtype.kind === 'struct' || mtype.kind === 'union') {
        next = { type: mtype, off: off - start };
        break;
      }
      if (mtype.kind === 'ptr') {
        if (msize !== size || off !== start) return { kind: 'error', message: `cannot access ptr member ${m.name} with moff ${start} in struct ${t.name || tname} with off ${off} size ${size}` };
        // The kernel's safe-field lists are by the struct the register points to, whatever member the field sits in
        // (bpf_iter_meta's seq is inside an anonymous union).
        return pointedObject(btf, mtype.id, SAFE_FIELDS[tname]?.[m.name]) ?? { kind: 'scalar' };
      }
      if (off + size > start + msize && !untrusted) return { kind: 'error', message: `access beyond the end of member ${m.name} (mend:${start + msize}) in struct ${t.name || tname} with off ${off} size ${size}` };
      return { kind: 'scalar' };
    }
    if (next === undefined) return { kind: 'error', message: `struct ${t.name || tname} doesn't have field at offset ${off}` };
    t = next.type;
    off = next.off;
  }
  return { kind: 'scalar' };
}

function safeSize(btf: Btf, id: number): number {
  try {
    return btf.sizeOf(id);
  } catch {
    return 0;
  }
}
