/**
 * CO-RE relocation resolution and instruction patching, following libbpf's
 * relo_core.c rule for rule: candidate target types by essential name
 * (`___flavor` suffixes ignored), access-string walks through members and
 * array elements, member matching by name through anonymous members,
 * bpf_core_fields_are_compat / types_are_compat / types_match, bitfield
 * load sizes and shifts, agreement across candidates, poisoning of
 * relocations that cannot be satisfied, and validation of the instruction's
 * expected value before patching.
 */
import { readFile } from '../host/node.ts';
import { TsbpfError } from '../errors.ts';
import { InsnClass, OPCODE_CALL, OPCODE_LDDW, SOURCE_MASK, Size, Source, opClass } from '../isa/opcodes.ts';
import type { Instruction } from '../isa/instruction.ts';
import { type Btf, essentialName, essentialNameLength, parseBtf } from './btf.ts';
import type { CoreRelocation, CoreRelocationKind } from './ext.ts';
import { type BtfType, BtfError, type CompositeType, isComposite, isEnum } from './types.ts';

/** A relocation that libbpf would refuse (as opposed to poison): the whole load fails. */
export class CoreRelocationError extends BtfError {
  override name = 'CoreRelocationError';
}

/** imm of the `call` that replaces an unresolvable instruction (0xbad2310, "bad relo"), as libbpf does. */
export const POISON_CALL_IMM = 195896080;
/** BPF_CORE_SPEC_MAX_LEN. */
const SPEC_MAX_LEN = 64;
/** libbpf's recursion limit for type compatibility checks. */
const COMPAT_LEVEL = 32;

interface Accessor {
  /** Struct/union (named accessor) or array element type (index accessor). */
  typeId: number;
  idx: number;
  /** Field or enumerator name; undefined for array index accessors. */
  name?: string;
}

/** libbpf's bpf_core_spec: high-level accessors, raw access indexes and the bit offset they lead to. */
interface Spec {
  btf: Btf;
  rootTypeId: number;
  kind: CoreRelocationKind;
  accessors: Accessor[];
  raw: number[];
  bitOffset: number;
}

export interface CoreRelocationResult {
  kind: CoreRelocationKind;
  /** The value the compiler put in the instruction (what the local BTF says). */
  localValue: bigint;
  /** The value for the target (0 when poisoned). */
  targetValue: bigint;
  /** The instruction must be replaced by the poison call. */
  poison: boolean;
  /** Why the relocation poisons, or notes about the match. */
  reason?: string;
  /** Whether the instruction's current value must equal localValue before patching. */
  validate: boolean;
  /** Field sizes for load/store size adjustment (byte offset relocations on non-bitfields; 0 otherwise). */
  localSize: number;
  targetSize: number;
  /** Load/store size would change in a way that cannot preserve the value: poison LDX/ST/STX. */
  failMemSizeAdjust: boolean;
  /** Human-readable local spec, e.g. `[5] STRUCT task_struct.pid (0:18 @ offset 2456)`. */
  localSpec: string;
  /** The matched target spec, when a candidate matched. */
  targetSpec?: string;
  /** Target type id of the matched root (0 when none). */
  targetTypeId: number;
  /** Number of target candidates considered / matching. */
  candidates: number;
  matches: number;
}

const isFieldBased = (k: CoreRelocationKind): boolean => k.startsWith('field_');
const isTypeBased = (k: CoreRelocationKind): boolean => k.startsWith('type_');
const isEnumValueBased = (k: CoreRelocationKind): boolean => k === 'enum_value_exists' || k === 'enum_value';


/** btf_kind_core_compat: same kind, with ENUM and ENUM64 interchangeable. */
function kindsCompatible(a: BtfType, b: BtfType): boolean {
  return a.kind === b.kind || (isEnum(a) && isEnum(b));
}

function describeSpec(spec: Spec): string {
  const root = spec.btf.typeById(spec.rootTypeId);
  let s = `[${spec.rootTypeId}] ${root.kind.toUpperCase()} ${root.name === '' ? '<anon>' : root.name}`;
  if (isTypeBased(spec.kind)) return s;
  if (isEnumValueBased(spec.kind)) {
    const acc = spec.accessors[0];
    const t = acc ? spec.btf.typeById(acc.typeId) : undefined;
    if (acc && t && isEnum(t)) s += `::${t.values[acc.idx]!.name} = ${t.values[acc.idx]!.value}`;
    return s;
  }
  spec.accessors.forEach((a, i) => {
    if (a.name !== undefined) s += `.${a.name}`;
    else if (i > 0 || a.idx > 0) s += `[${a.idx}]`;
  });
  const off = spec.bitOffset % 8 ? `${Math.floor(spec.bitOffset / 8)}.${spec.bitOffset % 8}` : `${spec.bitOffset / 8}`;
  return `${s} (${spec.raw.join(':')} @ offset ${off})`;
}

