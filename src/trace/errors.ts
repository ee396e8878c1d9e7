import { TsbpfError } from '../errors.ts';

/** A place in a script: 1-based line, and the column range [column, endColumn) on that line. */
export interface SourceSpan {
  readonly line: number;
  readonly column: number;
  readonly endColumn: number;
}

/**
 * A problem in a bpftrace script (syntax, types, an unknown probe...). Its
 * `format()` is bpftrace's: `stdin:L:C-E: ERROR: message`, the line, and a
 * `~` underline under the offending text.
 */
export class TraceError extends TsbpfError {
  override name = 'TraceError';
  constructor(
    readonly problem: string,
    readonly span: SourceSpan | undefined,
    readonly sourceLine = '',
    readonly file = 'stdin',
  ) {
    super(span === undefined ? problem : `${file}:${span.line}:${span.column}-${span.endColumn}: ${problem}`);
  }

  /** The message as bpftrace prints it, underline included. */
  format(): string {
    if (this.span === undefined) return `ERROR: ${this.problem}\n`;
    const { line, column, endColumn } = this.span;
    const width = Math.max(1, endColumn - column);
    return `${this.file}:${line}:${column}-${endColumn}: ERROR: ${this.problem}\n${this.sourceLine}\n${' '.repeat(Math.max(0, column - 1))}${'~'.repeat(width)}\n`;
  }
}

/** Raised while compiling; the compiler front end adds the source line and file name. */
export function traceError(problem: string, span: SourceSpan | undefined): TraceError {
  return new TraceError(problem, span);
}

/** The same error with the line of `source` it points at and the script's name. */
export function withSource(error: TraceError, source: string, file: string): TraceError {
  const lineText = error.span === undefined ? '' : (source.split('\n')[error.span.line - 1] ?? '');
  return new TraceError(error.problem, error.span, lineText, file);
}

/** Failures at run time: loading, attaching, reading maps. */
export class TraceRuntimeError extends TsbpfError {
  override name = 'TraceRuntimeError';
}
