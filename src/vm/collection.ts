/**
 * Loads a whole CollectionSpec (src/object) into the VM, as libbpf's
 * bpf_object__load does for the kernel: every map is created in the VM's
 * memory (BTF and legacy maps, global data, `.kconfig`, inner map
 * templates), initial contents are written (values, map-in-map and
 * prog-array entries), CO-RE relocations are applied against a target BTF,
 * map and global-variable references are resolved, and each program becomes
 * a VmProgram of its type.
 *
 * ```ts
 * const coll = loadVmCollection('prog.o');
 * coll.programs.xdp_count.run({ data: frame });
 * coll.maps.counts.lookup(key);
 * coll.close();
 * ```
 */
import { type Btf, type CoreReport, loadKernelBtf, parseBtf } from '../btf/index.ts';
import { TsbpfError } from '../errors.ts';
import type { Instruction } from '../isa/instruction.ts';
import { CallSrc, LdImm64Src, OPCODE_CALL, OPCODE_LDDW, STACK_FRAME_SIZE } from '../isa/opcodes.ts';
import { ArrayMap, ReferenceArrayMap } from '../maps/array.ts';
import type { VmMap, VmMapOptions } from '../maps/base.ts';
import { createVmMap } from '../maps/create.ts';
import { MapError } from '../maps/errors.ts';
import { readFile } from '../host/node.ts';
import { applyProgramCore } from '../object/core.ts';
import { type KconfigSource, kconfigData } from '../object/kconfig.ts';
import { loadCollectionSpec } from '../object/load.ts';
import type { CollectionSpec, ExternSpec, MapEntry, MapSpec, ProgramSpec, VariableSpec } from '../object/spec.ts';
import type { ProgramType } from '../uapi/enums.ts';
import { loadTimeMaxEntries } from '../uapi/maps.ts';
import { type EventInput, REDIRECT_MAP_TYPES, RedirectMap, UnsupportedHelperError } from './helpers/index.ts';
import { type AttachOptions, type AttachedLinks, CollectionError, LoadedCollection, type ProgramSelection, lookupByName, selectPrograms } from '../backend/index.ts';
import { PerfEventArrayMap, VmPerfEventArrayReader } from '../maps/perf.ts';
import { RingBufMap, VmRingBufferReader } from '../maps/ringbuf.ts';
import { mapTypeName } from '../uapi/enums.ts';
import type { JitOptions } from './jit/index.ts';
import { VmProgram, vmProgramById } from './runtime.ts';
import { Vm } from './vm.ts';
import { assertAccepted, verify } from '../verifier/index.ts';

/** A collection could not be loaded into the VM; names the map, program or extern. */
export class CollectionLoadError extends TsbpfError {
  override name = 'CollectionLoadError';
}

export interface VmCollectionOptions extends ProgramSelection {
  /** The VM to load into (default a new one with the runtime helpers). */
  vm?: Vm;
  /** Run the programs with the WebAssembly JIT. */
  jit?: boolean | JitOptions;
  /**
   * Verify every program with tsbpf's verifier before loading (default
   * true), as the kernel does: a rejected program fails to load with a
   * VerifierError. An accepted program whose memory accesses the verifier
   * proved in bounds runs in the JIT without per-access checks. `false`
   * loads without verifying and keeps every run-time check.
   */
  verify?: boolean;
  /** Virtual CPUs: values per per-CPU map element, rings of perf event arrays (default 1). */
  cpus?: number;
  /**
   * CO-RE target for programs with CO-RE relocations: a Btf or a path to
   * raw BTF (or an ELF object with .BTF). Default: the running kernel's
   * /sys/kernel/btf/vmlinux.
   */
  coreTarget?: Btf | string;
  /**
   * `.kconfig` values by name, as written in a kernel .config ('y', 'm', 'n',
   * numbers, quoted strings), or the path of such a file. Default: the
   * running kernel's /proc/config.gz or /boot/config-$(uname -r); absent
   * externs are zero when __weak and an error otherwise.
   */
  kconfig?: KconfigSource;
  /** Hash seed of hash maps without BPF_F_ZERO_SEED (default random, like the kernel). */
  seed?: number;
  event?: EventInput;
  onTrace?: (line: string) => void;
  clock?: () => bigint;
  random?: () => number;
}

