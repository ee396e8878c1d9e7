/**
 * `.ksyms` externs against the running kernel, as libbpf resolves them
 * (bpf_object__resolve_externs, bpf_object__resolve_ksym_var_btf_id,
 * bpf_object__resolve_ksym_func_btf_id, bpf_object__relocate_data):
 *
 * - a typed variable (`extern const struct rq runqueues __ksym`) becomes
 *   `lddw src=BPF_PSEUDO_BTF_ID, imm=<vmlinux VAR id>, next imm=0` after its
 *   local type is checked against the kernel's (bpf_core_types_are_compat);
 * - a typeless one (`extern const void sym __ksym`) becomes a plain lddw of
 *   the symbol's /proc/kallsyms address;
 * - a kfunc call becomes `call src=BPF_PSEUDO_KFUNC_CALL, imm=<vmlinux FUNC
 *   id>, off=0` after its local FUNC_PROTO is checked against the kernel's;
 *   an lddw of a kfunc (bpf_ksym_exists) loads its BTF id the same way;
 * - a `__weak` extern the kernel lacks reads as 0, and a call to a missing
 *   weak kfunc is poisoned (an invalid helper call the verifier only rejects
 *   when it is reachable).
 *
 * Only vmlinux BTF is searched: kfuncs and variables of modules (which need
 * module BTF fds in fd_array and insn->off) are reported as missing.
 * Also here: the object BTF rewritten for BTF_LOAD the way libbpf's
 * bpf_object__collect_externs leaves it.
 */
import { readFileSync } from 'node:fs';
import type { Btf } from '../btf/btf.ts';
import { coreTypesAreCompatible, loadKernelBtf } from '../btf/core.ts';
import { essentialName } from '../btf/btf.ts';
import { parseBtf } from '../btf/btf.ts';
import type { BtfType, VarType } from '../btf/types.ts';
import type { Instruction } from '../isa/instruction.ts';
import { CallSrc, LdImm64Src, OPCODE_CALL, OPCODE_LDDW } from '../isa/opcodes.ts';
import type { CollectionSpec, ExternSpec } from '../object/spec.ts';
import { vmlinuxTypeId } from './link.ts';
import { BpfSyscallError, KernelArgumentError } from './errors.ts';

/** A `.ksyms` extern that cannot be resolved against the running kernel. */
export class KsymError extends KernelArgumentError {
  override name = 'KsymError';
}

/** libbpf's POISON_CALL_KFUNC_BASE: a call to a missing weak kfunc becomes helper call #(base + extern index). */
export const POISON_CALL_KFUNC_BASE = 2002000000;

/** What a `.ksyms` extern resolved to. */
export type KsymResolution =
  | { kind: 'btf'; btfId: number }
  | { kind: 'address'; address: bigint }
  | { kind: 'missing'; index: number };

const KALLSYMS = '/proc/kallsyms';
/** Every address of each /proc/kallsyms name (module symbols included, without their `[module]` tag). */
function readKallsyms(): Map<string, bigint[]> {
  let text: string;
  try {
    text = readFileSync(KALLSYMS, 'latin1');
  } catch (error) {
    throw new KsymError(`cannot read ${KALLSYMS} to resolve typeless ksyms: ${(error as Error).message}`);
  }
  const symbols = new Map<string, bigint[]>();
  let allZero = true;
  for (const line of text.split('\n')) {
    const [address, , name] = line.split(/\s+/, 3);
    if (!address || !name) continue;
    const value = BigInt(`0x${address}`);
    if (value !== 0n) allZero = false;
    const list = symbols.get(name);
    if (list === undefined) symbols.set(name, [value]);
    else if (!list.includes(value)) list.push(value);
  }
  if (allZero && symbols.size > 0) {
    throw new KsymError(`${KALLSYMS} shows every address as 0 (kernel.kptr_restrict, or not running with CAP_SYSLOG): typeless ksyms cannot be resolved`);
  }
  return symbols;
}

/** The local BTF type of an extern, or undefined when the object has no BTF for it. */
function localType(spec: CollectionSpec, extern: ExternSpec): BtfType | undefined {
  return extern.typeId !== undefined && spec.btf ? spec.btf.types[extern.typeId] : undefined;
}

/** A C-like spelling of a type for error messages: `struct bpf_cpumask *(void)`, `u32 (const struct cpumask *, int)`. */
export function spellType(btf: Btf, id: number, depth = 0): string {
  const t = btf.typeById(id);
  if (depth > 8) return '...';
  switch (t.kind) {
    case 'void':
      return 'void';
    case 'ptr':
      return `${spellType(btf, t.type, depth + 1)} *`;
    case 'const':
    case 'volatile':
    case 'restrict':
      return `${t.kind} ${spellType(btf, t.type, depth + 1)}`;
    case 'type_tag':
      return spellType(btf, t.type, depth + 1);
    case 'array':
      return `${spellType(btf, t.elemType, depth + 1)}[${t.nelems}]`;
    case 'fwd':
      return `${t.fwdKind} ${t.name} (forward declaration)`;
    case 'func_proto': {
      const params = t.params.map((p) => (p.type === 0 ? '...' : spellType(btf, p.type, depth + 1)));
      return `${spellType(btf, t.returnType, depth + 1)} (${params.length > 0 ? params.join(', ') : 'void'})`;
    }
    default:
      return btf.describe(id);
  }
}

