/**
 * Test helper: hand-built BTF blobs (raw type words and a string section),
 * a seed blob with one type of every kind, and the byte mutations the BTF
 * fuzzers apply to such blobs.
 */
import { type BtfType, createBtf } from '../../src/btf/index.ts';

export const KIND = { int: 1, ptr: 2, array: 3, struct: 4, union: 5, enum: 6, typedef: 8, const: 10, func: 12, func_proto: 13 } as const;

/** A BTF blob from raw type words and a string section. */
export function blob(typeWords: number[], strings = '\0int\0s\0', patch?: (view: DataView) => void): Uint8Array {
  const strBytes = new TextEncoder().encode(strings);
  const out = new Uint8Array(24 + typeWords.length * 4 + strBytes.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, typeWords.length * 4, true);
  v.setUint32(16, typeWords.length * 4, true);
  v.setUint32(20, strBytes.length, true);
  typeWords.forEach((w, i) => v.setUint32(24 + i * 4, w >>> 0, true));
  out.set(strBytes, 24 + typeWords.length * 4);
  patch?.(v);
  return out;
}
export const info = (kind: number, vlen = 0, kflag = 0): number => ((kflag << 31) | (kind << 24) | vlen) >>> 0;
/** [1] int 'int' size 4, 32 bits signed. */
export const INT = [1, info(KIND.int), 4, (1 << 24) | 32];

/** Applies 1-4 random byte, word, bit or truncation mutations to a copy of `seedBlob`. */
export function mutateBlob(seedBlob: Uint8Array, random: () => number): Uint8Array {
  const interesting = [0, 1, 2, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 24, 12, 0x04000001, 0x80000003];
  const bytes = seedBlob.slice();
  const view = new DataView(bytes.buffer);
  const mutations = 1 + Math.floor(random() * 4);
  let length = bytes.length;
  for (let m = 0; m < mutations; m++) {
    const choice = random();
    const pos = Math.floor(random() * bytes.length);
    if (choice < 0.4) bytes[pos] = Math.floor(random() * 256);
    else if (choice < 0.8 && pos + 4 <= bytes.length) view.setUint32(pos & ~3, interesting[Math.floor(random() * interesting.length)]!, true);
    else if (choice < 0.9) bytes[pos] ^= 1 << Math.floor(random() * 8);
    else length = Math.floor(random() * bytes.length);
  }
  return bytes.subarray(0, length);
}

/** One type of every kind, encoded. */
export function syntheticSeed(): Uint8Array {
  const types: BtfType[] = [
    { id: 1, kind: 'int', name: 'int', size: 4, encoding: 'signed', offset: 0, bits: 32 },
    { id: 2, kind: 'ptr', name: '', type: 3 },
    { id: 3, kind: 'struct', name: 'node', size: 24, bitfieldEncoding: true, members: [
      { name: 'next', type: 2, bitOffset: 0, bitSize: 0 },
      { name: 'a', type: 1, bitOffset: 64, bitSize: 3 },
      { name: 'arr', type: 4, bitOffset: 96, bitSize: 0 },
    ] },
    { id: 4, kind: 'array', name: '', elemType: 1, indexType: 1, nelems: 3 },
    { id: 5, kind: 'enum', name: 'e', size: 4, signed: false, values: [{ name: 'X', value: 1n }] },
    { id: 6, kind: 'typedef', name: 'node_t', type: 3 },
    { id: 7, kind: 'const', name: '', type: 6 },
    { id: 8, kind: 'func_proto', name: '', returnType: 1, params: [{ name: 'n', type: 2 }] },
    { id: 9, kind: 'func', name: 'f', type: 8, linkage: 'global' },
    { id: 10, kind: 'var', name: 'v', type: 7, linkage: 'global' },
    { id: 11, kind: 'datasec', name: '.data', size: 0, vars: [{ type: 10, offset: 0, size: 24 }] },
    { id: 12, kind: 'enum64', name: 'e64', size: 8, signed: true, values: [{ name: 'Y', value: -5n }] },
    { id: 13, kind: 'decl_tag', name: 'tag', type: 3, componentIdx: 1, attribute: false },
    { id: 14, kind: 'union', name: 'u', size: 8, bitfieldEncoding: false, members: [{ name: 'p', type: 2, bitOffset: 0, bitSize: 0 }] },
    { id: 15, kind: 'fwd', name: 'opaque', fwdKind: 'union' },
    { id: 16, kind: 'float', name: 'double', size: 8 },
  ];
  return createBtf(types).encode();
}
