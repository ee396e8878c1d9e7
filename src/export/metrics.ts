/**
 * Metric families read from BPF maps at scrape time, and their exposition
 * through prom-client: each family is registered in a prom-client Registry
 * as a custom metric (prom-client's registry writes the text format and
 * OpenMetrics; nothing here formats exposition text).
 */
import { type OpenMetricsContentType, type PrometheusContentType, Registry } from 'prom-client';
import type { BpfMap } from '../backend/index.ts';
import { type KernelMap, PerfEventArrayReader } from '../kernel/index.ts';
import { type CounterConfig, type HistogramConfig, type LabelConfig, METRIC_NAMESPACE } from './config.ts';
import { type DecoderSet, SKIP_LABEL_SET } from './decoders.ts';
import { ExportError } from './errors.ts';
import { toPromHistogram } from './histogram.ts';

export type Labels = Record<string, string>;

/** One series as prom-client's registry reads it. */
export interface Sample {
  labels: Labels;
  value: number;
  /** The series name when it is not the family's (histograms' `_bucket`, `_sum`, `_count`). */
  metricName?: string;
}

export type FamilyType = 'counter' | 'gauge' | 'histogram' | 'summary';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A family's full name (the namespace added), checked: `where` names the config place it came from. */
export function metricFamilyName(name: string, where: string): string {
  const full = `${METRIC_NAMESPACE}_${name}`;
  if (!METRIC_NAME.test(full)) throw new ExportError(`${where}: '${full}' is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`);
  return full;
}

/** A metric family whose samples are computed when scraped. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: FamilyType;
  samples(): Sample[];
}

/** Decode failures and read failures, per config; the exporter turns them into decoder_errors_total. */
export interface DecodeErrorSink {
  decodeError(config: string, error: unknown): void;
}

/** More cached label sets than this (per metric) and the cache starts over: keys churn, memory must not grow forever. */
const MAX_CACHED_KEYS = 1_000_000;
const BATCH_SIZE = 4096;
/** Label sets a family may show (a perf_event_array counter between flushes, a tool's metric): beyond, memory and the Prometheus server suffer. */
export const MAX_SERIES = 100_000;

const labelObject = (names: readonly LabelConfig[], values: readonly string[]): Labels => {
  const out: Labels = {};
  names.forEach((label, i) => (out[label.name] = values[i]!));
  return out;
};

/** A key's label values, decoded once and kept: scrapes then allocate nothing per unchanged key. */
export interface DecodedKey {
  readonly values: readonly string[];
  readonly labels: Labels;
  /** The read that last saw this label set, and its row there: keys decoding to the same set add up without a lookup table per read. */
  read: number;
  row: number;
}

const TWO_32 = 4294967296;
/** The u64 at `at` as a number (counts past 2^53 lose precision, as float64 samples do anyway). */
const u64At = (bytes: Uint8Array, at: number): number =>
  (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) + bytes[at + 3]! * 0x1000000 + (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16)) * TWO_32 + bytes[at + 7]! * 0x1000000 * TWO_32;

/** Key bytes → decoded label set, each distinct set one shared DecodedKey. Bounded: past MAX_CACHED_KEYS it starts over. */
class LabelSetCache {
  /**
   * Decoded keys in a trie of Maps: the key's length, then each 4-byte chunk
   * as a number. A lookup allocates nothing (a string of the key bytes per
   * key and scrape was a fifth of a scrape's time with 10,000 keys).
   */
  #root: KeyTrie = new Map();
  #size = 0;
  readonly #labelSets = new Map<string, DecodedKey>();

  /** `prefix`: the labels cover the start of the bytes (events), not all of them (map keys). */
  constructor(
    readonly labels: readonly LabelConfig[],
    readonly decoders: DecoderSet,
    readonly prefix: boolean,
  ) {}

