/**
 * tsbpf's verifier: decides before a program runs whether the Linux
 * kernel's verifier would accept it, with the kernel's messages and log
 * format, and explains every rejection in plain words.
 *
 * ```ts
 * const result = verify(spec.programs.xdp_prog, { maps: spec.maps });
 * if (!result.accepted) console.log(result.error.message, result.error.explanation.fix);
 * ```
 */
import { type Btf, loadKernelBtf } from '../btf/index.ts';
import type { Instruction } from '../isa/index.ts';
import { CallSrc, LdImm64Src, OPCODE_CALL } from '../isa/index.ts';
import { ProgramFlags } from '../uapi/index.ts';
import { type CollectionSpec, type KconfigSource, type MapSpec, type ProgramSpec, applyProgramCore, kconfigData } from '../object/index.ts';
import { Rejection, VerifierError } from './errors.ts';
import { btfStructAccess, tracingContext, typedByAttachTarget } from './btf-args.ts';
import { globalFunctions, type KernelStructLookup } from './global-func.ts';
import { type KfuncTarget, kfuncPrototype, structsAtZero } from './kfunc.ts';
import { type Explanation, explain, formatExplanation } from './explain.ts';
import type { MapValueField, VerifierMap } from './state.ts';
import { Verifier, type VerifierInput } from './verifier.ts';
import { type InstructionStates, StateCollector } from './states.ts';

export { Rejection, VerifierError } from './errors.ts';
export { type Explanation, explain, formatExplanation } from './explain.ts';
export { COMPLEXITY_LIMIT_INSNS } from './verifier.ts';
export type { FrameState, InstructionStates, PathState, RegisterState, StackSlotState } from './states.ts';

export interface VerifyOptions {
  /** Program type (defaults to the spec's; required for bare instructions). */
  type?: number;
  expectedAttachType?: number;
  /** The collection's maps, for the program's map relocations (CollectionSpec.maps). */
  maps?: Readonly<Record<string, MapSpec>>;
  /** Maps referenced by `lddw rX, map_fd(N)` in bare instructions, by N. */
  mapsByFd?: ReadonlyMap<number, MapSpec>;
  /** Log level as the kernel's log_level: 0 none, 1 the failing path, 2 every instruction. Default 1. */
  logLevel?: 0 | 1 | 2;
  /** License, for GPL-only helpers (defaults to the spec's; 'GPL' for bare instructions). */
  license?: string;
  sleepable?: boolean;
  /** BPF_PROG_LOAD prog_flags (defaults to the spec's): BPF_F_STRICT_ALIGNMENT and BPF_F_TEST_STATE_FREQ are honoured. */
  programFlags?: number;
  /** Verify as a privileged (CAP_BPF + CAP_PERFMON) load, as root does. Default true. */
  privileged?: boolean;
  /** BTF to resolve CO-RE relocations against before verifying (default: the running kernel's /sys/kernel/btf/vmlinux). */
  targetBtf?: Btf;
  /**
   * Return the state of every path at every instruction it reached
   * (VerifyResult.states), keeping at most this many arrivals per
   * instruction (true: 64) and 100,000 in all; the others are counted.
   * Off by default: it copies each state.
   */
  collectStates?: boolean | number;
}

export interface VerifyError {
  insnIndex: number;
  /** The kernel's message (possibly several lines, as the kernel logs them). */
  message: string;
  errno: string;
  explanation: Explanation;
}

export interface VerifyResult {
  accepted: boolean;
  processedInsns: number;
  verificationTimeUs: number;
  maxStatesPerInsn: number;
  totalStates: number;
  peakStates: number;
  /** Stack bytes per subprogram (the kernel's `stack depth` line). */
  stackDepth: number[];
  /** The verifier log in the kernel's format. */
  log: string;
  /**
   * Every memory access went to a region whose bounds the verifier proved
   * (stack, map keys and values, checked packet, sized memory, fixed-layout
   * contexts): a VM may run the program without run-time bounds checks.
   * False when the program reads through kernel pointers (BTF ids, arena,
   * tracing contexts) that only run-time checks can confine.
   */
  boundsProven: boolean;
  error?: VerifyError;
  /** With VerifyOptions.collectStates: per instruction reached, each path's state before it. */
  states?: InstructionStates[];
}

