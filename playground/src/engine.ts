/**
 * What the playground does with tsbpf, without the page: sources to
 * collections, verification with per-instruction states, runs on both
 * engines, recorded executions, capture verdict counts. The UI (main.ts)
 * only displays these results, and the end-to-end tests compare them with
 * the library called directly in Node.
 */
import { assemble, isa, loadCollectionSpec, loadVmCollection, object, uapi, verifier, TsbpfError } from 'tsbpf';
import type { CollectionSpec, MapSpec, ProgramSpec } from 'tsbpf/object';
import { type ExecutionStep, JitProgram, type VmCollection, type VmProgram } from 'tsbpf/vm';
import type { Instruction } from 'tsbpf/isa';
import type { VerifyResult } from 'tsbpf/verifier';
import { readCaptureAll } from 'tsbpf/net';

/** A problem in the user's source, placed for the editor. */
export interface SourceProblem {
  line: number;
  column: number;
  message: string;
}

export class PlaygroundError extends TsbpfError {
  override name = 'PlaygroundError';
  constructor(
    message: string,
    readonly problems: SourceProblem[] = [],
  ) {
    super(message);
  }
}

const MAP_TYPES: Record<string, uapi.MapType> = {
  array: uapi.MapType.ARRAY,
  hash: uapi.MapType.HASH,
  percpu_array: uapi.MapType.PERCPU_ARRAY,
  percpu_hash: uapi.MapType.PERCPU_HASH,
  lru_hash: uapi.MapType.LRU_HASH,
  ringbuf: uapi.MapType.RINGBUF,
  prog_array: uapi.MapType.PROG_ARRAY,
};

const MAP_DIRECTIVE = /^\s*\.map\s+(\S+)\s+(\S+)\s+(.*)$/;
const MAP_REFERENCE = /map_(fd|value)\(([A-Za-z_][A-Za-z0-9_]*)\)/g;
/** Most maps and entries an assembly source may declare (the page keeps every entry in view). */
const MAX_MAPS = 16;
const MAX_ENTRIES = 4096;
const MAX_MAP_BYTES = 1 << 20;

/**
 * `.map NAME TYPE key=K value=V entries=N` lines declare maps for an
 * assembly source; `map_fd(NAME)` and `map_value(NAME)` refer to them. The
 * lines are blanked and names replaced by indexes padded to the same width,
 * so the assembler's line and column numbers stay the user's.
 */
export function parseMapDirectives(text: string): { source: string; maps: MapSpec[] } {
  const maps: MapSpec[] = [];
  const problems: SourceProblem[] = [];
  const lines = text.split('\n').map((line, index) => {
    const m = MAP_DIRECTIVE.exec(line);
    if (m === null) return line;
    const [, name, typeName, rest] = m as unknown as [string, string, string, string];
    const problem = (message: string): string => {
      problems.push({ line: index + 1, column: 1, message });
      return '';
    };
    const type = MAP_TYPES[typeName];
    if (type === undefined) return problem(`.map ${name}: unknown map type '${typeName}' (one of ${Object.keys(MAP_TYPES).join(', ')})`);
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,14}$/.test(name)) return problem(`.map: '${name}' is not a map name (a C identifier of at most 15 characters)`);
    if (maps.some((s) => s.name === name)) return problem(`.map ${name}: declared twice`);
    if (maps.length >= MAX_MAPS) return problem(`.map ${name}: at most ${MAX_MAPS} maps`);
    const fields: Record<string, number> = {};
    for (const part of rest.trim().split(/\s+/)) {
      const kv = /^(key|value|entries)=(\d{1,7})$/.exec(part);
      if (kv === null) return problem(`.map ${name}: '${part}' is not key=N, value=N or entries=N`);
      fields[kv[1]!] = Number(kv[2]);
    }
    const ringbuf = type === uapi.MapType.RINGBUF;
    const keySize = ringbuf ? 0 : (fields.key ?? 4);
    const valueSize = ringbuf ? 0 : (fields.value ?? 8);
    const maxEntries = fields.entries ?? (ringbuf ? 4096 : 16);
    if (!ringbuf && (keySize < 1 || valueSize < 1)) return problem(`.map ${name}: key and value sizes must be at least 1`);
    if (!ringbuf && (maxEntries < 1 || maxEntries > MAX_ENTRIES)) return problem(`.map ${name}: entries must be 1..${MAX_ENTRIES}`);
    if (!ringbuf && (keySize + valueSize) * maxEntries > MAX_MAP_BYTES) return problem(`.map ${name}: more than ${MAX_MAP_BYTES} bytes`);
    maps.push({ name, type, keySize, valueSize, maxEntries, flags: 0, pinning: 'none', contents: [], readOnly: false, frozen: false, section: '.maps' });
    return '';
  });
  const source = lines
    .map((line, index) =>
      line.replace(MAP_REFERENCE, (whole, kind: string, name: string) => {
        const at = maps.findIndex((s) => s.name === name);
        if (at < 0) {
          problems.push({ line: index + 1, column: line.indexOf(whole) + 1, message: `no map named '${name}' (declare it with .map ${name} array key=4 value=8 entries=16)` });
          return whole;
        }
        return `map_${kind}(${String(at).padEnd(name.length)})`;
      }),
    )
    .join('\n');
  if (problems.length > 0) throw new PlaygroundError(problems.map((p) => `line ${p.line}: ${p.message}`).join('\n'), problems);
  return { source, maps };
}

