/**
 * Loading a CollectionSpec (src/object) into the kernel: the object's BTF
 * with BTF_LOAD, maps (BTF key/value types, inner map templates, pinning by
 * name, initial contents, global data with `.rodata` frozen), programs
 * (CO-RE against vmlinux, map/global/kconfig/ksym relocations, func_info and
 * line_info), then prog arrays and map-in-maps filled with fds. Anything that
 * fails closes what was created before it.
 */
import { existsSync, rmSync } from 'node:fs';
import type { Btf } from '../btf/btf.ts';
import { type CoreReport, POISON_CALL_IMM, loadKernelBtf } from '../btf/index.ts';
import { applyProgramCore } from '../object/core.ts';
import { type KconfigSource, kconfigData } from '../object/kconfig.ts';
import { loadCollectionSpec } from '../object/load.ts';
import type { Instruction } from '../isa/instruction.ts';
import { LdImm64Src } from '../isa/opcodes.ts';
import type { CollectionSpec, MapEntry, MapSpec, ProgramSpec } from '../object/spec.ts';
import { ProgramType } from '../uapi/enums.ts';
import { MAP_TYPES_WITHOUT_BTF, loadTimeMaxEntries } from '../uapi/maps.ts';
import { BpfCommand, attr, bpfError, tryBpfCall } from './bpf.ts';
import { BpfSyscallError, KernelArgumentError } from './errors.ts';
import { type VerifyResult, assertAccepted, formatExplanation, verify } from '../verifier/index.ts';
import { FdResource } from './fd.ts';
import { NativeBuffer, errnoValue } from './ffi.ts';
import { mapInfo } from './info.ts';
import { BPFFS, KernelMap, MapFlags, openPinned, possibleCpus } from './map.ts';
import { type KsymResolution, applyKsym, explainPoisonedKfuncCall, kernelCompatibleBtf, resolveKsyms } from './ksyms.ts';
import { loadTimeAttachBtfId } from './link.ts';
import { KernelProgram } from './program.ts';
import { type AttachOptions, type AttachedLinks, CollectionError, LoadedCollection, type ProgramSelection, lookupByName, selectPrograms } from '../backend/index.ts';
import type { Link } from './link.ts';
import { PerfEventArrayReader, type PerfReaderOptions } from './perfbuf.ts';
import { RingBufferReader } from './ringbuf.ts';
import { attachFromSection } from './section-attach.ts';

/** A problem with the collection itself (missing map, unsupported extern...). */
export class CollectionLoadError extends KernelArgumentError {
  override name = 'CollectionLoadError';
}

/** BTF loaded into the kernel (BPF_BTF_LOAD). */
export class KernelBtf extends FdResource {
  protected readonly kind = 'BTF';
  /** The BTF verifier's log when a log level was requested. */
  readonly log: string;
  constructor(fd: number, log = '') {
    super(fd);
    this.log = log;
  }

  /** Loads raw BTF (header, types, strings). On rejection the error carries the kernel's BTF log. */
  static load(bytes: Uint8Array, options: { logLevel?: 0 | 1 | 2; logSize?: number } = {}): KernelBtf {
    const data = NativeBuffer.allocate(bytes.length);
    data.bytes.set(bytes);
    let level = options.logLevel ?? 0;
    let logSize = options.logSize ?? 64 * 1024;
    try {
      while (true) {
        const log = level > 0 ? NativeBuffer.allocate(logSize) : undefined;
        try {
          const a = attr(32).u64(0, data.address).u64(8, log?.address ?? 0n).u32(16, bytes.length).u32(20, log ? logSize : 0).u32(24, level);
          const { ret, errno } = tryBpfCall(BpfCommand.BTF_LOAD, a);
          const trueSize = a.readU32(28);
          const text = log ? new TextDecoder().decode(log.bytes.subarray(0, Math.max(0, log.bytes.indexOf(0)))) : '';
          if (ret >= 0) return new KernelBtf(ret, text);
          if (log && (errno === errnoValue('ENOSPC') || trueSize > logSize) && logSize < 64 * 1024 * 1024) {
            logSize = Math.max(logSize * 4, trueSize + 1);
            continue;
          }
          if (level === 0 && errno !== errnoValue('EPERM')) {
            level = 1;
            continue;
          }
          throw bpfError(BpfCommand.BTF_LOAD, errno, { subject: `BTF (${bytes.length} bytes)`, capabilities: ['CAP_BPF'] }, log ? { text, truncated: false } : undefined);
        } finally {
          log?.free();
        }
      }
    } finally {
      data.free();
    }
  }
}

