/**
 * The kernel side of `tsbpf run --backend kernel` and of the runtime's
 * differential tests: loads a CollectionSpec into the running kernel with
 * src/kernel's maps and programs, the same way src/vm/collection.ts loads it
 * into the VM (maps with initial contents, frozen `.rodata`, CO-RE against
 * vmlinux, map and global-variable relocations as BPF_PSEUDO_MAP_FD /
 * BPF_PSEUDO_MAP_VALUE, prog arrays and map-in-maps filled with fds).
 *
 * It is deliberately small: objects using `.kconfig` or `.ksyms` externs, or
 * needing BTF for maps (spin locks, kptrs) or programs (global functions),
 * are refused with a KernelCollectionError rather than loaded differently.
 */
import { type Btf, loadKernelBtf } from '../../btf/index.ts';
import { TsbpfError } from '../../errors.ts';
import type { Instruction } from '../../isa/instruction.ts';
import { LdImm64Src } from '../../isa/opcodes.ts';
import { closeSync } from 'node:fs';
import { BpfCommand, attr, bpfCall, scratch } from '../../kernel/bpf.ts';
import { KernelMap, possibleCpus } from '../../kernel/map.ts';
import { KernelProgram } from '../../kernel/program.ts';
import { applyProgramCore } from '../../object/core.ts';
import { loadCollectionSpec } from '../../object/load.ts';
import type { CollectionSpec, MapEntry, MapSpec } from '../../object/spec.ts';
import { MapType, type ProgramType } from '../../uapi/enums.ts';

export class KernelCollectionError extends TsbpfError {
  override name = 'KernelCollectionError';
}

export interface KernelCollectionOptions {
  /** Load only these programs (default all). */
  programs?: readonly string[];
  /** Program types for sections that do not give one. */
  programTypes?: Record<string, ProgramType>;
  /** CO-RE target (default the running kernel's BTF). */
  coreTarget?: Btf;
}

export class KernelCollection {
  private closed = false;
  /** The object's BTF loaded into the kernel (func_info of programs refers to it), or -1. */
  btfFd = -1;
  constructor(
    readonly programs: Record<string, KernelProgram>,
    readonly maps: Record<string, KernelMap>,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of Object.values(this.programs)) p.close();
    for (const m of Object.values(this.maps)) m.close();
    if (this.btfFd >= 0) closeSync(this.btfFd);
  }
}

/** BPF_BTF_LOAD (the verifier wants func_info, and so BTF, for programs with callbacks). */
function loadBtf(bytes: Uint8Array): number {
  scratch.reset();
  const data = scratch.put(bytes);
  return bpfCall(BpfCommand.BTF_LOAD, attr(32).u64(0, data).u32(16, bytes.length), { subject: 'BTF' });
}

/** bpf_func_info records: (insn_off, type_id) pairs. */
function funcInfoRecords(info: readonly { insnIndex: number; typeId: number }[]): Uint8Array {
  const out = new Uint8Array(info.length * 8);
  const view = new DataView(out.buffer);
  info.forEach((f, i) => {
    view.setUint32(i * 8, f.insnIndex, true);
    view.setUint32(i * 8 + 4, f.typeId, true);
  });
  return out;
}

/** The kernel's names are at most 15 bytes of [A-Za-z0-9_.]. */
function kernelName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15);
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

function keyBytes(entry: MapEntry): Uint8Array {
  return entry.key instanceof Uint8Array ? entry.key : u32(entry.key);
}

function createMap(spec: MapSpec): KernelMap {
  const inner = spec.innerMap !== undefined ? createMap({ ...spec.innerMap, name: `${spec.name}.inner` }) : undefined;
  try {
    return KernelMap.create({
      type: spec.type,
      name: kernelName(spec.name),
      keySize: spec.keySize,
      valueSize: spec.valueSize,
      maxEntries: spec.type === MapType.PERF_EVENT_ARRAY && spec.maxEntries === 0 ? possibleCpus() : spec.maxEntries,
      flags: spec.flags,
      mapExtra: spec.mapExtra,
      innerMap: inner,
    });
  } finally {
    inner?.close(); // the kernel keeps its own copy of the template's metadata
  }
}