  decode(key: Uint8Array): DecodedKey | typeof SKIP_LABEL_SET {
    if (this.#size >= MAX_CACHED_KEYS) {
      this.#root = new Map();
      this.#size = 0;
      this.#labelSets.clear();
    }
    let node = this.#root;
    let part = key.length;
    for (let at = 0; at < key.length; at += 4) {
      let next = node.get(part) as KeyTrie | undefined;
      if (next === undefined) node.set(part, (next = new Map()));
      node = next;
      part = (key[at]! | ((key[at + 1] ?? 0) << 8) | ((key[at + 2] ?? 0) << 16) | ((key[at + 3] ?? 0) << 24)) >>> 0;
    }
    const cached = node.get(part) as DecodedKey | typeof SKIP_LABEL_SET | undefined;
    if (cached !== undefined) return cached;
    const values = this.decoders.decodeLabels(key, this.labels, this.prefix);
    let decoded: DecodedKey | typeof SKIP_LABEL_SET = SKIP_LABEL_SET;
    if (values !== SKIP_LABEL_SET) {
      const id = values.join('\u0000');
      decoded = this.#labelSets.get(id) ?? { values, labels: labelObject(this.labels, values), read: 0, row: 0 };
      this.#labelSets.set(id, decoded);
    }
    node.set(part, decoded);
    this.#size++;
    return decoded;
  }
}

type KeyTrie = Map<number, KeyTrie | DecodedKey | typeof SKIP_LABEL_SET>;

/** A map's keys decoded to label values (cached per key), with values summed over CPUs (or per CPU with a trailing `cpu` label). */
export class MapReader {
  readonly #cache: LabelSetCache;
  readonly #noLabels: DecodedKey = { values: [], labels: {}, read: 0, row: 0 };
  #reads = 0;
  #batchWorks = true;

  constructor(
    readonly map: BpfMap,
    readonly labels: readonly LabelConfig[],
    readonly decoders: DecoderSet,
    readonly what: string,
  ) {
    this.#cache = new LabelSetCache(labels, decoders, false);
    if (map.valueSize !== 8) throw new ExportError(`${what}: map '${map.name}' has ${map.valueSize}-byte values; metrics read u64 values (8 bytes)`);
  }

