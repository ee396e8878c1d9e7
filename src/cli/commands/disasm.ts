import { type DisasmOptions, disassemble } from '../../isa/disasm.ts';
import { decode } from '../../isa/encoding.ts';
import { loadCollectionSpec } from '../../object/load.ts';
import { programListing } from '../../object/listing.ts';
import { programTypeName } from '../../uapi/enums.ts';
import { type CliCommand, type CliIo, UsageError, readInputFile, unexpectedArgument, unknownOption } from '../command.ts';

const usage = `usage: tsbpf disasm FILE.o [--program NAME] [--no-source] [--kernel] [--helper-ids]
       tsbpf disasm --raw FILE.bin [--big-endian] [--kernel] [--helper-ids]

Disassembles the linked programs of a BPF object: each program's entry
function followed by the subprograms it calls, with the C source line
(from BTF line_info) before the instructions it produced, like
'llvm-objdump -S', and relocations under the instructions they patch.

  --program NAME  only this program
  --no-source     no source lines
  --kernel        the verifier log's syntax instead of llvm-objdump's
  --helper-ids    'call 0x1' instead of 'call bpf_map_lookup_elem'
  --raw           FILE is raw bytecode (struct bpf_insn[]), not an ELF object
  --big-endian    raw bytecode is big-endian

FILE '-' reads standard input.
`;

async function run(args: string[], io: CliIo): Promise<number> {
  let file: string | undefined;
  let programName: string | undefined;
  let raw = false;
  let bigEndian = false;
  let source = true;
  const options: DisasmOptions = {};
  for (let n = 0; n < args.length; n++) {
    const arg = args[n]!;
    if (arg === '--program') {
      programName = args[++n];
      if (programName === undefined) throw new UsageError('--program needs a name');
    } else if (arg === '--raw') raw = true;
    else if (arg === '--big-endian') bigEndian = true;
    else if (arg === '--no-source') source = false;
    else if (arg === '--kernel') options.style = 'kernel';
    else if (arg === '--helper-ids') options.helperNames = false;
    else if (arg.startsWith('-') && arg !== '-') throw unknownOption(arg);
    else if (file !== undefined) throw unexpectedArgument(arg);
    else file = arg;
  }
  if (file === undefined) throw new UsageError('missing FILE');
  if (raw) {
    if (programName !== undefined) throw new UsageError('--program needs an object file, not --raw bytecode');
    io.stdout(disassemble(decode(await readInputFile(file, io), { endianness: bigEndian ? 'big' : 'little', validate: false }), options));
    return 0;
  }
  const spec = loadCollectionSpec(await readInputFile(file, io));
  const programs = Object.values(spec.programs).filter((p) => programName === undefined || p.name === programName);
  if (programs.length === 0) {
    throw new UsageError(programName === undefined ? `${file} has no programs` : `no program '${programName}' in ${file} (it has: ${Object.keys(spec.programs).join(', ')})`);
  }
  const parts = programs.map((p) => {
    const type = p.type === 0 ? 'unspecified type' : programTypeName(p.type);
    return `Program ${p.name} (section '${p.section}', ${type}, ${p.instructions.length} instructions):\n\n${programListing(p, { ...options, source })}`;
  });
  io.stdout(parts.join('\n'));
  return 0;
}

export const command: CliCommand = {
  name: 'disasm',
  summary: 'disassemble the linked programs of a BPF object (with source lines) or raw bytecode',
  usage,
  run,
};
