import { type SourceSpan, traceError } from './errors.ts';

export type TokenKind = 'ident' | 'int' | 'string' | 'map' | 'var' | 'positional' | 'punct' | 'attach' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** The text: identifier and map/variable names without sigil, string contents unescaped, punctuation as written. */
  readonly text: string;
  readonly value?: bigint;
  readonly span: SourceSpan;
}

/** Multi-character punctuation, longest first. */
const PUNCTUATION = ['<<=', '>>=', '...', '..', '->', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '==', '!=', '<=', '>=', '&&', '||', '<<', '>>'];
const SINGLE = '{}()[];,:?=+-*/%&|^!~<>.';

const STRING_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', '0': '\0', a: '\x07', b: '\b', f: '\f', v: '\v' };

/**
 * Tokens of a bpftrace script, produced on demand so that the parser can
 * read an attach point (`uprobe:/bin/bash:readline`, `tracepoint:syscalls:sys_enter_*`)
 * as one raw token where the grammar expects one.
 */
export class Lexer {
  #pos = 0;
  #line = 1;
  #lineStart = 0;
  #peeked: Token | undefined;

  constructor(readonly source: string) {}

  #span(start: number, line: number, lineStart: number): SourceSpan {
    const column = start - lineStart + 1;
    const endColumn = line === this.#line ? this.#pos - lineStart + 1 : column + 1;
    return { line, column, endColumn: Math.max(endColumn, column + 1) };
  }

  #skipSpaceAndComments(): void {
    const s = this.source;
    while (this.#pos < s.length) {
      const c = s[this.#pos]!;
      if (c === '\n') {
        this.#pos++;
        this.#line++;
        this.#lineStart = this.#pos;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
        this.#pos++;
      } else if (s.startsWith('//', this.#pos)) {
        while (this.#pos < s.length && s[this.#pos] !== '\n') this.#pos++;
      } else if (s.startsWith('/*', this.#pos)) {
        const line = this.#line;
        const lineStart = this.#lineStart;
        const start = this.#pos;
        this.#pos += 2;
        while (this.#pos < s.length && !s.startsWith('*/', this.#pos)) {
          if (s[this.#pos] === '\n') {
            this.#line++;
            this.#lineStart = this.#pos + 1;
          }
          this.#pos++;
        }
        if (this.#pos >= s.length) throw traceError('unterminated comment', { line, column: start - lineStart + 1, endColumn: start - lineStart + 3 });
        this.#pos += 2;
      } else {
        return;
      }
    }
  }

  peek(): Token {
    this.#peeked ??= this.#scan();
    return this.#peeked;
  }

  next(): Token {
    const token = this.peek();
    this.#peeked = undefined;
    return token;
  }

  /**
   * One attach point: everything up to white space, `,`, `{` or a `/`
   * starting a predicate. A `/` right after `:` starts a path, which runs
   * to the next `:`; double-quoted parts are taken verbatim.
   */
  attachPoint(): Token {
    if (this.#peeked !== undefined) {
      // Only an identifier-like token can have been peeked; rescan from its start.
      this.#pos = this.#offsetOf(this.#peeked.span);
      this.#peeked = undefined;
    }
    this.#skipSpaceAndComments();
    const s = this.source;
    const start = this.#pos;
    const line = this.#line;
    const lineStart = this.#lineStart;
    let text = '';
    let inPath = false;
    while (this.#pos < s.length) {
      const c = s[this.#pos]!;
      if (c === '"') {
        const end = s.indexOf('"', this.#pos + 1);
        const newline = s.indexOf('\n', this.#pos + 1);
        if (end < 0 || (newline >= 0 && newline < end)) throw traceError('unterminated string in attach point', this.#span(start, line, lineStart));
        text += s.slice(this.#pos + 1, end);
        this.#pos = end + 1;
        continue;
      }
      if (/\s/.test(c) || c === ',' || c === '{' || c === '}' || c === ';') break;
      if (c === '/' && !inPath) {
        if (text.endsWith(':')) inPath = true;
        else break;
      } else if (c === ':') {
        inPath = false;
      }
      text += c;
      this.#pos++;
    }
    if (text === '') throw traceError(this.#pos >= s.length ? 'syntax error, unexpected end of file, expecting a probe' : `syntax error, unexpected ${JSON.stringify(s[this.#pos])}, expecting a probe`, this.#span(start, line, lineStart));
    return { kind: 'attach', text, span: this.#span(start, line, lineStart) };
  }

  #offsetOf(span: SourceSpan): number {
    let offset = 0;
    for (let line = 1; line < span.line; line++) offset = this.source.indexOf('\n', offset) + 1;
    this.#line = span.line;
    this.#lineStart = offset;
    return offset + span.column - 1;
  }

  #scan(): Token {
    this.#skipSpaceAndComments();
    const s = this.source;
    const start = this.#pos;
    const line = this.#line;
    const lineStart = this.#lineStart;
    const token = (kind: TokenKind, text: string, value?: bigint): Token => ({ kind, text, ...(value !== undefined ? { value } : {}), span: this.#span(start, line, lineStart) });
    if (this.#pos >= s.length) return { kind: 'eof', text: '', span: { line, column: start - lineStart + 1, endColumn: start - lineStart + 2 } };
    const c = s[this.#pos]!;
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(this.#pos, this.#pos + 256))!;
      this.#pos += m[0].length;
      return token('ident', m[0]);
    }
    if (/[0-9]/.test(c)) return this.#number(token);
    if (c === '@') {
      const m = /^@[A-Za-z0-9_]*/.exec(s.slice(this.#pos, this.#pos + 256))!;
      this.#pos += m[0].length;
      return token('map', m[0].slice(1));
    }
    if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*|[0-9]+|#)/.exec(s.slice(this.#pos, this.#pos + 256));
      if (m === null) {
        this.#pos++;
        throw traceError("syntax error, unexpected '$'", this.#span(start, line, lineStart));
      }
      this.#pos += m[0].length;
      return token(/^[0-9#]/.test(m[1]!) ? 'positional' : 'var', m[1]!);
    }
    if (c === '"') return this.#string(token);
    if (c === "'") {
      const m = /^'(\\.|[^'\\\n])'/.exec(s.slice(this.#pos, this.#pos + 4));
      if (m === null) {
        this.#pos++;
        throw traceError('invalid character literal', this.#span(start, line, lineStart));
      }
      this.#pos += m[0].length;
      const ch = m[1]!.startsWith('\\') ? (STRING_ESCAPES[m[1]![1]!] ?? m[1]![1]!) : m[1]!;
      return token('int', m[0], BigInt(ch.charCodeAt(0)));
    }
    for (const p of PUNCTUATION) {
      if (s.startsWith(p, this.#pos)) {
        this.#pos += p.length;
        return token('punct', p);
      }
    }
    if (SINGLE.includes(c)) {
      this.#pos++;
      return token('punct', c);
    }
    this.#pos++;
    throw traceError(`invalid character '${c === '\n' ? '\\n' : c}'`, this.#span(start, line, lineStart));
  }

  #number(token: (kind: TokenKind, text: string, value?: bigint) => Token): Token {
    const rest = this.source.slice(this.#pos, this.#pos + 128);
    const m = /^(0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*(?:e[0-9]+)?)([A-Za-z_][A-Za-z0-9_]*)?/.exec(rest)!;
    this.#pos += m[0].length;
    const digits = m[1]!.replace(/_/g, '');
    let value: bigint;
    const exponent = /^([0-9]+)e([0-9]+)$/.exec(digits);
    if (exponent !== null) value = BigInt(exponent[1]!) * 10n ** BigInt(Math.min(Number(exponent[2]!), 40));
    else if (/^0[0-7]+$/.test(digits)) value = BigInt(`0o${digits.slice(1)}`);
    else value = BigInt(digits === '' ? '0' : digits);
    const suffix = m[2] ?? '';
    const units: Record<string, bigint> = { '': 1n, ns: 1n, us: 1000n, ms: 1000000n, s: 1000000000n, m: 60000000000n, h: 3600000000000n, d: 86400000000000n, u: 1n, l: 1n, ul: 1n, ll: 1n, ull: 1n, U: 1n, L: 1n, UL: 1n, LL: 1n, ULL: 1n };
    const unit = units[suffix];
    if (unit === undefined) throw traceError(`invalid integer suffix '${suffix}'`, token('int', m[0]).span);
    value *= unit;
    if (value >= 1n << 64n) throw traceError(`integer ${m[0]} is out of range (64 bits)`, token('int', m[0]).span);
    return token('int', m[0], value);
  }

  #string(token: (kind: TokenKind, text: string) => Token): Token {
    const s = this.source;
    let out = '';
    this.#pos++;
    while (true) {
      if (this.#pos >= s.length || s[this.#pos] === '\n') throw traceError('unterminated string', token('string', '').span);
      const c = s[this.#pos]!;
      if (c === '"') {
        this.#pos++;
        return token('string', out);
      }
      if (c === '\\') {
        const e = s[this.#pos + 1] ?? '';
        const octal = /^[0-7]{1,3}/.exec(s.slice(this.#pos + 1, this.#pos + 4));
        const hex = /^x([0-9a-fA-F]{1,2})/.exec(s.slice(this.#pos + 1, this.#pos + 4));
        if (hex !== null) {
          out += String.fromCharCode(parseInt(hex[1]!, 16));
          this.#pos += 1 + hex[0].length;
        } else if (octal !== null) {
          out += String.fromCharCode(parseInt(octal[0], 8) & 0xff);
          this.#pos += 1 + octal[0].length;
        } else if (STRING_ESCAPES[e] !== undefined) {
          out += STRING_ESCAPES[e];
          this.#pos += 2;
        } else {
          this.#pos += 2;
          throw traceError(`invalid escape sequence '\\${e}' in string`, token('string', '').span);
        }
        continue;
      }
      out += c;
      this.#pos++;
    }
  }
}