/** An assembly source (llvm/kernel or uBPF syntax) with its section and `.map` lines, as a one-program collection. */
export function assemblySpec(text: string, section: string, syntax: 'auto' | 'llvm' | 'ubpf' = 'auto'): CollectionSpec {
  const { source, maps } = parseMapDirectives(text);
  let instructions: Instruction[];
  try {
    instructions = assemble(source, { syntax });
  } catch (error) {
    if (error instanceof isa.AsmError) throw new PlaygroundError(error.message, [{ line: error.line, column: error.column, message: error.reason }]);
    throw error;
  }
  const spec = object.collectionFromInstructions({ name: 'prog', section, instructions });
  const program = spec.programs.prog!;
  instructions.forEach((insn, insnIndex) => {
    if (insn.opcode !== isa.OPCODE_LDDW) return;
    if (insn.src === isa.LdImm64Src.MAP_FD) program.relocations.push({ kind: 'map', insnIndex, mapName: maps[insn.imm]?.name ?? `#${insn.imm}` });
    if (insn.src === isa.LdImm64Src.MAP_VALUE) program.relocations.push({ kind: 'mapValue', insnIndex, mapName: maps[insn.imm]?.name ?? `#${insn.imm}`, offset: instructions[insnIndex + 1]!.imm });
  });
  for (const reloc of program.relocations) {
    if (!('mapName' in reloc) || maps.some((m) => m.name === reloc.mapName)) continue;
    throw new PlaygroundError(`instruction ${reloc.insnIndex} refers to map ${reloc.mapName}, which no .map line declares`);
  }
  return { ...spec, maps: Object.fromEntries(maps.map((m) => [m.name, m])) };
}

/** A compiled object's programs and maps, for the upload panel. */
export function objectSpec(bytes: Uint8Array): CollectionSpec {
  return loadCollectionSpec(bytes);
}

export interface ObjectSummary {
  programs: { name: string; section: string; type: string; instructions: number }[];
  maps: { name: string; type: string; keySize: number; valueSize: number; maxEntries: number }[];
}

export function summarize(spec: CollectionSpec): ObjectSummary {
  return {
    programs: Object.values(spec.programs).map((p) => ({ name: p.name, section: p.section, type: uapi.programTypeSpec(p.type)?.name ?? String(p.type), instructions: p.instructions.length })),
    maps: Object.values(spec.maps).map((m) => ({ name: m.name, type: uapi.mapTypeName(m.type).toLowerCase(), keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries })),
  };
}