/** The loaded collection: programs and maps by name, with the kernel backend's collection's members (BpfCollection). */
export class VmCollection extends LoadedCollection<VmProgram, VmMap> {
  /** CO-RE results per program that had CO-RE relocations. */
  readonly coreReports: Record<string, CoreReport> = {};
  /**
   * Programs the VM cannot run (a helper that needs kernel objects), by
   * name, with the reason: the rest of the collection loaded, and using one
   * of these (`programs[name]`, `program(name)`) throws this error.
   */
  readonly unavailable: Record<string, UnsupportedHelperError> = {};
  private closed = false;

  constructor(
    readonly vm: Vm,
    programs: Record<string, VmProgram>,
    maps: Record<string, VmMap>,
    private readonly templates: VmMap[],
    spec: CollectionSpec,
  ) {
    super(spec, programs, maps);
  }

  /** Global variables by name: where they live in the global data maps. */
  get variables(): Record<string, VariableSpec> {
    return this.spec.variables;
  }

  /** Records a program that cannot run here: it stays out of `programs` listings, and reaching for it throws `error`. */
  markUnavailable(name: string, error: UnsupportedHelperError): void {
    this.unavailable[name] = error;
    Object.defineProperty(this.programs, name, {
      enumerable: false,
      get: () => {
        throw error;
      },
    });
  }

  /** A reader of ring buffer map `name`. */
  ringBuffer(name: string): VmRingBufferReader {
    const map = this.map(name);
    if (!(map instanceof RingBufMap)) throw new CollectionError(`map '${name}' is not a ring buffer (it is ${mapTypeName(map.type)})`);
    return new VmRingBufferReader(map);
  }

  /** A reader of perf event array map `name`, one ring per virtual CPU. */
  perfBuffer(name: string, options?: { bytesPerCpu?: number }): VmPerfEventArrayReader {
    const map = this.map(name);
    if (!(map instanceof PerfEventArrayMap)) throw new CollectionError(`map '${name}' is not a perf event array (it is ${mapTypeName(map.type)})`);
    return new VmPerfEventArrayReader(map, options);
  }

  /**
   * The VM observes no kernel events, so nothing attaches here: programs
   * run through `program.run()`. Throws for any program whose section names
   * an attach point, so that code written for the kernel does not silently
   * wait for events that never come; returns no links when none does.
   */
  attach(options: AttachOptions = {}): AttachedLinks {
    const names = options.programs ?? Object.keys(this.programs);
    for (const name of names) this.program(name);
    if (names.length > 0) {
      const sections = names.map((name) => `'${name}' (SEC("${lookupByName(this.spec.programs, name, 'program').section}"))`);
      throw new CollectionError(`the VM backend has no kernel events to attach ${sections.join(', ')} to: run programs with program.run(), or load the collection with the kernel backend to attach them`);
    }
    return { links: {}, close: () => undefined, [Symbol.dispose]: () => undefined };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const program of Object.values(this.programs)) program.close();
    for (const map of Object.values(this.maps)) map.close();
    for (const map of this.templates) map.close();
  }
}

/**
 * Loads `source` (a CollectionSpec, or an object file's path or bytes) into
 * the VM. Throws CollectionLoadError, MapError (a map the VM refuses, with
 * the kernel's errno) or the program's load error; nothing created is left
 * open on failure.
 */
