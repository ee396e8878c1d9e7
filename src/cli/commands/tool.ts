import { TOOLS, ToolUsageError } from '../../tools/index.ts';
import { type CliCommand, type CliIo, UsageError } from '../command.ts';

function listing(): string {
  const width = Math.max(...Object.keys(TOOLS).map((n) => n.length));
  return Object.values(TOOLS)
    .map((t) => `  ${t.name.padEnd(width)}  ${t.summary}`)
    .join('\n');
}

const usage = `usage: tsbpf tool NAME [options]
       tsbpf NAME [options]      (for the tools whose name is not a tsbpf command)

BCC-style tracing tools on the kernel backend (root). Each prints BCC's
columns, takes --json (one object per event or interval) and --help, and
stops on Ctrl-C or after its duration, detaching everything it loaded.

tools:
${listing()}
`;

/** Runs tool `name` until it ends or Ctrl-C; usage errors are the CLI's (exit 2, with the tool's usage). */
async function runTool(name: string, args: string[], io: CliIo): Promise<number> {
  const tool = TOOLS[name];
  if (tool === undefined) throw new UsageError(`unknown tool '${name}' (tools: ${Object.keys(TOOLS).join(', ')})`);
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await tool.run(args, io.stdout, controller.signal);
  } catch (error) {
    if (error instanceof ToolUsageError) throw new UsageError(`${error.message}\n\n${tool.usage}`);
    throw error;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}

export const command: CliCommand = {
  name: 'tool',
  summary: 'BCC-style tools: opensnoop, execsnoop, biolatency, tcpconnect, tcplife, syscount, runqlat, offcputime, profile, perfmon',
  usage,
  run: async (args, io) => {
    const [name, ...rest] = args;
    if (name === undefined || name === '--help' || name === '-h') {
      io.stdout(usage);
      return name === undefined ? 2 : 0;
    }
    return runTool(name, rest, io);
  },
};

/** `tsbpf NAME ...` for one tool. */
export function toolCommand(name: string): CliCommand {
  const tool = TOOLS[name];
  if (tool === undefined) throw new UsageError(`unknown tool '${name}'`);
  return { name, summary: tool.summary, usage: tool.usage, run: (args, io) => runTool(name, args, io) };
}
