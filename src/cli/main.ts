#!/usr/bin/env node
import { COMMANDS } from './commands.ts';
import { type CliIo, UsageError } from './command.ts';
import { TsbpfError } from '../errors.ts';

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

const io: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stdin: readStdin,
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length), 4);
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: tsbpf <command> [arguments]\n\ncommands:\n${lines.join('\n')}\n\n'tsbpf help <command>' shows a command's usage.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = args[0] !== undefined ? COMMANDS[args[0]] : undefined;
    io.stdout(topic ? (await topic.load()).usage : help());
    return 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    io.stderr(`tsbpf: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  const command = await entry.load();
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`tsbpf ${name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    if (err instanceof TsbpfError) {
      io.stderr(`tsbpf ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