export interface CollectionOptions extends ProgramSelection {
  /**
   * Run tsbpf's verifier on each program before the kernel sees it: a
   * program it refuses fails with its VerifierError (the kernel's message,
   * log and an explanation) without a BPF_PROG_LOAD. Whether or not this is
   * set, a program the kernel refuses gets tsbpf's explanation appended to
   * the error.
   */
  verify?: boolean;
  /** Directory for maps with `pinning: 'by-name'` (default /sys/fs/bpf). */
  pinPath?: string;
  /** CO-RE target BTF (default: the running kernel's, when a program has CO-RE relocations). */
  coreTarget?: Btf;
  /** Kconfig values overriding /proc/config.gz (e.g. { CONFIG_HZ: 250 }). */
  kconfig?: KconfigSource;
  /** Verifier log level for every program (default 0: log only on failure; see ProgramOptions.logLevel). */
  logLevel?: 0 | 1 | 2 | 4 | 5 | 6;
  /** prog_flags added to every program's own (BPF_F_ANY_ALIGNMENT, BPF_F_TEST_RND_HI32... as the kernel selftests load). */
  programFlags?: number;
}

/** The kernel objects of a loaded collection. close() releases all of them (pins stay). */
export class KernelCollection extends LoadedCollection<KernelProgram, KernelMap> {
  btf: KernelBtf | undefined;
  #closed = false;

  /** `spec` is what was loaded: its BTF types the maps (typed()). */
  constructor(spec: CollectionSpec) {
    super(spec, {}, {});
  }

  /** A reader of ring buffer map `name` (mmap + epoll). */
  ringBuffer(name: string): RingBufferReader {
    return new RingBufferReader(this.map(name));
  }

  /** A reader of perf event array map `name`, one ring per CPU. */
  perfBuffer(name: string, options?: PerfReaderOptions): PerfEventArrayReader {
    return new PerfEventArrayReader(this.map(name), options);
  }

  /**
   * Attaches every program whose SEC() names an attach point (or the
   * `programs` given, which must all attach). Programs whose section needs
   * what `options` does not give (an XDP interface) are left out unless
   * named. A failure detaches what was attached before it.
   */
  attach(options: AttachOptions = {}): KernelLinks {
    const names = options.programs ?? Object.keys(this.programs);
    const links: Record<string, Link> = {};
    const skipped: Record<string, string> = {};
    try {
      for (const name of names) {
        const program = this.program(name);
        const result = attachFromSection(program, lookupByName(this.spec.programs, name, 'program'), options);
        if ('reason' in result) {
          if (options.programs !== undefined) throw new CollectionError(`cannot attach ${result.reason}`);
          skipped[name] = result.reason;
        } else links[name] = result;
      }
    } catch (error) {
      for (const link of Object.values(links)) link.close();
      throw error;
    }
    return new KernelLinks(links, skipped);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of Object.values(this.programs)) p.close();
    for (const m of Object.values(this.maps)) m.close();
    this.btf?.close();
  }
}

/** The links of KernelCollection.attach(): by program name, with the programs left out and why. */
export class KernelLinks implements AttachedLinks {
  constructor(
    readonly links: Readonly<Record<string, Link>>,
    /** Programs not attached because their section names no attach point, with the reason. */
    readonly skipped: Readonly<Record<string, string>>,
  ) {}