function isFlexArray(btf: Btf, parent: Accessor | undefined, nelems: number): boolean {
  if (parent?.name === undefined || nelems > 0) return false;
  const t = btf.typeById(parent.typeId);
  return isComposite(t) && parent.idx === t.members.length - 1;
}

/** btf__resolve_size, as a CO-RE error when the type has none. */
function sizeFor(btf: Btf, id: number, what: string): number {
  try {
    return btf.sizeOf(id);
  } catch (err) {
    throw new CoreRelocationError(`${what}: ${(err as Error).message}`, { typeId: id });
  }
}

/** bpf_core_parse_spec. */
function parseSpec(btf: Btf, relo: CoreRelocation): Spec {
  const where = `CO-RE relocation of [${relo.typeId}] ${btf.describe(relo.typeId)} access '${relo.accessString}' (${relo.kind})`;
  const fail = (problem: string): never => {
    throw new CoreRelocationError(`${where}: ${problem}`, { typeId: relo.typeId });
  };
  const spec: Spec = { btf, rootTypeId: relo.typeId, kind: relo.kind, accessors: [], raw: [], bitOffset: 0 };
  if (!/^\d+(:\d+)*$/.test(relo.accessString)) fail('malformed access string');
  if (isTypeBased(relo.kind)) {
    if (relo.accessString !== '0') fail("type-based relocations must have access string '0'");
    return spec;
  }
  spec.raw = relo.accessString.split(':').map(Number);
  if (spec.raw.length > SPEC_MAX_LEN) fail(`access string longer than ${SPEC_MAX_LEN}`);
  if (spec.raw.some((n) => n > 0x7fffffff)) fail('access index out of range');
  let t = btf.resolve(relo.typeId);
  let id = t.id;
  const first = spec.raw[0]!;
  spec.accessors.push({ typeId: id, idx: first });
  if (isEnumValueBased(relo.kind)) {
    if (!isEnum(t) || spec.raw.length > 1 || first >= t.values.length) fail('does not name an enumerator');
    if (isEnum(t)) spec.accessors[0]!.name = t.values[first]!.name;
    return spec;
  }
  if (!isFieldBased(relo.kind)) fail('unknown relocation kind');
  spec.bitOffset = first * sizeFor(btf, id, where) * 8;
  for (let i = 1; i < spec.raw.length; i++) {
    t = btf.resolve(id);
    id = t.id;
    const idx = spec.raw[i]!;
    if (isComposite(t)) {
      if (idx >= t.members.length) fail(`member index ${idx} is out of range for ${btf.describe(id)} (${t.members.length} members)`);
      const m = t.members[idx]!;
      spec.bitOffset += m.bitOffset;
      if (m.name !== '') spec.accessors.push({ typeId: id, idx, name: m.name });
      id = m.type;
    } else if (t.kind === 'array') {
      const elem = btf.resolve(t.elemType);
      const parent = spec.accessors[spec.accessors.length - 1];
      if (!isFlexArray(btf, parent, t.nelems) && idx >= t.nelems) fail(`array index ${idx} is out of range (${t.nelems} elements)`);
      id = elem.id;
      spec.accessors.push({ typeId: id, idx });
      spec.bitOffset += idx * sizeFor(btf, id, where) * 8;
    } else {
      fail(`access index ${i} reaches [${id}] ${t.kind.toUpperCase()}, which has no members or elements`);
    }
  }
  return spec;
}

/** bpf_core_fields_are_compat. */
function fieldsCompatible(local: Btf, localId: number, target: Btf, targetId: number): boolean {
  for (let depth = 0; depth < COMPAT_LEVEL * 4; depth++) {
    const l = local.resolve(localId);
    const t = target.resolve(targetId);
    if (isComposite(l) && isComposite(t)) return true;
    if (!kindsCompatible(l, t)) return false;
    switch (l.kind) {
      case 'ptr':
      case 'float':
        return true;
      case 'fwd':
      case 'enum':
      case 'enum64': {
        const ln = essentialNameLength(l.name);
        const tn = essentialNameLength(t.name);
        return ln === 0 || tn === 0 || (ln === tn && l.name.slice(0, ln) === t.name.slice(0, tn));
      }
      case 'int':
        return l.offset === 0 && t.kind === 'int' && t.offset === 0;
      case 'array':
        if (t.kind !== 'array') return false;
        localId = l.elemType;
        targetId = t.elemType;
        break;
      default:
        return false;
    }
  }
  throw new CoreRelocationError(`field type compatibility check of [${localId}] and target [${targetId}] nests too deeply`);
}

