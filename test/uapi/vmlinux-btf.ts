// A minimal reader of the kernel's raw BTF (/sys/kernel/btf/vmlinux), enough
// for the uapi tests to compare our tables with the running kernel: enum
// values and struct member offsets/sizes. Independent of src/btf on purpose,
// so the tables are checked against a second implementation.
import { readFileSync } from 'node:fs';

const KIND = { INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19 } as const;

interface RawType {
  kind: number;
  name: string;
  sizeOrType: number;
  vlen: number;
  kflag: boolean;
  /** Offset of the kind-specific data following the 12-byte header. */
  extra: number;
}

export interface BtfMember {
  name: string;
  /** Byte offset (bitfields: bit offset / 8, rounded down). */
  offset: number;
  size: number;
}

export class VmlinuxBtf {
  private readonly view: DataView;
  private readonly types: RawType[] = [{ kind: 0, name: '', sizeOrType: 0, vlen: 0, kflag: false, extra: 0 }];
  private readonly byName = new Map<string, number[]>();
  private readonly str: (offset: number) => string;

  constructor(path = '/sys/kernel/btf/vmlinux') {
    const bytes = readFileSync(path);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const v = this.view;
    if (v.getUint16(0, true) !== 0xeb9f) throw new Error(`${path}: not little-endian BTF`);
    const hdrLen = v.getUint32(4, true);
    const typeOff = hdrLen + v.getUint32(8, true);
    const typeLen = v.getUint32(12, true);
    const strOff = hdrLen + v.getUint32(16, true);
    const str = (off: number): string => {
      let end = strOff + off;
      while (bytes[end] !== 0) end++;
      return bytes.toString('latin1', strOff + off, end);
    };
    this.str = str;
    let p = typeOff;
    while (p < typeOff + typeLen) {
      const info = v.getUint32(p + 4, true);
      const t: RawType = { kind: (info >>> 24) & 0x1f, name: str(v.getUint32(p, true)), sizeOrType: v.getUint32(p + 8, true), vlen: info & 0xffff, kflag: info >>> 31 === 1, extra: p + 12 };
      p += 12 + extraSize(t);
      const id = this.types.length;
      this.types.push(t);
      if (t.name !== '') {
        const ids = this.byName.get(t.name);
        if (ids) ids.push(id);
        else this.byName.set(t.name, [id]);
      }
    }
  }

  /** Values of `enum <name>` (or of the anonymous enum declaring `member` when name is undefined). */
  enumValues(name: string | undefined, member?: string): Map<string, bigint> {
    const candidates = name !== undefined ? (this.byName.get(name) ?? []) : this.types.map((_, i) => i);
    for (const id of candidates) {
      const t = this.types[id]!;
      if (t.kind !== KIND.ENUM && t.kind !== KIND.ENUM64) continue;
      if (name === undefined && t.name !== '') continue;
      const values = new Map<string, bigint>();
      for (let i = 0; i < t.vlen; i++) {
        if (t.kind === KIND.ENUM) {
          const at = t.extra + i * 8;
          const raw = t.kflag ? BigInt(this.view.getInt32(at + 4, true)) : BigInt(this.view.getUint32(at + 4, true));
          values.set(this.nameAt(at), raw);
        } else {
          const at = t.extra + i * 12;
          values.set(this.nameAt(at), (BigInt(this.view.getUint32(at + 8, true)) << 32n) | BigInt(this.view.getUint32(at + 4, true)));
        }
      }
      if (member === undefined || values.has(member)) return values;
    }
    throw new Error(`BTF has no enum ${name ?? `declaring ${member}`}`);
  }

  private nameAt(memberAt: number): string {
    return this.str(this.view.getUint32(memberAt, true));
  }

  /** Size and flattened named members (anonymous struct/union members expanded) of `struct <name>`. */
  struct(name: string): { size: number; members: BtfMember[] } {
    const id = (this.byName.get(name) ?? []).find((i) => this.types[i]!.kind === KIND.STRUCT && this.types[i]!.vlen > 0);
    if (id === undefined) throw new Error(`BTF has no struct ${name}`);
    return { size: this.types[id]!.sizeOrType, members: this.members(id, 0) };
  }

  private members(id: number, base: number): BtfMember[] {
    const t = this.types[id]!;
    const out: BtfMember[] = [];
    for (let i = 0; i < t.vlen; i++) {
      const at = t.extra + i * 12;
      const name = this.nameAt(at);
      const type = this.view.getUint32(at + 4, true);
      const rawOffset = this.view.getUint32(at + 8, true);
      const bitOffset = t.kflag ? rawOffset & 0xffffff : rawOffset;
      const offset = base + Math.floor(bitOffset / 8);
      const resolved = this.resolve(type);
      if (name === '') {
        if (resolved.kind === KIND.STRUCT || resolved.kind === KIND.UNION) out.push(...this.members(this.resolveId(type), offset));
        continue;
      }
      out.push({ name, offset, size: this.sizeOf(type) });
    }
    return out;
  }

  private resolveId(id: number): number {
    let t = this.types[id]!;
    while ([KIND.TYPEDEF, KIND.VOLATILE, KIND.CONST, KIND.RESTRICT, KIND.TYPE_TAG].includes(t.kind as 8)) {
      id = t.sizeOrType;
      t = this.types[id]!;
    }
    return id;
  }

  private resolve(id: number): RawType {
    return this.types[this.resolveId(id)]!;
  }

  private sizeOf(id: number): number {
    const t = this.resolve(id);
    if (t.kind === KIND.PTR) return 8;
    if (t.kind === KIND.ARRAY) return this.sizeOf(this.view.getUint32(t.extra, true)) * this.view.getUint32(t.extra + 8, true);
    return t.sizeOrType;
  }
}

function extraSize(t: RawType): number {
  switch (t.kind) {
    case KIND.INT:
    case KIND.VAR:
    case KIND.DECL_TAG:
      return 4;
    case KIND.ARRAY:
      return 12;
    case KIND.STRUCT:
    case KIND.UNION:
    case KIND.DATASEC:
    case KIND.ENUM64:
      return t.vlen * 12;
    case KIND.ENUM:
    case KIND.FUNC_PROTO:
      return t.vlen * 8;
    default:
      return 0;
  }
}
