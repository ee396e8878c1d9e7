/**
 * Fuzzing of the compiler, the checker, the classic interpreter and the
 * eBPF conversion: whatever the input, only FilterSyntaxError or
 * CbpfCheckError escapes, and every program the checker accepts runs to
 * an end with the same result on the classic interpreter and, converted,
 * on the VM's interpreter, its JIT and as an XDP program.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CbpfCheckError, CbpfParseError, CbpfProgram, checkCbpf, compileFilter, convertCbpf, FilterSyntaxError, formatCbpf, PacketFilter, parseCbpf, type CbpfInstruction } from '../../src/cbpf/index.ts';
import { Alu, Class, Jmp, Misc, Mode, RetSrc, Size, Src } from '../../src/cbpf/opcodes.ts';
import { VmProgram } from '../../src/vm/index.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { generateExpressions, HANDWRITTEN } from './expressions.ts';
import { buildTraffic } from './traffic.ts';

const PIECES = ['host', 'net', 'port', 'portrange', 'src', 'dst', 'and', 'or', 'not', '!', '(', ')', '[', ']', ':', 'tcp', 'udp', 'ip', 'ip6', 'ether', 'vlan', 'mpls', 'len', 'less', 'greater',
  '10.0.0.1', '10.0', '::1', '2001:db8::/32', '1:2:3:4:5:6', '0x10', '99999', '4294967296', '-', '+', '*', '/', '%', '&', '|', '^', '<<', '>>', '=', '!=', '>', '<', '>=', '<=', '\\tcp', 'proto',
  'broadcast', 'multicast', 'mask', '255.0.0.0', '/', '8', 'tcpflags', 'tcp-syn', 'http', 'foo', '1000-2000', 'gateway', 'protochain', '$', '"', ' '];

test('the compiler: only FilterSyntaxError escapes, and what compiles passes the checker', () => {
  const rand = seededRandom(fuzzSeed(1401));
  const seeds = [...HANDWRITTEN, ...generateExpressions(50, 3)];
  let compiled = 0;
  for (let i = 0; i < 3000; i++) {
    let expression: string;
    if (i % 3 === 0) {
      expression = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => PIECES[Math.floor(rand() * PIECES.length)]).join(rand() < 0.8 ? ' ' : '');
    } else {
      // Mutate a valid expression: drop, duplicate or replace a character.
      const base = seeds[Math.floor(rand() * seeds.length)]!;
      const at = Math.floor(rand() * (base.length + 1));
      const mutation = Math.floor(rand() * 3);
      const c = String.fromCharCode(32 + Math.floor(rand() * 95));
      expression = mutation === 0 ? base.slice(0, at) + base.slice(at + 1) : mutation === 1 ? base.slice(0, at) + c + base.slice(at) : base.slice(0, at) + c + base.slice(at + 1);
    }
    try {
      const program = compileFilter(expression, { linkType: rand() < 0.2 ? 101 : 1, optimize: rand() < 0.9 });
      checkCbpf(program);
      compiled++;
    } catch (error) {
      if (!(error instanceof FilterSyntaxError)) throw new Error(`'${expression}' threw ${String(error)}`, { cause: error });
      assert.ok(error.position >= 0 && error.position <= expression.length, `'${expression}': position ${error.position}`);
    }
  }
  assert.ok(compiled > 200, `only ${compiled} of 3000 inputs compiled: the fuzzer explores too little`);
});

const ALU_OPS = [Alu.ADD, Alu.SUB, Alu.MUL, Alu.DIV, Alu.MOD, Alu.AND, Alu.OR, Alu.XOR, Alu.LSH, Alu.RSH];
const JUMPS = [Jmp.JEQ, Jmp.JGT, Jmp.JGE, Jmp.JSET];

/** A random classic program, mostly well formed (forward jumps, a return at the end), sometimes not. */
function randomProgram(rand: () => number): CbpfInstruction[] {
  const n = 1 + Math.floor(rand() * 24);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const smallK = (): number => (rand() < 0.7 ? Math.floor(rand() * 80) : Math.floor(rand() * 2 ** 32));
  const program: CbpfInstruction[] = [];
  for (let i = 0; i < n; i++) {
    const left = n - i - 1;
    const r = Math.floor(rand() * 12);
    const j = (): number => (left > 0 ? Math.floor(rand() * left) : 0);
    let insn: CbpfInstruction;
    if (left === 0 || r === 0) insn = { code: Class.RET | (rand() < 0.7 ? RetSrc.K : RetSrc.A), jt: 0, jf: 0, k: rand() < 0.5 ? 0 : smallK() };
    else if (r <= 2) insn = { code: Class.LD | pick([Mode.ABS, Mode.IND]) | pick([Size.W, Size.H, Size.B]), jt: 0, jf: 0, k: smallK() };
    else if (r === 3) insn = { code: pick([Class.LD | Mode.IMM, Class.LDX | Mode.IMM, Class.LD | Size.W | Mode.LEN, Class.LDX | Size.W | Mode.LEN, Class.LDX | Mode.MSH | Size.B]), jt: 0, jf: 0, k: smallK() };
    else if (r === 4) insn = { code: pick([Class.ST, Class.STX, Class.LD | Mode.MEM, Class.LDX | Mode.MEM]), jt: 0, jf: 0, k: Math.floor(rand() * 17) };
    else if (r <= 7) insn = { code: Class.ALU | pick(ALU_OPS) | pick([Src.K, Src.X]), jt: 0, jf: 0, k: rand() < 0.5 ? Math.floor(rand() * 40) : smallK() };
    else if (r === 8) insn = { code: pick([Class.ALU | Alu.NEG, Class.MISC | Misc.TAX, Class.MISC | Misc.TXA]), jt: 0, jf: 0, k: 0 };
    else if (r === 9) insn = { code: Class.JMP | Jmp.JA, jt: 0, jf: 0, k: j() };
    else if (r === 10) insn = { code: Class.JMP | pick(JUMPS) | pick([Src.K, Src.X]), jt: j(), jf: j(), k: smallK() };
    else insn = { code: Math.floor(rand() * 0x10000), jt: Math.floor(rand() * 256), jf: Math.floor(rand() * 256), k: smallK() };
    program.push(insn);
  }
  return program;
}

