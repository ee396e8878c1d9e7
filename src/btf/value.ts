/**
 * Values laid out as a BTF type, decoded to JavaScript and encoded back:
 * what a map's key or value bytes mean, given the BTF key/value type ids a
 * compiled object records for it.
 *
 * - integers: `number`, or `bigint` when the type has more than 53 value
 *   bits (u64, s64, __int128); `bool` as `boolean`;
 * - arrays of `char` (the C type, not `__u8`/`unsigned char`): a `string`
 *   ending, as in C, at the first NUL (or at the array's end when there is
 *   none), whatever bytes follow the NUL; bytes that are not UTF-8 decode
 *   as U+FFFD, so the raw bytes (the record or map value given to decode)
 *   stay the exact form; encoding accepts a string or an array of numbers;
 * - enums: the enumerator's name, or the number when no enumerator has it;
 * - structs and unions: plain objects by member name (members of anonymous
 *   struct/union members appear in the parent, as C accesses them);
 *   bitfields as integers;
 * - pointers: `bigint` addresses; floats (4 and 8 bytes): `number`;
 * - DATASEC (the value type of `.data`/`.bss`/`.rodata` maps): an object by
 *   variable name (a DATASEC of size 0, as clang emits it before a loader
 *   sets section sizes, spans its variables).
 *
 * Encoding checks everything: integer ranges, string lengths, array
 * lengths, unknown or missing members, and names the place in the value
 * (`key.addr.octets[4]`) in a `BtfValueError`.
 */
import type { Btf } from './btf.ts';
import { BtfError, type BtfType, type CompositeType, type EnumType, type IntType } from './types.ts';

/** A decoded value. */
export type BtfValue = number | bigint | boolean | string | BtfValue[] | { [member: string]: BtfValue };

/** A value that does not fit its BTF type (or a type that has no value layout), naming where in the value. */
export class BtfValueError extends BtfError {
  override name = 'BtfValueError';
  constructor(
    message: string,
    /** Where in the value: `value.stats.bytes`, `key[3]`. */
    readonly path: string,
    typeId: number,
  ) {
    super(`${path}: ${message}`, { typeId });
  }
}

/** Decoder and encoder of one BTF type. */
export interface BtfValueCodec {
  readonly typeId: number;
  /** Bytes a value of the type takes. */
  readonly size: number;
  /** Decodes `size` bytes of `bytes` starting at `offset`. */
  decode(bytes: Uint8Array, offset?: number): BtfValue;
  /** Encodes `value` into a new `size`-byte array (padding zeroed). */
  encode(value: unknown): Uint8Array;
}

/** Reads a value of the type at a byte offset; writes one there. `path` names the place for errors. */
interface Layout {
  size: number;
  read(view: DataView, offset: number): BtfValue;
  write(view: DataView, offset: number, value: unknown, path: string): void;
}

const describeValue = (value: unknown): string => {
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
};

/** Builds layouts of a BTF's types, caching them by id (recursion in BTF goes through pointers only, which stop here). */
class LayoutBuilder {
  readonly #cache = new Map<number, Layout>();
  readonly #little: boolean;

  constructor(readonly btf: Btf) {
    this.#little = btf.endianness === 'little';
  }

  layout(id: number): Layout {
    let layout = this.#cache.get(id);
    if (layout === undefined) {
      layout = this.#build(id);
      this.#cache.set(id, layout);
    }
    return layout;
  }

