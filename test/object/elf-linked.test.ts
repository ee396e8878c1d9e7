import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ElfFile, SegmentFlag, SegmentType, SymbolType } from '../../src/object/elf.ts';
import { ObjectError } from '../../src/object/errors.ts';
import { findFunctionOffset } from '../../src/kernel/elf-symbols.ts';
import { KernelArgumentError } from '../../src/kernel/errors.ts';

/** The libc this process runs with (a stripped shared library: .dynsym only). */
function libcPath(): string {
  const line = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .find((l) => /\/libc[.-][^/]*\.so/.test(l) || /\/libc\.so\.6$/.test(l));
  assert.ok(line, 'libc is mapped into this process');
  return line.slice(line.indexOf('/'));
}

test('ElfFile kind linked: a shared library yields its dynamic symbols and PT_LOAD segments', () => {
  const elf = new ElfFile(readFileSync(libcPath()), { kind: 'linked' });
  const getppid = elf.dynamicSymbols.find((s) => s.name === 'getppid' && s.type === SymbolType.FUNC);
  assert.ok(getppid, 'getppid is in .dynsym');
  const text = elf.segments.find((s) => s.type === SegmentType.LOAD && (s.flags & SegmentFlag.EXECUTE) !== 0);
  assert.ok(text, 'an executable PT_LOAD segment');
  assert.equal(elf.relocations.size, 0);
  const location = findFunctionOffset(libcPath(), 'getppid');
  const segment = elf.segments.find((s) => s.type === SegmentType.LOAD && getppid.value >= s.vaddr && getppid.value < s.vaddr + s.memorySize)!;
  assert.equal(location.address, BigInt(getppid.value));
  assert.equal(location.fileOffset, BigInt(getppid.value - segment.vaddr + segment.offset));
  assert.ok(location.fileOffset >= BigInt(segment.offset) && location.fileOffset < BigInt(segment.offset + segment.fileSize));
});

test('ElfFile keeps relocatable and linked files apart', () => {
  const library = readFileSync(libcPath());
  assert.throws(() => new ElfFile(library), (e: unknown) => e instanceof ObjectError && /not a relocatable object/.test(e.message));
  const relocatable = Uint8Array.from(library);
  relocatable[16] = 1; // e_type = ET_REL
  assert.throws(() => new ElfFile(relocatable, { kind: 'linked' }), (e: unknown) => e instanceof ObjectError && /not an executable or shared library/.test(e.message));
});

test('ElfFile kind linked: a program header table past the end of the file is a typed error', () => {
  const bytes = Uint8Array.from(readFileSync(libcPath()));
  new DataView(bytes.buffer).setBigUint64(0x20, BigInt(bytes.length - 8), true); // e_phoff
  assert.throws(() => new ElfFile(bytes, { kind: 'linked' }), (e: unknown) => e instanceof ObjectError && /program header table .* extends past the end/.test(e.message));
});

test('findFunctionOffset reports unreadable and non-ELF files as KernelArgumentError', () => {
  assert.throws(() => findFunctionOffset('/proc/self/status', 'main'), (e: unknown) => e instanceof KernelArgumentError && /not a usable ELF/.test(e.message));
  assert.throws(() => findFunctionOffset('/nonexistent/tsbpf', 'main'), (e: unknown) => e instanceof KernelArgumentError && /cannot read/.test(e.message));
  assert.throws(() => findFunctionOffset(libcPath(), 'tsbpf_no_such_function'), (e: unknown) => e instanceof KernelArgumentError && /not found in the symbol tables/.test(e.message));
});