/** Licenses the kernel treats as GPL-compatible (license_is_gpl_compatible). */
const GPL_COMPATIBLE = new Set(['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL']);

let mapUid = 0;

/** Verifies one program: a ProgramSpec from an object or assembly, or bare instructions. */
export function verify(program: ProgramSpec | readonly Instruction[], options: VerifyOptions = {}): VerifyResult {
  const spec = Array.isArray(program) ? undefined : (program as ProgramSpec);
  const type = options.type ?? (spec?.type || undefined);
  if (type === undefined) throw new VerifierError('verify: no program type (set options.type for bare instructions or an unknown section)', spec?.name ?? '', 0, '', '', '');
  let insns: readonly Instruction[] = spec ? spec.instructions : (program as readonly Instruction[]);
  // CO-RE is resolved as the loaders do: against the given BTF, or the running kernel's (poisoned
  // relocations become the `call 0xbad2310` the kernel then refuses).
  if (spec && spec.coreRelocations.length > 0) {
    const target = options.targetBtf ?? loadKernelBtf();
    insns = applyProgramCore(spec, target).instructions;
  }
  const collector = collectingStates(options.collectStates);
  // The maps as the kernel holds them when the program is loaded: their values' special fields (spin locks, timers...)
  // are what it parses at BPF_MAP_CREATE, before BPF_PROG_LOAD.
  const maps = new ProgramMaps(spec);
  for (const reloc of spec?.relocations ?? []) {
    if (reloc.kind !== 'map' && reloc.kind !== 'mapValue' && reloc.kind !== 'kconfig') continue;
    const mapSpec = options.maps?.[reloc.mapName];
    if (mapSpec !== undefined) maps.byInsn.set(reloc.insnIndex, maps.wrap(reloc.mapName, mapSpec));
  }
  for (const [fd, mapSpec] of options.mapsByFd ?? []) maps.byFd.set(fd, maps.wrap(mapSpec.name || `fd${fd}`, mapSpec));
  // Timed from here, as the kernel's figure covers BTF func info, check_cfg and do_check (its map references too, which
  // the lookups above resolve in well under a microsecond); CO-RE above is the loader's work (libbpf relocates before
  // BPF_PROG_LOAD).
  const started = performance.now();
  const license = options.license ?? spec?.license ?? 'GPL';
  const programFlags = options.programFlags ?? spec?.programFlags ?? 0;
  const kernel = kernelObjects(type, options.expectedAttachType ?? spec?.expectedAttachType, spec?.attachTo, options.targetBtf);
  // Every key present, absent ones undefined: one object shape for every program, so that the verifier's reads of its input stay monomorphic.
  const outcome = Verifier.check({
    insns,
    programType: type,
    expectedAttachType: options.expectedAttachType ?? spec?.expectedAttachType,
    mapAt: maps.mapAt.bind(maps),
    gplCompatible: GPL_COMPATIBLE.has(license),
    sleepable: options.sleepable ?? spec?.sleepable ?? false,
    strictAlignment: (programFlags & ProgramFlags.STRICT_ALIGNMENT) !== 0,
    testStateFreq: (programFlags & ProgramFlags.TEST_STATE_FREQ) !== 0,
    privileged: options.privileged ?? true,
    logLevel: options.logLevel ?? 1,
    lineInfo: spec?.lineInfo ?? [],
    isVoidFunction: spec ? voidFunctionTest(spec) : () => false,
    onInstruction: collector?.record,
    kfuncAt: spec ? kfuncTargets(spec, options.targetBtf) : undefined,
    tracingContext: kernel.tracingContext,
    btfStructAccess: kernel.btfStructAccess,
    structsAtZero: kernel.structsAtZero,
    globalFunctions: spec?.btf ? globalFunctions(spec.btf, spec.funcInfo, type, options.expectedAttachType ?? spec.expectedAttachType, kernelStructLookup(options.targetBtf)) : undefined,
  });
  const verificationTimeUs = Math.round((performance.now() - started) * 1000);
  const result: VerifyResult = {
    accepted: outcome.rejection === undefined,
    processedInsns: outcome.stats.processedInsns,
    verificationTimeUs,
    maxStatesPerInsn: outcome.stats.maxStatesPerInsn,
    totalStates: outcome.stats.totalStates,
    peakStates: outcome.stats.peakStates,
    stackDepth: outcome.stats.stackDepth,
    log: outcome.log,
    boundsProven: outcome.rejection === undefined && outcome.boundsProven,
    ...(collector !== undefined ? { states: collector.result() } : {}),
  };
  if (outcome.rejection) {
    const r: Rejection = outcome.rejection;
    result.error = { insnIndex: r.insnIndex, message: r.message, errno: r.errno, explanation: explain(r.message, outcome.failingPath, spec?.lineInfo ?? []) };
  }
  return result;
}

