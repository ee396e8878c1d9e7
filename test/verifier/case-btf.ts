/**
 * BTF for assembly verifier cases that declare their functions: FUNC and
 * FUNC_PROTO types (global or static, with `arg:` decl tags) and the
 * func_info records, for tsbpf's verifier (a ProgramSpec) and for the
 * kernel (BPF_BTF_LOAD + func_info), so both see the same prototypes.
 */
import { type Btf, type BtfType, type FuncInfo, createBtf } from '../../src/btf/index.ts';

/** A C type a case may use: `int`, `u64`, `void`, `T *`, `struct NAME` (struct pair is {int a; int b;}, others are empty). */
export type CaseType = string;

export interface CaseFunction {
  /** First instruction of the function (the entry function is at 0). */
  at: number;
  name: string;
  global?: boolean;
  /** Default `int`. */
  returns?: CaseType;
  params?: { type: CaseType; tags?: string[] }[];
}

export function caseBtf(functions: readonly CaseFunction[]): { btf: Btf; funcInfo: FuncInfo[] } {
  const types: BtfType[] = [{ id: 0, kind: 'void', name: '' }];
  const byName = new Map<string, number>();
  type NewType = BtfType extends infer T ? (T extends BtfType ? Omit<T, 'id'> : never) : never;
  const add = (t: NewType): number => {
    const id = types.length;
    types.push({ ...t, id } as BtfType);
    return id;
  };
  const typeId = (spec: string): number => {
    const s = spec.trim();
    const known = byName.get(s);
    if (known !== undefined) return known;
    let id: number;
    if (s === 'void') return 0;
    if (s.endsWith('*')) id = add({ kind: 'ptr', name: '', type: typeId(s.slice(0, -1)) });
    else if (s === 'int') id = add({ kind: 'int', name: 'int', size: 4, encoding: 'signed', offset: 0, bits: 32 });
    else if (s === 'u64') id = add({ kind: 'int', name: 'long long unsigned int', size: 8, encoding: 'none', offset: 0, bits: 64 });
    else if (s === 'struct pair') {
      const int = typeId('int');
      id = add({ kind: 'struct', name: 'pair', size: 8, bitfieldEncoding: false, members: [{ name: 'a', type: int, bitOffset: 0, bitSize: 0 }, { name: 'b', type: int, bitOffset: 32, bitSize: 0 }] });
    } else if (s.startsWith('struct ')) id = add({ kind: 'struct', name: s.slice(7), size: 0, bitfieldEncoding: false, members: [] });
    else throw new Error(`case BTF: unknown type '${spec}'`);
    byName.set(s, id);
    return id;
  };
  const funcInfo: FuncInfo[] = [];
  for (const f of functions) {
    const params = (f.params ?? []).map((p, i) => ({ name: `a${i}`, type: typeId(p.type) }));
    const proto = add({ kind: 'func_proto', name: '', returnType: typeId(f.returns ?? 'int'), params });
    const func = add({ kind: 'func', name: f.name, type: proto, linkage: f.global ? 'global' : 'static' });
    (f.params ?? []).forEach((p, i) => {
      for (const tag of p.tags ?? []) add({ kind: 'decl_tag', name: `arg:${tag}`, type: func, componentIdx: i, attribute: false });
    });
    funcInfo.push({ insnIndex: f.at, typeId: func });
  }
  return { btf: createBtf(types.slice(1)), funcInfo };
}

/** func_info records as BPF_PROG_LOAD takes them: insn_off and type_id, 8 bytes each. */
export function funcInfoBytes(funcInfo: readonly FuncInfo[]): Uint8Array {
  const out = new Uint8Array(funcInfo.length * 8);
  const view = new DataView(out.buffer);
  funcInfo.forEach((f, i) => {
    view.setUint32(i * 8, f.insnIndex, true);
    view.setUint32(i * 8 + 4, f.typeId, true);
  });
  return out;
}
