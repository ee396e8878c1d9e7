import { TsbpfError } from '../errors.ts';

/**
 * A filter expression that does not compile, worded as libpcap words it
 * ("syntax error", "unknown host 'x'", "illegal port number 99999 > 65535"),
 * with the character offset in the expression where the problem is.
 */
export class FilterSyntaxError extends TsbpfError {
  override name = 'FilterSyntaxError';
  constructor(
    readonly problem: string,
    readonly expression: string,
    /** 0-based character offset into the expression. */
    readonly position: number,
  ) {
    super(`${problem} at column ${position + 1} of '${expression.length > 200 ? `${expression.slice(0, 200)}…` : expression}'`);
  }
}

/** A classic program the kernel's sk_chk_filter would refuse, naming the instruction and the rule. */
export class CbpfCheckError extends TsbpfError {
  override name = 'CbpfCheckError';
  constructor(
    readonly problem: string,
    /** Instruction index, or -1 for the program as a whole. */
    readonly index: number,
  ) {
    super(index >= 0 ? `instruction ${index}: ${problem}` : problem);
  }
}

/** Classic bytecode text (-dd / -ddd form) that cannot be read. */
export class CbpfParseError extends TsbpfError {
  override name = 'CbpfParseError';
  constructor(
    readonly problem: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${problem}`);
  }
}
