/**
 * Finds type ids by name and kind in the kernel's BTF (/sys/kernel/btf/vmlinux)
 * without building a full type graph: attaching fentry/fexit, tp_btf and LSM
 * programs only needs the id of one FUNC or TYPEDEF. The whole name index is
 * built once (one pass over ~100k types) and cached.
 */
import { readFileSync } from 'node:fs';
import { NotSupportedError } from './errors.ts';

export const BtfKindNumber = { INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19 } as const;

const VMLINUX = '/sys/kernel/btf/vmlinux';
let index: Map<string, number> | undefined;

/** Bytes following struct btf_type for each kind, given vlen. */
function extraSize(kind: number, vlen: number): number {
  switch (kind) {
    case BtfKindNumber.INT: return 4;
    case BtfKindNumber.ARRAY: return 12;
    case BtfKindNumber.STRUCT:
    case BtfKindNumber.UNION: return 12 * vlen;
    case BtfKindNumber.ENUM: return 8 * vlen;
    case BtfKindNumber.FUNC_PROTO: return 8 * vlen;
    case BtfKindNumber.VAR: return 4;
    case BtfKindNumber.DATASEC: return 12 * vlen;
    case BtfKindNumber.DECL_TAG: return 4;
    case BtfKindNumber.ENUM64: return 12 * vlen;
    default: return 0;
  }
}

function buildIndex(): Map<string, number> {
  let data: Buffer;
  try {
    data = readFileSync(VMLINUX);
  } catch {
    throw new NotSupportedError(`the kernel has no BTF (${VMLINUX} is missing): fentry/fexit, tp_btf and LSM programs need CONFIG_DEBUG_INFO_BTF`);
  }
  const hdrLen = data.readUInt32LE(4);
  const typeOff = hdrLen + data.readUInt32LE(8);
  const typeLen = data.readUInt32LE(12);
  const strOff = hdrLen + data.readUInt32LE(16);
  const names = new Map<string, number>();
  let id = 1;
  for (let off = typeOff; off < typeOff + typeLen; id++) {
    const nameOff = data.readUInt32LE(off);
    const info = data.readUInt32LE(off + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    if (nameOff !== 0) {
      const start = strOff + nameOff;
      const name = data.toString('latin1', start, data.indexOf(0, start));
      const key = `${kind}:${name}`;
      if (!names.has(key)) names.set(key, id);
    }
    off += 12 + extraSize(kind, vlen);
  }
  return names;
}

/** The vmlinux BTF id of the type `name` of `kind`, or undefined. */
export function vmlinuxTypeId(name: string, kind: number): number | undefined {
  index ??= buildIndex();
  return index.get(`${kind}:${name}`);
}
