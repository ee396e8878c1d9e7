/**
 * The exporter: loads each configured program source, registers a metric
 * family per counter and histogram map plus the exporter's own metrics
 * (ebpf_exporter's program_info, program_attached, run time and run count
 * from kernel.bpf_stats_enabled, decoder errors; and tsbpf's events, lost
 * events and scrape duration), serves them on HTTP `/metrics`, and sends
 * ring-buffer events to OpenTelemetry.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { Histogram } from 'prom-client';
import { enableRunTimeStats } from '../kernel/index.ts';
import { type ExporterConfig, METRIC_NAMESPACE, type ProgramConfig } from './config.ts';
import { DecoderSet, type DecoderEnvironment, SYSTEM_ENVIRONMENT } from './decoders.ts';
import { ExportError } from './errors.ts';
import { EventExporter } from './events.ts';
import { ComputedFamily, CounterFamily, HistogramFamily, MapReader, MetricRegistries, PerfEventCounterFamily, type Sample } from './metrics.ts';
import { ObjectProgramSource, type ProgramSource } from './source.ts';
import { CgroupIdMapUpdater } from './cgroups.ts';
import { ScriptProgramSource } from './script.ts';
import { type ToolFactory, ToolProgramSource } from './tool.ts';

export interface ExporterOptions {
  /** Program sources by config name, instead of opening each program's object, script or tool. */
  sources?: Record<string, ProgramSource>;
  /** The tools a config's `tool:` may name (src/tools' table, passed in by whoever composes both). */
  tools?: Readonly<Record<string, ToolFactory>>;
  decoderEnvironment?: DecoderEnvironment;
  /** Called with each problem that does not stop the exporter (a program that could not attach, a decode error). */
  warn?: (message: string) => void;
}

const n = (name: string): string => `${METRIC_NAMESPACE}_${name}`;
const WARNING_INTERVAL_MS = 60_000;

/** Whether an admin turned the kernel.bpf_stats_enabled sysctl on (it does not show BPF_ENABLE_STATS fds like ours). */
function statsSysctlEnabled(): boolean {
  try {
    return readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() !== '0';
  } catch {
    return false;
  }
}

export class Exporter {
  readonly registries = new MetricRegistries();
  readonly sources: ProgramSource[] = [];
  readonly decoderErrors = new Map<string, number>();
  readonly decoders: DecoderSet;
  events: EventExporter | undefined;
  readonly perfCounters: PerfEventCounterFamily[] = [];
  readonly #cgroupMaps: CgroupIdMapUpdater[] = [];
  readonly #scrapeDuration: Histogram;
  #stats: ReturnType<typeof enableRunTimeStats> | undefined;
  #server: Server | undefined;
  #closed = false;
  readonly #warn: (message: string) => void;
  readonly #lastWarning = new Map<string, { at: number; suppressed: number }>();
  /** The scrape under way per format: concurrent requests share it instead of reading every map again. */
  readonly #inFlight = new Map<string, Promise<{ body: string; contentType: string }>>();

