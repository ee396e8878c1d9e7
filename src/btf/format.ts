/**
 * C declarations from BTF, in the order and form of libbpf's btf_dump
 * (what `bpftool btf dump file X format c` prints): a topological order of
 * "strong" (by-value) dependencies with forward declarations for the weak
 * ones (through pointers), anonymous structs/unions/enums inlined, explicit
 * padding and `packed` where the layout needs them, `___N` suffixes for
 * duplicate names, and the vmlinux.h wrapper with the preserve_access_index
 * pragma.
 */
import type { Btf } from './btf.ts';
import { loadKernelBtf } from './core.ts';
import { type BtfType, BtfError, type CompositeType, type EnumType, type RefType, isComposite } from './types.ts';

export interface FormatCOptions {
  /** Types to declare (with everything they need); default: all of this BTF's own types. */
  typeIds?: number[];
  /** Wrap in the `__VMLINUX_H__` guard and preserve_access_index pragma, as bpftool does (default true). */
  wrapper?: boolean;
}

const enum Order {
  NotOrdered,
  Ordering,
  Ordered,
}
const enum Emit {
  NotEmitted,
  Emitting,
  Emitted,
}

/** Deeper than any real type graph; guards the recursion against hostile input. */
const MAX_DEPTH = 2000;
/** Largest struct hole printed as padding bitfields (1 MiB). */
const MAX_PADDING_BITS = 8 << 20;

/** Type aliases some architectures' compilers lack (libbpf's btf_dump_emit_missing_aliases). */
const MISSING_ALIASES: Record<string, string> = {
  __Poly8_t: 'unsigned char',
  __Poly16_t: 'unsigned short',
  __Poly64_t: 'unsigned long long',
  __Poly128_t: 'unsigned __int128',
};

const tabs = (n: number): string => '\t'.repeat(n);

class CDumper {
  private out: string[] = [];
  private readonly order: Uint8Array;
  private readonly emit: Uint8Array;
  private readonly fwdEmitted: Uint8Array;
  private readonly referenced: Uint8Array;
  private readonly resolvedNames = new Map<number, string>();
  private readonly typeNames = new Map<string, number>();
  private readonly identNames = new Map<string, number>();
  private queue: number[] = [];
  private readonly ptrSize: number;

  constructor(private readonly btf: Btf) {
    const n = btf.types.length;
    this.order = new Uint8Array(n);
    this.emit = new Uint8Array(n);
    this.fwdEmitted = new Uint8Array(n);
    this.referenced = new Uint8Array(n);
    this.ptrSize = btf.pointerSize();
    this.markReferenced();
  }

  text(): string {
    return this.out.join('');
  }

  private print(s: string): void {
    this.out.push(s);
  }

  private type(id: number): BtfType {
    return this.btf.typeById(id);
  }

  private markReferenced(): void {
    const mark = (id: number): void => {
      if (id < this.referenced.length) this.referenced[id] = 1;
    };
    for (const t of this.btf.types) {
      switch (t.kind) {
        case 'ptr':
        case 'typedef':
        case 'const':
        case 'volatile':
        case 'restrict':
        case 'type_tag':
        case 'func':
        case 'var':
        case 'decl_tag':
          mark(t.type);
          break;
        case 'array':
          mark(t.elemType);
          mark(t.indexType);
          break;
        case 'struct':
        case 'union':
          for (const m of t.members) mark(m.type);
          break;
        case 'func_proto':
          mark(t.returnType);
          for (const p of t.params) mark(p.type);
          break;
        case 'datasec':
          for (const v of t.vars) mark(v.type);
          break;
        default:
          break;
      }
    }
  }

  /** btf_dump__dump_type. */
  dumpType(id: number): void {
    this.queue = [];
    this.orderType(id, false, 0);
    for (const q of this.queue) this.emitType(q, 0, 0);
  }

