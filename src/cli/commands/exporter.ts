import { join } from 'node:path';
import { Exporter, MetricsServer, loadExporterConfig, mergeExporterConfigs } from '../../export/index.ts';
import { EXPORTER_TOOLS } from '../../tools/index.ts';
import { type CliCommand, type CliIo, UsageError, unexpectedArgument, unknownOption } from '../command.ts';

const usage = `usage: tsbpf exporter --config FILE [--config FILE...] [--port 9435] [--host 0.0.0.0] [--check]
       tsbpf exporter --config.dir DIR --config.names NAME[,NAME...] [--web.listen-address [HOST]:PORT] [--config.check]

Serves BPF map contents as Prometheus metrics on http://HOST:PORT/metrics
(text format, or OpenMetrics when the scraper asks for it), and sends
ring-buffer events to OpenTelemetry over OTLP/HTTP. A config is a Cloudflare
ebpf_exporter config (NAME.yaml beside NAME.bpf.o) or a tsbpf config with a
'programs' list, whose entries may be objects, trace scripts ('script:') or
tsbpf's tools ('tool:', see docs/export.md: ${Object.keys(EXPORTER_TOOLS).join(', ')});
several are served together. Needs root. Stops on SIGINT or
SIGTERM, detaching everything it attached; SIGHUP reloads the configs (the
previous ones keep serving if the new ones fail to load).

  --config FILE            a YAML config (repeatable)
  --config.dir DIR         with --config.names: ebpf_exporter's way, DIR/NAME.yaml for each NAME
  --config.names A,B       
  --port N                 TCP port (default 9435, as ebpf_exporter)
  --host ADDR              address to listen on (default 0.0.0.0)
  --web.listen-address A   [HOST]:PORT in one (ebpf_exporter's flag)
  --check                  check the configs and exit without loading anything
  --config.check           load and attach every program, report, detach and exit
`;

function parsePort(text: string | undefined, flag: string): number {
  if (text === undefined || !/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${flag} needs a port number from 0 to 65535, got '${text ?? ''}'`);
  return Number(text);
}

interface Options {
  files: string[];
  port: number;
  host: string;
  check: 'none' | 'config' | 'attach';
}

function parseArgs(args: string[]): Options {
  const options: Options = { files: [], port: 9435, host: '0.0.0.0', check: 'none' };
  let dir: string | undefined;
  let names: string | undefined;
  const value = (i: number, flag: string): string => {
    const next = args[i + 1];
    if (next === undefined || next === '') throw new UsageError(`${flag} needs a value`);
    return next;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const take = (): string => inline ?? value(i++, flag);
    if (flag === '--config') options.files.push(take());
    else if (flag === '--config.dir') dir = take();
    else if (flag === '--config.names') names = take();
    else if (flag === '--port') options.port = parsePort(take(), '--port');
    else if (flag === '--host') options.host = take();
    else if (flag === '--web.listen-address') {
      const address = take();
      const at = address.lastIndexOf(':');
      if (at < 0) throw new UsageError(`--web.listen-address needs [HOST]:PORT, got '${address}'`);
      options.port = parsePort(address.slice(at + 1), '--web.listen-address');
      options.host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
    } else if (flag === '--check') options.check = 'config';
    else if (flag === '--config.check') options.check = 'attach';
    else if (flag.startsWith('-')) throw unknownOption(arg);
    else throw unexpectedArgument(arg);
  }
  if ((dir === undefined) !== (names === undefined)) throw new UsageError('--config.dir and --config.names go together');
  if (dir !== undefined && names !== undefined) {
    for (const name of names.split(',')) {
      if (name.trim() === '') throw new UsageError(`--config.names has an empty name: '${names}'`);
      options.files.push(join(dir, `${name.trim()}.yaml`));
    }
  }
  if (options.files.length === 0) throw new UsageError('--config FILE (or --config.dir with --config.names) is required');
  return options;
}

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseArgs(args);
  const config = mergeExporterConfigs(options.files.map((file) => loadExporterConfig(file)));
  const programs = config.programs.map((p) => p.name).join(', ');
  if (options.check === 'config') {
    const metrics = config.programs.reduce((sum, p) => sum + p.counters.length + p.histograms.length, 0);
    const events = config.programs.reduce((sum, p) => sum + p.spans.length + p.logs.length, 0);
    const scripts = config.programs.filter((p) => p.script !== undefined).length;
    const tools = config.programs.filter((p) => p.tool !== undefined).length;
    const generated = scripts + tools > 0 ? ` (${scripts} script(s) and ${tools} tool(s) define their metrics when loaded)` : '';
    io.stdout(`${config.file}: ${config.programs.length} program(s), ${metrics} metric(s), ${events} event stream(s)${generated}: ok\n`);
    return 0;
  }
  const warn = (message: string): void => io.stderr(`warning: ${message}\n`);
  const exporter = await Exporter.start(config, { warn, tools: EXPORTER_TOOLS });
  if (options.check === 'attach') {
    const missed = exporter.sources.flatMap((s) => s.programs.filter((p) => !p.attachment.attached).map((p) => `${s.name}:${p.name}`));
    const total = exporter.sources.reduce((sum, s) => sum + s.programs.length, 0);
    await exporter.close();
    io.stdout(`${programs}: ${total - missed.length} of ${total} program(s) attached${missed.length ? `; not attached: ${missed.join(', ')}` : ''}\n`);
    return missed.length === 0 ? 0 : 1;
  }
  const server = new MetricsServer(exporter);
  const address = await server.listen(options.port, options.host).catch(async (error: unknown) => {
    await exporter.close();
    throw error;
  });
  io.stderr(`tsbpf exporter: ${programs} on http://${address.address}:${address.port}/metrics\n`);
  // SIGHUP reloads the configs: the new programs load beside the old ones, then scrapes move over; a bad config keeps the old.
  let reloading = Promise.resolve();
  const reload = (): void => {
    reloading = reloading.then(async () => {
      try {
        const next = await Exporter.start(mergeExporterConfigs(options.files.map((file) => loadExporterConfig(file))), { warn, tools: EXPORTER_TOOLS });
        await server.swap(next);
        io.stderr(`tsbpf exporter: reloaded ${next.config.programs.map((p) => p.name).join(', ')}\n`);
      } catch (error) {
        io.stderr(`tsbpf exporter: reload failed, still serving the previous config: ${(error as Error).message}\n`);
      }
    });
  };
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.off('SIGHUP', reload);
  await reloading;
  await server.close();
  return 0;
}

export const command: CliCommand = { name: 'exporter', summary: 'serve BPF maps as Prometheus metrics and ring buffers as OpenTelemetry spans (ebpf_exporter configs)', usage, run };