/** bpf_core_types_are_compat (libbpf's __bpf_core_types_are_compat with level 32). */
export function coreTypesAreCompatible(local: Btf, localId: number, target: Btf, targetId: number, level = COMPAT_LEVEL): boolean {
  if (!kindsCompatible(local.typeById(localId), target.typeById(targetId))) return false;
  for (let depth = 32; ; ) {
    if (--depth < 0) throw new CoreRelocationError(`type compatibility check of [${localId}] and target [${targetId}] nests too deeply`);
    const l = local.resolve(localId);
    const t = target.resolve(targetId);
    if (!kindsCompatible(l, t)) return false;
    switch (l.kind) {
      case 'void':
      case 'struct':
      case 'union':
      case 'enum':
      case 'enum64':
      case 'fwd':
        return true;
      case 'int':
        return l.offset === 0 && t.kind === 'int' && t.offset === 0;
      case 'ptr':
        localId = l.type;
        targetId = (t as typeof l).type;
        break;
      case 'array':
        localId = l.elemType;
        targetId = (t as typeof l).elemType;
        break;
      case 'func_proto': {
        const tp = t as typeof l;
        if (l.params.length !== tp.params.length) return false;
        for (let i = 0; i < l.params.length; i++) {
          if (level <= 0) throw new CoreRelocationError(`type compatibility check of [${localId}] and target [${targetId}] nests too deeply`);
          if (!coreTypesAreCompatible(local, local.resolveId(l.params[i]!.type), target, target.resolveId(tp.params[i]!.type), level - 1)) return false;
        }
        localId = local.resolveId(l.returnType);
        targetId = target.resolveId(tp.returnType);
        break;
      }
      default:
        return false;
    }
  }
}

/** bpf_core_names_match: essential names equal; an anonymous target only matches an anonymous local. */
function namesMatch(localName: string, targetName: string): boolean {
  if (targetName === '') return localName === '';
  const tl = essentialNameLength(targetName);
  const ll = essentialNameLength(localName);
  return tl === ll && localName.slice(0, ll) === targetName.slice(0, tl);
}

/** bpf_core_types_match (libbpf's __bpf_core_types_match), used by type_matches relocations. */
export function coreTypesMatch(local: Btf, localId: number, target: Btf, targetId: number, behindPtr = false, level = COMPAT_LEVEL): boolean {
  const tooDeep = (): never => {
    throw new CoreRelocationError(`type match check of [${localId}] and target [${targetId}] nests too deeply`);
  };
  if (level <= 0) tooDeep();
  for (let depth = 32; ; ) {
    if (--depth < 0) tooDeep();
    const l = local.resolve(localId);
    const t = target.resolve(targetId);
    if (!namesMatch(l.name, t.name)) return false;
    switch (l.kind) {
      case 'void':
        return t.kind === 'void';
      case 'fwd': {
        const localUnion = l.fwdKind === 'union';
        if (t.kind === 'fwd') return localUnion === (t.fwdKind === 'union');
        if (!behindPtr) return false;
        return (t.kind === 'struct' && !localUnion) || (t.kind === 'union' && localUnion);
      }
      case 'enum':
      case 'enum64': {
        if (!isEnum(t) || l.size !== t.size || l.values.length > t.values.length) return false;
        return l.values.every((lv) => t.values.some((tv) => namesMatch(lv.name, tv.name)));
      }
      case 'struct':
      case 'union': {
        if (behindPtr) {
          if (l.kind === t.kind) return true;
          return t.kind === 'fwd' && (l.kind === 'union') === (t.fwdKind === 'union');
        }
        if (l.kind !== t.kind) return false;
        const tc = t as CompositeType;
        if (l.members.length > tc.members.length) return false;
        for (const lm of l.members) {
          let matched = false;
          for (const tm of tc.members) {
            if (!namesMatch(lm.name, tm.name)) continue;
            if (coreTypesMatch(local, lm.type, target, tm.type, behindPtr, level - 1)) {
              matched = true;
              break;
            }
          }
          if (!matched) return false;
        }
        return true;
      }
      case 'int':
        return t.kind === 'int' && l.size === t.size && (l.encoding === 'signed') === (t.encoding === 'signed');
      case 'ptr':
        if (t.kind !== 'ptr') return false;
        behindPtr = true;
        localId = l.type;
        targetId = t.type;
        break;
      case 'array':
        if (t.kind !== 'array' || l.nelems !== t.nelems) return false;
        localId = l.elemType;
        targetId = t.elemType;
        break;
      case 'func_proto': {
        if (t.kind !== 'func_proto' || l.params.length !== t.params.length) return false;
        for (let i = 0; i < l.params.length; i++) {
          if (!coreTypesMatch(local, l.params[i]!.type, target, t.params[i]!.type, behindPtr, level - 1)) return false;
        }
        localId = l.returnType;
        targetId = t.returnType;
        break;
      }
      default:
        return false;
    }
  }
}

