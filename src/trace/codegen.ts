import type { Instruction } from '../isa/index.ts';
import { AtomicOp, CallSrc, LdImm64Src, OPCODE_CALL, atomic, lddw } from '../isa/index.ts';
import type { Relocation } from '../object/index.ts';
import type { TracepointField, TracepointFormat } from '../vm/index.ts';
import type { Expr, MapRef, Probe, Statement, VarRef } from './ast.ts';
import { AluOp, Emitter, FP, JmpOp, type Label, MAX_INSNS, R0, R1, R2, R3, R4, R6, R7, R8, R9, STACK_LIMIT, Size, alu64Imm, alu64Reg, exit, ldx, mov64Imm, mov64Reg, st, stx } from './emitter.ts';
import { type SourceSpan, TraceError, TraceLimitError, traceError } from './errors.ts';
import { type FormatPiece, conversionCount, parseFormat } from './format-string.ts';
import { findMember, findType, kernelFunctionId, namedConstant, traceTypeOf, typeSize } from './kernel-types.ts';
import type { UsdtArgument } from './usdt.ts';
import { type UserSymbol, userSymbol, virtualAddressOf } from './uaddr.ts';
import { INTEGER_TYPES } from './parser.ts';
import type { ProbeTarget } from './probes.ts';
import { AGGREGATIONS, type AggregationKind, COMM_SIZE, INT64, type MapInfo, type MapValue, NONE, STRING_SIZE, type TraceType, UINT32, UINT64, compatible, isInteger, isScalar, mapKeySize, mapValueSize, sizeOf, typeName } from './types.ts';

/** What the runtime does with a ring buffer record, found by the record's first u64. */
export type EventSpec =
  | { kind: 'printf'; pieces: FormatPiece[]; args: TraceType[] }
  | { kind: 'system' | 'cat'; pieces: FormatPiece[]; args: TraceType[] }
  | { kind: 'exit' }
  | { kind: 'print' | 'clear' | 'zero'; map: string; top?: number }
  | { kind: 'time'; format: string }
  | { kind: 'join'; delimiter: string };

/** Things shared by every program of a script: maps, events, stacks. */
export interface ScriptState {
  readonly maps: Map<string, MapInfo>;
  readonly events: EventSpec[];
  usesStacks: boolean;
  usesRingbuf: boolean;
  readonly positional: readonly string[];
  /** The first pass, which only learns map types: a statement that fails does not stop the ones after it. */
  readonly learning: boolean;
  readonly startNs: bigint;
  readonly unsafe: boolean;
  /** Possible CPUs: per-CPU aggregations read in a for loop are combined over this many slots at most. */
  readonly cpus: number;
  /** Named arguments (`-- --name=value`) for getopt(); '' for a flag given without a value. */
  readonly namedArgs: ReadonlyMap<string, string>;
  /** The names getopt() read, so an argument no getopt() reads is an error. */
  readonly optionsRead: Set<string>;
  /** Kernel symbol addresses for kaddr(). */
  readonly kernelSymbol: (name: string) => bigint | undefined;
  /** Warnings of the final pass (bpftrace's `WARNING:` lines), printed before the probes attach. */
  readonly warnings: TraceError[];
}

export const RINGBUF_MAP = 'ringbuf';
export const LOST_MAP = 'lost';
export const STACK_MAP = 'stacks';
/** Stack frames kept per stack (bpftrace's perf_max_stack default). */
export const STACK_DEPTH = 127;
/** Arguments join() reads, and bytes per argument. */
export const JOIN_ARGS = 16;
export const JOIN_ARG_SIZE = 64;
/** get_stackid's BPF_F_USER_STACK. */
const USER_STACK = 1 << 8;

/** x86-64 struct pt_regs offsets of the argument, return and instruction pointer registers. */
const PT_REGS_ARGS = [112, 104, 96, 88, 72, 64];
const PT_REGS_RETURN = 80;
const PT_REGS_IP = 128;

/** Where a probe's context comes from, which decides builtins and the program type. */
export interface ProbeContext {
  readonly target: ProbeTarget;
  readonly format: TracepointFormat | undefined;
  /** The value `probe` yields (tracepoints attached through perf events carry it in their link cookie). */
  readonly probeId: number;
  /** A tracepoint run as a raw tracepoint (it does not read `args`): cheaper, no record is built for it. */
  readonly raw?: boolean;
}

export interface GeneratedProgram {
  instructions: Instruction[];
  relocations: Relocation[];
  stackUsed: number;
  /** Loop callbacks (subprograms after the probe's own code). */
  functions: { name: string; insnIndex: number }[];
  /** The script place of each run of instructions, by first instruction, in order. */
  positions: { insnIndex: number; span: SourceSpan }[];
}

/** A `$name` variable: its type and stack slot in the probe's frame. */
interface Variable {
  type: TraceType;
  offset: number;
}

export function kernelMapName(name: string): string {
  return `AT_${name}`;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19 };

/** The BTF id of a kernel struct or union, or undefined (also when the kernel has no BTF). */
function kernelTypeId(name: string): number | undefined {
  try {
    return findType(name);
  } catch {
    return undefined;
  }
}

