import type { SourceSpan } from './errors.ts';

/** The syntax tree of a bpftrace script; every node carries the span it was parsed from. */
export interface Script {
  readonly probes: Probe[];
  /** `config = { name = value; ... }` entries. */
  readonly config: Map<string, bigint | string>;
  /** `let @name = lruhash(N);` declarations before the probes, by map name. */
  readonly mapDeclarations: Map<string, MapDeclaration>;
}

/** The kernel map types a declaration may ask for. */
export type DeclaredMapKind = 'hash' | 'lruhash' | 'percpuhash' | 'percpulruhash';

export interface MapDeclaration {
  readonly kind: DeclaredMapKind;
  readonly maxEntries: number;
  readonly span: SourceSpan;
}

export interface AttachPoint {
  /** As written: `tracepoint:syscalls:sys_enter_*`, `BEGIN`, `uretprobe:/bin/bash:readline`. */
  readonly text: string;
  readonly span: SourceSpan;
}

export interface Probe {
  readonly attachPoints: AttachPoint[];
  readonly predicate: Expr | undefined;
  readonly body: Statement[];
  readonly span: SourceSpan;
}

export type Statement =
  | { kind: 'expr'; expr: Expr; span: SourceSpan }
  | { kind: 'assign'; target: MapRef | VarRef; op: string; value: Expr; declare: boolean; span: SourceSpan }
  | { kind: 'if'; condition: Expr; then: Statement[]; otherwise: Statement[] | undefined; span: SourceSpan }
  | { kind: 'while'; condition: Expr; body: Statement[]; span: SourceSpan }
  | { kind: 'unroll'; count: number; body: Statement[]; span: SourceSpan }
  | { kind: 'forRange'; variable: VarRef; from: Expr; to: Expr; body: Statement[]; span: SourceSpan }
  | { kind: 'forMap'; variable: VarRef; map: MapRef; body: Statement[]; span: SourceSpan }
  | { kind: 'jump'; jump: 'break' | 'continue' | 'return'; span: SourceSpan }
  | { kind: 'block'; body: Statement[]; span: SourceSpan };

export interface MapRef {
  kind: 'map';
  /** '' for the anonymous map `@`. */
  name: string;
  keys: Expr[] | undefined;
  span: SourceSpan;
}

export interface VarRef {
  kind: 'var';
  name: string;
  span: SourceSpan;
}

/** A C type written in a cast or sizeof: `struct task_struct *`, `uint8`, `int32 *`. */
export interface TypeName {
  readonly base: string;
  readonly pointer: number;
  readonly span: SourceSpan;
}

export type Expr =
  | { kind: 'int'; value: bigint; span: SourceSpan }
  | { kind: 'string'; value: string; span: SourceSpan }
  | { kind: 'builtin'; name: string; span: SourceSpan }
  | { kind: 'positional'; index: number | '#'; span: SourceSpan }
  | MapRef
  | VarRef
  | { kind: 'call'; name: string; args: Expr[]; span: SourceSpan; nameSpan: SourceSpan }
  | { kind: 'unary'; op: string; operand: Expr; span: SourceSpan }
  | { kind: 'binary'; op: string; left: Expr; right: Expr; span: SourceSpan }
  | { kind: 'ternary'; condition: Expr; then: Expr; otherwise: Expr; span: SourceSpan }
  | { kind: 'incdec'; op: '++' | '--'; prefix: boolean; target: MapRef | VarRef; span: SourceSpan }
  | { kind: 'field'; base: Expr; field: string; arrow: boolean; span: SourceSpan }
  | { kind: 'index'; base: Expr; index: Expr; span: SourceSpan }
  | { kind: 'cast'; type: TypeName; operand: Expr; span: SourceSpan }
  | { kind: 'sizeof'; type: TypeName | undefined; operand: Expr | undefined; span: SourceSpan }
  /** offsetof(struct x, field) or offsetof(struct x, a.b): a byte offset from kernel BTF. */
  | { kind: 'offsetof'; type: TypeName; fields: { name: string; span: SourceSpan }[]; span: SourceSpan }
  | { kind: 'tuple'; elements: Expr[]; span: SourceSpan };

/** A span from the start of `a` to the end of `b` (on a's line when they differ). */
export function join(a: SourceSpan, b: SourceSpan): SourceSpan {
  return a.line === b.line ? { line: a.line, column: a.column, endColumn: Math.max(b.endColumn, a.endColumn) } : a;
}
