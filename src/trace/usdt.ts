/**
 * USDT probes (SystemTap SDT, what `DTRACE_PROBE` and <sys/sdt.h> emit):
 * read from a binary's `.note.stapsdt` notes. Each note names a provider, a
 * probe, the address of its nop, an optional semaphore and an argument
 * string such as `8@%rbx -4@%eax 8@16(%rsp)`. Addresses are turned into the
 * file offsets the uprobe PMU takes (probe and semaphore alike).
 */
import { readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.ts';
import { ElfFile, SegmentType } from '../object/index.ts';

/** x86-64 pt_regs offsets by register, every width of a register naming the same slot. */
const PT_REGS: Record<string, number> = {};
for (const [offset, names] of [
  [0, 'r15 r15d r15w r15b'], [8, 'r14 r14d r14w r14b'], [16, 'r13 r13d r13w r13b'], [24, 'r12 r12d r12w r12b'],
  [32, 'rbp ebp bp bpl'], [40, 'rbx ebx bx bl'], [48, 'r11 r11d r11w r11b'], [56, 'r10 r10d r10w r10b'],
  [64, 'r9 r9d r9w r9b'], [72, 'r8 r8d r8w r8b'], [80, 'rax eax ax al'], [88, 'rcx ecx cx cl'],
  [96, 'rdx edx dx dl'], [104, 'rsi esi si sil'], [112, 'rdi edi di dil'], [128, 'rip eip ip'], [152, 'rsp esp sp spl'],
] as const) {
  for (const name of names.split(' ')) PT_REGS[name] = offset;
}

/** Where a USDT argument is: a register, memory at a register plus a displacement, or a constant. */
export type UsdtLocation = { kind: 'register'; ptRegsOffset: number } | { kind: 'memory'; ptRegsOffset: number; displacement: number } | { kind: 'constant'; value: bigint };

export interface UsdtArgument {
  size: 1 | 2 | 4 | 8;
  signed: boolean;
  location: UsdtLocation;
}

export interface UsdtProbe {
  provider: string;
  name: string;
  /** File offset of the probe's instruction. */
  offset: number;
  /** File offset of its semaphore, when it has one. */
  semaphoreOffset?: number;
  args: UsdtArgument[];
}

/** A binary whose USDT notes cannot be read; the message names the file and the problem. */
export class UsdtError extends TsbpfError {
  override name = 'UsdtError';
}

/** One argument spec (`-4@%eax`, `8@-16(%rbp)`, `4@$5`). */
function parseArgument(spec: string): UsdtArgument {
  const m = /^(-?)(1|2|4|8)@(.+)$/.exec(spec);
  if (m === null) throw new UsdtError(`argument '${spec}' is not SIZE@OPERAND`);
  const size = Number(m[2]) as 1 | 2 | 4 | 8;
  const signed = m[1] === '-';
  const operand = m[3]!;
  const register = /^%(\w+)$/.exec(operand);
  if (register !== null) {
    const ptRegsOffset = PT_REGS[register[1]!];
    if (ptRegsOffset === undefined) throw new UsdtError(`argument '${spec}': unknown register %${register[1]}`);
    return { size, signed, location: { kind: 'register', ptRegsOffset } };
  }
  const memory = /^(-?\d+)?\(%(\w+)\)$/.exec(operand);
  if (memory !== null) {
    const ptRegsOffset = PT_REGS[memory[2]!];
    if (ptRegsOffset === undefined) throw new UsdtError(`argument '${spec}': unknown register %${memory[2]}`);
    return { size, signed, location: { kind: 'memory', ptRegsOffset, displacement: Number(memory[1] ?? 0) } };
  }
  const constant = /^\$(-?\d+)$/.exec(operand);
  if (constant !== null) return { size, signed, location: { kind: 'constant', value: BigInt(constant[1]!) } };
  throw new UsdtError(`argument '${spec}': operand form not supported (register, displacement(register) or $constant)`);
}

const NT_STAPSDT = 3;

/** The USDT probes of an ELF executable or library. */
export function readUsdtProbes(path: string): UsdtProbe[] {
  let elf: ElfFile;
  try {
    elf = new ElfFile(readFileSync(path), { kind: 'linked' });
  } catch (error) {
    throw new UsdtError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const notes = elf.sectionByName('.note.stapsdt');
  if (notes === undefined) return [];
  const base = elf.sectionByName('.stapsdt.base');
  const loads = elf.segments.filter((s) => s.type === SegmentType.LOAD);
  const fileOffset = (address: number, what: string): number => {
    const segment = loads.find((s) => address >= s.vaddr && address < s.vaddr + s.memorySize);
    if (segment === undefined) throw new UsdtError(`${path}: ${what} address 0x${address.toString(16)} is in no loadable segment`);
    return address - segment.vaddr + segment.offset;
  };
  const bytes = elf.contents(notes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  const probes: UsdtProbe[] = [];
  for (let at = 0; at + 12 <= bytes.length; ) {
    const nameSize = view.getUint32(at, true);
    const descSize = view.getUint32(at + 4, true);
    const type = view.getUint32(at + 8, true);
    const desc = at + 12 + ((nameSize + 3) & ~3);
    const next = desc + ((descSize + 3) & ~3);
    if (next > bytes.length || descSize < 24) throw new UsdtError(`${path}: .note.stapsdt note at offset ${at} overruns its section`);
    if (type === NT_STAPSDT) {
      let pc = Number(view.getBigUint64(desc, true));
      const linkBase = Number(view.getBigUint64(desc + 8, true));
      let semaphore = Number(view.getBigUint64(desc + 16, true));
      // Prelinked or moved: the note's addresses are relative to where .stapsdt.base was when it was written.
      if (base !== undefined && linkBase !== 0) {
        pc += base.address - linkBase;
        if (semaphore !== 0) semaphore += base.address - linkBase;
      }
      const strings = decoder.decode(bytes.subarray(desc + 24, desc + descSize)).split('\0');
      const [provider = '', name = '', args = ''] = strings;
      probes.push({
        provider,
        name,
        offset: fileOffset(pc, `probe ${provider}:${name}`),
        ...(semaphore !== 0 ? { semaphoreOffset: fileOffset(semaphore, `semaphore of ${provider}:${name}`) } : {}),
        args: args.trim() === '' ? [] : args.trim().split(/\s+/).map(parseArgument),
      });
    }
    at = next;
  }
  return probes;
}