const DEFAULT_STATES_PER_INSN = 64;

function collectingStates(option: boolean | number | undefined): StateCollector | undefined {
  if (option === undefined || option === false) return undefined;
  const limit = option === true ? DEFAULT_STATES_PER_INSN : option;
  if (!Number.isInteger(limit) || limit < 1) throw new VerifierError(`verify: collectStates must be true or a positive integer, got ${limit}`, '', 0, '', '', '');
  return new StateCollector(limit);
}

/** The maps a program references, by instruction (relocations) and by fd (`mapsByFd`), each wrapped once. */
class ProgramMaps {
  readonly byInsn = new Map<number, VerifierMap>();
  readonly byFd = new Map<number, VerifierMap>();
  private readonly byName = new Map<string, VerifierMap>();

  constructor(private readonly spec: ProgramSpec | undefined) {}

  wrap(name: string, mapSpec: MapSpec): VerifierMap {
    let m = this.byName.get(name);
    if (m === undefined) {
      const hasBtf = this.spec?.btf !== undefined && mapSpec.btfValueTypeId !== undefined && mapSpec.btfValueTypeId !== 0;
      const fields = hasBtf ? specialFields(this.spec!.btf!, mapSpec.btfValueTypeId!) : [];
      m = { name: name.length > 15 ? name.slice(0, 15) : name, spec: mapSpec, uid: ++mapUid, fields, hasBtf };
      this.byName.set(name, m);
    }
    return m;
  }

  mapAt(idx: number, insn: Instruction): VerifierMap | undefined {
    return this.byInsn.get(idx) ?? (insn.src === LdImm64Src.MAP_FD || insn.src === LdImm64Src.MAP_VALUE ? this.byFd.get(insn.imm) : undefined);
  }
}

/** A kfunc call already resolved to a function of vmlinux's BTF (offset 0: no module BTF fd). */
const isVmlinuxKfuncCall = (insn: Instruction): boolean => insn.opcode === OPCODE_CALL && insn.src === CallSrc.KFUNC && insn.offset === 0 && insn.imm > 0;

/**
 * The kfunc each `.ksyms` function call calls, with its prototype from the
 * kernel's BTF (else the program's extern). A call already resolved to a
 * vmlinux BTF id (src BPF_PSEUDO_KFUNC_CALL, as code generators emit it)
 * calls the function of that id. Undefined for a program without kfunc calls.
 */
