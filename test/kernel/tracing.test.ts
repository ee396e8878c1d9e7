import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AluOp, LdImm64Src, Size, JmpOp } from '../../src/isa/opcodes.ts';
import { alu64Imm, callHelper, exit, jmpImm, lddw, mov64Imm, mov64Reg, st } from '../../src/isa/instruction.ts';
import { KernelMap } from '../../src/kernel/map.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { attachKprobe, attachRawTracepoint, attachTracepoint, attachTracing, attachUprobe, tracingTargetBtfId } from '../../src/kernel/link.ts';
import { RingBufferReader } from '../../src/kernel/ringbuf.ts';
import { PerfEventArrayReader } from '../../src/kernel/perfbuf.ts';
import { BpfSyscallError, NotSupportedError } from '../../src/kernel/errors.ts';
import { enableRunTimeStats } from '../../src/kernel/info.ts';
import { sysGetAffinity, sysSetAffinity } from '../../src/kernel/ffi.ts';
import { AttachType, MapType, ProgramType } from '../../src/uapi/enums.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks, incrementMapSlot, onlyInProcess, readU64, u32 } from './support.ts';

checkNoKernelLeaks();

const BPF_FUNC_ringbuf_reserve = 131;
const BPF_FUNC_ringbuf_submit = 132;
const BPF_FUNC_ringbuf_discard = 133;
const BPF_FUNC_perf_event_output = 25;
const BPF_F_CURRENT_CPU = 0xffffffff;

function counterMap(t: { after: (fn: () => void) => void }): KernelMap {
  const map = KernelMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, name: 'tsbpf_count' });
  t.after(() => map.close());
  return map;
}

test('tracepoint program counts exactly the getppid calls this process makes', { skip: skipWithoutKernel() }, (t) => {
  const counts = counterMap(t);
  const program = KernelProgram.load({ type: ProgramType.TRACEPOINT, name: 'tsbpf_tp', instructions: onlyInProcess(process.pid, incrementMapSlot(counts, 0)) });
  t.after(() => program.close());
  const link = attachTracepoint(program, 'syscalls', 'sys_enter_getppid');
  t.after(() => link.close());
  for (let i = 0; i < 137; i++) void process.ppid;
  assert.equal(readU64(counts.lookup(u32(0))), 137n);
  link.close();
  void process.ppid;
  assert.equal(readU64(counts.lookup(u32(0))), 137n, 'no counting after the link is closed');
  const stats = enableRunTimeStats();
  try {
    // Statistics are global: another process (a parallel test) may have had them on while the link was open.
    const before = program.info().runCount;
    for (let i = 0; i < 3; i++) void process.ppid;
    assert.ok(program.info().runCount === before, 'the link is closed: no runs');
  } finally {
    stats.close();
  }
});

test('run-time statistics count tracepoint runs while enabled', { skip: skipWithoutKernel() }, (t) => {
  const counts = counterMap(t);
  const program = KernelProgram.load({ type: ProgramType.TRACEPOINT, name: 'tsbpf_stats', instructions: onlyInProcess(process.pid, incrementMapSlot(counts, 0)) });
  t.after(() => program.close());
  const link = attachTracepoint(program, 'syscalls', 'sys_enter_getppid');
  t.after(() => link.close());
  const stats = enableRunTimeStats();
  t.after(() => stats.close());
  for (let i = 0; i < 25; i++) void process.ppid;
  const info = program.info();
  assert.ok(info.runCount >= 25n, `run_cnt ${info.runCount}`);
  assert.ok(info.runTimeNs > 0n);
});

test('raw tracepoint program sees sys_enter for our getppid calls', { skip: skipWithoutKernel() }, (t) => {
  const counts = counterMap(t);
  const program = KernelProgram.load({ type: ProgramType.RAW_TRACEPOINT, name: 'tsbpf_rawtp', instructions: onlyInProcess(process.pid, incrementMapSlot(counts, 0)) });
  t.after(() => program.close());
  const link = attachRawTracepoint(program, 'sys_enter');
  t.after(() => link.close());
  for (let i = 0; i < 10; i++) void process.ppid;
  assert.ok(readU64(counts.lookup(u32(0))) >= 10n);
  assert.equal(link.info().details.tracepoint, 'sys_enter');
  assert.throws(() => attachRawTracepoint(program, 'no_such_tracepoint_xyz'), (e: unknown) => e instanceof BpfSyscallError && /no_such_tracepoint_xyz/.test(e.message));
});

