/**
 * BTF parsing, validation and encoding (kernel Documentation/bpf/btf.rst,
 * include/uapi/linux/btf.h).
 *
 * Validation follows the kernel's btf.c where it protects the consumer:
 * every length and offset is checked against the blob before it is read,
 * every string offset and type id is range-checked, record counts are
 * checked against the remaining bytes before anything is allocated, and
 * types that contain themselves by value (a `const` loop, an array of
 * itself, a struct holding itself) are rejected, so no later walk over the
 * types can loop forever or overflow the stack.
 */
import { latin1Text } from '../host/node.ts';
import {
  type ArrayType,
  type BtfKind,
  type BtfType,
  type CompositeType,
  BtfError,
  type FuncLinkage,
  type IntEncoding,
  KIND_BY_NUMBER,
  KIND_NUMBER,
  type EnumValue,
  type Member,
  type Param,
  type VarSecinfo,
  type VarLinkage,
  isModifier,
} from './types.ts';

export type Endianness = 'little' | 'big';

export interface ParseBtfOptions {
  /** Expected byte order; by default taken from the magic (0xeB9F read either way). */
  endianness?: Endianness;
  /** Base BTF of split BTF (a kernel module's BTF on top of vmlinux). */
  base?: Btf;
  /**
   * Decode and validate each type when it is first reached (`typeById`,
   * `findByName`, `resolve`...) rather than all of them at parse: for a large
   * BTF read to look up a few types (the running kernel's, ~150k types).
   * The header, the sections and the record layout (truncated records,
   * unknown kinds) are still checked at parse; a type's other errors are
   * thrown when it, or a type containing it by value, is reached, and all of
   * them, as the eager parse gives them, on the first read of `types`.
   * Not for split BTF.
   */
  lazy?: boolean;
}

export const BTF_MAGIC = 0xeb9f;
const HEADER_SIZE = 24;
const TYPE_HEADER_SIZE = 12;
/** BTF_MAX_NAME_OFFSET, BTF_MAX_TYPE, BTF_MAX_VLEN. */
const MAX_NAME_OFFSET = 0xffffff;
const MAX_TYPE_ID = 0xfffff;
/** How many structs and unions deep alignOf follows members held by value; real kernel types nest a few dozen deep. */
const MAX_NESTING = 1024;

const INT_SIGNED = 1;
const INT_CHAR = 2;
const INT_BOOL = 4;
const FUNC_LINKAGE: readonly FuncLinkage[] = ['static', 'global', 'extern'];
const VAR_LINKAGE: readonly VarLinkage[] = ['static', 'global', 'extern'];

const VOID: BtfType = Object.freeze({ id: 0, kind: 'void', name: '' });

/** The string section: offsets map to NUL-terminated strings. */
class StringTable {
  private readonly text: string;
  private readonly ascii: boolean;

  constructor(
    readonly bytes: Uint8Array,
    /** Offset of this table's first byte in the (possibly split) string space. */
    readonly start: number,
  ) {
    // One latin1 decode of the whole table; names are ASCII, so each lookup
    // is a cheap slice. Non-ASCII strings (source lines) are re-decoded as UTF-8.
    this.text = latin1Text(bytes);
    this.ascii = !/[\x80-\xff]/.test(this.text);
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Every offset (relative to this table) where `pattern` occurs, `pattern` given as UTF-8 bytes read as latin1. */
  occurrences(pattern: string): number[] {
    const found: number[] = [];
    for (let at = this.text.indexOf(pattern); at >= 0; at = this.text.indexOf(pattern, at + 1)) found.push(at);
    return found;
  }

  /** The string at `offset` (relative to this table), or undefined when out of range. */
  at(offset: number): string | undefined {
    if (offset < 0 || offset >= this.bytes.length) return undefined;
    const end = this.text.indexOf('\0', offset);
    if (this.ascii) return this.text.slice(offset, end);
    return new TextDecoder().decode(this.bytes.subarray(offset, end));
  }
}

function kindError(id: number, kind: string, problem: string): BtfError {
  return new BtfError(`BTF type [${id}] ${kind.toUpperCase()}: ${problem}`, { typeId: id, section: '.BTF' });
}

export class Btf {
  /** First type id defined by this blob (1, or the base's type count for split BTF). */
  readonly startId: number;
  /** Index = type id. Lazy: a type is filled in when first decoded. */
  private readonly list: BtfType[];
  /** Set while types are decoded on demand (ParseBtfOptions.lazy). */
  private lazy: LazyTypes | undefined;
  /** Why the full validation of a lazy BTF failed, thrown again on every later read of `types`. */
  private fullValidationError: unknown;
  private nameIndex: Map<string, number[]> | undefined;
  private essentialNameIndex: Map<string, number[]> | undefined;
  private pointerSizeCache: number | undefined;
  private readonly alignCache = new Map<number, number>();
  private readonly arraySizeCache = new Map<number, number>();

  /** Use `parseBtf` or `createBtf`. */
  constructor(
    types: BtfType[],
    private readonly strings: StringTable,
    readonly endianness: Endianness,
    readonly base: Btf | undefined,
    lazy?: LazyTypes,
  ) {
    this.list = types;
    this.lazy = lazy;
    this.startId = base ? base.types.length : 1;
  }

  /**
   * Index = type id; 0 is void. For split BTF, the base's types come first.
   * A lazily parsed BTF decodes and validates all its types on the first
   * read, as the eager parse does (and throws its error).
   */
  get types(): readonly BtfType[] {
    if (this.lazy !== undefined) this.validateAll(this.lazy);
    return this.list;
  }

  /** Number of type ids, void included (`types.length`, without decoding a lazy BTF). */
  get typeCount(): number {
    return this.list.length;
  }

  private validateAll(lazy: LazyTypes): void {
    if (this.fullValidationError !== undefined) throw this.fullValidationError;
    try {
      // Decoded in id order and validated by the eager parser's own passes, so the first error is the one it gives.
      for (let id = 1; id < this.list.length; id++) this.list[id] ??= lazy.read(id);
      this.lazy = undefined;
      validateReferences(this, this.startId);
    } catch (error) {
      this.lazy = lazy;
      this.fullValidationError = error;
      throw error;
    }
  }

  /** Total size of the string space (base strings + own strings). */
  get stringsLength(): number {
    return this.strings.start + this.strings.length;
  }

  /** The string at `offset` of the string section (split BTF: offsets continue after the base's). */
  stringAt(offset: number): string {
    if (offset < this.strings.start && this.base) return this.base.stringAt(offset);
    const s = this.strings.at(offset - this.strings.start);
    if (s === undefined) throw new BtfError(`BTF string offset ${offset} is out of range (string section is ${this.stringsLength} bytes)`, { offset, section: '.BTF' });
    return s;
  }

