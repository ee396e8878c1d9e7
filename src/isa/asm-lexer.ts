import { TsbpfError } from '../errors.ts';
import { AtomicOp } from './opcodes.ts';

/** An assembly error at a 1-based line and column. */
export class AsmError extends TsbpfError {
  override name = 'AsmError';
  constructor(
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
  }
}

/** One source line with comments blanked out (columns are preserved). */
export interface SourceLine {
  /** 1-based line number. */
  readonly line: number;
  readonly text: string;
}

/**
 * Splits the source into lines and blanks comments with spaces so that
 * columns in error messages still point into the original text:
 * `/* ... *\/` (may span lines), `//` and `;` to the end of the line, and `#`
 * to the end of the line when it starts the line or follows whitespace
 * (`call bpf_map_lookup_elem#1` in the kernel log is not a comment).
 */
export function sourceLines(source: string): SourceLine[] {
  const out: SourceLine[] = [];
  let inBlock = false;
  const raw = source.split('\n');
  for (let n = 0; n < raw.length; n++) {
    let text = raw[n]!;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    const chars = [...text];
    let i = 0;
    while (i < chars.length) {
      if (inBlock) {
        if (chars[i] === '*' && chars[i + 1] === '/') {
          chars[i] = chars[i + 1] = ' ';
          i += 2;
          inBlock = false;
        } else {
          chars[i++] = ' ';
        }
        continue;
      }
      const c = chars[i]!;
      if (c === '/' && chars[i + 1] === '*') {
        chars[i] = chars[i + 1] = ' ';
        i += 2;
        inBlock = true;
      } else if ((c === '/' && chars[i + 1] === '/') || c === ';' || (c === '#' && (i === 0 || /\s/.test(chars[i - 1]!)))) {
        chars.length = i;
      } else {
        i++;
      }
    }
    out.push({ line: n + 1, text: chars.join('') });
  }
  return out;
}

/** Longest digit string accepted in a number, so pathological input stays cheap. */
const MAX_NUMBER_CHARS = 40;

export interface ParsedNumber {
  value: bigint;
  hex: boolean;
  column: number;
}

export const INT32_MIN = -(2n ** 31n);
export const INT32_MAX = 2n ** 31n - 1n;
export const UINT32_MAX = 2n ** 32n - 1n;

/**
 * A cursor over one line. Every method skips leading blanks first, so the
 * parsers accept `(r1 +4)`, `(r1 + 0x4)` and `(r1+4)` alike.
 */
export class Cursor {
  pos: number;
  constructor(
    readonly text: string,
    readonly line: number,
    start = 0,
  ) {
    this.pos = start;
  }

  get column(): number {
    return this.pos + 1;
  }

  fail(reason: string, column = this.column): never {
    throw new AsmError(this.line, column, reason);
  }

  ws(): this {
    while (this.pos < this.text.length && (this.text[this.pos] === ' ' || this.text[this.pos] === '\t')) this.pos++;
    return this;
  }

  atEnd(): boolean {
    this.ws();
    return this.pos >= this.text.length;
  }

  /** What is next, for messages: a word, a number or one character. */
  describeNext(): string {
    this.ws();
    if (this.pos >= this.text.length) return 'end of line';
    const m = /^[A-Za-z0-9_%.$]+/.exec(this.text.slice(this.pos));
    return `'${m ? m[0] : this.text[this.pos]}'`;
  }

  expected(what: string): never {
    this.fail(`expected ${what}, found ${this.describeNext()}`);
  }

  end(): void {
    if (!this.atEnd()) this.fail(`unexpected ${this.describeNext()} after the instruction`);
  }

  /** Consumes `literal` if it comes next; a literal ending in a letter must not run into a word character. */
  eat(literal: string): boolean {
    this.ws();
    if (!this.text.startsWith(literal, this.pos)) return false;
    const after = this.text[this.pos + literal.length];
    if (/\w$/.test(literal) && after !== undefined && /\w/.test(after)) return false;
    this.pos += literal.length;
    return true;
  }