test('tp_btf program attaches through the btf_trace_ typedef id, fentry fails with the kernel EPERM', { skip: skipWithoutKernel() }, (t) => {
  const counts = counterMap(t);
  const typedefId = tracingTargetBtfId('tp_btf', 'sys_enter');
  assert.ok(typedefId > 0);
  try {
    const program = KernelProgram.load({
      type: ProgramType.TRACING,
      expectedAttachType: AttachType.TRACE_RAW_TP,
      attachBtfId: typedefId,
      name: 'tsbpf_tpbtf',
      instructions: onlyInProcess(process.pid, incrementMapSlot(counts, 0)),
    });
    t.after(() => program.close());
    const link = attachTracing(program);
    t.after(() => link.close());
    t.diagnostic('tp_btf loaded and attached');
    for (let i = 0; i < 5; i++) void process.ppid;
    assert.ok(readU64(counts.lookup(u32(0))) >= 5n);
  } catch (error) {
    // Some kernels (this one with lockdown) refuse TRACING programs entirely: then it must be the kernel's EPERM.
    assert.ok(error instanceof BpfSyscallError && error.code === 'EPERM', String(error));
    t.diagnostic(`tp_btf refused by this kernel: ${error.message.split('\n')[0]}`);
  }
  const fentryId = tracingTargetBtfId('fentry', 'do_sys_openat2');
  assert.throws(
    () => KernelProgram.load({ type: ProgramType.TRACING, expectedAttachType: AttachType.TRACE_FENTRY, attachBtfId: fentryId, name: 'tsbpf_fentry', instructions: [mov64Imm(0, 0), exit()] }),
    (e: unknown) =>
      e instanceof BpfSyscallError &&
      e.code === 'EPERM' &&
      /CAP_BPF/.test(e.message) &&
      // As root, the message must not advise running as root.
      (process.geteuid?.() !== 0 || (/although this process is root/.test(e.message) && !/run as root/.test(e.message))),
  );
  assert.throws(() => tracingTargetBtfId('fentry', 'no_such_function_xyz'), /not found in the kernel's BTF/);
});

test('kprobe attach explains that this kernel has no kprobe PMU', { skip: skipWithoutKernel() }, (t) => {
  const program = KernelProgram.load({ type: ProgramType.KPROBE, name: 'tsbpf_kp', instructions: [mov64Imm(0, 0), exit()] });
  t.after(() => program.close());
  assert.throws(() => attachKprobe(program, { symbol: 'do_sys_openat2' }), (e: unknown) => e instanceof NotSupportedError && /kprobe PMU/.test(e.message));
});

test('uprobe and uretprobe count calls of a function in a gcc-built binary', { skip: skipWithoutKernel() }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-uprobe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'target.c'),
    `#include <stdlib.h>
__attribute__((noinline)) int tsbpf_target(int x) { __asm__ volatile(""); return x * 2; }
int main(int argc, char **argv) { int n = atoi(argv[1]), s = 0; for (int i = 0; i < n; i++) s += tsbpf_target(i); return s == -1; }
`,
  );
  execFileSync('gcc', ['-O1', '-o', join(dir, 'target'), join(dir, 'target.c')]);
  const counts = counterMap(t);
  const entry = KernelProgram.load({ type: ProgramType.KPROBE, name: 'tsbpf_up', instructions: [...incrementMapSlot(counts, 0), mov64Imm(0, 0), exit()] });
  t.after(() => entry.close());
  const ret = KernelProgram.load({ type: ProgramType.KPROBE, name: 'tsbpf_uret', instructions: [...incrementMapSlot(counts, 1), mov64Imm(0, 0), exit()] });
  t.after(() => ret.close());
  const binary = join(dir, 'target');
  const l1 = attachUprobe(entry, { path: binary, symbol: 'tsbpf_target' });
  t.after(() => l1.close());
  const l2 = attachUprobe(ret, { path: binary, symbol: 'tsbpf_target', retprobe: true });
  t.after(() => l2.close());
  const run = spawnSync(binary, ['42']);
  assert.equal(run.status, 0);
  assert.equal(readU64(counts.lookup(u32(0))), 42n);
  assert.equal(readU64(counts.lookup(u32(1))), 42n);
  assert.throws(() => attachUprobe(entry, { path: binary, symbol: 'not_there' }), /'not_there' not found/);
});

