/**
 * Ring-buffer records to OpenTelemetry spans or log records, sent over
 * OTLP/HTTP with the official SDK (BasicTracerProvider + OTLPTraceExporter,
 * LoggerProvider + OTLPLogExporter). Records are decoded with the same
 * labels as metrics; as in ebpf_exporter, the labels `trace_id`,
 * `parent_span_id`, `span_id` (hex), `span_monotonic_timestamp_ns` and
 * `span_duration_ns` (uint) and `span_name` shape the span, every other
 * label becomes an attribute.
 */
import { type Context, ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, BatchSpanProcessor, type IdGenerator, RandomIdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { RingBufferReader } from '../kernel/index.ts';
import type { EventConfig, OtlpConfig } from './config.ts';
import { type DecoderSet, SKIP_LABEL_SET } from './decoders.ts';
import { ExportError } from './errors.ts';
import type { ProgramSource } from './source.ts';

/** Counts the exporter keeps about events, exposed as its own metrics. */
export interface EventCounts {
  /** Records turned into spans/logs, per `config/ringbuf`. */
  exported: Map<string, number>;
  /** Records lost, per `config/ringbuf/reason` (decode_error, export_failed). */
  lost: Map<string, number>;
}

const bump = (counts: Map<string, number>, key: string, by = 1): void => {
  counts.set(key, (counts.get(key) ?? 0) + by);
};

/** Wraps an OTLP exporter to count what it failed to deliver. */
class CountingExporter<T> {
  constructor(
    readonly inner: { export(items: T[], done: (result: ExportResult) => void): void; shutdown(): Promise<void>; forceFlush?(): Promise<void> },
    readonly onLost: (items: T[]) => void,
  ) {}
  export(items: T[], done: (result: ExportResult) => void): void {
    this.inner.export(items, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.onLost(items);
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Span and trace ids taken from the record when it carries them, random otherwise. */
class RecordIdGenerator implements IdGenerator {
  readonly #random = new RandomIdGenerator();
  nextSpanId: string | undefined;
  nextTraceId: string | undefined;
  generateTraceId(): string {
    const id = this.nextTraceId ?? this.#random.generateTraceId();
    this.nextTraceId = undefined;
    return id;
  }
  generateSpanId(): string {
    const id = this.nextSpanId ?? this.#random.generateSpanId();
    this.nextSpanId = undefined;
    return id;
  }
}

const NIL_SPAN_ID = '0000000000000000';
const HEX_TRACE_ID = /^[0-9a-f]{32}$/;
const HEX_SPAN_ID = /^[0-9a-f]{16}$/;

/** Nanoseconds of CLOCK_MONOTONIC (bpf_ktime_get_ns; Node's hrtime reads the same clock) → nanoseconds since the epoch. */
function monotonicToEpochNs(ktimeNs: bigint): bigint {
  return BigInt(Date.now()) * 1_000_000n - (process.hrtime.bigint() - ktimeNs);
}

/** OpenTelemetry's [seconds, nanoseconds] time, exact (a millisecond float would round nanosecond durations). */
const hrTime = (epochNs: bigint): [number, number] => [Number(epochNs / 1_000_000_000n), Number(epochNs % 1_000_000_000n)];

interface Pipeline {
  readonly config: EventConfig;
  readonly key: string;
  readonly reader: RingBufferReader;
  readonly handle: (record: Uint8Array) => void;
}

/** Reads the configured ring buffers of the sources and sends what they carry to an OTLP/HTTP receiver. */
export class EventExporter {
  readonly counts: EventCounts = { exported: new Map(), lost: new Map() };
  readonly #tracers = new Map<string, { provider: BasicTracerProvider; ids: RecordIdGenerator }>();
  readonly #loggers = new Map<string, LoggerProvider>();
  readonly #pipelines: Pipeline[] = [];
  readonly #abort = new AbortController();
  readonly #loops: Promise<void>[] = [];

  constructor(
    readonly otlp: OtlpConfig,
    readonly decoders: DecoderSet,
    /** A reader that fails (not a record that does not decode: that is a lost event) is reported here. */
    readonly onReaderError: (error: unknown) => void = () => undefined,
  ) {}

  /** Starts reading `config`'s ring buffer of `source` into spans (or logs). */
  add(source: ProgramSource, config: EventConfig, kind: 'span' | 'log'): void {
    const map = source.ringBuffer(config.ringbuf);
    if (map === undefined) throw new ExportError(`${config.keyPath}: program '${source.name}' has no ring buffer map '${config.ringbuf}'`);
    const key = `${source.name}/${config.ringbuf}`;
    const reader = new RingBufferReader(map);
    const handle = kind === 'span' ? this.#spanHandler(source.name, config, key) : this.#logHandler(source.name, config, key);
    const pipeline: Pipeline = { config, key, reader, handle };
    this.#pipelines.push(pipeline);
    this.counts.exported.set(key, 0);
    this.#loops.push(reader.consume((record) => this.#receive(pipeline, record), { signal: this.#abort.signal }).catch(this.onReaderError));
  }

  #receive(pipeline: Pipeline, record: Uint8Array): void {
    try {
      pipeline.handle(record);
    } catch {
      bump(this.counts.lost, `${pipeline.key}/decode_error`);
    }
  }

  #decode(config: EventConfig, record: Uint8Array): string[] | undefined {
    const labels = this.decoders.decodeLabels(record, config.labels, true);
    return labels === SKIP_LABEL_SET ? undefined : labels;
  }

  #spanHandler(program: string, config: EventConfig, key: string): (record: Uint8Array) => void {
    let tracer = this.#tracers.get(config.service);
    if (!tracer) {
      const ids = new RecordIdGenerator();
      const exporter = new CountingExporter<ReadableSpan>(new OTLPTraceExporter({ url: `${this.otlp.endpoint}/v1/traces`, headers: this.otlp.headers }), (spans) =>
        bump(this.counts.lost, `${key}/export_failed`, spans.length),
      );
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': config.service }),
        idGenerator: ids,
        spanProcessors: [new BatchSpanProcessor(exporter as unknown as SpanExporter, { maxQueueSize: 65536, scheduledDelayMillis: 200 })],
      });
      this.#tracers.set(config.service, (tracer = { provider, ids }));
    }
    const { provider, ids } = tracer;
    const otelTracer = provider.getTracer('tsbpf-exporter');
    return (record) => {
      const labels = this.#decode(config, record);
      if (labels === undefined) return;
      let name = config.name;
      let traceId: string | undefined;
      let parentId: string | undefined;
      let spanId: string | undefined;
      let start = BigInt(Date.now()) * 1_000_000n;
      let durationNs = 0n;
      const attributes: Record<string, string> = { 'ebpf_exporter.config': program };
      config.labels.forEach((label, i) => {
        const value = labels[i]!;
        switch (label.name) {
          case 'trace_id':
            if (!HEX_TRACE_ID.test(value)) throw new ExportError(`trace_id '${value}' is not 32 hex digits`);
            traceId = value;
            break;
          case 'parent_span_id':
            if (value !== NIL_SPAN_ID) parentId = value;
            break;
          case 'span_id':
            if (value !== NIL_SPAN_ID) spanId = value;
            break;
          case 'span_monotonic_timestamp_ns':
            start = monotonicToEpochNs(BigInt(value));
            break;
          case 'span_duration_ns':
            durationNs = BigInt(value);
            break;
          case 'span_name':
            name = value;
            break;
          default:
            attributes[label.name] = value;
        }
      });
      for (const id of [parentId, spanId]) if (id !== undefined && !HEX_SPAN_ID.test(id)) throw new ExportError(`span id '${id}' is not 16 hex digits`);
      // A parent span comes in through the context; a root span's trace id through the id generator.
      const parent: Context =
        traceId !== undefined && parentId !== undefined ? trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: parentId, traceFlags: TraceFlags.SAMPLED, isRemote: true }) : ROOT_CONTEXT;
      ids.nextTraceId = traceId;
      ids.nextSpanId = spanId;
      const span = otelTracer.startSpan(name, { startTime: hrTime(start), attributes }, parent);
      span.end(hrTime(start + durationNs));
      bump(this.counts.exported, key);
    };
  }

  #logHandler(program: string, config: EventConfig, key: string): (record: Uint8Array) => void {
    let provider = this.#loggers.get(config.service);
    if (!provider) {
      const exporter = new CountingExporter<ReadableLogRecord>(new OTLPLogExporter({ url: `${this.otlp.endpoint}/v1/logs`, headers: this.otlp.headers }), (records) =>
        bump(this.counts.lost, `${key}/export_failed`, records.length),
      );
      provider = new LoggerProvider({
        resource: resourceFromAttributes({ 'service.name': config.service }),
        processors: [new BatchLogRecordProcessor({ exporter: exporter as unknown as LogRecordExporter, maxQueueSize: 65536, scheduledDelayMillis: 200 })],
      });
      this.#loggers.set(config.service, provider);
    }
    const logger = provider.getLogger('tsbpf-exporter');
    return (record) => {
      const labels = this.#decode(config, record);
      if (labels === undefined) return;
      const attributes: Record<string, string> = { 'ebpf_exporter.config': program };
      config.labels.forEach((label, i) => (attributes[label.name] = labels[i]!));
      logger.emit({ body: config.name, severityNumber: SeverityNumber.INFO, severityText: 'INFO', attributes });
      bump(this.counts.exported, key);
    };
  }

  /** Sends what is queued now. */
  async flush(): Promise<void> {
    for (const pipeline of this.#pipelines) pipeline.reader.poll((record) => this.#receive(pipeline, record));
    await Promise.all([...[...this.#tracers.values()].map((t) => t.provider.forceFlush()), ...[...this.#loggers.values()].map((l) => l.forceFlush())]);
  }

  /** Stops reading, sends what is queued and shuts the SDK down. */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#loops);
    await this.flush().catch(() => undefined);
    for (const pipeline of this.#pipelines) pipeline.reader.close();
    await Promise.all([...[...this.#tracers.values()].map((t) => t.provider.shutdown()), ...[...this.#loggers.values()].map((l) => l.shutdown())]);
  }
}