/** The listing shown beside the verifier's states: one line per instruction slot (an lddw's second slot is empty). */
export function listing(program: ProgramSpec): string[] {
  const insns = program.instructions;
  return insns.map((_, index) => (index > 0 && insns[index - 1]!.opcode === isa.OPCODE_LDDW ? '' : isa.formatInstruction(insns, index, { style: 'kernel' })));
}

export function verifyProgram(spec: CollectionSpec, name: string): VerifyResult {
  const program = spec.programs[name];
  if (program === undefined) throw new PlaygroundError(`no program '${name}'`);
  return verifier.verify(program, { maps: spec.maps, logLevel: 2, collectStates: 32 });
}

/** Source line of an instruction from BTF line info. */
export function sourceLineOf(program: ProgramSpec, insnIndex: number): string | undefined {
  let found: string | undefined;
  for (const info of program.lineInfo) {
    if (info.insnIndex > insnIndex) break;
    found = `${info.fileName.split('/').at(-1)}:${info.line}: ${info.lineText.trim()}`;
  }
  return found;
}

export interface LoadOptions {
  jit: boolean;
}

export function loadCollection(spec: CollectionSpec, options: LoadOptions): VmCollection {
  return loadVmCollection(spec, { verify: false, ...(options.jit ? { jit: { keepModule: true } } : {}) });
}

/** What a run's input is: a frame for packet programs, or the context's bytes for others. */
export interface RunInput {
  data?: Uint8Array;
  ctx?: Uint8Array;
}

export interface RunOutcome {
  retval: number;
  verdict: string;
  durationNs: number;
  instructions: number;
  data?: Uint8Array;
  ctx?: Uint8Array;
  trace: string[];
}

/** The name of a return value in the program type's actions (XDP_DROP, TC_ACT_OK...), or the number. */
export function verdictName(type: number, retval: number): string {
  const spec = uapi.programTypeSpec(type);
  const action = Object.entries(spec?.actions ?? {}).find(([, value]) => value === retval)?.[0];
  if (action === undefined) return String(retval);
  return `${spec!.name === 'xdp' ? 'XDP_' : 'TC_ACT_'}${action}`;
}

const RUNS_TIMED = 1000;

/** Copies every entry of `from`'s maps into the same maps of `to` (two loads of one spec). */
export function copyMaps(from: VmCollection, to: VmCollection): void {
  for (const [name, map] of Object.entries(from.maps)) {
    const target = to.maps[name];
    if (target === undefined || !copyable(map.type)) continue;
    for (const [key, value] of map.entries()) target.update(key, value);
  }
}

const copyable = (type: number): boolean => type !== uapi.MapType.RINGBUF && type !== uapi.MapType.PERF_EVENT_ARRAY && type !== uapi.MapType.PROG_ARRAY;

/**
 * Runs the program once on `collection` (its maps keep what the run did,
 * as a kernel's would). The instruction count comes from the interpreter
 * and the time per run from a repeated run, both on copies of the
 * collection, so the maps see exactly one run.
 */
export function runProgram(collection: VmCollection, name: string, input: RunInput, jit: boolean): RunOutcome {
  const program = collection.programs[name];
  if (program === undefined) throw new PlaygroundError(`no program '${name}' in the collection${collection.unavailable[name] ? `: ${collection.unavailable[name]!.message}` : ''}`);
  let instructions = 0;
  const counter = loadCollection(collection.spec, { jit: false });
  try {
    copyMaps(collection, counter);
    counter.programs[name]!.run({ ...runInput(input), onStep: () => instructions++ });
  } catch {
    // A run that faults is reported by the real run below; the count is what ran before the fault.
  } finally {
    counter.close();
  }
  const timer = loadCollection(collection.spec, { jit });
  let durationNs: number;
  try {
    copyMaps(collection, timer);
    durationNs = timer.programs[name]!.run({ ...runInput(input), repeat: RUNS_TIMED }).durationNs;
  } catch {
    durationNs = Number.NaN;
  } finally {
    timer.close();
  }
  const once = program.run(runInput(input));
  return {
    retval: once.retval,
    verdict: verdictName(program.type, once.retval),
    durationNs,
    instructions,
    ...(once.data !== undefined ? { data: once.data } : {}),
    ...(once.ctx !== undefined ? { ctx: once.ctx } : {}),
    trace: once.trace,
  };
}

