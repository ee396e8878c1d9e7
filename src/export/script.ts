/**
 * A tsbpf trace script as a metric source: compiled by src/trace, loaded
 * into the kernel, its probes attached, BEGIN run once and interval probes
 * run by the trace session in the background. At each scrape every
 * aggregation map becomes a metric family, read through the session and
 * rendered as `tsbpf trace -f json` prints it (bpftrace's JSON output, the
 * stable contract), so keys read the same here as in the trace output:
 * count → counter; sum, min, max, avg → gauges; stats → a summary (_count,
 * _sum); hist and lhist → a histogram with the script's own buckets.
 * Plain value maps (`@start[tid] = nsecs`) are scratch space and stay out
 * unless the config lists them.
 */
import {
  type KernelCollection,
  type Link,
  RingBufferReader,
  loadCollection,
  possibleCpus,
} from '../kernel/index.ts';
import {
  type CompiledProbe,
  type CompiledScript,
  type LoadedScript,
  type MapEntries,
  type MapInfo,
  type Symbolizer,
  TraceError,
  TraceSession,
  attachProbe,
  compileScript,
  formatMapJson,
} from '../trace/index.ts';
import { splitPerCpuValues } from '../backend/index.ts';
import { MapType } from '../uapi/index.ts';
import { type ProgramConfig, type ScriptConfig, type ScriptMapConfig } from './config.ts';
import { ExportError } from './errors.ts';
import type { DecodeErrorSink, FamilyType, MetricFamily, Sample } from './metrics.ts';
import { metricFamilyName } from './metrics.ts';
import { type ExportedProgram, MetricsOnlySource } from './source.ts';

type MapValueKind = MapInfo['value'];

const BATCH_SIZE = 4096;

/** What a map's aggregation becomes in Prometheus. */
function familyType(value: MapValueKind): FamilyType | undefined {
  if (value.kind === 'value') return value.type.kind === 'int' ? 'gauge' : undefined;
  switch (value.aggregation) {
    case 'count':
      return 'counter';
    case 'hist':
    case 'lhist':
      return 'histogram';
    case 'stats':
      return 'summary';
    default:
      return 'gauge';
  }
}

function describeValue(value: MapValueKind): string {
  return value.kind === 'value' ? `${value.type.kind} values` : `${value.aggregation}()`;
}

/** What the exporter says of a probe that runs in user space instead of attaching. */
function userSpaceProbe(probe: CompiledProbe): string {
  const t = probe.target;
  if (t.kind === 'begin') return 'BEGIN: run once when the exporter starts';
  return `${t.name}: run by the exporter`;
}

const sanitize = (text: string): string => text.replace(/[^a-zA-Z0-9_]/g, '_');

/** The part of a bpftrace JSON line holding the map's data (`{"type": ..., "data": {"@name": DATA}}`). */
function jsonData(line: string): unknown {
  if (line === '') return undefined;
  const parsed = JSON.parse(line) as { data: Record<string, unknown> };
  return Object.values(parsed.data)[0];
}

/**
 * Label values per map key. A single key's label is the key as the JSON
 * output prints it; several keys print joined by ',', which a string key
 * may contain too, so each key is rendered alone by rendering the keys up to
 * it (their text is a prefix of the next rendering). Renderings are kept
 * for the keys of the last read only: memory follows the map's size.
 */
class KeyLabels {
  #previous = new Map<string, string[]>();
  #current = new Map<string, string[]>();

  constructor(
    readonly info: MapInfo,
    readonly symbols: Symbolizer,
  ) {}

