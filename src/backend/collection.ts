/**
 * What a loaded collection offers on either backend (`VmCollection` in
 * src/vm, `KernelCollection` in src/kernel): programs and maps by name, the
 * spec it was loaded from, typed maps, global variables, event readers and
 * attachment from SEC(). Code written against `BpfCollection` runs on both.
 */
import type { BtfValue } from '../btf/value.ts';
import { TsbpfError } from '../errors.ts';
import type { CollectionSpec, ProgramSpec, VariableSpec } from '../object/spec.ts';
import type { BpfMap, BpfProgram } from './interface.ts';
import { type PerCpuTypedMap, type TypedMap, typedSpecMap, typedSpecPerCpuMap } from './typed-map.ts';

/** A name the collection does not have (program, map, variable), or a use its kind does not allow. */
export class CollectionError extends TsbpfError {
  override name = 'CollectionError';
}

/** A sample of a perf event array: the CPU it was written on and the bytes the program passed. */
export interface PerfSample {
  cpu: number;
  data: Uint8Array;
}

/**
 * Reads records from a ring buffer (`Uint8Array`) or perf event array
 * (`PerfSample`) of either backend. Records given to `poll` callbacks are
 * views valid during the call; `consume` and the async iterator hand out
 * records valid until the next one is requested.
 */
export interface RecordReader<R> extends AsyncIterable<R> {
  readonly closed: boolean;
  /** Delivers the records available now; returns how many. */
  poll(callback: (record: R) => void): number;
  /** Resolves true when records are available, false when closed or after `timeoutMs` (-1: no timeout). */
  wait(timeoutMs?: number): Promise<boolean>;
  /** Delivers records until close() or `signal` aborts; a callback's promise is awaited. */
  consume(callback: (record: R) => void | Promise<void>, options?: { signal?: AbortSignal }): Promise<void>;
  close(): void;
  [Symbol.dispose](): void;
}

/** Where `collection.attach()` puts programs whose SEC() does not say it all. */
export interface AttachOptions {
  /** Only these programs (default every program whose section names an attach point). */
  programs?: readonly string[];
  /** Network interface (name or index) for XDP programs. */
  interface?: string | number;
  /** XDP mode (default: what the driver supports, generic as a fallback). */
  xdpMode?: 'generic' | 'native' | 'offload';
  /** Process for uprobes (default every process that maps the binary). */
  pid?: number;
  /** perf_event programs: sample frequency in Hz (default 99) on every CPU. */
  perfEvent?: { frequency?: number; cpus?: readonly number[] };
}

/** Links created by attach(); closing detaches every one. */
export interface AttachedLinks {
  /** Link by program name. */
  readonly links: Readonly<Record<string, { close(): void }>>;
  close(): void;
  [Symbol.dispose](): void;
}

/** A loaded collection, on the kernel or in the VM. */
export interface BpfCollection<P extends BpfProgram = BpfProgram, M extends BpfMap = BpfMap> {
  readonly programs: Readonly<Record<string, P>>;
  readonly maps: Readonly<Record<string, M>>;
  /** What was loaded: BTF, map definitions, sections, variables. */
  readonly spec: CollectionSpec;
  /** Program `name`, or a CollectionError listing the programs there are. */
  program(name: string): P;
  /** Map `name`, or a CollectionError listing the maps there are. */
  map(name: string): M;
  /** Map `name` with keys and values decoded from its BTF types (a plain map; values are `V`). */
  typed<K = BtfValue, V = BtfValue>(name: string): TypedMap<K, V>;
  /** Per-CPU map `name` typed from BTF: values are `V[]`, one per CPU. */
  typedPerCpu<K = BtfValue, V = BtfValue>(name: string): PerCpuTypedMap<K, V>;
  /** The current bytes of global variable `name`. */
  readVariable(name: string): Uint8Array;
  /** Sets global variable `name` (bytes of its size, or an integer). `.rodata` is frozen once loaded. */
  writeVariable(name: string, value: Uint8Array | number | bigint): void;
  /** A reader of ring buffer map `name`. */
  ringBuffer(name: string): RecordReader<Uint8Array>;
  /** A reader of perf event array map `name`. */
  perfBuffer(name: string): RecordReader<PerfSample>;
  /** Attaches programs where their SEC() says (tracepoint, raw_tp, tp_btf, uprobe, xdp, perf_event). */
  attach(options?: AttachOptions): AttachedLinks;
  close(): void;
  [Symbol.dispose](): void;
}