function runInput(input: RunInput): { data?: Uint8Array; ctx?: Uint8Array } {
  return { ...(input.data !== undefined ? { data: input.data.slice() } : {}), ...(input.ctx !== undefined ? { ctx: input.ctx.slice() } : {}) };
}

/** The JIT's module of a program, when it runs in the JIT. */
export function jitModule(program: VmProgram): Uint8Array | undefined {
  return program.loaded instanceof JitProgram ? program.loaded.moduleBytes : undefined;
}

export interface MapSnapshot {
  name: string;
  keySize: number;
  valueSize: number;
  /** Hex key → hex value, in the map's order. */
  entries: [string, string][];
}

export interface RecordedStep {
  pc: number;
  depth: number;
  executed: number;
  registers: bigint[];
  /** The current frame's 512 bytes of stack, lowest address first (r10-512 .. r10). */
  stack: Uint8Array;
  /** The packet (or context) bytes before this instruction. */
  data: Uint8Array;
  maps: MapSnapshot[];
}

export interface Recording {
  steps: RecordedStep[];
  /** Set when the run stopped (a fault, the budget) instead of exiting. */
  error?: string;
  retval?: number;
  /** The run was cut at MAX_STEPS; later instructions were not recorded. */
  truncated: boolean;
}

const MAX_STEPS = 20_000;
const STACK_BYTES = 512;

export const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

export function snapshotMaps(collection: VmCollection): MapSnapshot[] {
  return Object.entries(collection.maps)
    .filter(([, map]) => copyable(map.type))
    .map(([name, map]) => {
      const entries: [string, string][] = [];
      for (const [k, v] of map.entries()) {
        entries.push([hex(k), hex(v)]);
        if (entries.length >= MAX_ENTRIES) break;
      }
      return { name, keySize: map.keySize, valueSize: map.valueSize, entries };
    });
}

/**
 * Runs once on the interpreter with RunOptions.onStep and keeps the machine
 * before every instruction: registers, the current frame's stack, the
 * packet (or context) bytes and every map. Maps are read again only after
 * an instruction that can change them (a store, an atomic or a call).
 */
export function recordRun(source: VmCollection, name: string, input: RunInput): Recording {
  const collection = loadCollection(source.spec, { jit: false });
  try {
    copyMaps(source, collection);
    return record(collection, name, input);
  } finally {
    collection.close();
  }
}

function record(collection: VmCollection, name: string, input: RunInput): Recording {
  const program = collection.programs[name];
  if (program === undefined) throw new PlaygroundError(`no program '${name}'`);
  const layout = contextLayoutOf(program.type);
  const steps: RecordedStep[] = [];
  let maps = snapshotMaps(collection);
  let mapsMayChange = false;
  let data: { start: number; end: number } | undefined;
  let truncated = false;
  const instructions = collection.spec.programs[name]!.instructions;
  const onStep = (s: ExecutionStep): void => {
    if (steps.length >= MAX_STEPS) {
      truncated = true;
      throw new PlaygroundError(`recording stopped after ${MAX_STEPS} instructions`);
    }
    const u8 = s.memory.u8;
    const registers = Array.from({ length: 11 }, (_, n) => s.register(n));
    if (data === undefined) data = dataRegion(s, layout);
    const fp = Number(registers[10]!);
    if (mapsMayChange) maps = snapshotMaps(collection);
    const previous = steps.at(-1);
    steps.push({ pc: s.pc, depth: s.depth, executed: s.executed, registers, stack: unlessUnchanged(u8.subarray(fp - STACK_BYTES, fp), previous?.stack), data: unlessUnchanged(u8.subarray(data.start, data.end), previous?.data), maps });
    const opcode = s.programName === program.name ? (instructions[s.pc]?.opcode ?? 0) : 0;
    const cls = opcode & 7;
    mapsMayChange = cls === 3 || cls === 2 || opcode === 0x85 || opcode === 0x8d;
  };
  try {
    const result = program.run({ ...runInput(input), onStep });
    return { steps, retval: result.retval, truncated: false };
  } catch (error) {
    if (truncated) return { steps, truncated: true };
    return { steps, error: error instanceof Error ? error.message : String(error), truncated: false };
  }
}

