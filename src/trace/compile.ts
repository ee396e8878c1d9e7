import { type Btf, type BtfType, createBtf } from '../btf/index.ts';
import type { CollectionSpec, MapSpec, ProgramSpec } from '../object/index.ts';
import { classifySection } from '../object/index.ts';
import { MapType, ProgramType } from '../uapi/index.ts';
import { type TracepointFormat, readTracepointFormat } from '../vm/index.ts';
import type { Probe, Script } from './ast.ts';
import { type EventSpec, type GeneratedProgram, LOST_MAP, ProbeCompiler, type ProbeContext, RINGBUF_MAP, STACK_DEPTH, STACK_MAP, type ScriptState } from './codegen.ts';
import { type ScriptOrigin, TraceError, TraceLimitError, traceError, withSource } from './errors.ts';
import { DEFAULT_MAX_PROBES, parse, tooManyProbes } from './parser.ts';
import { type ProbeTarget, TRACEFS_ROOT, expandAttachPoint, possibleCpuCount } from './probes.ts';
import { type MapInfo, mapKeySize, mapValueSize } from './types.ts';

export interface CompileOptions {
  /** $1, $2...: the script's arguments. */
  positional?: readonly string[];
  /** CLOCK_MONOTONIC nanoseconds that `elapsed` counts from. */
  startNs?: bigint;
  /** Allow system(), cat() and signal(). */
  unsafe?: boolean;
  /** Script name for error messages (default 'stdin', as bpftrace for -e). */
  file?: string;
  /** Where the script starts inside `file`, when it is part of a larger file: errors then give that file's lines. */
  origin?: ScriptOrigin;
  tracefsRoot?: string;
  /** Tracepoint formats (default: read from tracefs); tests inject their own. */
  readFormat?: (category: string, event: string) => TracepointFormat;
  kernelSymbol?: (name: string) => bigint | undefined;
  /** Entries per map (bpftrace's max_map_keys). */
  maxMapKeys?: number;
  /** Ring buffer bytes (a power of two, at least a page). */
  ringBufferSize?: number;
  /** Named arguments for getopt(): `--depth=5` is { depth: '5' }, a bare `--flag` is { flag: '' }. */
  namedArgs?: Readonly<Record<string, string>>;
  /** Possible CPUs, for per-CPU maps read in for loops (default: this machine's, from sysfs). */
  cpus?: number;
  /** The most attach points a script may have after wildcards expand (bpftrace's BPFTRACE_MAX_PROBES, default 512). */
  maxProbes?: number;
}

/** One attach point of the script and the program it runs. */
export interface CompiledProbe {
  target: ProbeTarget;
  program: string;
  /** The value of `probe` in this probe (tracepoints: their event id). */
  probeId: number;
  /** A tracepoint attached as a raw tracepoint (its script does not read `args`). */
  raw: boolean;
}

export interface CompiledScript {
  script: Script;
  spec: CollectionSpec;
  probes: CompiledProbe[];
  maps: Map<string, MapInfo>;
  events: EventSpec[];
  /** `probe` values to names. */
  probeNames: Map<number, string>;
  usesRingbuf: boolean;
  usesStacks: boolean;
  config: Map<string, bigint | string>;
  /** Warnings to print before attaching (each once, with its source line). */
  warnings: TraceError[];
  /** Per program, the script place of its instructions (GeneratedProgram's positions). */
  positions: Record<string, GeneratedProgram['positions']>;
  /** The script's text and name, so a later failure at an instruction can show the script's line. */
  source: string;
  file: string;
  origin?: ScriptOrigin;
}

/** At most this many learning passes (each can only add maps; real scripts settle in two). */
const LEARNING_ROUNDS = 4;

/** Probe ids of non-tracepoint probes start above any tracepoint id (common_type is 16 bits). */
const PROBE_ID_BASE = 1 << 20;

