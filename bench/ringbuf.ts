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

const child = spawn(join(dir, 'spin'), [String(seconds)], { stdio: ['pipe', 'inherit', 'inherit'] });
const ring = KernelMap.create({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: ringBytes, name: 'tsbpf_bench_rb' });
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
const submit = [
  mov64Reg(1, 0),
  stx(Size.DW, 1, 0, 7), // pid_tgid
  st(Size.DW, 1, 8, 0x64),
  st(Size.DW, 1, 56, 0x7a11),
  mov64Imm(2, 0),
  callHelper(HELPER.ringbufSubmit),
  ...increment(0),
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
const reader = new RingBufferReader(ring);

let consumed = 0;
let corrupt = 0;
const onRecord = (record: Uint8Array): void => {
  consumed++;
  if (record.length !== RECORD || record[8] !== 0x64 || record[56] !== 0x11) corrupt++;
};
const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
let childDone = false;
void exited.then(() => (childDone = true));

const start = process.hrtime.bigint();
child.stdin.write('g');
while (!childDone) {
  if (reader.poll(onRecord) === 0) await reader.wait(50);
}
reader.poll(onRecord); // what is left after the producer stopped
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
const count = (slot: number): bigint => new DataView(counters.lookup(new Uint8Array(new Uint32Array([slot]).buffer))!.buffer).getBigUint64(0, true);
const submitted = count(0);
const dropped = count(1);

reader.close();
link.close();
program.close();
ring.close();
counters.close();
rmSync(dir, { recursive: true, force: true });

const rate = consumed / elapsed;
console.log(`ring buffer ${ringBytes / 1048576} MiB, ${RECORD}-byte records, ${elapsed.toFixed(2)} s`);
console.log(`consumed ${consumed} records: ${(rate / 1e6).toFixed(2)} M records/s (${((rate * RECORD) / 1048576).toFixed(0)} MiB/s)`);
console.log(`submitted by the program ${submitted}, reserve failures (ring full, counted) ${dropped}, corrupt ${corrupt}`);
if (BigInt(consumed) !== submitted) {
  console.error(`MISMATCH: consumed ${consumed} != submitted ${submitted}`);
  process.exitCode = 1;
}