  /** btf_dump_order_type: queues named definitions after what they embed. Returns whether the link is strong. */
  private orderType(id: number, throughPtr: boolean, depth: number): boolean {
    if (depth > MAX_DEPTH) throw new BtfError(`C dump: type [${id}] nests more than ${MAX_DEPTH} levels deep`, { typeId: id });
    if (this.order[id] === Order.Ordered) return true;
    const t = this.type(id);
    if (this.order[id] === Order.Ordering) {
      if (isComposite(t) && throughPtr && t.name !== '') return false;
      throw new BtfError(`C dump: unsatisfiable type cycle through [${id}] ${t.kind.toUpperCase()} '${t.name}'`, { typeId: id });
    }
    switch (t.kind) {
      case 'void':
      case 'int':
      case 'float':
        this.order[id] = Order.Ordered;
        return false;
      case 'ptr': {
        const strong = this.orderType(t.type, true, depth + 1);
        this.order[id] = Order.Ordered;
        return strong;
      }
      case 'array':
        return this.orderType(t.elemType, false, depth + 1);
      case 'struct':
      case 'union':
        // Only embedded (or anonymous, hence inlined) structs are strong links.
        if (throughPtr && t.name !== '') return false;
        this.order[id] = Order.Ordering;
        for (const m of t.members) this.orderType(m.type, false, depth + 1);
        if (t.name !== '') this.queue.push(id);
        this.order[id] = Order.Ordered;
        return true;
      case 'enum':
      case 'enum64':
      case 'fwd':
        if (t.name !== '' || !this.referenced[id]) this.queue.push(id);
        this.order[id] = Order.Ordered;
        return true;
      case 'typedef': {
        const strong = this.orderType(t.type, throughPtr, depth + 1);
        if (throughPtr && !strong) return false;
        this.queue.push(id);
        this.order[id] = Order.Ordered;
        return true;
      }
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
        return this.orderType(t.type, throughPtr, depth + 1);
      case 'func_proto': {
        let strong = this.orderType(t.returnType, throughPtr, depth + 1);
        for (const p of t.params) if (this.orderType(p.type, throughPtr, depth + 1)) strong = true;
        return strong;
      }
      case 'func':
      case 'var':
      case 'datasec':
      case 'decl_tag':
        this.order[id] = Order.Ordered;
        return false;
    }
  }

  /** btf_dump_emit_type: prints `id`'s definition (top level when contId is 0) after forward declarations it needs. */
  private emitType(id: number, contId: number, depth: number): void {
    if (depth > MAX_DEPTH) throw new BtfError(`C dump: type [${id}] nests more than ${MAX_DEPTH} levels deep`, { typeId: id });
    if (this.emit[id] === Emit.Emitted) return;
    const t = this.type(id);
    const topLevel = contId === 0;
    if (this.emit[id] === Emit.Emitting) {
      if (this.fwdEmitted[id]) return;
      if (isComposite(t)) {
        if (id === contId) return;
        if (t.name === '') return;
        this.print(`${this.structFwd(t)};\n\n`);
        this.fwdEmitted[id] = 1;
      } else if (t.kind === 'typedef') {
        if (!this.isBlacklisted(t)) this.print(`${this.typedefDef(t, 0)};\n\n`);
        this.fwdEmitted[id] = 1;
      }
      return;
    }
    switch (t.kind) {
      case 'int': {
        const alias = MISSING_ALIASES[t.name];
        if (alias !== undefined) this.print(`typedef ${alias} ${t.name};\n\n`);
        this.emit[id] = Emit.Emitted;
        break;
      }
      case 'enum':
      case 'enum64':
        if (topLevel) this.print(`${this.enumDef(t, 0)};\n\n`);
        this.emit[id] = Emit.Emitted;
        break;
      case 'ptr':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
        this.emitType(t.type, contId, depth + 1);
        break;
      case 'array':
        this.emitType(t.elemType, contId, depth + 1);
        break;
      case 'fwd':
        this.print(`${this.fwdDef(t)};\n\n`);
        this.emit[id] = Emit.Emitted;
        break;
      case 'typedef':
        this.emit[id] = Emit.Emitting;
        this.emitType(t.type, id, depth + 1);
        // Someone may already have needed this typedef through a pointer and printed it.
        if (!this.fwdEmitted[id] && !this.isBlacklisted(t)) this.print(`${this.typedefDef(t, 0)};\n\n`);
        this.emit[id] = Emit.Emitted;
        break;
      case 'struct':
      case 'union':
        this.emit[id] = Emit.Emitting;
        if (topLevel || t.name === '') {
          const newCont = t.name === '' ? contId : id;
          for (const m of t.members) this.emitType(m.type, newCont, depth + 1);
        } else if (!this.fwdEmitted[id] && id !== contId) {
          this.print(`${this.structFwd(t)};\n\n`);
          this.fwdEmitted[id] = 1;
        }
        if (topLevel) {
          this.print(`${this.structDef(t, 0)};\n\n`);
          this.emit[id] = Emit.Emitted;
        } else {
          this.emit[id] = Emit.NotEmitted;
        }
        break;
      case 'func_proto':
        this.emitType(t.returnType, contId, depth + 1);
        for (const p of t.params) this.emitType(p.type, contId, depth + 1);
        break;
      default:
        break;
    }
  }