function resolveFunction(spec: CollectionSpec, extern: ExternSpec, index: number): KsymResolution {
  const local = localType(spec, extern);
  if (spec.btf === undefined || local?.kind !== 'func') throw new KsymError(`kfunc extern '${extern.name}' has no BTF FUNC in the object: compile with -g`);
  const name = essentialName(extern.name);
  const id = vmlinuxTypeId(name, 'func');
  if (id === undefined) {
    if (extern.weak) return { kind: 'missing', index };
    throw new KsymError(`kfunc extern '${extern.name}' is not in vmlinux BTF (module BTF is not searched); declare it __weak to load without it`);
  }
  const kernel = loadKernelBtf();
  const kernelFunc = kernel.typeById(id);
  if (kernelFunc.kind !== 'func') throw new KsymError(`vmlinux BTF type [${id}] for kfunc '${name}' is a ${kernelFunc.kind}, not a FUNC`);
  if (!coreTypesAreCompatible(spec.btf, local.type, kernel, kernelFunc.type)) {
    if (extern.weak) return { kind: 'missing', index };
    throw new KsymError(`kfunc extern '${extern.name}': the object's prototype ${spellType(spec.btf, local.type)} is incompatible with the kernel's ${spellType(kernel, kernelFunc.type)} (vmlinux BTF [${kernelFunc.type}])`);
  }
  return { kind: 'btf', btfId: id };
}

function resolveTypedVariable(spec: CollectionSpec, extern: ExternSpec, local: VarType, index: number): KsymResolution {
  const btf = spec.btf!;
  const id = vmlinuxTypeId(essentialName(extern.name), 'var');
  if (id === undefined) {
    if (extern.weak) return { kind: 'missing', index };
    throw new KsymError(`ksym extern '${extern.name}' is not a variable in vmlinux BTF (module BTF is not searched); declare it __weak to load without it`);
  }
  const kernel = loadKernelBtf();
  const kernelVar = kernel.typeById(id);
  if (kernelVar.kind !== 'var') throw new KsymError(`vmlinux BTF type [${id}] for ksym '${extern.name}' is a ${kernelVar.kind}, not a VAR`);
  const localTypeId = btf.resolveId(local.type);
  const kernelTypeId = kernel.resolveId(kernelVar.type);
  if (!coreTypesAreCompatible(btf, localTypeId, kernel, kernelTypeId)) {
    throw new KsymError(`ksym extern '${extern.name}': the object declares it as ${spellType(btf, local.type)}, incompatible with the kernel's ${spellType(kernel, kernelVar.type)} (vmlinux BTF [${kernelTypeId}])`);
  }
  return { kind: 'btf', btfId: id };
}

function resolveTypeless(extern: ExternSpec, index: number, kallsyms: () => Map<string, bigint[]>): KsymResolution {
  const addresses = kallsyms().get(extern.name);
  if (addresses === undefined) {
    if (extern.weak) return { kind: 'missing', index };
    throw new KsymError(`ksym extern '${extern.name}' is not in ${KALLSYMS}; declare it __weak to load without it`);
  }
  if (addresses.length > 1) {
    throw new KsymError(`ksym extern '${extern.name}' is ambiguous: ${KALLSYMS} has it at ${addresses.map((a) => `0x${a.toString(16)}`).join(' and ')}`);
  }
  return { kind: 'address', address: addresses[0]! };
}

/** Resolves every `.ksyms` extern of `spec` against the running kernel (vmlinux BTF and /proc/kallsyms). */
export function resolveKsyms(spec: CollectionSpec): Map<string, KsymResolution> {
  const resolved = new Map<string, KsymResolution>();
  // Read once per load, and only when a typeless ksym needs it (modules come and go, so not cached longer).
  let symbols: Map<string, bigint[]> | undefined;
  const kallsyms = (): Map<string, bigint[]> => (symbols ??= readKallsyms());
  Object.values(spec.externs).forEach((extern, index) => {
    if (extern.kind !== 'ksym') return;
    const local = localType(spec, extern);
    if (extern.isFunction || local?.kind === 'func') resolved.set(extern.name, resolveFunction(spec, extern, index));
    else if (local?.kind === 'var' && spec.btf!.resolve(local.type).kind !== 'void') resolved.set(extern.name, resolveTypedVariable(spec, extern, local, index));
    else resolved.set(extern.name, resolveTypeless(extern, index, kallsyms));
  });
  return resolved;
}