/** bpf_core_match_member: finds the local accessor's field in target `targetId`, descending into anonymous members. */
function matchMember(local: Btf, acc: Accessor, target: Btf, targetId: number, spec: Spec, next: { id: number }): boolean {
  const t = target.resolve(targetId);
  if (!isComposite(t)) return false;
  const localType = local.typeById(acc.typeId) as CompositeType;
  const localMember = localType.members[acc.idx]!;
  for (let i = 0; i < t.members.length; i++) {
    const m = t.members[i]!;
    if (spec.raw.length === SPEC_MAX_LEN) throw new CoreRelocationError(`target [${t.id}] nests struct/union/array members more than ${SPEC_MAX_LEN} deep`, { typeId: t.id });
    spec.bitOffset += m.bitOffset;
    spec.raw.push(i);
    if (m.name === '') {
      if (matchMember(local, acc, target, m.type, spec, next)) return true;
    } else if (m.name === localMember.name) {
      spec.accessors.push({ typeId: t.id, idx: i, name: m.name });
      next.id = m.type;
      const found = fieldsCompatible(local, localMember.type, target, m.type);
      if (!found) spec.accessors.pop();
      return found;
    }
    spec.bitOffset -= m.bitOffset;
    spec.raw.pop();
  }
  return false;
}

/** bpf_core_spec_match: 1 when `targetId` matches the local spec, filling `out`. */
function matchSpec(localSpec: Spec, target: Btf, targetId: number): Spec | undefined {
  const out: Spec = { btf: target, rootTypeId: targetId, kind: localSpec.kind, accessors: [], raw: [], bitOffset: 0 };
  const local = localSpec.btf;
  if (isTypeBased(localSpec.kind)) {
    const ok =
      localSpec.kind === 'type_matches'
        ? coreTypesMatch(local, localSpec.rootTypeId, target, targetId)
        : coreTypesAreCompatible(local, localSpec.rootTypeId, target, targetId);
    return ok ? out : undefined;
  }
  if (isEnumValueBased(localSpec.kind)) {
    const t = target.resolve(targetId);
    if (!isEnum(t)) return undefined;
    const localName = localSpec.accessors[0]!.name!;
    const ll = essentialNameLength(localName);
    for (let i = 0; i < t.values.length; i++) {
      const name = t.values[i]!.name;
      if (essentialNameLength(name) === ll && name.slice(0, ll) === localName.slice(0, ll)) {
        out.accessors.push({ typeId: t.id, idx: i, name });
        out.raw.push(i);
        return out;
      }
    }
    return undefined;
  }
  const next = { id: targetId };
  for (let i = 0; i < localSpec.accessors.length; i++) {
    const acc = localSpec.accessors[i]!;
    const targetType = target.resolve(next.id);
    next.id = targetType.id;
    if (acc.name !== undefined) {
      if (!matchMember(local, acc, target, next.id, out, next)) return undefined;
    } else {
      if (i > 0) {
        if (targetType.kind !== 'array') return undefined;
        if (!isFlexArray(target, out.accessors[out.accessors.length - 1], targetType.nelems) && acc.idx >= targetType.nelems) return undefined;
        next.id = target.resolveId(targetType.elemType);
      }
      if (out.raw.length === SPEC_MAX_LEN) throw new CoreRelocationError(`target [${targetId}] nests struct/union/array members more than ${SPEC_MAX_LEN} deep`, { typeId: targetId });
      out.accessors.push({ typeId: next.id, idx: acc.idx });
      out.raw.push(acc.idx);
      out.bitOffset += acc.idx * sizeFor(target, next.id, 'CO-RE target array element') * 8;
    }
  }
  return out;
}

