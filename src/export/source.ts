/**
 * Where the exporter's numbers come from. A ProgramSource is anything that
 * owns loaded BPF programs and the maps and ring buffers the config names,
 * or metric families of its own: a compiled object (ObjectProgramSource,
 * here), a tsbpf trace script (script.ts) or one of tsbpf's tools (tool.ts).
 */
import { readFileSync } from 'node:fs';
import type { BpfMap } from '../backend/index.ts';
import {
  type KernelCollection,
  KernelMap,
  type KernelProgram,
  type Link,
  type ProgramInfo,
  attachRawTracepoint,
  attachTracepoint,
  attachTracing,
  attachUprobe,
  attachKprobe,
  loadCollection,
} from '../kernel/index.ts';
import { readFile } from '../host/node.ts';
import { type CollectionSpec, loadCollectionSpec } from '../object/index.ts';
import { MapType, ProgramType } from '../uapi/index.ts';
import type { ProgramConfig } from './config.ts';
import { ExportError } from './errors.ts';
import type { DecodeErrorSink, MetricFamily } from './metrics.ts';

/** One program of a source, for program_info / run statistics. */
export interface ExportedProgram {
  readonly name: string;
  /** The attachment, or why there is none. */
  readonly attachment: { attached: true; description: string } | { attached: false; reason: string };
  /** The kernel's bpf_prog_info (id, tag, run_time_ns, run_cnt); undefined for programs outside the kernel. */
  info(): ProgramInfo | undefined;
}

export interface ProgramSource {
  /** The config's program name: the `config` label of the exporter's own metrics. */
  readonly name: string;
  readonly programs: readonly ExportedProgram[];
  /** The map named `name` (counter and histogram maps: u64 values), or undefined. */
  map(name: string): BpfMap | undefined;
  /** The BPF_MAP_TYPE_RINGBUF map named `name`, or undefined. */
  ringBuffer(name: string): KernelMap | undefined;
  /** The BPF_MAP_TYPE_PERF_EVENT_ARRAY map named `name`, or undefined. */
  perfEventArray(name: string): KernelMap | undefined;
  /** Metric families the source defines itself (a trace script's maps, a tool's metrics), beside the config's counters and histograms. */
  families?(errors: DecodeErrorSink): MetricFamily[];
  close(): void | Promise<void>;
}

/**
 * A source over maps loaded by someone else: a tsbpf trace script's or
 * tool's maps, a collection the caller attached itself, or VM maps (any
 * `BpfMap`; ring buffers and perf event arrays must be kernel maps). This is
 * how sources other than compiled objects plug into the exporter:
 * `Exporter.start(config, { sources: { name: new MapsProgramSource(...) } })`.
 */
export class MapsProgramSource implements ProgramSource {
  constructor(
    readonly name: string,
    readonly maps: Readonly<Record<string, BpfMap>>,
    readonly programs: readonly ExportedProgram[] = [],
    /** Called by close(): release what the source owns (the exporter closes its sources). */
    readonly onClose: () => void | Promise<void> = () => undefined,
  ) {}

  map(name: string): BpfMap | undefined {
    return this.maps[name];
  }

  ringBuffer(name: string): KernelMap | undefined {
    return kernelMapOfType(this.maps[name], MapType.RINGBUF);
  }

  perfEventArray(name: string): KernelMap | undefined {
    return kernelMapOfType(this.maps[name], MapType.PERF_EVENT_ARRAY);
  }

  close(): void | Promise<void> {
    return this.onClose();
  }
}

/** A source whose metrics are its own families (a script, a tool): it has no maps or event buffers for the config to name. */
export abstract class MetricsOnlySource implements ProgramSource {
  abstract readonly name: string;
  abstract readonly programs: readonly ExportedProgram[];
  abstract families(errors: DecodeErrorSink): MetricFamily[];
  abstract close(): void | Promise<void>;

  map(): undefined {
    return undefined;
  }

  ringBuffer(): undefined {
    return undefined;
  }

  perfEventArray(): undefined {
    return undefined;
  }
}

function kernelMapOfType(map: BpfMap | undefined, type: number): KernelMap | undefined {
  return map instanceof KernelMap && map.type === type ? map : undefined;
}