function kfuncTargets(spec: ProgramSpec, targetBtf: Btf | undefined): ((insnIdx: number) => KfuncTarget | undefined) | undefined {
  const names = new Map<number, string>();
  for (const r of spec.relocations) if (r.kind === 'ksym' && r.isFunction) names.set(r.insnIndex, r.externName);
  if (names.size === 0 && !spec.instructions.some(isVmlinuxKfuncCall)) return undefined;
  const cache = new Map<string, KfuncTarget>();
  // null until first needed: the running kernel's BTF is read at most once per program.
  let kernel: Btf | undefined | null = targetBtf ?? null;
  const kernelBtf = (): Btf | undefined => (kernel === null ? (kernel = kernelBtfIfReadable()) : kernel);
  const resolvedName = (insnIdx: number): string | undefined => {
    const insn = spec.instructions[insnIdx];
    if (insn === undefined || !isVmlinuxKfuncCall(insn)) return undefined;
    const func = kernelBtf()?.typeAt(insn.imm);
    return func?.kind === 'func' ? func.name : undefined;
  };
  return (insnIdx) => {
    const name = names.get(insnIdx) ?? resolvedName(insnIdx);
    if (name === undefined) return undefined;
    let target = cache.get(name);
    if (target === undefined) {
      const kernel = kernelBtf();
      const from = (btf: Btf | undefined) => {
        const func = btf?.findByName(name, 'func')[0];
        return func && btf ? kfuncPrototype(btf, func.id) : undefined;
      };
      const structs = kernel;
      target = {
        name,
        prototype: from(kernel) ?? from(spec.btf),
        structsAtZero: (struct) => (structs ? structsAtZero(structs, struct) : [struct]),
        kernelTypeName: (id) => {
          if (id === 0) return '';
          const t = structs?.typeAt(id);
          return t !== undefined && (t.kind === 'struct' || t.kind === 'union') ? t.name : undefined;
        },
      };
      cache.set(name, target);
    }
    return target;
  };
}

/** The running kernel's BTF, or undefined when it cannot be read. */
function kernelBtfIfReadable(): Btf | undefined {
  try {
    return loadKernelBtf();
  } catch {
    return undefined;
  }
}

/** Struct walks through the running kernel's BTF, read on the first walk only (most programs never walk one). */
const kernelStructAccess: NonNullable<VerifierInput['btfStructAccess']> = (struct, off, size, untrusted) => {
  const kernel = kernelBtfIfReadable();
  return kernel !== undefined ? btfStructAccess(kernel, struct, off, size, untrusted) : undefined;
};

/** The structs at offset 0 of a kernel struct, from the running kernel's BTF read on first use. */
const kernelStructsAtZero: NonNullable<VerifierInput['structsAtZero']> = (struct) => {
  const kernel = kernelBtfIfReadable();
  return kernel !== undefined ? structsAtZero(kernel, struct) : [struct];
};

/** The kernel's BTF for tracing arguments and struct walks (nothing when it cannot be read: those stay untyped). */
function kernelObjects(type: number, attachType: number | undefined, attachTo: string | undefined, targetBtf: Btf | undefined): Pick<VerifierInput, 'tracingContext' | 'btfStructAccess' | 'structsAtZero'> {
  const kernel = attachTo === undefined || attachTo === '' || !typedByAttachTarget(type, attachType) ? targetBtf : (targetBtf ?? kernelBtfIfReadable());
  if (kernel === undefined) return { btfStructAccess: kernelStructAccess, structsAtZero: kernelStructsAtZero };
  return {
    tracingContext: tracingContext(kernel, type, attachType, attachTo),
    btfStructAccess: (struct, off, size, untrusted) => btfStructAccess(kernel, struct, off, size, untrusted),
    structsAtZero: (struct) => structsAtZero(kernel, struct),
  };
}

/** Kernel structs by name, from the given BTF or the running kernel's (undefined when neither is readable). */
function kernelStructLookup(targetBtf: Btf | undefined): KernelStructLookup {
  return (name) => {
    const btf = targetBtf ?? kernelBtfIfReadable();
    return btf === undefined ? undefined : btf.findByName(name, 'struct').length > 0;
  };
}

/**
 * Whether a function returns void by its BTF prototype (from func_info), by
 * first instruction; func_info is read on the first question only (only
 * programs with subprograms ask).
 */
function voidFunctionTest(spec: ProgramSpec): (insnIdx: number) => boolean {
  let starts: Set<number> | undefined;
  return (insnIdx) => (starts ??= voidFunctionStarts(spec)).has(insnIdx);
}