test('uprobe on a shared library function (libc getppid) filtered to one process', { skip: skipWithoutKernel() }, async (t) => {
  const libc = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/)[5] ?? '').find((p) => /\/libc[.-].*so/.test(p));
  assert.ok(libc, 'libc is mapped into this process');
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-uprobe-lib-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'caller.c'),
    `#include <unistd.h>
#include <stdlib.h>
int main(int argc, char **argv) { char go; if (read(0, &go, 1) != 1) return 1; int n = atoi(argv[1]); for (int i = 0; i < n; i++) getppid(); return 0; }
`,
  );
  execFileSync('gcc', ['-O1', '-o', join(dir, 'caller'), join(dir, 'caller.c')]);
  const counts = counterMap(t);
  const program = KernelProgram.load({ type: ProgramType.KPROBE, name: 'tsbpf_libc', instructions: [...incrementMapSlot(counts, 0), mov64Imm(0, 0), exit()] });
  t.after(() => program.close());
  const child = spawn(join(dir, 'caller'), ['31'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = once(child, 'exit');
  const link = attachUprobe(program, { path: libc, symbol: 'getppid', pid: child.pid! });
  t.after(() => link.close());
  for (let i = 0; i < 5; i++) void process.ppid; // our own getppid calls do not count: pid filter (Node calls the syscall through libuv's uv_os_getppid -> getppid)
  child.stdin.end('g');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
  assert.equal(readU64(counts.lookup(u32(0))), 31n);
});

/** Program: for our getppid calls, reserve a 16-byte ring record holding (marker, i) or discard when marker is odd. */
function ringProgram(ring: KernelMap, counter: KernelMap): KernelProgram {
  const submitAndCount = [
    mov64Reg(7, 0),
    st(Size.DW, 7, 0, 0x5eed),
    st(Size.DW, 7, 8, 0),
    mov64Reg(1, 7),
    mov64Imm(2, 0),
    callHelper(BPF_FUNC_ringbuf_submit),
    ...incrementMapSlot(counter, 0),
  ];
  const body = [
    ...lddw(1, ring.fd, LdImm64Src.MAP_FD),
    mov64Imm(2, 16),
    mov64Imm(3, 0),
    callHelper(BPF_FUNC_ringbuf_reserve),
    jmpImm(JmpOp.JEQ, 0, 0, submitAndCount.length),
    ...submitAndCount,
  ];
  return KernelProgram.load({ type: ProgramType.TRACEPOINT, name: 'tsbpf_ring', instructions: onlyInProcess(process.pid, body) });
}

test('ring buffer records arrive intact through poll, the callback API and the async iterator', { skip: skipWithoutKernel() }, async (t) => {
  const ring = KernelMap.create({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, name: 'tsbpf_ring' });
  t.after(() => ring.close());
  const counts = counterMap(t);
  const program = ringProgram(ring, counts);
  t.after(() => program.close());
  const link = attachTracepoint(program, 'syscalls', 'sys_enter_getppid');
  t.after(() => link.close());
  const reader = new RingBufferReader(ring);
  t.after(() => reader.close());

  for (let i = 0; i < 3; i++) void process.ppid;
  const seen: bigint[] = [];
  assert.equal(reader.poll((r) => seen.push(new DataView(r.buffer, r.byteOffset, r.byteLength).getBigUint64(0, true))), 3);
  assert.deepEqual(seen, [0x5eedn, 0x5eedn, 0x5eedn]);

  // More records than fit (4096 / 24 bytes per record): the overflow shows up in reserve failures, not silently.
  for (let i = 0; i < 300; i++) void process.ppid;
  const submitted = readU64(counts.lookup(u32(0)));
  let received = 0;
  const consuming = reader.consume(async (r) => {
    assert.equal(r.length, 16);
    received++;
    if (received % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1)); // backpressure
    if (received === Number(submitted) - 3) reader.close();
  });
  await consuming;
  assert.equal(received, Number(submitted) - 3);
  assert.ok(submitted < 303n, 'a 4 KiB ring cannot take 300 records at once');
});

