import { Exporter, loadExporterConfig } from '../../export/index.ts';
import { type CliCommand, type CliIo, UsageError, unexpectedArgument, unknownOption } from '../command.ts';

const usage = `usage: tsbpf exporter --config FILE [--port 9435] [--host 0.0.0.0] [--check]

Serves BPF map contents as Prometheus metrics on http://HOST:PORT/metrics
(text format, or OpenMetrics when the scraper asks for it), and sends
ring-buffer events to OpenTelemetry over OTLP/HTTP. FILE is a Cloudflare
ebpf_exporter config (NAME.yaml beside NAME.bpf.o) or a tsbpf config with a
'programs' list. Needs root. Stops on SIGINT or SIGTERM, detaching
everything it attached.

  --config FILE  the YAML config
  --port N       TCP port (default 9435, as ebpf_exporter)
  --host ADDR    address to listen on (default 0.0.0.0)
  --check        check the config and exit without loading anything
`;

function parsePort(text: string | undefined): number {
  if (text === undefined || !/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`--port needs a port number from 0 to 65535, got '${text ?? ''}'`);
  return Number(text);
}

async function run(args: string[], io: CliIo): Promise<number> {
  let file: string | undefined;
  let port = 9435;
  let host = '0.0.0.0';
  let check = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--config') file = args[++i];
    else if (arg === '--port') port = parsePort(args[++i]);
    else if (arg === '--host') host = args[++i] ?? '';
    else if (arg === '--check') check = true;
    else if (arg.startsWith('-')) throw unknownOption(arg);
    else throw unexpectedArgument(arg);
  }
  if (file === undefined || file === '') throw new UsageError('--config FILE is required');
  if (host === '') throw new UsageError('--host needs an address');
  const config = loadExporterConfig(file);
  if (check) {
    const metrics = config.programs.reduce((sum, p) => sum + p.counters.length + p.histograms.length, 0);
    const events = config.programs.reduce((sum, p) => sum + p.spans.length + p.logs.length, 0);
    io.stdout(`${file}: ${config.programs.length} program(s), ${metrics} metric(s), ${events} event stream(s): ok\n`);
    return 0;
  }
  const exporter = await Exporter.start(config, { warn: (message) => io.stderr(`warning: ${message}\n`) });
  const address = await exporter.listen(port, host).catch(async (error: unknown) => {
    await exporter.close();
    throw error;
  });
  io.stderr(`tsbpf exporter: ${config.programs.map((p) => p.name).join(', ')} on http://${address.address}:${address.port}/metrics\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await exporter.close();
  return 0;
}

export const command: CliCommand = { name: 'exporter', summary: 'serve BPF maps as Prometheus metrics and ring buffers as OpenTelemetry spans (ebpf_exporter configs)', usage, run };