  typeById(id: number): BtfType {
    const t = this.list[id];
    const lazy = this.lazy;
    if (lazy === undefined) {
      if (t !== undefined && Number.isInteger(id)) return t;
    } else if (Number.isInteger(id) && id >= 0 && id < this.list.length) {
      return t !== undefined && lazy.isValid(id) ? t : lazy.validate(this, id);
    }
    throw new BtfError(`BTF type id ${id} is out of range (${this.list.length} types)`, { typeId: id });
  }

  /** The type of id `id`, or undefined when there is no such id (`typeById` throws). */
  typeAt(id: number): BtfType | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.list.length ? this.typeById(id) : undefined;
  }

  /** Every type named `name` (optionally only of `kind`), in id order. */
  findByName(name: string, kind?: BtfKind): BtfType[] {
    if (this.lazy !== undefined) return this.lazy.findByName(name, kind).map((id) => this.typeById(id));
    const found = (this.nameIndex ??= indexNames(this.list, (n) => n)).get(name)?.map((id) => this.list[id]!) ?? [];
    return kind === undefined ? found : found.filter((t) => t.kind === kind);
  }

  /** Every type whose essential name (the name without a `___flavour` suffix, see `essentialName`) is `essential`, in id order. */
  findByEssentialName(essential: string): BtfType[] {
    if (essential === '') return [];
    if (this.lazy !== undefined) return this.lazy.findByEssentialName(essential).map((id) => this.typeById(id));
    return (this.essentialNameIndex ??= indexNames(this.list, essentialName)).get(essential)?.map((id) => this.list[id]!) ?? [];
  }

  /** The type behind typedef/const/volatile/restrict/type_tag chains. */
  resolve(id: number): BtfType {
    let t = this.typeById(id);
    // Parsing rejected modifier loops, so this terminates within types.length steps.
    while (isModifier(t)) t = this.typeById(t.type);
    return t;
  }

  /** Id of the type behind modifier chains (0 for void). */
  resolveId(id: number): number {
    return this.resolve(id).id;
  }

  /** Size in bytes, like libbpf's btf__resolve_size. Throws for sizeless types (void, func, fwd). */
  sizeOf(id: number): number {
    // Arrays walked on the way, outermost first: each one's size is cached, so that validating a
    // chain of N nested arrays costs N steps, not N^2 (arrays are never edited in place; DATASECs are).
    const arrays: ArrayType[] = [];
    let t = this.resolve(id);
    let size: number | undefined;
    while (size === undefined) {
      switch (t.kind) {
        case 'int':
        case 'float':
        case 'struct':
        case 'union':
        case 'enum':
        case 'enum64':
        case 'datasec':
          size = t.size;
          break;
        case 'ptr':
          size = this.pointerSize();
          break;
        case 'array':
          size = this.arraySizeCache.get(t.id);
          if (size === undefined) {
            arrays.push(t);
            t = this.resolve(t.elemType);
          }
          break;
        case 'var':
          t = this.resolve(t.type);
          break;
        default:
          throw new BtfError(`BTF type [${id}] ${this.describe(id)} has no size (it is ${t.kind === 'void' ? 'void' : `a ${t.kind.toUpperCase()}`})`, { typeId: id });
      }
    }
    for (let i = arrays.length - 1; i >= 0; i--) {
      size *= arrays[i]!.nelems;
      if (t.kind !== 'datasec') this.arraySizeCache.set(arrays[i]!.id, size);
    }
    return size;
  }

  /**
   * Alignment in bytes, like libbpf's btf__align_of: natural alignment, except
   * that a struct/union whose members or size are not naturally aligned
   * (it was declared packed) has alignment 1.
   */
  alignOf(id: number): number {
    return this.alignAt(id, 0);
  }

  /** `depth`: structs and unions entered by value so far (modifier and array chains are followed in a loop). */
  private alignAt(id: number, depth: number): number {
    const chain: number[] = [];
    let t = this.typeById(id);
    let align = this.alignCache.get(id);
    while (align === undefined) {
      switch (t.kind) {
        case 'int':
        case 'float':
        case 'enum':
        case 'enum64':
          align = Math.min(this.pointerSize(), t.size);
          break;
        case 'ptr':
          align = this.pointerSize();
          break;
        case 'typedef':
        case 'const':
        case 'volatile':
        case 'restrict':
        case 'type_tag':
        case 'array':
          chain.push(t.id);
          t = this.typeById(t.kind === 'array' ? t.elemType : t.type);
          align = this.alignCache.get(t.id);
          break;
        case 'struct':
        case 'union': {
          // Named by id and kind only: describing a type this deep could recurse as deep again.
          if (depth >= MAX_NESTING) throw new BtfError(`BTF type [${t.id}] (${t.kind.toUpperCase()}) is nested more than ${MAX_NESTING} structs or unions deep`, { typeId: t.id });
          let max = 1;
          let packed = false;
          for (const m of t.members) {
            const a = this.alignAt(m.type, depth + 1);
            max = Math.max(max, a);
            if (m.bitSize === 0 && m.bitOffset % (8 * a) !== 0) packed = true;
          }
          align = packed || t.size % max !== 0 ? 1 : max;
          break;
        }
        default:
          throw new BtfError(`BTF type [${t.id}] ${this.describe(t.id)} has no alignment`, { typeId: t.id });
      }
    }
    this.alignCache.set(t.id, align);
    for (const walked of chain) this.alignCache.set(walked, align);
    return align;
  }

  /** Pointer size: the size of `long` in this BTF (8 when there is none), as libbpf guesses it. */
  pointerSize(): number {
    if (this.pointerSizeCache === undefined && this.lazy !== undefined) {
      const long = [...this.findByName('long int', 'int'), ...this.findByName('long unsigned int', 'int')].sort((a, b) => a.id - b.id)[0];
      this.pointerSizeCache = long?.kind === 'int' ? long.size : 8;
    }
    if (this.pointerSizeCache === undefined) {
      this.pointerSizeCache = 8;
      for (const t of this.list) {
        if (t.kind === 'int' && (t.name === 'long int' || t.name === 'long unsigned int')) {
          this.pointerSizeCache = t.size;
          break;
        }
      }
    }
    return this.pointerSizeCache;
  }

  nameOf(id: number): string {
    return this.typeById(id).name;
  }

  /** `struct foo`, `int`, `[12] PTR`: a short human description for messages. */
  describe(id: number): string {
    const t = this.typeById(id);
    if (t.kind === 'void') return 'void';
    if (t.name === '') return `[${id}] ${t.kind.toUpperCase()} (anon)`;
    switch (t.kind) {
      case 'struct':
      case 'union':
      case 'enum':
        return `${t.kind} ${t.name}`;
      case 'enum64':
        return `enum ${t.name}`;
      case 'fwd':
        return `${t.fwdKind} ${t.name}`;
      default:
        return t.name;
    }
  }

