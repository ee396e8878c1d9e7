/**
 * `tsbpf lb`: the XDP L4 load balancer of examples/lb (Maglev consistent
 * hashing, per-flow memory, IP-in-IP to the backends) attached to an
 * interface, configured from a file and reconfigured on SIGHUP or when the
 * file changes (backends added and removed with minimal disruption); or,
 * with --decap, the backends' side: strips the IP-in-IP header.
 */
import { watch } from 'node:fs';
import { loadCollectionSpec, type CollectionSpec } from '../../object/index.ts';
import { applyLbConfig, Balancer, LB_COUNTER_NAMES, LB_SOURCE, loadLbConfig, resolveBackend, sizeLbSpec, type LbConfig } from '../../tools/lb/index.ts';
import { buildBpfObject, exampleSource } from '../../tools/usecase-support/index.ts';
import { type CliCommand, type CliIo, UsageError, parseArguments, secondsOption, unexpectedArgument, xdpMode } from '../command.ts';

const usage = `usage: tsbpf lb --config FILE --interface IF [--mode generic|native] [--interval SEC] [--duration SEC] [--json]
       tsbpf lb --decap --interface IF [--mode generic|native] [--duration SEC]

An L4 load balancer in XDP, as Katran: packets to a VIP are sent to the
backend that a Maglev table (a prime number of slots, 65537 by default)
gives their 5-tuple, IP-in-IP encapsulated; each flow is remembered, so it
stays on its backend when others come and go. Needs root.

  --config FILE   VIPs and backends (YAML or JSON, see docs/use-cases.md);
                  reloaded on SIGHUP and when it changes: only the Maglev
                  slots that change are rewritten
  --interface IF  where clients' packets arrive
  --decap         instead: on a backend, strip the outer header of IP-in-IP
                  packets (an ipip device does the same)
  --mode M        XDP mode: native or generic (default: the driver's)
  --interval SEC  seconds between counter lines (default 1)
  --duration SEC  stop after SEC seconds (default: Ctrl-C)
  --object FILE.o the compiled program (default: examples/${LB_SOURCE}, built
                  with clang on first use into .cache/)
  --json          one JSON object per line
`;

interface Options {
  config?: string;
  iface: string;
  decap: boolean;
  mode?: 'generic' | 'native';
  intervalMs: number;
  durationMs?: number;
  object?: string;
  json: boolean;
}

function parse(args: string[]): Options {
  const options: Partial<Options> & { intervalMs: number; decap: boolean; json: boolean } = { intervalMs: 1000, decap: false, json: false };
  const positional = parseArguments(args, (arg, value) => {
    if (arg === '--config') options.config = value();
    else if (arg === '--interface' || arg === '-i') options.iface = value();
    else if (arg === '--decap') options.decap = true;
    else if (arg === '--mode') options.mode = xdpMode(value());
    else if (arg === '--interval') options.intervalMs = secondsOption(arg, value());
    else if (arg === '--duration') options.durationMs = secondsOption(arg, value());
    else if (arg === '--object') options.object = value();
    else if (arg === '--json') options.json = true;
    else return false;
    return true;
  });
  if (positional.length > 0) throw unexpectedArgument(positional[0]!);
  if (options.iface === undefined) throw new UsageError('--interface IF is required');
  if (options.decap === (options.config !== undefined)) throw new UsageError('give either --config FILE or --decap');
  return options as Options;
}

/** Resolves once Ctrl-C, SIGTERM or the duration ends the run; `tick` runs every interval meanwhile. */
function untilStopped(options: Options, tick: () => void, cleanups: Array<() => void>): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      clearInterval(ticker);
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    const ticker = setInterval(tick, options.intervalMs);
    const timer = options.durationMs === undefined ? undefined : setTimeout(stop, options.durationMs);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    cleanups.push(stop);
  });
}

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parse(args);
  const { loadCollection } = await import('../../kernel/index.ts');
  const emit = (text: string, json: object): void => io.stdout(options.json ? `${JSON.stringify(json)}\n` : `${text}\n`);
  let config: LbConfig | undefined = options.config === undefined ? undefined : loadLbConfig(options.config);
  const spec: CollectionSpec = loadCollectionSpec(options.object ?? buildBpfObject(exampleSource(LB_SOURCE)));
  if (config) sizeLbSpec(spec, config.tableSize);
  const program = options.decap ? 'xdp_decap' : 'xdp_lb';
  const collection = loadCollection(spec, { programs: [program] });
  const cleanups: Array<() => void> = [];
  try {
    if (options.decap) {
      const links = collection.attach({ interface: options.iface, xdpMode: options.mode });
      cleanups.push(() => links.close());
      emit(`decapsulating IP-in-IP on ${options.iface}`, { event: 'attached', interface: options.iface, program });
      await untilStopped(options, () => undefined, cleanups);
      emit('detached', { event: 'detached' });
      return 0;
    }
    const file = options.config!;
    const balancer = new Balancer(collection, config!.tableSize);
    const configure = (next: LbConfig): string => {
      const change = applyLbConfig(balancer, next, next.backends.map((b) => resolveBackend(b, file, options.iface)));
      const names = balancer.backends.map((b) => b.name).join(', ') || 'none';
      const text = `${next.vips.map((v) => `${v.address}:${v.port}/${v.protocol}`).join(' ')} -> ${names}; added ${change.added.join(', ') || 'none'}, removed ${change.removed.join(', ') || 'none'}; ${change.slotsChanged} of ${balancer.tableSize} slots changed (${(change.fractionChanged * 100).toFixed(2)}%)`;
      emit(text, { event: 'configured', backends: balancer.backends.map((b) => b.name), ...change });
      return text;
    };
    configure(config!);
    const links = collection.attach({ interface: options.iface, xdpMode: options.mode });
    cleanups.push(() => links.close());
    emit(`xdp_lb attached to ${options.iface}\n${'TIME'.padEnd(9)}${LB_COUNTER_NAMES.map((n) => n.toUpperCase().padStart(12)).join('')}`, { event: 'attached', interface: options.iface });
    const reload = (why: string): void => {
      try {
        config = loadLbConfig(file);
        configure(config);
      } catch (err) {
        // A bad edit keeps the running configuration.
        io.stderr(`tsbpf lb: not reloaded (${why}): ${(err as Error).message}\n`);
      }
    };
    const onHangup = (): void => reload('SIGHUP');
    process.on('SIGHUP', onHangup);
    cleanups.push(() => process.off('SIGHUP', onHangup));
    let pending: NodeJS.Timeout | undefined;
    const watcher = watch(file, () => {
      clearTimeout(pending);
      pending = setTimeout(() => reload('file changed'), 100);
    });
    cleanups.push(() => {
      clearTimeout(pending);
      watcher.close();
    });
    const line = (): void => {
      const counters = balancer.counters();
      emit(`${new Date().toISOString().slice(11, 19).padEnd(9)}${LB_COUNTER_NAMES.map((n) => String(counters[n]).padStart(12)).join('')}`, { time: new Date().toISOString(), counters });
    };
    await untilStopped(options, line, cleanups);
    emit(`total    ${LB_COUNTER_NAMES.map((n) => String(balancer.counters()[n]).padStart(12)).join('')}`, { event: 'detached', counters: balancer.counters() });
    return 0;
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
    collection.close();
  }
}

export const command: CliCommand = { name: 'lb', summary: 'XDP L4 load balancer: Maglev hashing, IP-in-IP to backends, backends changed at run time', usage, run };
