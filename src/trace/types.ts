/** Types of bpftrace values, as the compiler and the output formatter see them. */
export type TraceType =
  | { kind: 'int'; bits: 8 | 16 | 32 | 64; signed: boolean }
  | { kind: 'string'; size: number }
  /** A kernel or user address from a typed source: `pointee` names the C type when known. */
  | { kind: 'pointer'; pointee: string; user: boolean; btfId?: number }
  /** A kernel struct or union reached through a pointer: only its fields can be read (never stored whole). */
  | { kind: 'record'; btfId: number; name: string; user: boolean }
  /** The `probe` builtin: a number the runtime maps back to the probe's name. */
  | { kind: 'probe' }
  | { kind: 'kstack' }
  /** Stack id and pid, so user frames are symbolised against the right process. */
  | { kind: 'ustack' }
  | { kind: 'ksym' }
  /** strftime(): a CLOCK_MONOTONIC time in ns, printed as wall-clock time in `format`. */
  | { kind: 'timestamp'; format: string }
  | { kind: 'usym' }
  | { kind: 'inet' }
  /** buf(): a length (8 bytes), then up to `size` bytes, printed with \x escapes. */
  | { kind: 'buffer'; size: number }
  /** strerror(): an errno value printed as its message. */
  | { kind: 'errno' }
  /** syscall_name(): a syscall number printed as its name. */
  | { kind: 'syscall' }
  /** cgroup_path(): a cgroup id printed as its path(s) under /sys/fs/cgroup, found when printed. */
  | { kind: 'cgroup_path'; filter: string }
  | { kind: 'tuple'; elements: TraceType[] }
  | { kind: 'none' };

export const INT64: TraceType = { kind: 'int', bits: 64, signed: true };
export const UINT64: TraceType = { kind: 'int', bits: 64, signed: false };
export const UINT32: TraceType = { kind: 'int', bits: 32, signed: false };
export const NONE: TraceType = { kind: 'none' };

/** bpftrace's default string size (BPFTRACE_STRLEN). */
export const STRING_SIZE = 64;
export const COMM_SIZE = 16;

/** Bytes the value takes in a map key, map value or event record (8-byte aligned). */
export function sizeOf(type: TraceType): number {
  switch (type.kind) {
    case 'string':
      return (type.size + 7) & ~7;
    case 'ustack':
    case 'usym':
      return 16;
    case 'inet':
      return 24;
    case 'buffer':
      return 8 + ((type.size + 7) & ~7);
    case 'tuple':
      return type.elements.reduce((total, e) => total + sizeOf(e), 0);
    case 'none':
    case 'record':
      return 0;
    default:
      return 8;
  }
}

/** Values held in a register rather than in stack memory. */
export function isScalar(type: TraceType): boolean {
  return ['int', 'pointer', 'probe', 'kstack', 'ksym', 'timestamp', 'errno', 'syscall', 'cgroup_path'].includes(type.kind);
}

export function isInteger(type: TraceType): boolean {
  return type.kind === 'int' || type.kind === 'pointer';
}

/** bpftrace's spelling in error messages. */
export function typeName(type: TraceType): string {
  switch (type.kind) {
    case 'int':
      return `${type.signed ? '' : 'u'}int${type.bits}`;
    case 'string':
      return `string[${type.size}]`;
    case 'pointer':
      return `${type.pointee} *`;
    case 'record':
      return type.name;
    case 'tuple':
      return `(${type.elements.map(typeName).join(',')})`;
    default:
      return type.kind;
  }
}

/** Whether a value of type `b` can be stored where `a` is kept (ints widen, strings share a size). */
export function compatible(a: TraceType, b: TraceType): boolean {
  if (isInteger(a) && isInteger(b)) return true;
  if (a.kind !== b.kind) return false;
  if (a.kind === 'tuple' && b.kind === 'tuple') return a.elements.length === b.elements.length && a.elements.every((e, i) => compatible(e, b.elements[i]!));
  return true;
}

/** The aggregations bpftrace keeps per CPU. */
export type AggregationKind = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'stats' | 'hist' | 'lhist';
export const AGGREGATIONS: ReadonlySet<string> = new Set(['count', 'sum', 'min', 'max', 'avg', 'stats', 'hist', 'lhist']);

/** What a map holds: an aggregation, or plain values of one type. */
export type MapValue = { kind: 'aggregation'; aggregation: AggregationKind; lhist?: { min: number; max: number; step: number } } | { kind: 'value'; type: TraceType };

export interface MapInfo {
  /** As written without `@` ('' for `@`). */
  name: string;
  /** The kernel map's name (`AT_name`). */
  kernelName: string;
  keys: TraceType[] | undefined;
  value: MapValue;
}

/** Bytes of a map's kernel value. */
export function mapValueSize(value: MapValue): number {
  if (value.kind === 'value') return Math.max(8, sizeOf(value.type));
  return value.aggregation === 'count' || value.aggregation === 'sum' || value.aggregation === 'hist' || value.aggregation === 'lhist' ? 8 : 16;
}

/** Bytes of a map's kernel key: the user's keys, plus the bucket index for histograms; 8 for a key-less map. */
export function mapKeySize(info: Pick<MapInfo, 'keys' | 'value'>): number {
  const user = info.keys === undefined ? 0 : info.keys.reduce((total, k) => total + sizeOf(k), 0);
  const bucket = info.value.kind === 'aggregation' && (info.value.aggregation === 'hist' || info.value.aggregation === 'lhist') ? 8 : 0;
  return Math.max(8, user + bucket);
}
