/**
 * bpftrace macros: `macro name($var, @map, expr) { statements; value }`,
 * expanded in the syntax tree before anything is typed. A `$var` parameter
 * takes a variable, `@map` a map, and a bare name any expression. A macro
 * used as a statement runs its whole body; one used as a value must be a
 * single expression. A macro with no parameters may be called without
 * parentheses (`if errname { ... }`). Variables a macro assigns are its
 * own: they are renamed per expansion, so they cannot clash with the
 * caller's.
 */
import type { Expr, MapRef, Probe, Statement, VarRef } from './ast.ts';
import { type SourceSpan, traceError } from './errors.ts';

export interface MacroParam {
  kind: 'var' | 'map' | 'expr';
  name: string;
  span: SourceSpan;
}

export interface Macro {
  name: string;
  params: MacroParam[];
  body: Statement[];
  span: SourceSpan;
  nameSpan: SourceSpan;
}

/** Macros expanding macros: deeper than this is taken for recursion. */
const MAX_EXPANSION_DEPTH = 32;

/** What a macro's parameters and local variables stand for in one expansion. */
interface Bindings {
  vars: Map<string, string>;
  maps: Map<string, string>;
  exprs: Map<string, Expr>;
}

export function expandMacros(probes: Probe[], macros: ReadonlyMap<string, Macro>): Probe[] {
  if (macros.size === 0) return probes;
  let expansions = 0;
  const empty: Bindings = { vars: new Map(), maps: new Map(), exprs: new Map() };

  const bind = (macro: Macro, args: Expr[], span: SourceSpan): Bindings => {
    if (args.length !== macro.params.length) throw traceError(`macro ${macro.name}() takes ${macro.params.length} argument${macro.params.length === 1 ? '' : 's'}, ${args.length} given`, span);
    const b: Bindings = { vars: new Map(), maps: new Map(), exprs: new Map() };
    macro.params.forEach((p, i) => {
      const arg = args[i]!;
      if (p.kind === 'var') {
        if (arg.kind !== 'var') throw traceError(`macro ${macro.name}(): parameter $${p.name} takes a variable`, arg.span);
        b.vars.set(p.name, arg.name);
      } else if (p.kind === 'map') {
        if (arg.kind !== 'map' || arg.keys !== undefined) throw traceError(`macro ${macro.name}(): parameter @${p.name} takes a map`, arg.span);
        b.maps.set(p.name, arg.name);
      } else {
        b.exprs.set(p.name, arg);
      }
    });
    // Variables the body assigns that are not parameters: renamed for this expansion.
    const id = ++expansions;
    const local = (statements: Statement[]): void => {
      for (const s of statements) {
        if (s.kind === 'assign' && s.target.kind === 'var' && !b.vars.has(s.target.name)) b.vars.set(s.target.name, `${s.target.name}__${macro.name}_${id}`);
        if (s.kind === 'forRange' && !b.vars.has(s.variable.name)) b.vars.set(s.variable.name, `${s.variable.name}__${macro.name}_${id}`);
        for (const nested of [s.kind === 'if' ? s.then : undefined, s.kind === 'if' ? s.otherwise : undefined, 'body' in s ? s.body : undefined]) if (nested) local(nested);
      }
    };
    local(macro.body);
    return b;
  };

  const macroCall = (e: Expr): { macro: Macro; args: Expr[] } | undefined => {
    if (e.kind === 'call' && macros.has(e.name)) return { macro: macros.get(e.name)!, args: e.args };
    if (e.kind === 'builtin' && macros.get(e.name)?.params.length === 0) return { macro: macros.get(e.name)!, args: [] };
    return undefined;
  };

  const expr = (e: Expr, b: Bindings, depth: number): Expr => {
    const call = macroCall(e);
    if (call !== undefined) {
      if (depth >= MAX_EXPANSION_DEPTH) throw traceError(`macro ${call.macro.name}() expands itself without end`, e.span);
      const body = call.macro.body;
      const last = body.at(-1);
      if (body.length !== 1 || last?.kind !== 'expr') throw traceError(`macro ${call.macro.name}() is used as a value, so its body must be a single expression`, e.span);
      const args = call.args.map((a) => expr(a, b, depth));
      return expr(last.expr, bind(call.macro, args, e.span), depth + 1);
    }
    const x = (child: Expr): Expr => expr(child, b, depth);
    switch (e.kind) {
      case 'var':
        return variable(e, b);
      case 'map':
        return mapRef(e, b, depth);
      case 'builtin':
        return b.exprs.get(e.name) ?? e;
      case 'call':
        return { ...e, args: e.args.map(x) };
      case 'unary':
        return { ...e, operand: x(e.operand) };
      case 'binary':
        return { ...e, left: x(e.left), right: x(e.right) };
      case 'ternary':
        return { ...e, condition: x(e.condition), then: x(e.then), otherwise: x(e.otherwise) };
      case 'incdec':
        return { ...e, target: e.target.kind === 'var' ? variable(e.target, b) : mapRef(e.target, b, depth) };
      case 'field':
        return { ...e, base: x(e.base) };
      case 'index':
        return { ...e, base: x(e.base), index: x(e.index) };
      case 'cast':
        return { ...e, operand: x(e.operand) };
      case 'sizeof':
        return e.operand !== undefined ? { ...e, operand: x(e.operand) } : e;
      case 'tuple':
        return { ...e, elements: e.elements.map(x) };
      default:
        return e;
    }
  };

  const variable = (v: VarRef, b: Bindings): VarRef => {
    const name = b.vars.get(v.name);
    return name === undefined ? v : { ...v, name };
  };

  const mapRef = (m: MapRef, b: Bindings, depth: number): MapRef => ({ ...m, name: b.maps.get(m.name) ?? m.name, keys: m.keys?.map((k) => expr(k, b, depth)) });

  const statements = (list: Statement[], b: Bindings, depth: number): Statement[] => list.map((s) => statement(s, b, depth));

  const statement = (s: Statement, b: Bindings, depth: number): Statement => {
    const x = (e: Expr): Expr => expr(e, b, depth);
    const all = (l: Statement[]): Statement[] => statements(l, b, depth);
    switch (s.kind) {
      case 'expr': {
        const call = macroCall(s.expr);
        if (call === undefined) return { ...s, expr: x(s.expr) };
        if (depth >= MAX_EXPANSION_DEPTH) throw traceError(`macro ${call.macro.name}() expands itself without end`, s.span);
        const args = call.args.map(x);
        return { kind: 'block', body: statements(call.macro.body, bind(call.macro, args, s.span), depth + 1), span: s.span };
      }
      case 'assign':
        return { ...s, target: s.target.kind === 'var' ? variable(s.target, b) : mapRef(s.target, b, depth), value: x(s.value) };
      case 'if':
        return { ...s, condition: x(s.condition), then: all(s.then), otherwise: s.otherwise && all(s.otherwise) };
      case 'while':
        return { ...s, condition: x(s.condition), body: all(s.body) };
      case 'forRange':
        return { ...s, variable: variable(s.variable, b), from: x(s.from), to: x(s.to), body: all(s.body) };
      case 'forMap':
        return { ...s, variable: variable(s.variable, b), map: mapRef(s.map, b, depth), body: all(s.body) };
      case 'unroll':
      case 'block':
        return { ...s, body: all(s.body) };
      case 'jump':
        return s;
    }
  };

  return probes.map((p) => ({ ...p, predicate: p.predicate && expr(p.predicate, empty, 0), body: statements(p.body, empty, 0) }));
}
