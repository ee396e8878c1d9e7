/**
 * `tsbpf xdp-guard`: XDP DDoS mitigation (examples/ddos/xdp_guard.c) with
 * its configuration file: attached to an interface in the kernel, printing
 * drop counters per reason and reloading the file on SIGHUP or when it
 * changes (maps are updated; the program stays attached), or run on the VM
 * over a capture, on the capture's own timeline.
 */
import { watch } from 'node:fs';
import { loadCollectionSpec, type CollectionSpec } from '../../object/index.ts';
import { LinkType, PcapError } from '../../net/index.ts';
import { applyGuardConfig, batchVerdict, COUNTER_NAMES, countersToJson, GUARD_SOURCE, loadGuardConfig, loadGuardOnVm, readGuardCounters, verdictName, type GuardConfig, type GuardCounters } from '../../tools/ddos/index.ts';
import { buildBpfObject, exampleSource } from '../../tools/usecase-support/index.ts';
import { type CliCommand, type CliIo, UsageError, parseArguments, secondsOption, unexpectedArgument, xdpMode } from '../command.ts';

const usage = `usage: tsbpf xdp-guard --config FILE --interface IF [--mode generic|native] [--interval SEC] [--duration SEC] [--json]
       tsbpf xdp-guard --config FILE --pcap CAPTURE [--jit] [--json]

XDP DDoS mitigation: per-source token buckets (LRU hash), allow and deny
lists (LPM tries, IPv4 and IPv6), SYN-flood dropping and per-CPU drop
counters per reason. FILE is YAML or JSON (see docs/use-cases.md).

  --interface IF  attach to IF (needs root) and print the counters every
                  interval; the configuration is reloaded on SIGHUP and when
                  FILE changes, by updating maps: the program stays attached
  --mode M        XDP mode: native (driver) or generic (default: the
                  driver's, generic as a fallback)
  --interval SEC  seconds between counter lines (default 1)
  --duration SEC  stop after SEC seconds (default: Ctrl-C)
  --pcap FILE     run on the VM over a pcap/pcapng capture instead, with the
                  capture's timestamps as the program's clock; prints the
                  counters, and per pcapng comment (a label) the verdicts
  --jit           with --pcap: the WebAssembly JIT
  --object FILE.o the compiled program (default: examples/${GUARD_SOURCE},
                  built with clang on first use into .cache/)
  --json          one JSON object per line
`;

interface Options {
  config: string;
  iface?: string;
  mode?: 'generic' | 'native';
  intervalMs: number;
  durationMs?: number;
  pcap?: string;
  jit: boolean;
  object?: string;
  json: boolean;
}

function parse(args: string[]): Options {
  const options: Partial<Options> & { intervalMs: number; jit: boolean; json: boolean } = { intervalMs: 1000, jit: false, json: false };
  const positional = parseArguments(args, (arg, value) => {
    if (arg === '--config') options.config = value();
    else if (arg === '--interface' || arg === '-i') options.iface = value();
    else if (arg === '--mode') options.mode = xdpMode(value());
    else if (arg === '--interval') options.intervalMs = secondsOption(arg, value());
    else if (arg === '--duration') options.durationMs = secondsOption(arg, value());
    else if (arg === '--pcap') options.pcap = value();
    else if (arg === '--jit') options.jit = true;
    else if (arg === '--object') options.object = value();
    else if (arg === '--json') options.json = true;
    else return false;
    return true;
  });
  if (positional.length > 0) throw unexpectedArgument(positional[0]!);
  if (options.config === undefined) throw new UsageError('--config FILE is required');
  if ((options.iface === undefined) === (options.pcap === undefined)) throw new UsageError('give either --interface IF or --pcap FILE');
  if (options.jit && options.pcap === undefined) throw new UsageError('--jit is for --pcap (the kernel JITs on its own)');
  return options as Options;
}

function describeConfig(path: string, config: GuardConfig): string {
  const limit = (r: { perSecond: number; burst: number }): string => (r.perSecond === 0 ? 'unlimited' : `${r.perSecond}/s burst ${r.burst}`);
  return `${path}: sources ${limit(config.source)}, SYN per source ${limit(config.sourceSyn)}, SYN global ${limit(config.globalSyn)}, ${config.allow.length} allowed and ${config.deny.length} denied prefixes`;
}

const HEADER = `${'TIME'.padEnd(9)}${COUNTER_NAMES.map((n) => n.toUpperCase().padStart(13)).join('')}`;

function counterLine(counters: GuardCounters): string {
  return `${new Date().toISOString().slice(11, 19).padEnd(9)}${COUNTER_NAMES.map((n) => String(counters[n]).padStart(13)).join('')}`;
}

function objectSpec(options: Options): CollectionSpec {
  return loadCollectionSpec(options.object ?? buildBpfObject(exampleSource(GUARD_SOURCE)));
}