interface FieldValue {
  value: bigint;
  size: number;
  typeId: number;
  validate: boolean;
}

/** bpf_core_calc_field_relo; undefined requests poisoning. */
function fieldValue(spec: Spec | undefined, relo: CoreRelocation, bigEndian: boolean): FieldValue | undefined {
  const result: FieldValue = { value: 0n, size: 0, typeId: 0, validate: true };
  if (relo.kind === 'field_exists') {
    result.value = spec ? 1n : 0n;
    return result;
  }
  if (!spec) return undefined;
  const btf = spec.btf;
  const acc = spec.accessors[spec.accessors.length - 1]!;
  const where = `CO-RE ${relo.kind} relocation at instruction ${relo.insnIndex}`;
  if (acc.name === undefined) {
    const size = sizeFor(btf, acc.typeId, where);
    if (relo.kind === 'field_byte_offset') {
      result.value = BigInt(spec.bitOffset / 8);
      result.size = size;
      result.typeId = acc.typeId;
    } else if (relo.kind === 'field_byte_size') {
      result.value = BigInt(size);
    } else {
      throw new CoreRelocationError(`${where}: ${relo.kind} cannot be applied to an array element access`);
    }
    return result;
  }
  const parent = btf.typeById(acc.typeId) as CompositeType;
  const member = parent.members[acc.idx]!;
  const mt = btf.resolve(member.type);
  const bitOff = spec.bitOffset;
  let bitSize = member.bitSize;
  const bitfield = bitSize > 0;
  let byteSize: number;
  let byteOff: number;
  if (bitfield) {
    byteSize = (mt as { size: number }).size;
    byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    while (bitOff + bitSize - byteOff * 8 > byteSize * 8) {
      if (byteSize >= 8) throw new CoreRelocationError(`${where}: bitfield '${member.name}' cannot be read with a 64-bit load`);
      byteSize *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    }
  } else {
    byteSize = sizeFor(btf, mt.id, where);
    byteOff = bitOff / 8;
    bitSize = byteSize * 8;
  }
  // Bitfield offsets and sizes are ambiguous (the compiler may pick another load size), so only signedness and rshift are checked.
  result.validate = !bitfield;
  switch (relo.kind) {
    case 'field_byte_offset':
      result.value = BigInt(byteOff);
      if (!bitfield) {
        result.size = byteSize;
        result.typeId = mt.id;
      }
      break;
    case 'field_byte_size':
      result.value = BigInt(byteSize);
      break;
    case 'field_signed':
      result.value = (isEnum(mt) && mt.signed) || (mt.kind === 'int' && mt.encoding === 'signed') ? 1n : 0n;
      result.validate = true;
      break;
    case 'field_lshift_u64':
      result.value = BigInt(bigEndian ? (8 - byteSize) * 8 + (bitOff - byteOff * 8) : 64 - (bitOff + bitSize - byteOff * 8));
      break;
    case 'field_rshift_u64':
      result.value = BigInt(64 - bitSize);
      result.validate = true;
      break;
    default:
      throw new CoreRelocationError(`${where}: not a field relocation`);
  }
  return result;
}

/** bpf_core_calc_type_relo. */
function typeValue(spec: Spec | undefined, relo: CoreRelocation): { value: bigint; validate: boolean } {
  if (!spec) return { value: 0n, validate: true };
  switch (relo.kind) {
    case 'type_id_target':
      // Type ids in the instruction may change during linking, so the local one is not checked.
      return { value: BigInt(spec.rootTypeId), validate: false };
    case 'type_exists':
    case 'type_matches':
      return { value: 1n, validate: true };
    case 'type_size':
      return { value: BigInt(sizeFor(spec.btf, spec.rootTypeId, `CO-RE type_size relocation at instruction ${relo.insnIndex}`)), validate: true };
    default:
      throw new CoreRelocationError(`CO-RE ${relo.kind} relocation at instruction ${relo.insnIndex}: not a type relocation`);
  }
}

/** bpf_core_calc_enumval_relo; undefined requests poisoning. */
function enumValue(spec: Spec | undefined, relo: CoreRelocation): bigint | undefined {
  if (relo.kind === 'enum_value_exists') return spec ? 1n : 0n;
  if (!spec) return undefined;
  const acc = spec.accessors[0]!;
  const t = spec.btf.typeById(acc.typeId);
  if (!isEnum(t)) throw new CoreRelocationError(`CO-RE enum_value relocation: [${acc.typeId}] is not an enum`);
  const v = t.values[acc.idx]!.value;
  // libbpf widens the 32-bit enum value as the kernel's __s32 field; ENUM64 values are raw u64.
  return t.kind === 'enum' ? BigInt.asUintN(64, BigInt.asIntN(32, v)) : BigInt.asUintN(64, v);
}

