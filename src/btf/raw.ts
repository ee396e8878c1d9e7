/**
 * The text form of `bpftool btf dump file X format raw`, line for line, so
 * outputs can be compared with bpftool's.
 */
import type { Btf } from './btf.ts';
import type { BtfType } from './types.ts';

const quoted = (name: string): string => `'${name === '' ? '(anon)' : name}'`;

const INT_ENCODING: Record<string, string> = { none: '(none)', signed: 'SIGNED', char: 'CHAR', bool: 'BOOL' };

/** One type as bpftool prints it (without the trailing newline). */
export function formatRawType(btf: Btf, t: BtfType): string {
  if (t.kind === 'void') return '[0] VOID';
  let s = `[${t.id}] ${t.kind.toUpperCase()} ${quoted(t.name)}`;
  switch (t.kind) {
    case 'int':
      s += ` size=${t.size} bits_offset=${t.offset} nr_bits=${t.bits} encoding=${INT_ENCODING[t.encoding]}`;
      break;
    case 'ptr':
    case 'const':
    case 'volatile':
    case 'restrict':
    case 'typedef':
    case 'type_tag':
      s += ` type_id=${t.type}`;
      break;
    case 'array':
      s += ` type_id=${t.elemType} index_type_id=${t.indexType} nr_elems=${t.nelems}`;
      break;
    case 'struct':
    case 'union':
      s += ` size=${t.size} vlen=${t.members.length}`;
      for (const m of t.members) {
        s += `\n\t${quoted(m.name)} type_id=${m.type} bits_offset=${m.bitOffset}`;
        if (m.bitSize !== 0) s += ` bitfield_size=${m.bitSize}`;
      }
      break;
    case 'enum':
    case 'enum64':
      s += ` encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}`;
      for (const v of t.values) {
        const suffix = t.kind === 'enum64' ? (t.signed ? 'LL' : 'ULL') : '';
        s += `\n\t${quoted(v.name)} val=${v.value}${suffix}`;
      }
      break;
    case 'fwd':
      s += ` fwd_kind=${t.fwdKind}`;
      break;
    case 'func':
      s += ` type_id=${t.type} linkage=${t.linkage}`;
      break;
    case 'func_proto':
      s += ` ret_type_id=${t.returnType} vlen=${t.params.length}`;
      for (const p of t.params) s += `\n\t${quoted(p.name)} type_id=${p.type}`;
      break;
    case 'var':
      s += ` type_id=${t.type}, linkage=${t.linkage}`;
      break;
    case 'datasec':
      s += ` size=${t.size} vlen=${t.vars.length}`;
      for (const v of t.vars) {
        s += `\n\ttype_id=${v.type} offset=${v.offset} size=${v.size}`;
        const vt = btf.typeAt(v.type);
        if (vt !== undefined) s += ` (${vt.kind.toUpperCase()} ${quoted(vt.name)})`;
      }
      break;
    case 'float':
      s += ` size=${t.size}`;
      break;
    case 'decl_tag':
      s += ` type_id=${t.type} component_idx=${t.componentIdx}`;
      break;
  }
  return s;
}

/** All of this BTF's own types (split BTF: not the base's), one per line, or the selected ids. */
export function formatRaw(btf: Btf, options: { typeIds?: number[] } = {}): string {
  const ids = options.typeIds ?? Array.from({ length: btf.types.length - btf.startId }, (_, i) => btf.startId + i);
  let out = '';
  for (const id of ids) out += `${formatRawType(btf, btf.typeById(id))}\n`;
  return out;
}
