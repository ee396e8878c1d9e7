/** `tsbpf verify` as a user runs it: verdicts, exit codes, the log, JSON and bad arguments. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { spawnTsbpf } from '../support/cli.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';

test('tsbpf verify accepts the example and exits 0', async () => {
  const out = await spawnTsbpf(['verify', 'examples/xdp-drop-udp.s', '--type', 'xdp']);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /^xdp_drop_udp \(xdp\): accepted, \d+ insns processed/);
});

test('tsbpf verify explains a rejection and exits 1; --json carries the same', async () => {
  const program = '*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = 0\nr0 = *(u64 *)(r1 + 0)\nexit\n';
  const text = await spawnTsbpf(['verify', '-', '--type', 'xdp'], program);
  assert.equal(text.code, 1, text.stderr);
  assert.match(text.stdout, /R1 invalid mem access 'scalar'\n/);
  assert.match(text.stdout, /processed \d+ insns \(limit 1000000\)/);
  assert.match(text.stdout, /why: R1 holds a plain number/);
  const json = await spawnTsbpf(['verify', '-', '--type', 'xdp', '--json'], program);
  assert.equal(json.code, 1);
  const result = JSON.parse(json.stdout) as { accepted: boolean; error: { insnIndex: number; message: string; explanation: { kind: string } } };
  assert.equal(result.accepted, false);
  assert.equal(result.error.insnIndex, 4);
  assert.equal(result.error.explanation.kind, 'not-a-pointer');
});

test('tsbpf verify: bad arguments and bad input are clear errors', async () => {
  const noType = await spawnTsbpf(['verify', 'examples/xdp-drop-udp.s']);
  assert.equal(noType.code, 2);
  assert.match(noType.stderr, /not an ELF object; to use it as assembly give --type SECTION/);
  const level = await spawnTsbpf(['verify', 'examples/xdp-drop-udp.s', '--type', 'xdp', '--log-level', '3']);
  assert.equal(level.code, 2);
  assert.match(level.stderr, /--log-level takes 0, 1 or 2, not '3'/);
  const garbage = await spawnTsbpf(['verify', '-', '--type', 'xdp'], 'r0 = = 1\n');
  assert.notEqual(garbage.code, 0);
  assert.match(garbage.stderr, /-:1:6: expected a register/);
  assert.doesNotMatch(garbage.stderr, /at .*\.ts:\d+/, 'no stack trace');
});

test('tsbpf run verifies on the VM (--no-verify opts out) and explains the rejection', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-run-verify-'));
  const file = join(dir, 'narrow_ctx.s');
  writeFileSync(file, 'r0 = *(u8 *)(r1 + 0)\nr0 = 2\nexit\n');
  after(() => rmSync(dir, { recursive: true, force: true }));
  const verified = await spawnTsbpf(['run', file, '--type', 'xdp', '--data', '00112233445566778899aabbccdd']);
  assert.notEqual(verified.code, 0);
  assert.match(verified.stderr, /the verifier rejected program .* at insn 0: invalid bpf_context access off=0 size=1\nwhy: /);
  const unverified = await spawnTsbpf(['run', file, '--type', 'xdp', '--data', '00112233445566778899aabbccdd', '--no-verify']);
  assert.notEqual(unverified.code, 0);
  assert.match(unverified.stderr, /xdp_md->data must be read with a 4-byte load/, 'without the verifier the run-time check answers');
});

test('tsbpf verify knows .kconfig values as the loader fills them (LINUX_KERNEL_VERSION), as the kernel does', { skip: skipWithoutClang() }, async () => {
  const object = compileBpf(fixturePath('verifier', 'kconfig_version.c'));
  const out = await spawnTsbpf(['verify', object, '--json']);
  assert.equal(out.code, 0, out.stdout + out.stderr);
  assert.equal((JSON.parse(out.stdout) as { accepted: boolean }).accepted, true);
});
