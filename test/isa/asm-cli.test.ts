import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../../src/cli/commands/asm.ts';
import type { CliIo } from '../../src/cli/command.ts';
import { UsageError } from '../../src/cli/command.ts';

function io(stdin = ''): CliIo & { out: string[] } {
  const out: string[] = [];
  return { out, stdout: (t) => out.push(t), stderr: () => undefined, stdin: async () => new TextEncoder().encode(stdin) };
}

test('tsbpf asm writes raw bytes, hex text, and reports file:line:column', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-asm-'));
  try {
    const src = join(dir, 'prog.s');
    writeFileSync(src, 'mov %r0, 1\nexit\n');
    const sink = io();
    assert.equal(await command.run([src], sink), 0);
    assert.equal(sink.out.join(''), 'b7000000010000009500000000000000\n');

    const bin = join(dir, 'prog.bin');
    assert.equal(await command.run([src, '-o', bin, '--syntax', 'ubpf'], io()), 0);
    assert.deepEqual([...readFileSync(bin)], [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

    const hexFile = join(dir, 'prog.hex');
    assert.equal(await command.run(['-', '-o', hexFile, '--hex'], io('r0 = 2\nexit')), 0);
    assert.equal(readFileSync(hexFile, 'utf8'), 'b7000000020000009500000000000000\n');

    writeFileSync(src, 'r0 = 1\n  r0 = *(u32 *)(r1 + 4\n');
    await assert.rejects(command.run([src], io()), (err: Error) => err.message === `${src}:2:23: expected ')', found end of line`);
    await assert.rejects(command.run([src, '--syntax', 'intel'], io()), UsageError);
    await assert.rejects(command.run([], io()), UsageError);
    await assert.rejects(command.run([join(dir, 'missing.s')], io()), /missing\.s: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