  #prefix(key: Uint8Array, count: number): string {
    const keys = this.info.keys!.slice(0, count);
    const line = formatMapJson({ info: { name: 'k', kernelName: '', keys, value: { kind: 'value', type: { kind: 'int', bits: 64, signed: false } } }, entries: [{ key, values: [new Uint8Array(8)] }] }, this.symbols);
    return Object.keys(jsonData(line) as Record<string, unknown>)[0]!;
  }

  /** For a multi-key map: JSON key text → one value per key; entries whose texts collide are left out (undefined). */
  read(entries: MapEntries): Map<string, string[] | undefined> {
    this.#previous = this.#current;
    this.#current = new Map();
    const byText = new Map<string, string[] | undefined>();
    for (const { key } of entries.entries) {
      const id = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
      let parts = this.#current.get(id) ?? this.#previous.get(id);
      if (parts === undefined) {
        parts = [];
        let before = '';
        for (let count = 1; count <= this.info.keys!.length; count++) {
          const text = this.#prefix(key, count);
          parts.push(count === 1 ? text : text.slice(before.length + 1));
          before = text;
        }
      }
      this.#current.set(id, parts);
      const text = parts.join(',');
      const seen = byText.get(text);
      // Histogram maps hold one entry per bucket of the same user key: the same parts again is no collision.
      byText.set(text, seen === undefined && !byText.has(text) ? parts : seen !== undefined && seen.every((p, i) => p === parts[i]) ? seen : undefined);
    }
    return byText;
  }
}

interface HistogramBucket {
  min?: number;
  max?: number;
  count: number;
}

/** One script map as a metric family. */
class ScriptMapFamily implements MetricFamily {
  readonly #keys: KeyLabels;
  /** Histogram upper bounds seen so far: every series shows all of them, so a scrape's buckets never disappear. */
  readonly #bounds: number[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: FamilyType,
    readonly info: MapInfo,
    readonly labelNames: readonly string[],
    readonly source: ScriptProgramSource,
    readonly errors: DecodeErrorSink,
  ) {
    this.#keys = new KeyLabels(info, source.symbols);
  }

  samples(): Sample[] {
    try {
      return this.#read();
    } catch (error) {
      this.errors.decodeError(this.source.name, new ExportError(`reading @${this.info.name}: ${(error as Error).message}`, { cause: error }));
      return [];
    }
  }

  #read(): Sample[] {
    const entries = this.source.readMap(this.info);
    const data = jsonData(formatMapJson(entries, this.source.symbols));
    if (data === undefined) return [];
    if (this.info.keys === undefined) return this.#series({}, data);
    const rows = data as Record<string, unknown>;
    const split = this.labelNames.length > 1 ? this.#keys.read(entries) : undefined;
    const samples: Sample[] = [];
    let collisions = 0;
    for (const [text, value] of Object.entries(rows)) {
      const parts = split === undefined ? [text] : split.get(text);
      if (parts === undefined) {
        collisions++;
        continue;
      }
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = parts[i]!));
      samples.push(...this.#series(labels, value));
    }
    if (collisions > 0) this.errors.decodeError(this.source.name, new ExportError(`@${this.info.name}: ${collisions} key(s) whose keys print alike (a ',' inside a string key) were left out`));
    return samples;
  }

  #series(labels: Record<string, string>, value: unknown): Sample[] {
    switch (this.type) {
      case 'histogram':
        return this.#histogram(labels, value as HistogramBucket[]);
      case 'summary': {
        const stats = value as { count: number; total: number };
        return [
          { labels, value: stats.count, metricName: `${this.name}_count` },
          { labels, value: stats.total, metricName: `${this.name}_sum` },
        ];
      }
      default:
        return [{ labels, value: Number(value) }];
    }
  }

  #histogram(labels: Record<string, string>, buckets: HistogramBucket[]): Sample[] {
    for (const bucket of buckets) {
      if (bucket.max === undefined || this.#bounds.includes(bucket.max)) continue;
      this.#bounds.push(bucket.max);
      this.#bounds.sort((a, b) => a - b);
    }
    const samples: Sample[] = [];
    const bucketName = `${this.name}_bucket`;
    let total = 0;
    for (const bucket of buckets) total += bucket.count;
    for (const bound of this.#bounds) {
      let below = 0;
      for (const bucket of buckets) if (bucket.max !== undefined && bucket.max <= bound) below += bucket.count;
      samples.push({ labels: { ...labels, le: String(bound) }, value: below, metricName: bucketName });
    }
    samples.push({ labels: { ...labels, le: '+Inf' }, value: total, metricName: bucketName });
    // bpftrace's hist() and lhist() keep no sum of the values, so there is no _sum series to give.
    samples.push({ labels, value: total, metricName: `${this.name}_count` });
    return samples;
  }
}

