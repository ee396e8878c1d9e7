import { type AttachPoint, type DeclaredMapKind, type Expr, type MapDeclaration, type MapRef, type Probe, type Script, type Statement, type TypeName, type VarRef, join } from './ast.ts';
import { type ScriptOrigin, type SourceSpan, TraceError, traceError, withSource } from './errors.ts';
import { Lexer, type Token } from './lexer.ts';
import { type Macro, type MacroParam, expandMacros } from './macros.ts';
import { preprocess } from './preprocess.ts';

/** C and bpftrace integer type names usable in casts and sizeof. */
export const INTEGER_TYPES: Record<string, { bits: 8 | 16 | 32 | 64; signed: boolean }> = {
  int8: { bits: 8, signed: true }, int16: { bits: 16, signed: true }, int32: { bits: 32, signed: true }, int64: { bits: 64, signed: true },
  uint8: { bits: 8, signed: false }, uint16: { bits: 16, signed: false }, uint32: { bits: 32, signed: false }, uint64: { bits: 64, signed: false },
  int8_t: { bits: 8, signed: true }, int16_t: { bits: 16, signed: true }, int32_t: { bits: 32, signed: true }, int64_t: { bits: 64, signed: true },
  uint8_t: { bits: 8, signed: false }, uint16_t: { bits: 16, signed: false }, uint32_t: { bits: 32, signed: false }, uint64_t: { bits: 64, signed: false },
  u8: { bits: 8, signed: false }, u16: { bits: 16, signed: false }, u32: { bits: 32, signed: false }, u64: { bits: 64, signed: false },
  s8: { bits: 8, signed: true }, s16: { bits: 16, signed: true }, s32: { bits: 32, signed: true }, s64: { bits: 64, signed: true },
  char: { bits: 8, signed: true }, short: { bits: 16, signed: true }, int: { bits: 32, signed: true }, long: { bits: 64, signed: true },
  unsigned: { bits: 32, signed: false }, bool: { bits: 8, signed: false }, size_t: { bits: 64, signed: false }, pid_t: { bits: 32, signed: true },
};

const DECLARED_MAP_KINDS: readonly DeclaredMapKind[] = ['hash', 'lruhash', 'percpuhash', 'percpulruhash'];

const ASSIGN_OPS = new Set(['=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<=', '>>=']);

/** Binary operators by precedence level, loosest first (C's). */
const BINARY_LEVELS: readonly (readonly string[])[] = [['||'], ['&&'], ['|'], ['^'], ['&'], ['==', '!='], ['<', '<=', '>', '>='], ['<<', '>>'], ['+', '-'], ['*', '/', '%']];

/** Nesting beyond this is refused, so a hostile script cannot exhaust the JS stack. */
const MAX_DEPTH = 200;
const INT64_MAX = (1n << 63n) - 1n;

/**
 * Statements a script may have: far beyond real scripts (bpftrace's tools
 * have a few hundred), low enough that a runaway or hostile script is
 * refused before its syntax tree and code take gigabytes (one probe's
 * program cannot exceed the kernel's million instructions anyway).
 */
export const MAX_STATEMENTS = 100_000;

/** bpftrace's default limit on attached probes (BPFTRACE_MAX_PROBES). */
export const DEFAULT_MAX_PROBES = 512;

/** The bpftrace error for a script with more probes than allowed. */
export function tooManyProbes(count: number | string, limit: number): string {
  return `Can't attach to ${count} probes because it exceeds the current limit of ${limit} probes. You can increase the limit through the BPFTRACE_MAX_PROBES environment variable, but BE CAREFUL since a high number of probes attached can cause your system to crash.`;
}

/** Object levels (an expression and its child arrays) an expanded probe may nest: about MAX_DEPTH macros each as deep as the parser allows. */
const MAX_EXPANDED_NESTING = 1200;

/**
 * Macros nest their bodies in each other, beyond what the parser saw:
 * refuse a probe whose expanded tree is deeper than the compiler can walk.
 * An explicit stack, visiting a node again only when reached deeper
 * (macro arguments are shared nodes).
 */