async function runCapture(options: Options, io: CliIo): Promise<number> {
  const config = loadGuardConfig(options.config);
  const guard = loadGuardOnVm(objectSpec(options), { jit: options.jit });
  try {
    applyGuardConfig(guard.collection, config);
    const byLabel = new Map<string, Map<string, number>>();
    let packets = 0;
    for await (const batch of guard.runCapture(options.pcap!)) {
      const captured = batch.packets;
      for (let n = 0; n < captured.count; n++) {
        if (captured.linkType[n] !== LinkType.ETHERNET) throw new PcapError(`${options.pcap}: packet at offset ${captured.offset[n]} is not Ethernet (link type ${captured.linkType[n]}); XDP sees Ethernet frames`, captured.offset[n]!);
        let verdict: string;
        try {
          verdict = verdictName(batchVerdict(batch, n));
        } catch (error) {
          throw new PcapError(`${options.pcap}: packet at offset ${captured.offset[n]}: ${(error as Error).message}`, captured.offset[n]!);
        }
        packets++;
        const label = captured.records?.[n]?.comments?.[0];
        if (label === undefined) continue;
        const verdicts = byLabel.get(label) ?? new Map<string, number>();
        verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
        byLabel.set(label, verdicts);
      }
    }
    const counters = readGuardCounters(guard.collection);
    if (options.json) {
      const labels = Object.fromEntries([...byLabel].map(([label, verdicts]) => [label, Object.fromEntries(verdicts)]));
      io.stdout(`${JSON.stringify({ packets, counters: countersToJson(counters), labels })}\n`);
      return 0;
    }
    let out = `${describeConfig(options.config, config)}\n${packets} packets\n\n${COUNTER_NAMES.map((n) => `${n.padEnd(14)}${String(counters[n]).padStart(8)}`).join('\n')}\n`;
    if (byLabel.size > 0) {
      out += `\n${'LABEL'.padEnd(14)}${'PASS'.padStart(8)}${'DROP'.padStart(8)}\n`;
      for (const [label, verdicts] of byLabel) out += `${label.padEnd(14)}${String(verdicts.get('pass') ?? 0).padStart(8)}${String(verdicts.get('drop') ?? 0).padStart(8)}\n`;
    }
    io.stdout(out);
    return 0;
  } finally {
    guard.close();
  }
}

async function runAttached(options: Options, io: CliIo): Promise<number> {
  const { loadCollection } = await import('../../kernel/index.ts');
  let config = loadGuardConfig(options.config);
  const collection = loadCollection(objectSpec(options), { programs: ['xdp_guard'] });
  const stop = new AbortController();
  const cleanups: Array<() => void> = [];
  try {
    applyGuardConfig(collection, config);
    const links = collection.attach({ interface: options.iface, xdpMode: options.mode });
    cleanups.push(() => links.close());
    const emit = (text: string, json: object): void => io.stdout(options.json ? `${JSON.stringify(json)}\n` : `${text}\n`);
    emit(`xdp-guard on ${options.iface}; ${describeConfig(options.config, config)}\n${HEADER}`, { event: 'attached', interface: options.iface, config: options.config });

    const reload = (why: string): void => {
      try {
        const next = loadGuardConfig(options.config);
        const { prefixesChanged } = applyGuardConfig(collection, next);
        config = next;
        emit(`reloaded (${why}): ${describeConfig(options.config, config)}; ${prefixesChanged} prefixes changed`, { event: 'reloaded', reason: why, prefixesChanged });
      } catch (err) {
        // A bad edit keeps the running configuration: say why and carry on.
        io.stderr(`xdp-guard: not reloaded (${why}): ${(err as Error).message}\n`);
      }
    };
    const onHangup = (): void => reload('SIGHUP');
    const onInterrupt = (): void => stop.abort();
    process.on('SIGHUP', onHangup);
    process.on('SIGINT', onInterrupt);
    process.on('SIGTERM', onInterrupt);
    cleanups.push(() => {
      process.off('SIGHUP', onHangup);
      process.off('SIGINT', onInterrupt);
      process.off('SIGTERM', onInterrupt);
    });
    // Editors replace files (rename) as often as they write them: watch the file and reload a moment after the last event.
    let pending: NodeJS.Timeout | undefined;
    const watcher = watch(options.config, () => {
      clearTimeout(pending);
      pending = setTimeout(() => reload('file changed'), 100);
    });
    cleanups.push(() => {
      clearTimeout(pending);
      watcher.close();
    });
    if (options.durationMs !== undefined) {
      const timer = setTimeout(() => stop.abort(), options.durationMs);
      cleanups.push(() => clearTimeout(timer));
    }
    await new Promise<void>((resolve) => {
      const ticker = setInterval(() => {
        const counters = readGuardCounters(collection);
        emit(counterLine(counters), { time: new Date().toISOString(), counters: countersToJson(counters) });
      }, options.intervalMs);
      stop.signal.addEventListener('abort', () => {
        clearInterval(ticker);
        resolve();
      });
    });
    const counters = readGuardCounters(collection);
    emit(`total    ${COUNTER_NAMES.map((n) => String(counters[n]).padStart(13)).join('')}`, { event: 'detached', counters: countersToJson(counters) });
    return 0;
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
    collection.close();
  }
}

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parse(args);
  return options.pcap !== undefined ? runCapture(options, io) : runAttached(options, io);
}

export const command: CliCommand = { name: 'xdp-guard', summary: 'XDP DDoS mitigation: rate limits, allow/deny prefixes, SYN-flood dropping, reloadable config', usage, run };
