/**
 * tsbpf's tools (src/tools: execsnoop, biolatency, runqlat, syscount...) as
 * metric sources. A tool running for the exporter is a `MetricTool`: the
 * programs it loaded and a list of metrics whose typed values it reads
 * when scraped (biolatency: a histogram of seconds per disk; syscount: a
 * counter per syscall and process). The exporter knows tools only through
 * `ToolFactory` functions handed to `Exporter.start({ tools })`, so src/export
 * never imports src/tools: whoever composes both (the CLI) passes the table.
 *
 * In a config (`programs:` list):
 *
 *     - name: disk
 *       tool: biolatency
 *       options: { per_disk: true }
 *
 * `options` reach the factory as `ToolOptions`, whose getters check each
 * value and name the config place in their errors; options the tool did
 * not read are errors too, so a misspelt option never silently does nothing.
 */
import type { ProgramConfig, ToolConfig } from './config.ts';
import { ExportError } from './errors.ts';
import { type DecodeErrorSink, type FamilyType, MAX_SERIES, type MetricFamily, type Sample, metricFamilyName } from './metrics.ts';
import { type ExportedProgram, MetricsOnlySource } from './source.ts';

interface ToolMetricBase {
  /** Without the `ebpf_exporter_` namespace; counters end in `_total`. */
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
}

/** Label values in `labelNames` order, with a value. */
export interface ToolValue {
  readonly labels: readonly string[];
  readonly value: number;
}

export interface ToolCounter extends ToolMetricBase {
  readonly type: 'counter';
  /** The totals now (they never go down while the tool runs). */
  read(): Iterable<ToolValue>;
}

export interface ToolGauge extends ToolMetricBase {
  readonly type: 'gauge';
  read(): Iterable<ToolValue>;
}

/** One label set of a histogram: a count per bucket (not cumulative), `counts[bounds.length]` counting values above the last bound. */
export interface ToolHistogramValue {
  readonly labels: readonly string[];
  readonly counts: readonly number[];
  /** The sum of the values, when the tool keeps it. */
  readonly sum?: number;
}

export interface ToolHistogram extends ToolMetricBase {
  readonly type: 'histogram';
  /** Upper bounds of the buckets, ascending, in the metric's unit (seconds, bytes). */
  readonly bounds: readonly number[];
  read(): Iterable<ToolHistogramValue>;
}

export type ToolMetric = ToolCounter | ToolGauge | ToolHistogram;

/** A tool running for the exporter. */
export interface MetricTool {
  readonly programs: readonly ExportedProgram[];
  readonly metrics: readonly ToolMetric[];
  /** Detaches and unloads what the tool loaded. */
  close(): void | Promise<void>;
}

/** Starts a tool with the config's options (throwing ExportError or ToolOptions' errors on a bad one). */
export type ToolFactory = (options: ToolOptions) => MetricTool | Promise<MetricTool>;

/** A tool's `options` mapping, read with checked getters; every error names the config file and key. */
export class ToolOptions {
  readonly #read = new Set<string>();

  constructor(
    readonly values: Readonly<Record<string, unknown>>,
    /** `config.yaml: programs[1].options`, for errors. */
    readonly where: string,
  ) {}

