import { writeFileSync } from 'node:fs';
import { TsbpfError } from '../../errors.ts';
import { type AsmSyntax, AsmError, assemble } from '../../isa/asm.ts';
import { encode } from '../../isa/encoding.ts';
import { type CliCommand, type CliIo, UsageError, readInputFile, unexpectedArgument, unknownOption } from '../command.ts';

const usage = `usage: tsbpf asm FILE [--syntax auto|llvm|ubpf] [-o|--out OUT.bin] [--hex]

Assembles BPF assembly to raw bytecode (struct bpf_insn[], little-endian).
FILE '-' reads standard input. Without --out the bytecode goes to standard
output as hex text.

  --syntax S     llvm: the C-like syntax of llvm-objdump and the kernel
                 verifier log (r0 = *(u32 *)(r1 + 4)); ubpf: the conformance
                 vectors' dialect (ldxw %r0, [%r1+4]); auto (default) detects it
  -o, --out OUT  write to OUT: raw bytes, or hex text with --hex
  --hex          with --out: base-16 text, as the bpf_conformance plugin
                 protocol uses

  tsbpf asm prog.s | tsbpf conformance-plugin
`;

/** An assembly error located as file:line:column. */
export class AsmFileError extends TsbpfError {
  override name = 'AsmFileError';
  constructor(
    readonly file: string,
    readonly asmError: AsmError,
  ) {
    super(`${file}:${asmError.line}:${asmError.column}: ${asmError.reason}`);
  }
}

async function run(args: string[], io: CliIo): Promise<number> {
  let file: string | undefined;
  let out: string | undefined;
  let hex = false;
  let syntax: AsmSyntax = 'auto';
  for (let n = 0; n < args.length; n++) {
    const arg = args[n]!;
    if (arg === '--hex') {
      hex = true;
    } else if (arg === '-o' || arg === '--out' || arg === '--syntax') {
      const value = args[++n];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      if (arg !== '--syntax') {
        out = value;
      } else {
        if (value !== 'auto' && value !== 'llvm' && value !== 'ubpf') throw new UsageError(`--syntax must be auto, llvm or ubpf, not '${value}'`);
        syntax = value;
      }
    } else if (arg.startsWith('-') && arg !== '-') {
      throw unknownOption(arg);
    } else if (file !== undefined) {
      throw unexpectedArgument(arg);
    } else {
      file = arg;
    }
  }
  if (file === undefined) throw new UsageError('missing FILE');
  const source = new TextDecoder().decode(await readInputFile(file, io));
  let bytes: Uint8Array;
  try {
    bytes = encode(assemble(source, { syntax }));
  } catch (err) {
    if (err instanceof AsmError) throw new AsmFileError(file === '-' ? '<stdin>' : file, err);
    throw err;
  }
  const text = `${Buffer.from(bytes).toString('hex')}\n`;
  if (out === undefined) {
    io.stdout(text);
  } else {
    try {
      writeFileSync(out, hex ? text : bytes);
    } catch (err) {
      throw new TsbpfError(`${out}: ${(err as Error).message}`);
    }
  }
  return 0;
}

export const command: CliCommand = {
  name: 'asm',
  summary: 'assemble BPF assembly (llvm/kernel C-like or uBPF syntax) to bytecode',
  usage,
  run,
};
