// Malformed objects give a typed error naming the problem, quickly; a fuzzer
// mutating the fixtures never gets anything but TsbpfError out of the loader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TsbpfError } from '../../src/errors.ts';
import { ObjectError, loadCollectionSpec } from '../../src/object/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { FIXTURES } from './fixtures.ts';

const skip = skipWithoutClang();
const objectBytes = (name: string, bigEndian = false): Uint8Array => new Uint8Array(readFileSync(compileBpf(fixturePath('object', `${name}.c`), { bigEndian })));

/** Little-endian ELF field editing for the hand-made corruptions. */
class Patcher {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(original: Uint8Array) {
    this.bytes = original.slice();
    this.view = new DataView(this.bytes.buffer);
  }
  get shoff(): number {
    return Number(this.view.getBigUint64(0x28, true));
  }
  get shnum(): number {
    return this.view.getUint16(0x3c, true);
  }
  header(i: number): number {
    return this.shoff + i * 64;
  }
  sectionName(i: number): string {
    const strtab = this.view.getUint16(0x3e, true);
    const base = Number(this.view.getBigUint64(this.header(strtab) + 0x18, true));
    const start = base + this.view.getUint32(this.header(i), true);
    return new TextDecoder().decode(this.bytes.subarray(start, this.bytes.indexOf(0, start)));
  }
  section(name: string): number {
    for (let i = 0; i < this.shnum; i++) if (this.sectionName(i) === name) return i;
    throw new Error(`no section ${name}`);
  }
  sectionOffset(i: number): number {
    return Number(this.view.getBigUint64(this.header(i) + 0x18, true));
  }
  u16(at: number, v: number): this {
    this.view.setUint16(at, v, true);
    return this;
  }
  u32(at: number, v: number): this {
    this.view.setUint32(at, v, true);
    return this;
  }
  u64(at: number, v: bigint): this {
    this.view.setBigUint64(at, v, true);
    return this;
  }
}

const HANG_MS = 5_000;