  private isBlacklisted(t: BtfType): boolean {
    return t.name === '__builtin_va_list';
  }

  /** btf_dump_resolve_name: `name___N` for the Nth distinct type of a name. */
  private resolveName(t: BtfType, names: Map<string, number>): string {
    if (t.name === '') return '';
    const cached = this.resolvedNames.get(t.id);
    if (cached !== undefined) return cached;
    let name = t.name;
    if (!(t.kind === 'fwd' || (t.kind === 'enum' && t.values.length === 0))) {
      const dups = (names.get(name) ?? 0) + 1;
      names.set(name, dups);
      if (dups > 1) name = `${name}___${dups}`;
    }
    this.resolvedNames.set(t.id, name);
    return name;
  }

  private typeName(t: BtfType): string {
    return this.resolveName(t, this.typeNames);
  }

  private identName(t: BtfType): string {
    return this.resolveName(t, this.identNames);
  }

  private structFwd(t: CompositeType): string {
    const name = this.typeName(t);
    return `${t.kind}${name ? ` ${name}` : ''}`;
  }

  private fwdDef(t: BtfType & { kind: 'fwd' }): string {
    return `${t.fwdKind} ${this.typeName(t)}`;
  }

  private typedefDef(t: RefType, lvl: number): string {
    const name = this.identName(t);
    // Old GCC emitted __gnuc_va_list as a typedef of void.
    if (t.type === 0 && name === '__gnuc_va_list') return 'typedef __builtin_va_list __gnuc_va_list';
    return `typedef ${this.typeDecl(t.type, name, lvl)}`;
  }

  private enumDef(t: EnumType, lvl: number): string {
    const name = this.typeName(t);
    let s = `enum${name ? ` ${name}` : ''}`;
    if (t.values.length === 0) return s;
    s += ' {';
    for (const v of t.values) {
      // Enumerators share the ordinary identifier namespace with typedefs.
      const dups = (this.identNames.get(v.name) ?? 0) + 1;
      this.identNames.set(v.name, dups);
      const vname = dups > 1 ? `${v.name}___${dups}` : v.name;
      let value: string;
      if (t.kind === 'enum') value = `${t.signed ? BigInt.asIntN(32, v.value) : BigInt.asUintN(32, v.value)}`;
      else value = t.signed ? `${BigInt.asIntN(64, v.value)}LL` : `${BigInt.asUintN(64, v.value)}ULL`;
      s += `\n${tabs(lvl + 1)}${vname} = ${value},`;
    }
    s += `\n${tabs(lvl)}}`;
    if (t.size === 1) s += ' __attribute__((mode(byte)))';
    else if (t.size === 8 && this.ptrSize === 8) {
      // An 8-byte enum is natural only when some value needs the upper 32 bits.
      const needsWordMode = t.kind === 'enum' || t.values.every((v) => BigInt.asUintN(64, v.value) >> 32n === 0n);
      if (needsWordMode) s += ' __attribute__((mode(word)))';
    }
    return s;
  }

  private alignOf(id: number): number {
    return this.btf.alignOf(id);
  }

  /** btf_is_struct_packed. */
  private isPacked(t: CompositeType): boolean {
    let max = 1;
    for (const m of t.members) {
      const a = this.alignOf(m.type);
      if (a && m.bitSize === 0 && m.bitOffset % (8 * a) !== 0) return true;
      max = Math.max(a, max);
    }
    return t.size % max !== 0;
  }

