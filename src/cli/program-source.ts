import { basename, extname } from 'node:path';
import { AsmError, assemble } from '../isa/index.ts';
import { type CollectionSpec, collectionFromInstructions, loadCollectionSpec } from '../object/index.ts';
import { type CliIo, UsageError, readInputFile } from './command.ts';
import { AsmFileError } from './commands/asm.ts';

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/**
 * The collection a command works on: an ELF object as it is, anything else
 * as an assembly source whose program type comes from `section` (a libbpf
 * section name such as xdp, tc, socket or tracepoint/CAT/NAME).
 */
export async function loadProgramSource(file: string, section: string | undefined, programName: string | undefined, io: CliIo): Promise<CollectionSpec> {
  const bytes = await readInputFile(file, io);
  if (ELF_MAGIC.every((b, i) => bytes[i] === b)) {
    if (section !== undefined) throw new UsageError(`--type is for assembly sources: the sections of ${file} give the program types`);
    return loadCollectionSpec(bytes);
  }
  if (section === undefined) throw new UsageError(`${file} is not an ELF object; to use it as assembly give --type SECTION (xdp, tc, socket, tracepoint/CAT/NAME, ...)`);
  let instructions;
  try {
    instructions = assemble(new TextDecoder().decode(bytes));
  } catch (error) {
    throw error instanceof AsmError ? new AsmFileError(file, error) : error;
  }
  // The file name as a C identifier, so the program has the same name on both backends (the kernel's must be one).
  const name = programName ?? basename(file, extname(file)).replace(/[^A-Za-z0-9_]/g, '_');
  return collectionFromInstructions({ name, section, instructions });
}