/** Loads `source` into the kernel; closes everything it created if any step fails. */
export function loadKernelCollection(source: CollectionSpec | string | Uint8Array, options: KernelCollectionOptions = {}): KernelCollection {
  const spec = typeof source === 'string' || source instanceof Uint8Array ? loadCollectionSpec(source) : source;
  const externs = Object.keys(spec.externs);
  if (externs.length > 0) throw new KernelCollectionError(`externs (${externs.join(', ')}) are not supported by the run command's kernel loader`);
  const maps: Record<string, KernelMap> = {};
  const programs: Record<string, KernelProgram> = {};
  const collection = new KernelCollection(programs, maps);
  try {
    for (const m of Object.values(spec.maps)) {
      const map = (maps[m.name] = createMap(m));
      if (m.initialData !== undefined && m.initialData.some((b) => b !== 0)) map.update(u32(0), m.initialData);
      for (const entry of m.contents) if (entry.value instanceof Uint8Array) map.update(keyBytes(entry), entry.value);
      if (m.frozen) map.freeze();
    }
    let btf = options.coreTarget;
    if (spec.btf !== undefined && Object.values(spec.programs).some((p) => p.funcInfo.length > 0)) collection.btfFd = loadBtf(spec.btf.encode());
    for (const p of Object.values(spec.programs)) {
      if (options.programs !== undefined && !options.programs.includes(p.name)) continue;
      const type = p.type || options.programTypes?.[p.name];
      if (!type) throw new KernelCollectionError(`program '${p.name}' (section '${p.section}') has no program type`);
      let instructions: Instruction[];
      if (p.coreRelocations.length > 0) {
        btf ??= loadKernelBtf();
        instructions = applyProgramCore(p, btf).instructions;
      } else {
        instructions = p.instructions.map((i) => ({ ...i }));
      }
      for (const r of p.relocations) {
        if (r.kind === 'callback') continue; // the kernel takes BPF_PSEUDO_FUNC as linked
        if (r.kind === 'ksym' || r.kind === 'kconfig') throw new KernelCollectionError(`program '${p.name}': ${r.kind} relocations are not supported by this loader`);
        const map = maps[r.mapName];
        if (map === undefined) throw new KernelCollectionError(`program '${p.name}', instruction ${r.insnIndex}: map '${r.mapName}' is not in the collection`);
        const value = r.kind === 'mapValue';
        instructions[r.insnIndex] = { ...instructions[r.insnIndex]!, src: value ? LdImm64Src.MAP_VALUE : LdImm64Src.MAP_FD, imm: map.fd };
        instructions[r.insnIndex + 1] = { ...instructions[r.insnIndex + 1]!, imm: value ? r.offset : 0 };
      }
      programs[p.name] = KernelProgram.load({
        type,
        instructions,
        license: p.license || 'GPL',
        name: kernelName(p.name),
        expectedAttachType: p.expectedAttachType,
        flags: p.programFlags,
        kernelVersion: p.kernelVersion,
        ...(collection.btfFd >= 0 && p.funcInfo.length > 0 ? { btfFd: collection.btfFd, funcInfo: funcInfoRecords(p.funcInfo), funcInfoRecordSize: 8 } : {}),
      });
    }
    for (const m of Object.values(spec.maps)) {
      for (const entry of m.contents) {
        const value = entry.value;
        if (value instanceof Uint8Array) continue;
        const target = 'program' in value ? programs[value.program] : maps[value.map];
        if (target === undefined) {
          if ('program' in value && options.programs !== undefined) continue; // not selected
          throw new KernelCollectionError(`map '${m.name}': entry names ${'program' in value ? `program '${value.program}'` : `map '${value.map}'`}, which is not loaded`);
        }
        maps[m.name]!.update(keyBytes(entry), u32(target.fd));
      }
    }
    return collection;
  } catch (error) {
    collection.close();
    throw error;
  }
}