export function loadVmCollection(source: CollectionSpec | string | Uint8Array, options: VmCollectionOptions = {}): VmCollection {
  const spec = typeof source === 'string' || source instanceof Uint8Array ? loadCollectionSpec(source) : source;
  if (spec.byteOrder !== 'little') throw new CollectionLoadError('the object is big-endian (bpfeb); the VM runs little-endian programs');
  const vm = options.vm ?? new Vm();
  const cpus = options.cpus ?? 1;
  const maps: Record<string, VmMap> = {};
  const templates: VmMap[] = [];
  const programs: Record<string, VmProgram> = {};
  const collection = new VmCollection(vm, programs, maps, templates, spec);
  try {
    for (const mapSpec of Object.values(spec.maps)) maps[mapSpec.name] = createMap(vm, mapSpec, cpus, options.seed, templates);
    const kconfigMap = maps['.kconfig'];
    const kconfig = kconfigMap && kconfigData(spec, kconfigMap.valueSize, options.kconfig);
    if (kconfig) kconfigMap.update(new Uint8Array(4), kconfig);
    for (const mapSpec of Object.values(spec.maps)) fillMap(mapSpec, maps, 'data');

    let coreTarget: Btf | undefined;
    for (const { program, type } of selectPrograms(spec, options, (message) => new CollectionLoadError(message))) {
      let instructions: Instruction[];
      if (program.coreRelocations.length > 0) {
        coreTarget ??= resolveCoreTarget(options.coreTarget);
        const core = applyProgramCore(program, coreTarget);
        instructions = core.instructions;
        collection.coreReports[program.name] = core.report;
      } else {
        instructions = program.instructions.map((i) => ({ ...i }));
      }
      const { jit, frames } = verifiedJitOptions({ ...program, instructions, coreRelocations: [] }, type as ProgramType, spec, options);
      const referenced = resolveRelocations(program, instructions, maps, spec.externs);
      const loaded = loadProgram(program.name, () => new VmProgram(type, instructions, {
        holds: [...referenced],
        name: program.name,
        vm,
        functionStarts: program.functions.map((f) => f.insnIndex),
        frames,
        event: options.event,
        onTrace: options.onTrace,
        clock: options.clock,
        random: options.random,
        jit,
        cpus,
      }));
      if (loaded instanceof UnsupportedHelperError) collection.markUnavailable(program.name, loaded);
      else programs[program.name] = loaded;
    }
    for (const mapSpec of Object.values(spec.maps)) fillMap(mapSpec, maps, 'references', programs, collection.unavailable);
    return collection;
  } catch (error) {
    collection.close();
    throw error;
  }
}

/** A program, or the error saying which helper keeps the VM from running it (the rest of the collection still loads). */
function loadProgram(name: string, load: () => VmProgram): VmProgram | UnsupportedHelperError {
  try {
    return load();
  } catch (error) {
    if (error instanceof UnsupportedHelperError && error.program === name) return error;
    throw error;
  }
}

/**
 * The JIT options of one program: verified (unless `verify: false`), and
 * without run-time checks when the verifier proved every access in bounds
 * of regions the VM lays out exactly as the verifier assumes; and the
 * verifier's frame sizes, which the VM's frames then have.
 */
function verifiedJitOptions(program: ProgramSpec, type: ProgramType, spec: CollectionSpec, options: VmCollectionOptions): { jit: boolean | JitOptions | undefined; frames?: Map<number, number> } {
  if (options.verify === false) return { jit: options.jit };
  const result = verify(program, { type, maps: spec.maps, logLevel: 0 });
  if (!result.accepted) {
    // Log level 1 only for the error: the path that failed, as the kernel reports it.
    assertAccepted(program.name, verify(program, { type, maps: spec.maps, logLevel: 1 }));
  }
  const frames = verifiedFrames(program.instructions, result.stackDepth);
  // Unchecked code needs the frames the verifier proved the accesses against.
  if (!options.jit || !result.boundsProven || frames === undefined) return { jit: options.jit, frames };
  const jit = options.jit === true ? {} : options.jit;
  return { jit: jit.checked === undefined ? { ...jit, checked: false } : jit, frames };
}