  #fail(id: number, message: string, path = 'type'): never {
    throw new BtfValueError(message, path, id);
  }

  #build(id: number): Layout {
    const t = this.btf.resolve(id);
    switch (t.kind) {
      case 'int':
        return t.encoding === 'bool' && t.bits <= 8 && t.offset === 0 ? this.#bool(t) : this.#int(t);
      case 'enum':
      case 'enum64':
        return this.#enum(t);
      case 'ptr':
        return this.#pointer(t.id);
      case 'float':
        return this.#float(t);
      case 'array':
        return this.#array(t.id, t.elemType, t.nelems);
      case 'struct':
      case 'union':
        return this.#composite(t);
      case 'datasec':
        return this.#datasec(t);
      case 'var':
        return this.layout(t.type);
      default:
        return this.#fail(t.id, `BTF type [${id}] ${this.btf.describe(id)} has no value layout (it is ${t.kind === 'void' ? 'void' : `a ${t.kind.toUpperCase()}`})`);
    }
  }

  /** An integer of `bits` bits (signed or not) at bit `shift` of `size` bytes: the general case of ints and bitfields. */
  #bits(id: number, size: number, shift: number, bits: number, signed: boolean): Layout {
    const little = this.#little;
    const big = bits > 53;
    const mask = (1n << BigInt(bits)) - 1n;
    const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
    const max = signed ? (1n << BigInt(bits - 1)) - 1n : mask;
    const span = Math.ceil((shift + bits) / 8);
    // Bit offsets count from the lowest-addressed byte's least (little endian) or most (big endian) significant bit.
    const position = (): bigint => BigInt(little ? shift : span * 8 - shift - bits);
    const load = (view: DataView, offset: number): bigint => {
      let raw = 0n;
      for (let i = 0; i < span; i++) raw |= BigInt(view.getUint8(offset + i)) << BigInt(8 * (little ? i : span - 1 - i));
      return raw;
    };
    const store = (view: DataView, offset: number, raw: bigint): void => {
      for (let i = 0; i < span; i++) view.setUint8(offset + i, Number((raw >> BigInt(8 * (little ? i : span - 1 - i))) & 0xffn));
    };
    return {
      size,
      read(view, offset) {
        let v = (load(view, offset) >> position()) & mask;
        if (signed) v = BigInt.asIntN(bits, v);
        return big ? v : Number(v);
      },
      write: (view, offset, value, path) => {
        let v: bigint;
        if (typeof value === 'bigint') v = value;
        else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
        else if (typeof value === 'boolean') v = value ? 1n : 0n;
        else this.#fail(id, `expected an integer (${bits}-bit ${signed ? 'signed' : 'unsigned'}), got ${describeValue(value)}`, path);
        if (v < min || v > max) this.#fail(id, `${v} is out of range for a ${bits}-bit ${signed ? 'signed' : 'unsigned'} integer (${min}..${max})`, path);
        const at = position();
        store(view, offset, (load(view, offset) & ~(mask << at)) | ((v & mask) << at));
      },
    };
  }

  #int(t: IntType): Layout {
    const signed = t.encoding === 'signed';
    const whole = t.offset === 0 && t.bits === t.size * 8;
    const little = this.#little;
    if (whole && t.size === 8) {
      const checked = this.#bits(t.id, 8, 0, 64, signed);
      return {
        size: 8,
        read: (view, offset) => (signed ? view.getBigInt64(offset, little) : view.getBigUint64(offset, little)),
        write: checked.write,
      };
    }
    if (!whole || ![1, 2, 4].includes(t.size)) return this.#bits(t.id, t.size, t.offset, t.bits, signed);
    const min = signed ? -(2 ** (t.bits - 1)) : 0;
    const max = signed ? 2 ** (t.bits - 1) - 1 : 2 ** t.bits - 1;
    const get = t.size === 1 ? (signed ? DataView.prototype.getInt8 : DataView.prototype.getUint8) : t.size === 2 ? (signed ? DataView.prototype.getInt16 : DataView.prototype.getUint16) : signed ? DataView.prototype.getInt32 : DataView.prototype.getUint32;
    const set = t.size === 1 ? DataView.prototype.setUint8 : t.size === 2 ? DataView.prototype.setUint16 : DataView.prototype.setUint32;
    return {
      size: t.size,
      read: (view, offset) => get.call(view, offset, little),
      write: (view, offset, value, path) => {
        const v = typeof value === 'bigint' ? Number(value) : typeof value === 'boolean' ? Number(value) : value;
        if (typeof v !== 'number' || !Number.isInteger(v)) this.#fail(t.id, `expected an integer (${t.name || `${t.bits}-bit int`}), got ${describeValue(value)}`, path);
        if (v < min || v > max) this.#fail(t.id, `${describeValue(value)} is out of range for ${t.name || 'the integer'} (${min}..${max})`, path);
        set.call(view, offset, v < 0 ? v + 2 ** t.bits : v, little);
      },
    };
  }

  #bool(t: IntType): Layout {
    return {
      size: t.size,
      read: (view, offset) => view.getUint8(offset) !== 0,
      write: (view, offset, value, path) => {
        if (typeof value !== 'boolean' && value !== 0 && value !== 1) this.#fail(t.id, `expected a boolean, got ${describeValue(value)}`, path);
        view.setUint8(offset, value ? 1 : 0);
      },
    };
  }

  #enum(t: EnumType): Layout {
    const raw = this.#bits(t.id, t.size, 0, t.size * 8, t.signed);
    const byValue = new Map<bigint, string>();
    for (const v of t.values) if (!byValue.has(v.value)) byValue.set(v.value, v.name);
    const byName = new Map(t.values.map((v) => [v.name, v.value]));
    const label = t.name ? `enum ${t.name}` : 'the enum';
    return {
      size: t.size,
      read: (view, offset) => {
        const v = raw.read(view, offset) as number | bigint;
        return byValue.get(BigInt(v)) ?? v;
      },
      write: (view, offset, value, path) => {
        if (typeof value === 'string') {
          const v = byName.get(value);
          if (v === undefined) this.#fail(t.id, `${label} has no enumerator '${value}' (it has ${t.values.map((e) => e.name).join(', ')})`, path);
          raw.write(view, offset, v, path);
          return;
        }
        raw.write(view, offset, value, path);
      },
    };
  }

  #pointer(id: number): Layout {
    const size = this.btf.sizeOf(id);
    if (size !== 4 && size !== 8) this.#fail(id, `pointers of ${size} bytes are not supported`);
    const bits = this.#bits(id, size, 0, size * 8, false);
    return {
      size,
      read: (view, offset) => BigInt(bits.read(view, offset) as number | bigint),
      write: bits.write,
    };
  }

  #float(t: Extract<BtfType, { kind: 'float' }>): Layout {
    if (t.size !== 4 && t.size !== 8) this.#fail(t.id, `${t.size}-byte floats (${t.name}) are not supported: only 4 and 8 bytes have a JavaScript number form`);
    const little = this.#little;
    return {
      size: t.size,
      read: (view, offset) => (t.size === 4 ? view.getFloat32(offset, little) : view.getFloat64(offset, little)),
      write: (view, offset, value, path) => {
        if (typeof value !== 'number') this.#fail(t.id, `expected a number (${t.name}), got ${describeValue(value)}`, path);
        if (t.size === 4) view.setFloat32(offset, value, little);
        else view.setFloat64(offset, value, little);
      },
    };
  }

  /** Whether `elemType` is C's plain `char` (through const/volatile, not typedefs such as __u8). */
  #isChar(elemType: number): boolean {
    let t = this.btf.typeById(elemType);
    while (t.kind === 'const' || t.kind === 'volatile' || t.kind === 'type_tag') t = this.btf.typeById(t.type);
    return t.kind === 'int' && t.size === 1 && (t.encoding === 'char' || t.name === 'char');
  }

  #array(id: number, elemType: number, count: number): Layout {
    const elem = this.layout(elemType);
    const size = elem.size * count;
    const chars = this.#isChar(elemType);
    return {
      size,
      read: (view, offset) => {
        if (chars) return cString(new Uint8Array(view.buffer, view.byteOffset + offset, count));
        const out: BtfValue[] = new Array<BtfValue>(count);
        for (let i = 0; i < count; i++) out[i] = elem.read(view, offset + i * elem.size);
        return out;
      },
      write: (view, offset, value, path) => {
        if (chars && typeof value === 'string') {
          const bytes = new TextEncoder().encode(value);
          if (bytes.includes(0)) this.#fail(id, `the string contains a NUL byte`, path);
          // As C's `char s[3] = "abc"`: a string that fills the array has no room for, and needs no, NUL.
          if (bytes.length > count) this.#fail(id, `the string takes ${bytes.length} bytes; char[${count}] holds at most ${count}`, path);
          new Uint8Array(view.buffer, view.byteOffset + offset, count).fill(0).set(bytes);
          return;
        }
        if (!Array.isArray(value)) this.#fail(id, `expected an array of ${count}${chars ? ' or a string' : ''}, got ${describeValue(value)}`, path);
        if (value.length !== count) this.#fail(id, `expected ${count} elements, got ${value.length}`, path);
        value.forEach((v, i) => elem.write(view, offset + i * elem.size, v, `${path}[${i}]`));
      },
    };
  }

  /** Members by the name they are accessed with: members of anonymous struct/union members are lifted, offsets adjusted. */
  #flatMembers(t: CompositeType, base: number): Array<{ name: string; type: number; bitOffset: number; bitSize: number }> {
    const out: Array<{ name: string; type: number; bitOffset: number; bitSize: number }> = [];
    for (const m of t.members) {
      const resolved = this.btf.resolve(m.type);
      if (m.name === '' && (resolved.kind === 'struct' || resolved.kind === 'union')) {
        if (resolved.kind === 'union' && t.kind === 'struct') {
          // An anonymous union's alternatives share bytes: keep them together as one group.
          out.push({ name: '', type: m.type, bitOffset: base + m.bitOffset, bitSize: 0 });
          continue;
        }
        out.push(...this.#flatMembers(resolved, base + m.bitOffset));
        continue;
      }
      if (m.name === '') continue; // unnamed padding bitfields (`int :3`) hold nothing
      out.push({ name: m.name, type: m.type, bitOffset: base + m.bitOffset, bitSize: m.bitSize });
    }
    return out;
  }

  #memberLayout(member: { type: number; bitOffset: number; bitSize: number }): { layout: Layout; byteOffset: number } {
    const resolved = this.btf.resolve(member.type);
    if (member.bitSize === 0 && member.bitOffset % 8 === 0) return { layout: this.layout(member.type), byteOffset: member.bitOffset / 8 };
    // A bitfield: the bits live in the bytes from the member's first byte on.
    if (resolved.kind !== 'int' && resolved.kind !== 'enum' && resolved.kind !== 'enum64') this.#fail(member.type, `a bitfield of ${this.btf.describe(member.type)} is not an integer`);
    const bits = member.bitSize || (resolved.kind === 'int' ? resolved.bits : resolved.size * 8);
    const signed = resolved.kind === 'int' ? resolved.encoding === 'signed' : resolved.signed;
    const start = Math.floor(member.bitOffset / 8);
    const shift = member.bitOffset % 8;
    return { layout: this.#bits(member.type, Math.ceil((shift + bits) / 8), shift, bits, signed), byteOffset: start };
  }

  #composite(t: CompositeType): Layout {
    const fields = this.#flatMembers(t, 0).map((m) => {
      if (m.name === '') {
        // A lifted anonymous union inside a struct: its members decode into the parent object.
        const union = this.layout(m.type) as Layout & { keys: readonly string[] };
        return { name: '', keys: union.keys, layout: union, byteOffset: m.bitOffset / 8 };
      }
      return { name: m.name, keys: [m.name], ...this.#memberLayout(m) };
    });
    const names = fields.flatMap((f) => f.keys);
    const union = t.kind === 'union';
    const label = `${t.kind} ${t.name || '(anonymous)'}`;
    const layout: Layout & { keys: readonly string[] } = {
      size: t.size,
      keys: names,
      read: (view, offset) => {
        const out: { [member: string]: BtfValue } = {};
        for (const f of fields) {
          const v = f.layout.read(view, offset + f.byteOffset);
          if (f.name === '') Object.assign(out, v);
          else out[f.name] = v;
        }
        return out;
      },
      write: (view, offset, value, path) => {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) this.#fail(t.id, `expected an object for ${label}, got ${describeValue(value)}`, path);
        const given = value as Record<string, unknown>;
        const unknown = Object.keys(given).filter((k) => !names.includes(k));
        if (unknown.length > 0) this.#fail(t.id, `${label} has no member ${unknown.map((k) => `'${k}'`).join(', ')} (members: ${names.join(', ')})`, path);
        if (union) {
          this.#writeUnion(t.id, fields, view, offset, given, path);
          return;
        }
        for (const f of fields) {
          if (f.name === '') {
            const part = Object.fromEntries(f.keys.filter((k) => k in given).map((k) => [k, given[k]]));
            f.layout.write(view, offset + f.byteOffset, part, path);
            continue;
          }
          if (!(f.name in given)) this.#fail(t.id, `member '${f.name}' of ${label} is missing`, path);
          f.layout.write(view, offset + f.byteOffset, given[f.name], `${path}.${f.name}`);
        }
      },
    };
    return layout;
  }

  /** Unions take one alternative; several are accepted when they encode to the same bytes (as a decoded union does). */
  #writeUnion(id: number, fields: Array<{ name: string; keys: readonly string[]; layout: Layout; byteOffset: number }>, view: DataView, offset: number, given: Record<string, unknown>, path: string): void {
    const size = this.btf.sizeOf(id);
    let written: Uint8Array | undefined;
    let first = '';
    for (const f of fields) {
      const present = f.keys.filter((k) => k in given);
      if (present.length === 0) continue;
      const scratch = new Uint8Array(size);
      const scratchView = new DataView(scratch.buffer);
      if (f.name === '') f.layout.write(scratchView, f.byteOffset, Object.fromEntries(present.map((k) => [k, given[k]])), path);
      else f.layout.write(scratchView, f.byteOffset, given[f.name], `${path}.${f.name}`);
      // Compare only the bytes this alternative covers.
      const end = f.byteOffset + f.layout.size;
      if (written === undefined) {
        written = scratch;
        first = f.name || present.join(', ');
      } else if (!sameBytes(written, scratch, f.byteOffset, end)) {
        this.#fail(id, `union members '${first}' and '${f.name || present.join(', ')}' give different bytes: set one alternative`, path);
      }
    }
    if (written) new Uint8Array(view.buffer, view.byteOffset + offset, size).set(written);
  }

  #datasec(t: Extract<BtfType, { kind: 'datasec' }>): Layout {
    const vars = t.vars.map((v) => {
      const variable = this.btf.typeById(v.type);
      return { name: variable.name, offset: v.offset, layout: this.layout(v.type) };
    });
    const extent = vars.reduce((end, v) => Math.max(end, v.offset + v.layout.size), 0);
    // Size 0 is a section the loader has not sized yet: its variables say how far it reaches.
    const size = t.size === 0 ? extent : t.size;
    const outside = vars.find((v) => v.offset + v.layout.size > size);
    if (outside) this.#fail(t.id, `variable '${outside.name}' of ${t.name} (offset ${outside.offset}, ${outside.layout.size} bytes) ends past the section's ${size} bytes`);
    const names = vars.map((v) => v.name);
    return {
      size,
      read: (view, offset) => Object.fromEntries(vars.map((v) => [v.name, v.layout.read(view, offset + v.offset)])),
      write: (view, offset, value, path) => {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) this.#fail(t.id, `expected an object of ${t.name}'s variables, got ${describeValue(value)}`, path);
        const given = value as Record<string, unknown>;
        const unknown = Object.keys(given).filter((k) => !names.includes(k));
        if (unknown.length > 0) this.#fail(t.id, `${t.name} has no variable ${unknown.map((k) => `'${k}'`).join(', ')} (variables: ${names.join(', ')})`, path);
        for (const v of vars) {
          if (!(v.name in given)) this.#fail(t.id, `variable '${v.name}' of ${t.name} is missing`, path);
          v.layout.write(view, offset + v.offset, given[v.name], `${path}.${v.name}`);
        }
      },
    };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false;
  return true;
}