  /** btf_dump_emit_bit_padding: explicit anonymous bitfields that reproduce holes the compiler would not leave. */
  private bitPadding(curOff: number, nextOff: number, nextAlign: number, inBitfield: boolean, lvl: number): string {
    if (curOff >= nextOff) return '';
    // Real layouts have small holes; a huge one (hostile input) would print millions of lines.
    if (nextOff - curOff > MAX_PADDING_BITS) throw new BtfError(`C dump: a padding gap of ${(nextOff - curOff) / 8} bytes is too large to print`);
    const pads: [string, number][] = [
      ['long', this.ptrSize * 8],
      ['int', 32],
      ['short', 16],
      ['char', 8],
    ];
    const roundUp = (x: number, to: number): number => Math.ceil(x / to) * to;
    let s = '';
    let newOff = 0;
    let padBits = 0;
    let padType = '';
    for (const [name, bits] of pads) {
      padBits = bits;
      padType = name;
      newOff = roundUp(curOff, padBits);
      if (newOff <= nextOff) break;
    }
    if (newOff > curOff && newOff <= nextOff) {
      if (inBitfield || (newOff === nextOff && roundUp(curOff, nextAlign * 8) !== newOff) || (newOff !== nextOff && nextOff - newOff <= newOff - curOff)) {
        s += `\n${tabs(lvl)}${padType}: ${inBitfield ? newOff - curOff : 0};`;
      }
      curOff = newOff;
    }
    while (curOff !== nextOff) {
      const bits = Math.min(nextOff - curOff, padBits);
      if (bits === padBits) {
        s += `\n${tabs(lvl)}${padType}: ${padBits};`;
        curOff += bits;
        continue;
      }
      for (let i = pads.length - 1; i >= 0; i--) {
        const [name, size] = pads[i]!;
        if (size < bits) continue;
        s += `\n${tabs(lvl)}${name}: ${bits};`;
        curOff += bits;
        break;
      }
    }
    return s;
  }

  private structDef(t: CompositeType, lvl: number): string {
    const isStruct = t.kind === 'struct';
    const align = this.alignOf(t.id);
    const packed = isStruct && this.isPacked(t);
    let s = this.structFwd(t) + ' {';
    let off = 0;
    let prevBitfield = false;
    for (const m of t.members) {
      const mAlign = packed ? 1 : this.alignOf(m.type);
      const inBitfield = prevBitfield && m.bitSize !== 0;
      s += this.bitPadding(off, m.bitOffset, mAlign, inBitfield, lvl + 1);
      s += `\n${tabs(lvl + 1)}${this.typeDecl(m.type, m.name, lvl + 1)}`;
      if (m.bitSize) {
        s += `: ${m.bitSize}`;
        off = m.bitOffset + m.bitSize;
        prevBitfield = true;
      } else {
        let size = 0;
        try {
          size = this.btf.sizeOf(m.type);
        } catch {
          size = 0;
        }
        off = m.bitOffset + size * 8;
        prevBitfield = false;
      }
      s += ';';
    }
    if (isStruct) s += this.bitPadding(off, t.size * 8, align, false, lvl + 1);
    s += t.members.length || t.size ? `\n${tabs(lvl)}}` : '}';
    if (packed) s += ' __attribute__((packed))';
    return s;
  }

  /** btf_dump_emit_type_decl: a declarator for `id` named `name` (C's inside-out syntax). */
  private typeDecl(id: number, name: string, lvl: number): string {
    const stack: number[] = [];
    while (id !== 0) {
      if (stack.length > MAX_DEPTH) throw new BtfError(`C dump: declaration of [${id}] nests more than ${MAX_DEPTH} levels deep`, { typeId: id });
      const t = this.type(id);
      stack.push(id);
      if (t.kind === 'ptr' || t.kind === 'volatile' || t.kind === 'const' || t.kind === 'restrict' || t.kind === 'type_tag') id = t.type;
      else if (t.kind === 'func_proto') id = t.returnType;
      else if (t.kind === 'array') id = t.elemType;
      else break;
    }
    if (id === 0) stack.push(0);
    return this.typeChain(stack, name, lvl);
  }