  private constructor(
    readonly config: ExporterConfig,
    options: ExporterOptions,
  ) {
    this.decoders = new DecoderSet(options.decoderEnvironment ?? SYSTEM_ENVIRONMENT);
    this.#warn = options.warn ?? (() => undefined);
    this.#scrapeDuration = new Histogram({
      name: n('scrape_duration_seconds'),
      help: 'Time to collect and format one /metrics response',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      labelNames: ['format'],
      registers: [this.registries.text, this.registries.openMetrics],
    });
  }

  /** Loads and attaches every program of `config`; on failure closes what it opened. */
  static async start(config: ExporterConfig, options: ExporterOptions = {}): Promise<Exporter> {
    const exporter = new Exporter(config, options);
    try {
      await exporter.#open(options);
    } catch (error) {
      await exporter.close();
      throw error;
    }
    return exporter;
  }

  decodeError(config: string, error: unknown): void {
    this.decoderErrors.set(config, (this.decoderErrors.get(config) ?? 0) + 1);
    // A map full of undecodable keys fails once per key per scrape: say it once a minute per config, with the count in between.
    this.#warnLimited(config, `decode error in '${config}': ${(error as Error).message}`);
  }

  /** Warns at most once a minute per `topic`, counting the warnings held back in between. */
  #warnLimited(topic: string, message: string): void {
    const now = Date.now();
    const last = this.#lastWarning.get(topic);
    if (last !== undefined && now - last.at < WARNING_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ? ` (${last.suppressed} more since the last warning)` : '';
    this.#lastWarning.set(topic, { at: now, suppressed: 0 });
    this.#warn(`${message}${suppressed}`);
  }

  async #openSource(program: ProgramConfig, options: ExporterOptions): Promise<ProgramSource> {
    const given = options.sources?.[program.name];
    if (given !== undefined) return given;
    if (program.tool !== undefined) return ToolProgramSource.open(program, options.tools ?? {});
    if (program.script !== undefined) return ScriptProgramSource.open(program, (text) => this.#warnLimited(`${program.name}/output`, `script '${program.name}' printed: ${text.trimEnd()}`), this.#warn);
    return ObjectProgramSource.open(program);
  }

  async #open(options: ExporterOptions): Promise<void> {
    if (this.config.programStats) {
      try {
        this.#stats = enableRunTimeStats();
      } catch (error) {
        // Without CAP_SYS_ADMIN the metrics still work; only run time and run count are missing.
        this.#warn(`program statistics stay off: ${(error as Error).message}`);
      }
    }
    for (const program of this.config.programs) {
      const source = await this.#openSource(program, options);
      this.sources.push(source);
      this.decoderErrors.set(program.name, 0);
      for (const p of source.programs) if (!p.attachment.attached) this.#warn(`program '${source.name}:${p.name}' is not attached: ${p.attachment.reason}`);
      for (const family of source.families?.(this) ?? []) {
        try {
          this.registries.add(family);
        } catch (error) {
          throw new ExportError(`${program.file}: program '${program.name}': ${(error as Error).message}`, { cause: error });
        }
      }
      const map = (name: string, keyPath: string) => {
        const found = source.map(name);
        if (found === undefined) throw new ExportError(`${program.file}: ${keyPath}: program '${program.name}' has no map '${name}'`);
        return found;
      };
      if (program.cgroupIdMap) {
        const updater = new CgroupIdMapUpdater(map(program.cgroupIdMap.name, program.cgroupIdMap.keyPath), program.cgroupIdMap, this.decoders.environment.cgroupRoot, this.decoders.environment.cgroup2Only, (error) => this.decodeError(program.name, error));
        this.#cgroupMaps.push(updater);
        updater.start();
      }
      for (const counter of program.counters) {
        if (counter.perfEventArray) {
          const perf = source.perfEventArray(counter.name);
          if (perf === undefined) throw new ExportError(`${program.file}: ${counter.keyPath}: program '${program.name}' has no perf event array map '${counter.name}'`);
          const family = new PerfEventCounterFamily(counter, perf, this.decoders, program.name, this);
          this.perfCounters.push(family);
          this.registries.add(family);
          // ebpf_exporter's name for the samples a full ring dropped.
          this.registries.add(new ComputedFamily(`dropped_perf_event_map_events_${counter.name}`, 'Dropped perf map events', 'counter', () => [{ labels: {}, value: family.lost }]));
          continue;
        }
        const reader = new MapReader(map(counter.name, counter.keyPath), counter.labels, this.decoders, `${program.file}: ${counter.keyPath}`);
        this.registries.add(new CounterFamily(counter, reader, program.name, this));
      }
      for (const histogram of program.histograms) {
        const reader = new MapReader(map(histogram.name, histogram.keyPath), histogram.labels, this.decoders, `${program.file}: ${histogram.keyPath}`);
        this.registries.add(new HistogramFamily(histogram, reader, program.name, this));
      }
      if (program.spans.length + program.logs.length > 0) {
        if (this.config.otlp === undefined) throw new ExportError(`${program.file}: ${program.keyPath || program.name}: tracing needs an OTLP receiver: set otlp.endpoint (in a programs: config) or OTEL_EXPORTER_OTLP_ENDPOINT`);
        this.events ??= new EventExporter(this.config.otlp, this.decoders, (error) => this.#warn(`reading events stopped: ${(error as Error).message}`));
        for (const span of program.spans) this.events.add(source, span, 'span');
        for (const log of program.logs) this.events.add(source, log, 'log');
      }
    }
    this.#registerOwnMetrics();
  }

  #registerOwnMetrics(): void {
    const add = (name: string, help: string, type: 'counter' | 'gauge', samples: () => Sample[]): void => this.registries.add(new ComputedFamily(n(name), help, type, samples));
    const programs = () =>
      this.sources.flatMap((source) =>
        source.programs.map((program) => {
          let info;
          try {
            info = program.info();
          } catch {
            info = undefined; // the program is gone: no id to report
          }
          return { source, program, info };
        }),
      );
    add('enabled_configs', 'The set of enabled configs', 'gauge', () => this.sources.map((s) => ({ labels: { name: s.name }, value: 1 })));
    add('ebpf_program_info', 'Info about ebpf programs', 'gauge', () =>
      programs().map(({ source, program, info }) => ({ labels: { config: source.name, program: program.name, tag: info?.tag ?? '', id: String(info?.id ?? 0) }, value: 1 })),
    );
    add('ebpf_program_attached', 'Whether a program is attached', 'gauge', () => programs().map(({ program, info }) => ({ labels: { id: String(info?.id ?? 0) }, value: program.attachment.attached ? 1 : 0 })));
    const statistics = (pick: (info: NonNullable<ReturnType<typeof programs>[number]['info']>) => number) => () =>
      this.#stats !== undefined || statsSysctlEnabled() ? programs().flatMap(({ info }) => (info ? [{ labels: { id: String(info.id) }, value: pick(info) }] : [])) : [];
    add('ebpf_program_run_time_seconds_total', 'How long has the program been executing (kernel.bpf_stats_enabled)', 'counter', statistics((info) => Number(info.runTimeNs) / 1e9));
    add('ebpf_program_run_count_total', 'How many times has the program been executed (kernel.bpf_stats_enabled)', 'counter', statistics((info) => Number(info.runCount)));
    add('decoder_errors_total', 'How many times has decoders encountered errors', 'counter', () => [...this.decoderErrors].map(([config, value]) => ({ labels: { config }, value })));
    const split = (key: string) => key.split('/');
    add('events_total', 'Ring-buffer records sent to OpenTelemetry', 'counter', () =>
      [...(this.events?.counts.exported ?? [])].map(([key, value]) => ({ labels: { config: split(key)[0]!, ringbuf: split(key)[1]! }, value })),
    );
    add('lost_events_total', 'Ring-buffer records not delivered to OpenTelemetry, by reason (decode_error, export_failed)', 'counter', () =>
      [...(this.events?.counts.lost ?? [])].map(([key, value]) => ({ labels: { config: split(key)[0]!, ringbuf: split(key)[1]!, reason: split(key)[2]! }, value })),
    );
  }

  /** One /metrics response: the body and its content type, for an Accept header. */
  async scrape(accept?: string): Promise<{ body: string; contentType: string }> {
    if (this.#closed) throw new ExportError('the exporter is closed');
    const registry = this.registries.forAccept(accept);
    const format = registry === this.registries.openMetrics ? 'openmetrics' : 'text';
    const running = this.#inFlight.get(format);
    if (running) return running;
    const scrape = (async () => {
      const stop = this.#scrapeDuration.startTimer({ format });
      try {
        return { body: await registry.metrics(), contentType: registry.contentType };
      } finally {
        stop();
        this.#inFlight.delete(format);
      }
    })();
    this.#inFlight.set(format, scrape);
    return scrape;
  }

  /** Serves /metrics on `host:port` (port 0: any free port); resolves with the bound address. */
  async listen(port: number, host = '0.0.0.0'): Promise<AddressInfo> {
    const { server, address } = await serveMetrics((accept) => this.scrape(accept), port, host);
    this.#server = server;
    return address;
  }

  /** Stops serving, flushes events, detaches and unloads every program. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#server) await closeServer(this.#server);
    // A scrape under way reads maps to the end before they go (a reload closes the old exporter while it may be scraped).
    await Promise.allSettled([...this.#inFlight.values()]);
    await this.events?.close();
    await Promise.all(this.perfCounters.splice(0).map((family) => family.close()));
    for (const updater of this.#cgroupMaps.splice(0)) updater.close();
    for (const source of this.sources.splice(0)) await source.close();
    this.#stats?.close();
  }
}

type Scrape = (accept: string | undefined) => Promise<{ body: string; contentType: string }>;

/** An HTTP server answering /metrics with `scrape`, listening on `host:port`. */
async function serveMetrics(scrape: Scrape, port: number, host: string): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body><a href="/metrics">/metrics</a></body></html>\n');
      return;
    }
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    scrape(request.headers.accept).then(
      ({ body, contentType }) => response.writeHead(200, { 'content-type': contentType }).end(request.method === 'HEAD' ? undefined : body),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new ExportError(`cannot listen on ${host}:${port}: ${error.code ?? error.message}`)));
    server.listen(port, host, resolve);
  });
  return { server, address: server.address() as AddressInfo };
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * /metrics for whichever exporter is current, so a config reload (SIGHUP)
 * swaps exporters behind one listening port: scrapes go to the old exporter
 * until the new one has loaded everything, a scrape under way finishes on
 * the exporter it started on, and a config that fails to load leaves the
 * old exporter serving.
 */
export class MetricsServer {
  #exporter: Exporter;
  #server: Server | undefined;

  constructor(exporter: Exporter) {
    this.#exporter = exporter;
  }

  get exporter(): Exporter {
    return this.#exporter;
  }

  async listen(port: number, host = '0.0.0.0'): Promise<AddressInfo> {
    const { server, address } = await serveMetrics((accept) => this.#exporter.scrape(accept), port, host);
    this.#server = server;
    return address;
  }

  /** Serves `next` from now on, then closes the exporter it replaces. */
  async swap(next: Exporter): Promise<void> {
    const previous = this.#exporter;
    this.#exporter = next;
    await previous.close();
  }

  async close(): Promise<void> {
    if (this.#server) await closeServer(this.#server);
    await this.#exporter.close();
  }
}