/** A copy of `bytes`, or `previous` itself when equal: a recording holds each distinct stack and packet once. */
function unlessUnchanged(bytes: Uint8Array, previous: Uint8Array | undefined): Uint8Array {
  if (previous !== undefined && previous.length === bytes.length && previous.every((b, i) => b === bytes[i])) return previous;
  return bytes.slice();
}

function contextLayoutOf(type: number): uapi.ContextLayout | undefined {
  const context = uapi.programTypeSpec(type)?.context;
  return context !== undefined && context in uapi.CONTEXT_LAYOUTS ? uapi.CONTEXT_LAYOUTS[context as keyof typeof uapi.CONTEXT_LAYOUTS] : undefined;
}

/** The packet bytes (data..data_end from the context) or, for other types, the context itself, located at the first step. */
function dataRegion(s: ExecutionStep, layout: uapi.ContextLayout | undefined): { start: number; end: number } {
  const ctx = Number(s.register(1));
  const field = (n: string): number | undefined => layout?.fields.find((f) => f.name === n)?.offset;
  const dataOff = field('data');
  const endOff = field('data_end');
  const view = s.memory.view;
  if (dataOff !== undefined && endOff !== undefined) {
    const start = view.getUint32(ctx + dataOff, true);
    const end = view.getUint32(ctx + endOff, true);
    if (end >= start && end - start <= 65536) return { start, end };
  }
  const size = layout?.size ?? 0;
  return { start: ctx, end: ctx + Math.min(size, 1024) };
}

export interface CaptureOutcome {
  packets: number;
  /** Verdict name → packets. */
  verdicts: Record<string, number>;
  refused: number;
  durationNs: number;
}

/** Runs the program over every packet of a pcap/pcapng capture and counts the verdicts. */
export async function runCapture(collection: VmCollection, name: string, capture: Uint8Array): Promise<CaptureOutcome> {
  const program = collection.programs[name];
  if (program === undefined) throw new PlaygroundError(`no program '${name}'`);
  const packets = await readCaptureAll(capture);
  const batch = program.runBatch(packets.map((p) => p.data));
  const verdicts: Record<string, number> = {};
  batch.retvals.forEach((retval, index) => {
    if (batch.errors.has(index)) return;
    const key = verdictName(program.type, retval);
    verdicts[key] = (verdicts[key] ?? 0) + 1;
  });
  return { packets: packets.length, verdicts, refused: batch.errors.size, durationNs: batch.durationNs };
}

/** Parses hex as the packet editor accepts it: pairs of digits, spaces, newlines and `0x` prefixes ignored. */
export function parseHex(text: string): Uint8Array {
  const cleaned = text.replace(/0x/gi, '').replace(/[\s:,-]/g, '');
  const bad = /[^0-9a-fA-F]/.exec(cleaned);
  if (bad !== null) throw new PlaygroundError(`'${bad[0]}' is not a hex digit`);
  if (cleaned.length % 2 !== 0) throw new PlaygroundError(`odd number of hex digits (${cleaned.length}): every byte needs two`);
  if (cleaned.length > 2 * 65535) throw new PlaygroundError('a packet is at most 65535 bytes');
  const bytes = new Uint8Array(cleaned.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(cleaned.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

