import { InputTooLargeError, readFile } from '../../host/node.ts';
import { type Btf, BtfError, formatC, formatRaw, loadKernelBtf, parseBtf } from '../../btf/index.ts';
import { ElfFile } from '../../object/elf.ts';
import { type CliCommand, type CliIo, UsageError, onePositional, parseArguments } from '../command.ts';

const usage = `usage: tsbpf btf dump FILE|vmlinux [--format raw|c] [--type NAME] [--base FILE]

Prints BTF like \`bpftool btf dump file FILE format raw|c\`.

  FILE          a raw BTF blob (e.g. /sys/kernel/btf/<module>) or a BPF ELF
                object (its .BTF section); 'vmlinux' is the running kernel's
                /sys/kernel/btf/vmlinux
  --format raw  one type per line with its id, kind and fields (default)
  --format c    C declarations; for vmlinux this is vmlinux.h
  --type NAME   only the types named NAME (with --format c, also what they need)
  --base FILE   base BTF of a split BTF file (kernel modules: vmlinux)
`;

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

function readBytes(path: string): Uint8Array {
  try {
    return readFile(path);
  } catch (err) {
    if (err instanceof InputTooLargeError) throw err;
    throw new BtfError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

function loadBtf(source: string, base: Btf | undefined): Btf {
  if (source === 'vmlinux' && base === undefined) return loadKernelBtf();
  const bytes = readBytes(source);
  if (ELF_MAGIC.every((b, i) => bytes[i] === b)) {
    const elf = new ElfFile(bytes);
    const section = elf.sectionByName('.BTF');
    if (!section) throw new BtfError(`${source}: the object has no .BTF section (compile with -g)`);
    return parseBtf(elf.contents(section), { base });
  }
  return parseBtf(bytes, { base });
}

async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'dump') throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand '${sub}'`);
  let format = 'raw';
  let typeName: string | undefined;
  let basePath: string | undefined;
  const positional = parseArguments(rest, (arg, value) => {
    if (arg === '--format') format = value();
    else if (arg === '--type') typeName = value();
    else if (arg === '--base') basePath = value();
    else return false;
    return true;
  });
  const file = onePositional(positional, 'missing FILE');
  if (format !== 'raw' && format !== 'c') throw new UsageError(`--format must be raw or c, not '${format}'`);
  const base = basePath === undefined ? undefined : loadBtf(basePath, undefined);
  const btf = loadBtf(file, base);
  let typeIds: number[] | undefined;
  if (typeName !== undefined) {
    typeIds = btf.findByName(typeName).map((t) => t.id);
    if (typeIds.length === 0) throw new BtfError(`no type named '${typeName}' in ${file}`);
  }
  io.stdout(format === 'raw' ? formatRaw(btf, { typeIds }) : formatC(btf, { typeIds, wrapper: typeIds === undefined }));
  return 0;
}

export const command: CliCommand = {
  name: 'btf',
  summary: 'dump BTF (raw file, object .BTF or the kernel) like bpftool, raw or as C / vmlinux.h',
  usage,
  run,
};