const utf8 = new TextDecoder('utf-8');

/** C's reading of a char array: the bytes up to the first NUL (all of them when there is none), as UTF-8. */
function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return utf8.decode(bytes.subarray(0, end < 0 ? bytes.length : end));
}

const builders = new WeakMap<Btf, LayoutBuilder>();

/** The codec of type `typeId` of `btf` (layouts are built once per BTF and cached). */
export function btfValueCodec(btf: Btf, typeId: number, what = 'value'): BtfValueCodec {
  if (typeof btf !== 'object' || btf === null || typeof btf.resolve !== 'function') throw new BtfValueError(`expected a Btf (from parseBtf or a collection spec's btf), got ${describeValue(btf)}`, what, 0);
  if (typeof typeId !== 'number' || !Number.isInteger(typeId) || typeId < 0 || typeId >= btf.typeCount) {
    throw new BtfValueError(`the type id must be an integer from 1 to ${btf.typeCount - 1}, got ${describeValue(typeId)}`, what, 0);
  }
  let builder = builders.get(btf);
  if (builder === undefined) {
    builder = new LayoutBuilder(btf);
    builders.set(btf, builder);
  }
  const layout = builder.layout(typeId);
  const size = layout.size;
  return {
    typeId,
    size,
    decode(bytes, offset = 0) {
      if (!(bytes instanceof Uint8Array)) throw new BtfValueError(`expected a Uint8Array to decode, got ${describeValue(bytes)}`, what, typeId);
      if (!Number.isInteger(offset) || offset < 0 || bytes.length - offset < size) throw new BtfValueError(`${bytes.length - offset} bytes at offset ${offset}; ${btf.describe(typeId)} takes ${size}`, what, typeId);
      return layout.read(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset);
    },
    encode(value) {
      const out = new Uint8Array(size);
      layout.write(new DataView(out.buffer), 0, value, what);
      return out;
    },
  };
}

/** Decodes `bytes` (from `offset`) as type `typeId`. */
export function decodeBtfValue(btf: Btf, typeId: number, bytes: Uint8Array, offset = 0): BtfValue {
  return btfValueCodec(btf, typeId).decode(bytes, offset);
}

/** Encodes `value` as type `typeId`. */
export function encodeBtfValue(btf: Btf, typeId: number, value: unknown): Uint8Array {
  return btfValueCodec(btf, typeId).encode(value);
}