function programType(target: ProbeTarget, raw = false): { type: ProgramType; section: string } {
  switch (target.kind) {
    case 'tracepoint':
      if (raw) return { type: ProgramType.RAW_TRACEPOINT, section: `raw_tp/${target.event}` };
      return { type: ProgramType.TRACEPOINT, section: `tracepoint/${target.category}/${target.event}` };
    case 'rawtracepoint':
      return { type: ProgramType.RAW_TRACEPOINT, section: `raw_tp/${target.event}` };
    case 'begin':
    case 'end':
    case 'interval':
      // Run by the runtime with BPF_PROG_TEST_RUN, which raw tracepoint programs support.
      return { type: ProgramType.RAW_TRACEPOINT, section: 'raw_tp' };
    case 'uprobe':
    case 'uretprobe':
    case 'usdt':
    case 'kprobe':
    case 'kretprobe':
      return { type: ProgramType.KPROBE, section: target.kind === 'kprobe' || target.kind === 'kretprobe' ? 'kprobe' : 'uprobe' };
    case 'fentry':
    case 'fexit':
      return { type: ProgramType.TRACING, section: `${target.kind}/${target.symbol}` };
    case 'profile':
    case 'software':
    case 'hardware':
      return { type: ProgramType.PERF_EVENT, section: 'perf_event' };
  }
}

function programSpec(name: string, context: ProbeContext, generated: GeneratedProgram): ProgramSpec {
  const { type, section } = programType(context.target, context.raw);
  const info = classifySection(section);
  return {
    name,
    section,
    type,
    ...(info?.expectedAttachType !== undefined ? { expectedAttachType: info.expectedAttachType } : {}),
    ...(info?.attachTo !== undefined ? { attachTo: info.attachTo } : {}),
    sleepable: false,
    programFlags: 0,
    instructions: generated.instructions,
    functions: [{ name, insnIndex: 0 }, ...generated.functions],
    relocations: generated.relocations,
    coreRelocations: [],
    funcInfo: [],
    lineInfo: [],
    license: 'GPL',
    kernelVersion: 0,
  };
}

function mapSpec(name: string, type: MapType, keySize: number, valueSize: number, maxEntries: number): MapSpec {
  return { name, type, keySize, valueSize, maxEntries, flags: 0, pinning: 'none', contents: [], readOnly: false, frozen: false, section: '.maps' };
}

/**
 * BTF for programs with for-loop callbacks: the kernel takes a
 * BPF_PSEUDO_FUNC callback only from a program whose func_info names each
 * subprogram, and the callbacks must be static functions. Every function
 * gets `long f(void)`; the kernel types a callback's arguments from the
 * helper that calls it, not from BTF. Programs without callbacks get none.
 */
function functionBtf(programs: ProgramSpec[]): Btf | undefined {
  if (!programs.some((p) => p.functions.length > 1)) return undefined;
  const types: BtfType[] = [
    { id: 1, kind: 'int', name: 'long', size: 8, encoding: 'signed', offset: 0, bits: 64 },
    { id: 2, kind: 'func_proto', name: '', returnType: 1, params: [] },
  ];
  for (const program of programs) {
    program.funcInfo = program.functions.map((f, i) => {
      const id = types.length + 1;
      types.push({ id, kind: 'func', name: f.name, type: 2, linkage: i === 0 ? 'global' : 'static' });
      return { insnIndex: f.insnIndex, typeId: id };
    });
  }
  const btf = createBtf(types);
  for (const program of programs) program.btf = btf;
  return btf;
}

/**
 * Whether a probe's syntax tree reads the `args` builtin. A walk with an
 * explicit stack that visits each node once: macro arguments are shared
 * nodes, so the tree of `m(m(m(...)))` with `macro m(a) { a + a }` is a
 * small graph whose paths are exponentially many.
 */
function mentionsArgs(probe: Probe): boolean {
  const seen = new Set<object>();
  const pending: unknown[] = [probe];
  while (pending.length > 0) {
    const node = pending.pop();
    if (typeof node !== 'object' || node === null || seen.has(node)) continue;
    seen.add(node);
    const { kind, name } = node as { kind?: unknown; name?: unknown };
    if (kind === 'builtin' && name === 'args') return true;
    pending.push(...Object.values(node));
  }
  return false;
}

