import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AluOp, InsnClass, JmpOp, Mode, Size } from '../../src/isa/opcodes.ts';
import { type Instruction, alu64Imm, exit, insn, jmpImm, jmpReg, ldx, mov64Imm, mov64Reg, st, stx } from '../../src/isa/instruction.ts';
import { decode } from '../../src/isa/encoding.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { programXlated, listIds } from '../../src/kernel/info.ts';
import { BpfSyscallError, ClosedError } from '../../src/kernel/errors.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from './support.ts';

checkNoKernelLeaks();
const kernel = { skip: skipWithoutKernel() };

const XDP_DROP = 1;
const XDP_PASS = 2;
const XDP_TX = 3;
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;

/** An Ethernet + IPv4 + UDP frame to `port` with `payload`. Checksums are irrelevant for test runs. */
function udpFrame(port: number, payload = new Uint8Array(16)): Uint8Array {
  const frame = new Uint8Array(14 + 20 + 8 + payload.length);
  const v = new DataView(frame.buffer);
  frame.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2], 0);
  v.setUint16(12, 0x0800);
  frame[14] = 0x45;
  v.setUint16(16, 20 + 8 + payload.length);
  frame[22] = 64; // TTL
  frame[23] = 17; // UDP
  frame.set([10, 0, 0, 1, 10, 0, 0, 2], 26);
  v.setUint16(34, 40000);
  v.setUint16(36, port);
  v.setUint16(38, 8 + payload.length);
  frame.set(payload, 42);
  return frame;
}

/**
 * Packet program body: r2 = data, r3 = data_end (loaded by the caller);
 * returns `match` when the UDP destination port is `port` (after writing
 * 0xee at byte `markOffset`), else `other`.
 */
function portFilter(port: number, match: number, other: number, markOffset?: number): Instruction[] {
  const mark = markOffset === undefined ? [] : [st(Size.B, 2, markOffset, 0xee)];
  const portBigEndian = ((port & 0xff) << 8) | (port >> 8);
  const onMatch = [...mark, mov64Imm(0, match), exit()];
  const compare = [ldx(Size.H, 5, 2, 36), jmpImm(JmpOp.JNE, 5, portBigEndian, onMatch.length)];
  return [
    mov64Reg(4, 2),
    alu64Imm(AluOp.ADD, 4, 42),
    jmpReg(JmpOp.JGT, 4, 3, compare.length + onMatch.length), // frame shorter than the UDP header: other
    ...compare,
    ...onMatch,
    mov64Imm(0, other),
    exit(),
  ];
}

test('XDP test-run: drop UDP to one port, pass others, rewrite and bounce (XDP_TX)', kernel, (t) => {
  const dropper = KernelProgram.load({
    type: ProgramType.XDP,
    name: 'tsbpf_xdp_drop',
    instructions: [ldx(Size.W, 2, 1, 0), ldx(Size.W, 3, 1, 4), ...portFilter(9999, XDP_DROP, XDP_PASS)],
  });
  t.after(() => dropper.close());
  assert.equal(dropper.run({ data: udpFrame(9999) }).retval, XDP_DROP);
  assert.equal(dropper.run({ data: udpFrame(53) }).retval, XDP_PASS);
  assert.equal(dropper.run({ data: udpFrame(9999).subarray(0, 40) }).retval, XDP_PASS, 'a truncated frame fails the bounds check');

  const bouncer = KernelProgram.load({
    type: ProgramType.XDP,
    name: 'tsbpf_xdp_tx',
    instructions: [ldx(Size.W, 2, 1, 0), ldx(Size.W, 3, 1, 4), ...portFilter(7, XDP_TX, XDP_PASS, 0)],
  });
  t.after(() => bouncer.close());
  const result = bouncer.run({ data: udpFrame(7), repeat: 100 });
  assert.equal(result.retval, XDP_TX);
  assert.equal(result.data?.[0], 0xee, 'the program rewrote the first byte');
  assert.deepEqual(result.data?.subarray(1), udpFrame(7).subarray(1));
  assert.ok(result.durationNs >= 0);
});

test('TC (SCHED_CLS) test-run: shoot one port after marking it, accept others', kernel, (t) => {
  const program = KernelProgram.load({
    type: ProgramType.SCHED_CLS,
    name: 'tsbpf_tc',
    // __sk_buff.data at 76, data_end at 80
    instructions: [ldx(Size.W, 2, 1, 76), ldx(Size.W, 3, 1, 80), ...portFilter(4242, TC_ACT_SHOT, TC_ACT_OK, 22)],
  });
  t.after(() => program.close());
  const shot = program.run({ data: udpFrame(4242) });
  assert.equal(shot.retval, TC_ACT_SHOT);
  assert.equal(shot.data?.[22], 0xee, 'TTL byte overwritten');
  const ok = program.run({ data: udpFrame(80) });
  assert.equal(ok.retval, TC_ACT_OK);
  assert.deepEqual(ok.data, udpFrame(80));
});