/** `record[name]`, or a CollectionError listing what there is. */
export function lookupByName<T>(record: Readonly<Record<string, T>>, name: string, what: string): T {
  const found = Object.hasOwn(record, name) ? record[name] : undefined;
  if (found === undefined) throw new CollectionError(`no ${what} '${name}' in the collection (${what}s: ${Object.keys(record).join(', ') || 'none'})`);
  return found;
}

/**
 * What both backends' collections do alike: programs and maps by name,
 * maps typed from the spec's BTF, global variables through their section's
 * map. Each backend adds its event readers, attach() and close().
 */
export abstract class LoadedCollection<P extends BpfProgram, M extends BpfMap> implements BpfCollection<P, M> {
  readonly #variables: GlobalVariables;

  constructor(
    /** What was loaded: BTF, map definitions, sections, variables. */
    readonly spec: CollectionSpec,
    readonly programs: Record<string, P>,
    readonly maps: Record<string, M>,
  ) {
    this.#variables = new GlobalVariables(spec.variables, maps);
  }

  /** Program `name`, or a CollectionError listing the programs there are. */
  program(name: string): P {
    return lookupByName(this.programs, name, 'program');
  }

  /** Map `name`, or a CollectionError listing the maps there are. */
  map(name: string): M {
    return lookupByName(this.maps, name, 'map');
  }

  /** Map `name` with keys and values decoded from and encoded to its BTF types (values `V`; see typedPerCpu). */
  typed<K = BtfValue, V = BtfValue>(name: string): TypedMap<K, V> {
    return typedSpecMap<K, V>(this.spec, name, this.map(name));
  }

  /** Per-CPU map `name` typed from BTF: values `V[]`, one per CPU. */
  typedPerCpu<K = BtfValue, V = BtfValue>(name: string): PerCpuTypedMap<K, V> {
    return typedSpecPerCpuMap<K, V>(this.spec, name, this.map(name));
  }

  /** The current bytes of global variable `name` (read from its `.data`/`.bss`/`.rodata` map). */
  readVariable(name: string): Uint8Array {
    return this.#variables.read(name);
  }

  /**
   * Sets global variable `name`: bytes of its size, or an integer written
   * little-endian in its size. `.rodata` is frozen after loading, so this
   * fails for constants with the map's EPERM (set them in the spec first).
   */
  writeVariable(name: string, value: Uint8Array | number | bigint): void {
    this.#variables.write(name, value);
  }

  abstract ringBuffer(name: string): RecordReader<Uint8Array>;
  abstract perfBuffer(name: string): RecordReader<PerfSample>;
  abstract attach(options?: AttachOptions): AttachedLinks;
  abstract close(): void;

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Which programs of a collection to load, and as what: the load options both backends take. */
export interface ProgramSelection {
  /** Load only these programs (default all); each must be in the object. */
  programs?: readonly string[];
  /** Program types for programs whose section name does not give one. */
  programTypes?: Record<string, number>;
}

/**
 * The programs of `spec` that `options` selects, each with its program type
 * (the section's, else `programTypes`). An unknown name in `programs`, or a
 * program without a type, is an error made by `fail` (each backend's own).
 */
export function selectPrograms(spec: CollectionSpec, options: ProgramSelection, fail: (message: string) => Error): { program: ProgramSpec; type: number }[] {
  const unknown = (options.programs ?? []).filter((name) => !Object.hasOwn(spec.programs, name));
  if (unknown.length > 0) throw fail(`no program ${unknown.map((n) => `'${n}'`).join(', ')} in the object (programs: ${Object.keys(spec.programs).join(', ') || 'none'})`);
  return Object.values(spec.programs)
    .filter((program) => options.programs === undefined || options.programs.includes(program.name))
    .map((program) => {
      const type = program.type || options.programTypes?.[program.name];
      if (!type) throw fail(`program '${program.name}' (section '${program.section}'): the section does not give a program type; set programTypes['${program.name}']`);
      return { program, type };
    });
}

/** Reads and writes global variables through the map holding their section (`.data`, `.bss`, `.rodata`). */
export class GlobalVariables {
  constructor(
    private readonly variables: Readonly<Record<string, VariableSpec>>,
    private readonly maps: Readonly<Record<string, BpfMap>>,
  ) {}

