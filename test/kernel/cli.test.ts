import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callHelper, exit, jmpImm, lddw, mov64Imm, mov64Reg } from '../../src/isa/instruction.ts';
import { JmpOp, LdImm64Src } from '../../src/isa/opcodes.ts';
import { rmSync } from 'node:fs';
import { KernelMap, ensureBpffs } from '../../src/kernel/map.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { attachRawTracepoint } from '../../src/kernel/link.ts';
import { mapInfo } from '../../src/kernel/info.ts';
import { runCommand } from '../support/cli.ts';
import { MapType, ProgramType } from '../../src/uapi/enums.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks, u32 } from './support.ts';

checkNoKernelLeaks();
const kernel = { skip: skipWithoutKernel() };

const cli = runCommand;

test('tsbpf prog/map/link show what this process loaded', kernel, async (t) => {
  const map = KernelMap.create({ type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 4, name: 'tsbpf_cli_map' });
  t.after(() => map.close());
  map.update(u32(0x01020304), u32(0xaabbccdd));
  const program = KernelProgram.load({ type: ProgramType.RAW_TRACEPOINT, name: 'tsbpf_cli_prog', instructions: [mov64Imm(0, 7), exit()] });
  t.after(() => program.close());
  const link = attachRawTracepoint(program, 'sys_exit');
  t.after(() => link.close());
  const id = program.info().id;

  assert.match(await cli('prog', ['list']), new RegExp(`^${id}: raw_tracepoint  name tsbpf_cli_prog`, 'm'));
  const shown = JSON.parse(await cli('prog', ['show', String(id), '--json'])) as { name: string; id: number };
  assert.deepEqual([shown.name, shown.id], ['tsbpf_cli_prog', id]);
  const dump = await cli('prog', ['dump', String(id)]);
  assert.match(dump, /0: r0 = 0x7\n/);
  assert.match(dump, /exit/);

  const mapId = mapInfo(map.fd).id;
  assert.match(await cli('map', ['list']), new RegExp(`^${mapId}: hash  name tsbpf_cli_map`, 'm'));
  assert.match(await cli('map', ['dump', String(mapId)]), /key: 04 03 02 01 {2}value: dd cc bb aa\nFound 1 element/);
  const pin = `${ensureBpffs()}/tsbpf_cli_pin_${process.pid}`;
  map.pin(pin);
  t.after(() => rmSync(pin, { force: true }));
  const dumped = JSON.parse(await cli('map', ['dump', pin, '--json'])) as { map: { id: number }; entries: Array<{ key: string; value: string }> };
  assert.equal(dumped.map.id, mapId);
  assert.deepEqual(dumped.entries, [{ key: '04 03 02 01', value: 'dd cc bb aa' }]);
  assert.match(await cli('link', ['list']), new RegExp(`raw_tracepoint  prog ${id}\n\ttracepoint sys_exit`));
});

test('tsbpf prog dump names helper calls as bpftool does (bpf_ringbuf_reserve#131), not by their xlated offsets', kernel, async (t) => {
  const ring = KernelMap.create({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, name: 'tsbpf_cli_rb' });
  t.after(() => ring.close());
  const program = KernelProgram.load({
    type: ProgramType.RAW_TRACEPOINT,
    name: 'tsbpf_cli_call',
    license: 'GPL',
    instructions: [
      callHelper(5), // bpf_ktime_get_ns
      ...lddw(1, ring.fd, LdImm64Src.MAP_FD),
      mov64Imm(2, 8),
      mov64Imm(3, 0),
      callHelper(131), // bpf_ringbuf_reserve
      jmpImm(JmpOp.JEQ, 0, 0, 3),
      mov64Imm(2, 0),
      mov64Reg(1, 0),
      callHelper(133), // bpf_ringbuf_discard
      mov64Imm(0, 0),
      exit(),
    ],
  });
  t.after(() => program.close());
  const dump = await cli('prog', ['dump', String(program.info().id)]);
  assert.match(dump, /call bpf_ktime_get_ns#5\n/);
  assert.match(dump, /call bpf_ringbuf_reserve#131\n/);
  assert.match(dump, /call bpf_ringbuf_discard#133\n/);
  assert.doesNotMatch(dump, /call (0x|unknown#|-)/);
  assert.match(await cli('prog', ['dump', String(program.info().id), '--kernel']), /\(85\) call bpf_ringbuf_reserve#131\n/);
});

test('tsbpf feature reports map and program types as JSON', kernel, async () => {
  const report = JSON.parse(await cli('feature', ['--json', '--helpers', 'xdp'])) as {
    mapTypes: Array<{ name: string; state: string }>;
    programTypes: Array<{ name: string; state: string }>;
    helpers: Record<string, Array<{ name: string; state: string }>>;
  };
  assert.equal(report.mapTypes.find((m) => m.name === 'HASH')?.state, 'supported');
  assert.equal(report.programTypes.find((p) => p.name === 'XDP')?.state, 'supported');
  assert.equal(report.programTypes.find((p) => p.name === 'LSM')?.state, 'not-permitted');
  const xdpHelpers = report.helpers.XDP!;
  assert.equal(xdpHelpers.find((h) => h.name === 'xdp_adjust_head')?.state, 'supported');
  assert.equal(xdpHelpers.find((h) => h.name === 'probe_read')?.state, 'unsupported');
});