test('socket filter test-run: keep TCP, drop UDP (LD_ABS on the IP protocol byte)', kernel, (t) => {
  const ldAbsB = (offset: number) => insn(InsnClass.LD | Mode.ABS | Size.B, 0, 0, 0, offset);
  const program = KernelProgram.load({
    type: ProgramType.SOCKET_FILTER,
    name: 'tsbpf_sockf',
    instructions: [mov64Reg(6, 1), ldAbsB(9), jmpImm(JmpOp.JEQ, 0, 17, 2), mov64Imm(0, 0xffff), exit(), mov64Imm(0, 0), exit()],
  });
  t.after(() => program.close());
  assert.equal(program.run({ data: udpFrame(53) }).retval, 0);
  const tcp = udpFrame(80);
  tcp[23] = 6;
  assert.equal(program.run({ data: tcp }).retval, 0xffff);
});

test('verifier rejection carries the log tail in the message and the whole log', kernel, () => {
  const filler = Array.from({ length: 30 }, (_, i) => mov64Imm(i % 5 + 1, i));
  let caught: unknown;
  try {
    KernelProgram.load({ type: ProgramType.XDP, name: 'tsbpf_bad', instructions: [...filler, stx(Size.DW, 10, -8, 9), mov64Imm(0, 0), exit()] });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof BpfSyscallError);
  assert.equal(caught.code, 'EACCES');
  assert.equal(caught.command, 'PROG_LOAD');
  assert.match(caught.message, /R9 !read_ok/);
  assert.match(caught.message, /failed: EACCES: the verifier rejected the program/);
  // The verifier's verdict is no permission problem: no capability or kernel-policy advice.
  assert.doesNotMatch(caught.message, /refused although|lockdown|CAP_BPF/);
  assert.match(caught.message, /last 8 of \d+ lines/);
  assert.ok(caught.log && caught.log.split('\n').length > 30 && caught.log.includes('0: R1=ctx()'));
  assert.ok(!caught.message.includes('0: R1=ctx()'), 'the message only shows the tail');
});

test('log level 2 with a tiny buffer grows and retries until the whole log fits', kernel, (t) => {
  const program = KernelProgram.load({
    type: ProgramType.XDP,
    name: 'tsbpf_log2',
    instructions: [...Array.from({ length: 40 }, (_, i) => mov64Imm(1, i)), mov64Imm(0, XDP_PASS), exit()],
    logLevel: 2,
    logSize: 256,
  });
  t.after(() => program.close());
  assert.match(program.verifierLog, /processed 42 insns/);
  assert.ok(program.verifierLog.length > 256);
  assert.equal(program.stats.verifiedInstructions, 42);
  assert.ok(program.stats.logTrueSize >= program.verifierLog.length);
});

test('xlated instructions come back from the kernel', kernel, (t) => {
  const program = KernelProgram.load({ type: ProgramType.XDP, name: 'tsbpf_xl', instructions: [mov64Imm(0, XDP_PASS), exit()] });
  t.after(() => program.close());
  const insns = decode(programXlated(program.fd));
  assert.equal(insns.length, 2);
  assert.equal(insns[0]?.imm, XDP_PASS);
  const info = program.info();
  assert.equal(info.name, 'tsbpf_xl');
  assert.ok(listIds('prog').includes(info.id));
  assert.equal(info.tag.length, 16);
});

test('bad input: unknown program type, empty program, closed program', kernel, () => {
  assert.throws(
    () => KernelProgram.load({ type: 999, instructions: [mov64Imm(0, 0), exit()] }),
    (e: unknown) => e instanceof BpfSyscallError && e.code === 'EINVAL' && /unknown program type 999/.test(e.message),
  );
  assert.throws(() => KernelProgram.load({ type: ProgramType.XDP, instructions: [] }), /has no instructions/);
  const program = KernelProgram.load({ type: ProgramType.XDP, name: 'tsbpf_closed', instructions: [mov64Imm(0, 0), exit()] });
  program.close();
  program.close();
  assert.throws(() => program.run({ data: new Uint8Array(64) }), (e: unknown) => e instanceof ClosedError && /XDP program 'tsbpf_closed' is closed/.test(e.message));
  const tp = KernelProgram.load({ type: ProgramType.TRACEPOINT, name: 'tsbpf_notrun', instructions: [mov64Imm(0, 0), exit()] });
  try {
    assert.throws(() => tp.run(), (e: unknown) => e instanceof BpfSyscallError && e.command === 'PROG_TEST_RUN');
  } finally {
    tp.close();
  }
});