interface CalcResult {
  localValue: bigint;
  targetValue: bigint;
  poison: boolean;
  validate: boolean;
  localSize: number;
  targetSize: number;
  failMemSizeAdjust: boolean;
}

/** bpf_core_calc_relo for one candidate (or none). */
function calcRelocation(local: Spec, target: Spec | undefined, relo: CoreRelocation): CalcResult {
  const res: CalcResult = { localValue: 0n, targetValue: 0n, poison: false, validate: true, localSize: 0, targetSize: 0, failMemSizeAdjust: false };
  if (isFieldBased(relo.kind)) {
    const bigEndian = local.btf.endianness === 'big';
    const l = fieldValue(local, relo, bigEndian)!;
    const t = fieldValue(target, relo, bigEndian);
    if (t === undefined) {
      res.poison = true;
      return res;
    }
    res.localValue = l.value;
    res.targetValue = t.value;
    res.validate = l.validate;
    res.localSize = l.size;
    res.targetSize = t.size;
    if (l.size !== t.size) {
      // Resizing a load is safe only for pointers and unsigned integers (zero extension keeps the value).
      const lt = local.btf.typeById(l.typeId);
      const tt = target!.btf.typeById(t.typeId);
      const bothPtr = lt.kind === 'ptr' && tt.kind === 'ptr';
      const bothUnsigned = lt.kind === 'int' && tt.kind === 'int' && lt.encoding !== 'signed' && tt.encoding !== 'signed';
      res.failMemSizeAdjust = !bothPtr && !bothUnsigned;
    }
  } else if (isTypeBased(relo.kind)) {
    const l = typeValue(local, relo);
    res.localValue = l.value;
    res.validate = l.validate;
    res.targetValue = typeValue(target, relo).value;
  } else {
    const l = enumValue(local, relo)!;
    const t = enumValue(target, relo);
    res.localValue = l;
    if (t === undefined) res.poison = true;
    else res.targetValue = t;
  }
  return res;
}

/** Target types whose essential name equals the local type's, with a compatible kind (bpf_core_add_cands). */
export function findCoreCandidates(local: Btf, localTypeId: number, target: Btf): BtfType[] {
  const localType = local.typeById(localTypeId);
  return target.findByEssentialName(essentialName(localType.name)).filter((t) => kindsCompatible(t, localType));
}

/**
 * Resolves one relocation against `target` as libbpf's bpf_core_calc_relo_insn
 * does. Throws CoreRelocationError where libbpf fails the load (malformed
 * spec, anonymous root, candidates that disagree); returns `poison: true`
 * where libbpf poisons the instruction.
 */
export function resolveCoreRelocation(relo: CoreRelocation, local: Btf, target: Btf): CoreRelocationResult {
  const localType = local.typeById(relo.typeId);
  const localSpec = parseSpec(local, relo);
  const base = { kind: relo.kind, localSpec: describeSpec(localSpec), candidates: 0, matches: 0 };
  if (relo.kind === 'type_id_local') {
    const id = BigInt(relo.typeId);
    return { ...base, localValue: id, targetValue: id, poison: false, validate: false, localSize: 0, targetSize: 0, failMemSizeAdjust: false, targetTypeId: 0 };
  }
  if (localType.name === '') {
    throw new CoreRelocationError(`CO-RE ${relo.kind} relocation at instruction ${relo.insnIndex}: root type [${relo.typeId}] ${localType.kind.toUpperCase()} is anonymous; candidates are found by name`, { typeId: relo.typeId });
  }
  const candidates = findCoreCandidates(local, relo.typeId, target);
  let chosen: { spec: Spec; res: CalcResult } | undefined;
  let matches = 0;
  for (const cand of candidates) {
    const spec = matchSpec(localSpec, target, cand.id);
    if (!spec) continue;
    const res = calcRelocation(localSpec, spec, relo);
    matches++;
    if (!chosen) {
      chosen = { spec, res };
    } else if (spec.bitOffset !== chosen.spec.bitOffset) {
      throw new CoreRelocationError(
        `CO-RE ${relo.kind} relocation at instruction ${relo.insnIndex} for ${describeSpec(localSpec)}: field offset ambiguity between candidates ${describeSpec(chosen.spec)} and ${describeSpec(spec)}`,
        { typeId: relo.typeId },
      );
    } else if (res.poison !== chosen.res.poison || res.targetValue !== chosen.res.targetValue) {
      throw new CoreRelocationError(
        `CO-RE ${relo.kind} relocation at instruction ${relo.insnIndex} for ${describeSpec(localSpec)}: candidates disagree (${describeSpec(chosen.spec)} gives ${chosen.res.poison ? 'failure' : chosen.res.targetValue}, ${describeSpec(spec)} gives ${res.poison ? 'failure' : res.targetValue})`,
        { typeId: relo.typeId },
      );
    }
  }
  const summary = { ...base, candidates: candidates.length, matches };
  if (chosen) {
    return { ...summary, ...chosen.res, targetSpec: describeSpec(chosen.spec), targetTypeId: chosen.spec.rootTypeId };
  }
  const res = calcRelocation(localSpec, undefined, relo);
  const reason =
    candidates.length === 0
      ? `no ${localType.kind} named '${essentialName(localType.name)}' in the target BTF`
      : `none of the ${candidates.length} target candidate(s) named '${essentialName(localType.name)}' has a compatible ${isEnumValueBased(relo.kind) ? 'enumerator' : isFieldBased(relo.kind) ? 'field at this access path' : 'type'}`;
  return { ...summary, ...res, reason, targetTypeId: 0 };
}