  close(): void {
    for (const link of Object.values(this.links)) link.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The kernel's object names: at most 15 bytes of [A-Za-z0-9_.]. */
export function kernelObjectName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15);
}

const u32 = (value: number): Uint8Array => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
};
const keyBytes = (entry: MapEntry): Uint8Array => (entry.key instanceof Uint8Array ? entry.key : u32(entry.key));

function mapOptions(spec: MapSpec, btf: KernelBtf | undefined, inner: KernelMap | undefined): Parameters<typeof KernelMap.create>[0] {
  const withBtf = btf !== undefined && spec.btfValueTypeId !== undefined && spec.btfValueTypeId > 0 && !MAP_TYPES_WITHOUT_BTF.has(spec.type);
  return {
    type: spec.type,
    name: kernelObjectName(spec.name),
    keySize: spec.keySize,
    valueSize: spec.valueSize,
    maxEntries: loadTimeMaxEntries(spec.type, spec.maxEntries, possibleCpus()),
    flags: spec.flags | (spec.readOnly ? MapFlags.RDONLY_PROG : 0),
    mapExtra: spec.mapExtra,
    numaNode: spec.numaNode,
    innerMap: inner,
    ...(withBtf ? { btfFd: btf.fd, btfKeyTypeId: spec.btfKeyTypeId ?? 0, btfValueTypeId: spec.btfValueTypeId, btfVmlinuxValueTypeId: spec.btfVmlinuxValueTypeId } : {}),
  };
}

function createMap(spec: MapSpec, btf: KernelBtf | undefined): KernelMap {
  const inner = spec.innerMap !== undefined ? createMap({ ...spec.innerMap, name: `${spec.name}.inner`, pinning: 'none' }, btf) : undefined;
  try {
    return KernelMap.create(mapOptions(spec, btf, inner));
  } finally {
    inner?.close(); // the outer map keeps what it needs of the template
  }
}

/**
 * The kernel's verifier refused a program: add tsbpf's plain-words
 * explanation of the same rejection (what was unsafe, the source lines that
 * led there, the usual fix) to the error, when tsbpf's verifier agrees.
 */
function withVerifierExplanation(error: unknown, program: ProgramSpec, type: number, spec: CollectionSpec): unknown {
  if (!(error instanceof BpfSyscallError) || (error.code !== 'EACCES' && error.code !== 'EINVAL' && error.code !== 'E2BIG')) return error;
  let result: VerifyResult;
  try {
    result = verify(program, { type, maps: spec.maps, logLevel: 0 });
  } catch {
    return error; // tsbpf's verifier cannot judge this program (it says why when run directly)
  }
  if (result.error) error.message += `\ntsbpf's verifier: ${result.error.message.split('\n').at(-1)}\n${formatExplanation(result.error.explanation)}`;
  return error;
}

/**
 * The verifier refuses a reachable instruction that CO-RE poisoned (a call
 * to unknown#195896080): say which relocation poisoned it and why, as
 * libbpf does, instead of the bare verifier message.
 */
function explainPoisonedCoreAccess(error: unknown, report: CoreReport | undefined): unknown {
  if (!(error instanceof BpfSyscallError) || report === undefined || report.poisoned.length === 0) return error;
  const at = new RegExp(`^(\\d+): \\(85\\) call unknown#${POISON_CALL_IMM}$`, 'm').exec(error.log ?? '');
  if (at === null) return error;
  const entry = report.poisoned.find((e) => e.insnIndex === Number(at[1])) ?? report.poisoned[0]!;
  return new CollectionLoadError(`${entry.message}; the verifier found instruction ${at[1]} reachable, so the kernel refuses the program (guard the access with bpf_core_field_exists() or bpf_core_type_exists())`, { cause: error });
}

