import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { assemble, encode } from '../../src/isa/index.ts';
import { spawnTsbpf, type CliOutcome } from '../support/cli.ts';
import { CONFORMANCE_DIR, skipWithoutConformance } from '../support/env.ts';
import { parseConformanceVector } from '../support/conformance.ts';

// Spawns `tsbpf conformance-plugin` the way bpf_conformance_runner does:
// program as base-16 text on stdin, memory as one argv element "11  22  ".

function plugin(args: string[], stdin: string): Promise<CliOutcome> {
  return spawnTsbpf(['conformance-plugin', ...args], stdin);
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const runnerMem = (bytes: Uint8Array): string => Array.from(bytes, (b) => `${b.toString(16).padStart(2, '0')}  `).join('');

test('conformance-plugin runs vectors as the runner invokes it', { skip: skipWithoutConformance() }, async () => {
  const names = ['mem-len', 'stxdw', 'callx', 'sdiv64-intmin-by-negone-reg'];
  const outcomes = await Promise.all(
    names.flatMap((name) => {
      const v = parseConformanceVector(readFileSync(join(CONFORMANCE_DIR, `${name}.data`), 'utf8'), name);
      const program = hex(encode(v.raw ?? assemble(v.asm, { syntax: 'ubpf' })));
      const mem = v.mem !== undefined ? [runnerMem(v.mem)] : [];
      return [plugin(mem, `${program}\n`).then((o) => ({ o, v })), plugin([...mem, '--jit'], `${program}\n`).then((o) => ({ o, v }))];
    }),
  );
  for (const { o, v } of outcomes) {
    assert.equal(o.code, 0, `${v.name}: ${o.stderr}`);
    // The runner parses the first line with strtoull(..., 16).
    assert.equal(BigInt(o.stdout.split('\n')[0]!), v.result, v.name);
  }
});

test('conformance-plugin fails with a non-zero exit and a message', async () => {
  const exit = '9500000000000000';
  const [badHex, unknownOpcode, fault, jit, elf] = await Promise.all([
    plugin([], 'zz\n'),
    plugin(['aa  bb  '], `f700000000000000${exit}\n`),
    plugin([], `7911000000000000${exit}\n`), // r1 = *(u64 *)(r1 + 0) with r1 = 0
    plugin(['--jit'], `b700000007000000${exit}\n`),
    plugin(['--elf'], `${exit}\n`),
  ]);
  assert.equal(badHex.code, 2);
  assert.match(badHex.stderr, /not base-16/);
  assert.equal(unknownOpcode.code, 1);
  assert.match(unknownOpcode.stderr, /instruction 0: unknown opcode f7/);
  assert.equal(fault.code, 1);
  assert.match(fault.stderr, /instruction 0: invalid read of 8 bytes at 0x0/);
  assert.equal(jit.code, 0, jit.stderr);
  assert.equal(jit.stdout, '0x7\n');
  assert.equal(elf.code, 2);
  assert.match(elf.stderr, /ELF input is not supported/);
});