export interface CoreReportEntry {
  relocation: CoreRelocation;
  /** Instruction index patched (the relocation's insnIndex). */
  insnIndex: number;
  result: CoreRelocationResult;
  /** Instruction(s) before and after (two slots for lddw). */
  before: Instruction[];
  after: Instruction[];
  /** One line: what was done and why. */
  message: string;
}

export interface CoreReport {
  entries: CoreReportEntry[];
  /** Entries whose instruction was poisoned. */
  poisoned: CoreReportEntry[];
}

const SIZE_BYTES: Record<number, number> = { [Size.DW]: 8, [Size.W]: 4, [Size.H]: 2, [Size.B]: 1 };
const BYTES_SIZE: Record<number, number> = { 8: Size.DW, 4: Size.W, 2: Size.H, 1: Size.B };

function poisonSlot(insn: Instruction): void {
  insn.opcode = OPCODE_CALL;
  insn.dst = 0;
  insn.src = 0;
  insn.offset = 0;
  insn.imm = POISON_CALL_IMM;
}

/**
 * Patches `instructions` in place for each relocation (bpf_core_patch_insn):
 * ALU/ALU64 immediates, LDX/ST/STX offsets (and load/store size when the
 * field changed size and that is safe), lddw 64-bit immediates; poisons
 * unresolvable ones with `call 0xbad2310`. Throws CoreRelocationError
 * naming the program, instruction, type and access path where libbpf would
 * fail the load.
 */
