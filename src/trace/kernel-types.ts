/**
 * Kernel types for casts and field access (`((struct sock *)arg0)->__sk_common.skc_family`,
 * `curtask->pid`): members, offsets and sizes from the running kernel's BTF,
 * loaded once on first use.
 */
import { type Btf, type BtfType, type Member, isComposite, loadKernelBtf } from '../btf/index.ts';
import type { TraceType } from './types.ts';

let kernelBtf: Btf | undefined;

/** The kernel's BTF (a test may install its own). */
export function kernelTypes(): Btf {
  kernelBtf ??= loadKernelBtf();
  return kernelBtf;
}

export function useKernelTypes(btf: Btf | undefined): void {
  kernelBtf = btf;
  enumValues = undefined;
}

/** The BTF id of `struct X` / `union X` / a typedef name, or undefined. */
export function findType(name: string): number | undefined {
  const btf = kernelTypes();
  const [kind, bare] = name.startsWith('struct ') ? (['struct', name.slice(7)] as const) : name.startsWith('union ') ? (['union', name.slice(6)] as const) : (['typedef', name] as const);
  const found = btf.findByName(bare, kind)[0];
  return found === undefined ? undefined : btf.resolveId(found.id);
}

/** The BTF id of kernel function (kfunc) `name`, or undefined (also without kernel BTF). */
export function kernelFunctionId(name: string): number | undefined {
  try {
    return kernelTypes().findByName(name, 'func')[0]?.id;
  } catch {
    return undefined;
  }
}

function cName(t: BtfType): string {
  return isComposite(t) ? `${t.kind} ${t.name}` : t.name || t.kind;
}

/** The bpftrace type of a value of BTF type `id` (modifiers resolved); `user` for pointers read from user memory. */
export function traceTypeOf(id: number, user: boolean): TraceType | string {
  const btf = kernelTypes();
  const t = btf.resolve(id);
  switch (t.kind) {
    case 'int':
      return { kind: 'int', bits: (t.size === 1 || t.size === 2 || t.size === 4 ? t.size * 8 : 64) as 8 | 16 | 32 | 64, signed: t.encoding === 'signed' || t.encoding === 'char' };
    case 'enum':
    case 'enum64':
      return { kind: 'int', bits: (t.size === 1 || t.size === 2 || t.size === 4 ? t.size * 8 : 64) as 8 | 16 | 32 | 64, signed: t.signed };
    case 'ptr': {
      const target = btf.resolve(t.type);
      return { kind: 'pointer', pointee: target.kind === 'void' ? 'void' : cName(target), user, btfId: target.id };
    }
    case 'struct':
    case 'union':
      return { kind: 'record', btfId: t.id, name: cName(t), user };
    case 'array': {
      const element = btf.resolve(t.elemType);
      if (element.kind === 'int' && element.size === 1) return { kind: 'string', size: Math.max(1, t.nelems) };
      return `arrays of ${cName(element)} are not supported`;
    }
    default:
      return `values of BTF kind ${t.kind} are not supported`;
  }
}

/** Member `name` of composite `id` (looking into anonymous members), with its byte offset, or why not. */
export function findMember(id: number, name: string): { member: Member; offset: number } | string {
  const btf = kernelTypes();
  const t = btf.resolve(id);
  if (!isComposite(t)) return `${cName(t)} has no fields`;
  const search = (composite: BtfType, base: number): { member: Member; offset: number } | undefined => {
    if (!isComposite(composite)) return undefined;
    for (const m of composite.members) {
      if (m.name === name) return { member: m, offset: base + m.bitOffset / 8 };
      if (m.name === '') {
        const inner = search(btf.resolve(m.type), base + m.bitOffset / 8);
        if (inner !== undefined) return inner;
      }
    }
    return undefined;
  };
  const found = search(t, 0);
  if (found === undefined) return `Struct/union of type '${cName(t)}' does not contain a field named '${name}'`;
  if (found.member.bitSize !== 0 || !Number.isInteger(found.offset)) return `field '${name}' of '${cName(t)}' is a bitfield, which is not supported yet`;
  return found;
}

export function typeSize(id: number): number {
  return kernelTypes().sizeOf(id);
}

/**
 * C macros the official tools take from the headers they #include (bpftrace
 * gets them through clang; tsbpf reads no headers): linux/sched.h's task
 * states and linux/socket.h's address families.
 */
const HEADER_CONSTANTS = new Map<string, bigint>([
  ['TASK_RUNNING', 0n],
  ['TASK_INTERRUPTIBLE', 1n],
  ['TASK_UNINTERRUPTIBLE', 2n],
  ['AF_UNIX', 1n],
  ['AF_INET', 2n],
  ['AF_INET6', 10n],
  // bpftrace's bool literals, as integers.
  ['true', 1n],
  ['false', 0n],
]);

let enumValues: Map<string, bigint> | undefined;

/** The value of a header constant or of a kernel enum value (BTF) named `name`, or undefined. */
export function namedConstant(name: string): bigint | undefined {
  const header = HEADER_CONSTANTS.get(name);
  if (header !== undefined) return header;
  if (enumValues === undefined) {
    enumValues = new Map();
    let btf: Btf;
    try {
      btf = kernelTypes();
    } catch {
      return undefined; // no kernel BTF: only the header constants are known
    }
    for (const t of btf.types) {
      if (t.kind === 'enum' || t.kind === 'enum64') for (const v of t.values) if (!enumValues.has(v.name)) enumValues.set(v.name, v.value);
    }
  }
  return enumValues.get(name);
}