/** Warnings without repeats: a probe with several attach points is compiled once per attach point. */
function onePerPlace(warnings: TraceError[]): TraceError[] {
  const seen = new Set<string>();
  return warnings.filter((w) => {
    const key = `${w.span?.line}:${w.span?.column}:${w.problem}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The script place that instruction `insnIndex` of `program` was generated from, as an error saying `problem` there. */
export function errorAtInstruction(compiled: CompiledScript, program: string, insnIndex: number, problem: string): TraceError {
  const position = (compiled.positions[program] ?? []).filter((p) => p.insnIndex <= insnIndex).at(-1);
  return withSource(traceError(problem, position?.span), compiled.source, compiled.file, compiled.origin);
}

/** Compiles a bpftrace script to a collection of programs and maps, one program per distinct generated code. */
export function compileScript(source: string, options: CompileOptions = {}): CompiledScript {
  const file = options.file ?? 'stdin';
  const { origin } = options;
  const script = parse(source, file, options.maxProbes ?? DEFAULT_MAX_PROBES, origin);
  try {
    const compiled = compileParsed(script, options);
    return { ...compiled, warnings: compiled.warnings.map((w) => withSource(w, source, file, origin)), source, file, ...(origin !== undefined ? { origin } : {}) };
  } catch (error) {
    if (error instanceof TraceError) throw withSource(error, source, file, origin);
    throw error;
  }
}

function compileParsed(script: Script, options: CompileOptions): Omit<CompiledScript, 'source' | 'file'> {
  const root = options.tracefsRoot ?? TRACEFS_ROOT;
  const readFormat = options.readFormat ?? ((category: string, event: string) => readTracepointFormat(category, event, { tracefs: root }));
  const expanded: { probe: Probe; targets: ProbeTarget[] }[] = script.probes.map((probe) => ({ probe, targets: probe.attachPoints.flatMap((p) => expandAttachPoint(p, root)) }));
  const attachPoints = expanded.reduce((total, e) => total + e.targets.length, 0);
  const maxProbes = options.maxProbes ?? DEFAULT_MAX_PROBES;
  if (attachPoints > maxProbes) throw traceError(tooManyProbes(attachPoints, maxProbes), undefined);
  const probeNames = new Map<number, string>();
  const formats = new Map<string, TracepointFormat>();
  let nextId = PROBE_ID_BASE;
  const contexts = expanded.map(({ probe, targets }) => {
    // Raw tracepoints skip building the tracepoint record: use them when the probe reads no args. Syscall tracepoints have no raw
    // tracepoint of their own (they all hang off sys_enter/sys_exit), so they stay perf tracepoints.
    const readsArgs = mentionsArgs(probe);
    return targets.map((target): ProbeContext => {
      let format: TracepointFormat | undefined;
      let probeId: number;
      if (target.kind === 'tracepoint') {
        const key = `${target.category}:${target.event}`;
        format = formats.get(key);
        if (format === undefined) {
          try {
            format = readFormat(target.category!, target.event!);
          } catch (error) {
            throw traceError(`cannot read the format of tracepoint ${key}: ${(error as Error).message}`, probe.attachPoints[0]!.span);
          }
          formats.set(key, format);
        }
        probeId = format.id;
      } else {
        probeId = nextId++;
      }
      probeNames.set(probeId, target.name);
      const raw = target.kind === 'tracepoint' && !readsArgs && target.category !== 'syscalls';
      return { target, format, probeId, raw };
    });
  });

  const newState = (maps: Map<string, MapInfo>, learning: boolean): ScriptState => ({
    maps,
    learning,
    events: [],
    usesStacks: false,
    usesRingbuf: false,
    positional: options.positional ?? [],
    startNs: options.startNs ?? 0n,
    unsafe: options.unsafe ?? false,
    kernelSymbol: options.kernelSymbol ?? (() => undefined),
    cpus: options.cpus ?? possibleCpuCount(),
    namedArgs: new Map(Object.entries(options.namedArgs ?? {})),
    optionsRead: new Set(),
    warnings: [],
  });
  // Learning passes: every map's type, so a probe may read a map a later probe (or a later statement) assigns.
  // A map learned in one round can type a variable, and through it another map, in the next.
  const learning = newState(new Map(), true);
  for (let round = 0, known = -1; round < LEARNING_ROUNDS && learning.maps.size !== known; round++) {
    known = learning.maps.size;
    expanded.forEach(({ probe }, i) => {
      try {
        new ProbeCompiler(learning, contexts[i]![0]!).compile(probe);
      } catch (error) {
        if (!(error instanceof TraceError) || error instanceof TraceLimitError) throw error;
      }
    });
  }
  const state = newState(learning.maps, false);
  const programs: Record<string, ProgramSpec> = {};
  const byCode = new Map<string, string>();
  const positions: Record<string, GeneratedProgram['positions']> = {};
  const probes: CompiledProbe[] = [];
  expanded.forEach(({ probe }, i) => {
    for (const context of contexts[i]!) {
      const generated = new ProbeCompiler(state, context).compile(probe);
      const { type } = programType(context.target, context.raw);
      // Probes whose code is identical share one program (a wildcard over tracepoints that do not read args).
      const codeKey = `${type}:${context.target.kind === 'fentry' || context.target.kind === 'fexit' ? context.target.symbol : ''}:${JSON.stringify(generated.instructions)}:${JSON.stringify(generated.relocations)}`;
      let name = byCode.get(codeKey);
      if (name === undefined) {
        name = `probe_${Object.keys(programs).length}`;
        programs[name] = programSpec(name, context, generated);
        positions[name] = generated.positions;
        byCode.set(codeKey, name);
      }
      probes.push({ target: context.target, program: name, probeId: context.probeId, raw: context.raw === true });
    }
  });
  const maxEntries = options.maxMapKeys ?? Number(script.config.get('max_map_keys') ?? 4096);
  const maps: Record<string, MapSpec> = {};
  for (const info of state.maps.values()) {
    const perCpu = info.value.kind === 'aggregation';
    const declared = script.mapDeclarations.get(info.name);
    if (declared !== undefined && declared.kind.startsWith('percpu') && !perCpu) {
      throw traceError(`@${info.name} is declared ${declared.kind}(), which holds aggregations (count(), sum()...), but it is assigned plain values: declare it ${declared.kind.replace('percpu', '')}()`, declared.span);
    }
    const lru = declared?.kind.includes('lru') === true;
    const type = perCpu ? (lru ? MapType.LRU_PERCPU_HASH : MapType.PERCPU_HASH) : lru ? MapType.LRU_HASH : MapType.HASH;
    maps[info.kernelName] = mapSpec(info.kernelName, type, mapKeySize(info), mapValueSize(info.value), declared?.maxEntries ?? maxEntries);
  }
  if (state.usesRingbuf) {
    maps[RINGBUF_MAP] = mapSpec(RINGBUF_MAP, MapType.RINGBUF, 0, 0, options.ringBufferSize ?? 1 << 22);
    maps[LOST_MAP] = mapSpec(LOST_MAP, MapType.PERCPU_ARRAY, 4, 8, 1);
  }
  if (state.usesStacks) maps[STACK_MAP] = mapSpec(STACK_MAP, MapType.STACK_TRACE, 4, STACK_DEPTH * 8, maxEntries);
  const unread = Object.keys(options.namedArgs ?? {}).filter((name) => !state.optionsRead.has(name));
  if (unread.length > 0) throw traceError(`the script reads no option ${unread.map((n) => `--${n}`).join(', ')} (getopt() reads${state.optionsRead.size === 0 ? ' none' : `: ${[...state.optionsRead].map((n) => `--${n}`).join(', ')}`})`, undefined);
  const btf = functionBtf(Object.values(programs));
  const spec: CollectionSpec = { programs, maps, variables: {}, externs: {}, byteOrder: 'little', license: 'GPL', kernelVersion: 0, ...(btf !== undefined ? { btf } : {}) };
  return { script, spec, probes, maps: state.maps, events: state.events, probeNames, usesRingbuf: state.usesRingbuf, usesStacks: state.usesStacks, config: script.config, warnings: onePerPlace(state.warnings), positions };
}