function refuseDeepExpansion(probe: Probe): void {
  const depthOf = new Map<object, number>();
  const pending: [unknown, number][] = [[probe, 0]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    if (typeof node !== 'object' || node === null || (depthOf.get(node) ?? -1) >= depth) continue;
    depthOf.set(node, depth);
    if (depth > MAX_EXPANDED_NESTING) throw traceError(`macro expansion nests deeper than the compiler allows (${MAX_EXPANDED_NESTING} levels)`, probe.span);
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
}

/** Parses a script. Every error is a TraceError pointing at the script text. */
export function parse(source: string, file = 'stdin', maxProbes = DEFAULT_MAX_PROBES, origin?: ScriptOrigin): Script {
  try {
    return new Parser(preprocess(source), maxProbes).script();
  } catch (error) {
    if (error instanceof TraceError) throw withSource(error, source, file, origin);
    throw error;
  }
}

function describe(token: Token): string {
  if (token.kind === 'eof') return 'end of file';
  if (token.kind === 'string') return 'string';
  if (token.kind === 'int') return 'integer';
  if (token.kind === 'map') return `map @${token.text}`;
  if (token.kind === 'var') return `variable $${token.text}`;
  if (token.kind === 'ident') return 'identifier';
  return token.text;
}

class Parser {
  readonly #lexer: Lexer;
  #depth = 0;
  /** Inside a predicate a bare `/` ends it instead of dividing. */
  #predicate = false;
  #parens = 0;
  #statements = 0;
  readonly #maxProbes: number;

  constructor(source: string, maxProbes: number) {
    this.#lexer = new Lexer(source);
    this.#maxProbes = maxProbes;
  }

  #peek(): Token {
    return this.#lexer.peek();
  }

  #next(): Token {
    return this.#lexer.next();
  }

  #is(text: string): boolean {
    const t = this.#peek();
    return (t.kind === 'punct' || t.kind === 'ident') && t.text === text;
  }

  #accept(text: string): Token | undefined {
    return this.#is(text) ? this.#next() : undefined;
  }

  #unexpected(token: Token, expecting?: string): TraceError {
    return traceError(`syntax error, unexpected ${describe(token)}${expecting ? `, expecting ${expecting}` : ''}`, token.span);
  }

  #expect(text: string): Token {
    const t = this.#next();
    if ((t.kind === 'punct' || t.kind === 'ident') && t.text === text) return t;
    throw this.#unexpected(t, text);
  }

  #enter(span: SourceSpan): void {
    if (++this.#depth > MAX_DEPTH) throw traceError(`nesting deeper than ${MAX_DEPTH} levels`, span);
  }

  script(): Script {
    const probes: Probe[] = [];
    const config = new Map<string, bigint | string>();
    const macros = new Map<string, Macro>();
    const mapDeclarations = new Map<string, MapDeclaration>();
    while (this.#peek().kind !== 'eof') {
      const t = this.#peek();
      if (t.kind === 'ident' && t.text === 'let') {
        this.#mapDeclaration(mapDeclarations);
        continue;
      }
      if (t.kind === 'ident' && t.text === 'config' && probes.length === 0) {
        this.#next();
        this.#expect('=');
        this.#configBlock(config);
        continue;
      }
      if (t.kind === 'ident' && (t.text === 'struct' || t.text === 'union' || t.text === 'enum') && probes.length === 0) {
        this.#skipTypeDefinition();
        continue;
      }
      if (t.kind === 'ident' && t.text === 'macro') {
        const macro = this.#macro();
        if (macros.has(macro.name)) throw traceError(`macro ${macro.name}() is defined twice`, macro.nameSpan);
        macros.set(macro.name, macro);
        continue;
      }
      // Each probe attaches at least once: stop parsing as soon as the script is bound to exceed the limit.
      if (probes.length === this.#maxProbes) throw traceError(tooManyProbes(`more than ${this.#maxProbes}`, this.#maxProbes), t.span);
      probes.push(this.#probe());
    }
    if (probes.length === 0) throw traceError('no probes in the script', this.#peek().span);
    const expanded = expandMacros(probes, macros);
    if (macros.size > 0) for (const probe of expanded) refuseDeepExpansion(probe);
    return { probes: expanded, config, mapDeclarations };
  }

  /** `let @name = lruhash(N);`: the kernel map type and size of a map. */
  #mapDeclaration(declarations: Map<string, MapDeclaration>): void {
    this.#next();
    const map = this.#next();
    if (map.kind !== 'map') throw this.#unexpected(map, 'a map (let @name = hash(N);)');
    this.#expect('=');
    const kind = this.#next();
    if (kind.kind !== 'ident' || !DECLARED_MAP_KINDS.includes(kind.text as DeclaredMapKind)) throw traceError(`${kind.kind === 'ident' ? `'${kind.text}' is not a map type` : 'expected a map type'}: use ${DECLARED_MAP_KINDS.join(', ')}`, kind.span);
    this.#expect('(');
    const size = this.#next();
    if (size.kind !== 'int' || size.value! < 1n || size.value! > 1n << 24n) throw traceError('a map declaration takes the maximum number of entries, an integer from 1 to 16777216', size.span);
    const close = this.#expect(')');
    this.#expect(';');
    if (declarations.has(map.text)) throw traceError(`@${map.text} is declared twice`, map.span);
    declarations.set(map.text, { kind: kind.text as DeclaredMapKind, maxEntries: Number(size.value), span: join(map.span, close.span) });
  }

  /** `macro name($var, @map, expr) { statements; value }` */
  #macro(): Macro {
    const keyword = this.#next();
    const name = this.#next();
    if (name.kind !== 'ident') throw this.#unexpected(name, 'a macro name');
    this.#expect('(');
    const params: MacroParam[] = [];
    while (!this.#accept(')')) {
      if (params.length > 0) this.#expect(',');
      const p = this.#next();
      if (p.kind === 'var') params.push({ kind: 'var', name: p.text, span: p.span });
      else if (p.kind === 'map') params.push({ kind: 'map', name: p.text, span: p.span });
      else if (p.kind === 'ident') params.push({ kind: 'expr', name: p.text, span: p.span });
      else throw this.#unexpected(p, 'a macro parameter ($var, @map or name)');
      if (params.slice(0, -1).some((q) => q.name === params.at(-1)!.name && q.kind === params.at(-1)!.kind)) throw traceError(`macro ${name.text}(): parameter ${p.text} appears twice`, p.span);
    }
    if (!this.#is('{')) throw this.#unexpected(this.#peek(), '{');
    const body = this.#block();
    return { name: name.text, params, body, span: join(keyword.span, name.span), nameSpan: name.span };
  }

  #configBlock(config: Map<string, bigint | string>): void {
    this.#expect('{');
    while (!this.#accept('}')) {
      const name = this.#next();
      if (name.kind !== 'ident') throw this.#unexpected(name, 'a config name');
      this.#expect('=');
      const value = this.#next();
      if (value.kind === 'int') config.set(name.text, value.value!);
      else if (value.kind === 'string' || value.kind === 'ident') config.set(name.text, value.text);
      else throw this.#unexpected(value, 'a config value');
      if (!this.#accept(';') && !this.#is('}')) throw this.#unexpected(this.#peek(), "';'");
    }
  }

  /** C struct/union/enum definitions before the probes declare types for casts; kernel BTF already has them. */
  #skipTypeDefinition(): void {
    const start = this.#next();
    let depth = 0;
    while (true) {
      const t = this.#next();
      if (t.kind === 'eof') throw traceError('unterminated type definition', start.span);
      if (t.text === '{' && t.kind === 'punct') depth++;
      if (t.text === '}' && t.kind === 'punct') depth--;
      if (t.text === ';' && t.kind === 'punct' && depth === 0) return;
    }
  }

  #probe(): Probe {
    const attachPoints: AttachPoint[] = [];
    do {
      const t = this.#lexer.attachPoint();
      attachPoints.push({ text: t.text, span: t.span });
    } while (this.#accept(','));
    let predicate: Expr | undefined;
    if (this.#accept('/')) {
      this.#predicate = true;
      predicate = this.#expression();
      this.#predicate = false;
      this.#expect('/');
    }
    const open = this.#peek();
    if (!this.#is('{')) throw this.#unexpected(open, '{');
    const body = this.#block();
    return { attachPoints, predicate, body, span: join(attachPoints[0]!.span, open.span) };
  }

  #block(): Statement[] {
    const open = this.#expect('{');
    this.#enter(open.span);
    const body: Statement[] = [];
    while (!this.#accept('}')) {
      if (this.#peek().kind === 'eof') throw this.#unexpected(this.#peek(), '}');
      if (this.#accept(';')) continue;
      const statement = this.#statement();
      body.push(statement);
      const compound = statement.kind === 'if' || statement.kind === 'while' || statement.kind === 'unroll' || statement.kind === 'forRange' || statement.kind === 'forMap' || statement.kind === 'block';
      if (!compound && !this.#accept(';') && !this.#is('}')) throw this.#unexpected(this.#peek());
    }
    this.#depth--;
    return body;
  }

  #statement(): Statement {
    const t = this.#peek();
    if (++this.#statements > MAX_STATEMENTS) throw traceError(`the script has more than ${MAX_STATEMENTS} statements, which tsbpf refuses (a probe's program is limited to the kernel's 1,000,000 instructions)`, t.span);
    if (t.kind === 'punct' && t.text === '{') return { kind: 'block', body: this.#block(), span: t.span };
    if (t.kind === 'ident') {
      switch (t.text) {
        case 'if':
          return this.#if();
        case 'while': {
          this.#next();
          const condition = this.#expression();
          return { kind: 'while', condition, body: this.#block(), span: t.span };
        }
        case 'unroll': {
          this.#next();
          this.#expect('(');
          const count = this.#next();
          if (count.kind !== 'int') throw this.#unexpected(count, 'an integer');
          this.#expect(')');
          if (count.value! < 1n || count.value! > 100n) throw traceError('unroll count must be positive and at most 100', count.span);
          return { kind: 'unroll', count: Number(count.value), body: this.#block(), span: join(t.span, count.span) };
        }
        case 'for':
          return this.#for();
        case 'break':
        case 'continue':
        case 'return':
          this.#next();
          return { kind: 'jump', jump: t.text, span: t.span };
        case 'let': {
          this.#next();
          const v = this.#next();
          if (v.kind !== 'var') throw this.#unexpected(v, 'a variable');
          const target: VarRef = { kind: 'var', name: v.text, span: v.span };
          if (!this.#accept('=')) return { kind: 'assign', target, op: 'declare', value: { kind: 'int', value: 0n, span: v.span }, declare: true, span: join(t.span, v.span) };
          const value = this.#expression();
          return { kind: 'assign', target, op: '=', value, declare: true, span: join(t.span, value.span) };
        }
      }
    }
    const expr = this.#expression();
    const op = this.#peek();
    if (op.kind === 'punct' && ASSIGN_OPS.has(op.text)) {
      if (expr.kind !== 'map' && expr.kind !== 'var') throw traceError('can only assign to maps and variables', expr.span);
      this.#next();
      const value = this.#expression();
      return { kind: 'assign', target: expr, op: op.text, value, declare: false, span: join(expr.span, value.span) };
    }
    return { kind: 'expr', expr, span: expr.span };
  }

  #if(): Statement {
    const t = this.#next();
    const condition = this.#expression();
    const then = this.#block();
    let otherwise: Statement[] | undefined;
    if (this.#accept('else')) otherwise = this.#is('if') ? [this.#if()] : this.#block();
    return { kind: 'if', condition, then, otherwise, span: t.span };
  }

  #for(): Statement {
    const t = this.#next();
    const parenthesised = this.#accept('(') !== undefined;
    const v = this.#next();
    if (v.kind !== 'var') throw this.#unexpected(v, 'a variable');
    const variable: VarRef = { kind: 'var', name: v.text, span: v.span };
    this.#expect(':');
    const source = this.#peek();
    let statement: Statement;
    if (source.kind === 'map') {
      this.#next();
      const map: MapRef = { kind: 'map', name: source.text, keys: undefined, span: source.span };
      if (parenthesised) this.#expect(')');
      statement = { kind: 'forMap', variable, map, body: [], span: t.span };
    } else {
      const from = this.#binary(0);
      this.#expect('..');
      const to = this.#binary(0);
      if (parenthesised) this.#expect(')');
      statement = { kind: 'forRange', variable, from, to, body: [], span: t.span };
    }
    statement.body = this.#block();
    return statement;
  }

  #expression(): Expr {
    const start = this.#peek();
    this.#enter(start.span);
    const condition = this.#binary(0);
    let result = condition;
    if (this.#accept('?')) {
      const then = this.#expression();
      this.#expect(':');
      const otherwise = this.#expression();
      result = { kind: 'ternary', condition, then, otherwise, span: join(condition.span, otherwise.span) };
    }
    this.#depth--;
    return result;
  }

  #binary(level: number): Expr {
    if (level >= BINARY_LEVELS.length) return this.#unary();
    let left = this.#binary(level + 1);
    // A chain `a + b + c...` nests to the left: each operator is one more level for the compiler's recursion.
    const entered = this.#depth;
    try {
      while (true) {
        const t = this.#peek();
        if (t.kind !== 'punct' || !BINARY_LEVELS[level]!.includes(t.text)) return left;
        if (t.text === '/' && this.#predicate && this.#parens === 0) return left;
        this.#next();
        this.#enter(t.span);
        const right = this.#binary(level + 1);
        left = { kind: 'binary', op: t.text, left, right, span: join(left.span, right.span) };
      }
    } finally {
      this.#depth = entered;
    }
  }

  #unary(): Expr {
    const t = this.#peek();
    if (t.kind === 'punct' && ['!', '~', '-', '*', '&', '+'].includes(t.text)) {
      this.#next();
      this.#enter(t.span);
      const operand = this.#unary();
      this.#depth--;
      return { kind: 'unary', op: t.text, operand, span: join(t.span, operand.span) };
    }
    if (t.kind === 'punct' && (t.text === '++' || t.text === '--')) {
      this.#next();
      const target = this.#postfix();
      if (target.kind !== 'map' && target.kind !== 'var') throw traceError(`${t.text} needs a map or a variable`, target.span);
      return { kind: 'incdec', op: t.text, prefix: true, target, span: join(t.span, target.span) };
    }
    return this.#postfix();
  }

  #fieldName(): { name: string; span: SourceSpan } {
    const name = this.#next();
    if (name.kind !== 'ident') throw this.#unexpected(name, 'a field name');
    return { name: name.text, span: name.span };
  }

  #postfix(): Expr {
    const expr = this.#primary();
    // Like binary chains, `a.b.c...` and `a[1][2]...` nest one level per operator.
    const entered = this.#depth;
    try {
      return this.#postfixChain(expr);
    } finally {
      this.#depth = entered;
    }
  }

  #postfixChain(first: Expr): Expr {
    let expr = first;
    while (true) {
      const t = this.#peek();
      if (t.kind !== 'punct') return expr;
      if (t.text === '.' || t.text === '->' || t.text === '[') this.#enter(t.span);
      if (t.text === '.' || t.text === '->') {
        this.#next();
        const name = this.#next();
        if (name.kind !== 'ident' && name.kind !== 'int') throw this.#unexpected(name, 'a field name');
        expr = { kind: 'field', base: expr, field: name.text, arrow: t.text === '->', span: join(expr.span, name.span) };
      } else if (t.text === '[') {
        this.#next();
        this.#parens++;
        const index = this.#expression();
        this.#parens--;
        const close = this.#expect(']');
        expr = { kind: 'index', base: expr, index, span: join(expr.span, close.span) };
      } else if (t.text === '++' || t.text === '--') {
        if (expr.kind !== 'map' && expr.kind !== 'var') return expr;
        this.#next();
        expr = { kind: 'incdec', op: t.text, prefix: false, target: expr, span: join(expr.span, t.span) };
      } else {
        return expr;
      }
    }
  }

  #typeName(): TypeName | undefined {
    const t = this.#peek();
    if (t.kind !== 'ident') return undefined;
    let base: string;
    if (t.text === 'struct' || t.text === 'union' || t.text === 'enum') {
      this.#next();
      const name = this.#next();
      if (name.kind !== 'ident') throw this.#unexpected(name, 'a type name');
      base = `${t.text} ${name.text}`;
    } else if (t.text in INTEGER_TYPES) {
      this.#next();
      base = t.text;
      if (t.text === 'unsigned' && this.#peek().kind === 'ident' && this.#peek().text in INTEGER_TYPES) base = `unsigned ${this.#next().text}`;
    } else {
      return undefined;
    }
    let pointer = 0;
    let end = t.span;
    while (this.#is('*')) {
      end = this.#next().span;
      pointer++;
    }
    return { base, pointer, span: join(t.span, end) };
  }

  #primary(): Expr {
    const t = this.#next();
    switch (t.kind) {
      case 'int':
        return { kind: 'int', value: t.value!, span: t.span };
      case 'string':
        return { kind: 'string', value: t.text, span: t.span };
      case 'positional':
        if (t.text !== '#' && BigInt(t.text) > INT64_MAX) throw traceError(`param $${t.text} is out of integer range [1, ${INT64_MAX}]`, t.span);
        return { kind: 'positional', index: t.text === '#' ? '#' : Number(t.text), span: t.span };
      case 'var':
        return { kind: 'var', name: t.text, span: t.span };
      case 'map': {
        const map: MapRef = { kind: 'map', name: t.text, keys: undefined, span: t.span };
        if (this.#is('[')) {
          this.#next();
          this.#parens++;
          const keys: Expr[] = [];
          if (!this.#is(']')) {
            do keys.push(this.#expression());
            while (this.#accept(','));
          }
          this.#parens--;
          const close = this.#expect(']');
          if (keys.length === 0) throw traceError('a map key cannot be empty', join(t.span, close.span));
          map.keys = keys;
          map.span = join(t.span, close.span);
        }
        return map;
      }
      case 'ident':
        return this.#identifier(t);
      case 'punct':
        if (t.text === '(') return this.#parenthesised(t);
        throw this.#unexpected(t);
      default:
        throw this.#unexpected(t);
    }
  }

  #identifier(t: Token): Expr {
    if (t.text === 'sizeof') {
      this.#expect('(');
      const type = this.#typeName();
      const operand = type === undefined ? this.#expression() : undefined;
      const close = this.#expect(')');
      return { kind: 'sizeof', type, operand, span: join(t.span, close.span) };
    }
    if (t.text === 'offsetof' && this.#is('(')) {
      this.#expect('(');
      const type = this.#typeName();
      if (type === undefined) throw traceError('offsetof() expects a struct type first: offsetof(struct x, field)', this.#peek().span);
      this.#expect(',');
      const fields = [this.#fieldName()];
      while (this.#is('.')) {
        this.#next();
        fields.push(this.#fieldName());
      }
      const close = this.#expect(')');
      return { kind: 'offsetof', type, fields, span: join(t.span, close.span) };
    }
    if (this.#is('(')) {
      this.#next();
      this.#parens++;
      const args: Expr[] = [];
      if (!this.#is(')')) {
        do args.push(this.#expression());
        while (this.#accept(','));
      }
      this.#parens--;
      const close = this.#expect(')');
      return { kind: 'call', name: t.text, args, span: join(t.span, close.span), nameSpan: t.span };
    }
    return { kind: 'builtin', name: t.text, span: t.span };
  }

  #parenthesised(open: Token): Expr {
    const type = this.#typeName();
    if (type !== undefined) {
      this.#expect(')');
      this.#enter(open.span);
      const operand = this.#unary();
      this.#depth--;
      return { kind: 'cast', type, operand, span: join(open.span, operand.span) };
    }
    this.#parens++;
    const first = this.#expression();
    if (this.#accept(',')) {
      const elements = [first];
      do elements.push(this.#expression());
      while (this.#accept(','));
      this.#parens--;
      const close = this.#expect(')');
      return { kind: 'tuple', elements, span: join(open.span, close.span) };
    }
    this.#parens--;
    this.#expect(')');
    return first;
  }
}