test('checker, interpreter and eBPF conversion: only CbpfCheckError escapes, and the engines agree', () => {
  const rand = seededRandom(fuzzSeed(1402));
  const packets = buildTraffic({ seed: 11, count: 40 }).map((p) => p.data);
  let accepted = 0;
  for (let i = 0; i < 1500; i++) {
    const program = randomProgram(rand);
    let classic: CbpfProgram;
    try {
      classic = new CbpfProgram(program);
    } catch (error) {
      if (!(error instanceof CbpfCheckError)) throw error;
      assert.throws(() => convertCbpf(program), CbpfCheckError);
      continue;
    }
    accepted++;
    const engines = [new PacketFilter(program, 'interpreter'), ...(i % 10 === 0 ? [new PacketFilter(program, 'jit')] : [])];
    const xdp = i % 5 === 0 ? new VmProgram(ProgramType.XDP, convertCbpf(program, 'xdp')) : undefined;
    for (const data of packets.slice(0, 12)) {
      const expected = classic.run(data);
      for (const engine of engines) assert.equal(engine.run(data), expected, `${engine.engine} on\n${formatCbpf(program)}`);
      if (xdp !== undefined && data.length >= 14) assert.equal(xdp.run({ data }).retval, expected !== 0 ? 2 : 1, `xdp on\n${formatCbpf(program)}`);
    }
    for (const engine of engines) engine.close();
    xdp?.close();
  }
  assert.ok(accepted > 200, `only ${accepted} random programs passed the checker`);
});

test('the -dd/-ddd reader: only CbpfParseError escapes', () => {
  const rand = seededRandom(fuzzSeed(1403));
  const program = compileFilter('tcp port 80 or udp');
  const texts = [formatCbpf(program, 'dd'), formatCbpf(program, 'ddd')];
  for (let i = 0; i < 2000; i++) {
    const base = texts[i % 2]!;
    const at = Math.floor(rand() * base.length);
    const text = base.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + base.slice(at + 1 + Math.floor(rand() * 3));
    try {
      const parsed = parseCbpf(text);
      try {
        checkCbpf(parsed);
      } catch (error) {
        if (!(error instanceof CbpfCheckError)) throw error;
      }
    } catch (error) {
      if (!(error instanceof CbpfParseError)) throw error;
    }
  }
});
