/**
 * The runtime of the bindings `tsbpf gen types` writes, modelled on
 * libbpf's skeleton life cycle: open (parse the embedded object), set
 * `.rodata`, load (on the first use of a map, program or reader, or
 * `load()`), attach, close. Works on either backend through BpfCollection.
 */
import type { AttachOptions, AttachedLinks, BpfCollection, BpfMap, BpfProgram, PerCpuTypedMap, RecordReader, TypedMap } from '../backend/index.ts';
import { CollectionError, lookupByName, writeSpecVariable } from '../backend/index.ts';
import { btfValueCodec } from '../btf/value.ts';
import { importKernelBackend } from '../host/node.ts';
import { loadCollectionSpec } from '../object/load.ts';
import type { CollectionSpec } from '../object/spec.ts';

export interface SkeletonOptions {
  /** 'vm' (default: no root, any platform) or 'kernel' (Linux, root). */
  backend?: 'vm' | 'kernel';
  /** Options for loadVmCollection / loadCollection (programs, kconfig, cpus, ...). */
  loadOptions?: Record<string, unknown>;
}

/** Decoded records of a ring buffer or perf event array, read with `for await` or poll(). */
export interface EventStream<R> extends AsyncIterable<R> {
  /** Delivers the records available now, decoded; returns how many. */
  poll(callback: (record: R) => void): number;
  close(): void;
}

/** What every generated `...Objects` has besides its maps, readers, programs and variables. */
export interface SkeletonObjects {
  /** The loaded collection (loading it now if needed). */
  readonly collection: BpfCollection;
  readonly loaded: boolean;
  /** Loads the object with the `.rodata` values set so far; later `.rodata` writes fail. */
  load(): void;
  /** Loads if needed, then attaches each program where its SEC() says. */
  attach(options?: AttachOptions): AttachedLinks;
  close(): void;
  [Symbol.dispose](): void;
}

/** Base64 without Node's Buffer. */
function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Opens an embedded object for the generated loader: parses it and picks the backend's loader. */
export async function openSkeleton(objectBase64: string, options: SkeletonOptions = {}): Promise<Skeleton> {
  const spec = loadCollectionSpec(decodeBase64(objectBase64));
  const backend = options.backend ?? 'vm';
  let load: (spec: CollectionSpec) => BpfCollection;
  if (backend === 'kernel') {
    const kernel = await importKernelBackend();
    load = (s) => kernel.loadCollection(s, options.loadOptions);
  } else if (backend === 'vm') {
    const vm = await import('../vm/index.ts');
    load = (s) => vm.loadVmCollection(s, options.loadOptions);
  } else {
    throw new CollectionError(`unknown backend '${String(backend)}': use 'vm' or 'kernel'`);
  }
  return new Skeleton(spec, load);
}

export class Skeleton {
  #collection: BpfCollection | undefined;
  readonly #streams: Array<{ close(): void }> = [];
  #closed = false;

  constructor(
    readonly spec: CollectionSpec,
    private readonly loader: (spec: CollectionSpec) => BpfCollection,
  ) {}

  get loaded(): boolean {
    return this.#collection !== undefined;
  }

  collection(): BpfCollection {
    if (this.#closed) throw new CollectionError('the object was closed');
    this.#collection ??= this.loader(this.spec);
    return this.#collection;
  }

  /** `members` with the life-cycle members of SkeletonObjects added (as accessors, so nothing loads early). */
  objects<T extends SkeletonObjects>(members: Omit<T, keyof SkeletonObjects>): T {
    return Object.defineProperties(members, {
      collection: { get: () => this.collection(), enumerable: true },
      loaded: { get: () => this.loaded, enumerable: true },
      load: { value: () => void this.collection() },
      attach: { value: (options?: AttachOptions) => this.collection().attach(options) },
      close: { value: () => this.close() },
      [Symbol.dispose]: { value: () => this.close() },
    }) as T;
  }

  map<K, V>(name: string): TypedMap<K, V> {
    return this.collection().typed<K, V>(name);
  }

  perCpuMap<K, V>(name: string): PerCpuTypedMap<K, V> {
    return this.collection().typedPerCpu<K, V>(name);
  }

  rawMap(name: string): BpfMap {
    return lookupByName(this.collection().maps, name, 'map');
  }

  program(name: string): BpfProgram {
    return lookupByName(this.collection().programs, name, 'program');
  }

  /**
   * The variables of a global data section as properties: before loading
   * they read and write the object's initial data (the only time `.rodata`
   * can change), afterwards the loaded map.
   */
  variables<T>(section: string): T {
    const out = {};
    const btf = this.spec.btf;
    for (const variable of Object.values(this.spec.variables)) {
      if (variable.mapName !== section || variable.typeId === undefined || btf === undefined) continue;
      const codec = btfValueCodec(btf, variable.typeId, variable.name);
      Object.defineProperty(out, variable.name, {
        enumerable: true,
        get: () => {
          if (this.#collection !== undefined) return codec.decode(this.#collection.readVariable(variable.name));
          const data = lookupByName(this.spec.maps, section, 'map').initialData;
          return codec.decode(data ?? new Uint8Array(lookupByName(this.spec.maps, section, 'map').valueSize), variable.offset);
        },
        set: (value: unknown) => {
          const bytes = codec.encode(value);
          if (this.#collection !== undefined) this.#collection.writeVariable(variable.name, bytes);
          else writeSpecVariable(this.spec, variable.name, bytes);
        },
      });
    }
    return out as T;
  }

  ringbuf<R>(name: string, recordTypeId: number | undefined): EventStream<R> {
    return this.#stream(() => this.collection().ringBuffer(name), recordTypeId, (record: Uint8Array) => record);
  }

  perfbuf<R>(name: string, recordTypeId: number | undefined): EventStream<R> {
    return this.#stream(() => this.collection().perfBuffer(name), recordTypeId, (sample: { data: Uint8Array }) => sample.data);
  }

  #stream<T, R>(open: () => RecordReader<T>, recordTypeId: number | undefined, bytesOf: (record: T) => Uint8Array): EventStream<R> {
    const codec = recordTypeId !== undefined && this.spec.btf !== undefined ? btfValueCodec(this.spec.btf, recordTypeId, 'record') : undefined;
    // Records are decoded at once: the reader's views die with the next record.
    const decode = (record: T): R => (codec ? codec.decode(bytesOf(record)) : bytesOf(record).slice()) as R;
    let reader: RecordReader<T> | undefined;
    const current = (): RecordReader<T> => (reader ??= open());
    const stream: EventStream<R> = {
      poll: (callback) => current().poll((record) => callback(decode(record))),
      close: () => reader?.close(),
      async *[Symbol.asyncIterator]() {
        for await (const record of current()) yield decode(record);
      },
    };
    this.#streams.push(stream);
    return stream;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of this.#streams) stream.close();
    this.#collection?.close();
  }
}
