#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { COMMANDS } from './commands.ts';
import { type CliIo, UsageError, isSystemError } from './command.ts';
import { TsbpfError } from '../errors.ts';
import { collectBounded } from '../host/node.ts';

async function readStdin(limit: number): Promise<Uint8Array> {
  return collectBounded(process.stdin as AsyncIterable<Uint8Array>, limit, 'standard input');
}

// `tsbpf ... | head` closes the pipe early: that ends the output, it is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const io: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stdin: readStdin,
  stdinStream: () => process.stdin as AsyncIterable<Uint8Array>,
};

/** The package's version: package.json is two levels up from both src/cli/main.ts and dist/cli/main.js. */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `tsbpf ${manifest.version}\n`;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length), 4);
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: tsbpf <command> [arguments]\n       tsbpf --version\n\ncommands:\n${lines.join('\n')}\n\n'tsbpf help <command>' or 'tsbpf <command> --help' shows a command's usage.\n`;
}

/**
 * Runs one CLI invocation. Exit codes: 0 success, 1 failure (a TsbpfError
 * or a file the system refused, printed as one line `tsbpf CMD: message`),
 * 2 wrong usage (message and the command's usage on stderr). Any other
 * error is a bug in tsbpf and propagates with its stack.
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--version' || name === '-V') {
    io.stdout(version());
    return 0;
  }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = args[0];
    if (topic === undefined) {
      io.stdout(help());
      return 0;
    }
    const entry = COMMANDS[topic];
    if (entry === undefined) {
      io.stderr(`tsbpf help: unknown command '${topic}'\n\n${help()}`);
      return 2;
    }
    io.stdout((await entry.load()).usage);
    return 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    io.stderr(`tsbpf: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  const command = await entry.load();
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(command.usage);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`tsbpf ${name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    if (err instanceof TsbpfError || isSystemError(err)) {
      io.stderr(`tsbpf ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