  /** Pops const/volatile/restrict from the top of the stack as prefix qualifiers. */
  private mods(stack: number[]): string {
    let s = '';
    while (stack.length) {
      const k = this.type(stack[stack.length - 1]!).kind;
      if (k === 'volatile') s += 'volatile ';
      else if (k === 'const') s += 'const ';
      else if (k === 'restrict') s += 'restrict ';
      else break;
      stack.pop();
    }
    return s;
  }

  private dropMods(stack: number[]): void {
    while (stack.length) {
      const k = this.type(stack[stack.length - 1]!).kind;
      if (k !== 'volatile' && k !== 'const' && k !== 'restrict' && k !== 'type_tag') return;
      stack.pop();
    }
  }

  private static nameAfter(name: string, lastWasPtr: boolean): string {
    return name && !lastWasPtr ? ` ${name}` : name;
  }

  /** btf_dump_emit_type_chain. */
  private typeChain(stack: number[], fname: string, lvl: number): string {
    let lastWasPtr = true;
    let s = '';
    while (stack.length) {
      const id = stack.pop()!;
      if (id === 0) {
        s += `${this.mods(stack)}void`;
        lastWasPtr = false;
        continue;
      }
      const t = this.type(id);
      switch (t.kind) {
        case 'int':
        case 'float':
          s += this.mods(stack) + t.name;
          break;
        case 'struct':
        case 'union':
          s += this.mods(stack) + (t.name === '' ? this.structDef(t, lvl) : this.structFwd(t));
          break;
        case 'enum':
        case 'enum64':
          s += this.mods(stack) + (t.name === '' ? this.enumDef(t, lvl) : `enum ${this.typeName(t)}`);
          break;
        case 'fwd':
          s += this.mods(stack) + this.fwdDef(t);
          break;
        case 'typedef':
          s += this.mods(stack) + this.identName(t);
          break;
        case 'ptr':
          s += lastWasPtr ? '*' : ' *';
          break;
        case 'volatile':
          s += ' volatile';
          break;
        case 'const':
          s += ' const';
          break;
        case 'restrict':
          s += ' restrict';
          break;
        case 'type_tag':
          s += `${this.mods(stack)} __attribute__((btf_type_tag("${t.name}")))`;
          break;
        case 'array': {
          this.dropMods(stack);
          if (stack.length === 0) return `${s}${CDumper.nameAfter(fname, lastWasPtr)}[${t.nelems}]`;
          const multidim = this.type(stack[stack.length - 1]!).kind === 'array';
          if (fname && !lastWasPtr) s += ' ';
          if (!multidim) s += '(';
          s += this.typeChain(stack, fname, lvl);
          if (!multidim) s += ')';
          return `${s}[${t.nelems}]`;
        }
        case 'func_proto': {
          this.dropMods(stack);
          if (stack.length) s += ` (${this.typeChain(stack, fname, lvl)})`;
          else s += CDumper.nameAfter(fname, lastWasPtr);
          s += '(';
          const params = t.params;
          if (params.length === 0 || (params.length === 1 && params[0]!.type === 0)) return `${s}void)`;
          params.forEach((p, i) => {
            if (i > 0) s += ', ';
            if (i === params.length - 1 && p.type === 0) s += '...';
            else s += this.typeDecl(p.type, p.name, lvl);
          });
          return `${s})`;
        }
        default:
          throw new BtfError(`C dump: unexpected [${id}] ${t.kind.toUpperCase()} in a declaration`, { typeId: id });
      }
      lastWasPtr = t.kind === 'ptr';
    }
    return s + CDumper.nameAfter(fname, lastWasPtr);
  }
}

const HEADER = `#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

`;
const FOOTER = `#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
`;

/** C declarations of the selected types (default: all own types), like `bpftool btf dump file X format c`. */
export function formatC(btf: Btf, options: FormatCOptions = {}): string {
  const dumper = new CDumper(btf);
  const ids = options.typeIds ?? Array.from({ length: btf.types.length - btf.startId }, (_, i) => btf.startId + i);
  for (const id of ids) {
    btf.typeById(id);
    dumper.dumpType(id);
  }
  const body = dumper.text();
  return options.wrapper === false ? body : HEADER + body + FOOTER;
}

/** vmlinux.h for the running kernel (or the given BTF). */
export function generateVmlinuxH(btf: Btf = loadKernelBtf()): string {
  return formatC(btf);
}