/** Functions whose BTF prototype returns void, by first instruction (from func_info). */
function voidFunctionStarts(spec: ProgramSpec): Set<number> {
  const starts = new Set<number>();
  if (spec.btf === undefined) return starts;
  for (const info of spec.funcInfo) {
    try {
      const func = spec.btf.typeById(info.typeId);
      if (func.kind !== 'func') continue;
      const proto = spec.btf.typeById(func.type);
      if (proto.kind === 'func_proto' && proto.returnType === 0) starts.add(info.insnIndex);
    } catch {
      // malformed func_info is the loader's concern; the kernel would refuse it there
    }
  }
  return starts;
}

/** Kernel-managed fields a map value's BTF type contains (btf_parse_fields), with their offsets. */
const SPECIAL_FIELDS: Readonly<Record<string, string>> = {
  bpf_spin_lock: 'bpf_spin_lock',
  bpf_res_spin_lock: 'bpf_res_spin_lock',
  bpf_timer: 'bpf_timer',
  bpf_wq: 'bpf_wq',
  bpf_list_head: 'bpf_list_head',
  bpf_list_node: 'bpf_list_node',
  bpf_rb_root: 'bpf_rb_root',
  bpf_rb_node: 'bpf_rb_node',
  bpf_refcount: 'bpf_refcount',
  bpf_task_work: 'bpf_task_work',
};

function specialFields(btf: Btf, typeId: number, base = 0, depth = 0): MapValueField[] {
  if (depth > 8) return [];
  let type;
  try {
    type = btf.resolve(typeId);
  } catch {
    return [];
  }
  if (type.kind === 'struct' || type.kind === 'union') {
    const kind = SPECIAL_FIELDS[type.name];
    if (kind !== undefined) return [{ kind, offset: base, size: type.size }];
    return type.members.flatMap((m) => specialFields(btf, m.type, base + Math.floor(m.bitOffset / 8), depth + 1));
  }
  if (type.kind === 'array' && type.nelems > 0 && type.nelems <= 64) {
    const elemSize = btf.sizeOf(type.elemType);
    const inner = specialFields(btf, type.elemType, 0, depth + 1);
    if (inner.length === 0) return [];
    return Array.from({ length: type.nelems }, (_, i) => inner.map((f) => ({ ...f, offset: base + i * elemSize + f.offset }))).flat();
  }
  return [];
}

/**
 * The collection's maps as a loader hands them to the kernel: the `.kconfig`
 * map holds the values the loaders fill in (LINUX_KERNEL_VERSION, CONFIG_*),
 * so the verifier, like the kernel's, knows them as constants. When they
 * cannot be computed (no kernel configuration) the map is left as it is.
 */
export function loadTimeMaps(collection: CollectionSpec, kconfig?: KconfigSource): Record<string, MapSpec> {
  const maps: Record<string, MapSpec> = { ...collection.maps };
  for (const [name, m] of Object.entries(maps)) {
    if (m.section !== '.kconfig') continue;
    try {
      const data = kconfigData(collection, m.valueSize, kconfig);
      if (data !== undefined) maps[name] = { ...m, initialData: data };
    } catch {
      // the loader would refuse the object itself; the verifier keeps the map's own contents
    }
  }
  return maps;
}

/** Verifies every program of a collection, by program name. */
export function verifyCollection(collection: CollectionSpec, options: Omit<VerifyOptions, 'maps' | 'type'> = {}): Record<string, VerifyResult> {
  const out: Record<string, VerifyResult> = {};
  const maps = loadTimeMaps(collection);
  for (const [name, program] of Object.entries(collection.programs)) {
    if (program.type === 0) continue;
    out[name] = verify(program, { ...options, maps });
  }
  return out;
}

/** Throws a VerifierError (with the explanation in its message) when `result` is a rejection. */
export function assertAccepted(program: string, result: VerifyResult): void {
  if (result.accepted || result.error === undefined) return;
  const e = result.error;
  throw new VerifierError(
    `the verifier rejected program '${program}' at insn ${e.insnIndex}: ${e.message.split('\n').at(-1)}\n${formatExplanation(e.explanation)}`,
    program,
    e.insnIndex,
    e.message,
    result.log,
    formatExplanation(e.explanation),
  );
}