/** Opens a pinned map and checks it matches the spec (as libbpf's map_is_reuse_compat). */
function reusePinned(spec: MapSpec, path: string): KernelMap {
  const fd = openPinned(path);
  const info = mapInfo(fd);
  const expected = mapOptions(spec, undefined, undefined);
  const mismatch = (['type', 'keySize', 'valueSize', 'maxEntries'] as const).find((field) => info[field] !== expected[field]);
  const map = new KernelMap(fd, { type: info.type, name: info.name, keySize: info.keySize, valueSize: info.valueSize, maxEntries: info.maxEntries, flags: info.flags });
  // KernelMap.create adds BPF_F_NUMA_NODE when a node is given, so the pinned map reports it.
  const expectedFlags = (expected.flags ?? 0) | (expected.numaNode !== undefined ? MapFlags.NUMA_NODE : 0);
  if (mismatch || info.flags !== expectedFlags) {
    map.close();
    throw new CollectionLoadError(`map '${spec.name}' pinned at ${path} does not match the object's definition (${mismatch ?? 'flags'} differs): unpin it or fix the definition`);
  }
  return map;
}

function relocate(program: ProgramSpec, instructions: Instruction[], maps: Record<string, KernelMap>, spec: CollectionSpec, ksyms: Map<string, KsymResolution>): void {
  for (const r of program.relocations) {
    const at = `program '${program.name}', instruction ${r.insnIndex}`;
    switch (r.kind) {
      case 'callback':
        break; // BPF_PSEUDO_FUNC offsets are already linked
      case 'map':
      case 'mapValue':
      case 'kconfig': {
        const map = maps[r.mapName];
        if (!map) throw new CollectionLoadError(`${at}: map '${r.mapName}' is not in the collection`);
        const value = r.kind !== 'map';
        const offset = r.kind === 'mapValue' ? r.offset : r.kind === 'kconfig' ? (spec.externs[r.externName]?.offset ?? 0) : 0;
        instructions[r.insnIndex] = { ...instructions[r.insnIndex]!, src: value ? LdImm64Src.MAP_VALUE : LdImm64Src.MAP_FD, imm: map.fd };
        instructions[r.insnIndex + 1] = { ...instructions[r.insnIndex + 1]!, imm: value ? offset : 0 };
        break;
      }
      case 'ksym': {
        const resolution = ksyms.get(r.externName);
        if (!resolution) throw new CollectionLoadError(`${at}: '${r.externName}' is not a .ksyms extern of the object`);
        applyKsym(instructions, r.insnIndex, resolution, at);
        break;
      }
    }
  }
}

function infoRecords<T>(items: readonly T[], size: number, write: (view: DataView, offset: number, item: T) => void): Uint8Array {
  const out = new Uint8Array(items.length * size);
  const view = new DataView(out.buffer);
  items.forEach((item, i) => write(view, i * size, item));
  return out;
}

