/**
 * The exporter's config: Cloudflare ebpf_exporter's YAML format, so its
 * users can bring their configs, in two shapes:
 *
 * - one ebpf_exporter config (top-level `metrics`, `tracing`, `kaddrs`): one
 *   program named after the file, its object `<name>.bpf.o` beside it, as
 *   ebpf_exporter's `--config.dir`/`--config.names` find them;
 * - a tsbpf file listing several: `programs: [{ name, object, metrics,
 *   tracing, kaddrs }]`, plus `otlp` (where spans and logs go) and
 *   `program_stats`.
 *
 * Every problem is an ExportConfigError naming the file, the key path and
 * the line. Unknown keys are errors (ebpf_exporter's schema allows none), so
 * a misspelt key never silently does nothing.
 */
import { basename, dirname, extname, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { readFile } from '../host/node.ts';
import { type ScriptOrigin, TraceError, parse } from '../trace/index.ts';
import { ExportConfigError } from './errors.ts';

export const DECODER_NAMES = [
  'cgroup',
  'dname',
  'errno',
  'hex',
  'ifname',
  'inet_ip',
  'kstack',
  'ksym',
  'majorminor',
  'pci_class',
  'pci_device',
  'pci_subclass',
  'pci_vendor',
  'regexp',
  'static_map',
  'string',
  'syscall',
  'uint',
] as const;
export type DecoderName = (typeof DECODER_NAMES)[number];

export interface DecoderConfig {
  name: DecoderName;
  staticMap?: Record<string, string>;
  regexps?: RegExp[];
  allowUnknown: boolean;
}

export interface LabelConfig {
  name: string;
  /** Bytes of the key (or event) this label decodes. */
  size: number;
  /** Bytes skipped after it (struct padding). */
  padding: number;
  decoders: DecoderConfig[];
}

export interface CounterConfig {
  name: string;
  help: string;
  labels: LabelConfig[];
  /** Counted from the samples of a BPF_MAP_TYPE_PERF_EVENT_ARRAY map rather than read from a map of counts. */
  perfEventArray: boolean;
  /** perf_event_array counters start over this often (ebpf_exporter's flush_interval; default one hour). */
  flushIntervalMs: number;
  /** Where it was declared, for errors found at run time. */
  keyPath: string;
}

export const BUCKET_TYPES = ['exp2', 'exp2zero', 'linear', 'fixed'] as const;
export type BucketType = (typeof BUCKET_TYPES)[number];

export interface HistogramConfig {
  name: string;
  help: string;
  bucketType: BucketType;
  bucketMultiplier: number;
  bucketMin: number;
  bucketMax: number;
  bucketKeys: number[];
  /** The last label is the bucket index. */
  labels: LabelConfig[];
  keyPath: string;
}

/** A ring buffer whose records become OpenTelemetry spans or log records. */
export interface EventConfig {
  ringbuf: string;
  name: string;
  service: string;
  labels: LabelConfig[];
  keyPath: string;
}

/** ebpf_exporter's cgroup_id_map: a map the exporter fills with the ids of the cgroups whose path matches, for programs to filter on. */
export interface CgroupIdMapConfig {
  name: string;
  /** `hash`: u64 cgroup id → 1; `cgrp_storage`: BPF_MAP_TYPE_CGRP_STORAGE set to 1 on matching cgroups. */
  type: 'hash' | 'cgrp_storage';
  regexps: RegExp[];
  keyPath: string;
}

/** How a script map becomes a metric (`maps.NAME` of a script program); every key is optional. */
export interface ScriptMapConfig {
  /** The metric's name without the namespace (default `<program>_<map>`, `_total` added to counters). */
  name?: string;
  help?: string;
  /** One label name per map key (default `key`, or `key0`, `key1`... for several keys). */
  labels?: string[];
  keyPath: string;
}

/** A tsbpf trace script whose maps become metrics. */
export interface ScriptConfig {
  text: string;
  /** The script's name in compile errors: its file, the config file when inline (with `origin`), else `<config file>:<key path>`. */
  file: string;
  /** An inline script whose text is exactly as written in the config: where it starts there, so errors give the config's lines. */
  origin?: ScriptOrigin;
  /** $1, $2...: the script's positional arguments. */
  args: string[];
  /** Entries per map (bpftrace's max_map_keys): the bound on each metric's label sets. */
  maxMapKeys?: number;
  /** Per map (name without `@`, '' for `@`): how to export it, or false to keep it out of /metrics. */
  maps: Record<string, ScriptMapConfig | false>;
  keyPath: string;
}

/** One of tsbpf's tools (src/tools) run as a metric source, with its options as written. */
export interface ToolConfig {
  name: string;
  options: Record<string, unknown>;
  keyPath: string;
}

export interface ProgramConfig {
  name: string;
  /** The config file it was read from (configs may be merged). */
  file: string;
  /** Absolute path of the compiled BPF object (programs with neither script nor tool). */
  object: string;
  script?: ScriptConfig;
  tool?: ToolConfig;
  kaddrs: string[];
  cgroupIdMap?: CgroupIdMapConfig;
  counters: CounterConfig[];
  histograms: HistogramConfig[];
  spans: EventConfig[];
  logs: EventConfig[];
  keyPath: string;
}

export interface OtlpConfig {
  /** Base URL of an OTLP/HTTP receiver: spans go to `<endpoint>/v1/traces`, logs to `<endpoint>/v1/logs`. */
  endpoint: string;
  headers: Record<string, string>;
}

export interface ExporterConfig {
  file: string;
  programs: ProgramConfig[];
  otlp?: OtlpConfig;
  /** Turn on the kernel's run-time statistics (kernel.bpf_stats_enabled) while the exporter runs. */
  programStats: boolean;
}

/** Metric names get ebpf_exporter's namespace, so its dashboards and alerts carry over. */
export const METRIC_NAMESPACE = 'ebpf_exporter';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** A key or event wider than this is not something a label decodes. */
const MAX_LABEL_SIZE = 4096;
const MAX_BUCKETS = 1024;
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** A script map with more entries than this is no longer a metric a Prometheus server can hold. */
const MAX_SCRIPT_MAP_KEYS = 1_000_000;

type Value = unknown;
type Path = ReadonlyArray<string | number>;

function pathText(path: Path): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

/** The environment variables the config falls back on, as OpenTelemetry SDKs (and ebpf_exporter) read them. */
export type OtlpEnvironment = Partial<Record<'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_HEADERS', string>>;

/**
 * A config or script file as UTF-8 text, read only up to the config limit:
 * /dev/zero or a huge file is refused after 4 MiB instead of filling memory
 * (and a synchronous read that never ends would also keep SIGTERM from
 * being handled).
 */
function readBoundedText(file: string): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(readFile(file, MAX_CONFIG_BYTES));
}