  /**
   * Serialises this BTF (only its own types for split BTF). The original
   * string section is kept verbatim at the start of the new one, so string
   * offsets held elsewhere (line_info) stay valid; names that were changed or
   * added are appended. Types may have been edited in place (the object
   * loader fixes DATASEC sizes and offsets); the result is validated as any
   * parsed BTF would be when read back.
   */
  encode(options: { endianness?: Endianness } = {}): Uint8Array {
    return encodeTypes(this.types.slice(this.startId), {
      endianness: options.endianness ?? this.endianness,
      startId: this.startId,
      baseStringsLength: this.strings.start,
      initialStrings: this.strings.bytes,
    });
  }
}

interface EncodeOptions {
  endianness: Endianness;
  startId: number;
  baseStringsLength: number;
  initialStrings?: Uint8Array;
}

/** Builds a string section, reusing offsets of strings already present. */
class StringWriter {
  private readonly offsets = new Map<string, number>();
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly start: number,
    initial: Uint8Array | undefined,
  ) {
    if (initial && initial.length > 0) {
      this.chunks.push(initial);
      this.size = initial.length;
      const text = latin1Text(initial);
      // Index the existing strings (latin1 keeps character positions equal to byte offsets);
      // a non-ASCII string is simply not found and gets appended as UTF-8.
      let pos = 0;
      while (pos < text.length) {
        const end = text.indexOf('\0', pos);
        const s = text.slice(pos, end);
        if (!this.offsets.has(s) && !/[\x80-\xff]/.test(s)) this.offsets.set(s, start + pos);
        pos = end + 1;
      }
    } else if (start === 0) {
      this.append('');
    }
  }

  offsetOf(s: string): number {
    if (s === '' && this.start > 0) return 0;
    return this.offsets.get(s) ?? this.append(s);
  }

  private append(s: string): number {
    const offset = this.start + this.size;
    const bytes = this.encoder.encode(`${s}\0`);
    this.chunks.push(bytes);
    this.size += bytes.length;
    this.offsets.set(s, offset);
    return offset;
  }

  bytes(): Uint8Array {
    return concat(this.chunks, this.size);
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** Bytes a type occupies in the type section. */
function encodedSize(t: BtfType): number {
  switch (t.kind) {
    case 'int':
    case 'var':
    case 'decl_tag':
      return TYPE_HEADER_SIZE + 4;
    case 'array':
      return TYPE_HEADER_SIZE + 12;
    case 'struct':
    case 'union':
      return TYPE_HEADER_SIZE + 12 * t.members.length;
    case 'enum':
      return TYPE_HEADER_SIZE + 8 * t.values.length;
    case 'enum64':
      return TYPE_HEADER_SIZE + 12 * t.values.length;
    case 'func_proto':
      return TYPE_HEADER_SIZE + 8 * t.params.length;
    case 'datasec':
      return TYPE_HEADER_SIZE + 12 * t.vars.length;
    default:
      return TYPE_HEADER_SIZE;
  }
}

function encodeTypes(types: readonly BtfType[], options: EncodeOptions): Uint8Array {
  const le = options.endianness === 'little';
  const strings = new StringWriter(options.baseStringsLength, options.initialStrings);
  let typeLen = 0;
  for (const t of types) typeLen += encodedSize(t);
  const typeBytes = new Uint8Array(typeLen);
  const view = new DataView(typeBytes.buffer);
  let pos = 0;
  const u32 = (v: number): void => {
    view.setUint32(pos, v >>> 0, le);
    pos += 4;
  };
  const header = (t: BtfType, vlen: number, kindFlag: boolean, sizeOrType: number): void => {
    if (t.kind === 'void') throw new BtfError('cannot encode void as a BTF type: it is type id 0, not an entry');
    if (vlen > 0xffff) throw kindError(t.id, t.kind, `${vlen} entries exceed BTF's 16-bit vlen`);
    u32(strings.offsetOf(t.name));
    u32(((kindFlag ? 1 : 0) << 31) | (KIND_NUMBER[t.kind] << 24) | vlen);
    u32(sizeOrType);
  };
  for (const t of types) {
    switch (t.kind) {
      case 'void':
        header(t, 0, false, 0);
        break;
      case 'int': {
        header(t, 0, false, t.size);
        const enc = t.encoding === 'signed' ? INT_SIGNED : t.encoding === 'char' ? INT_CHAR : t.encoding === 'bool' ? INT_BOOL : 0;
        u32((enc << 24) | (t.offset << 16) | t.bits);
        break;
      }
      case 'float':
        header(t, 0, false, t.size);
        break;
      case 'ptr':
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
        header(t, 0, false, t.type);
        break;
      case 'type_tag':
        header(t, 0, t.attribute, t.type);
        break;
      case 'array':
        header(t, 0, false, 0);
        u32(t.elemType);
        u32(t.indexType);
        u32(t.nelems);
        break;
      case 'struct':
      case 'union': {
        const kflag = t.bitfieldEncoding || t.members.some((m) => m.bitSize !== 0);
        header(t, t.members.length, kflag, t.size);
        for (const m of t.members) {
          u32(strings.offsetOf(m.name));
          u32(m.type);
          u32(kflag ? ((m.bitSize << 24) | m.bitOffset) >>> 0 : m.bitOffset);
        }
        break;
      }
      case 'enum':
        header(t, t.values.length, t.signed, t.size);
        for (const v of t.values) {
          u32(strings.offsetOf(v.name));
          u32(Number(BigInt.asUintN(32, v.value)));
        }
        break;
      case 'enum64':
        header(t, t.values.length, t.signed, t.size);
        for (const v of t.values) {
          const raw = BigInt.asUintN(64, v.value);
          u32(strings.offsetOf(v.name));
          u32(Number(raw & 0xffffffffn));
          u32(Number(raw >> 32n));
        }
        break;
      case 'fwd':
        header(t, 0, t.fwdKind === 'union', 0);
        break;
      case 'func':
        header(t, FUNC_LINKAGE.indexOf(t.linkage), false, t.type);
        break;
      case 'func_proto':
        header(t, t.params.length, false, t.returnType);
        for (const p of t.params) {
          u32(strings.offsetOf(p.name));
          u32(p.type);
        }
        break;
      case 'var':
        header(t, 0, false, t.type);
        u32(VAR_LINKAGE.indexOf(t.linkage));
        break;
      case 'datasec':
        header(t, t.vars.length, false, t.size);
        for (const v of t.vars) {
          u32(v.type);
          u32(v.offset);
          u32(v.size);
        }
        break;
      case 'decl_tag':
        header(t, 0, t.attribute, t.type);
        u32(t.componentIdx);
        break;
    }
  }
  const stringBytes = strings.bytes();
  const out = new Uint8Array(HEADER_SIZE + typeLen + stringBytes.length);
  const hv = new DataView(out.buffer);
  hv.setUint16(0, BTF_MAGIC, le);
  hv.setUint8(2, 1);
  hv.setUint8(3, 0);
  hv.setUint32(4, HEADER_SIZE, le);
  hv.setUint32(8, 0, le);
  hv.setUint32(12, typeLen, le);
  hv.setUint32(16, typeLen, le);
  hv.setUint32(20, stringBytes.length, le);
  out.set(typeBytes, HEADER_SIZE);
  out.set(stringBytes, HEADER_SIZE + typeLen);
  return out;
}

/**
 * Builds a validated Btf from type objects (index = id, entry 0 is void or
 * omitted by passing ids from 1). Used to make small target BTFs and to
 * rebuild edited BTF.
 */
export function createBtf(types: readonly BtfType[], options: { endianness?: Endianness; base?: Btf } = {}): Btf {
  const startId = options.base ? options.base.types.length : 1;
  const own = types.filter((t) => t.kind !== 'void');
  own.forEach((t, i) => {
    if (t.id !== startId + i) throw new BtfError(`createBtf: type at position ${i} has id ${t.id}, expected ${startId + i}`, { typeId: t.id });
  });
  const endianness = options.endianness ?? 'little';
  const bytes = encodeTypes(own, {
    endianness,
    startId,
    baseStringsLength: options.base?.stringsLength ?? 0,
  });
  return parseBtf(bytes, { endianness, base: options.base });
}

/** Reads the byte order from a BTF (or BTF.ext) magic. */
export function detectEndianness(bytes: Uint8Array, section: string, expected?: Endianness): Endianness {
  if (bytes.length < 2) throw new BtfError(`${section} is ${bytes.length} bytes, too short for a header`, { section, offset: 0 });
  const magicLe = bytes[0]! | (bytes[1]! << 8);
  const found: Endianness | undefined = magicLe === BTF_MAGIC ? 'little' : magicLe === 0x9feb ? 'big' : undefined;
  if (found === undefined) throw new BtfError(`${section}: bad magic 0x${magicLe.toString(16).padStart(4, '0')} (expected 0xeb9f in either byte order)`, { section, offset: 0 });
  if (expected !== undefined && expected !== found) throw new BtfError(`${section} is ${found}-endian but ${expected}-endian was expected`, { section, offset: 0 });
  return found;
}

interface TypeReader {
  view: DataView;
  le: boolean;
  /** Current byte offset into `view`. */
  pos: number;
  /** End of the type section. */
  end: number;
  strings: StringTable;
  base: Btf | undefined;
  baseStrLen: number;
}

function readString(r: TypeReader, off: number, id: number, kind: string, what: string): string {
  if (off < r.baseStrLen) return r.base!.stringAt(off);
  const s = r.strings.at(off - r.baseStrLen);
  if (s === undefined) throw kindError(id, kind, `${what} string offset ${off} is outside the ${r.baseStrLen + r.strings.length}-byte string section`);
  return s;
}

/** Checks that `count` records of `size` bytes fit before anything is allocated for them. */
function needRecords(r: TypeReader, id: number, kind: string, count: number, size: number): void {
  if (count * size > r.end - r.pos) {
    throw new BtfError(`.BTF: type [${id}] ${kind.toUpperCase()} declares ${count} entries of ${size} bytes but only ${r.end - r.pos} bytes remain`, {
      section: '.BTF',
      offset: r.pos,
      typeId: id,
    });
  }
}

function requireZero(value: number, id: number, kind: string, what: string): void {
  if (value !== 0) throw kindError(id, kind, `${what} must be 0 (is ${value})`);
}

function requireName(name: string, id: number, kind: string, named: boolean): void {
  if (named && name === '') throw kindError(id, kind, 'must have a name');
  if (!named && name !== '') throw kindError(id, kind, `must be anonymous (named '${name}')`);
}

function readType(r: TypeReader, id: number): BtfType {
  const { view, le } = r;
  let pos = r.pos;
  if (id > MAX_TYPE_ID) throw new BtfError(`.BTF: more than ${MAX_TYPE_ID} types`, { section: '.BTF', offset: pos, typeId: id });
  if (r.end - pos < TYPE_HEADER_SIZE) throw new BtfError(`.BTF: type [${id}] at offset ${pos} is truncated (${r.end - pos} bytes left)`, { section: '.BTF', offset: pos, typeId: id });
  const nameOff = view.getUint32(pos, le);
  const info = view.getUint32(pos + 4, le);
  const sizeOrType = view.getUint32(pos + 8, le);
  const kindNo = (info >>> 24) & 0x1f;
  const vlen = info & 0xffff;
  const kflag = info >>> 31 === 1;
  const kind = KIND_BY_NUMBER[kindNo];
  if (kind === undefined || kind === 'unknown') throw new BtfError(`.BTF: type [${id}] at offset ${pos} has unknown kind ${kindNo}`, { section: '.BTF', offset: pos, typeId: id });
  if ((info & 0x60ff0000) !== 0) throw kindError(id, kind, `reserved bits set in info 0x${info.toString(16)}`);
  pos += TYPE_HEADER_SIZE;
  r.pos = pos;
  const name = readString(r, nameOff, id, kind, 'name');
  const kflagNumber = kflag ? 1 : 0;
  let t: BtfType;
  switch (kind) {
    case 'int': {
      requireZero(vlen, id, kind, 'vlen');
      requireZero(kflagNumber, id, kind, 'kind_flag');
      requireName(name, id, kind, true);
      needRecords(r, id, kind, 1, 4);
      const v = view.getUint32(pos, le);
      pos += 4;
      const enc = (v >>> 24) & 0x0f;
      const offset = (v >>> 16) & 0xff;
      const bits = v & 0xff;
      if (v & 0xf0000000 || (v & 0xff00) !== 0) throw kindError(id, kind, `reserved bits set in 0x${v.toString(16)}`);
      if (sizeOrType !== 1 && sizeOrType !== 2 && sizeOrType !== 4 && sizeOrType !== 8 && sizeOrType !== 16) throw kindError(id, kind, `invalid size ${sizeOrType}`);
      if (bits === 0 || bits > 128 || offset + bits > sizeOrType * 8) throw kindError(id, kind, `${bits} bits at bit offset ${offset} do not fit in ${sizeOrType} bytes`);
      const encoding: IntEncoding | undefined = enc === 0 ? 'none' : enc === INT_SIGNED ? 'signed' : enc === INT_CHAR ? 'char' : enc === INT_BOOL ? 'bool' : undefined;
      if (encoding === undefined) throw kindError(id, kind, `invalid encoding ${enc}`);
      t = { id, kind, name, size: sizeOrType, encoding, offset, bits };
      break;
    }
    case 'float':
      requireZero(vlen, id, kind, 'vlen');
      requireZero(kflagNumber, id, kind, 'kind_flag');
      requireName(name, id, kind, true);
      if (sizeOrType !== 2 && sizeOrType !== 4 && sizeOrType !== 8 && sizeOrType !== 12 && sizeOrType !== 16) throw kindError(id, kind, `invalid size ${sizeOrType}`);
      t = { id, kind, name, size: sizeOrType };
      break;
    case 'ptr':
    case 'volatile':
    case 'const':
    case 'restrict':
    case 'typedef':
      requireZero(vlen, id, kind, 'vlen');
      requireZero(kflagNumber, id, kind, 'kind_flag');
      requireName(name, id, kind, kind === 'typedef');
      t = { id, kind, name, type: sizeOrType };
      break;
    case 'type_tag':
      requireZero(vlen, id, kind, 'vlen');
      requireName(name, id, kind, true);
      t = { id, kind, name, type: sizeOrType, attribute: kflag };
      break;
    case 'array':
      requireZero(vlen, id, kind, 'vlen');
      requireZero(kflagNumber, id, kind, 'kind_flag');
      requireZero(sizeOrType, id, kind, 'size');
      requireName(name, id, kind, false);
      needRecords(r, id, kind, 1, 12);
      t = { id, kind, name, elemType: view.getUint32(pos, le), indexType: view.getUint32(pos + 4, le), nelems: view.getUint32(pos + 8, le) };
      pos += 12;
      break;
    case 'struct':
    case 'union': {
      needRecords(r, id, kind, vlen, 12);
      const members: Member[] = new Array(vlen);
      for (let i = 0; i < vlen; i++) {
        const raw = view.getUint32(pos + 8, le);
        members[i] = {
          name: readString(r, view.getUint32(pos, le), id, kind, `member ${i}`),
          type: view.getUint32(pos + 4, le),
          bitOffset: kflag ? raw & 0xffffff : raw,
          bitSize: kflag ? raw >>> 24 : 0,
        };
        pos += 12;
      }
      t = { id, kind, name, size: sizeOrType, members, bitfieldEncoding: kflag };
      break;
    }
    case 'enum':
    case 'enum64': {
      const recordSize = kind === 'enum' ? 8 : 12;
      needRecords(r, id, kind, vlen, recordSize);
      if (sizeOrType !== 1 && sizeOrType !== 2 && sizeOrType !== 4 && sizeOrType !== 8) throw kindError(id, kind, `invalid size ${sizeOrType}`);
      const values: EnumValue[] = new Array(vlen);
      for (let i = 0; i < vlen; i++) {
        const lo = view.getUint32(pos + 4, le);
        let value: bigint;
        if (kind === 'enum') value = BigInt(kflag ? lo | 0 : lo);
        else {
          const raw = (BigInt(view.getUint32(pos + 8, le)) << 32n) | BigInt(lo);
          value = kflag ? BigInt.asIntN(64, raw) : raw;
        }
        values[i] = { name: readString(r, view.getUint32(pos, le), id, kind, `value ${i}`), value };
        pos += recordSize;
      }
      t = { id, kind, name, size: sizeOrType, signed: kflag, values };
      break;
    }
    case 'fwd':
      requireZero(vlen, id, kind, 'vlen');
      requireName(name, id, kind, true);
      t = { id, kind, name, fwdKind: kflag ? 'union' : 'struct' };
      break;
    case 'func': {
      requireZero(kflagNumber, id, kind, 'kind_flag');
      requireName(name, id, kind, true);
      const linkage = FUNC_LINKAGE[vlen];
      if (linkage === undefined) throw kindError(id, kind, `invalid linkage ${vlen}`);
      t = { id, kind, name, type: sizeOrType, linkage };
      break;
    }
    case 'func_proto': {
      requireZero(kflagNumber, id, kind, 'kind_flag');
      requireName(name, id, kind, false);
      needRecords(r, id, kind, vlen, 8);
      const params: Param[] = new Array(vlen);
      for (let i = 0; i < vlen; i++) {
        params[i] = { name: readString(r, view.getUint32(pos, le), id, kind, `parameter ${i}`), type: view.getUint32(pos + 4, le) };
        pos += 8;
      }
      t = { id, kind, name, returnType: sizeOrType, params };
      break;
    }
    case 'var': {
      requireZero(vlen, id, kind, 'vlen');
      requireZero(kflagNumber, id, kind, 'kind_flag');
      requireName(name, id, kind, true);
      needRecords(r, id, kind, 1, 4);
      const linkageNo = view.getUint32(pos, le);
      const linkage = VAR_LINKAGE[linkageNo];
      if (linkage === undefined) throw kindError(id, kind, `invalid linkage ${linkageNo}`);
      pos += 4;
      t = { id, kind, name, type: sizeOrType, linkage };
      break;
    }
    case 'datasec': {
      requireZero(kflagNumber, id, kind, 'kind_flag');
      requireName(name, id, kind, true);
      needRecords(r, id, kind, vlen, 12);
      const vars: VarSecinfo[] = new Array(vlen);
      for (let i = 0; i < vlen; i++) {
        vars[i] = { type: view.getUint32(pos, le), offset: view.getUint32(pos + 4, le), size: view.getUint32(pos + 8, le) };
        pos += 12;
      }
      t = { id, kind, name, size: sizeOrType, vars };
      break;
    }
    case 'decl_tag': {
      requireZero(vlen, id, kind, 'vlen');
      requireName(name, id, kind, true);
      needRecords(r, id, kind, 1, 4);
      const componentIdx = view.getInt32(pos, le);
      pos += 4;
      if (componentIdx < -1) throw kindError(id, kind, `invalid component_idx ${componentIdx}`);
      t = { id, kind, name, type: sizeOrType, componentIdx, attribute: kflag };
      break;
    }
  }
  r.pos = pos;
  return t;
}

/** Parses and validates a `.BTF` blob (or /sys/kernel/btf/* file). */
export function parseBtf(bytes: Uint8Array, options: ParseBtfOptions = {}): Btf {
  const section = '.BTF';
  const endianness = detectEndianness(bytes, section, options.endianness);
  const le = endianness === 'little';
  if (bytes.length < HEADER_SIZE) throw new BtfError(`${section} is ${bytes.length} bytes, shorter than the ${HEADER_SIZE}-byte header`, { section, offset: 0 });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(2);
  if (version !== 1) throw new BtfError(`${section}: unsupported version ${version}`, { section, offset: 2 });
  const flags = view.getUint8(3);
  if (flags !== 0) throw new BtfError(`${section}: unsupported flags 0x${flags.toString(16)}`, { section, offset: 3 });
  const hdrLen = view.getUint32(4, le);
  if (hdrLen < HEADER_SIZE || hdrLen > bytes.length) throw new BtfError(`${section}: header length ${hdrLen} is outside [${HEADER_SIZE}, ${bytes.length}]`, { section, offset: 4 });
  // A longer header is allowed if the unknown tail is zero, as the kernel requires.
  for (let i = HEADER_SIZE; i < hdrLen; i++) {
    if (bytes[i] !== 0) throw new BtfError(`${section}: unknown non-zero header byte at offset ${i}`, { section, offset: i });
  }
  const typeOff = view.getUint32(8, le);
  const typeLen = view.getUint32(12, le);
  const strOff = view.getUint32(16, le);
  const strLen = view.getUint32(20, le);
  const dataLen = bytes.length - hdrLen;
  if (typeOff % 4 !== 0) throw new BtfError(`${section}: type section offset ${typeOff} is not 4-byte aligned`, { section, offset: 8 });
  if (typeLen % 4 !== 0) throw new BtfError(`${section}: type section length ${typeLen} is not a multiple of 4`, { section, offset: 12 });
  if (typeOff + typeLen > dataLen) throw new BtfError(`${section}: type section [${typeOff}, ${typeOff + typeLen}) exceeds the ${dataLen} data bytes`, { section, offset: 8 });
  if (strOff + strLen > dataLen) throw new BtfError(`${section}: string section [${strOff}, ${strOff + strLen}) exceeds the ${dataLen} data bytes`, { section, offset: 16 });
  if (strOff < typeOff + typeLen && typeOff < strOff + strLen) throw new BtfError(`${section}: type and string sections overlap`, { section, offset: 8 });
  const base = options.base;
  const baseStrLen = base?.stringsLength ?? 0;
  if (strLen === 0 && !base) throw new BtfError(`${section}: empty string section`, { section, offset: 20 });
  if (baseStrLen + strLen - 1 > MAX_NAME_OFFSET) throw new BtfError(`${section}: string section of ${strLen} bytes exceeds BTF's limit`, { section, offset: 20 });
  const strBytes = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
  if (!base && strBytes[0] !== 0) throw new BtfError(`${section}: string section does not start with the empty string`, { section, offset: hdrLen + strOff });
  if (strLen > 0 && strBytes[strLen - 1] !== 0) throw new BtfError(`${section}: string section is not NUL-terminated`, { section, offset: hdrLen + strOff + strLen - 1 });
  const strings = new StringTable(strBytes, baseStrLen);

  const startId = base ? base.types.length : 1;
  const reader: TypeReader = { view, le, pos: hdrLen + typeOff, end: hdrLen + typeOff + typeLen, strings, base, baseStrLen };
  if (options.lazy === true && base === undefined) {
    const lazy = indexTypes(reader);
    return new Btf(lazy.list, strings, endianness, undefined, lazy);
  }
  const types: BtfType[] = base ? base.types.slice() : [VOID];
  while (reader.pos < reader.end) types.push(readType(reader, types.length));
  const btf = new Btf(types, strings, endianness, base);
  validateReferences(btf, startId);
  return btf;
}

/** Bytes of each record that follows a type's header, by kind number, and whether there are vlen of them (else one). */
const RECORD_BYTES: Readonly<Record<number, number>> = { 1: 4, 3: 12, 4: 12, 5: 12, 6: 8, 13: 8, 14: 4, 15: 12, 17: 4, 19: 12 };
const RECORDS_PER_VLEN: ReadonlySet<number> = new Set([4, 5, 6, 13, 15, 19]);

/**
 * The lazy parse's one pass over the type section: where each type starts,
 * its name offset and kind, with the checks that finding the next type needs
 * (the eager parser's messages for a truncated record, an unknown kind, too many types).
 */
function indexTypes(r: TypeReader): LazyTypes {
  const { view, le, end } = r;
  const maxCount = Math.floor((end - r.pos) / TYPE_HEADER_SIZE) + 1;
  const offsets = new Uint32Array(maxCount);
  const nameOffsets = new Uint32Array(maxCount);
  const kinds = new Uint8Array(maxCount);
  let id = 1;
  for (let pos = r.pos; pos < end; id++) {
    if (id > MAX_TYPE_ID) throw new BtfError(`.BTF: more than ${MAX_TYPE_ID} types`, { section: '.BTF', offset: pos, typeId: id });
    if (end - pos < TYPE_HEADER_SIZE) throw new BtfError(`.BTF: type [${id}] at offset ${pos} is truncated (${end - pos} bytes left)`, { section: '.BTF', offset: pos, typeId: id });
    const info = view.getUint32(pos + 4, le);
    const kindNo = (info >>> 24) & 0x1f;
    const kind = KIND_BY_NUMBER[kindNo];
    if (kind === undefined || kind === 'unknown') throw new BtfError(`.BTF: type [${id}] at offset ${pos} has unknown kind ${kindNo}`, { section: '.BTF', offset: pos, typeId: id });
    offsets[id] = pos;
    nameOffsets[id] = view.getUint32(pos, le);
    kinds[id] = kindNo;
    pos += TYPE_HEADER_SIZE;
    const recordBytes = RECORD_BYTES[kindNo] ?? 0;
    const records = RECORDS_PER_VLEN.has(kindNo) ? info & 0xffff : recordBytes === 0 ? 0 : 1;
    r.pos = pos;
    needRecords(r, id, kind, records, recordBytes);
    pos += records * recordBytes;
  }
  const list: BtfType[] = new Array<BtfType>(id);
  list[0] = VOID;
  return new LazyTypes(r, list, offsets.subarray(0, id), nameOffsets.subarray(0, id), kinds.subarray(0, id));
}

/** Searches of the string section answered before a lookup builds a full index instead (~3 ms each against ~50 ms, for vmlinux). */
const SEARCHES_BEFORE_INDEX = 16;

/** Name lookups of a lazy BTF: each answered by a search, memoised, until enough distinct ones make an index worth building. */
class NameLookups {
  private readonly found = new Map<string, number[]>();
  private index: Map<string, number[]> | undefined;

  constructor(private readonly buildIndex: () => Map<string, number[]>) {}

  find(name: string, search: () => number[]): number[] {
    if (name === '') return [];
    if (this.index !== undefined) return this.index.get(name) ?? [];
    let ids = this.found.get(name);
    if (ids === undefined) {
      if (this.found.size >= SEARCHES_BEFORE_INDEX) {
        this.index = this.buildIndex();
        return this.index.get(name) ?? [];
      }
      this.found.set(name, (ids = search()));
    }
    return ids;
  }
}

/** Lazy type states: not decoded, decoded with its ids in range, on the validation walk's stack, validated with everything it holds by value. */
const UNREAD = 0;
const DECODED = 1;
const VISITING = 2;
const VALID = 3;

/** The types of a lazily parsed BTF, decoded and validated on first use. */
class LazyTypes {
  private readonly state: Uint8Array;
  private readonly byName = new NameLookups(() => this.indexNames((name) => name));
  private readonly byEssentialName = new NameLookups(() => this.indexNames(essentialName));

  constructor(
    private readonly reader: TypeReader,
    readonly list: BtfType[],
    private readonly offsets: Uint32Array,
    private readonly nameOffsets: Uint32Array,
    private readonly kinds: Uint8Array,
  ) {
    this.state = new Uint8Array(list.length);
    this.state[0] = VALID;
  }

  isValid(id: number): boolean {
    return this.state[id] === VALID;
  }

  /** Decodes type `id` with the eager parser's checks of the type itself. */
  read(id: number): BtfType {
    this.reader.pos = this.offsets[id]!;
    return readType(this.reader, id);
  }

  private reach(id: number): BtfType {
    const t = (this.list[id] ??= this.read(id));
    if (this.state[id] === UNREAD) {
      checkReferenceRange(t, this.list.length);
      this.state[id] = DECODED;
    }
    return t;
  }

  /**
   * Validates `root` and what it holds by value, children first, as the
   * eager parse validates every type: the same cycle walk (from `root`, so a
   * cycle is named from where it was entered) and the same per-type checks.
   */
  validate(btf: Btf, root: number): BtfType {
    const { list, state } = this;
    this.reach(root);
    state[root] = VISITING;
    const stackIds = [root];
    const stackNext = [0];
    try {
      while (stackIds.length > 0) {
        const top = stackIds.length - 1;
        const t = list[stackIds[top]!]!;
        const next = stackNext[top]!;
        if (next === valueEdgeCount(t)) {
          checkType(btf, t);
          state[t.id] = VALID;
          stackIds.pop();
          stackNext.pop();
          continue;
        }
        stackNext[top] = next + 1;
        const child = valueEdge(t, next);
        if (state[child] === VALID) continue;
        if (state[child] === VISITING) throw kindError(child, list[child]!.kind, `contains itself by value: ${cyclePath(list, stackIds, child)}`);
        this.reach(child);
        state[child] = VISITING;
        stackIds.push(child);
        stackNext.push(0);
      }
    } catch (error) {
      for (const id of stackIds) if (state[id] === VISITING) state[id] = DECODED;
      throw error;
    }
    return list[root]!;
  }

  /** Ids of the types named `name` (of `kind`), found without decoding the types. */
  findByName(name: string, kind?: BtfKind): number[] {
    const ids = this.byName.find(name, () => this.idsNamedAt(this.nameOffsetsOf(name, (found) => found === name)));
    if (kind === undefined) return ids;
    const kindNo = KIND_NUMBER[kind];
    return ids.filter((id) => this.kinds[id] === kindNo);
  }

  /** Ids of the types whose essential name is `essential` (the name itself, or it followed by `___flavour`). */
  findByEssentialName(essential: string): number[] {
    const matches = (found: string): boolean => essentialName(found) === essential;
    return this.byEssentialName.find(essential, () => this.idsNamedAt([...this.nameOffsetsOf(essential, matches), ...this.nameOffsetsOf(`${essential}___`, matches)]));
  }

  /** Every named type's id by `key(name)`, names read from the string section (an invalid offset is the type's error, when reached). */
  private indexNames(key: (name: string) => string): Map<string, number[]> {
    const index = new Map<string, number[]>();
    const strings = this.reader.strings;
    for (let id = 1; id < this.nameOffsets.length; id++) {
      const name = strings.at(this.nameOffsets[id]!);
      if (name === undefined || name === '') continue;
      const k = key(name);
      const list = index.get(k);
      if (list) list.push(id);
      else index.set(k, [id]);
    }
    return index;
  }

  /**
   * String offsets where a string starting with `prefix` that passes `accept`
   * begins: a search of the section's text for printable ASCII (names are), else a
   * scan of every type's name, decoded as `stringAt` decodes it.
   */
  private nameOffsetsOf(prefix: string, accept: (found: string) => boolean): number[] {
    const strings = this.reader.strings;
    if (/^[ -~]*$/.test(prefix)) {
      const pattern = prefix.endsWith('___') ? prefix : `${prefix}\0`;
      return strings.occurrences(pattern).filter((at) => accept(strings.at(at)!));
    }
    return [...new Set(this.nameOffsets)].filter((at) => {
      const found = strings.at(at);
      return found !== undefined && found.startsWith(prefix) && accept(found);
    });
  }

  /** Ids whose name starts at one of these string offsets (non-split BTF: own offsets are absolute). */
  private idsNamedAt(offsets: readonly number[]): number[] {
    const ids: number[] = [];
    if (offsets.length === 0) return ids;
    const wanted = new Set(offsets);
    const nameOffsets = this.nameOffsets;
    for (let id = 1; id < nameOffsets.length; id++) if (wanted.has(nameOffsets[id]!)) ids.push(id);
    return ids;
  }
}

function cyclePath(types: readonly BtfType[], stackIds: readonly number[], child: number): string {
  return [...stackIds.slice(stackIds.indexOf(child)), child].map((i) => `[${i}] ${types[i]!.kind.toUpperCase()}`).join(' -> ');
}

/** Every id a type refers to, pointers included, must be a type (later walks index types freely). */
function checkReferenceRange(t: BtfType, count: number): void {
  const n = t.kind === 'ptr' ? 1 : valueEdgeCount(t);
  for (let i = 0; i < n; i++) {
    const ref = t.kind === 'ptr' ? t.type : valueEdge(t, i);
    if (ref >= count) throw kindError(t.id, t.kind, `refers to type id ${ref}, but there are only ${count} types`);
  }
}

function indexNames(types: readonly BtfType[], key: (name: string) => string): Map<string, number[]> {
  const index = new Map<string, number[]>();
  for (let id = 1; id < types.length; id++) {
    const name = types[id]!.name;
    if (name === '') continue;
    const k = key(name);
    const list = index.get(k);
    if (list) list.push(id);
    else index.set(k, [id]);
  }
  return index;
}

/**
 * Length of a name's essential part: without its last `___flavour` suffix
 * (libbpf's bpf_core_essential_name_len), so `task_struct___v2` matches `task_struct`.
 */
export function essentialNameLength(name: string): number {
  const n = name.length;
  for (let i = n - 5; i >= 0; i--) {
    if (name[i] !== '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i + 3] === '_' && name[i + 4] !== '_') return i + 1;
  }
  return n;
}

export const essentialName = (name: string): string => name.slice(0, essentialNameLength(name));

/** Number of ids a type depends on by value: everything but what a pointer points at. */
function valueEdgeCount(t: BtfType): number {
  switch (t.kind) {
    case 'typedef':
    case 'const':
    case 'volatile':
    case 'restrict':
    case 'type_tag':
    case 'var':
    case 'func':
    case 'decl_tag':
      return 1;
    case 'array':
      return 2;
    case 'struct':
    case 'union':
      return t.members.length;
    case 'func_proto':
      return t.params.length + 1;
    case 'datasec':
      return t.vars.length;
    default:
      return 0;
  }
}

/** The `i`th by-value dependency of `t` (see valueEdgeCount). */
function valueEdge(t: BtfType, i: number): number {
  switch (t.kind) {
    case 'typedef':
    case 'const':
    case 'volatile':
    case 'restrict':
    case 'type_tag':
    case 'var':
    case 'func':
    case 'decl_tag':
      return t.type;
    case 'array':
      return i === 0 ? t.elemType : t.indexType;
    case 'struct':
    case 'union':
      return t.members[i]!.type;
    case 'func_proto':
      return i === 0 ? t.returnType : t.params[i - 1]!.type;
    case 'datasec':
      return t.vars[i]!.type;
    default:
      return 0;
  }
}

function validateReferences(btf: Btf, startId: number): void {
  const types = btf.types;
  const count = types.length;
  // Range checks first: every later walk may then index types freely.
  for (let id = startId; id < count; id++) checkReferenceRange(types[id]!, count);
  findValueCycle(types, startId);
  // Kind constraints that need the referenced types (the graph is now known to be acyclic).
  for (let id = startId; id < count; id++) checkType(btf, types[id]!);
}

/** Iterative depth-first search over by-value edges: reaching a node that is still on the stack is a cycle. */
function findValueCycle(types: readonly BtfType[], startId: number): void {
  const ON_STACK = 1;
  const DONE = 2;
  const state = new Uint8Array(types.length - startId);
  const stackIds: number[] = [];
  const stackNext: number[] = [];
  for (let root = startId; root < types.length; root++) {
    if (state[root - startId] !== 0) continue;
    state[root - startId] = ON_STACK;
    stackIds.push(root);
    stackNext.push(0);
    while (stackIds.length > 0) {
      const top = stackIds.length - 1;
      const t = types[stackIds[top]!]!;
      const next = stackNext[top]!;
      if (next === valueEdgeCount(t)) {
        state[t.id - startId] = DONE;
        stackIds.pop();
        stackNext.pop();
        continue;
      }
      stackNext[top] = next + 1;
      const child = valueEdge(t, next);
      if (child < startId) continue; // void or a (validated) base type
      const c = state[child - startId];
      if (c === DONE) continue;
      if (c === ON_STACK) {
        throw kindError(child, types[child]!.kind, `contains itself by value: ${cyclePath(types, stackIds, child)}`);
      }
      state[child - startId] = ON_STACK;
      stackIds.push(child);
      stackNext.push(0);
    }
  }
}

function checkFail(t: BtfType, problem: string): never {
  throw kindError(t.id, t.kind, problem);
}

/** Size of a referenced type that must have one (a member, element or variable). */
function sizedRef(btf: Btf, t: BtfType, ref: number, what: string): number {
  const r = btf.resolve(ref);
  switch (r.kind) {
    case 'int':
    case 'float':
    case 'ptr':
    case 'array':
    case 'struct':
    case 'union':
    case 'enum':
    case 'enum64':
      break;
    default:
      checkFail(t, `${what} type [${ref}] is ${r.kind === 'void' ? 'void' : `a ${r.kind.toUpperCase()}`}, which has no size`);
  }
  const size = btf.sizeOf(ref);
  if (size > 0xffffffff) checkFail(t, `${what} type [${ref}] is ${size} bytes, more than 4 GiB`);
  return size;
}

function checkMember(btf: Btf, t: CompositeType, m: Member, i: number): void {
  const r = btf.resolve(m.type);
  let bits: number;
  if (m.bitSize !== 0) {
    if (r.kind !== 'int' && r.kind !== 'enum' && r.kind !== 'enum64') checkFail(t, `bitfield member ${i} '${m.name}' has non-integer type [${m.type}]`);
    if (m.bitSize > 128) checkFail(t, `bitfield member ${i} '${m.name}' is ${m.bitSize} bits wide`);
    bits = m.bitSize;
  } else if (!t.bitfieldEncoding && r.kind === 'int' && r.bits !== r.size * 8) {
    // Old-style bitfield: the width lives in the INT itself.
    bits = r.offset + r.bits;
  } else {
    if (m.bitOffset % 8 !== 0) checkFail(t, `member ${i} '${m.name}' at bit offset ${m.bitOffset} is not byte-aligned`);
    bits = sizedRef(btf, t, m.type, `member ${i} '${m.name}'`) * 8;
  }
  if (t.kind === 'union' && m.bitOffset !== 0) checkFail(t, `union member ${i} '${m.name}' has non-zero offset ${m.bitOffset}`);
  if (m.bitOffset + bits > t.size * 8) checkFail(t, `member ${i} '${m.name}' (bits ${m.bitOffset}..${m.bitOffset + bits}) exceeds the ${t.size}-byte size`);
}

function checkType(btf: Btf, t: BtfType): void {
  switch (t.kind) {
    case 'array': {
      if (btf.resolve(t.indexType).kind !== 'int') checkFail(t, `index type [${t.indexType}] is not an INT`);
      const elemSize = sizedRef(btf, t, t.elemType, 'element');
      if (elemSize * t.nelems > 0xffffffff) checkFail(t, `${t.nelems} elements of ${elemSize} bytes exceed 4 GiB`);
      break;
    }
    case 'struct':
    case 'union':
      for (let i = 0; i < t.members.length; i++) checkMember(btf, t, t.members[i]!, i);
      break;
    case 'func':
      if (btf.typeById(t.type).kind !== 'func_proto') checkFail(t, `type [${t.type}] is not a FUNC_PROTO`);
      break;
    case 'func_proto':
      for (let i = 0; i < t.params.length; i++) {
        const p = t.params[i]!;
        if (p.type === 0) {
          if (i !== t.params.length - 1 || p.name !== '') checkFail(t, `parameter ${i} is void but is not the trailing '...'`);
          continue;
        }
        const r = btf.resolve(p.type);
        if (r.kind === 'func' || r.kind === 'datasec' || r.kind === 'var' || r.kind === 'func_proto' || r.kind === 'void') checkFail(t, `parameter ${i} has invalid type [${p.type}] ${r.kind.toUpperCase()}`);
      }
      break;
    case 'var':
      // `extern const void sym __ksym;` (a typeless ksym) is an extern VAR of void, which libbpf accepts.
      if (t.linkage === 'extern' && btf.resolve(t.type).kind === 'void') break;
      sizedRef(btf, t, t.type, 'variable');
      break;
    case 'datasec':
      for (let i = 0; i < t.vars.length; i++) {
        const v = t.vars[i]!;
        const vt = btf.typeById(v.type);
        if (vt.kind !== 'var' && vt.kind !== 'func') checkFail(t, `entry ${i} refers to [${v.type}] ${vt.kind.toUpperCase()}, not a VAR or FUNC`);
        // Objects carry size 0 until the loader fixes it from the ELF section; only then are bounds meaningful.
        if (t.size !== 0 && v.offset + v.size > t.size) checkFail(t, `entry ${i} [${v.offset}, ${v.offset + v.size}) exceeds the ${t.size}-byte section`);
      }
      break;
    case 'decl_tag': {
      const target = btf.typeById(t.type);
      let components: number;
      if (target.kind === 'struct' || target.kind === 'union') components = target.members.length;
      else if (target.kind === 'func') {
        const proto = btf.typeById(target.type);
        components = proto.kind === 'func_proto' ? proto.params.length : 0;
      } else if (target.kind === 'var' || target.kind === 'typedef') components = 0;
      else checkFail(t, `tags [${t.type}] ${target.kind.toUpperCase()}, which cannot be tagged`);
      if (t.componentIdx >= components) checkFail(t, `component_idx ${t.componentIdx} is out of range for [${t.type}] ${target.kind.toUpperCase()}`);
      break;
    }
    default:
      break;
  }
}