/** Loads a collection (a parsed spec, an ELF object's path or its bytes) into the kernel. */
export function loadCollection(source: CollectionSpec | string | Uint8Array, options: CollectionOptions = {}): KernelCollection {
  const spec = typeof source === 'string' || source instanceof Uint8Array ? loadCollectionSpec(source) : source;
  const selected = selectPrograms(spec, options, (message) => new CollectionLoadError(message));
  const collection = new KernelCollection(spec);
  /** Pins this load created (not reused ones): removed again if the load fails, as libbpf does. */
  const createdPins: string[] = [];
  try {
    // Externs first: an unresolvable ksym fails before anything is created.
    const ksyms = resolveKsyms(spec);
    if (spec.btf) collection.btf = KernelBtf.load(kernelCompatibleBtf(spec.btf));
    const btf = collection.btf;
    for (const m of Object.values(spec.maps)) {
      const pinned = m.pinning === 'by-name' ? `${options.pinPath ?? BPFFS}/${m.name}` : undefined;
      if (pinned && existsSync(pinned)) {
        collection.maps[m.name] = reusePinned(m, pinned);
        continue;
      }
      const map = (collection.maps[m.name] = createMap(m, btf));
      const data = m.section === '.kconfig' ? kconfigData(spec, m.valueSize, options.kconfig) : m.initialData ? new Uint8Array(m.initialData) : undefined;
      if (data && data.some((b) => b !== 0)) map.update(u32(0), data);
      for (const entry of m.contents) if (entry.value instanceof Uint8Array) map.update(keyBytes(entry), entry.value);
      if (m.frozen) map.freeze();
      if (pinned) {
        map.pin(pinned);
        createdPins.push(pinned);
      }
    }
    let coreTarget = options.coreTarget;
    for (const { program: p, type } of selected) {
      if (type === ProgramType.STRUCT_OPS || type === ProgramType.EXT) {
        throw new CollectionLoadError(
          `program '${p.name}' (section '${p.section}'): ${type === ProgramType.EXT ? 'freplace programs need the program they replace' : 'struct_ops programs load with their struct_ops map'}, which loadCollection does not support yet; leave it out with the programs option`,
        );
      }
      const attachBtfId = loadTimeAttachBtfId(type, p.expectedAttachType, p.attachTo, `program '${p.name}' (section '${p.section}')`);
      let instructions: Instruction[];
      let coreReport: CoreReport | undefined;
      if (p.coreRelocations.length > 0) {
        coreTarget ??= loadKernelBtf();
        ({ instructions, report: coreReport } = applyProgramCore(p, coreTarget));
      } else {
        instructions = p.instructions.map((i) => ({ ...i }));
      }
      const verifiable = { ...p, instructions: instructions.map((i) => ({ ...i })), coreRelocations: [] };
      if (options.verify) assertAccepted(p.name, verify(verifiable, { type, maps: spec.maps }));
      relocate(p, instructions, collection.maps, spec, ksyms);
      const hasBtfInfo = btf !== undefined && p.funcInfo.length > 0;
      try {
        collection.programs[p.name] = KernelProgram.load({
          type,
          instructions,
          // As libbpf: the object's own license, '' when it declares none (GPL-only helpers are then refused).
          license: p.license || spec.license,
          name: kernelObjectName(p.name),
          expectedAttachType: p.expectedAttachType,
          ...(attachBtfId !== undefined ? { attachBtfId } : {}),
          flags: p.programFlags | (p.sleepable ? 1 << 4 : 0) | (options.programFlags ?? 0),
          kernelVersion: p.kernelVersion || spec.kernelVersion,
          logLevel: options.logLevel,
          ...(hasBtfInfo
            ? {
                btfFd: btf.fd,
                funcInfo: infoRecords(p.funcInfo, 8, (v, o, f) => {
                  v.setUint32(o, f.insnIndex, true);
                  v.setUint32(o + 4, f.typeId, true);
                }),
                funcInfoRecordSize: 8,
                lineInfo: infoRecords(p.lineInfo, 16, (v, o, l) => {
                  v.setUint32(o, l.insnIndex, true);
                  v.setUint32(o + 4, l.fileNameOffset, true);
                  v.setUint32(o + 8, l.lineTextOffset, true);
                  v.setUint32(o + 12, (l.line << 10) | (l.column & 0x3ff), true);
                }),
                lineInfoRecordSize: 16,
              }
            : {}),
        });
      } catch (error) {
        throw explainPoisonedCoreAccess(explainPoisonedKfuncCall(withVerifierExplanation(error, verifiable, type, spec), spec, p.name), coreReport);
      }
    }
    for (const m of Object.values(spec.maps)) {
      for (const entry of m.contents) {
        const value = entry.value;
        if (value instanceof Uint8Array) continue;
        const target = 'program' in value ? collection.programs[value.program] : collection.maps[value.map];
        if (!target) {
          if ('program' in value && options.programs) continue; // that program was not selected
          throw new CollectionLoadError(`map '${m.name}': an initial entry names ${'program' in value ? `program '${value.program}'` : `map '${value.map}'`}, which is not in the collection`);
        }
        collection.maps[m.name]!.update(keyBytes(entry), u32(target.fd));
      }
    }
    return collection;
  } catch (error) {
    collection.close();
    for (const path of createdPins) rmSync(path, { force: true });
    throw error;
  }
}