  #where(name: string): { variable: VariableSpec; map: BpfMap } {
    const variable = lookupByName(this.variables, name, 'global variable');
    return { variable, map: lookupByName(this.maps, variable.mapName, 'map') };
  }

  read(name: string): Uint8Array {
    const { variable, map } = this.#where(name);
    const data = map.lookup(new Uint8Array(4));
    if (data === undefined) throw new CollectionError(`global variable '${name}': map '${map.name}' has no element 0`);
    return data.slice(variable.offset, variable.offset + variable.size);
  }

  write(name: string, value: Uint8Array | number | bigint): void {
    const { variable, map } = this.#where(name);
    const bytes = variableBytes(variable, value);
    const key = new Uint8Array(4);
    const data = map.lookup(key);
    if (data === undefined) throw new CollectionError(`global variable '${name}': map '${map.name}' has no element 0`);
    data.set(bytes, variable.offset);
    map.update(key, data);
  }
}

/** `value` as the bytes of `variable`: bytes of its size, or an integer written little-endian in its size. */
function variableBytes(variable: VariableSpec, value: Uint8Array | number | bigint): Uint8Array {
  let bytes: Uint8Array;
  if (value instanceof Uint8Array) bytes = value;
  else if ((typeof value === 'number' && Number.isInteger(value)) || typeof value === 'bigint') {
    const n = BigInt.asUintN(variable.size * 8, BigInt(value));
    bytes = Uint8Array.from({ length: variable.size }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
  } else throw new CollectionError(`global variable '${variable.name}': expected bytes or an integer, got ${typeof value}`);
  if (bytes.length !== variable.size) throw new CollectionError(`global variable '${variable.name}' is ${variable.size} bytes, got ${bytes.length}`);
  return bytes;
}

/**
 * Sets global variable `name` in a spec before it is loaded: the way to
 * give `.rodata` constants (`const volatile`) their values, which the
 * loaded collection then freezes.
 */
export function writeSpecVariable(spec: CollectionSpec, name: string, value: Uint8Array | number | bigint): void {
  const variable = lookupByName(spec.variables, name, 'global variable');
  const map = lookupByName(spec.maps, variable.mapName, 'map');
  const bytes = variableBytes(variable, value);
  const data = map.initialData ?? new Uint8Array(map.valueSize);
  data.set(bytes, variable.offset);
  map.initialData = data;
}

/**
 * The async iterator of a reader that delivers batches through poll(): each
 * batch is copied out of the ring (views die with the poll), then yielded.
 */
export async function* iterateBatches<R>(reader: Pick<RecordReader<R>, 'wait' | 'poll'>, copy: (record: R) => R): AsyncGenerator<R> {
  while (await reader.wait()) {
    const batch: R[] = [];
    reader.poll((record) => batch.push(copy(record)));
    yield* batch;
  }
}

/** consume() over poll(): copies each batch, then awaits the callback record by record, until the reader closes or `signal` aborts. */
export async function consumeBatches<R>(reader: Pick<RecordReader<R>, 'wait' | 'poll' | 'close'>, copy: (record: R) => R, callback: (record: R) => void | Promise<void>, signal?: AbortSignal): Promise<void> {
  const onAbort = (): void => reader.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const record of iterateBatches(reader, copy)) await callback(record);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** A perf sample that outlives the poll that delivered it. */
export const copyPerfSample = (sample: PerfSample): PerfSample => ({ cpu: sample.cpu, data: sample.data.slice() });