/** Patches the `call` or `lddw` at `index` for a resolved ksym extern. */
export function applyKsym(instructions: Instruction[], index: number, resolution: KsymResolution, where: string): void {
  const insn = instructions[index];
  if (insn?.opcode === OPCODE_CALL) {
    if (resolution.kind === 'address') throw new KsymError(`${where}: a call to a ksym resolved to an address, not a kfunc`);
    instructions[index] =
      resolution.kind === 'btf'
        ? { ...insn, src: CallSrc.KFUNC, imm: resolution.btfId, offset: 0 }
        : { ...insn, dst: 0, src: CallSrc.HELPER, offset: 0, imm: POISON_CALL_KFUNC_BASE + resolution.index };
    return;
  }
  const next = instructions[index + 1];
  if (insn?.opcode !== OPCODE_LDDW || next === undefined) throw new KsymError(`${where}: a ksym relocation must be on a call or an lddw`);
  if (resolution.kind === 'btf') {
    instructions[index] = { ...insn, src: LdImm64Src.BTF_ID, imm: resolution.btfId };
    instructions[index + 1] = { ...next, imm: 0 }; // BTF object fd: 0 is vmlinux
    return;
  }
  const address = resolution.kind === 'address' ? resolution.address : 0n;
  instructions[index] = { ...insn, src: LdImm64Src.IMM64, imm: Number(BigInt.asIntN(32, address)) };
  instructions[index + 1] = { ...next, imm: Number(BigInt.asIntN(32, address >> 32n)) };
}

/**
 * The verifier only says `invalid func unknown#2002000011` when a call to a
 * missing __weak kfunc is reachable; this names the extern (as libbpf's
 * verifier log fixup does). Other errors are returned unchanged.
 */
export function explainPoisonedKfuncCall(error: unknown, spec: CollectionSpec, programName: string): unknown {
  if (!(error instanceof BpfSyscallError)) return error;
  const match = /invalid func unknown#(\d+)/.exec(error.log ?? '');
  const index = match ? Number(match[1]) - POISON_CALL_KFUNC_BASE : -1;
  const extern = index >= 0 ? Object.values(spec.externs)[index] : undefined;
  if (extern === undefined) return error;
  return new KsymError(
    `program '${programName}' calls __weak kfunc '${extern.name}', which the kernel does not have (or has with an incompatible prototype), on a path the verifier found reachable: guard the call with bpf_ksym_exists(${extern.name})`,
    { cause: error },
  );
}

const DUMMY_KSYM = 'dummy_ksym';

/**
 * The object's BTF as libbpf hands it to BTF_LOAD (the spec's BTF is left
 * unchanged): in the `.ksyms` DATASEC every VAR becomes a global allocated
 * `int` and every FUNC is replaced by a `dummy_ksym` int VAR (the FUNC turned
 * global, its unnamed parameters named `dummy_ksym`), each entry 4 bytes at
 * offset 4*i, the section 4*n bytes; `.kconfig` VARs become global
 * allocated (their offsets were laid out by the object loader). Any other
 * extern VAR or FUNC is made global too: the kernel refuses extern linkage.
 */
export function kernelCompatibleBtf(btf: Btf): Uint8Array {
  const copy = parseBtf(btf.encode(), { endianness: btf.endianness });
  const types = copy.types as BtfType[]; // appended to below, before encoding
  const ksyms = copy.findByName('.ksyms', 'datasec')[0];
  if (ksyms?.kind === 'datasec' && ksyms.vars.length > 0) {
    const intId = types.find((t) => t.kind === 'int' && t.bits === 32)?.id ?? 0;
    let dummyId = 0;
    if (ksyms.vars.some((v) => types[v.type]?.kind === 'func')) {
      dummyId = types.length;
      types.push({ id: dummyId, kind: 'var', name: DUMMY_KSYM, type: intId, linkage: 'global' });
    }
    ksyms.vars.forEach((info, i) => {
      const entry = types[info.type];
      if (entry?.kind === 'func') {
        const proto = types[entry.type];
        if (proto?.kind === 'func_proto') for (const p of proto.params) if (p.type !== 0 && p.name === '') p.name = DUMMY_KSYM;
        entry.linkage = 'global';
        info.type = dummyId;
      } else if (entry?.kind === 'var') {
        entry.linkage = 'global';
        entry.type = intId;
      }
      info.offset = 4 * i;
      info.size = 4;
    });
    ksyms.size = 4 * ksyms.vars.length;
  }
  for (const t of types) if ((t.kind === 'var' || t.kind === 'func') && t.linkage === 'extern') t.linkage = 'global';
  return copy.encode();
}
