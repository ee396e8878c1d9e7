import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Instruction, assemble, decode, disassemble } from '../../src/isa/index.ts';
import { CONFORMANCE_DIR, skipWithoutConformance } from '../support/env.ts';

/** The `-- asm` and `-- raw` sections of a conformance vector (format: ../shared/conformance/README.md). */
function sections(text: string): { asm: string; raw?: string } {
  const found = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.includes('--')) {
      const name = ['asm', 'raw'].find((k) => line.includes(k));
      current = name === undefined ? undefined : [];
      if (name !== undefined) found.set(name, current!);
      continue;
    }
    current?.push(line);
  }
  const asm = found.get('asm');
  assert.ok(asm, 'no -- asm section');
  return { asm: asm.join('\n'), raw: found.get('raw')?.join('\n') };
}

/** `-- raw`: whitespace separated 64-bit words, little-endian instruction layout. */
function rawProgram(raw: string): Instruction[] {
  const words = raw.replace(/#.*$/gm, '').split(/\s+/).filter((w) => w !== '').map((w) => BigInt(w));
  const bytes = new Uint8Array(words.length * 8);
  const view = new DataView(bytes.buffer);
  words.forEach((w, n) => view.setBigUint64(n * 8, w, true));
  return decode(bytes, { validate: false });
}

test('every conformance vector assembles (and matches -- raw where present)', { skip: skipWithoutConformance() }, () => {
  const files = readdirSync(CONFORMANCE_DIR).filter((f) => f.endsWith('.data')).sort();
  assert.equal(files.length, 313);
  let withRaw = 0;
  for (const file of files) {
    const { asm, raw } = sections(readFileSync(join(CONFORMANCE_DIR, file), 'utf8'));
    const program = assemble(asm, { syntax: 'ubpf' });
    assert.ok(program.length > 0, file);
    assert.deepEqual(assemble(asm), program, `${file}: auto-detection disagrees with syntax ubpf`);
    if (raw !== undefined) {
      withRaw++;
      assert.deepEqual(program, rawProgram(raw), file);
    }
    // And through our own C-like text.
    assert.deepEqual(assemble(disassemble(program)), program, `${file}: round trip`);
  }
  assert.equal(withRaw, 1);
});

test('conformance programs use the opcodes their names promise', { skip: skipWithoutConformance() }, () => {
  const load = (name: string): Instruction[] => assemble(sections(readFileSync(join(CONFORMANCE_DIR, name), 'utf8')).asm);
  assert.deepEqual(load('callx.data')[2], { opcode: 0x8d, dst: 2, src: 0, offset: 0, imm: 0 });
  assert.ok(load('ja32.data').some((i) => i.opcode === 0x06 && i.imm !== 0));
  assert.ok(load('call_local.data').some((i) => i.opcode === 0x85 && i.src === 1 && i.imm > 0));
  assert.ok(load('lock_fetch_xor32.data').some((i) => i.opcode === 0xc3 && i.imm === 0xa1));
  assert.ok(load('movsx1632-reg.data').some((i) => i.opcode === 0xbc && i.offset === 16));
  assert.ok(load('sdiv64-imm.data').some((i) => i.opcode === 0x37 && i.offset === 1));
  assert.ok(load('swap16.data').some((i) => i.opcode === 0xd7 && i.imm === 16));
});