/** Reads and checks a config file; every problem names the file, the key path and the line. */
export function loadExporterConfig(file: string, environment: OtlpEnvironment = process.env): ExporterConfig {
  let text: string;
  try {
    text = readBoundedText(file);
  } catch (error) {
    throw new ExportConfigError(file, '', `cannot read the config: ${(error as Error).message}`);
  }
  return parseExporterConfig(text, file, environment);
}

/**
 * Parses config text; `file` names it in errors and anchors relative object
 * paths. Without an `otlp` key, OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS,
 * `key=value,...`) from `environment` say where spans and logs go, as for
 * ebpf_exporter, whose configs have no such key.
 */
export function parseExporterConfig(text: string, file: string, environment: OtlpEnvironment = {}): ExporterConfig {
  if (text.length > MAX_CONFIG_BYTES) throw new ExportConfigError(file, '', `the config is ${text.length} bytes; more than ${MAX_CONFIG_BYTES} is not a config`);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    throw new ExportConfigError(file, '', `YAML syntax: ${syntax.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, syntax.linePos?.[0].line);
  }
  let root: Value;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ExportConfigError(file, '', `YAML: ${(error as Error).message}`);
  }
  const fail = (path: Path, problem: string): never => {
    let line: number | undefined;
    try {
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      if (node?.range) line = lines.linePos(node.range[0]).line;
    } catch {
      // A path through a scalar has no node: report without a line.
    }
    throw new ExportConfigError(file, pathText(path), problem, line);
  };
  const config = new ConfigReader(file, fail, (path, script) => scriptOrigin(text, doc.getIn(path, true), lines, script)).root(root, isMap(doc.contents) || isSeq(doc.contents) || doc.contents === null);
  const endpoint = environment.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (config.otlp === undefined && endpoint !== undefined && endpoint !== '') config.otlp = otlpFromEnvironment(endpoint, environment.OTEL_EXPORTER_OTLP_HEADERS ?? '');
  return config;
}

/**
 * Where an inline script starts in the config text, when the config holds it
 * verbatim: a literal block (`|`) whose every line is the script's line
 * indented alike, or a one-line plain or quoted scalar without escapes.
 * Folded and escaped scalars change the text, so their errors stay in script
 * lines.
 */
function scriptOrigin(text: string, node: unknown, lines: LineCounter, script: string): ScriptOrigin | undefined {
  if (!isScalar(node) || node.range === undefined || node.range === null) return undefined;
  const [start, valueEnd] = node.range;
  if (node.type === 'PLAIN' || node.type === 'QUOTE_SINGLE' || node.type === 'QUOTE_DOUBLE') {
    const quote = node.type === 'PLAIN' ? '' : text[start]!;
    if (script.includes('\n') || text.slice(start, valueEnd) !== `${quote}${script}${quote}`) return undefined;
    const { line, col } = lines.linePos(start + quote.length);
    return { line, column: col };
  }
  if (node.type !== 'BLOCK_LITERAL') return undefined;
  const header = text.indexOf('\n', start);
  if (header < 0) return undefined;
  const written = text.slice(header + 1).split('\n');
  // The block's last line break ends its last line; it starts no line of its own.
  const scriptLines = script.replace(/\n$/, '').split('\n');
  const first = scriptLines.findIndex((line) => line !== '');
  if (first < 0 || written[first] === undefined) return undefined;
  const indent = written[first].length - scriptLines[first]!.length;
  if (indent < 0 || written[first] !== ' '.repeat(indent) + scriptLines[first]) return undefined;
  const exact = scriptLines.every((line, i) => (line === '' ? (written[i] ?? '').trim() === '' : written[i] === ' '.repeat(indent) + line));
  return exact ? { line: lines.linePos(header + 1).line, column: indent + 1 } : undefined;
}

/**
 * Several config files as one (ebpf_exporter's --config.names loads many):
 * program and metric names must stay unique across files, and at most one
 * OTLP receiver may be named. Errors name the later file and its key path.
 */
export function mergeExporterConfigs(configs: readonly ExporterConfig[]): ExporterConfig {
  if (configs.length === 0) throw new ExportConfigError('(command line)', '', 'no config given');
  const programs = new Map<string, string>();
  const metrics = new Map<string, string>();
  let otlp: { config: OtlpConfig; file: string } | undefined;
  for (const config of configs) {
    for (const program of config.programs) {
      const where = `${config.file}${program.keyPath ? ` ${program.keyPath}` : ''}`;
      const before = programs.get(program.name);
      if (before !== undefined) throw new ExportConfigError(config.file, program.keyPath, `program '${program.name}' is also defined in ${before}`);
      programs.set(program.name, where);
      for (const metric of [...program.counters, ...program.histograms]) {
        const first = metrics.get(metric.name);
        if (first !== undefined) throw new ExportConfigError(config.file, `${metric.keyPath}.name`, `metric '${metric.name}' is also defined in ${first}`);
        metrics.set(metric.name, `${config.file} ${metric.keyPath}`);
      }
    }
    if (config.otlp !== undefined) {
      if (otlp !== undefined && (otlp.config.endpoint !== config.otlp.endpoint || JSON.stringify(otlp.config.headers) !== JSON.stringify(config.otlp.headers))) {
        throw new ExportConfigError(config.file, 'otlp', `names another OTLP receiver than ${otlp.file} (${otlp.config.endpoint}); the exporter sends to one`);
      }
      otlp ??= { config: config.otlp, file: config.file };
    }
  }
  return {
    file: configs.map((c) => c.file).join(', '),
    programs: configs.flatMap((c) => c.programs),
    ...(otlp ? { otlp: otlp.config } : {}),
    programStats: configs.every((c) => c.programStats),
  };
}

/** OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS (`key=value,...`, URL-encoded), checked as the config's otlp key is. */
function otlpFromEnvironment(endpoint: string, headerText: string): OtlpConfig {
  const fail = (variable: string, problem: string): never => {
    throw new ExportConfigError('(environment)', variable, problem);
  };
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text.trim());
    } catch {
      return fail('OTEL_EXPORTER_OTLP_HEADERS', `'${text}' is not URL-encoded text`);
    }
  };
  const headers: Record<string, string> = {};
  for (const pair of headerText.split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    if (at <= 0) fail('OTEL_EXPORTER_OTLP_HEADERS', `'${pair}' is not key=value`);
    headers[decode(pair.slice(0, at))] = decode(pair.slice(at + 1));
  }
  const reader = new ConfigReader('(environment)', (path) => fail(path[0] === 'headers' ? 'OTEL_EXPORTER_OTLP_HEADERS' : 'OTEL_EXPORTER_OTLP_ENDPOINT', 'is not an http or https URL'));
  return reader.otlp({ endpoint, headers }, []);
}

class ConfigReader {
  readonly #metricNames = new Map<string, string>();

  constructor(
    readonly file: string,
    readonly fail: (path: Path, problem: string) => never,
    /** Where an inline script starts in the config text (none for configs without text, such as the environment). */
    readonly scriptOrigin: (path: Path, script: string) => ScriptOrigin | undefined = () => undefined,
  ) {}

  root(value: Value, structured: boolean): ExporterConfig {
    if (!structured || !isObject(value)) return this.fail([], 'the config must be a YAML mapping (with metrics/tracing, or programs)');
    const directory = dirname(resolve(this.file));
    if ('programs' in value) {
      this.keys(value, [], ['programs', 'otlp', 'program_stats']);
      const programs = this.array(value.programs, ['programs']).map((entry, i) => this.program(entry, ['programs', i], directory, undefined));
      if (programs.length === 0) this.fail(['programs'], 'lists no program');
      const names = new Set<string>();
      programs.forEach((p, i) => {
        if (names.has(p.name)) this.fail(['programs', i, 'name'], `a second program named '${p.name}'`);
        names.add(p.name);
      });
      const otlp = value.otlp === undefined ? undefined : this.otlp(value.otlp, ['otlp']);
      const programStats = value.program_stats === undefined ? true : this.boolean(value.program_stats, ['program_stats']);
      return { file: this.file, programs, ...(otlp ? { otlp } : {}), programStats };
    }
    const name = basename(this.file, extname(this.file));
    return { file: this.file, programs: [this.program(value, [], directory, name)], programStats: true };
  }

  /** One program: `implicitName` is set for a single ebpf_exporter config (no name/object keys). */
  program(value: Value, path: Path, directory: string, implicitName: string | undefined): ProgramConfig {
    const entry = this.object(value, path);
    const name = implicitName ?? this.string(entry.name, [...path, 'name']);
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) this.fail(implicitName === undefined ? [...path, 'name'] : [], `program name '${name}' may only hold letters, digits, '_', '.' and '-'`);
    if (implicitName === undefined && (entry.script !== undefined || entry.tool !== undefined)) return this.generatedProgram(entry, path, directory, name);
    const sourceKeys = ['name', 'object', 'script', 'tool'];
    this.keys(entry, path, ['metrics', 'tracing', 'kaddrs', 'cgroup_id_map', ...(implicitName === undefined ? sourceKeys : [])]);
    const object = implicitName === undefined && entry.object !== undefined ? this.string(entry.object, [...path, 'object']) : `${name}.bpf.o`;
    const metrics = entry.metrics === undefined ? {} : this.object(entry.metrics, [...path, 'metrics']);
    this.keys(metrics, [...path, 'metrics'], ['counters', 'histograms']);
    const tracing = entry.tracing === undefined ? {} : this.object(entry.tracing, [...path, 'tracing']);
    this.keys(tracing, [...path, 'tracing'], ['spans', 'logs']);
    const counters = this.optionalArray(metrics.counters, [...path, 'metrics', 'counters']).map((c, i) => this.counter(c, [...path, 'metrics', 'counters', i]));
    const histograms = this.optionalArray(metrics.histograms, [...path, 'metrics', 'histograms']).map((h, i) => this.histogram(h, [...path, 'metrics', 'histograms', i]));
    const spans = this.optionalArray(tracing.spans, [...path, 'tracing', 'spans']).map((s, i) => this.event(s, [...path, 'tracing', 'spans', i], 'span'));
    const logs = this.optionalArray(tracing.logs, [...path, 'tracing', 'logs']).map((s, i) => this.event(s, [...path, 'tracing', 'logs', i], 'log'));
    if (counters.length + histograms.length + spans.length + logs.length === 0) this.fail(path, 'defines neither metrics (counters, histograms) nor tracing (spans, logs)');
    const kaddrs = this.optionalArray(entry.kaddrs, [...path, 'kaddrs']).map((k, i) => this.string(k, [...path, 'kaddrs', i]));
    const cgroupIdMap = entry.cgroup_id_map === undefined ? undefined : this.cgroupIdMap(entry.cgroup_id_map, [...path, 'cgroup_id_map']);
    return { name, file: this.file, object: resolve(directory, object), kaddrs, ...(cgroupIdMap ? { cgroupIdMap } : {}), counters, histograms, spans, logs, keyPath: pathText(path) };
  }

  /** A program whose metrics its source defines: a trace script's maps or a tool's output (no metrics/tracing keys of its own). */
  generatedProgram(entry: Record<string, Value>, path: Path, directory: string, name: string): ProgramConfig {
    const base = { name, file: this.file, object: '', kaddrs: [], counters: [], histograms: [], spans: [], logs: [], keyPath: pathText(path) };
    if (entry.script !== undefined && entry.tool !== undefined) this.fail([...path, 'tool'], "a program takes one of 'object', 'script' and 'tool'");
    if (entry.tool !== undefined) {
      this.keys(entry, path, ['name', 'tool', 'options']);
      const options = entry.options === undefined ? {} : this.object(entry.options, [...path, 'options']);
      return { ...base, tool: { name: this.string(entry.tool, [...path, 'tool']), options, keyPath: pathText([...path, 'options']) } };
    }
    this.keys(entry, path, ['name', 'script', 'args', 'max_map_keys', 'maps']);
    const scriptPath = [...path, 'script'];
    const written = this.string(entry.script, scriptPath);
    // A script always has a probe body in braces; a file name never does.
    const inline = written.includes('{') || written.includes('\n');
    let text = written;
    const origin = inline ? this.scriptOrigin(scriptPath, written) : undefined;
    const file = !inline ? resolve(directory, written) : origin !== undefined ? this.file : `${this.file}:${pathText(scriptPath)}`;
    if (!inline) {
      try {
        text = readBoundedText(file);
      } catch (error) {
        this.fail(scriptPath, `'${written}' is neither a script (no probe body in braces) nor a readable file: ${(error as Error).message}`);
      }
    }
    try {
      parse(text, file, undefined, origin);
    } catch (error) {
      if (error instanceof TraceError) this.fail(scriptPath, error.message);
      throw error;
    }
    const args = this.optionalArray(entry.args, [...path, 'args']).map((arg, i) => {
      if (typeof arg !== 'string' && typeof arg !== 'number') this.fail([...path, 'args', i], `must be a string or a number, not ${describe(arg)}`);
      return String(arg);
    });
    const maps: Record<string, ScriptMapConfig | false> = {};
    const mapsPath = [...path, 'maps'];
    for (const [written, setting] of Object.entries(entry.maps === undefined ? {} : this.object(entry.maps, mapsPath))) {
      const mapName = written.replace(/^@/, '');
      if (mapName in maps) this.fail([...mapsPath, written], `map '@${mapName}' is configured twice`);
      maps[mapName] = setting === false ? false : this.scriptMap(setting, [...mapsPath, written]);
    }
    const maxMapKeys = entry.max_map_keys === undefined ? undefined : this.integer(entry.max_map_keys, [...path, 'max_map_keys'], 1, MAX_SCRIPT_MAP_KEYS);
    return { ...base, script: { text, file, ...(origin !== undefined ? { origin } : {}), args, ...(maxMapKeys !== undefined ? { maxMapKeys } : {}), maps, keyPath: pathText(scriptPath) } };
  }

  scriptMap(value: Value, path: Path): ScriptMapConfig {
    const entry = this.object(value, path);
    this.keys(entry, path, ['name', 'help', 'labels']);
    const map: ScriptMapConfig = { keyPath: pathText(path) };
    if (entry.name !== undefined) map.name = this.metricName(entry.name, [...path, 'name']);
    if (entry.help !== undefined) map.help = this.string(entry.help, [...path, 'help']);
    if (entry.labels !== undefined) {
      const labels: string[] = [];
      this.array(entry.labels, [...path, 'labels']).forEach((label, i) => {
        const text = this.string(label, [...path, 'labels', i]);
        if (!LABEL_NAME.test(text) || text.startsWith('__')) this.fail([...path, 'labels', i], `'${text}' is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)`);
        if (labels.includes(text)) this.fail([...path, 'labels', i], `label '${text}' appears twice`);
        labels.push(text);
      });
      map.labels = labels;
    }
    return map;
  }

  cgroupIdMap(value: Value, path: Path): CgroupIdMapConfig {
    const entry = this.object(value, path);
    this.keys(entry, path, ['name', 'type', 'regexps']);
    const type = entry.type === undefined ? 'hash' : this.string(entry.type, [...path, 'type']);
    if (type !== 'hash' && type !== 'cgrp_storage') this.fail([...path, 'type'], `unknown type '${type}' (hash or cgrp_storage)`);
    const regexps = this.regexps(entry.regexps, [...path, 'regexps']);
    return { name: this.string(entry.name, [...path, 'name']), type: type as CgroupIdMapConfig['type'], regexps, keyPath: pathText(path) };
  }

  counter(value: Value, path: Path): CounterConfig {
    const entry = this.object(value, path);
    this.keys(entry, path, ['name', 'help', 'labels', 'perf_event_array', 'flush_interval']);
    const perfEventArray = entry.perf_event_array === undefined ? false : this.boolean(entry.perf_event_array, [...path, 'perf_event_array']);
    if (entry.flush_interval !== undefined && !perfEventArray) this.fail([...path, 'flush_interval'], 'only applies to perf_event_array counters');
    const flushIntervalMs = entry.flush_interval === undefined ? 3_600_000 : this.duration(entry.flush_interval, [...path, 'flush_interval']);
    const name = this.metricName(entry.name, [...path, 'name']);
    const labels = this.labels(entry.labels, [...path, 'labels'], false);
    return { name, help: this.string(entry.help, [...path, 'help']), labels, perfEventArray, flushIntervalMs, keyPath: pathText(path) };
  }

  histogram(value: Value, path: Path): HistogramConfig {
    const entry = this.object(value, path);
    this.keys(entry, path, ['name', 'help', 'labels', 'bucket_type', 'bucket_multiplier', 'bucket_min', 'bucket_max', 'bucket_keys']);
    const name = this.metricName(entry.name, [...path, 'name']);
    const help = this.string(entry.help, [...path, 'help']);
    const bucketType = this.string(entry.bucket_type, [...path, 'bucket_type']) as BucketType;
    if (!BUCKET_TYPES.includes(bucketType)) this.fail([...path, 'bucket_type'], `unknown bucket type '${bucketType}' (one of ${BUCKET_TYPES.join(', ')})`);
    const bucketMultiplier = entry.bucket_multiplier === undefined ? 1 : this.number(entry.bucket_multiplier, [...path, 'bucket_multiplier']);
    if (!(bucketMultiplier > 0) || !Number.isFinite(bucketMultiplier)) this.fail([...path, 'bucket_multiplier'], `must be a positive number, not ${bucketMultiplier}`);
    const labels = this.labels(entry.labels, [...path, 'labels'], true);
    let bucketMin = 0;
    let bucketMax = 0;
    let bucketKeys: number[] = [];
    if (bucketType === 'fixed') {
      for (const key of ['bucket_min', 'bucket_max'] as const) if (entry[key] !== undefined) this.fail([...path, key], `is not used by fixed buckets (they take bucket_keys)`);
      bucketKeys = this.array(entry.bucket_keys, [...path, 'bucket_keys']).map((k, i) => this.integer(k, [...path, 'bucket_keys', i], 0, Number.MAX_SAFE_INTEGER - 1));
      if (bucketKeys.length === 0 || bucketKeys.length > MAX_BUCKETS) this.fail([...path, 'bucket_keys'], `needs between 1 and ${MAX_BUCKETS} keys, has ${bucketKeys.length}`);
      bucketKeys.forEach((k, i) => {
        if (i > 0 && k <= bucketKeys[i - 1]!) this.fail([...path, 'bucket_keys', i], `keys must increase: ${k} follows ${bucketKeys[i - 1]}`);
      });
    } else {
      if (entry.bucket_keys !== undefined) this.fail([...path, 'bucket_keys'], `is only used by fixed buckets, not ${bucketType}`);
      const limit = bucketType === 'linear' ? 1_000_000 : 63;
      bucketMin = this.integer(entry.bucket_min, [...path, 'bucket_min'], 0, limit);
      bucketMax = this.integer(entry.bucket_max, [...path, 'bucket_max'], 0, limit);
      if (bucketMax <= bucketMin) this.fail([...path, 'bucket_max'], `must be above bucket_min (${bucketMin}), is ${bucketMax}`);
      if (bucketMax - bucketMin >= MAX_BUCKETS) this.fail([...path, 'bucket_max'], `${bucketMax - bucketMin + 1} buckets; at most ${MAX_BUCKETS}`);
    }
    return { name, help, bucketType, bucketMultiplier, bucketMin, bucketMax, bucketKeys, labels, keyPath: pathText(path) };
  }

  event(value: Value, path: Path, kind: 'span' | 'log'): EventConfig {
    const entry = this.object(value, path);
    this.keys(entry, path, ['name', 'ringbuf', 'service', 'labels']);
    const ringbuf = this.string(entry.ringbuf, [...path, 'ringbuf']);
    const name = entry.name === undefined ? ringbuf : this.string(entry.name, [...path, 'name']);
    const service = entry.service === undefined ? 'ebpf_exporter' : this.string(entry.service, [...path, 'service']);
    if (entry.labels === undefined) this.fail(path, `a ${kind} needs labels: how to decode the ring buffer's records`);
    return { ringbuf, name, service, labels: this.labels(entry.labels, [...path, 'labels'], false, 'attribute'), keyPath: pathText(path) };
  }

  /** `kind`: metric labels follow Prometheus' naming; span and log labels are OpenTelemetry attributes (`cpu.orig` is fine). */
  labels(value: Value, path: Path, histogram: boolean, kind: 'label' | 'attribute' = 'label'): LabelConfig[] {
    const labels = (value === undefined && !histogram ? [] : this.array(value, path)).map((l, i) => this.label(l, [...path, i], kind));
    if (histogram && labels.length === 0) this.fail(path, 'a histogram needs at least one label: the last one is the bucket');
    const names = new Set<string>();
    labels.forEach((l, i) => {
      if (names.has(l.name)) this.fail([...path, i, 'name'], `label '${l.name}' appears twice`);
      names.add(l.name);
    });
    return labels;
  }

  label(value: Value, path: Path, kind: 'label' | 'attribute'): LabelConfig {
    const entry = this.object(value, path);
    this.keys(entry, path, ['name', 'size', 'padding', 'decoders']);
    const name = this.string(entry.name, [...path, 'name']);
    if (kind === 'label' && (!LABEL_NAME.test(name) || name.startsWith('__'))) this.fail([...path, 'name'], `'${name}' is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)`);
    const size = this.integer(entry.size, [...path, 'size'], 1, MAX_LABEL_SIZE);
    const padding = entry.padding === undefined ? 0 : this.integer(entry.padding, [...path, 'padding'], 0, MAX_LABEL_SIZE);
    const decoders = this.array(entry.decoders, [...path, 'decoders']).map((d, i) => this.decoder(d, [...path, 'decoders', i]));
    if (decoders.length === 0) this.fail([...path, 'decoders'], 'needs at least one decoder');
    const first = decoders[0]!.name;
    const sizes: Partial<Record<DecoderName, readonly number[]>> = { uint: [1, 2, 4, 8], ksym: [8], inet_ip: [4, 16], majorminor: [4], ifname: [4] };
    const allowed = sizes[first];
    if (allowed && !allowed.includes(size)) this.fail([...path, 'size'], `${size} bytes cannot go to the ${first} decoder, which takes ${allowed.join(', ')} bytes`);
    if (first === 'kstack' && size % 8 !== 0) this.fail([...path, 'size'], `${size} bytes: kstack takes 8-byte addresses`);
    return { name, size, padding, decoders };
  }

  decoder(value: Value, path: Path): DecoderConfig {
    const entry = this.object(value, path);
    this.keys(entry, path, ['name', 'static_map', 'regexps', 'allow_unknown']);
    const name = this.string(entry.name, [...path, 'name']) as DecoderName;
    if (!DECODER_NAMES.includes(name)) this.fail([...path, 'name'], `unknown decoder '${name}' (one of ${DECODER_NAMES.join(', ')})`);
    const allowUnknown = entry.allow_unknown === undefined ? false : this.boolean(entry.allow_unknown, [...path, 'allow_unknown']);
    const decoder: DecoderConfig = { name, allowUnknown };
    if (name === 'static_map') {
      const map = this.object(entry.static_map, [...path, 'static_map']);
      decoder.staticMap = {};
      for (const [key, mapped] of Object.entries(map)) {
        if (typeof mapped !== 'string' && typeof mapped !== 'number' && typeof mapped !== 'boolean') this.fail([...path, 'static_map', key], `must map to a string, not ${describe(mapped)}`);
        decoder.staticMap[key] = String(mapped);
      }
    } else if (entry.static_map !== undefined) this.fail([...path, 'static_map'], `is only read by the static_map decoder, not ${name}`);
    if (name === 'regexp') decoder.regexps = this.regexps(entry.regexps, [...path, 'regexps']);
    else if (entry.regexps !== undefined) this.fail([...path, 'regexps'], `is only read by the regexp decoder, not ${name}`);
    return decoder;
  }

  regexps(value: Value, path: Path): RegExp[] {
    const sources = this.array(value, path);
    if (sources.length === 0) this.fail(path, 'needs at least one regular expression');
    return sources.map((source, i) => {
      const text = this.string(source, [...path, i]);
      try {
        return new RegExp(text);
      } catch (error) {
        return this.fail([...path, i], `not a regular expression: ${(error as Error).message}`);
      }
    });
  }

  otlp(value: Value, path: Path): OtlpConfig {
    const entry = this.object(value, path);
    this.keys(entry, path, ['endpoint', 'headers']);
    const endpoint = this.string(entry.endpoint, [...path, 'endpoint']);
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return this.fail([...path, 'endpoint'], `'${endpoint}' is not a URL (e.g. http://127.0.0.1:4318)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') this.fail([...path, 'endpoint'], `OTLP/HTTP needs an http or https URL, not ${url.protocol}`);
    const headers: Record<string, string> = {};
    if (entry.headers !== undefined) {
      for (const [key, header] of Object.entries(this.object(entry.headers, [...path, 'headers']))) headers[key] = this.string(header, [...path, 'headers', key]);
    }
    return { endpoint: endpoint.replace(/\/+$/, ''), headers };
  }

  metricName(value: Value, path: Path): string {
    const name = this.string(value, path);
    const full = `${METRIC_NAMESPACE}_${name}`;
    if (!METRIC_NAME.test(full)) this.fail(path, `'${name}' is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`);
    const previous = this.#metricNames.get(full);
    if (previous !== undefined) this.fail(path, `metric '${name}' is already defined at ${previous}`);
    this.#metricNames.set(full, pathText(path));
    return name;
  }

  /** A Go duration as ebpf_exporter reads it ("90s", "1h30m", "250ms"; a bare number is nanoseconds), in milliseconds, at least 1 s. */
  duration(value: Value, path: Path): number {
    const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    let ms: number;
    if (typeof value === 'number' && Number.isFinite(value)) ms = value / 1e6;
    else if (typeof value === 'string' && /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) {
      ms = 0;
      for (const [, amount, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(amount) * units[unit!]!;
    } else return this.fail(path, `must be a duration like 30s, 5m or 1h, not ${describe(value)}`);
    if (ms < 1000 || ms > 366 * 24 * 3_600_000) this.fail(path, `${String(value)} is out of range: from 1s to 366 days`);
    return ms;
  }

  keys(entry: Record<string, Value>, path: Path, allowed: readonly string[]): void {
    for (const key of Object.keys(entry)) if (!allowed.includes(key)) this.fail([...path, key], `unknown key (expected one of ${allowed.join(', ')})`);
  }

  object(value: Value, path: Path): Record<string, Value> {
    if (value === undefined) return this.fail(path, 'is missing');
    if (!isObject(value)) return this.fail(path, `must be a mapping, not ${describe(value)}`);
    return value;
  }

  array(value: Value, path: Path): Value[] {
    if (value === undefined) return this.fail(path, 'is missing');
    if (!Array.isArray(value)) return this.fail(path, `must be a list, not ${describe(value)}`);
    return value;
  }

  optionalArray(value: Value, path: Path): Value[] {
    return value === undefined || value === null ? [] : this.array(value, path);
  }

  string(value: Value, path: Path): string {
    if (value === undefined) return this.fail(path, 'is missing');
    if (typeof value !== 'string' || value === '') return this.fail(path, `must be a non-empty string, not ${describe(value)}`);
    return value;
  }

  number(value: Value, path: Path): number {
    if (typeof value !== 'number') return this.fail(path, `must be a number, not ${describe(value)}`);
    return value;
  }

  integer(value: Value, path: Path, min: number, max: number): number {
    if (value === undefined) return this.fail(path, 'is missing');
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) return this.fail(path, `must be an integer from ${min} to ${max}, not ${describe(value)}`);
    return value;
  }

  boolean(value: Value, path: Path): boolean {
    if (typeof value !== 'boolean') return this.fail(path, `must be true or false, not ${describe(value)}`);
    return value;
  }
}

function isObject(value: Value): value is Record<string, Value> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: Value): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string '${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  return `${typeof value} ${String(value)}`;
}