  #entries(): Array<[Uint8Array, Uint8Array]> {
    if (this.#batchWorks) {
      try {
        return this.map.lookupBatch({ batchSize: BATCH_SIZE });
      } catch {
        // Older kernels and some map types have no batch lookup: fall back to one lookup per key.
        this.#batchWorks = false;
      }
    }
    return [...this.map.entries()];
  }

  /** Every label set with its value; same label sets (after decoding) are summed, as ebpf_exporter does. */
  read(): Array<{ key: DecodedKey; value: number }> {
    // u64 values: each CPU's slot of a per-CPU value is exactly 8 bytes.
    const perCpuLabel = this.map.perCpu && this.labels.at(-1)?.name === 'cpu';
    const read = ++this.#reads;
    const rows: Array<{ key: DecodedKey; value: number }> = [];
    const add = (key: DecodedKey | typeof SKIP_LABEL_SET, value: number): void => {
      if (key === SKIP_LABEL_SET) return;
      if (key.read === read) {
        rows[key.row]!.value += value;
        return;
      }
      key.read = read;
      key.row = rows.length;
      rows.push({ key, value });
    };
    const zeroKey = (key: Uint8Array): boolean => key.length === 4 && key[0] === 0 && key[1] === 0 && key[2] === 0 && key[3] === 0;
    for (const [key, value] of this.#entries()) {
      if (perCpuLabel) {
        const base = this.labels.length === 1 && zeroKey(key) ? new Uint8Array(0) : key;
        for (let cpu = 0; cpu * 8 < value.length; cpu++) {
          const withCpu = new Uint8Array(base.length + 2);
          withCpu.set(base);
          withCpu[base.length] = cpu & 0xff;
          withCpu[base.length + 1] = cpu >> 8;
          add(this.#cache.decode(withCpu), u64At(value, cpu * 8));
        }
        continue;
      }
      let total = 0;
      if (this.map.perCpu) for (let at = 0; at + 8 <= value.length; at += 8) total += u64At(value, at);
      else total = u64At(value, 0);
      add(this.labels.length === 0 && zeroKey(key) ? this.#noLabels : this.#cache.decode(key), total);
    }
    return rows;
  }

}

/** A family read from one map; read failures count as decode errors of its program, as in ebpf_exporter. */
abstract class MapFamily<C extends CounterConfig | HistogramConfig> implements MetricFamily {
  abstract readonly type: FamilyType;
  readonly name: string;
  readonly help: string;
  constructor(
    readonly config: C,
    readonly reader: MapReader,
    readonly program: string,
    readonly errors: DecodeErrorSink,
  ) {
    this.name = `${METRIC_NAMESPACE}_${config.name}`;
    this.help = config.help;
  }

  samples(): Sample[] {
    let rows: Array<{ key: DecodedKey; value: number }>;
    try {
      rows = this.reader.read();
    } catch (error) {
      this.errors.decodeError(this.program, error);
      return [];
    }
    return this.fromRows(rows);
  }

  protected abstract fromRows(rows: Array<{ key: DecodedKey; value: number }>): Sample[];
}

/** A counter read from a map of u64 counts. */
export class CounterFamily extends MapFamily<CounterConfig> {
  readonly type = 'counter';
  protected fromRows(rows: Array<{ key: DecodedKey; value: number }>): Sample[] {
    return rows.map(({ key, value }) => ({ labels: key.labels, value }));
  }
}

/** A histogram read from a map whose last key label is the bucket index. */
export class HistogramFamily extends MapFamily<HistogramConfig> {
  readonly type = 'histogram';
  protected fromRows(rows: Array<{ key: DecodedKey; value: number }>): Sample[] {
    const sets = new Map<string, { labels: string[]; counts: Map<number, number> }>();
    for (const { key, value } of rows) {
      const labels = key.values;
      const bucket = labels[labels.length - 1]!;
      if (!/^\d{1,15}$/.test(bucket)) {
        this.errors.decodeError(this.program, new ExportError(`${this.config.keyPath}: bucket label '${this.config.labels.at(-1)!.name}' decoded to '${bucket}', not a bucket index (decode it with uint)`));
        return [];
      }
      const rest = labels.slice(0, -1);
      const id = rest.join('\u0000');
      let set = sets.get(id);
      if (!set) sets.set(id, (set = { labels: rest, counts: new Map() }));
      set.counts.set(Number(bucket), (set.counts.get(Number(bucket)) ?? 0) + value);
    }
    const samples: Sample[] = [];
    const names = this.config.labels.slice(0, -1);
    for (const { labels, counts } of sets.values()) {
      const base = labelObject(names, labels);
      const histogram = toPromHistogram(this.config, counts);
      const [bucketName, sumName, countName] = ['_bucket', '_sum', '_count'].map((suffix) => `${this.name}${suffix}`) as [string, string, string];
      for (const [le, count] of histogram.buckets) samples.push({ labels: { ...base, le: String(le) }, value: count, metricName: bucketName });
      samples.push({ labels: { ...base, le: '+Inf' }, value: histogram.count, metricName: bucketName });
      samples.push({ labels: base, value: histogram.sum, metricName: sumName });
      samples.push({ labels: base, value: histogram.count, metricName: countName });
    }
    return samples;
  }
}

/**
 * A counter fed by the samples of a perf event array (ebpf_exporter's
 * `perf_event_array: true`): each sample's leading bytes are the labels, and
 * counts one. Counts start over every flush interval; samples the kernel
 * dropped because a ring was full are counted in `lost`.
 */
export class PerfEventCounterFamily implements MetricFamily {
  readonly type = 'counter';
  readonly name: string;
  readonly help: string;
  readonly #reader: PerfEventArrayReader;
  readonly #cache: LabelSetCache;
  readonly #labelBytes: number;
  #counts = new Map<DecodedKey, Sample>();
  readonly #abort = new AbortController();
  readonly #flush: NodeJS.Timeout;
  readonly #loop: Promise<void>;

  constructor(
    readonly config: CounterConfig,
    map: KernelMap,
    decoders: DecoderSet,
    readonly program: string,
    readonly errors: DecodeErrorSink,
  ) {
    this.name = `${METRIC_NAMESPACE}_${config.name}`;
    this.help = config.help;
    this.#cache = new LabelSetCache(config.labels, decoders, false);
    this.#labelBytes = config.labels.reduce((sum, l) => sum + l.size + l.padding, 0);
    this.#reader = new PerfEventArrayReader(map);
    this.#flush = setInterval(() => (this.#counts = new Map()), config.flushIntervalMs).unref();
    this.#loop = this.#reader.consume((sample) => this.#count(sample.data), { signal: this.#abort.signal }).catch((error: unknown) => this.errors.decodeError(this.program, error));
  }

  /** Samples the kernel dropped (PERF_RECORD_LOST). */
  get lost(): number {
    return this.#reader.lost;
  }

  #count(data: Uint8Array): void {
    try {
      if (data.length < this.#labelBytes) throw new ExportError(`${this.config.keyPath}: a ${data.length}-byte sample is shorter than the labels (${this.#labelBytes} bytes)`);
      const key = this.#cache.decode(data.subarray(0, this.#labelBytes));
      if (key === SKIP_LABEL_SET) return;
      const sample = this.#counts.get(key);
      if (sample) sample.value++;
      else if (this.#counts.size >= MAX_SERIES) throw new ExportError(`${this.config.keyPath}: more than ${MAX_SERIES} label sets since the last flush; the sample is not counted (shorten flush_interval or coarsen the labels)`);
      else this.#counts.set(key, { labels: key.labels, value: 1 });
    } catch (error) {
      this.errors.decodeError(this.program, error);
    }
  }

  /** Reads what is waiting in the rings now (scrapes see samples up to the moment they start). */
  drain(): void {
    this.#reader.poll((sample) => this.#count(sample.data));
  }

  samples(): Sample[] {
    this.drain();
    return [...this.#counts.values()];
  }

  async close(): Promise<void> {
    clearInterval(this.#flush);
    this.#abort.abort();
    await this.#loop;
    this.#reader.close();
  }
}

/** A family computed by a function (the exporter's own metrics). */
export class ComputedFamily implements MetricFamily {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: FamilyType,
    readonly samples: () => Sample[],
  ) {}
}

/**
 * A family as prom-client's Registry expects a metric (name, help, type,
 * get()). OpenMetrics names counter families without `_total` (prom-client
 * appends it to the samples), the text format keeps the name as configured,
 * so each format has its own view of the same family.
 */
class RegistryView {
  readonly help: string;
  readonly type: FamilyType;
  readonly aggregator = 'sum';
  name: string;
  readonly #name: string;

  constructor(
    readonly family: MetricFamily,
    openMetrics: boolean,
  ) {
    this.#name = openMetrics && family.type === 'counter' ? family.name.replace(/_total$/, '') : family.name;
    this.name = this.#name;
    this.help = family.help;
    this.type = family.type;
  }

  get(): { name: string; help: string; type: FamilyType; aggregator: string; values: Sample[] } {
    return { name: this.#name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.family.samples() };
  }

  reset(): void {
    // Values live in the kernel's maps; there is nothing to reset here.
  }
}

/** The two registries (text format 0.0.4 and OpenMetrics 1.0) over the same families. */
export class MetricRegistries {
  readonly text = new Registry<PrometheusContentType>();
  readonly openMetrics = new Registry<OpenMetricsContentType>();

  constructor() {
    this.openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  }

  readonly #names = new Set<string>();

  /** Adds a family; a name already taken (two sources defining the same metric) is an ExportError. */
  add(family: MetricFamily): void {
    if (this.#names.has(family.name)) throw new ExportError(`metric '${family.name}' is defined twice`);
    this.#names.add(family.name);
    this.text.registerMetric(new RegistryView(family, false) as never);
    this.openMetrics.registerMetric(new RegistryView(family, true) as never);
  }

  /** The registry for a request's Accept header (OpenMetrics when asked for, as Prometheus does by default). */
  forAccept(accept: string | undefined): Registry<PrometheusContentType> | Registry<OpenMetricsContentType> {
    return accept !== undefined && /application\/openmetrics-text/.test(accept) ? this.openMetrics : this.text;
  }
}
