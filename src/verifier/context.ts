/**
 * Context accesses per program type, read from the shared data in
 * src/uapi (the kernel's *_is_valid_access functions): which bytes of the
 * context a program may load or store, with which sizes, and which loads
 * give packet or socket pointers.
 */
import {
  CONTEXT_LAYOUTS,
  ProgramType,
  type ProgramTypeSpec,
  contextFieldAccessible,
  contextFieldAt,
} from '../uapi/index.ts';
import { TypeFlag } from '../uapi/index.ts';
import { MAYBE_NULL, RegType } from './state.ts';

export interface ContextAccessResult {
  ok: boolean;
  /** Register type a load gives (SCALAR unless the field is a pointer). */
  regType: number;
  btfName?: string;
}

const DENY: ContextAccessResult = { ok: false, regType: RegType.SCALAR };
const SCALAR: ContextAccessResult = { ok: true, regType: RegType.SCALAR };
const TP_BUFFER: ContextAccessResult = { ok: true, regType: RegType.PTR_TO_TP_BUFFER };

const POINTER_TYPES: Readonly<Record<string, number>> = {
  packet: RegType.PTR_TO_PACKET,
  packet_end: RegType.PTR_TO_PACKET_END,
  packet_meta: RegType.PTR_TO_PACKET_META,
  sock_common_or_null: RegType.PTR_TO_SOCK_COMMON | MAYBE_NULL,
  sock_or_null: RegType.PTR_TO_SOCKET | MAYBE_NULL,
  sock: RegType.PTR_TO_SOCKET,
  flow_keys: RegType.PTR_TO_FLOW_KEYS,
};
const TRUSTED_BTF_ID = 'trusted_btf_id:';

/** Whether `[off, off+size)` of the context may be read (or written) by a program of `spec`'s type. */
export function contextAccess(spec: ProgramTypeSpec, off: number, size: number, write: boolean, attachType: number | undefined): ContextAccessResult {
  if (off < 0 || off + size > spec.contextSize) return DENY;
  const access = spec.access;
  if (access === undefined) return genericAccess(spec, off, size, write);
  const layout = CONTEXT_LAYOUTS[spec.context as keyof typeof CONTEXT_LAYOUTS];
  const field = contextFieldAt(layout, off);
  if (field === undefined) return DENY;
  if (!contextFieldAccessible(spec, field.name, write, attachType)) return DENY;
  const pointer = access.pointers[field.name];
  const exact = access.exactSize?.[field.name];
  if (pointer !== undefined) {
    if (write || off !== field.offset) return DENY;
    const want = exact ?? field.size;
    if (size !== want) return DENY;
    if (pointer.startsWith(TRUSTED_BTF_ID)) return { ok: true, regType: RegType.PTR_TO_BTF_ID | TypeFlag.PTR_TRUSTED, btfName: pointer.slice(TRUSTED_BTF_ID.length) };
    return { ok: true, regType: POINTER_TYPES[pointer] ?? RegType.SCALAR };
  }
  // Fields read only at one width (pt_regs words, 64-bit timestamps): any aligned word inside them.
  if (exact !== undefined) return size === exact && (off - field.offset) % exact === 0 ? SCALAR : DENY;
  const end = field.offset + field.size;
  if (off + size > end) return DENY;
  if (size === field.size || (field.size > 8 && size <= 8 && off % size === 0)) return off % Math.min(size, 8) === 0 ? SCALAR : DENY;
  // Narrower than the field: only reads of fields that allow it, at an offset aligned to the load size.
  if (write || !access.narrowReads.includes(field.name)) return DENY;
  return off % size === 0 ? SCALAR : DENY;
}

/**
 * Tracepoint records, raw tracepoint and BTF arguments, syscall args:
 * aligned reads inside the struct. BTF-typed arguments (tp_btf, fentry,
 * iterators) may be pointers to kernel objects; without the target's BTF
 * prototype every 8-byte argument is taken as one, which only a run-time
 * check can confine (as the kernel's exception tables do).
 */
function genericAccess(spec: ProgramTypeSpec, off: number, size: number, write: boolean): ContextAccessResult {
  if (spec.type === ProgramType.SYSCALL) return SCALAR;
  if (write) return DENY;
  // raw_tp_writable_prog_is_valid_access: the first argument is the tracepoint's writable buffer.
  if (spec.type === ProgramType.RAW_TRACEPOINT_WRITABLE && off === 0) return size === 8 ? TP_BUFFER : DENY;
  if (off < (spec.contextStart ?? 0)) return DENY;
  if (off % size !== 0) return DENY;
  if ((spec.type === ProgramType.TRACING || spec.type === ProgramType.LSM) && size === 8) return { ok: true, regType: RegType.PTR_TO_BTF_ID | TypeFlag.PTR_TRUSTED };
  return SCALAR;
}

/** Sizes of struct bpf_sock's 32-bit fields and its one 16-bit field (dst_port at 48). */
const BPF_SOCK_SIZE = 80;
const BPF_TCP_SOCK_SIZE = 112;

/**
 * bpf_sock_is_valid_access / bpf_sock_common_is_valid_access /
 * bpf_tcp_sock_is_valid_access: reads of socket pointers.
 */
export function socketAccessOk(type: number, off: number, size: number): boolean {
  if (type === RegType.PTR_TO_TCP_SOCK) {
    if (off < 0 || off >= BPF_TCP_SOCK_SIZE || off % size !== 0) return false;
    return off === 80 || off === 88 ? size === 8 : size === 4;
  }
  if (off < 0 || off >= BPF_SOCK_SIZE || off % size !== 0) return false;
  // sock_common has no type, protocol, mark or priority.
  if (type === RegType.PTR_TO_SOCK_COMMON && off >= 8 && off < 24) return false;
  const narrowOk = (fieldSize: number): boolean => size <= fieldSize && (size & (size - 1)) === 0;
  if (off >= 48 && off < 52) return off < 50 ? narrowOk(size === 4 ? 4 : 2) : false;
  if ([72, 4, 8, 12, 44, 76].includes(off) || (off >= 24 && off < 28) || (off >= 28 && off < 44) || (off >= 52 && off < 56) || (off >= 56 && off < 72)) return narrowOk(4);
  return size === 4;
}