/**
 * The verifier's stack depth of each subprogram by its entry (the
 * verifier's subprograms: the entry, call targets and callbacks, in
 * order), rounded up to 16 bytes as the kernel does for the JIT.
 */
function verifiedFrames(instructions: readonly Instruction[], depths: readonly number[]): Map<number, number> | undefined {
  const entries = new Set<number>([0]);
  for (let pc = 0; pc < instructions.length; pc++) {
    const i = instructions[pc]!;
    if ((i.opcode === OPCODE_CALL && i.src === CallSrc.LOCAL) || (i.opcode === OPCODE_LDDW && i.src === LdImm64Src.FUNC)) entries.add(pc + 1 + i.imm);
    if (i.opcode === OPCODE_LDDW) pc++;
  }
  const sorted = [...entries].sort((a, b) => a - b);
  if (sorted.length !== depths.length) return undefined;
  return new Map(sorted.map((entry, k) => [entry, Math.min(STACK_FRAME_SIZE, Math.ceil(depths[k]! / 16) * 16)]));
}

function createMap(vm: Vm, spec: MapSpec, cpus: number, seed: number | undefined, templates: VmMap[]): VmMap {
  const options: VmMapOptions = {
    type: spec.type,
    name: spec.name,
    keySize: spec.keySize,
    valueSize: spec.valueSize,
    maxEntries: loadTimeMaxEntries(spec.type, spec.maxEntries, cpus),
    flags: spec.flags,
    mapExtra: spec.mapExtra,
    cpus,
    seed,
  };
  if (spec.innerMap !== undefined) {
    const template = createMap(vm, { ...spec.innerMap, name: `${spec.name}.inner` }, cpus, seed, templates);
    templates.push(template);
    options.innerMap = template;
  }
  try {
    return REDIRECT_MAP_TYPES.includes(spec.type) ? new RedirectMap(vm.memory, options) : createVmMap(vm.memory, options);
  } catch (error) {
    if (error instanceof MapError) throw new CollectionLoadError(`map '${spec.name}' (section ${spec.section}): ${error.message}`, { cause: error });
    throw error;
  }
}

function entryKey(map: VmMap, entry: MapEntry): Uint8Array {
  if (entry.key instanceof Uint8Array) return entry.key;
  const key = new Uint8Array(map.keySize);
  if (map.keySize !== 4) throw new CollectionLoadError(`map '${map.name}': numeric key ${entry.key} needs a 4-byte key, the map's is ${map.keySize}`);
  new DataView(key.buffer).setUint32(0, entry.key, true);
  return key;
}

/**
 * Writes a map's initial contents. Pass 'data' (before programs exist):
 * global data and byte values, then freezes `.rodata`/`.kconfig`. Pass
 * 'references' (after): prog array slots and map-in-map values.
 */
function fillMap(spec: MapSpec, maps: Record<string, VmMap>, pass: 'data' | 'references', programs: Record<string, VmProgram> = {}, unavailable: Record<string, unknown> = {}): void {
  const map = maps[spec.name]!;
  const fail = (detail: string, cause?: unknown): never => {
    throw new CollectionLoadError(`map '${spec.name}': ${detail}`, cause === undefined ? undefined : { cause });
  };
  try {
    if (pass === 'data') {
      if (spec.initialData !== undefined && spec.initialData.some((b) => b !== 0) && spec.name !== '.kconfig') {
        if (spec.initialData.length !== map.valueSize) fail(`initial data is ${spec.initialData.length} bytes, the value size is ${map.valueSize}`);
        map.update(new Uint8Array(4), spec.initialData);
      }
      for (const entry of spec.contents) {
        if (entry.value instanceof Uint8Array) map.update(entryKey(map, entry), entry.value);
      }
      if (spec.frozen) map.freeze();
      return;
    }
    if (map instanceof ReferenceArrayMap && map.kind === 'program') {
      map.setResolver((id) => {
        const program = vmProgramById(id);
        return program !== undefined && program.vm.memory === map.memory ? program.loaded : undefined;
      });
    }
    for (const entry of spec.contents) {
      const value = entry.value;
      if (value instanceof Uint8Array) continue;
      const key = entryKey(map, entry);
      const id = new Uint8Array(4);
      // A program the VM cannot run leaves its slot empty, as a tail call to it would fail.
      if ('program' in value && value.program in unavailable) continue;
      if ('program' in value) {
        const program = programs[value.program] ?? fail(`entry names program '${value.program}', which is not loaded`);
        new DataView(id.buffer).setUint32(0, program.id, true);
      } else {
        const inner = maps[value.map] ?? fail(`entry names map '${value.map}', which is not in the collection`);
        new DataView(id.buffer).setUint32(0, inner.id, true);
      }
      map.update(key, id);
    }
  } catch (error) {
    if (error instanceof MapError) fail(error.message, error);
    throw error;
  }
}

