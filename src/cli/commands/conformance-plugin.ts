import { decode } from '../../isa/encoding.ts';
import { runConformanceProgram } from '../../vm/conformance.ts';
import { type CliCommand, type CliIo, UsageError, unexpectedArgument, unknownOption } from '../command.ts';
import { maxInputBytes } from '../../host/node.ts';

const usage = `usage: tsbpf conformance-plugin [--jit] [<mem-hex>]

A plugin for bpf_conformance_runner (github.com/Alan-Jowett/bpf_conformance):
reads the program as base-16 text on stdin, runs it with r1 = pointer to
<mem-hex> (bytes as hex pairs, e.g. "11  22  33  "), r2 = its length, and
prints r0 in hex. Exits non-zero with the message on stderr on failure.

  --jit    run with the WebAssembly JIT instead of the interpreter
  --elf    (runner option) rejected: only raw bytecode is supported

The runner passes <mem-hex> before its plugin options, so point --plugin_path at
a wrapper script running \`tsbpf conformance-plugin "$@"\`:

  bpf_conformance_runner --test_file_directory tests --cpu_version v4 \\
      --include_groups callx --plugin_path ./tsbpf-plugin
`;

function parseHex(text: string, what: string): Uint8Array {
  const digits = text.replace(/\s+/g, '');
  const shown = text.trim();
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) {
    throw new UsageError(`${what} is not base-16 bytes: '${shown.length > 40 ? `${shown.slice(0, 40)}...` : shown}'`);
  }
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

async function run(args: string[], io: CliIo): Promise<number> {
  let jit = false;
  let memText: string | undefined;
  for (const arg of args) {
    if (arg === '--jit') jit = true;
    else if (arg === '--elf') throw new UsageError('--elf: ELF input is not supported; run the conformance runner without --elf true');
    else if (arg.startsWith('--')) throw unknownOption(arg);
    else if (memText !== undefined) throw unexpectedArgument(arg);
    else memText = arg;
  }
  const mem = memText !== undefined ? parseHex(memText, 'the memory argument') : undefined;
  const text = new TextDecoder().decode(await io.stdin(maxInputBytes()));
  const code = parseHex(text, 'the program on stdin');
  if (code.length === 0) throw new UsageError('no program on stdin');
  const r0 = runConformanceProgram(decode(code, { validate: false }), mem, { jit });
  io.stdout(`0x${r0.toString(16)}\n`);
  return 0;
}

export const command: CliCommand = {
  name: 'conformance-plugin',
  summary: 'run a program for the bpf_conformance runner (hex on stdin, r0 on stdout)',
  usage,
  run,
};
