import { closeSync, constants, openSync, readSync } from 'node:fs';
import { tracefs } from '../../kernel/index.ts';
import { TsbpfError } from '../../errors.ts';
import { type CliCommand, type CliIo, UsageError, unexpectedArgument, unknownOption } from '../command.ts';

const usage = `usage: tsbpf trace-pipe [--json] [--count N] [--timeout SECONDS] [--match TEXT]

Prints what BPF programs write with bpf_printk / bpf_trace_printk, read from
tracefs' trace_pipe (needs root), as \`bpftool prog tracelog\` does. Reading
consumes the lines: run one reader at a time. Stops on Ctrl-C, after N
lines, or after SECONDS.

  --json           one JSON object a line: task, pid, cpu, flags, timestamp,
                   function and message
  --count N        stop after N lines (counted after --match)
  --timeout S      stop after S seconds
  --match TEXT     only lines whose message contains TEXT
`;

/** One trace_pipe line, split as the kernel's default trace format writes it. */
export interface TraceLine {
  task: string;
  pid: number;
  cpu: number;
  flags: string;
  timestamp: number;
  function: string;
  message: string;
}

const LINE = /^\s*(.*?)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(\S+)\s+(\d+\.\d+):\s+([^:]+):\s?(.*)$/;

/** `<...>-1234 [001] d..31 1234.567890: bpf_trace_printk: hello` as fields; undefined for other lines. */
export function parseTraceLine(line: string): TraceLine | undefined {
  const m = LINE.exec(line);
  if (m === null) return undefined;
  return { task: m[1]!, pid: Number(m[2]), cpu: Number(m[3]), flags: m[4]!, timestamp: Number(m[5]), function: m[6]!, message: m[7]! };
}

function positiveNumber(text: string | undefined, option: string): number {
  const value = Number(text);
  if (text === undefined || !Number.isFinite(value) || value <= 0) throw new UsageError(`${option} needs a positive number, got '${text ?? ''}'`);
  return value;
}

const POLL_MS = 50;

async function run(args: string[], io: CliIo): Promise<number> {
  let json = false;
  let count = Infinity;
  let timeoutMs = Infinity;
  let match: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--count') count = positiveNumber(args[++i], arg);
    else if (arg === '--timeout') timeoutMs = positiveNumber(args[++i], arg) * 1000;
    else if (arg === '--match') {
      match = args[++i];
      if (match === undefined) throw new UsageError('--match needs a text');
    } else if (arg.startsWith('-')) throw unknownOption(arg);
    else throw unexpectedArgument(arg);
  }
  const path = `${tracefs()}/trace_pipe`;
  let fd: number;
  try {
    // Non-blocking, polled: a blocking read could not be stopped after --count or --timeout.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new TsbpfError(`cannot open ${path}: ${(error as Error).message}`);
  }
  const deadline = Date.now() + timeoutMs;
  const buffer = new Uint8Array(1 << 16);
  const decoder = new TextDecoder();
  let pending = '';
  let printed = 0;
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  try {
    while (printed < count && !interrupted && Date.now() < deadline) {
      let read = 0;
      try {
        read = readSync(fd, buffer, 0, buffer.length, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      }
      if (read === 0) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        continue;
      }
      pending += decoder.decode(buffer.subarray(0, read), { stream: true });
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (printed >= count) break;
        const parsed = parseTraceLine(line);
        if (match !== undefined && !(parsed?.message ?? line).includes(match)) continue;
        io.stdout(json ? `${JSON.stringify(parsed ?? { message: line })}\n` : `${line}\n`);
        printed++;
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    closeSync(fd);
  }
  return 0;
}

export const command: CliCommand = { name: 'trace-pipe', summary: 'print bpf_printk output (tracefs trace_pipe), like bpftool prog tracelog', usage, run };