/** A compiled, loaded and attached trace script. */
export class ScriptProgramSource extends MetricsOnlySource {
  readonly programs: ExportedProgram[] = [];
  readonly symbols: Symbolizer;
  readonly session: TraceSession;
  readonly #links: Link[] = [];
  readonly #reader: RingBufferReader | undefined;
  readonly #stop = new AbortController();
  #loop: Promise<void> = Promise.resolve();
  #batchWorks = true;
  readonly #cpus = possibleCpus();

  private constructor(
    readonly name: string,
    readonly config: ScriptConfig,
    readonly compiled: CompiledScript,
    readonly collection: KernelCollection,
    output: (text: string) => void,
  ) {
    super();
    const ringbuf = Object.values(collection.maps).find((map) => map.type === MapType.RINGBUF);
    const reader = ringbuf === undefined ? undefined : new RingBufferReader(ringbuf);
    this.#reader = reader;
    const loaded: LoadedScript = {
      map: (mapName) => collection.maps[mapName],
      program: (programName) => collection.programs[programName]!,
      poll: (callback, max) => reader?.poll(callback, max) ?? 0,
      wait: async (ms) => {
        if (reader === undefined) await new Promise((resolve) => setTimeout(resolve, ms));
        else await reader.wait(ms);
      },
      cpus: this.#cpus,
    };
    this.session = new TraceSession(compiled, loaded, { write: output, format: 'text', signal: this.#stop.signal });
    // The session's own symbolizer: stacks and addresses print as `tsbpf trace` prints them.
    this.symbols = this.session.symbols;
  }

  /**
   * Compiles, loads and attaches `program.script`; `output` gets what the
   * script prints (printf and the like), `warn` each probe that could not
   * attach. Throws an ExportError naming the config on failure, having
   * released what it took.
   */
  static open(program: ProgramConfig, output: (text: string) => void, warn: (message: string) => void): ScriptProgramSource {
    const script = program.script!;
    const where = `${program.file}: ${script.keyPath}`;
    let compiled: CompiledScript;
    try {
      compiled = compileScript(script.text, { positional: script.args, startNs: process.hrtime.bigint(), file: script.file, ...(script.origin !== undefined ? { origin: script.origin } : {}), ...(script.maxMapKeys !== undefined ? { maxMapKeys: script.maxMapKeys } : {}) });
    } catch (error) {
      // A located error already names the config file and key (inline) or the script file.
      if (error instanceof TraceError) throw new ExportError(error.span === undefined ? `${where}: ${error.message}` : `program '${program.name}': ${error.message}`, { cause: error });
      throw error;
    }
    let collection: KernelCollection;
    try {
      collection = loadCollection(compiled.spec);
    } catch (error) {
      throw new ExportError(`${where}: the kernel refused the script's programs: ${(error as Error).message}`, { cause: error });
    }
    const source = new ScriptProgramSource(program.name, script, compiled, collection, output);
    try {
      source.#attach(warn);
      source.session.begin();
      source.#loop = source.session.loop().catch((error: unknown) => warn(`script '${program.name}' stopped running its interval probes and printing: ${(error as Error).message}`));
    } catch (error) {
      void source.close();
      throw error;
    }
    return source;
  }

  #attach(warn: (message: string) => void): void {
    const byProgram = new Map<string, { attached: string[]; failed: string[] }>();
    for (const probe of this.compiled.probes) {
      let state = byProgram.get(probe.program);
      if (state === undefined) byProgram.set(probe.program, (state = { attached: [], failed: [] }));
      if (probe.target.kind === 'end') {
        state.failed.push('END: a script in the exporter never ends');
        continue;
      }
      try {
        const link = attachProbe(this.collection, probe);
        if (link === undefined) state.attached.push(userSpaceProbe(probe));
        else {
          this.#links.push(link);
          state.attached.push(link.description);
        }
      } catch (error) {
        const reason = `${probe.target.name}: ${(error as Error).message}`;
        state.failed.push(reason);
      }
    }
    for (const [name, { attached, failed }] of byProgram) {
      // A program attached nowhere is reported by the exporter; one that missed some of its attach points is reported here.
      if (attached.length > 0) for (const reason of failed) warn(`script '${this.name}': ${reason}`);
      const program = this.collection.programs[name]!;
      const attachment: ExportedProgram['attachment'] =
        attached.length > 0 ? { attached: true, description: attached.length === 1 ? attached[0]! : `${attached.length} attach points (${attached[0]}, ...)` } : { attached: false, reason: failed.join('; ') };
      this.programs.push({ name, attachment, info: () => program.info() });
    }
  }

  /**
   * A script map's entries, per-CPU values split, as the session's readMap
   * gives them, but read in batches: one bpf() call per 4096 entries
   * instead of two per entry (a fifth of a 30,000-key scrape otherwise).
   */
  readMap(info: MapInfo): MapEntries {
    const map = this.collection.maps[info.kernelName];
    if (map === undefined || !this.#batchWorks) return this.session.readMap(info);
    let rows: Array<[Uint8Array, Uint8Array]>;
    try {
      rows = map.lookupBatch({ batchSize: BATCH_SIZE });
    } catch {
      // Kernels before 5.6 and some map types have no batch lookup.
      this.#batchWorks = false;
      return this.session.readMap(info);
    }
    const layout = { valueSize: map.valueSize, valueStride: (map.valueSize + 7) & ~7, cpus: this.#cpus };
    return { info, entries: rows.map(([key, value]) => ({ key, values: map.perCpu ? splitPerCpuValues(value, layout) : [value] })) };
  }

  /** One family per exported map, named and labelled as the config says. */
  families(errors: DecodeErrorSink): MetricFamily[] {
    const families: MetricFamily[] = [];
    const where = `${this.config.keyPath.replace(/\.script$/, '')}.maps`;
    for (const name of Object.keys(this.config.maps)) {
      if (!this.compiled.maps.has(name)) throw new ExportError(`${where}: the script has no map @${name} (it has ${[...this.compiled.maps.keys()].map((m) => `@${m}`).join(', ') || 'none'})`);
    }
    for (const [name, info] of this.compiled.maps) {
      const setting = this.config.maps[name];
      if (setting === false) continue;
      const type = familyType(info.value);
      if (setting === undefined && (info.value.kind === 'value' || type === undefined)) continue;
      if (type === undefined) throw new ExportError(`${setting!.keyPath}: @${name} holds ${describeValue(info.value)}, which are not numbers a metric can carry`);
      families.push(this.#family(name, info, type, setting ?? { keyPath: `${where}.${name}` }, errors));
    }
    return families;
  }

  #family(mapName: string, info: MapInfo, type: FamilyType, setting: ScriptMapConfig, errors: DecodeErrorSink): ScriptMapFamily {
    const keys = info.keys?.length ?? 0;
    const labels = setting.labels ?? (keys === 1 ? ['key'] : Array.from({ length: keys }, (_, i) => `key${i}`));
    if (labels.length !== keys) throw new ExportError(`${setting.keyPath}.labels: @${mapName} has ${keys} key(s), the config names ${labels.length} label(s)`);
    if (type === 'histogram' && labels.includes('le')) throw new ExportError(`${setting.keyPath}.labels: 'le' is the bucket label of a histogram`);
    let base = setting.name ?? sanitize(mapName === '' ? this.name : `${this.name}_${mapName}`);
    if (setting.name === undefined && type === 'counter' && !base.endsWith('_total')) base += '_total';
    const name = metricFamilyName(base, setting.keyPath);
    const help = setting.help ?? `@${mapName} of script '${this.name}': ${describeValue(info.value)}`;
    return new ScriptMapFamily(name, help, type, info, labels, this, errors);
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    for (const link of this.#links.splice(0)) link.close();
    this.#reader?.close();
    this.collection.close();
  }
}