export function applyCoreRelocations(
  instructions: Instruction[],
  relos: readonly CoreRelocation[],
  local: Btf,
  target: Btf,
  options: { programName?: string } = {},
): CoreReport {
  const report: CoreReport = { entries: [], poisoned: [] };
  const prog = options.programName !== undefined ? `program '${options.programName}': ` : '';
  relos.forEach((relo, reloIndex) => {
    const idx = relo.insnIndex;
    const insn = instructions[idx];
    const where = `${prog}CO-RE relocation #${reloIndex} (${relo.kind}) at instruction ${idx}`;
    if (insn === undefined) throw new CoreRelocationError(`${where}: instruction index out of range (${instructions.length} instructions)`, { typeId: relo.typeId });
    let result: CoreRelocationResult;
    try {
      result = resolveCoreRelocation(relo, local, target);
    } catch (err) {
      if (err instanceof BtfError) throw new CoreRelocationError(`${prog}${err.message}`, err.context);
      throw err;
    }
    const isLd = insn.opcode === OPCODE_LDDW;
    const before = (isLd ? [insn, instructions[idx + 1]] : [insn]).filter((i): i is Instruction => i !== undefined).map((i) => ({ ...i }));
    const fail = (problem: string): never => {
      throw new CoreRelocationError(`${where} for ${result.localSpec}: ${problem}`, { typeId: relo.typeId });
    };
    let poison = result.poison;
    let message = '';
    const cls = opClass(insn.opcode);
    if (!poison) {
      const expected = result.localValue;
      const value = result.targetValue;
      switch (cls) {
        case InsnClass.ALU:
        case InsnClass.ALU64: {
          if ((insn.opcode & SOURCE_MASK) !== Source.K) fail('ALU instruction does not use an immediate');
          if (result.validate && BigInt.asUintN(64, BigInt(insn.imm)) !== expected) fail(`unexpected immediate ${insn.imm}, expected ${expected} (-> ${value})`);
          if (BigInt.asIntN(32, value) !== BigInt.asIntN(64, value) && BigInt.asUintN(32, value) !== value) fail(`value ${value} does not fit a 32-bit immediate`);
          insn.imm = Number(BigInt.asIntN(32, value));
          message = `imm ${before[0]!.imm} -> ${insn.imm}`;
          break;
        }
        case InsnClass.LDX:
        case InsnClass.ST:
        case InsnClass.STX: {
          if (result.validate && BigInt.asUintN(64, BigInt(insn.offset)) !== expected) fail(`unexpected offset ${insn.offset}, expected ${expected} (-> ${value})`);
          if (value > 0x7fffn) fail(`offset ${value} does not fit the 16-bit offset field`);
          if (result.failMemSizeAdjust) {
            poison = true;
            message = 'accesses the field with a size that cannot be adjusted (only pointers and unsigned integers can change size)';
            break;
          }
          insn.offset = Number(value);
          message = `off ${before[0]!.offset} -> ${insn.offset}`;
          if (result.targetSize !== result.localSize) {
            const insnBytes = SIZE_BYTES[insn.opcode & 0x18];
            if (insnBytes !== result.localSize) fail(`unexpected memory size ${insnBytes}, expected ${result.localSize}`);
            const newSize = BYTES_SIZE[result.targetSize];
            if (newSize === undefined) fail(`invalid new memory size ${result.targetSize}`);
            insn.opcode = (insn.opcode & ~0x18) | newSize!;
            message += `, size ${result.localSize} -> ${result.targetSize}`;
          }
          break;
        }
        case InsnClass.LD: {
          const second = instructions[idx + 1];
          if (!isLd || insn.src !== 0 || insn.offset !== 0 || !second || second.opcode !== 0 || second.dst !== 0 || second.src !== 0 || second.offset !== 0) fail('ldimm64 instruction has an unexpected form');
          const imm = BigInt(insn.imm >>> 0) | (BigInt(second!.imm >>> 0) << 32n);
          if (result.validate && imm !== expected) fail(`unexpected imm64 ${imm}, expected ${expected} (-> ${value})`);
          insn.imm = Number(BigInt.asIntN(32, value));
          second!.imm = Number(BigInt.asIntN(32, value >> 32n));
          message = `imm64 ${imm} -> ${value}`;
          break;
        }
        default:
          fail(`cannot relocate instruction with opcode 0x${insn.opcode.toString(16)} (mode 0x${(insn.opcode & 0xe0).toString(16)})`);
      }
    } else {
      message = result.reason ?? 'no match in the target BTF';
    }
    if (poison) {
      if (isLd && instructions[idx + 1]) poisonSlot(instructions[idx + 1]!);
      poisonSlot(insn);
      message = `poisoned: ${message}`;
    }
    const after = (isLd ? [insn, instructions[idx + 1]] : [insn]).filter((i): i is Instruction => i !== undefined).map((i) => ({ ...i }));
    const entry: CoreReportEntry = {
      relocation: relo,
      insnIndex: idx,
      result: { ...result, poison },
      before,
      after,
      message: `${prog}insn ${idx}: ${relo.kind} ${result.localSpec}${result.targetSpec ? ` => ${result.targetSpec}` : ''}: ${message}`,
    };
    report.entries.push(entry);
    if (poison) report.poisoned.push(entry);
  });
  return report;
}

const kernelBtfCache = new Map<string, Btf>();

/** The running kernel's BTF (/sys/kernel/btf/vmlinux by default), parsed once per path. */
export function loadKernelBtf(path = '/sys/kernel/btf/vmlinux'): Btf {
  let btf = kernelBtfCache.get(path);
  if (btf === undefined) {
    let bytes: Uint8Array;
    try {
      bytes = readFile(path);
    } catch (err) {
      // Host errors (HostUnavailableError in a browser, InputTooLargeError) already name the file and the remedy.
      if (err instanceof TsbpfError) throw err;
      throw Object.assign(new BtfError(`cannot read kernel BTF ${path}: ${(err as Error).message}`, { section: path }), { cause: err });
    }
    // Lazy: the kernel validated its BTF at boot, and a program needs a few of its ~150k types.
    btf = parseBtf(bytes, { lazy: true });
    kernelBtfCache.set(path, btf);
  }
  return btf;
}