/** Programs that cannot be attached from their section alone say so; the source keeps the rest running, as ebpf_exporter does. */
function attachBySection(program: KernelProgram, section: string, target: string | undefined): Link {
  const need = (what: string): string => {
    if (target === undefined || target === '') throw new ExportError(`section '${section}' names no ${what} to attach to`);
    return target;
  };
  switch (program.type) {
    case ProgramType.TRACEPOINT: {
      const [category, name] = need('tracepoint (category/name)').split('/');
      if (!category || !name) throw new ExportError(`section '${section}': '${target}' is not category/name`);
      return attachTracepoint(program, category, name);
    }
    case ProgramType.RAW_TRACEPOINT:
      return attachRawTracepoint(program, need('raw tracepoint'));
    case ProgramType.TRACING:
      return attachTracing(program);
    case ProgramType.KPROBE: {
      const spec = need('function');
      const retprobe = /^(uretprobe|kretprobe)/.test(section);
      if (section.startsWith('uprobe') || section.startsWith('uretprobe')) {
        const at = spec.lastIndexOf(':');
        if (at <= 0) throw new ExportError(`section '${section}': '${spec}' is not binary:function`);
        return attachUprobe(program, { path: spec.slice(0, at), symbol: spec.slice(at + 1), retprobe });
      }
      const [symbol, offset] = spec.split('+');
      return attachKprobe(program, { symbol: symbol!, ...(offset ? { offset: Number(offset) } : {}), retprobe });
    }
    default:
      throw new ExportError(`section '${section}': the exporter cannot attach this program type by itself`);
  }
}

/** Sets `const volatile u64 kaddr_<symbol>` in .rodata to the symbol's /proc/kallsyms address, as ebpf_exporter's kaddrs do. */
function setKaddrs(spec: CollectionSpec, symbols: readonly string[], where: string): void {
  if (symbols.length === 0) return;
  const addresses = new Map<string, bigint>();
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [address, , name] = line.split(/\s+/);
    if (address && name && !addresses.has(name)) addresses.set(name, BigInt(`0x${address}`));
  }
  for (const symbol of symbols) {
    const address = addresses.get(symbol);
    if (address === undefined) throw new ExportError(`${where}: kaddrs: no symbol '${symbol}' in /proc/kallsyms`);
    const variable = spec.variables[`kaddr_${symbol}`];
    if (variable === undefined || variable.size !== 8) throw new ExportError(`${where}: kaddrs: the object has no 8-byte variable 'kaddr_${symbol}' (declare const volatile u64 kaddr_${symbol})`);
    const map = spec.maps[variable.mapName];
    if (map === undefined) throw new ExportError(`${where}: kaddrs: variable 'kaddr_${symbol}' lives in a map the object does not define`);
    map.initialData ??= new Uint8Array(map.valueSize);
    new DataView(map.initialData.buffer, map.initialData.byteOffset).setBigUint64(variable.offset, address, true);
  }
}

/** A compiled BPF object loaded into the kernel, every program attached as its section says. */
export class ObjectProgramSource implements ProgramSource {
  readonly programs: ExportedProgram[] = [];
  readonly #links: Link[] = [];

  private constructor(
    readonly name: string,
    readonly collection: KernelCollection,
  ) {}

  static open(config: ProgramConfig): ObjectProgramSource {
    const where = `program '${config.name}' (${config.object})`;
    let spec: CollectionSpec;
    try {
      spec = loadCollectionSpec(readFile(config.object));
    } catch (error) {
      throw new ExportError(`${where}: ${(error as Error).message}`, { cause: error });
    }
    setKaddrs(spec, config.kaddrs, where);
    let collection: KernelCollection;
    try {
      collection = loadCollection(spec);
    } catch (error) {
      // The kernel's reason (verifier log tail, errno) stays in the message; the config's program comes first.
      throw new ExportError(`${where}: ${(error as Error).message}`, { cause: error });
    }
    const source = new ObjectProgramSource(config.name, collection);
    for (const [name, program] of Object.entries(collection.programs)) {
      const programSpec = spec.programs[name]!;
      let attachment: ExportedProgram['attachment'];
      try {
        const link = attachBySection(program, programSpec.section, programSpec.attachTo);
        source.#links.push(link);
        attachment = { attached: true, description: link.description };
      } catch (error) {
        attachment = { attached: false, reason: (error as Error).message };
      }
      source.programs.push({ name, attachment, info: () => program.info() });
    }
    return source;
  }

  map(name: string): BpfMap | undefined {
    return this.collection.maps[name];
  }

  ringBuffer(name: string): KernelMap | undefined {
    return kernelMapOfType(this.collection.maps[name], MapType.RINGBUF);
  }

  perfEventArray(name: string): KernelMap | undefined {
    return kernelMapOfType(this.collection.maps[name], MapType.PERF_EVENT_ARRAY);
  }

  close(): void {
    for (const link of this.#links.splice(0)) link.close();
    this.collection.close();
  }
}
