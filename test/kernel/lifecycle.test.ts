import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { test } from 'node:test';
import { exit, mov64Imm } from '../../src/isa/instruction.ts';
import { KernelMap } from '../../src/kernel/map.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { attachCpuClockSampling } from '../../src/kernel/link.ts';
import { listIds } from '../../src/kernel/info.ts';
import { MapType, ProgramType } from '../../src/uapi/enums.ts';
import { ROOT, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks, incrementMapSlot, onlyInProcess, readU64, u32 } from './support.ts';

checkNoKernelLeaks();
const kernel = { skip: skipWithoutKernel() };

test('CPU-clock sampling at 997 Hz on every CPU samples this busy process', kernel, (t) => {
  const counts = KernelMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, name: 'tsbpf_samples' });
  t.after(() => counts.close());
  const program = KernelProgram.load({ type: ProgramType.PERF_EVENT, name: 'tsbpf_sample', instructions: onlyInProcess(process.pid, incrementMapSlot(counts, 0)) });
  t.after(() => program.close());
  const links = attachCpuClockSampling(program, 997);
  t.after(() => links.close());
  assert.ok(links.links.length >= 1);
  const end = Date.now() + 300;
  while (Date.now() < end) Math.sqrt(Math.random());
  const samples = readU64(counts.lookup(u32(0)));
  assert.ok(samples >= 30n, `${samples} samples in 300 ms at 997 Hz`);
  links.close();
  assert.ok(links.closed);
});

/** Runs a child that creates a map, a program and a link, prints their ids, then waits to be signalled or throws. */
async function child(t: { after: (fn: () => void) => void }, ending: 'SIGTERM' | 'SIGINT' | 'throw'): Promise<{ ids: { prog: number; map: number; link: number }; code: number | null; signal: string | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-lifecycle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'child.ts');
  writeFileSync(
    script,
    `import { KernelMap, KernelProgram, attachRawTracepoint, mapInfo } from ${JSON.stringify(join(ROOT, 'src/kernel/index.ts'))};
const map = KernelMap.create({ type: 2, keySize: 4, valueSize: 4, maxEntries: 1, name: 'tsbpf_child' });
const program = KernelProgram.load({ type: 17, name: 'tsbpf_child', instructions: [{ opcode: 0xb7, dst: 0, src: 0, offset: 0, imm: 0 }, { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 }] });
const link = attachRawTracepoint(program, 'sys_exit');
console.log(JSON.stringify({ prog: program.info().id, map: mapInfo(map.fd).id, link: link.info().id }));
${ending === 'throw' ? "setTimeout(() => { throw new Error('boom'); }, 50);" : 'setInterval(() => {}, 1000);'}
`,
  );
  const proc = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.setEncoding('utf8');
  const printed = new Promise<void>((resolve) => proc.stdout.on('data', (chunk: string) => {
    out += chunk;
    if (out.includes('\n')) resolve();
  }));
  await printed;
  const ids = JSON.parse(out.trim()) as { prog: number; map: number; link: number };
  assert.ok(listIds('prog').includes(ids.prog));
  if (ending !== 'throw') proc.kill(ending);
  const [code, signal] = (await once(proc, 'exit')) as [number | null, string | null];
  return { ids, code, signal };
}

async function gone(ids: { prog: number; map: number; link: number }): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (!listIds('prog').includes(ids.prog) && !listIds('map').includes(ids.map) && !listIds('link').includes(ids.link)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`objects of the child are still in the kernel: ${JSON.stringify(ids)}`);
}

for (const ending of ['SIGTERM', 'SIGINT'] as const) {
  test(`a process killed with ${ending} still dies of the signal and leaves nothing in the kernel`, kernel, async (t) => {
    const { ids, code, signal } = await child(t, ending);
    assert.deepEqual([code, signal], [null, ending]);
    await gone(ids);
  });
}

test('an uncaught exception still exits with an error and leaves nothing in the kernel', kernel, async (t) => {
  const { ids, code } = await child(t, 'throw');
  assert.equal(code, 1);
  await gone(ids);
});

test('closed objects are harmless to close again and clear to use', kernel, () => {
  const program = KernelProgram.load({ type: ProgramType.XDP, name: 'tsbpf_twice', instructions: [mov64Imm(0, 2), exit()] });
  program.close();
  program.close();
  assert.equal(program.closed, true);
  assert.throws(() => program.fd, /XDP program 'tsbpf_twice' is closed/);
});