  expect(literal: string): void {
    if (!this.eat(literal)) this.expected(`'${literal}'`);
  }

  peek(literal: string): boolean {
    const save = this.pos;
    const found = this.eat(literal);
    this.pos = save;
    return found;
  }

  /** An identifier (letters, digits, `_`, `.`; `-` inside when `dashes`, as in `kernel-function`). */
  word(dashes = false): string | undefined {
    this.ws();
    const re = dashes ? /^[A-Za-z_.][\w.]*(?:-[A-Za-z_][\w.]*)*/ : /^[A-Za-z_.][\w.]*/;
    const m = re.exec(this.text.slice(this.pos));
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  peekWord(): string | undefined {
    const save = this.pos;
    const w = this.word();
    this.pos = save;
    return w;
  }

  /** A number with an optional sign right before it: decimal or 0x hex. */
  number(): ParsedNumber | undefined {
    this.ws();
    const column = this.column;
    const m = /^([+-]?)(0[xX][0-9a-fA-F]+|\d+)(?![\w.])/.exec(this.text.slice(this.pos));
    if (!m) return undefined;
    const digits = m[2]!;
    if (digits.length > MAX_NUMBER_CHARS) this.fail(`number too long`, column);
    this.pos += m[0].length;
    const magnitude = BigInt(digits.toLowerCase());
    return { value: m[1] === '-' ? -magnitude : magnitude, hex: /^0x/i.test(digits), column };
  }

  expectNumber(what = 'a number'): ParsedNumber {
    return this.number() ?? this.expected(what);
  }

  /**
   * A 32-bit immediate. Hex up to 0xffffffff is a raw bit pattern
   * (0xffffffff is -1); decimal must fit int32 unless `unsignedDecimal`.
   */
  imm32(what = 'an immediate', unsignedDecimal = false): number {
    const n = this.expectNumber(what);
    return toImm32(n, unsignedDecimal, this);
  }

  /** A signed 16-bit offset. */
  off16(n: ParsedNumber): number {
    if (n.value < -32768n || n.value > 32767n) this.fail(`offset ${n.value} out of range -32768..32767`, n.column);
    return Number(n.value);
  }

  /** A pc-relative jump or call distance: 16 bits in `offset`, 32 bits in `imm` (gotol, local calls). */
  jumpOffset(n: ParsedNumber, bits: 16 | 32): number {
    const limit = bits === 16 ? 32768n : 2n ** 31n;
    if (n.value < -limit || n.value >= limit) this.fail(`jump offset ${n.value} out of range ${-limit}..${limit - 1n}`, n.column);
    return Number(n.value);
  }
}

/** The atomic ALU operations by the mnemonic both dialects spell them with. */
export const ATOMIC_ALU_OPS: Readonly<Record<string, number>> = { add: AtomicOp.ADD, and: AtomicOp.AND, or: AtomicOp.OR, xor: AtomicOp.XOR };

export function toImm32(n: ParsedNumber, unsignedDecimal: boolean, at: Cursor): number {
  const max = n.hex || unsignedDecimal ? UINT32_MAX : INT32_MAX;
  if (n.value < INT32_MIN || n.value > max) {
    at.fail(`immediate ${n.hex ? formatHexBig(n.value) : n.value} does not fit in 32 bits`, n.column);
  }
  return Number(BigInt.asIntN(32, n.value));
}

/** A 64-bit constant: hex up to 64 bits, or signed decimal (unsigned up to 2^64-1 accepted). */
export function toImm64(n: ParsedNumber, at: Cursor): bigint {
  if (n.value < -(2n ** 63n) || n.value > 2n ** 64n - 1n) at.fail(`constant ${n.value} does not fit in 64 bits`, n.column);
  return BigInt.asUintN(64, n.value);
}

function formatHexBig(v: bigint): string {
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}