/** Puts `value` (a 64-bit address or handle) into the lddw at `index`. */
function setLddw(instructions: Instruction[], index: number, value: number): void {
  instructions[index] = { ...instructions[index]!, src: 0, imm: value | 0 };
  instructions[index + 1] = { ...instructions[index + 1]!, imm: 0 };
}

/** Patches the program's relocations; returns the maps whose handles or values it now embeds. */
function resolveRelocations(program: ProgramSpec, instructions: Instruction[], maps: Record<string, VmMap>, externs: Record<string, ExternSpec>): Set<VmMap> {
  const referenced = new Set<VmMap>();
  const where = (index: number): string => `program '${program.name}', instruction ${index}`;
  const valueAddress = (mapName: string, offset: number, index: number): number => {
    const map = maps[mapName];
    if (!(map instanceof ArrayMap)) throw new CollectionLoadError(`${where(index)}: global data map '${mapName}' is missing or not an array`);
    if (offset < 0 || offset >= map.valueSize) throw new CollectionLoadError(`${where(index)}: offset ${offset} is outside '${mapName}' (${map.valueSize} bytes)`);
    referenced.add(map);
    return map.elementAddress(0) + offset;
  };
  for (const r of program.relocations) {
    switch (r.kind) {
      case 'map': {
        const map = maps[r.mapName];
        if (map === undefined) throw new CollectionLoadError(`${where(r.insnIndex)}: map '${r.mapName}' is not in the collection`);
        setLddw(instructions, r.insnIndex, map.handle);
        referenced.add(map);
        break;
      }
      case 'mapValue':
      case 'kconfig':
        setLddw(instructions, r.insnIndex, valueAddress(r.mapName, r.offset, r.insnIndex));
        break;
      case 'ksym': {
        const extern = externs[r.externName];
        if (!r.isFunction && extern?.weak) {
          setLddw(instructions, r.insnIndex, 0);
          break;
        }
        throw new CollectionLoadError(`${where(r.insnIndex)}: ${r.isFunction ? 'kfunc' : 'kernel symbol'} '${r.externName}' does not exist in the VM (no kernel)`);
      }
      case 'callback':
        break; // lddw src=BPF_PSEUDO_FUNC: VmProgram turns it into a function pointer
    }
  }
  return referenced;
}

function resolveCoreTarget(target: Btf | string | undefined): Btf {
  if (target !== undefined && typeof target !== 'string') return target;
  const path = target ?? '/sys/kernel/btf/vmlinux';
  try {
    if (target === undefined) return loadKernelBtf(path);
    const bytes = readFile(path);
    if (bytes[0] === 0x7f && bytes[1] === 0x45) {
      const btf = loadCollectionSpec(bytes).btf;
      if (btf === undefined) throw new CollectionLoadError(`CO-RE target ${path} is an ELF object without .BTF`);
      return btf;
    }
    return parseBtf(bytes);
  } catch (error) {
    if (error instanceof CollectionLoadError) throw error;
    throw new CollectionLoadError(`cannot read the CO-RE target BTF ${path}: ${(error as Error).message} (give coreTarget)`, { cause: error });
  }
}

