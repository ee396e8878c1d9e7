/** Export: BPF maps as Prometheus metrics, ring buffers as OpenTelemetry spans and logs, in ebpf_exporter's config format. */
export { ExportConfigError, ExportError } from './errors.ts';
export {
  loadExporterConfig,
  mergeExporterConfigs,
  parseExporterConfig,
  DECODER_NAMES,
  BUCKET_TYPES,
  METRIC_NAMESPACE,
  type ExporterConfig,
  type ProgramConfig,
  type CounterConfig,
  type HistogramConfig,
  type EventConfig,
  type LabelConfig,
  type DecoderConfig,
  type DecoderName,
  type BucketType,
  type OtlpConfig,
  type CgroupIdMapConfig,
  type ScriptConfig,
  type ScriptMapConfig,
  type ToolConfig,
} from './config.ts';
export { DecoderSet, LabelDecodeError, SKIP_LABEL_SET, SYSTEM_ENVIRONMENT, parsePciIds, type DecoderEnvironment } from './decoders.ts';
export { toPromHistogram, bucketIndexes, type PromHistogram } from './histogram.ts';
export { MapReader, MetricRegistries, CounterFamily, HistogramFamily, PerfEventCounterFamily, ComputedFamily, type MetricFamily, type Sample } from './metrics.ts';
export { EventExporter, type EventCounts } from './events.ts';
export { CgroupIdMapUpdater } from './cgroups.ts';
export { ObjectProgramSource, MapsProgramSource, type ProgramSource, type ExportedProgram } from './source.ts';
export { ScriptProgramSource } from './script.ts';
export { ToolProgramSource, ToolOptions, type MetricTool, type ToolFactory, type ToolMetric, type ToolCounter, type ToolGauge, type ToolHistogram, type ToolValue, type ToolHistogramValue } from './tool.ts';
export { Exporter, MetricsServer, type ExporterOptions } from './exporter.ts';