function expectObjectError(bytes: Uint8Array, pattern: RegExp): void {
  const started = performance.now();
  assert.throws(() => loadCollectionSpec(bytes), (err: unknown) => {
    assert.ok(err instanceof ObjectError, `expected ObjectError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
  // A hang detector, not a benchmark: bad counts and offsets are rejected by bounded checks.
  assert.ok(performance.now() - started < HANG_MS, `rejection took ${(performance.now() - started).toFixed(0)} ms`);
}

test('malformed objects give ObjectError naming the problem', { skip }, () => {
  const original = objectBytes('subprogs');
  const p = (): Patcher => new Patcher(original);
  expectObjectError(new Uint8Array(0), /shorter than an ELF64 header/);
  expectObjectError(original.subarray(0, 63), /shorter than an ELF64 header/);
  expectObjectError(p().u32(0, 0x464c457e).bytes, /bad magic/);
  expectObjectError(p().u16(4, 0x0101).bytes, /ELFCLASS64/);
  expectObjectError(p().u16(4, 0x0302).bytes, /data encoding/);
  expectObjectError(p().u16(16, 2).bytes, /ET_REL/);
  expectObjectError(p().u16(18, 62).bytes, /EM_BPF/);
  expectObjectError(original.subarray(0, p().shoff + 10), /section header table.*extends past the end/);
  expectObjectError(original.subarray(0, Math.floor(original.length / 2)), /past the end|does not fit/);
  expectObjectError(p().u64(0x28, 1n << 40n).bytes, /section header table/);
  expectObjectError(p().u16(0x3a, 32).bytes, /section header size 32/);
  expectObjectError(p().u16(0x3c, 0xffff).bytes, /does not fit/);
  expectObjectError(p().u16(0x3e, 999).bytes, /name table index 999/);
  const text = p().section('.text');
  expectObjectError(p().u32(p().header(text), 0xffffff).bytes, /name of section \d+: string offset 16777215 is beyond the string table/);
  expectObjectError(p().u64(p().header(text) + 0x18, 1n << 50n).bytes, /extends past the end/);
  expectObjectError(p().u64(p().header(text) + 0x20, 0xffffffffn).bytes, /extends past the end/);
  // A size beyond 2^53 is printed exactly, not rounded through a JS number.
  expectObjectError(p().u64(p().header(text) + 0x20, 10808639105689190844n).bytes, /\(10808639105689190844 bytes at \d+\) extends past the end/);
  const tc = p().section('tc');
  expectObjectError(p().u64(p().header(tc) + 0x18, BigInt(p().sectionOffset(text) + 8)).bytes, /overlaps section '.text'/);
  const symtab = p().section('.symtab');
  expectObjectError(p().u64(p().header(symtab) + 0x38, 0n).bytes, /symbol entry size 0/);
  expectObjectError(p().u32(p().header(symtab) + 0x28, 0).bytes, /sh_link 0/);
  const firstSymbol = p().sectionOffset(symtab) + 24;
  expectObjectError(p().u32(firstSymbol, 0x7fffffff).bytes, /name of symbol 1: string offset \d+ is beyond/);
  expectObjectError(p().u16(firstSymbol + 6, 500).bytes, /symbol 1 refers to section 500/);
  const relTc = p().section('.reltc');
  const firstReloc = p().sectionOffset(relTc);
  expectObjectError(p().u64(firstReloc, 1n << 33n).bytes, /relocation 0 at offset \d+ is outside 'tc'/);
  expectObjectError(p().u32(firstReloc + 12, 0xfffff).bytes, /relocation 0 refers to symbol 1048575/);
  expectObjectError(p().u64(firstReloc, 4n).bytes, /not on an instruction boundary/);
  expectObjectError(p().u32(p().header(relTc) + 0x2c, 4000).bytes, /relocations apply to section 4000/);
  expectObjectError(p().u64(p().header(relTc) + 0x20, 17n).bytes, /not a multiple of the 16-byte entry/);
  // A function symbol running past its section.
  const symbols = p().sectionOffset(symtab);
  const count = Number(new DataView(original.buffer, original.byteOffset).getBigUint64(p().header(symtab) + 0x20, true)) / 24;
  let func = -1;
  for (let i = 1; i < count; i++) if ((original[symbols + i * 24 + 4]! & 0xf) === 2) func = i;
  expectObjectError(p().u64(symbols + func * 24 + 16, 1n << 20n).bytes, /function '.*' .* outside/);
});

test('a relocation pointing a call at a non-function is an ObjectError', { skip }, () => {
  const original = objectBytes('subprogs');
  const p = new Patcher(original);
  const relTc = p.section('.reltc');
  const start = p.sectionOffset(relTc);
  // Point the first relocation (a call) at an ALU instruction instead.
  p.u64(start, 0n);
  expectObjectError(p.bytes, /neither lddw nor call/);
});

function mutate(original: Uint8Array, rand: () => number): Uint8Array {
  const int = (n: number): number => Math.floor(rand() * n);
  const choice = int(6);
  if (choice === 0) return original.slice(0, int(original.length));
  const bytes = original.slice();
  const view = new DataView(bytes.buffer);
  const headers = Number(view.getBigUint64(0x28, bytes[5] === 1));
  switch (choice) {
    case 1: // bit flips anywhere
      for (let n = 1 + int(8); n > 0; n--) bytes[int(bytes.length)]! ^= 1 << int(8);
      break;
    case 2: {
      // a section header field set to an interesting value
      const at = headers + int(Math.max(1, bytes.length - headers - 4));
      const values = [0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff, int(bytes.length), int(64) * 8];
      if (at + 4 <= bytes.length) view.setUint32(at & ~3, values[int(values.length)]!, rand() < 0.5);
      break;
    }
    case 3: {
      // a 32-bit word anywhere (symbols, relocations, BTF, code) set to an interesting value
      const at = int(bytes.length - 4) & ~3;
      const values = [0, 1, 8, 0x100, 0xffff, 0x7fffffff, 0xffffffff, int(1 << 20)];
      view.setUint32(at, values[int(values.length)]!, rand() < 0.5);
      break;
    }
    case 4: {
      // copy a block over another (duplicated headers, overlapping data)
      const len = 8 + int(64);
      const from = int(bytes.length - len);
      bytes.copyWithin(int(bytes.length - len), from, from + len);
      break;
    }
    default:
      for (let n = 1 + int(32); n > 0; n--) bytes[int(bytes.length)] = int(256);
  }
  return bytes;
}

test('fuzz: mutated fixtures only ever throw TsbpfError, and never hang', { skip, timeout: 120_000 }, () => {
  const seed = fuzzSeed(0x5eed);
  const rand = seededRandom(seed);
  const casesPerObject = 200;
  let loaded = 0;
  let rejected = 0;
  let slowest = 0;
  const started = performance.now();
  for (const name of FIXTURES) {
    for (const bigEndian of [false, true]) {
      const original = objectBytes(name, bigEndian);
      for (let i = 0; i < casesPerObject; i++) {
        const bytes = mutate(original, rand);
        const t0 = performance.now();
        try {
          loadCollectionSpec(bytes);
          loaded++;
        } catch (err) {
          if (!(err instanceof TsbpfError)) {
            throw new Error(`${name}${bigEndian ? ' (big-endian)' : ''} case ${i} (seed ${seed}): not a TsbpfError: ${(err as Error)?.stack ?? String(err)}`);
          }
          rejected++;
        }
        slowest = Math.max(slowest, performance.now() - t0);
      }
    }
  }
  const total = loaded + rejected;
  assert.equal(total, FIXTURES.length * 2 * casesPerObject);
  assert.ok(rejected > total / 4, `most mutations should be rejected (${rejected}/${total})`);
  assert.ok(slowest < HANG_MS, `slowest case took ${slowest.toFixed(1)} ms`);
  console.log(`fuzz: ${total} cases, ${rejected} rejected, ${loaded} loaded, slowest ${slowest.toFixed(1)} ms, total ${(performance.now() - started).toFixed(0)} ms`);
});

test('a .bss whose size no file bounds is refused, not allocated', { skip }, () => {
  const original = objectBytes('globals');
  const p = new Patcher(original);
  const bss = p.section('.bss');
  for (const size of [0x7fffffffffff0000n, 0xfffffff0n]) {
    expectObjectError(new Patcher(original).u64(p.header(bss) + 0x20, size).bytes, /SHT_NOBITS section of \d+ bytes/);
  }
});
