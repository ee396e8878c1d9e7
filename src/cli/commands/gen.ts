import { basename } from 'node:path';
import { writeFileSync } from 'node:fs';
import { generateTypes } from '../../gen/types.ts';
import { loadCollectionSpec } from '../../object/load.ts';
import { type CliCommand, type CliIo, UsageError, onePositional, parseArguments, readInputFile } from '../command.ts';

const usage = `usage: tsbpf gen types FILE.o [-o FILE.ts] [--name NAME] [--record MAP=STRUCT]... [--import-from SPEC]

Writes TypeScript bindings for a compiled BPF object, as bpf2go and
\`bpftool gen skeleton\` do: from the object's BTF, types for every map key
and value (per-CPU maps give one value per CPU), the record each ring
buffer or perf event array carries, the variables of .rodata/.data/.bss,
and a loader \`loadNAME({ backend: 'kernel' | 'vm' })\` whose maps, readers
(\`for await\`), variables and programs are typed. The object is embedded.

  -o FILE.ts           write there (default standard output)
  --name NAME          the loader's name (default: the object's file name)
  --record MAP=STRUCT  the struct MAP's records are (default: the one struct
                       of the size the programs reserve or output)
  --import-from SPEC   where the bindings import tsbpf from (default 'tsbpf')
`;

async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'types') throw new UsageError(sub === undefined ? 'missing subcommand (types)' : `unknown subcommand '${sub}'`);
  let output: string | undefined;
  let name: string | undefined;
  let importFrom: string | undefined;
  const records: Record<string, string> = {};
  const positional = parseArguments(rest, (arg, value) => {
    if (arg === '-o') output = value();
    else if (arg === '--name') name = value();
    else if (arg === '--import-from') importFrom = value();
    else if (arg === '--record') {
      const text = value();
      const match = /^([^=]+)=(\w+)$/.exec(text);
      if (match === null) throw new UsageError(`--record takes MAP=STRUCT, got '${text}'`);
      records[match[1]!] = match[2]!;
    } else return false;
    return true;
  });
  const file = onePositional(positional, 'missing object file');
  const bytes = await readInputFile(file, io);
  const spec = loadCollectionSpec(bytes);
  const text = generateTypes(spec, { name: name ?? (file === '-' ? 'object' : basename(file).replace(/\.b?p?f?\.?o$/, '').replace(/\.o$/, '')), object: bytes, importFrom, records });
  if (output === undefined) io.stdout(text);
  else writeFileSync(output, text);
  return 0;
}

export const command: CliCommand = { name: 'gen', summary: 'generate TypeScript bindings (types and a typed loader) for a BPF object', usage, run };