/** Field type of a tracepoint format as a bpftrace type. */
export function fieldType(field: TracepointField, userPointers: boolean): TraceType {
  if (field.dataLoc) return { kind: 'string', size: STRING_SIZE };
  const base = field.type.replace(/\[.*$/, '').trim();
  if (field.arrayLength !== undefined) {
    if (/\bchar$/.test(base)) return { kind: 'string', size: field.arrayLength };
    return { kind: 'tuple', elements: [] }; // arrays are read element by element or whole by ntop()
  }
  if (base.includes('*')) {
    const pointee = base.replace(/\*\s*$/, '').trim();
    // `struct __kernel_timespec * rqtp`: fields through it come from kernel BTF (naptime.bt's args->rqtp->tv_sec).
    const record = /^(?:const\s+)?((?:struct|union)\s+\w+)$/.exec(pointee)?.[1];
    const btfId = record !== undefined ? kernelTypeId(record) : undefined;
    return { kind: 'pointer', pointee, user: userPointers, ...(btfId !== undefined ? { btfId } : {}) };
  }
  const size = field.size === 1 || field.size === 2 || field.size === 4 ? field.size : 8;
  return { kind: 'int', bits: (size * 8) as 8 | 16 | 32 | 64, signed: field.signed };
}

/** A positional argument's value as bpftrace reads it numerically (decimal or 0x hex, in int64's range), or undefined. */
export function positionalInteger(text: string): bigint | undefined {
  const match = /^(-?)(0x[0-9a-f]+|\d+)$/i.exec(text);
  if (match === null) return undefined;
  const value = match[1] === '-' ? -BigInt(match[2]!) : BigInt(match[2]!);
  return value >= -(1n << 63n) && value < 1n << 63n ? value : undefined;
}

/** Whether control never goes on after `s`: exit(), a jump, or an if or block every path of which ends so. */
function ends(s: Statement): boolean {
  switch (s.kind) {
    case 'jump':
      return true;
    case 'expr':
      return s.expr.kind === 'call' && s.expr.name === 'exit';
    case 'if':
      return s.otherwise !== undefined && s.then.some(ends) && s.otherwise.some(ends);
    case 'block':
      return s.body.some(ends);
    case 'unroll':
      return s.count > 0 && s.body.some(ends);
    default:
      return false;
  }
}

/** `task->real_parent->comm`: bpftrace's pcomm (the parent process's name). */
function parentComm(task: Expr): Expr {
  const span = task.span;
  const asTask: Expr = { kind: 'cast', type: { base: 'struct task_struct', pointer: 1, span }, operand: task.kind === 'builtin' && task.name === 'pcomm' ? { kind: 'builtin', name: 'curtask', span } : task, span };
  return { kind: 'field', base: { kind: 'field', base: asTask, field: 'real_parent', arrow: true, span }, field: 'comm', arrow: true, span };
}

/** `task->real_parent->tgid` as uint32: bpftrace's ppid (the parent process's id). */
function parentPid(task: Expr): Expr {
  const span = task.span;
  const asTask: Expr = { kind: 'cast', type: { base: 'struct task_struct', pointer: 1, span }, operand: task, span };
  const parent: Expr = { kind: 'field', base: asTask, field: 'real_parent', arrow: true, span };
  return { kind: 'cast', type: { base: 'uint32', pointer: 0, span }, operand: { kind: 'field', base: parent, field: 'tgid', arrow: true, span }, span };
}

/**
 * Code generation for one concrete probe: types are computed as the code
 * is generated (a tracepoint's `args` depend on its format), maps and
 * events go to the shared ScriptState.
 */
export class ProbeCompiler {
  #e = new Emitter();
  #types = new WeakMap<Expr, TraceType>();
  readonly #vars = new Map<string, Variable>();
  /** The variables of the enclosing for loops, innermost last (each lives in its loop's callback frame). */
  readonly #loopScopes: Map<string, Variable>[] = [];
  /** Loop exits for break/continue, innermost last. */
  #loops: { breakLabel: Label; continueLabel: Label }[] = [];
  #returnLabel: Label | undefined;
  /** 0 while generating the probe's own code, n inside the callback of the n-th nested for loop. */
  #frame = 0;
  /**
   * Per for-loop statement, its probe-frame slots: the loop variable (kept
   * in the probe's frame, so nested loops read it too) and a range's start.
   */
  readonly #loopSlots = new Map<Statement, { variable: number; start: number }>();
  /** Main-frame flag a loop callback sets when `return` or exit() must end the probe. */
  #returnFlag: number | undefined;
  /** Loop callbacks, appended after the probe's code, and the ld_imm64s that point at them. */
  readonly #callbacks: { emitter: Emitter; name: string; frames: number[] }[] = [];
  readonly #functionLoads: { emitter: Emitter; slot: number; callback: number }[] = [];

  constructor(
    readonly state: ScriptState,
    readonly context: ProbeContext,
  ) {}

  get #kind(): ProbeTarget['kind'] {
    return this.context.target.kind;
  }

  compile(probe: Probe): GeneratedProgram {
    const e = this.#e;
    e.at(probe.span);
    e.emit(mov64Reg(R6, R1));
    this.#declareVariables(probe.body, probe.predicate);
    this.#returnLabel = e.label();
    if (probe.predicate !== undefined) {
      e.at(probe.predicate.span);
      this.#condition(probe.predicate, this.#returnLabel);
    }
    this.#statements(probe.body);
    e.at(probe.span);
    e.place(this.#returnLabel);
    e.emit(mov64Imm(R0, 0), exit());
    // A learning pass only learns map types; its code, with the statements that failed left half-generated, is dropped.
    if (this.state.learning) return { instructions: [], relocations: [], stackUsed: 0, functions: [], positions: [] };
    return this.#link(probe.span);
  }

  /** Lays the loop callbacks out after the probe's code and points each callback load at its callback. */
  #link(span: SourceSpan): GeneratedProgram {
    const main = this.#e;
    const instructions = [...main.finish()];
    const relocations = [...main.relocations];
    const positions = [...main.positions];
    const functions = [];
    const starts = new Map<Emitter, number>([[main, 0]]);
    for (const callback of this.#callbacks) {
      const start = instructions.length;
      starts.set(callback.emitter, start);
      functions.push({ name: callback.name, insnIndex: start });
      instructions.push(...callback.emitter.finish());
      relocations.push(...callback.emitter.relocations.map((r) => ({ ...r, insnIndex: r.insnIndex + start })));
      positions.push(...callback.emitter.positions.map((p) => ({ ...p, insnIndex: p.insnIndex + start })));
      // The kernel adds up the frames of a call chain, each rounded up to 32 bytes, against the 512-byte limit.
      const chain = [main.stackUsed, ...callback.frames].reduce((total, used) => total + ((Math.max(used, 1) + 31) & ~31), 0);
      if (chain > STACK_LIMIT) throw traceError(`the probe and its for loop callbacks need more than the kernel's ${STACK_LIMIT}-byte stack together (${chain} bytes): use fewer or smaller variables`, span);
    }
    if (instructions.length > MAX_INSNS) throw new TraceLimitError(`the probe's program and its loop callbacks exceed the kernel's limit of ${MAX_INSNS} instructions together`, span);
    for (const load of this.#functionLoads) {
      const at = starts.get(load.emitter)! + load.slot;
      const target = starts.get(this.#callbacks[load.callback]!.emitter)!;
      instructions[at] = { ...instructions[at]!, imm: target - (at + 1) };
    }
    return { instructions, relocations, stackUsed: main.stackUsed, functions, positions };
  }

  /** Variables live for the whole probe: typed at their first assignment, zeroed at entry so every read is initialised. */
  #declareVariables(body: Statement[], predicate: Expr | undefined): void {
    if (predicate !== undefined) this.#scanExpr(predicate);
    // `let $x;` leaves $x's type to its first assignment (an int64 if it has none).
    const untyped: VarRef[] = [];
    const visit = (statements: Statement[]): void => {
      for (const s of statements) {
        switch (s.kind) {
          case 'assign':
            this.#scanExpr(s.value);
            if (s.target.kind === 'var' && s.op === 'declare') {
              untyped.push(s.target);
            } else if (s.target.kind === 'var') {
              const target = s.target;
              // While learning, a value that reads a map not yet learned leaves the variable for a later round.
              this.#whileLearning(() => this.#declare(target, s.op === '=' ? this.typeOf(s.value) : INT64));
            } else {
              s.target.keys?.forEach((k) => this.#scanExpr(k));
            }
            break;
          case 'expr':
            this.#scanExpr(s.expr);
            break;
          case 'if':
            this.#scanExpr(s.condition);
            visit(s.then);
            if (s.otherwise) visit(s.otherwise);
            break;
          case 'while':
            this.#scanExpr(s.condition);
            visit(s.body);
            break;
          case 'forRange':
          case 'forMap': {
            if (s.kind === 'forRange') {
              const range = s;
              this.#whileLearning(() => {
                this.#requireInteger(range.from, 'for range start');
                this.#requireInteger(range.to, 'for range end');
              });
            }
            if (this.#returnFlag === undefined) {
              this.#returnFlag = this.#e.alloc(8, s.span);
              this.#e.zero(this.#returnFlag, 8);
            }
            if (this.#vars.has(s.variable.name)) throw traceError(`Loop declaration shadows existing variable: $${s.variable.name}`, s.variable.span);
            let type: TraceType = INT64;
            // While learning, a map not learned yet leaves the loop's variable untyped for this round.
            if (s.kind === 'forMap') this.#whileLearning(() => (type = this.#loopEntryType(s.map)));
            this.#loopSlots.set(s, { variable: this.#e.alloc(sizeOf(type), s.variable.span), start: s.kind === 'forRange' ? this.#e.alloc(8, s.span) : 0 });
            this.#loopScopes.push(new Map([[s.variable.name, { type, offset: 0 }]]));
            this.#forgetTypes();
            try {
              visit(s.body);
            } finally {
              this.#loopScopes.pop();
              this.#forgetTypes();
            }
            break;
          }
          case 'unroll':
          case 'block':
            visit(s.body);
            break;
          case 'jump':
            break;
        }
      }
    };
    visit(body);
    for (const v of untyped) if (!this.#vars.has(v.name)) this.#declare(v, INT64);
  }

  /** Types of variables assigned inside expressions (`$x++`) are int64. */
  #scanExpr(expr: Expr): void {
    if (expr.kind === 'incdec' && expr.target.kind === 'var') this.#declare(expr.target, INT64);
  }

  #declare(v: VarRef, type: TraceType): void {
    if (this.#loopScopes.some((scope) => scope.has(v.name))) throw traceError(`$${v.name} is the loop's variable and cannot be assigned`, v.span);
    const existing = this.#vars.get(v.name);
    if (existing !== undefined) {
      if (!compatible(existing.type, type)) throw traceError(`Type mismatch for $${v.name}: trying to assign value of type '${typeName(type)}' when variable already contains a value of type '${typeName(existing.type)}'`, v.span);
      if (existing.type.kind === 'string' && type.kind === 'string' && type.size > existing.type.size) {
        // A longer string assigned later: the variable holds the longest (declaration happens before any code uses the slot).
        existing.type = type;
        this.#forgetTypes();
        existing.offset = this.#e.alloc(sizeOf(type), v.span);
        this.#e.zero(existing.offset, sizeOf(type));
      }
      return;
    }
    if (type.kind === 'none') throw traceError(`Value of type none cannot be assigned to $${v.name}`, v.span);
    const size = Math.max(8, sizeOf(type));
    const offset = this.#e.alloc(size, v.span);
    this.#e.zero(offset, size);
    this.#vars.set(v.name, { type, offset });
    this.#forgetTypes();
  }

  /** A variable in scope: the innermost loop's first, then the probe's. */
  #variable(v: { name: string; span: SourceSpan }): Variable {
    for (let i = this.#loopScopes.length - 1; i >= 0; i--) {
      const found = this.#loopScopes[i]!.get(v.name);
      if (found !== undefined) return found;
    }
    const found = this.#vars.get(v.name);
    if (found === undefined) throw traceError(`Undefined or undeclared variable: $${v.name}`, v.span);
    return found;
  }

  /**
   * The register variables are addressed from: the frame pointer in the
   * probe's code; inside a loop callback, R9, the probe frame's pointer
   * (the callback context the loop helper passes on).
   */
  #variableBase(): number {
    return this.#frame === 0 ? FP : R9;
  }

  /** The type of `$kv` in `for ($kv : @map)`: (key, value), or ((key1, key2...), value). */
  #loopEntryType(map: MapRef): TraceType {
    const info = this.state.maps.get(map.name);
    if (info === undefined) throw traceError(`Undefined map: @${map.name}`, map.span);
    if (info.keys === undefined) throw traceError(`@${map.name} has no explicit keys (scalar map), and cannot be used for iteration`, map.span);
    const key: TraceType = info.keys.length === 1 ? info.keys[0]! : { kind: 'tuple', elements: info.keys };
    return { kind: 'tuple', elements: [key, this.#loopValueType(info, map.span)] };
  }

  #loopValueType(info: MapInfo, span: SourceSpan): TraceType {
    if (info.value.kind === 'value') return info.value.type;
    const aggregation = info.value.aggregation;
    if (aggregation === 'hist' || aggregation === 'lhist' || aggregation === 'stats') throw traceError(`Loop expression does not support type: ${aggregation}_t`, span);
    return aggregation === 'count' ? UINT64 : INT64;
  }

  // ---------------------------------------------------------------- types

  /**
   * An expression's type, computed once per node: code generation asks for
   * the types of subtrees again and again (a chain of n operators would
   * otherwise cost 2^n). Anything that can change a type (a variable
   * declared or widened, a loop scope, a map learned) clears the cache.
   */
  typeOf(expr: Expr): TraceType {
    const known = this.#types.get(expr);
    if (known !== undefined) return known;
    const type = this.#computeType(expr);
    this.#types.set(expr, type);
    return type;
  }

  #forgetTypes(): void {
    this.#types = new WeakMap();
  }

  #computeType(expr: Expr): TraceType {
    switch (expr.kind) {
      case 'int':
        return INT64;
      case 'string':
        return { kind: 'string', size: Math.min(new TextEncoder().encode(expr.value).length + 1, 1024) };
      case 'positional': {
        if (expr.index === '#') return INT64;
        const value = this.state.positional[expr.index - 1];
        return value !== undefined && positionalInteger(value) === undefined ? { kind: 'string', size: Math.min(new TextEncoder().encode(value).length + 1, 1024) } : INT64;
      }
      case 'var':
        return this.#variable(expr).type;
      case 'map': {
        const info = this.state.maps.get(expr.name);
        if (info === undefined) throw traceError(`Undefined map: @${expr.name}`, expr.span);
        if (info.value.kind === 'value') return info.value.type;
        if (info.value.aggregation === 'hist' || info.value.aggregation === 'lhist' || info.value.aggregation === 'stats' || info.value.aggregation === 'avg') {
          throw traceError(`the value of ${info.value.aggregation}() map @${expr.name} cannot be read in a probe`, expr.span);
        }
        return info.value.aggregation === 'count' ? UINT64 : INT64;
      }
      case 'builtin':
        return this.#builtinType(expr.name, expr.span);
      case 'unary':
        if (expr.op === '*') return this.#pointeeInteger(this.typeOf(expr.operand)) ?? INT64;
        if (expr.op === '&') throw traceError('the address-of operator is not supported', expr.span);
        this.#requireInteger(expr.operand, expr.op);
        return expr.op === '!' ? INT64 : this.typeOf(expr.operand);
      case 'binary': {
        const left = this.typeOf(expr.left);
        const right = this.typeOf(expr.right);
        if (['==', '!=', '<', '>', '<=', '>=', '&&', '||'].includes(expr.op)) {
          if ((left.kind === 'string') !== (right.kind === 'string') && !['&&', '||'].includes(expr.op)) {
            throw traceError(`Type mismatch for '${expr.op}': comparing '${typeName(left)}' with '${typeName(right)}'`, expr.span);
          }
          if (left.kind === 'string' && !['==', '!='].includes(expr.op)) throw traceError(`strings can only be compared with == and !=`, expr.span);
          return INT64;
        }
        this.#requireInteger(expr.left, expr.op);
        this.#requireInteger(expr.right, expr.op);
        if (left.kind === 'pointer' && (expr.op === '+' || expr.op === '-')) return left;
        return { kind: 'int', bits: 64, signed: !(left.kind === 'int' && !left.signed && expr.left.kind !== 'int') && !(right.kind === 'int' && !right.signed && expr.right.kind !== 'int') };
      }
      case 'ternary': {
        const then = this.typeOf(expr.then);
        const otherwise = this.typeOf(expr.otherwise);
        if (!compatible(then, otherwise)) throw traceError(`Ternary operator branches have different types: '${typeName(then)}' and '${typeName(otherwise)}'`, expr.span);
        if (then.kind === 'string' && otherwise.kind === 'string') return { kind: 'string', size: Math.max(then.size, otherwise.size) };
        return then;
      }
      case 'incdec':
        return INT64;
      case 'field':
        return this.#fieldType(expr);
      case 'index': {
        const base = this.typeOf(expr.base);
        if (expr.base.kind === 'field' && this.#arrayField(expr.base) !== undefined) {
          const field = this.#arrayField(expr.base)!;
          const elementSize = field.size / field.arrayLength!;
          return { kind: 'int', bits: (elementSize * 8) as 8 | 16 | 32 | 64, signed: field.signed };
        }
        if (base.kind === 'pointer') return INT64;
        // A string's character (opensnoop.bt's `$path[0] != "/"[0]`).
        if (base.kind === 'string') return { kind: 'int', bits: 8, signed: true };
        throw traceError(`The array index operator [] can only be used on arrays and pointers, found ${typeName(base)}`, expr.span);
      }
      case 'cast': {
        const integer = INTEGER_TYPES[expr.type.base.replace(/^unsigned /, '')];
        if (expr.type.pointer === 1 && /^(struct|union) /.test(expr.type.base)) return this.#structPointer(expr.type.base, ['uprobe', 'uretprobe', 'usdt'].includes(this.#kind), expr.type.span);
        if (expr.type.pointer > 0) return { kind: 'pointer', pointee: `${expr.type.base}${' *'.repeat(expr.type.pointer - 1)}`, user: false };
        if (integer === undefined) throw traceError(`Cannot cast to '${expr.type.base}': only integer and pointer casts are supported`, expr.type.span);
        this.#requireInteger(expr.operand, 'cast');
        return { kind: 'int', bits: integer.bits, signed: expr.type.base.startsWith('unsigned') ? false : integer.signed };
      }
      case 'sizeof':
      case 'offsetof':
        return UINT64;
      case 'tuple':
        return { kind: 'tuple', elements: expr.elements.map((e) => this.typeOf(e)) };
      case 'call':
        return this.#callType(expr);
    }
  }

  /**
   * getopt(name[, default[, description]]): the named argument `--name=value`
   * given after `--`, as a literal of the default's type (bool without a
   * default: `--name` alone is true).
   */
  #getopt(call: Expr & { kind: 'call' }): Expr {
    const [name, fallback, description] = call.args;
    if (name?.kind !== 'string' || call.args.length > 3) throw traceError('getopt() expects an option name string literal, an optional default and an optional description string', call.span);
    if (description !== undefined && description.kind !== 'string') throw traceError('getopt(): the description must be a string literal', description.span);
    const negative = fallback?.kind === 'unary' && fallback.op === '-' && fallback.operand.kind === 'int';
    const bool = fallback === undefined || (fallback.kind === 'builtin' && (fallback.name === 'true' || fallback.name === 'false'));
    if (!bool && fallback!.kind !== 'int' && fallback!.kind !== 'string' && !negative) throw traceError('getopt(): the default must be a literal: true, false, an integer or a string', fallback!.span);
    this.state.optionsRead.add(name.value);
    const given = this.state.namedArgs.get(name.value);
    const span = call.span;
    if (given === undefined) return fallback ?? { kind: 'int', value: 0n, span };
    if (bool) {
      if (given === '' || given === 'true' || given === '1') return { kind: 'int', value: 1n, span };
      if (given === 'false' || given === '0') return { kind: 'int', value: 0n, span };
      throw traceError(`--${name.value}=${given}: a boolean option takes true, false, 1 or 0`, call.span);
    }
    if (fallback!.kind === 'string') return { kind: 'string', value: given, span };
    if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(given)) throw traceError(`--${name.value}=${given}: an integer option takes an integer`, call.span);
    return { kind: 'int', value: given.startsWith('-') ? -BigInt(given.slice(1)) : BigInt(given), span };
  }

  /** buf()'s byte count: its literal length, a whole array's size, else the string size (the length is then capped at run time). */
  #bufferSize(call: Expr & { kind: 'call' }): number {
    const [data, length] = call.args;
    if (length !== undefined) {
      if (length.kind !== 'int') return STRING_SIZE;
      const n = Number(length.value);
      if (n < 0 || n > STRING_SIZE) throw traceError(`buf(): length ${n} is out of range (0 to ${STRING_SIZE}, bpftrace's default string size)`, length.span);
      return n;
    }
    const field = data?.kind === 'field' ? this.#arrayField(data) : undefined;
    if (field !== undefined) return Math.min(field.size, STRING_SIZE);
    const type = this.typeOf(data!);
    if (type.kind === 'string') return Math.min(type.size, STRING_SIZE);
    throw traceError('buf() needs a length unless its argument is an array: buf(pointer, length)', call.span);
  }

  /** uaddr("sym"): the symbol in the probed binary, and the link-time address of the probed instruction. */
  #userSymbol(call: Expr & { kind: 'call' }): UserSymbol & { probed: bigint } {
    const name = call.args[0];
    if (name?.kind !== 'string') throw traceError('uaddr() expects a symbol name string literal', call.span);
    const target = this.context.target;
    if (target.kind === 'uretprobe') throw traceError('uaddr() needs the probed address, which uretprobes do not have: read the symbol in a uprobe', call.nameSpan);
    if ((target.kind !== 'uprobe' && target.kind !== 'usdt') || target.path === undefined) throw traceError(`uaddr() can only be used with uprobes and usdt probes, not '${target.kind}' probes`, call.nameSpan);
    const symbol = userSymbol(target.path, name.value);
    if (typeof symbol === 'string') throw traceError(symbol, name.span);
    let probed: bigint | string;
    if (target.offset !== undefined) probed = virtualAddressOf(target.path, BigInt(target.offset));
    else {
      const probedSymbol = userSymbol(target.path, target.symbol!);
      probed = typeof probedSymbol === 'string' ? probedSymbol : probedSymbol.address;
    }
    if (typeof probed === 'string') throw traceError(probed, call.span);
    return { ...symbol, probed };
  }

  /** uaddr()'s type: a user pointer to an unsigned integer of the symbol's size (uint64 * when the size is not 1, 2, 4 or 8). */
  #userSymbolPointer(symbol: UserSymbol): TraceType {
    const bits = [1, 2, 4, 8].includes(symbol.size) ? symbol.size * 8 : 64;
    return { kind: 'pointer', pointee: `uint${bits}`, user: true };
  }

  /** The integer a pointer points to, when its pointee is a named integer type (`uint32 *`). */
  #pointeeInteger(type: TraceType): (TraceType & { kind: 'int' }) | undefined {
    if (type.kind !== 'pointer') return undefined;
    const integer = INTEGER_TYPES[type.pointee];
    return integer !== undefined ? { kind: 'int', ...integer } : undefined;
  }

  /**
   * What reading `comm` straight from the current task needs: the BTF ids
   * of bpf_rdonly_cast and struct task_struct, and comm's offset. Only for
   * probes that run in the kernel (BEGIN, END and interval also run on the
   * VM, which has no tasks); undefined without kernel BTF.
   */
  get #currentComm(): { castKfunc: number; task: number; offset: number } | undefined {
    if (['begin', 'end', 'interval'].includes(this.#kind)) return undefined;
    const task = kernelTypeId('struct task_struct');
    const castKfunc = kernelFunctionId('bpf_rdonly_cast');
    if (task === undefined || castKfunc === undefined) return undefined;
    const comm = findMember(task, 'comm');
    if (typeof comm === 'string') return undefined;
    const type = traceTypeOf(comm.member.type, false);
    return typeof type !== 'string' && type.kind === 'string' && type.size === COMM_SIZE ? { castKfunc, task, offset: comm.offset } : undefined;
  }

  /** A callback that only returns 0, so bpf_for_each_map_elem counts every element (len()). */
  #countingCallback(): number {
    const known = this.#callbacks.findIndex((c) => c.name === 'count_elements_cb');
    if (known >= 0) return known;
    const e = new Emitter();
    e.emit(mov64Imm(R0, 0), exit());
    this.#callbacks.push({ emitter: e, name: 'count_elements_cb', frames: [1] });
    return this.#callbacks.length - 1;
  }

  #requireInteger(expr: Expr, what: string): void {
    this.#requireNumericPositional(expr);
    const type = this.typeOf(expr);
    if (!isInteger(type) && type.kind !== 'probe' && type.kind !== 'ksym' && type.kind !== 'kstack') throw traceError(`The ${what} operator can not be used on expressions of type '${typeName(type)}'`, expr.span);
  }

  /** bpftrace's error for `$1` used as a number when its value is not one. */
  #requireNumericPositional(expr: Expr): void {
    if (expr.kind !== 'positional' || expr.index === '#') return;
    const value = this.state.positional[expr.index - 1];
    if (value !== undefined && positionalInteger(value) === undefined) throw traceError(`$${expr.index} used numerically but given "${value}". Try using str($${expr.index}).`, expr.span);
  }

  /** bpftrace passes no probe context to loop callbacks, so builtins read from it are refused there, with its message. */
  #refuseInLoop(name: string, span: SourceSpan): void {
    if (this.#loopScopes.length > 0) throw traceError(`'${name}' builtin is not allowed in a for-loop`, span);
  }

  #builtinType(name: string, span: SourceSpan): TraceType {
    const kind = this.#kind;
    if (/^(args|arg\d+|retval|func|kstack|ustack)$/.test(name) || (name === 'probe' && kind === 'tracepoint' && this.context.raw !== true)) this.#refuseInLoop(name, span);
    switch (name) {
      case 'pid':
      case 'tid':
      case 'uid':
      case 'gid':
      case 'cpu':
      case 'rand':
        return UINT32;
      case 'nsecs':
      case 'elapsed':
      case 'cgroup':
        return UINT64;
      case 'comm':
        return { kind: 'string', size: COMM_SIZE };
      case 'curtask':
        return this.#structPointer('struct task_struct', false, span);
      case 'ppid':
        return UINT32;
      case 'pcomm':
        return this.typeOf(parentComm({ kind: 'builtin', name: 'curtask', span }));
      case 'probe':
        return { kind: 'probe' };
      case 'kstack':
        return { kind: 'kstack' };
      case 'ustack':
        return { kind: 'ustack' };
      case 'func':
        if (kind === 'uprobe' || kind === 'uretprobe') return { kind: 'usym' };
        if (kind === 'kprobe' || kind === 'kretprobe' || kind === 'fentry' || kind === 'fexit') return { kind: 'ksym' };
        throw traceError(`The func builtin can not be used with '${kind}' probes`, span);
      case 'retval':
        if (kind === 'uretprobe' || kind === 'kretprobe' || kind === 'fexit') return INT64;
        throw traceError(`The retval builtin can only be used with 'kretprobe' and 'uretprobe' and 'kfunc' probes${kind === 'tracepoint' ? ' (try to use args->ret instead)' : ''}`, span);
      case 'args':
        throw traceError('args must be followed by a field: args->name or args.name', span);
    }
    const arg = /^arg(\d+)$/.exec(name);
    if (arg !== null) {
      const index = Number(arg[1]);
      if (kind === 'uprobe' || kind === 'kprobe') {
        if (index >= PT_REGS_ARGS.length) throw traceError(`${name} is beyond the ${PT_REGS_ARGS.length} register arguments of x86-64`, span);
        return UINT64;
      }
      if (kind === 'rawtracepoint') return UINT64;
      if (kind === 'usdt') {
        const usdt = this.context.target.usdt!;
        const spec = usdt.args[index];
        if (spec === undefined) throw traceError(`usdt probe ${usdt.provider}:${usdt.name} has ${usdt.args.length} argument${usdt.args.length === 1 ? '' : 's'} (arg0-arg${usdt.args.length - 1})`, span);
        return { kind: 'int', bits: (spec.size * 8) as 8 | 16 | 32 | 64, signed: spec.signed };
      }
      throw traceError(`The ${name} builtin can only be used with 'kprobes', 'uprobes' and 'usdt' probes${kind === 'tracepoint' ? ' (try to use args->... instead)' : ''}`, span);
    }
    if (namedConstant(name) !== undefined) return INT64;
    throw traceError(`Unknown identifier: '${name}'`, span);
  }

  #tracepointField(expr: Expr & { kind: 'field' }): TracepointField | undefined {
    if (expr.base.kind !== 'builtin' || expr.base.name !== 'args') return undefined;
    this.#refuseInLoop('args', expr.base.span);
    if (this.#kind !== 'tracepoint') throw traceError(`The args builtin can only be used with tracepoint probes here (got ${this.#kind})`, expr.base.span);
    const format = this.context.format!;
    const field = format.fields.find((f) => f.name === expr.field);
    if (field === undefined) throw traceError(`Struct/union of type 'struct _tracepoint_${this.context.target.category}_${this.context.target.event}' does not contain a field named '${expr.field}'`, expr.span);
    return field;
  }

  #arrayField(expr: Expr & { kind: 'field' }): TracepointField | undefined {
    const field = this.#tracepointField(expr);
    return field?.arrayLength !== undefined && !field.dataLoc && fieldType(field, false).kind !== 'string' ? field : undefined;
  }

  #fieldType(expr: Expr & { kind: 'field' }): TraceType {
    const field = this.#tracepointField(expr);
    if (field !== undefined) return fieldType(field, this.context.target.category === 'syscalls');
    const base = this.typeOf(expr.base);
    if (base.kind === 'tuple') {
      const index = Number(expr.field);
      if (!Number.isInteger(index) || index < 0 || index >= base.elements.length) throw traceError(`Invalid tuple index: ${expr.field}. Found ${base.elements.length} elements in tuple.`, expr.span);
      return base.elements[index]!;
    }
    const member = this.#kernelMember(expr, base);
    if (member !== undefined) return member.type;
    throw traceError(`Can not access field '${expr.field}' on expression of type '${typeName(base)}'`, expr.span);
  }

  /** The byte offset of a (nested) field of a kernel struct or union, from BTF. */
  #offsetOf(expr: Expr & { kind: 'offsetof' }): number {
    if (expr.type.pointer > 0 || !/^(struct|union) /.test(expr.type.base)) throw traceError(`offsetof() expects a struct or union type, got '${expr.type.base}${' *'.repeat(expr.type.pointer)}'`, expr.type.span);
    let btfId = (this.#structPointer(expr.type.base, false, expr.type.span) as { btfId: number }).btfId;
    let offset = 0;
    for (const field of expr.fields) {
      const found = findMember(btfId, field.name);
      if (typeof found === 'string') throw traceError(found, field.span);
      offset += found.offset;
      btfId = found.member.type;
    }
    return offset;
  }

  /** A pointer to kernel struct `name` from BTF. */
  #structPointer(name: string, user: boolean, span: SourceSpan): TraceType {
    const btfId = findType(name);
    if (btfId === undefined) throw traceError(`Unknown struct/union: '${name}'`, span);
    return { kind: 'pointer', pointee: name, user, btfId };
  }

  /** A field of a kernel struct reached through a BTF-typed pointer (`->`) or an embedded struct (`.`): its type and offset. */
  #kernelMember(expr: Expr & { kind: 'field' }, base: TraceType): { type: TraceType; offset: number } | undefined {
    const btfId = base.kind === 'pointer' ? base.btfId : base.kind === 'record' ? base.btfId : undefined;
    if (btfId === undefined || (base.kind === 'pointer' && base.pointee === 'void')) return undefined;
    const found = findMember(btfId, expr.field);
    if (typeof found === 'string') throw traceError(found, expr.span);
    const type = traceTypeOf(found.member.type, base.kind === 'pointer' || base.kind === 'record' ? base.user : false);
    if (typeof type === 'string') throw traceError(`field '${expr.field}': ${type}`, expr.span);
    return { type, offset: found.offset };
  }

  /** R0 = the address of a kernel struct field. */
  #fieldAddress(expr: Expr & { kind: 'field' }): void {
    const base = this.typeOf(expr.base);
    const member = this.#kernelMember(expr, base)!;
    if (base.kind === 'record') {
      if (expr.base.kind !== 'field') throw traceError('a struct value must be reached through a pointer', expr.base.span);
      this.#fieldAddress(expr.base);
    } else {
      this.#scalar(expr.base);
    }
    if (member.offset !== 0) this.#e.emit(alu64Imm(AluOp.ADD, R0, member.offset));
  }

  #callType(expr: Expr & { kind: 'call' }): TraceType {
    const args = expr.args;
    const arity = (min: number, max = min): void => {
      if (args.length < min || args.length > max) {
        throw traceError(`${expr.name}() requires ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'} (${args.length} provided)`, expr.span);
      }
    };
    switch (expr.name) {
      case 'str':
        arity(1, 2);
        if (args[1]?.kind === 'unary' && args[1].op === '-' && args[1].operand.kind === 'int') throw traceError(`str(): cannot use negative length (-${args[1].operand.value})`, args[1].span);
        return { kind: 'string', size: args.length === 2 && args[1]!.kind === 'int' ? Math.max(1, Math.min(Number(args[1]!.value), STRING_SIZE)) : STRING_SIZE };
      case 'ksym':
        arity(1);
        return { kind: 'ksym' };
      case 'strftime': {
        arity(2);
        if (args[0]!.kind !== 'string') throw traceError('strftime() expects a format string literal as its first argument', args[0]!.span);
        this.#requireInteger(args[1]!, 'strftime()');
        return { kind: 'timestamp', format: args[0]!.value };
      }
      case 'usym':
        arity(1);
        return { kind: 'usym' };
      case 'kaddr':
        arity(1);
        if (args[0]!.kind !== 'string') throw traceError('kaddr() expects a string literal', args[0]!.span);
        return UINT64;
      case 'ntop':
        arity(1, 2);
        return { kind: 'inet' };
      case 'strncmp':
        arity(3);
        return INT64;
      case 'strcontains': {
        arity(2);
        const haystack = this.typeOf(args[0]!);
        if (haystack.kind !== 'string') throw traceError(`strcontains() expects a string to search, got '${typeName(haystack)}'`, args[0]!.span);
        if (args[1]!.kind !== 'string') throw traceError('strcontains() expects a string literal to look for', args[1]!.span);
        return INT64;
      }
      case 'path':
        if (this.#kind !== 'fentry' && this.#kind !== 'fexit') throw traceError(`path() can only be used with fentry/fexit probes (bpf_d_path), not '${this.#kind}' probes`, expr.span);
        throw traceError('path() needs BPF trampolines (fentry/fexit), which this kernel refuses: print the dentry name instead, str(((struct path *)arg)->dentry->d_name.name)', expr.span);
      case 'getopt':
        return this.typeOf(this.#getopt(expr));
      case 'buf':
        arity(1, 2);
        return { kind: 'buffer', size: this.#bufferSize(expr) };
      case 'strerror':
        arity(1);
        this.#requireInteger(args[0]!, 'strerror()');
        return { kind: 'errno' };
      case 'syscall_name':
        arity(1);
        this.#requireInteger(args[0]!, 'syscall_name()');
        return { kind: 'syscall' };
      case 'cgroup_path': {
        arity(1, 2);
        this.#requireInteger(args[0]!, 'cgroup_path()');
        const filter = args[1];
        if (filter !== undefined && filter.kind !== 'string') throw traceError('cgroup_path(): the hierarchy filter must be a string literal', filter.span);
        return { kind: 'cgroup_path', filter: filter?.kind === 'string' ? filter.value : '*' };
      }
      case 'len': {
        arity(1);
        const map = args[0]!;
        if (map.kind !== 'map' || map.keys !== undefined) throw traceError('len() expects a map: len(@name)', map.span);
        const info = this.state.maps.get(map.name);
        if (info === undefined) throw traceError(`Undefined map: @${map.name}`, map.span);
        if (info.value.kind === 'aggregation' && (info.value.aggregation === 'hist' || info.value.aggregation === 'lhist')) throw traceError(`len() of a ${info.value.aggregation}() map is not supported (its elements are buckets)`, map.span);
        return INT64;
      }
      case 'uaddr':
        arity(1);
        return this.#userSymbolPointer(this.#userSymbol(expr));
      case 'pcomm':
        arity(0, 1);
        return this.typeOf(parentComm(args[0] ?? { kind: 'builtin', name: 'curtask', span: expr.span }));
      case 'ppid':
        arity(0, 1);
        if (args[0] !== undefined) this.#requireInteger(args[0], 'ppid()');
        return UINT32;
      case 'has_key':
        if (args.length < 2) throw traceError('has_key() requires a map and a key', expr.span);
        return INT64;
      case 'bswap':
        arity(1);
        return this.typeOf(args[0]!);
      case 'reg':
        arity(1);
        this.#refuseInLoop('reg', expr.nameSpan);
        return UINT64;
      case 'printf':
      case 'exit':
      case 'delete':
        return INT64;
      case 'print':
      case 'clear':
      case 'zero':
      case 'time':
      case 'join':
      case 'system':
      case 'cat':
      case 'signal':
        return NONE;
      default:
        if (AGGREGATIONS.has(expr.name)) throw traceError(`${expr.name}() should be directly assigned to a map`, expr.nameSpan);
        throw traceError(`Unknown function: ${expr.name}`, expr.nameSpan);
    }
  }

  // ---------------------------------------------------------------- statements

  /**
   * The statements up to the first one after which control cannot go on
   * (exit(), return, break, continue, or an if whose branches all end so):
   * code after it is never run, and the verifier refuses unreachable
   * instructions, so it is not generated. As bpftrace, only code after
   * break and continue gets a warning.
   */
  #statements(statements: Statement[]): void {
    for (const [i, s] of statements.entries()) {
      this.#e.at(s.span);
      const mark = this.#e.stackMark;
      this.#whileLearning(() => this.#statement(s));
      this.#e.release(mark);
      if (!ends(s)) continue;
      if (s.kind === 'jump' && s.jump !== 'return' && i < statements.length - 1 && !this.state.learning) {
        this.state.warnings.push(traceError(`All code after a '${s.jump}' is unreachable.`, s.span));
      }
      return;
    }
  }

  /**
   * Runs `generate`; in the learning pass an error is ignored, so that a
   * condition reading a map that its own body assigns first
   * (`if (@birth[$sk] == 0) { @birth[$sk] = nsecs; }`) does not hide that
   * assignment.
   */
  #whileLearning(generate: () => void): void {
    try {
      generate();
    } catch (error) {
      if (!(this.state.learning && error instanceof TraceError) || error instanceof TraceLimitError) throw error;
    }
  }

  #statement(s: Statement): void {
    const e = this.#e;
    switch (s.kind) {
      case 'expr':
        if (s.expr.kind === 'incdec') this.#incdec(s.expr);
        else if (s.expr.kind === 'call') this.#callStatement(s.expr);
        else this.#evaluate(s.expr);
        return;
      case 'assign':
        if (s.target.kind === 'map') this.#assignMap(s.target, s.op, s.value, s.span);
        else this.#assignVar(s.target, s.op, s.value);
        return;
      case 'if': {
        const otherwise = e.label();
        const end = e.label();
        this.#whileLearning(() => this.#condition(s.condition, otherwise));
        this.#statements(s.then);
        if (s.otherwise !== undefined && !s.then.some(ends)) e.goto(end);
        e.place(otherwise);
        if (s.otherwise !== undefined) this.#statements(s.otherwise);
        e.place(end);
        return;
      }
      case 'while': {
        const top = e.label();
        const end = e.label();
        e.place(top);
        this.#whileLearning(() => this.#condition(s.condition, end));
        this.#loops.push({ breakLabel: end, continueLabel: top });
        this.#statements(s.body);
        this.#loops.pop();
        if (!s.body.some(ends)) e.goto(top);
        e.place(end);
        return;
      }
      case 'forRange':
      case 'forMap':
        this.#forLoop(s);
        return;
      case 'unroll':
        // A body that always ends (exit(), return...) runs once: its copies would be unreachable.
        for (let i = 0; i < (s.body.some(ends) ? Math.min(s.count, 1) : s.count); i++) this.#statements(s.body);
        return;
      case 'block':
        this.#statements(s.body);
        return;
      case 'jump': {
        if (s.jump === 'return') {
          e.goto(this.#returnLabel!);
          return;
        }
        const loop = this.#loops.at(-1);
        if (loop === undefined) throw traceError(`${s.jump} used outside of a loop`, s.span);
        e.goto(s.jump === 'break' ? loop.breakLabel : loop.continueLabel);
        return;
      }
    }
  }

  /**
   * `for ($i : a..b)` through bpf_loop and `for ($kv : @map)` through
   * bpf_for_each_map_elem, as bpftrace compiles them: the body becomes a
   * callback subprogram. The callback reaches the probe's variables
   * through the context pointer the helper hands it (the probe frame's
   * pointer, kept in R9); the loop variable lives in the callback's own
   * frame. break returns 1 (stop), continue returns 0; `return` and exit()
   * also set a flag the probe checks after the helper.
   */
  #forLoop(s: Statement & { kind: 'forRange' | 'forMap' }): void {
    const e = this.#e;
    const probeFrame = this.#variableBase();
    const index = this.#callbacks.length;
    if (s.kind === 'forRange') {
      const start = this.#loopSlots.get(s)!.start;
      this.#scalar(s.from);
      e.emit(stx(Size.DW, probeFrame, start, R0));
      this.#scalar(s.to);
      e.emit(ldx(Size.DW, R1, probeFrame, start), alu64Reg(AluOp.SUB, R0, R1), mov64Reg(R1, R0));
      const skip = e.label();
      // An empty or reversed range runs no iteration.
      e.jumpImm(JmpOp.JSLE, R1, 0, skip);
      this.#loadCallback(R2, index);
      e.emit(mov64Reg(R3, probeFrame), mov64Imm(R4, 0));
      e.call('loop');
      this.#afterLoop();
      e.place(skip);
    } else {
      const info = this.state.maps.get(s.map.name);
      if (info === undefined) throw traceError(`Undefined map: @${s.map.name}`, s.map.span);
      e.loadMap(R1, info.kernelName);
      this.#loadCallback(R2, index);
      e.emit(mov64Reg(R3, probeFrame), mov64Imm(R4, 0));
      e.call('for_each_map_elem');
      this.#afterLoop();
    }
    this.#callbackBody(s, index);
  }

  /** `reg` = the address of loop callback `index` (ld_imm64 with BPF_PSEUDO_FUNC, pointed at it when the program is laid out). */
  #loadCallback(reg: number, index: number): void {
    this.#functionLoads.push({ emitter: this.#e, slot: this.#e.instructions.length, callback: index });
    this.#e.emit(...lddw(reg, 0, LdImm64Src.FUNC));
  }

  /** After a loop helper returns: a `return` or exit() inside the loop ends the probe (or the enclosing loop's callback). */
  #afterLoop(): void {
    const e = this.#e;
    e.emit(ldx(Size.DW, R0, this.#variableBase(), this.#returnFlag!));
    e.jumpImm(JmpOp.JNE, R0, 0, this.#returnLabel!);
  }

  /** Generates the callback of a loop in its own emitter (its own frame and labels). */
  #callbackBody(s: Statement & { kind: 'forRange' | 'forMap' }, index: number): void {
    const outer = { emitter: this.#e, loops: this.#loops, returnLabel: this.#returnLabel, frame: this.#frame };
    const e = new Emitter();
    e.at(s.span);
    const frames = [...(this.#callbacks.find((c) => c.emitter === outer.emitter)?.frames ?? [])];
    const callback = { emitter: e, name: `${s.kind === 'forMap' ? 'map_for_each_cb' : 'loop_cb'}_${index}`, frames };
    this.#callbacks.push(callback);
    this.#e = e;
    this.#frame = outer.frame + 1;
    this.#loops = [];
    const slots = this.#loopSlots.get(s)!;
    const variable: Variable = { type: INT64, offset: slots.variable };
    this.#loopScopes.push(new Map([[s.variable.name, variable]]));
    this.#forgetTypes();
    try {
      const stop = e.label();
      const next = e.label();
      const leave = e.label();
      if (s.kind === 'forRange') {
        // loop_cb(index, ctx): $i = start + index.
        e.emit(mov64Reg(R9, R2), ldx(Size.DW, R0, R9, slots.start), alu64Reg(AluOp.ADD, R0, R1), stx(Size.DW, R9, variable.offset, R0));
      } else {
        // map_for_each_cb(map, key, value, ctx): $kv = (key, value).
        e.emit(mov64Reg(R9, R4), mov64Reg(R7, R2), mov64Reg(R8, R3));
        this.#loopEntry(s.map, variable);
      }
      this.#returnLabel = leave;
      this.#loops.push({ breakLabel: stop, continueLabel: next });
      this.#statements(s.body);
      // The kernel refuses unreachable code: each exit exists only when something reaches it.
      if (e.targeted(next) || !e.endsWithGoto()) {
        e.place(next);
        e.emit(mov64Imm(R0, 0), exit());
      }
      if (e.targeted(stop)) {
        e.place(stop);
        e.emit(mov64Imm(R0, 1), exit());
      }
      if (e.targeted(leave)) {
        e.place(leave);
        e.emit(st(Size.DW, R9, this.#returnFlag!, 1), mov64Imm(R0, 1), exit());
      }
      frames.push(e.stackUsed);
    } finally {
      this.#loopScopes.pop();
      this.#forgetTypes();
      this.#e = outer.emitter;
      this.#loops = outer.loops;
      this.#returnLabel = outer.returnLabel;
      this.#frame = outer.frame;
    }
  }

  /**
   * Fills `$kv` (in the probe's frame) from the callback's key (R7) and
   * value (R8) pointers. Per-CPU aggregations are combined over every
   * CPU's slot with map_lookup_percpu_elem, as bpftrace does (count and sum
   * add, min and max compare, avg divides the totals).
   */
  #loopEntry(ref: MapRef, variable: Variable): void {
    const e = this.#e;
    const info = this.state.maps.get(ref.name)!;
    variable.type = this.#loopEntryType(ref);
    this.#forgetTypes();
    const [keyType, valueType] = (variable.type as TraceType & { kind: 'tuple' }).elements as [TraceType, TraceType];
    const keySize = sizeOf(keyType);
    e.copy(R9, variable.offset, R7, 0, keySize);
    const value = variable.offset + keySize;
    if (info.value.kind === 'value') {
      e.copy(R9, value, R8, 0, sizeOf(valueType));
      return;
    }
    const aggregation = info.value.aggregation;
    const combine = aggregation === 'min' || aggregation === 'max';
    // R6 = the combined value (or avg's total), R8 = avg's count, or min/max's "a CPU had a value".
    e.emit(mov64Imm(R6, 0), mov64Imm(R8, 0));
    const done = e.label();
    for (let cpu = 0; cpu < this.state.cpus; cpu++) {
      const absent = e.label();
      e.loadMap(R1, info.kernelName);
      e.emit(mov64Reg(R2, R7), mov64Imm(R3, cpu));
      e.call('map_lookup_percpu_elem');
      // No slot for this CPU: the CPUs are all visited.
      e.jumpImm(JmpOp.JEQ, R0, 0, done);
      if (combine) {
        const take = e.label();
        e.emit(ldx(Size.DW, R1, R0, 8));
        e.jumpImm(JmpOp.JEQ, R1, 0, absent);
        e.emit(ldx(Size.DW, R1, R0, 0));
        e.jumpImm(JmpOp.JEQ, R8, 0, take);
        e.jumpReg(aggregation === 'min' ? JmpOp.JSGE : JmpOp.JSLE, R1, R6, absent);
        e.place(take);
        e.emit(mov64Reg(R6, R1), mov64Imm(R8, 1));
      } else if (aggregation === 'avg') {
        e.emit(ldx(Size.DW, R1, R0, 0), alu64Reg(AluOp.ADD, R8, R1), ldx(Size.DW, R1, R0, 8), alu64Reg(AluOp.ADD, R6, R1));
      } else {
        e.emit(ldx(Size.DW, R1, R0, 0), alu64Reg(AluOp.ADD, R6, R1));
      }
      e.place(absent);
    }
    e.place(done);
    if (aggregation === 'avg') {
      const empty = e.label();
      e.jumpImm(JmpOp.JEQ, R8, 0, empty);
      e.emit({ ...alu64Reg(AluOp.DIV, R6, R8), offset: 1 });
      e.place(empty);
    }
    e.emit(stx(Size.DW, R9, value, R6));
  }

  /** Evaluates an expression for its effects. */
  #evaluate(expr: Expr): void {
    const type = this.typeOf(expr);
    if (type.kind === 'none') return;
    if (isScalar(type)) this.#scalar(expr);
    else this.#into(expr, this.#e.alloc(sizeOf(type), expr.span));
  }

  #assignVar(target: VarRef, op: string, value: Expr): void {
    const e = this.#e;
    if (this.#loopScopes.some((scope) => scope.has(target.name))) throw traceError(`$${target.name} is the loop's variable and cannot be assigned`, target.span);
    const v = this.#vars.get(target.name);
    // Only while learning: a variable whose value reads a map not learned yet is not declared.
    if (v === undefined) throw traceError(`Undefined or undeclared variable: $${target.name}`, target.span);
    const base = this.#variableBase();
    if (op === '=' || op === 'declare') {
      if (op === 'declare') return;
      const type = this.typeOf(value);
      if (!compatible(v.type, type)) throw traceError(`Type mismatch for $${target.name}: trying to assign value of type '${typeName(type)}' when variable already contains a value of type '${typeName(v.type)}'`, value.span);
      if (isScalar(v.type)) {
        this.#scalar(value);
        e.emit(stx(Size.DW, base, v.offset, R0));
      } else if (base === FP) {
        this.#intoSized(value, v.offset, sizeOf(v.type));
      } else {
        // Built in this frame, then copied to the probe's frame.
        const scratch = e.alloc(sizeOf(v.type), value.span);
        this.#intoSized(value, scratch, sizeOf(v.type));
        e.copy(base, v.offset, FP, scratch, sizeOf(v.type));
      }
      return;
    }
    if (!isInteger(v.type)) throw traceError(`The ${op} operator can not be used on variables of type '${typeName(v.type)}'`, target.span);
    this.#requireInteger(value, op);
    this.#scalar(value);
    e.emit(mov64Reg(R1, R0), ldx(Size.DW, R0, base, v.offset));
    this.#arithmetic(op.slice(0, -1), (v.type.kind === 'int' && v.type.signed) || this.#signedOperand(value), target.span);
    e.emit(stx(Size.DW, base, v.offset, R0));
  }

  #incdec(expr: Expr & { kind: 'incdec' }): void {
    const e = this.#e;
    const delta = expr.op === '++' ? 1 : -1;
    if (expr.target.kind === 'var') {
      if (this.#loopScopes.some((scope) => scope.has(expr.target.name))) throw traceError(`$${expr.target.name} is the loop's variable and cannot be assigned`, expr.span);
      const v = this.#variable(expr.target);
      if (!isInteger(v.type)) throw traceError(`The ${expr.op} operator can not be used on variables of type '${typeName(v.type)}'`, expr.span);
      const base = this.#variableBase();
      e.emit(ldx(Size.DW, R0, base, v.offset), mov64Reg(R1, R0), alu64Imm(AluOp.ADD, R1, delta), stx(Size.DW, base, v.offset, R1));
      if (expr.prefix) e.emit(mov64Reg(R0, R1));
      return;
    }
    this.#assignMap(expr.target, '+=', { kind: 'int', value: BigInt(delta), span: expr.span }, expr.span);
  }

  // ---------------------------------------------------------------- maps

  /** The map's info, created on first assignment; a later assignment of another kind is an error. */
  #mapFor(ref: MapRef, value: MapValue, span: SourceSpan): MapInfo {
    const keys = this.#keyTypes(ref);
    keys?.forEach((k, i) => {
      if (k.kind === 'none') throw traceError('a map key cannot be of type none', this.#keyExprs(ref)![i]!.span);
    });
    const existing = this.state.maps.get(ref.name);
    if (existing === undefined) {
      const info: MapInfo = { name: ref.name, kernelName: kernelMapName(ref.name), keys, value };
      this.state.maps.set(ref.name, info);
      this.#forgetTypes();
      return info;
    }
    this.#checkKeys(ref, existing, keys);
    const describe = (v: MapValue): string => (v.kind === 'aggregation' ? `${v.aggregation}()` : typeName(v.type));
    const same = existing.value.kind === 'aggregation' ? value.kind === 'aggregation' && value.aggregation === existing.value.aggregation : value.kind === 'value' && compatible(existing.value.type, value.type);
    if (!same) throw traceError(`Type mismatch for @${ref.name}: trying to assign value of type '${describe(value)}' when map already contains a value of type '${describe(existing.value)}'`, span);
    if (existing.value.kind === 'value' && value.kind === 'value' && existing.value.type.kind === 'string' && value.type.kind === 'string' && value.type.size > existing.value.type.size) {
      existing.value = { kind: 'value', type: value.type };
      this.#forgetTypes();
    }
    return existing;
  }

  #checkKeys(ref: MapRef, info: MapInfo, keys: TraceType[] | undefined): void {
    const expected = info.keys?.map(typeName).join(', ') ?? 'none';
    const got = keys?.map(typeName).join(', ') ?? 'none';
    const same = keys === undefined ? info.keys === undefined : info.keys !== undefined && keys.length === info.keys.length && keys.every((k, i) => compatible(k, info.keys![i]!));
    if (!same) throw traceError(`Argument mismatch for @${ref.name}: trying to access with arguments: [${got}] when map expects arguments: [${expected}]`, ref.span);
    keys?.forEach((k, i) => {
      const known = info.keys![i]!;
      if (k.kind === 'string' && known.kind === 'string' && k.size > known.size) info.keys![i] = k;
    });
  }

  /**
   * The key expressions of a map access. Several keys are a tuple, as in
   * bpftrace: `@m[$t]` with `$t = (a, b)` is the same element as `@m[a, b]`.
   */
  #keyExprs(ref: MapRef): Expr[] | undefined {
    const keys = ref.keys;
    if (keys?.length !== 1) return keys;
    const key = keys[0]!;
    const type = this.typeOf(key);
    if (type.kind !== 'tuple') return keys;
    if (key.kind === 'tuple') return key.elements;
    return type.elements.map((_, i): Expr => ({ kind: 'field', base: key, field: String(i), arrow: false, span: key.span }));
  }

  #keyTypes(ref: MapRef): TraceType[] | undefined {
    return this.#keyExprs(ref)?.map((k) => this.typeOf(k));
  }

  /** Builds the key of `ref` in a zeroed stack buffer of the map's key size; returns its offset. */
  #key(ref: MapRef, info: MapInfo): number {
    const e = this.#e;
    const size = mapKeySize(info);
    const offset = e.alloc(size, ref.span);
    e.zero(offset, size);
    let at = offset;
    this.#keyExprs(ref)?.forEach((k, i) => {
      const type = info.keys![i]!;
      this.#intoSized(k, at, sizeOf(type));
      at += sizeOf(type);
    });
    return offset;
  }

  #lookup(info: MapInfo, keyOffset: number): void {
    this.#e.loadMap(R1, info.kernelName);
    this.#e.stackAddress(R2, keyOffset);
    this.#e.call('map_lookup_elem');
  }

  #update(mapName: string, keyOffset: number, valueOffset: number): void {
    const e = this.#e;
    e.loadMap(R1, mapName);
    e.stackAddress(R2, keyOffset);
    e.stackAddress(R3, valueOffset);
    e.emit(mov64Imm(R4, 0));
    e.call('map_update_elem');
  }

  #assignMap(ref: MapRef, op: string, value: Expr, span: SourceSpan): void {
    const e = this.#e;
    if (value.kind === 'call' && AGGREGATIONS.has(value.name)) {
      if (op !== '=') throw traceError(`${value.name}() can only be assigned with =`, span);
      this.#aggregate(ref, value);
      return;
    }
    if (op !== '=') {
      const info = this.state.maps.get(ref.name) ?? this.#mapFor(ref, { kind: 'value', type: INT64 }, span);
      if (info.value.kind === 'aggregation' && info.value.aggregation !== 'count' && info.value.aggregation !== 'sum') throw traceError(`The ${op} operator can not be used on ${info.value.aggregation}() maps`, span);
      if (info.value.kind === 'value' && !isInteger(info.value.type)) throw traceError(`The ${op} operator can not be used on maps of type '${typeName(info.value.type)}'`, span);
      this.#checkKeys(ref, info, this.#keyTypes(ref));
      this.#requireInteger(value, op);
      const key = this.#key(ref, info);
      const operand = e.alloc(8, span);
      this.#scalar(value);
      e.emit(stx(Size.DW, FP, operand, R0));
      this.#lookup(info, key);
      const missing = e.label();
      const done = e.label();
      e.jumpImm(JmpOp.JEQ, R0, 0, missing);
      if (op === '+=' || op === '-=') {
        e.emit(ldx(Size.DW, R1, FP, operand));
        if (op === '-=') e.emit(alu64Imm(AluOp.NEG, R1, 0));
        e.emit(atomic(Size.DW, AtomicOp.ADD, R0, 0, R1));
      } else {
        e.emit(mov64Reg(R7, R0), ldx(Size.DW, R1, FP, operand), ldx(Size.DW, R0, R7, 0));
        this.#arithmetic(op.slice(0, -1), true, span);
        e.emit(stx(Size.DW, R7, 0, R0));
      }
      e.goto(done);
      e.place(missing);
      // A missing entry counts as 0.
      e.emit(mov64Imm(R0, 0), ldx(Size.DW, R1, FP, operand));
      this.#arithmetic(op.slice(0, -1), true, span);
      const initial = e.alloc(mapValueSize(info.value), span);
      e.zero(initial, mapValueSize(info.value));
      e.emit(stx(Size.DW, FP, initial, R0));
      this.#update(info.kernelName, key, initial);
      e.place(done);
      return;
    }
    const type = this.typeOf(value);
    if (type.kind === 'none') throw traceError(`Value of type none cannot be assigned to @${ref.name}`, value.span);
    const info = this.#mapFor(ref, { kind: 'value', type }, span);
    const key = this.#key(ref, info);
    const size = mapValueSize(info.value);
    const buffer = e.alloc(size, span);
    e.zero(buffer, size);
    this.#intoSized(value, buffer, sizeOf(info.value.kind === 'value' ? info.value.type : type));
    this.#update(info.kernelName, key, buffer);
  }

  #aggregate(ref: MapRef, call: Expr & { kind: 'call' }): void {
    const e = this.#e;
    const aggregation = call.name as AggregationKind;
    const args = call.args;
    const expected = aggregation === 'count' ? 0 : aggregation === 'lhist' ? 4 : 1;
    if (args.length !== expected) throw traceError(`${aggregation}() requires ${expected} argument${expected === 1 ? '' : 's'} (${args.length} provided)`, call.span);
    let lhist: { min: number; max: number; step: number } | undefined;
    if (aggregation === 'lhist') {
      const [min, max, step] = args.slice(1).map((a) => {
        if (a.kind !== 'int') throw traceError('lhist() min, max and step must be integer literals', a.span);
        return Number(a.value);
      }) as [number, number, number];
      if (step < 1) throw traceError('lhist() step must be >= 1', args[3]!.span);
      if (max <= min) throw traceError('lhist() max must be greater than min', args[2]!.span);
      if ((max - min) / step > 1000) throw traceError('lhist() has too many buckets ((max - min) / step must be at most 1000)', call.span);
      lhist = { min, max, step };
    }
    if (args[0] !== undefined) this.#requireInteger(args[0], `${aggregation}()`);
    const info = this.#mapFor(ref, { kind: 'aggregation', aggregation, ...(lhist ? { lhist } : {}) }, call.span);
    if (lhist && info.value.kind === 'aggregation' && JSON.stringify(info.value.lhist) !== JSON.stringify(lhist)) throw traceError(`lhist() parameters of @${ref.name} differ from an earlier assignment`, call.span);
    const key = this.#key(ref, info);
    const operand = args[0] !== undefined ? e.alloc(8, call.span) : 0;
    if (args[0] !== undefined) {
      this.#scalar(args[0]);
      e.emit(stx(Size.DW, FP, operand, R0));
    }
    if (aggregation === 'hist' || aggregation === 'lhist') {
      e.emit(ldx(Size.DW, R1, FP, operand));
      if (aggregation === 'hist') this.#log2Bucket();
      else this.#linearBucket(lhist!);
      e.emit(stx(Size.DW, FP, key + mapKeySize(info) - 8, R0));
    }
    this.#lookup(info, key);
    const missing = e.label();
    const done = e.label();
    e.jumpImm(JmpOp.JEQ, R0, 0, missing);
    if (args[0] !== undefined) e.emit(ldx(Size.DW, R2, FP, operand));
    switch (aggregation) {
      case 'count':
      case 'hist':
      case 'lhist':
        e.emit(ldx(Size.DW, R1, R0, 0), alu64Imm(AluOp.ADD, R1, 1), stx(Size.DW, R0, 0, R1));
        break;
      case 'sum':
        e.emit(ldx(Size.DW, R1, R0, 0), alu64Reg(AluOp.ADD, R1, R2), stx(Size.DW, R0, 0, R1));
        break;
      case 'avg':
      case 'stats':
        e.emit(ldx(Size.DW, R1, R0, 0), alu64Imm(AluOp.ADD, R1, 1), stx(Size.DW, R0, 0, R1));
        e.emit(ldx(Size.DW, R1, R0, 8), alu64Reg(AluOp.ADD, R1, R2), stx(Size.DW, R0, 8, R1));
        break;
      case 'min':
      case 'max': {
        // (value, set): this CPU's slot of an entry another CPU created starts unset.
        const write = e.label();
        e.emit(ldx(Size.DW, R1, R0, 8));
        e.jumpImm(JmpOp.JEQ, R1, 0, write);
        e.emit(ldx(Size.DW, R1, R0, 0));
        e.jumpReg(aggregation === 'min' ? JmpOp.JSGE : JmpOp.JSLE, R2, R1, done);
        e.place(write);
        e.emit(stx(Size.DW, R0, 0, R2), st(Size.DW, R0, 8, 1));
        break;
      }
    }
    e.goto(done);
    e.place(missing);
    const size = mapValueSize(info.value);
    const initial = e.alloc(size, call.span);
    e.zero(initial, size);
    if (args[0] !== undefined) e.emit(ldx(Size.DW, R2, FP, operand));
    switch (aggregation) {
      case 'count':
      case 'hist':
      case 'lhist':
        e.emit(st(Size.DW, FP, initial, 1));
        break;
      case 'sum':
        e.emit(stx(Size.DW, FP, initial, R2));
        break;
      case 'avg':
      case 'stats':
        e.emit(st(Size.DW, FP, initial, 1), stx(Size.DW, FP, initial + 8, R2));
        break;
      case 'min':
      case 'max':
        e.emit(stx(Size.DW, FP, initial, R2), st(Size.DW, FP, initial + 8, 1));
        break;
    }
    this.#update(info.kernelName, key, initial);
    e.place(done);
  }

  /** R0 = hist bucket of R1: 0 for negatives, 1 for 0, 2 + floor(log2(v)) otherwise (bpftrace's layout). */
  #log2Bucket(): void {
    const e = this.#e;
    const done = e.label();
    const positive = e.label();
    e.emit(mov64Imm(R0, 0));
    e.jumpImm(JmpOp.JSLT, R1, 0, done);
    e.emit(mov64Imm(R0, 1));
    e.jumpImm(JmpOp.JEQ, R1, 0, done);
    e.place(positive);
    e.emit(mov64Imm(R0, 2));
    for (const shift of [32, 16, 8, 4, 2, 1]) {
      const skip = e.label();
      e.emit(mov64Reg(R3, R1), alu64Imm(AluOp.RSH, R3, shift));
      e.jumpImm(JmpOp.JEQ, R3, 0, skip);
      e.emit(mov64Reg(R1, R3), alu64Imm(AluOp.ADD, R0, shift));
      e.place(skip);
    }
    e.place(done);
  }

  /** R0 = lhist bucket of R1: 0 below min, 1 + (v - min) / step inside, buckets + 1 from max up. */
  #linearBucket(p: { min: number; max: number; step: number }): void {
    const e = this.#e;
    const buckets = Math.ceil((p.max - p.min) / p.step);
    const done = e.label();
    e.emit(mov64Imm(R0, 0));
    e.loadConstant(R2, BigInt(p.min));
    e.jumpReg(JmpOp.JSLT, R1, R2, done);
    e.emit(mov64Imm(R0, buckets + 1));
    e.loadConstant(R2, BigInt(p.max));
    e.jumpReg(JmpOp.JSGE, R1, R2, done);
    e.emit(mov64Reg(R0, R1));
    e.loadConstant(R2, BigInt(p.min));
    e.emit(alu64Reg(AluOp.SUB, R0, R2), alu64Imm(AluOp.DIV, R0, p.step), alu64Imm(AluOp.ADD, R0, 1));
    e.place(done);
  }

  // ---------------------------------------------------------------- calls used as statements

  #callStatement(call: Expr & { kind: 'call' }): void {
    const e = this.#e;
    const args = call.args;
    switch (call.name) {
      case 'printf':
      case 'system':
      case 'cat': {
        if (call.name === 'system' && !this.state.unsafe) throw traceError(`${call.name}() is an unsafe function: run with --unsafe`, call.nameSpan);
        const format = args[0];
        if (format?.kind !== 'string') throw traceError(`${call.name}() expects a format string literal as its first argument`, call.span);
        const pieces = parseFormat(format.value, call.span, call.name);
        const expected = conversionCount(pieces);
        if (args.length - 1 !== expected) {
          throw traceError(`${call.name}: ${args.length - 1 < expected ? 'Not enough' : 'Too many'} arguments for format string (${args.length - 1} supplied, ${expected} expected)`, call.span);
        }
        const types = args.slice(1).map((a) => this.typeOf(a));
        let i = 0;
        for (const p of pieces) {
          if (!('conversion' in p)) continue;
          const type = types[i]!;
          const numeric = 'diuxXoc'.includes(p.conversion);
          if (type.kind === 'none') throw traceError(`${call.name}: argument ${i + 1} has no value`, args[i + 1]!.span);
          // As bpftrace: %r (and %rx, %rh) takes a buffer, and a buffer prints only with them.
          const category = isInteger(type) ? 'integer' : type.kind;
          if (p.conversion.startsWith('r') && type.kind !== 'buffer') throw traceError(`${call.name}: %${p.conversion} specifier expects a value of type buffer (${category} supplied)`, call.span);
          if (!p.conversion.startsWith('r') && type.kind === 'buffer') throw traceError(`${call.name}: %${p.conversion} specifier expects a value of type ${numeric ? 'integer' : 'string'} (buffer supplied)`, call.span);
          if (numeric) this.#requireNumericPositional(args[i + 1]!);
          if (p.conversion === 's' && isInteger(type)) throw traceError(`${call.name}: %s specifier expects a value of type string (integer supplied)`, args[i + 1]!.span);
          if (numeric && !isInteger(type)) throw traceError(`${call.name}: %${p.conversion} specifier expects a value of type integer (${typeName(type)} supplied)`, args[i + 1]!.span);
          i++;
        }
        this.#event({ kind: call.name, pieces, args: types }, args.slice(1), call.span);
        return;
      }
      case 'exit':
        if (args.length > 1) throw traceError(`exit() takes at most 1 argument (${args.length} provided)`, call.span);
        this.#event({ kind: 'exit' }, [], call.span);
        e.goto(this.#returnLabel!);
        return;
      case 'print':
      case 'clear':
      case 'zero': {
        const map = args[0];
        const top = call.name === 'print' && args.length === 2 ? args[1]! : undefined;
        if (top !== undefined && top.kind !== 'int') throw traceError('print(): the number of entries to print must be an integer literal', top.span);
        if ((args.length !== 1 && top === undefined) || map?.kind !== 'map' || map.keys !== undefined) {
          if (call.name === 'print' && args.length === 1 && map !== undefined && map.kind !== 'map') {
            // print(value) prints one value as printf("%s\n") would.
            const type = this.typeOf(map);
            this.#event({ kind: 'printf', pieces: [{ flags: '', width: '', precision: '', length: '', conversion: isInteger(type) ? 'd' : 's' }, { text: '\n' }], args: [type] }, [map], call.span);
            return;
          }
          throw traceError(`${call.name}() expects a map without keys as its argument`, call.span);
        }
        if (!this.state.maps.has(map.name)) throw traceError(`Undefined map: @${map.name}`, map.span);
        this.#event({ kind: call.name, map: map.name, ...(top?.kind === 'int' ? { top: Number(top.value) } : {}) }, [], call.span);
        return;
      }
      case 'delete':
        this.#delete(call);
        return;
      case 'time': {
        const format = args[0];
        if (args.length > 1 || (format !== undefined && format.kind !== 'string')) throw traceError('time() expects an optional format string literal', call.span);
        this.#event({ kind: 'time', format: format?.kind === 'string' ? format.value : '%H:%M:%S\n' }, [], call.span);
        return;
      }
      case 'join':
        this.#join(call);
        return;
      case 'signal': {
        if (!this.state.unsafe) throw traceError('signal() is an unsafe function: run with --unsafe', call.nameSpan);
        if (args.length !== 1) throw traceError('signal() requires 1 argument', call.span);
        const sig = args[0]!;
        if (sig.kind === 'string') {
          const number = SIGNALS[sig.value.startsWith('SIG') ? sig.value : `SIG${sig.value}`];
          if (number === undefined) throw traceError(`signal(): unknown signal ${sig.value}`, sig.span);
          e.emit(mov64Imm(R1, number));
        } else {
          this.#scalar(sig);
          e.emit(mov64Reg(R1, R0));
        }
        e.call('send_signal');
        return;
      }
      default:
        this.#evaluate(call);
    }
  }

  /** delete(@m, key) or delete(@m[key]) (and delete(@scalar)): R0 = 1 when an element was deleted, else 0, as bpftrace's bool. */
  #delete(call: Expr & { kind: 'call' }): void {
    const e = this.#e;
    const args = call.args;
    const map = args[0];
    const ref: MapRef | undefined = args.length === 1 && map?.kind === 'map' ? map : args.length === 2 && map?.kind === 'map' && map.keys === undefined ? { ...map, keys: [args[1]!] } : undefined;
    if (ref === undefined) throw traceError('delete() expects a map element: delete(@m[key]) or delete(@m, key)', call.span);
    const info = this.state.maps.get(ref.name);
    if (info === undefined) throw traceError(`Undefined map: @${ref.name}`, ref.span);
    if (info.keys !== undefined && ref.keys === undefined) throw traceError(`delete() of @${ref.name} needs a key: delete(@${ref.name}, key), or clear(@${ref.name}) for every element`, call.span);
    this.#checkKeys(ref, info, this.#keyTypes(ref));
    if (info.value.kind === 'aggregation' && (info.value.aggregation === 'hist' || info.value.aggregation === 'lhist')) throw traceError('delete() of one histogram element is not supported; use clear()', call.span);
    const key = this.#key(ref, info);
    e.loadMap(R1, info.kernelName);
    e.stackAddress(R2, key);
    e.call('map_delete_elem');
    this.#booleanFromJump(JmpOp.JEQ);
  }

  /** Writes a record (event index, then each argument) to the ring buffer, counting a failure as lost. */
  #event(spec: EventSpec, args: Expr[], span: SourceSpan): void {
    const e = this.#e;
    this.state.usesRingbuf = true;
    const index = this.#eventIndex(spec);
    const types = args.map((a) => this.typeOf(a));
    const size = 8 + types.reduce((total, t) => total + sizeOf(t), 0);
    const record = e.alloc(size, span);
    e.emit(st(Size.DW, FP, record, index));
    let at = record + 8;
    args.forEach((a, i) => {
      this.#intoSized(a, at, sizeOf(types[i]!));
      at += sizeOf(types[i]!);
    });
    e.loadMap(R1, RINGBUF_MAP);
    e.stackAddress(R2, record);
    e.emit(mov64Imm(R3, size), mov64Imm(R4, 0));
    e.call('ringbuf_output');
    const ok = e.label();
    e.jumpImm(JmpOp.JEQ, R0, 0, ok);
    this.#countLost(span);
    e.place(ok);
  }

  /** Identical events share an index, so probes of a wildcard generate identical code and share a program. */
  #eventIndex(spec: EventSpec): number {
    const text = JSON.stringify(spec);
    const known = this.state.events.findIndex((e) => JSON.stringify(e) === text);
    if (known >= 0) return known;
    this.state.events.push(spec);
    return this.state.events.length - 1;
  }

  #countLost(span: SourceSpan): void {
    const e = this.#e;
    const key = e.alloc(8, span);
    e.emit(st(Size.DW, FP, key, 0));
    e.loadMap(R1, LOST_MAP);
    e.stackAddress(R2, key);
    e.call('map_lookup_elem');
    const none = e.label();
    e.jumpImm(JmpOp.JEQ, R0, 0, none);
    e.emit(ldx(Size.DW, R1, R0, 0), alu64Imm(AluOp.ADD, R1, 1), stx(Size.DW, R0, 0, R1));
    e.place(none);
  }

  /** join(argv[, delimiter]): up to 16 strings from a NULL-terminated user array, reserved in the ring buffer directly (too large for the stack). */
  #join(call: Expr & { kind: 'call' }): void {
    const e = this.#e;
    const [array, delimiter] = call.args;
    if (array === undefined || call.args.length > 2) throw traceError('join() requires 1 or 2 arguments', call.span);
    if (delimiter !== undefined && delimiter.kind !== 'string') throw traceError('join() delimiter must be a string literal', delimiter.span);
    const type = this.typeOf(array);
    if (type.kind !== 'pointer') throw traceError(`join() expects an array of string pointers (char **), got '${typeName(type)}'`, array.span);
    this.state.usesRingbuf = true;
    const index = this.#eventIndex({ kind: 'join', delimiter: delimiter?.kind === 'string' ? delimiter.value : ' ' });
    const slot = e.alloc(8, call.span);
    this.#scalar(array);
    e.emit(mov64Reg(R8, R0));
    const size = 16 + JOIN_ARGS * JOIN_ARG_SIZE;
    e.loadMap(R1, RINGBUF_MAP);
    e.emit(mov64Imm(R2, size), mov64Imm(R3, 0));
    e.call('ringbuf_reserve');
    const reserved = e.label();
    const finished = e.label();
    const end = e.label();
    e.jumpImm(JmpOp.JNE, R0, 0, reserved);
    this.#countLost(call.span);
    e.goto(end);
    e.place(reserved);
    e.emit(mov64Reg(R7, R0), st(Size.DW, R7, 0, index), st(Size.DW, R7, 8, 0));
    for (let i = 0; i < JOIN_ARGS; i++) {
      e.stackAddress(R1, slot);
      e.emit(mov64Imm(R2, 8), mov64Reg(R3, R8), alu64Imm(AluOp.ADD, R3, i * 8));
      e.call(type.user ? 'probe_read_user' : 'probe_read_kernel');
      e.jumpImm(JmpOp.JNE, R0, 0, finished);
      e.emit(ldx(Size.DW, R3, FP, slot));
      e.jumpImm(JmpOp.JEQ, R3, 0, finished);
      e.emit(mov64Reg(R1, R7), alu64Imm(AluOp.ADD, R1, 16 + i * JOIN_ARG_SIZE), mov64Imm(R2, JOIN_ARG_SIZE));
      e.call(type.user ? 'probe_read_user_str' : 'probe_read_kernel_str');
      e.emit(st(Size.DW, R7, 8, i + 1));
    }
    e.place(finished);
    e.emit(mov64Reg(R1, R7), mov64Imm(R2, 0));
    e.call('ringbuf_submit');
    e.place(end);
  }

  // ---------------------------------------------------------------- conditions

  /** Jumps to `otherwise` when `expr` is false. */
  #condition(expr: Expr, otherwise: Label): void {
    const e = this.#e;
    if (expr.kind === 'binary' && ['==', '!=', '<', '>', '<=', '>='].includes(expr.op)) {
      const left = this.typeOf(expr.left);
      if (left.kind === 'string') {
        this.#stringEquality(expr.left, expr.right, expr.span);
        e.jumpImm(expr.op === '==' ? JmpOp.JNE : JmpOp.JEQ, R0, 0, otherwise);
        return;
      }
      const signed = this.#signedComparison(expr.left, expr.right);
      this.#operands(expr.left, expr.right);
      const inverse: Record<string, number> = signed
        ? { '==': JmpOp.JNE, '!=': JmpOp.JEQ, '<': JmpOp.JSGE, '>': JmpOp.JSLE, '<=': JmpOp.JSGT, '>=': JmpOp.JSLT }
        : { '==': JmpOp.JNE, '!=': JmpOp.JEQ, '<': JmpOp.JGE, '>': JmpOp.JLE, '<=': JmpOp.JGT, '>=': JmpOp.JLT };
      e.jumpReg(inverse[expr.op]!, R0, R1, otherwise);
      return;
    }
    // A condition leaves only a jump: the stack its operands used is free again for the next one (`a == "x" || b == "y" || ...`).
    const mark = e.stackMark;
    if (expr.kind === 'binary' && expr.op === '&&') {
      this.#condition(expr.left, otherwise);
      e.release(mark);
      this.#condition(expr.right, otherwise);
      return;
    }
    if (expr.kind === 'binary' && expr.op === '||') {
      const yes = e.label();
      const tryRight = e.label();
      this.#condition(expr.left, tryRight);
      e.release(mark);
      e.goto(yes);
      e.place(tryRight);
      this.#condition(expr.right, otherwise);
      e.place(yes);
      return;
    }
    if (expr.kind === 'unary' && expr.op === '!') {
      const yes = e.label();
      this.#condition(expr.operand, yes);
      e.goto(otherwise);
      e.place(yes);
      return;
    }
    const type = this.typeOf(expr);
    if (!isScalar(type)) throw traceError(`a condition must be an integer, not '${typeName(type)}'`, expr.span);
    this.#scalar(expr);
    e.jumpImm(JmpOp.JEQ, R0, 0, otherwise);
  }

  /** Comparisons are signed unless a non-literal operand is unsigned. */
  #signedComparison(left: Expr, right: Expr): boolean {
    const unsigned = (x: Expr): boolean => {
      const t = this.typeOf(x);
      return x.kind !== 'int' && (t.kind === 'pointer' || (t.kind === 'int' && !t.signed && t.bits === 64));
    };
    return !unsigned(left) && !unsigned(right);
  }

  /** R0 = left, R1 = right. */
  #operands(left: Expr, right: Expr): void {
    const e = this.#e;
    if (right.kind === 'int') {
      this.#scalar(left);
      e.loadConstant(R1, right.value);
      return;
    }
    // The left value's temporaries are dead once it is in R0: its slot reuses them, so a chain `a + b + c...` needs one slot, not one per operator.
    const mark = e.stackMark;
    this.#scalar(left);
    e.release(mark);
    const slot = e.alloc(8, left.span);
    e.emit(stx(Size.DW, FP, slot, R0));
    this.#scalar(right);
    e.emit(mov64Reg(R1, R0), ldx(Size.DW, R0, FP, slot));
  }

  /** R0 = 0 when the strings are equal up to their first NUL (or the shorter buffer), 1 otherwise. */
  #stringEquality(left: Expr, right: Expr, span: SourceSpan, limit = Infinity): void {
    const e = this.#e;
    const a = this.typeOf(left);
    const b = this.typeOf(right);
    if (a.kind !== 'string' || b.kind !== 'string') throw traceError(`Type mismatch: comparing '${typeName(a)}' with '${typeName(b)}'`, span);
    const left0 = e.alloc(sizeOf(a), span);
    this.#intoSized(left, left0, sizeOf(a));
    const right0 = e.alloc(sizeOf(b), span);
    this.#intoSized(right, right0, sizeOf(b));
    const length = Math.min(a.size, b.size, limit);
    const differ = e.label();
    const equal = e.label();
    const end = e.label();
    for (let i = 0; i < length; i++) {
      e.emit(ldx(Size.B, R1, FP, left0 + i), ldx(Size.B, R2, FP, right0 + i));
      e.jumpReg(JmpOp.JNE, R1, R2, differ);
      e.jumpImm(JmpOp.JEQ, R1, 0, equal);
    }
    e.place(equal);
    e.emit(mov64Imm(R0, 0));
    e.goto(end);
    e.place(differ);
    e.emit(mov64Imm(R0, 1));
    e.place(end);
  }

  // ---------------------------------------------------------------- scalar expressions

  /** Evaluates an integer-like expression into R0. */
  #scalar(expr: Expr): void {
    const e = this.#e;
    const type = this.typeOf(expr);
    if (!isScalar(type)) throw traceError(`expected an integer, got '${typeName(type)}'`, expr.span);
    switch (expr.kind) {
      case 'int':
        e.loadConstant(R0, expr.value);
        return;
      case 'positional':
        this.#requireNumericPositional(expr);
        e.loadConstant(R0, expr.index === '#' ? BigInt(this.state.positional.length) : (positionalInteger(this.state.positional[expr.index - 1] ?? '0') ?? 0n));
        return;
      case 'var':
        {
          const v = this.#variable(expr);
          e.emit(ldx(Size.DW, R0, this.#variableBase(), v.offset));
        }
        return;
      case 'map': {
        const info = this.state.maps.get(expr.name)!;
        this.#checkKeys(expr, info, this.#keyTypes(expr));
        const key = this.#key(expr, info);
        this.#lookup(info, key);
        const done = e.label();
        e.jumpImm(JmpOp.JEQ, R0, 0, done);
        e.emit(ldx(Size.DW, R0, R0, 0));
        e.place(done);
        return;
      }
      case 'builtin':
        this.#builtinScalar(expr.name);
        return;
      case 'unary':
        this.#scalar(expr.operand);
        if (expr.op === '-') e.emit(alu64Imm(AluOp.NEG, R0, 0));
        else if (expr.op === '~') e.emit(alu64Imm(AluOp.XOR, R0, -1));
        else if (expr.op === '!') this.#booleanFromJump(JmpOp.JEQ);
        else if (expr.op === '*') {
          const operand = this.typeOf(expr.operand);
          this.#readPointer(R0, (this.#pointeeInteger(operand)?.bits ?? 64) / 8, operand);
          if (type.kind === 'int' && type.signed && type.bits < 64) this.#truncate(type.bits, true);
        }
        return;
      case 'binary':
        this.#binary(expr);
        return;
      case 'ternary': {
        const otherwise = e.label();
        const end = e.label();
        this.#condition(expr.condition, otherwise);
        this.#scalar(expr.then);
        e.goto(end);
        e.place(otherwise);
        this.#scalar(expr.otherwise);
        e.place(end);
        return;
      }
      case 'incdec':
        if (expr.target.kind === 'map') throw traceError('map ++/-- can only be used as a statement', expr.span);
        this.#incdec(expr);
        return;
      case 'field':
        this.#fieldScalar(expr);
        return;
      case 'index':
        this.#indexScalar(expr);
        return;
      case 'cast': {
        this.#scalar(expr.operand);
        if (type.kind === 'int' && type.bits < 64) this.#truncate(type.bits, type.signed);
        return;
      }
      case 'offsetof':
        e.loadConstant(R0, BigInt(this.#offsetOf(expr)));
        return;
      case 'sizeof': {
        if (expr.type !== undefined) {
          const integer = INTEGER_TYPES[expr.type.base.replace(/^unsigned /, '')];
          if (expr.type.pointer > 0) e.emit(mov64Imm(R0, 8));
          else if (integer !== undefined) e.emit(mov64Imm(R0, integer.bits / 8));
          else if (/^(struct|union) /.test(expr.type.base)) e.emit(mov64Imm(R0, typeSize((this.#structPointer(expr.type.base, false, expr.type.span) as { btfId: number }).btfId)));
          else throw traceError(`sizeof(${expr.type.base}) is not supported: only integer and pointer types`, expr.type.span);
        } else {
          const t = this.typeOf(expr.operand!);
          e.emit(mov64Imm(R0, t.kind === 'int' ? t.bits / 8 : t.kind === 'string' ? t.size : sizeOf(t)));
        }
        return;
      }
      case 'call':
        this.#callScalar(expr);
        return;
      default:
        throw traceError(`expected an integer expression`, expr.span);
    }
  }

  /** Sign- or zero-extends the low `bits` of R0. */
  #truncate(bits: number, signed: boolean): void {
    if (bits >= 64) return;
    this.#e.emit(alu64Imm(AluOp.LSH, R0, 64 - bits), alu64Imm(signed ? AluOp.ARSH : AluOp.RSH, R0, 64 - bits));
  }

  /** R0 = (R0 <op> 0) ? 1 : 0. */
  #booleanFromJump(op: number): void {
    const e = this.#e;
    const yes = e.label();
    const end = e.label();
    e.jumpImm(op, R0, 0, yes);
    e.emit(mov64Imm(R0, 0));
    e.goto(end);
    e.place(yes);
    e.emit(mov64Imm(R0, 1));
    e.place(end);
  }

  #binary(expr: Expr & { kind: 'binary' }): void {
    const e = this.#e;
    if (['==', '!=', '<', '>', '<=', '>=', '&&', '||'].includes(expr.op)) {
      const no = e.label();
      const end = e.label();
      this.#condition(expr, no);
      e.emit(mov64Imm(R0, 1));
      e.goto(end);
      e.place(no);
      e.emit(mov64Imm(R0, 0));
      e.place(end);
      return;
    }
    this.#operands(expr.left, expr.right);
    this.#arithmetic(expr.op, this.#signedOperand(expr.left) || this.#signedOperand(expr.right), expr.span);
  }

  /**
   * R0 = R0 <op> R1 with bpftrace's semantics (0.17 and current): `/` and
   * `%` are unsigned (with its warning when an operand is signed: -7/2 is
   * 2^63-4), `>>` is a logical shift, and a shift by 64 or more gives 0
   * (the BPF instruction would use the count modulo 64).
   */
  #arithmetic(op: string, signedOperands: boolean, span: SourceSpan): void {
    const e = this.#e;
    const ops: Record<string, number> = { '+': AluOp.ADD, '-': AluOp.SUB, '*': AluOp.MUL, '/': AluOp.DIV, '%': AluOp.MOD, '&': AluOp.AND, '|': AluOp.OR, '^': AluOp.XOR, '<<': AluOp.LSH, '>>': AluOp.RSH };
    const alu = ops[op];
    if (alu === undefined) throw traceError(`unknown operator ${op}`, span);
    if ((op === '/' || op === '%') && signedOperands && !this.state.learning) {
      this.state.warnings.push(traceError(`signed operands for '${op}' can lead to undefined behavior (cast to unsigned to silence warning)`, span));
    }
    if (op !== '<<' && op !== '>>') {
      e.emit(alu64Reg(alu as never, R0, R1));
      return;
    }
    const tooFar = e.label();
    const end = e.label();
    e.jumpImm(JmpOp.JGT, R1, 63, tooFar);
    e.emit(alu64Reg(alu as never, R0, R1));
    e.goto(end);
    e.place(tooFar);
    e.emit(mov64Imm(R0, 0));
    e.place(end);
  }

  /** Whether bpftrace counts `expr` as a signed operand: a signed type, unless it is a non-negative literal. */
  #signedOperand(expr: Expr): boolean {
    if (expr.kind === 'int' && expr.value >= 0n) return false;
    const type = this.typeOf(expr);
    return type.kind === 'int' && type.signed;
  }

  #builtinScalar(name: string): void {
    const e = this.#e;
    switch (name) {
      case 'pid':
        e.call('get_current_pid_tgid');
        e.emit(alu64Imm(AluOp.RSH, R0, 32));
        return;
      case 'tid':
        e.call('get_current_pid_tgid');
        this.#truncate(32, false);
        return;
      case 'uid':
        e.call('get_current_uid_gid');
        this.#truncate(32, false);
        return;
      case 'gid':
        e.call('get_current_uid_gid');
        e.emit(alu64Imm(AluOp.RSH, R0, 32));
        return;
      case 'nsecs':
        e.call('ktime_get_ns');
        return;
      case 'elapsed':
        e.call('ktime_get_ns');
        e.loadConstant(R1, this.state.startNs);
        e.emit(alu64Reg(AluOp.SUB, R0, R1));
        return;
      case 'cpu':
        e.call('get_smp_processor_id');
        return;
      case 'rand':
        e.call('get_prandom_u32');
        return;
      case 'cgroup':
        e.call('get_current_cgroup_id');
        return;
      case 'curtask':
        e.call('get_current_task');
        return;
      case 'ppid':
        this.#scalar(parentPid({ kind: 'builtin', name: 'curtask', span: { line: 0, column: 0, endColumn: 0 } }));
        return;
      case 'probe':
        if (this.#kind === 'tracepoint' && this.context.raw !== true) {
          // Probes sharing a program tell themselves apart by the cookie their link carries (the probe id).
          e.emit(mov64Reg(R1, R6));
          e.call('get_attach_cookie');
        } else {
          e.loadConstant(R0, BigInt(this.context.probeId));
        }
        return;
      case 'kstack':
        this.state.usesStacks = true;
        e.emit(mov64Reg(R1, R6));
        e.loadMap(R2, STACK_MAP);
        e.emit(mov64Imm(R3, 0));
        e.call('get_stackid');
        return;
      case 'func':
        if (this.#kind === 'uretprobe' || this.#kind === 'kretprobe') throw traceError('func in return probes is not supported', undefined);
        e.emit(ldx(Size.DW, R0, R6, PT_REGS_IP));
        return;
      case 'retval':
        e.emit(ldx(Size.DW, R0, R6, PT_REGS_RETURN));
        return;
    }
    const arg = /^arg(\d+)$/.exec(name);
    if (arg !== null) {
      const index = Number(arg[1]);
      if (this.#kind === 'usdt') this.#usdtArgument(this.context.target.usdt!.args[index]!);
      else e.emit(ldx(Size.DW, R0, R6, this.#kind === 'rawtracepoint' ? index * 8 : PT_REGS_ARGS[index]!));
      return;
    }
    const constant = namedConstant(name);
    if (constant !== undefined) {
      e.loadConstant(R0, constant);
      return;
    }
    throw new Error(`builtin ${name} has no scalar code`);
  }

  #fieldScalar(expr: Expr & { kind: 'field' }): void {
    const field = this.#tracepointField(expr);
    if (field !== undefined) {
      const type = fieldType(field, false);
      const size = type.kind === 'int' ? type.bits / 8 : 8;
      const sizes: Record<number, Size> = { 1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW };
      this.#e.emit(ldx(sizes[size]!, R0, R6, field.offset));
      if (type.kind === 'int' && type.signed) this.#truncate(type.bits, true);
      return;
    }
    const base = this.typeOf(expr.base);
    if (base.kind === 'tuple') {
      const element = this.#tupleElement(expr);
      this.#e.emit(ldx(Size.DW, R0, element.base, element.offset));
      return;
    }
    const type = this.typeOf(expr);
    const user = base.kind === 'pointer' || base.kind === 'record' ? base.user : false;
    this.#fieldAddress(expr);
    this.#readPointer(R0, type.kind === 'int' ? type.bits / 8 : 8, { kind: 'pointer', pointee: '', user });
    if (type.kind === 'int' && type.signed) this.#truncate(type.bits, true);
  }

  /**
   * Where element `.N` of a tuple is: in place when the tuple is a variable
   * (or an element of one, `$kv.0.1`), else in a stack copy of the tuple.
   */
  #tupleElement(expr: Expr & { kind: 'field' }): { base: number; offset: number } {
    const tuple = this.typeOf(expr.base) as TraceType & { kind: 'tuple' };
    let whole: { base: number; offset: number };
    if (expr.base.kind === 'var') {
      const v = this.#variable(expr.base);
      whole = { base: this.#variableBase(), offset: v.offset };
    } else if (expr.base.kind === 'field' && this.typeOf(expr.base.base).kind === 'tuple') {
      whole = this.#tupleElement(expr.base);
    } else {
      whole = { base: FP, offset: this.#e.alloc(sizeOf(tuple), expr.span) };
      this.#into(expr.base, whole.offset);
    }
    let at = whole.offset;
    for (let i = 0; i < Number(expr.field); i++) at += sizeOf(tuple.elements[i]!);
    return { base: whole.base, offset: at };
  }

  #indexScalar(expr: Expr & { kind: 'index' }): void {
    const e = this.#e;
    const type = this.typeOf(expr) as TraceType & { kind: 'int' };
    const size = type.bits / 8;
    const base = this.typeOf(expr.base);
    if (base.kind === 'string') {
      if (expr.index.kind !== 'int') throw traceError('a string must be indexed with an integer literal', expr.index.span);
      const index = Number(expr.index.value);
      if (index < 0 || index >= base.size) throw traceError(`index ${index} is out of bounds for a string of size ${base.size}`, expr.index.span);
      let at: { base: number; offset: number };
      if (expr.base.kind === 'var') {
        const v = this.#variable(expr.base);
        at = { base: this.#variableBase(), offset: v.offset };
      } else {
        at = { base: FP, offset: e.alloc(sizeOf(base), expr.span) };
        this.#into(expr.base, at.offset);
      }
      e.emit(ldx(Size.B, R0, at.base, at.offset + index));
      this.#truncate(8, true);
      return;
    }
    if (expr.base.kind === 'field') {
      const field = this.#arrayField(expr.base);
      if (field !== undefined) {
        if (expr.index.kind !== 'int') throw traceError('tracepoint array fields must be indexed with an integer literal', expr.index.span);
        const index = Number(expr.index.value);
        if (index >= field.arrayLength!) throw traceError(`index ${index} is out of bounds for array of size ${field.arrayLength}`, expr.index.span);
        const sizes: Record<number, Size> = { 1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW };
        e.emit(ldx(sizes[size]!, R0, R6, field.offset + index * size));
        if (type.signed) this.#truncate(type.bits, true);
        return;
      }
    }
    const pointer = this.typeOf(expr.base);
    this.#operands(expr.base, expr.index);
    e.emit(alu64Imm(AluOp.MUL, R1, 8), alu64Reg(AluOp.ADD, R0, R1));
    this.#readPointer(R0, 8, pointer);
  }

  /** R0 = the `size`-byte value at address `reg`, read with probe_read (0 when unreadable). */
  /** R0 = a USDT argument: a register, user memory at a register plus a displacement, or a constant, at its size and signedness. */
  #usdtArgument(spec: UsdtArgument): void {
    const e = this.#e;
    const location = spec.location;
    if (location.kind === 'constant') {
      e.loadConstant(R0, location.value);
      return;
    }
    e.emit(ldx(Size.DW, R0, R6, location.ptRegsOffset));
    if (location.kind === 'memory') {
      e.emit(alu64Imm(AluOp.ADD, R0, location.displacement));
      this.#readPointer(R0, spec.size, { kind: 'pointer', pointee: '', user: true });
    }
    if (spec.size < 8) this.#truncate(spec.size * 8, spec.signed);
  }

  #readPointer(reg: number, size: number, pointer: TraceType): void {
    const e = this.#e;
    const slot = e.alloc(8, undefined);
    e.emit(st(Size.DW, FP, slot, 0), mov64Reg(R3, reg));
    e.stackAddress(R1, slot);
    e.emit(mov64Imm(R2, size));
    e.call(pointer.kind === 'pointer' && pointer.user ? 'probe_read_user' : 'probe_read_kernel');
    e.emit(ldx(Size.DW, R0, FP, slot));
  }

  #callScalar(call: Expr & { kind: 'call' }): void {
    const e = this.#e;
    const args = call.args;
    switch (call.name) {
      case 'ksym':
        this.#scalar(args[0]!);
        return;
      case 'strftime':
        this.#scalar(args[1]!);
        return;
      case 'kaddr': {
        const name = (args[0] as Expr & { kind: 'string' }).value;
        const address = this.state.kernelSymbol(name);
        if (address === undefined) throw traceError(`Failed to resolve kernel symbol: ${name}`, args[0]!.span);
        e.loadConstant(R0, address);
        return;
      }
      case 'delete':
        this.#delete(call);
        return;
      case 'ppid':
        this.#scalar(parentPid(args[0] ?? { kind: 'builtin', name: 'curtask', span: call.span }));
        return;
      case 'getopt':
        this.#scalar(this.#getopt(call));
        return;
      case 'strerror':
      case 'syscall_name':
      case 'cgroup_path':
        this.#scalar(args[0]!);
        return;
      case 'len': {
        // bpf_for_each_map_elem returns the number of elements it visited; the callback visits all.
        const info = this.state.maps.get((args[0] as MapRef).name)!;
        e.loadMap(R1, info.kernelName);
        this.#loadCallback(R2, this.#countingCallback());
        e.emit(mov64Imm(R3, 0), mov64Imm(R4, 0));
        e.call('for_each_map_elem');
        return;
      }
      case 'uaddr': {
        const symbol = this.#userSymbol(call);
        // ip - probed + symbol: the symbol's run-time address, also in a relocated (PIE) binary.
        this.#refuseInLoop('uaddr', call.nameSpan);
        e.emit(ldx(Size.DW, R0, R6, PT_REGS_IP));
        e.loadConstant(R1, symbol.address - symbol.probed);
        e.emit(alu64Reg(AluOp.ADD, R0, R1));
        return;
      }
      case 'has_key': {
        const [map, ...keys] = args;
        if (map?.kind !== 'map' || map.keys !== undefined) throw traceError('has_key() expects a map as its first argument', call.span);
        const info = this.state.maps.get(map.name);
        if (info === undefined) throw traceError(`Undefined map: @${map.name}`, map.span);
        const ref: MapRef = { ...map, keys };
        this.#checkKeys(ref, info, this.#keyTypes(ref));
        this.#lookup(info, this.#key(ref, info));
        this.#booleanFromJump(JmpOp.JNE);
        return;
      }
      case 'strcontains':
        this.#strcontains(args[0]!, (args[1] as Expr & { kind: 'string' }).value, call.span);
        return;
      case 'strncmp': {
        const n = args[2]!;
        if (n.kind !== 'int') throw traceError('strncmp() length must be an integer literal', n.span);
        this.#stringEquality(args[0]!, args[1]!, call.span, Number(n.value));
        return;
      }
      case 'bswap': {
        const type = this.typeOf(args[0]!);
        const bits = type.kind === 'int' ? type.bits : 64;
        this.#scalar(args[0]!);
        if (bits > 8) e.emit({ opcode: 0xd7, dst: R0, src: 0, offset: 0, imm: bits }); // BPF_ALU64 | BPF_END: unconditional byte swap
        return;
      }
      case 'reg': {
        const name = args[0];
        const registers: Record<string, number> = { r15: 0, r14: 8, r13: 16, r12: 24, bp: 32, bx: 40, r11: 48, r10: 56, r9: 64, r8: 72, ax: 80, cx: 88, dx: 96, si: 104, di: 112, orig_ax: 120, ip: 128, cs: 136, flags: 144, sp: 152, ss: 160 };
        if (name?.kind !== 'string' || registers[name.value] === undefined) throw traceError(`reg() expects an x86-64 register name (${Object.keys(registers).join(', ')})`, call.span);
        if (!['uprobe', 'uretprobe', 'kprobe', 'kretprobe', 'profile'].includes(this.#kind)) throw traceError(`reg() can not be used with '${this.#kind}' probes`, call.span);
        e.emit(ldx(Size.DW, R0, R6, registers[name.value]!));
        return;
      }
      default:
        throw traceError(`${call.name}() does not return an integer`, call.span);
    }
  }

  /**
   * R0 = 1 when `needle` occurs in the string `haystack`, else 0. The search
   * is unrolled over every start position (strings are at most 64 bytes),
   * so it needs no loop and no variable stack offsets.
   */
  #strcontains(haystack: Expr, needle: string, span: SourceSpan): void {
    const e = this.#e;
    const bytes = new TextEncoder().encode(needle);
    const size = (this.typeOf(haystack) as { size: number }).size;
    const at = e.alloc(sizeOf(this.typeOf(haystack)), span);
    this.#into(haystack, at);
    const found = e.label();
    const done = e.label();
    e.emit(mov64Imm(R0, 0));
    if (bytes.length === 0) {
      e.emit(mov64Imm(R0, 1));
      return;
    }
    for (let start = 0; start + bytes.length <= size; start++) {
      const next = e.label();
      // The haystack ends at its first NUL: no match can start there or later.
      e.emit(ldx(Size.B, R1, FP, at + start));
      e.jumpImm(JmpOp.JEQ, R1, 0, done);
      bytes.forEach((byte, k) => {
        if (k > 0) e.emit(ldx(Size.B, R1, FP, at + start + k));
        e.jumpImm(JmpOp.JNE, R1, byte, next);
      });
      e.goto(found);
      e.place(next);
    }
    e.goto(done);
    e.place(found);
    e.emit(mov64Imm(R0, 1));
    e.place(done);
  }

  // ---------------------------------------------------------------- values in memory

  #into(expr: Expr, offset: number): void {
    this.#intoSized(expr, offset, sizeOf(this.typeOf(expr)));
  }

  /** Writes the value of `expr` to fp+offset, in a slot of `size` bytes (larger than the value's own for wider strings). */
  #intoSized(expr: Expr, offset: number, size: number): void {
    const e = this.#e;
    const type = this.typeOf(expr);
    if (isScalar(type)) {
      this.#scalar(expr);
      e.emit(stx(Size.DW, FP, offset, R0));
      return;
    }
    switch (type.kind) {
      case 'string':
        this.#stringInto(expr, offset, size);
        return;
      case 'tuple': {
        if (expr.kind !== 'tuple') break;
        let at = offset;
        expr.elements.forEach((element) => {
          const t = this.typeOf(element);
          this.#intoSized(element, at, sizeOf(t));
          at += sizeOf(t);
        });
        return;
      }
      case 'ustack':
        if (expr.kind !== 'builtin') break;
        this.state.usesStacks = true;
        e.emit(mov64Reg(R1, R6));
        e.loadMap(R2, STACK_MAP);
        e.emit(mov64Imm(R3, USER_STACK));
        e.call('get_stackid');
        e.emit(stx(Size.DW, FP, offset, R0));
        e.call('get_current_pid_tgid');
        e.emit(alu64Imm(AluOp.RSH, R0, 32), stx(Size.DW, FP, offset + 8, R0));
        return;
      case 'usym':
        if (expr.kind === 'builtin') e.emit(ldx(Size.DW, R0, R6, PT_REGS_IP));
        else if (expr.kind === 'call') this.#scalar(expr.args[0]!);
        else break;
        e.emit(stx(Size.DW, FP, offset, R0));
        e.call('get_current_pid_tgid');
        e.emit(alu64Imm(AluOp.RSH, R0, 32), stx(Size.DW, FP, offset + 8, R0));
        return;
      case 'inet':
        if (expr.kind === 'call') {
          this.#ntop(expr, offset);
          return;
        }
        break;
      case 'buffer':
        if (expr.kind === 'call' && expr.name === 'buf') {
          this.#buffer(expr, type.size, offset);
          return;
        }
        break;
      default:
        break;
    }
    if (expr.kind === 'var' || expr.kind === 'map' || expr.kind === 'ternary') {
      this.#intoGeneric(expr, offset, size);
      return;
    }
    if (expr.kind === 'field' && this.typeOf(expr.base).kind === 'tuple') {
      this.#tupleElementInto(expr, offset, size);
      return;
    }
    throw traceError(`cannot use a value of type '${typeName(type)}' here`, expr.span);
  }

  #stringInto(expr: Expr, offset: number, size: number): void {
    const e = this.#e;
    const type = this.typeOf(expr) as TraceType & { kind: 'string' };
    switch (expr.kind) {
      case 'string':
      case 'positional': {
        const text = expr.kind === 'string' ? expr.value : (this.state.positional[(expr.index as number) - 1] ?? '');
        const bytes = new Uint8Array(size);
        bytes.set(new TextEncoder().encode(text).subarray(0, size - 1));
        const view = new DataView(bytes.buffer);
        for (let at = 0; at < size; at += 4) e.emit(st(Size.W, FP, offset + at, view.getInt32(at, true)));
        return;
      }
      case 'builtin':
        if (expr.name === 'pcomm') {
          this.#stringInto(parentComm(expr), offset, size);
          return;
        }
        if (expr.name === 'comm' && size === COMM_SIZE && this.#currentComm !== undefined) {
          // The hot path of `@[comm] = count()`: bpf_get_current_task (inlined by the JIT) read through
          // bpf_rdonly_cast (inlined by the verifier) as an untrusted task_struct, and comm read with two
          // 8-byte loads instead of bpf_get_current_comm's padded copy. The kernel keeps comm NUL-padded.
          const { castKfunc, task, offset: at } = this.#currentComm;
          e.call('get_current_task');
          e.emit(mov64Reg(R1, R0), mov64Imm(R2, task), { opcode: OPCODE_CALL, dst: 0, src: CallSrc.KFUNC, offset: 0, imm: castKfunc });
          e.emit(ldx(Size.DW, R1, R0, at), stx(Size.DW, FP, offset, R1), ldx(Size.DW, R1, R0, at + 8), stx(Size.DW, FP, offset + 8, R1));
          return;
        }
        if (expr.name === 'comm') {
          // bpf_get_current_comm pads its buffer with zeros itself.
          if (size > COMM_SIZE) e.zero(offset + COMM_SIZE, size - COMM_SIZE);
          e.stackAddress(R1, offset);
          e.emit(mov64Imm(R2, Math.min(size, COMM_SIZE)));
          e.call('get_current_comm');
          return;
        }
        break;
      case 'field': {
        const field = this.#tracepointField(expr);
        if (field === undefined) {
          const base = this.typeOf(expr.base);
          if (base.kind !== 'pointer' && base.kind !== 'record') break;
          e.zero(offset, size);
          this.#fieldAddress(expr);
          e.emit(mov64Reg(R3, R0), mov64Imm(R2, Math.min(size, type.size)));
          e.stackAddress(R1, offset);
          e.call(base.user ? 'probe_read_user_str' : 'probe_read_kernel_str');
          return;
        }
        e.zero(offset, size);
        e.stackAddress(R1, offset);
        e.emit(mov64Reg(R3, R6));
        if (field.dataLoc) {
          e.emit(ldx(Size.W, R0, R6, field.offset), alu64Imm(AluOp.AND, R0, 0xffff), alu64Reg(AluOp.ADD, R3, R0), mov64Imm(R2, Math.min(size, type.size)));
          e.call('probe_read_kernel_str');
        } else {
          e.emit(alu64Imm(AluOp.ADD, R3, field.offset), mov64Imm(R2, Math.min(size, field.arrayLength!)));
          e.call('probe_read_kernel');
        }
        return;
      }
      case 'call':
        if (expr.name === 'getopt') {
          this.#stringInto(this.#getopt(expr), offset, size);
          return;
        }
        if (expr.name === 'pcomm') {
          this.#stringInto(parentComm(expr.args[0] ?? { kind: 'builtin', name: 'curtask', span: expr.span }), offset, size);
          return;
        }
        if (expr.name === 'str') {
          const [source, length] = expr.args;
          const sourceType = this.typeOf(source!);
          // str($1) is the argument's text, numeric or not, as in bpftrace.
          if (sourceType.kind === 'string' || (source!.kind === 'positional' && source!.index !== '#')) {
            this.#stringInto(source!, offset, size);
            return;
          }
          if (!isInteger(sourceType)) throw traceError(`str() expects a pointer or an integer address, got '${typeName(sourceType)}'`, source!.span);
          e.zero(offset, size);
          if (length !== undefined && length.kind !== 'int') {
            const slot = e.alloc(8, expr.span);
            this.#scalar(length);
            e.emit(stx(Size.DW, FP, slot, R0));
            this.#scalar(source!);
            e.emit(mov64Reg(R3, R0), ldx(Size.DW, R2, FP, slot));
            const ok = e.label();
            e.jumpImm(JmpOp.JLE, R2, Math.min(size, type.size), ok);
            e.emit(mov64Imm(R2, Math.min(size, type.size)));
            e.place(ok);
          } else {
            this.#scalar(source!);
            e.emit(mov64Reg(R3, R0), mov64Imm(R2, Math.min(size, type.size)));
          }
          e.stackAddress(R1, offset);
          const user = sourceType.kind === 'pointer' ? sourceType.user : ['uprobe', 'uretprobe', 'usdt'].includes(this.#kind);
          e.call(sourceType.kind === 'pointer' || user ? (user ? 'probe_read_user_str' : 'probe_read_kernel_str') : 'probe_read_str');
          return;
        }
        break;
      default:
        break;
    }
    if (expr.kind === 'var' || expr.kind === 'map' || expr.kind === 'ternary') {
      if (sizeOf(type) < size) e.zero(offset, size);
      this.#intoGeneric(expr, offset, size);
      return;
    }
    if (expr.kind === 'field' && this.typeOf(expr.base).kind === 'tuple') {
      this.#tupleElementInto(expr, offset, size);
      return;
    }
    throw traceError(`cannot produce a string from this expression`, expr.span);
  }

  /** Copies a tuple's element (a string, a tuple...) to fp+offset, zero-padded to `size`. */
  #tupleElementInto(expr: Expr & { kind: 'field' }, offset: number, size: number): void {
    const length = Math.min(size, sizeOf(this.typeOf(expr)));
    if (length < size) this.#e.zero(offset, size);
    const element = this.#tupleElement(expr);
    this.#e.copy(FP, offset, element.base, element.offset, length);
  }

  /** Variables, map values and ternaries of memory types (shared by strings and other memory values). */
  #intoGeneric(expr: Expr, offset: number, size: number): void {
    const e = this.#e;
    const type = this.typeOf(expr);
    if (expr.kind === 'var') {
      const v = this.#variable(expr);
      e.copy(FP, offset, this.#variableBase(), v.offset, Math.min(size, sizeOf(type)));
    } else if (expr.kind === 'map') {
      const info = this.state.maps.get(expr.name)!;
      this.#checkKeys(expr, info, this.#keyTypes(expr));
      e.zero(offset, size);
      this.#lookup(info, this.#key(expr, info));
      const missing = e.label();
      e.jumpImm(JmpOp.JEQ, R0, 0, missing);
      e.copy(FP, offset, R0, 0, Math.min(size, sizeOf(type)), R1);
      e.place(missing);
    } else if (expr.kind === 'ternary') {
      const otherwise = e.label();
      const end = e.label();
      this.#condition(expr.condition, otherwise);
      this.#intoSized(expr.then, offset, size);
      e.goto(end);
      e.place(otherwise);
      this.#intoSized(expr.otherwise, offset, size);
      e.place(end);
    }
  }

  /** buf(data[, length]): the length (capped at `size`), then the bytes read from `data` (user memory in uprobes and for user pointers). */
  #buffer(call: Expr & { kind: 'call' }, size: number, offset: number): void {
    const e = this.#e;
    const [data, length] = call.args as [Expr, Expr | undefined];
    e.zero(offset, sizeOf({ kind: 'buffer', size }));
    const field = data.kind === 'field' ? this.#arrayField(data) : undefined;
    if (field !== undefined) {
      // A tracepoint array: bytes of the record.
      e.emit(st(Size.DW, FP, offset, size), mov64Reg(R3, R6), alu64Imm(AluOp.ADD, R3, field.offset), mov64Imm(R2, size));
      e.stackAddress(R1, offset + 8);
      e.call('probe_read_kernel');
      return;
    }
    const type = this.typeOf(data);
    if (type.kind === 'string') {
      // A string value's bytes (NULs included, as for an array).
      const copy = e.alloc(Math.max(sizeOf(type), sizeOf({ kind: 'buffer', size }) - 8), call.span);
      e.zero(copy, Math.max(sizeOf(type), sizeOf({ kind: 'buffer', size }) - 8));
      this.#into(data, copy);
      e.emit(st(Size.DW, FP, offset, size));
      e.copy(FP, offset + 8, FP, copy, sizeOf({ kind: 'buffer', size }) - 8);
      return;
    }
    if (!isInteger(type)) throw traceError(`buf() expects a pointer or an array, got '${typeName(type)}'`, data.span);
    const variable = length !== undefined && length.kind !== 'int';
    if (variable) {
      this.#requireInteger(length, 'buf()');
      this.#scalar(length);
      const within = e.label();
      // Unsigned: a negative length is huge, and capped too.
      e.jumpImm(JmpOp.JLE, R0, size, within);
      e.emit(mov64Imm(R0, size));
      e.place(within);
      // A spilled register keeps its bounds, so the read's size below is known to fit.
      e.emit(stx(Size.DW, FP, offset, R0));
    } else {
      e.emit(st(Size.DW, FP, offset, size));
    }
    this.#scalar(data);
    e.emit(mov64Reg(R3, R0));
    if (variable) e.emit(ldx(Size.DW, R2, FP, offset));
    else e.emit(mov64Imm(R2, size));
    e.stackAddress(R1, offset + 8);
    const user = type.kind === 'pointer' ? type.user : ['uprobe', 'uretprobe', 'usdt'].includes(this.#kind);
    e.call(user ? 'probe_read_user' : 'probe_read_kernel');
  }

  /** ntop([family,] address): family (8 bytes) then 16 address bytes; a 4- or 16-byte tracepoint array or an IPv4 integer. */
  #ntop(call: Expr & { kind: 'call' }, offset: number): void {
    const e = this.#e;
    const address = call.args.at(-1)!;
    e.zero(offset, 24);
    const field = address.kind === 'field' ? this.#tracepointField(address) : undefined;
    if (field !== undefined && field.arrayLength !== undefined) {
      if (field.size !== 4 && field.size !== 16) throw traceError(`ntop() expects a 4- or 16-byte address, got ${field.size} bytes`, address.span);
      e.emit(st(Size.DW, FP, offset, field.size === 4 ? 2 : 10));
      e.stackAddress(R1, offset + 8);
      e.emit(mov64Imm(R2, field.size), mov64Reg(R3, R6), alu64Imm(AluOp.ADD, R3, field.offset));
      e.call('probe_read_kernel');
      return;
    }
    const type = this.typeOf(address);
    if (address.kind === 'field' && type.kind === 'string' && (type.size === 4 || type.size === 16)) {
      // A kernel struct's byte array (`skc_v6_daddr.in6_u.u6_addr8`): the BTF field's address.
      const base = this.typeOf(address.base);
      this.#fieldAddress(address);
      e.emit(st(Size.DW, FP, offset, type.size === 4 ? 2 : 10), mov64Reg(R3, R0), mov64Imm(R2, type.size));
      e.stackAddress(R1, offset + 8);
      e.call((base.kind === 'pointer' || base.kind === 'record') && base.user ? 'probe_read_user' : 'probe_read_kernel');
      return;
    }
    if (!isInteger(type)) throw traceError(`ntop() expects an integer or an address array, got '${typeName(type)}'`, address.span);
    this.#scalar(address);
    e.emit(stx(Size.W, FP, offset + 8, R0), st(Size.DW, FP, offset, 2));
    if (call.args.length === 2) {
      this.#scalar(call.args[0]!);
      e.emit(stx(Size.DW, FP, offset, R0));
    }
  }
}

