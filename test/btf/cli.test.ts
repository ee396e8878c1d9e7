import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../../src/cli/commands/btf.ts';
import { UsageError } from '../../src/cli/command.ts';
import { BtfError } from '../../src/btf/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutCommand } from '../support/env.ts';
import { readElfSections, section } from './elf-sections.ts';

async function run(...args: string[]): Promise<string> {
  let out = '';
  const code = await command.run(args, { stdout: (t) => (out += t), stderr: () => {}, stdin: async () => new Uint8Array() });
  assert.equal(code, 0);
  return out;
}

test('tsbpf btf dump prints an object\'s and a raw file\'s BTF as bpftool does', { skip: skipWithoutClang() || skipWithoutCommand('bpftool', 'apt-get install bpftool') }, async () => {
  const obj = compileBpf(fixturePath('btf', 'kinds.c'));
  const raw = join(mkdtempSync(join(tmpdir(), 'tsbpf-btf-cli-')), 'kinds.btf');
  writeFileSync(raw, section(readElfSections(obj), '.BTF'));
  for (const format of ['raw', 'c']) {
    const expected = execFileSync('bpftool', ['btf', 'dump', 'file', obj, 'format', format], { encoding: 'utf8' });
    assert.equal(await run('dump', obj, '--format', format), expected);
    assert.equal(await run('dump', raw, '--format', format), expected);
  }
  assert.equal(await run('dump', obj, '--type', 'bits'), "[17] STRUCT 'bits' size=8 vlen=4\n\t'a' type_id=19 bits_offset=0 bitfield_size=3\n\t'b' type_id=5 bits_offset=3 bitfield_size=5\n\t'c' type_id=20 bits_offset=8 bitfield_size=40\n\t'tail' type_id=21 bits_offset=48\n");
});

test('tsbpf btf dump vmlinux --type', { skip: existsSync('/sys/kernel/btf/vmlinux') ? false : 'no vmlinux BTF' }, async () => {
  assert.match(await run('dump', 'vmlinux', '--type', 'task_struct'), /^\[\d+\] STRUCT 'task_struct' size=\d+ vlen=\d+\n\t'thread_info'/);
  assert.match(await run('dump', 'vmlinux', '--format', 'c', '--type', 'pid_t'), /typedef int __kernel_pid_t;\n\ntypedef __kernel_pid_t pid_t;\n/);
});

test('tsbpf btf: usage and input errors', async () => {
  await assert.rejects(run('show'), UsageError);
  await assert.rejects(run('dump'), UsageError);
  await assert.rejects(run('dump', 'x', '--format', 'json'), UsageError);
  await assert.rejects(run('dump', '/nonexistent/file'), BtfError);
  const junk = join(mkdtempSync(join(tmpdir(), 'tsbpf-btf-cli-')), 'junk');
  writeFileSync(junk, 'not btf at all');
  await assert.rejects(run('dump', junk), /bad magic/);
});