  #fail(key: string, problem: string): never {
    throw new ExportError(`${this.where}.${key}: ${problem}`);
  }

  #get(key: string): unknown {
    this.#read.add(key);
    return this.values[key];
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.#get(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') this.#fail(key, `must be true or false, not ${JSON.stringify(value)}`);
    return value;
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const value = this.#get(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) this.#fail(key, `must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
    return value;
  }

  string(key: string, fallback: string, allowed?: readonly string[]): string {
    const value = this.#get(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || value === '') this.#fail(key, `must be a non-empty string, not ${JSON.stringify(value)}`);
    if (allowed !== undefined && !allowed.includes(value)) this.#fail(key, `'${value}' is not one of ${allowed.join(', ')}`);
    return value;
  }

  strings(key: string): string[] {
    const value = this.#get(key);
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string' && v !== '')) this.#fail(key, `must be a list of non-empty strings, not ${JSON.stringify(value)}`);
    return value;
  }

  /** Options given but never read: misspelt or not this tool's. */
  unread(): string[] {
    return Object.keys(this.values).filter((key) => !this.#read.has(key));
  }
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** One tool metric as a family; values that do not fit its declaration count as decode errors of the program. */
class ToolFamily implements MetricFamily {
  readonly type: FamilyType;
  readonly help: string;

  constructor(
    readonly name: string,
    readonly metric: ToolMetric,
    readonly program: string,
    readonly errors: DecodeErrorSink,
  ) {
    this.type = metric.type;
    this.help = metric.help;
  }

  #labels(values: readonly string[]): Record<string, string> {
    const names = this.metric.labelNames;
    if (values.length !== names.length) throw new ExportError(`${this.name}: ${values.length} label value(s) for ${names.length} label(s) (${names.join(', ')})`);
    const labels: Record<string, string> = {};
    names.forEach((name, i) => (labels[name] = values[i]!));
    return labels;
  }

  /** At most MAX_SERIES label sets of `values`; more is reported, not exported. */
  #bounded<T>(values: Iterable<T>): T[] {
    const kept: T[] = [];
    for (const value of values) {
      if (kept.length === MAX_SERIES) {
        this.errors.decodeError(this.program, new ExportError(`${this.name}: more than ${MAX_SERIES} label sets; the rest are left out (coarsen the tool's labels)`));
        break;
      }
      kept.push(value);
    }
    return kept;
  }

  samples(): Sample[] {
    try {
      return this.metric.type === 'histogram' ? this.#histogram(this.metric) : this.#bounded(this.metric.read()).map(({ labels, value }) => ({ labels: this.#labels(labels), value }));
    } catch (error) {
      this.errors.decodeError(this.program, error);
      return [];
    }
  }

  #histogram(metric: ToolHistogram): Sample[] {
    const samples: Sample[] = [];
    for (const { labels: values, counts, sum } of this.#bounded(metric.read())) {
      const labels = this.#labels(values);
      if (counts.length !== metric.bounds.length + 1) throw new ExportError(`${this.name}: ${counts.length} bucket counts for ${metric.bounds.length} bounds (want one more, for values above the last)`);
      let cumulative = 0;
      metric.bounds.forEach((bound, i) => {
        cumulative += counts[i]!;
        samples.push({ labels: { ...labels, le: String(bound) }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      cumulative += counts[metric.bounds.length]!;
      samples.push({ labels: { ...labels, le: '+Inf' }, value: cumulative, metricName: `${this.name}_bucket` });
      if (sum !== undefined) samples.push({ labels, value: sum, metricName: `${this.name}_sum` });
      samples.push({ labels, value: cumulative, metricName: `${this.name}_count` });
    }
    return samples;
  }
}

/** A running tool as a program source. */
export class ToolProgramSource extends MetricsOnlySource {
  private constructor(
    readonly name: string,
    readonly tool: MetricTool,
    readonly config: ToolConfig,
    readonly where: string,
  ) {
    super();
  }

  get programs(): readonly ExportedProgram[] {
    return this.tool.programs;
  }

  /** Starts `program.tool` from `tools`; an unknown tool, a bad option or a tool that fails to start is an ExportError naming the config. */
  static async open(program: ProgramConfig, tools: Readonly<Record<string, ToolFactory>>): Promise<ToolProgramSource> {
    const config = program.tool!;
    const where = `${program.file}: ${config.keyPath.replace(/\.options$/, '')}`;
    const factory = Object.hasOwn(tools, config.name) ? tools[config.name] : undefined;
    if (factory === undefined) {
      const known = Object.keys(tools).sort();
      throw new ExportError(`${where}.tool: no tool '${config.name}' (${known.length === 0 ? 'this exporter was started without tools' : `tools: ${known.join(', ')}`})`);
    }
    const options = new ToolOptions(config.options, `${program.file}: ${config.keyPath}`);
    let tool: MetricTool;
    try {
      tool = await factory(options);
    } catch (error) {
      if (error instanceof ExportError) throw error;
      throw new ExportError(`${where}: tool '${config.name}' did not start: ${(error as Error).message}`, { cause: error });
    }
    const unread = options.unread();
    if (unread.length > 0) {
      await tool.close();
      throw new ExportError(`${program.file}: ${config.keyPath}.${unread[0]}: tool '${config.name}' has no such option`);
    }
    return new ToolProgramSource(program.name, tool, config, where);
  }

  families(errors: DecodeErrorSink): MetricFamily[] {
    return this.tool.metrics.map((metric) => {
      const where = `${this.where} (tool '${this.config.name}', metric '${metric.name}')`;
      for (const label of metric.labelNames) if (!LABEL_NAME.test(label) || label.startsWith('__') || (metric.type === 'histogram' && label === 'le')) throw new ExportError(`${where}: '${label}' is not a label name it may use`);
      if (metric.type === 'histogram' && !metric.bounds.every((bound, i) => Number.isFinite(bound) && (i === 0 || bound > metric.bounds[i - 1]!))) {
        throw new ExportError(`${where}: bucket bounds must be finite and ascending: ${metric.bounds.join(', ')}`);
      }
      return new ToolFamily(metricFamilyName(metric.name, where), metric, this.name, errors);
    });
  }

  async close(): Promise<void> {
    await this.tool.close();
  }
}
