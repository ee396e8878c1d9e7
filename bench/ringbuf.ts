/**
 * Ring buffer throughput: a tracepoint program on sys_enter_getppid writes a
 * 64-byte record per call made by a C child spinning on getppid(); Node
 * consumes the records with RingBufferReader. Reports consumed records per
 * second and the records the program could not reserve (ring full), which
 * it counts in a map: nothing is lost silently.
 *
 *   node --import tsx bench/ringbuf.ts [seconds=3] [ringMiB=16]
 *
 * Needs root, gcc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AluOp, AtomicOp, JmpOp, LdImm64Src, Size } from '../src/isa/opcodes.ts';
import { alu64Imm, atomic, callHelper, exit, jmpImm, lddw, mov64Imm, mov64Reg, st, stx } from '../src/isa/instruction.ts';
import { KernelMap } from '../src/kernel/map.ts';
import { KernelProgram } from '../src/kernel/program.ts';
import { attachTracepoint } from '../src/kernel/link.ts';
import { RingBufferReader } from '../src/kernel/ringbuf.ts';
import { MapType, ProgramType } from '../src/uapi/enums.ts';

if (process.platform !== 'linux' || process.getuid?.() !== 0) {
  console.log('ringbuf bench skipped: needs Linux and root (bpf(), perf_event_open)');
  process.exit(0);
}

const seconds = Number(process.argv[2] ?? 3);
const ringBytes = Number(process.argv[3] ?? 16) * 1024 * 1024;
const RECORD = 64;
const HELPER = { mapLookup: 1, pidTgid: 14, ringbufReserve: 131, ringbufSubmit: 132 };

const dir = mkdtempSync(join(tmpdir(), 'tsbpf-bench-'));
writeFileSync(
  join(dir, 'spin.c'),
  `#include <unistd.h>
#include <sys/syscall.h>
#include <time.h>
int main(int argc, char **argv) {
  char go; if (read(0, &go, 1) != 1) return 1;
  struct timespec start, now; clock_gettime(CLOCK_MONOTONIC, &start);
  double limit = atof(argv[1]);
  for (;;) {
    for (int i = 0; i < 4096; i++) syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 > limit) return 0;
  }
}
`.replace('#include <time.h>', '#include <time.h>\n#include <stdlib.h>'),
);
execFileSync('gcc', ['-O2', '-o', join(dir, 'spin'), join(dir, 'spin.c')]);

interface Setup {
  child: ReturnType<typeof spawn>;
  exited: Promise<void>;
  ring: KernelMap;
  counters: KernelMap;
  program: KernelProgram;
  link: ReturnType<typeof attachTracepoint>;
  reader: RingBufferReader;
}

/** Spawns the spinning child (waiting for a byte on stdin) and attaches a program writing a record per getppid() it makes. */
function setup(runSeconds: number, bytes: number, batchedWakeups: boolean): Setup {
  const child = spawn(join(dir, 'spin'), [String(runSeconds)], { stdio: ['pipe', 'inherit', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const ring = KernelMap.create({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: bytes, name: 'tsbpf_bench_rb' });
  // slot 0: records submitted, slot 1: reserve failures (ring full)
  const counters = KernelMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, name: 'tsbpf_bench_ct' });
  const increment = (slot: number) => [
    st(Size.W, 10, -4, slot),
    mov64Reg(2, 10),
    alu64Imm(AluOp.ADD, 2, -4),
    ...lddw(1, counters.fd, LdImm64Src.MAP_FD),
    callHelper(HELPER.mapLookup),
    jmpImm(JmpOp.JEQ, 0, 0, 2),
    mov64Imm(1, 1),
    atomic(Size.DW, AtomicOp.ADD, 0, 0, 1),
  ];
  // Record fields, then bump the submitted counter; with batched wakeups its old value picks the submit flags:
  // BPF_RB_FORCE_WAKEUP (2) every 1024th record, BPF_RB_NO_WAKEUP (1) otherwise. Adaptive: flags 0.
  const flags = batchedWakeups
    ? [
        jmpImm(JmpOp.JEQ, 0, 0, 7),
        mov64Imm(1, 1),
        atomic(Size.DW, AtomicOp.ADD | AtomicOp.FETCH, 0, 0, 1),
        alu64Imm(AluOp.AND, 1, 1023),
        mov64Imm(2, 1),
        jmpImm(JmpOp.JNE, 1, 0, 1),
        mov64Imm(2, 2),
        jmpImm(JmpOp.JA, 0, 0, 1),
        mov64Imm(2, 0),
      ]
    : [jmpImm(JmpOp.JEQ, 0, 0, 2), mov64Imm(1, 1), atomic(Size.DW, AtomicOp.ADD, 0, 0, 1), mov64Imm(2, 0)];
  const submit = [
    mov64Reg(8, 0),
    stx(Size.DW, 8, 0, 7), // pid_tgid
    st(Size.DW, 8, 8, 0x64),
    st(Size.DW, 8, 56, 0x7a11),
    st(Size.W, 10, -4, 0),
    mov64Reg(2, 10),
    alu64Imm(AluOp.ADD, 2, -4),
    ...lddw(1, counters.fd, LdImm64Src.MAP_FD),
    callHelper(HELPER.mapLookup),
    ...flags,
    mov64Reg(1, 8),
    callHelper(HELPER.ringbufSubmit),
    mov64Imm(0, 0),
    exit(),
  ];
  const program = KernelProgram.load({
    type: ProgramType.TRACEPOINT,
    name: 'tsbpf_bench',
    instructions: [
      callHelper(HELPER.pidTgid),
      mov64Reg(7, 0),
      alu64Imm(AluOp.RSH, 0, 32),
      jmpImm(JmpOp.JNE, 0, child.pid!, 6 + submit.length + 9), // other processes: to the final r0 = 0
      ...lddw(1, ring.fd, LdImm64Src.MAP_FD),
      mov64Imm(2, RECORD),
      mov64Imm(3, 0),
      callHelper(HELPER.ringbufReserve),
      jmpImm(JmpOp.JEQ, 0, 0, submit.length),
      ...submit,
      ...increment(1),
      mov64Imm(0, 0),
      exit(),
    ],
  });
  const link = attachTracepoint(program, 'syscalls', 'sys_enter_getppid');
  return { child, exited, ring, counters, program, link, reader: new RingBufferReader(ring) };
}

function teardown(s: Setup): { submitted: bigint; dropped: bigint } {
  const count = (slot: number): bigint => new DataView(s.counters.lookup(new Uint8Array(new Uint32Array([slot]).buffer))!.buffer).getBigUint64(0, true);
  const result = { submitted: count(0), dropped: count(1) };
  s.reader.close();
  s.link.close();
  s.program.close();
  s.ring.close();
  s.counters.close();
  return result;
}

let consumed = 0;
let corrupt = 0;
const onRecord = (record: Uint8Array): void => {
  consumed++;
  if (record.length !== RECORD || record[8] !== 0x64 || record[56] !== 0x11) corrupt++;
};

// Phase 1: producer and consumer together, with the kernel's adaptive wakeups and then with batched ones.
for (const batched of [false, true]) {
  consumed = 0;
  corrupt = 0;
  const live = setup(seconds, ringBytes, batched);
  let childDone = false;
  void live.exited.then(() => (childDone = true));
  const start = process.hrtime.bigint();
  live.child.stdin!.write('g');
  while (!childDone) {
    // With batched wakeups up to 1023 records may wait without a wakeup: a short timeout bounds their latency.
    if (live.reader.poll(onRecord) === 0) await live.reader.wait(batched ? 5 : 50);
  }
  live.reader.poll(onRecord); // what is left after the producer stopped
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const { submitted, dropped } = teardown(live);
  const rate = consumed / elapsed;
  console.log(`${batched ? 'batched wakeups (NO_WAKEUP, FORCE_WAKEUP every 1024th)' : 'adaptive wakeups (submit flags 0)'}: ring ${ringBytes / 1048576} MiB, ${RECORD}-byte records, ${elapsed.toFixed(2)} s`);
  console.log(`  consumed ${consumed} records: ${(rate / 1e6).toFixed(2)} M records/s (${((rate * RECORD) / 1048576).toFixed(0)} MiB/s); submitted ${submitted}, reserve failures (ring full, counted) ${dropped}, corrupt ${corrupt}`);
  if (BigInt(consumed) !== submitted) {
    console.error(`  MISMATCH: consumed ${consumed} != submitted ${submitted}`);
    process.exitCode = 1;
  }
}

// Phase 2: the consumer alone, draining a ring filled while it was paused, with each of the reader's APIs.
const submittedSoFar = (s: Setup): number => Number(new DataView(s.counters.lookup(new Uint8Array(4))!.buffer).getBigUint64(0, true));
for (const api of ['poll', 'consume', 'async iterator'] as const) {
  const filled = setup(0.3, 64 * 1024 * 1024, true);
  filled.child.stdin!.write('g');
  await filled.exited;
  const expected = submittedSoFar(filled);
  consumed = 0;
  corrupt = 0;
  const drainStart = process.hrtime.bigint();
  if (api === 'poll') {
    while (filled.reader.poll(onRecord) > 0);
  } else if (api === 'consume') {
    await filled.reader.consume((record) => {
      onRecord(record);
      if (consumed === expected) filled.reader.close();
    });
  } else {
    for await (const record of filled.reader) {
      onRecord(record);
      if (consumed === expected) break;
    }
  }
  const drainSeconds = Number(process.hrtime.bigint() - drainStart) / 1e9;
  const drained = teardown(filled);
  console.log(`consumer alone (${api}): drained ${consumed} records in ${(drainSeconds * 1000).toFixed(0)} ms: ${(consumed / drainSeconds / 1e6).toFixed(2)} M records/s (submitted ${drained.submitted}, reserve failures ${drained.dropped}, corrupt ${corrupt})`);
  if (BigInt(consumed) !== drained.submitted) process.exitCode = 1;
}
rmSync(dir, { recursive: true, force: true });