test('ring buffer async iterator yields records and counts discarded ones', { skip: skipWithoutKernel() }, async (t) => {
  const ring = KernelMap.create({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, name: 'tsbpf_ring2' });
  t.after(() => ring.close());
  // Reserve two records: discard the first, submit the second.
  const body = [
    ...lddw(1, ring.fd, LdImm64Src.MAP_FD), mov64Imm(2, 8), mov64Imm(3, 0), callHelper(BPF_FUNC_ringbuf_reserve),
    jmpImm(JmpOp.JEQ, 0, 0, 3), mov64Reg(1, 0), mov64Imm(2, 0), callHelper(BPF_FUNC_ringbuf_discard),
    ...lddw(1, ring.fd, LdImm64Src.MAP_FD), mov64Imm(2, 8), mov64Imm(3, 0), callHelper(BPF_FUNC_ringbuf_reserve),
    jmpImm(JmpOp.JEQ, 0, 0, 4), st(Size.DW, 0, 0, 77), mov64Reg(1, 0), mov64Imm(2, 0), callHelper(BPF_FUNC_ringbuf_submit),
  ];
  const program = KernelProgram.load({ type: ProgramType.TRACEPOINT, name: 'tsbpf_ring2', instructions: onlyInProcess(process.pid, body) });
  t.after(() => program.close());
  const link = attachTracepoint(program, 'syscalls', 'sys_enter_getppid');
  t.after(() => link.close());
  const reader = new RingBufferReader(ring);
  t.after(() => reader.close());
  setTimeout(() => { for (let i = 0; i < 4; i++) void process.ppid; }, 20);
  const values: bigint[] = [];
  for await (const record of reader) {
    values.push(new DataView(record.buffer, record.byteOffset, 8).getBigUint64(0, true));
    if (values.length === 4) break;
  }
  assert.deepEqual(values, [77n, 77n, 77n, 77n]);
  assert.equal(reader.discarded, 4);
});

test('perf event array samples arrive with their bytes; a full ring reports exactly the samples the program failed to write', { skip: skipWithoutKernel() }, async (t) => {
  const events = KernelMap.create({ type: MapType.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: 64, name: 'tsbpf_perf' });
  t.after(() => events.close());
  const outcomes = counterMap(t); // slot 0: outputs written, slot 1: outputs refused (ring full)
  // Output 16 bytes from the stack: (0xfeed, 0x1234), then count the helper's verdict.
  const countWritten = incrementMapSlot(outcomes, 0);
  const countRefused = incrementMapSlot(outcomes, 1);
  const body = [
    st(Size.DW, 10, -16, 0xfeed),
    st(Size.DW, 10, -8, 0x1234),
    mov64Reg(1, 6),
    ...lddw(2, events.fd, LdImm64Src.MAP_FD),
    ...lddw(3, BPF_F_CURRENT_CPU),
    mov64Reg(4, 10),
    alu64Imm(AluOp.ADD, 4, -16),
    mov64Imm(5, 16),
    callHelper(BPF_FUNC_perf_event_output),
    jmpImm(JmpOp.JNE, 0, 0, countWritten.length + 1),
    ...countWritten,
    jmpImm(JmpOp.JA, 0, 0, countRefused.length),
    ...countRefused,
  ];
  const program = KernelProgram.load({ type: ProgramType.TRACEPOINT, name: 'tsbpf_perfout', instructions: onlyInProcess(process.pid, body) });
  t.after(() => program.close());
  const link = attachTracepoint(program, 'syscalls', 'sys_enter_getppid');
  t.after(() => link.close());
  const reader = new PerfEventArrayReader(events, { pagesPerCpu: 4 });
  t.after(() => reader.close());
  // Stay on one CPU: the kernel reports a ring's losses before the next sample that fits in that same ring.
  const affinity = sysGetAffinity();
  const cpu0 = new Uint8Array(affinity.length);
  cpu0[0] = 1;
  sysSetAffinity(cpu0);
  t.after(() => sysSetAffinity(affinity));

  for (let i = 0; i < 20; i++) void process.ppid;
  assert.equal(await reader.wait(1000), true);
  const samples: Array<[number, bigint, bigint]> = [];
  reader.poll(({ cpu, data }) => {
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    samples.push([cpu, v.getBigUint64(0, true), v.getBigUint64(8, true)]);
  });
  assert.equal(samples.length, 20);
  assert.ok(samples.every(([cpu, a, b]) => cpu === 0 && a === 0xfeedn && b === 0x1234n));
  assert.equal(reader.lost, 0);

  // Overflow the 4-page ring without reading it.
  for (let i = 0; i < 2000; i++) void process.ppid;
  let got = samples.length;
  reader.poll(() => got++);
  void process.ppid; // a sample that fits: the kernel writes PERF_RECORD_LOST before it
  reader.poll(() => got++);
  const written = readU64(outcomes.lookup(u32(0)));
  const refused = readU64(outcomes.lookup(u32(1)));
  assert.equal(written + refused, 2021n);
  assert.ok(refused > 0n, 'the ring overflowed');
  assert.equal(BigInt(got), written);
  assert.equal(BigInt(reader.lost), refused);
});
