import { TsbpfError } from '../errors.ts';

/** A place in a script: 1-based line, and the column range [column, endColumn) on that line. */
export interface SourceSpan {
  readonly line: number;
  readonly column: number;
  readonly endColumn: number;
}

/**
 * Where a script's first character is in a larger file (a script written
 * inside an exporter config): errors then give that file's lines and
 * columns, script line N being line `line + N - 1` and every column shifted
 * by `column - 1`.
 */
export interface ScriptOrigin {
  readonly line: number;
  readonly column: number;
}

/** Source lines longer than this are shown cut to CONTEXT characters either side of the error. */
const LONG_LINE = 400;
const CONTEXT = 80;

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
    readonly origin?: ScriptOrigin,
  ) {
    super(span === undefined ? problem : `${file}:${place(span, origin)}: ${problem}`);
  }

  /** The message as bpftrace prints it, underline included (`WARNING` for a warning the compiler collected). */
  format(level: 'ERROR' | 'WARNING' = 'ERROR'): string {
    if (this.span === undefined) return `${level}: ${this.problem}\n`;
    const { column, endColumn } = this.span;
    // Inside a larger file the line is shown as that file has it, indented by the script's column there.
    const margin = ' '.repeat(this.origin === undefined ? 0 : this.origin.column - 1);
    // A very long line (a generated script) is shown around the place only, with `...` where it is cut.
    const start = this.sourceLine.length > LONG_LINE ? Math.max(0, column - 1 - CONTEXT) : 0;
    const end = this.sourceLine.length > LONG_LINE ? Math.min(this.sourceLine.length, Math.max(endColumn - 1, column) + CONTEXT) : this.sourceLine.length;
    const shown = `${start > 0 ? '...' : ''}${this.sourceLine.slice(start, end)}${end < this.sourceLine.length ? '...' : ''}`;
    const indent = column - 1 - start + (start > 0 ? 3 : 0);
    const width = Math.max(1, Math.min(endColumn, end + 1) - column);
    return `${this.file}:${place(this.span, this.origin)}: ${level}: ${this.problem}\n${margin}${shown}\n${margin}${' '.repeat(Math.max(0, indent))}${'~'.repeat(width)}\n`;
  }
}

/** `line:column-endColumn` in the file the script is in. */
function place(span: SourceSpan, origin: ScriptOrigin | undefined): string {
  const lineShift = origin === undefined ? 0 : origin.line - 1;
  const columnShift = origin === undefined ? 0 : origin.column - 1;
  return `${span.line + lineShift}:${span.column + columnShift}-${span.endColumn + columnShift}`;
}

/** A limit (the kernel's program size...) the script exceeds: it ends compilation at once, even in a learning pass. */
export class TraceLimitError extends TraceError {
  override name = 'TraceLimitError';
}

/** Raised while compiling; the compiler front end adds the source line and file name. */
export function traceError(problem: string, span: SourceSpan | undefined): TraceError {
  return new TraceError(problem, span);
}

/** The same error with the line of `source` it points at, the script's name and where the script sits in that file. */
export function withSource(error: TraceError, source: string, file: string, origin?: ScriptOrigin): TraceError {
  const lineText = error.span === undefined ? '' : (source.split('\n')[error.span.line - 1] ?? '');
  return new TraceError(error.problem, error.span, lineText, file, origin);
}

/** Failures at run time: loading, attaching, reading maps. */
export class TraceRuntimeError extends TsbpfError {
  override name = 'TraceRuntimeError';
}
