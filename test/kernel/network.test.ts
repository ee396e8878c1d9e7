import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { test } from 'node:test';
import dgram from 'node:dgram';
import { AluOp, AtomicOp, JmpOp, LdImm64Src, Size } from '../../src/isa/opcodes.ts';
import { type Instruction, alu64Imm, atomic, callHelper, exit, jmpImm, jmpReg, lddw, ldx, mov64Imm, mov64Reg, st, stx } from '../../src/isa/instruction.ts';
import { KernelMap } from '../../src/kernel/map.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { attachCgroup, attachCgroupLegacy, attachSocketFilter, attachTcx, attachXdp, cgroup2Mount, resolveInterface } from '../../src/kernel/link.ts';
import { withNetworkNamespace } from '../../src/kernel/netns.ts';
import { BpfSyscallError, ClosedError, KernelArgumentError } from '../../src/kernel/errors.ts';
import { OwnedFd } from '../../src/kernel/fd.ts';
import { sysBind, sysRead, sysSocket } from '../../src/kernel/ffi.ts';
import { AttachType, MapType, ProgramType } from '../../src/uapi/enums.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks, countingProgram, incrementMapSlot, readU64, u32 } from './support.ts';

checkNoKernelLeaks();
const kernel = { skip: skipWithoutKernel() };

const BPF_FUNC_map_lookup_elem = 1;
const XDP_DROP = 1;
const XDP_PASS = 2;

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Two namespaces joined by a veth pair, 10.199.<n>.1 (a, side va) and 10.199.<n>.2 (b, side vb). */
function vethPair(t: { after: (fn: () => void) => void }): { a: string; b: string; addressB: string } {
  const n = process.pid % 200;
  const a = `tsbpf_a${process.pid}`;
  const b = `tsbpf_b${process.pid}`;
  t.after(() => {
    for (const ns of [a, b]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  ip('-n', a, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b);
  ip('-n', a, 'addr', 'add', `10.199.${n}.1/24`, 'dev', 'va');
  ip('-n', b, 'addr', 'add', `10.199.${n}.2/24`, 'dev', 'vb');
  for (const [ns, dev] of [[a, 'va'], [b, 'vb'], [a, 'lo'], [b, 'lo']] as const) ip('-n', ns, 'link', 'set', dev, 'up');
  return { a, b, addressB: `10.199.${n}.2` };
}

/** XDP: count packets per UDP destination port (hash u16 -> u64), drop port `dropPort`. */
function xdpPortCounter(counts: KernelMap, dropPort: number): Instruction[] {
  const be = (p: number): number => ((p & 0xff) << 8) | (p >> 8);
  const tail: Instruction[] = [
    // counts[port] += 1 (the test pre-seeds the ports it sends to)
    mov64Reg(2, 10),
    alu64Imm(AluOp.ADD, 2, -4),
    ...lddw(1, counts.fd, LdImm64Src.MAP_FD),
    callHelper(BPF_FUNC_map_lookup_elem),
    jmpImm(JmpOp.JEQ, 0, 0, 2),
    mov64Imm(1, 1),
    atomic(Size.DW, AtomicOp.ADD, 0, 0, 1),
    jmpImm(JmpOp.JNE, 6, be(dropPort), 2),
    mov64Imm(0, XDP_DROP),
    exit(),
    mov64Imm(0, XDP_PASS),
    exit(),
  ];
  const head: Instruction[] = [
    ldx(Size.W, 2, 1, 0),
    ldx(Size.W, 3, 1, 4),
    mov64Reg(4, 2),
    alu64Imm(AluOp.ADD, 4, 42),
    jmpReg(JmpOp.JGT, 4, 3, 4), // not a full UDP/IPv4 frame: pass
    ldx(Size.B, 5, 2, 23),
    jmpImm(JmpOp.JNE, 5, 17, 2), // not UDP: pass
    ldx(Size.H, 6, 2, 36),
    jmpImm(JmpOp.JA, 0, 0, 2),
    mov64Imm(0, XDP_PASS),
    exit(),
    st(Size.W, 10, -4, 0),
    stx(Size.H, 10, -4, 6),
  ];
  return [...head, ...tail];
}

async function receiveInNamespace(ns: string, address: string, ports: number[], send: () => void): Promise<Record<number, number>> {
  const script = `
    const dgram = require('dgram'); const counts = {}; let bound = 0;
    for (const p of ${JSON.stringify(ports)}) {
      const s = dgram.createSocket('udp4');
      s.on('message', () => { counts[p] = (counts[p] || 0) + 1; });
      s.bind(p, '${address}', () => { if (++bound === ${ports.length}) console.log('ready'); });
    }
    process.stdin.on('data', () => {}); process.stdin.on('end', () => { console.log(JSON.stringify(counts)); process.exit(0); });`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  const ready = new Promise<void>((resolve) => child.stdout.on('data', (chunk: string) => {
    output += chunk;
    if (output.includes('ready')) resolve();
  }));
  await ready;
  send();
  await new Promise((resolve) => setTimeout(resolve, 200));
  child.stdin.end();
  await once(child, 'exit');
  return JSON.parse(output.slice(output.indexOf('ready') + 5).trim()) as Record<number, number>;
}

function sendFromNamespace(ns: string, address: string, ports: number[], perPort: number): void {
  const script = `
    const dgram = require('dgram'); const s = dgram.createSocket('udp4'); let pending = 0;
    for (const p of ${JSON.stringify(ports)}) for (let i = 0; i < ${perPort}; i++) { pending++; s.send('hello', p, '${address}', () => { if (--pending === 0) s.close(); }); }`;
  execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: 'inherit' });
}

test('XDP on a veth between two namespaces drops UDP to one port and passes the rest; tcx counts egress', kernel, async (t) => {
  const { a, b, addressB } = vethPair(t);
  const counts = KernelMap.create({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 8, name: 'tsbpf_ports' });
  t.after(() => counts.close());
  const be = (p: number): number => ((p & 0xff) << 8) | (p >> 8);
  for (const port of [7001, 7002]) counts.update(u32(be(port)), new Uint8Array(8));
  const xdp = KernelProgram.load({ type: ProgramType.XDP, name: 'tsbpf_xdp_port', instructions: xdpPortCounter(counts, 7002) });
  t.after(() => xdp.close());
  const egress = KernelMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, name: 'tsbpf_egress' });
  t.after(() => egress.close());
  const tc = KernelProgram.load({ type: ProgramType.SCHED_CLS, name: 'tsbpf_tcx', instructions: countingProgram(egress, 0, 0 /* TCX_PASS */) });
  t.after(() => tc.close());

  const xdpLink = withNetworkNamespace(b, () => attachXdp(xdp, 'vb'));
  t.after(() => xdpLink.close());
  const tcxLink = withNetworkNamespace(a, () => attachTcx(tc, 'va', 'egress'));
  t.after(() => tcxLink.close());
  assert.match(xdpLink.description, /vb \(ifindex \d+\)/);

  const received = await receiveInNamespace(b, addressB, [7001, 7002], () => sendFromNamespace(a, addressB, [7001, 7002], 20));
  assert.equal(received[7001], 20, 'packets to 7001 pass');
  assert.equal(received[7002], undefined, 'packets to 7002 are dropped');
  assert.equal(readU64(counts.lookup(u32(be(7001)))), 20n);
  assert.equal(readU64(counts.lookup(u32(be(7002)))), 20n);
  assert.ok(readU64(egress.lookup(u32(0))) >= 40n, 'tcx egress saw every packet sent');
  assert.equal(xdpLink.info().details.ifindex, withNetworkNamespace(b, () => resolveInterface('vb').ifindex));

  // A detached link stays an object but cannot be used any more.
  xdpLink.detach();
  assert.throws(() => xdpLink.update(xdp), (e: unknown) => e instanceof BpfSyscallError && e.code === 'ENOLINK' && /detached/.test(e.message));
  xdpLink.close();
  xdpLink.close();
  assert.throws(() => xdpLink.update(xdp), ClosedError);
});

test('attaching to a missing interface names it', kernel, (t) => {
  const xdp = KernelProgram.load({ type: ProgramType.XDP, name: 'tsbpf_xdp_nope', instructions: [mov64Imm(0, XDP_PASS), exit()] });
  t.after(() => xdp.close());
  assert.throws(() => attachXdp(xdp, 'tsbpf_nope0'), (e: unknown) => e instanceof KernelArgumentError && /'tsbpf_nope0' does not exist/.test(e.message));
  assert.throws(() => attachXdp(xdp, 999999), (e: unknown) => e instanceof KernelArgumentError && /ifindex 999999 does not exist/.test(e.message));
  assert.throws(() => withNetworkNamespace('tsbpf_no_such_ns', () => 1), /network namespace 'tsbpf_no_such_ns' does not exist/);
  // Modes: generic works on any device; offload needs a NIC that supports it, and the error names the interface.
  const generic = attachXdp(xdp, 'lo', 'generic');
  assert.match(generic.description, /on lo \(ifindex 1\), generic mode/);
  generic.close();
  assert.throws(() => attachXdp(xdp, 'lo', 'offload'), (e: unknown) => e instanceof BpfSyscallError && /on lo \(ifindex 1\)/.test(e.message) && /offload mode/.test(e.message));
});

test('socket filter attached with SO_ATTACH_BPF drops large datagrams', kernel, async (t) => {
  const AF_INET = 2;
  const SOCK_DGRAM_NONBLOCK = 2 | 0o4000;
  const socket = new OwnedFd(sysSocket(AF_INET, SOCK_DGRAM_NONBLOCK, 0), 'socket');
  t.after(() => socket.close());
  const address = new Uint8Array(16);
  const port = 20000 + (process.pid % 20000);
  new DataView(address.buffer).setUint16(0, AF_INET, true);
  new DataView(address.buffer).setUint16(2, port, false);
  address.set([127, 0, 0, 1], 4);
  sysBind(socket.fd, address, `127.0.0.1:${port}`);
  // __sk_buff.len at offset 0: keep datagrams up to 40 bytes of skb, drop larger ones.
  const program = KernelProgram.load({
    type: ProgramType.SOCKET_FILTER,
    name: 'tsbpf_sf_len',
    instructions: [ldx(Size.W, 2, 1, 0), jmpImm(JmpOp.JGT, 2, 40, 2), mov64Imm(0, 0xffff), exit(), mov64Imm(0, 0), exit()],
  });
  t.after(() => program.close());
  const link = attachSocketFilter(program, socket.fd);
  t.after(() => link.close());
  const sender = dgram.createSocket('udp4');
  t.after(() => sender.close());
  for (const size of [4, 100, 8, 200]) {
    await new Promise<void>((resolve, reject) => sender.send(new Uint8Array(size), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  const sizes: number[] = [];
  const buffer = new Uint8Array(2048);
  for (let n = sysRead(socket.fd, buffer); n >= 0; n = sysRead(socket.fd, buffer)) sizes.push(n);
  assert.deepEqual(sizes, [4, 8]);
  link.close();
  await new Promise<void>((resolve, reject) => sender.send(new Uint8Array(300), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(sysRead(socket.fd, buffer), 300, 'after detaching, large datagrams arrive');
});

test('cgroup programs: count egress packets and deny socket creation for a child in a test cgroup', kernel, (t) => {
  const cgroup = join(cgroup2Mount(), `tsbpf_test_${process.pid}`);
  mkdirSync(cgroup);
  t.after(() => {
    if (existsSync(cgroup)) rmdirSync(cgroup);
  });
  const packets = KernelMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, name: 'tsbpf_cg_pkts' });
  t.after(() => packets.close());
  const egress = KernelProgram.load({
    type: ProgramType.CGROUP_SKB,
    expectedAttachType: AttachType.CGROUP_INET_EGRESS,
    name: 'tsbpf_cg_egress',
    instructions: [...incrementMapSlot(packets, 0), mov64Imm(0, 1), exit()],
  });
  t.after(() => egress.close());
  const egressLink = attachCgroup(egress, cgroup, AttachType.CGROUP_INET_EGRESS);
  t.after(() => egressLink.close());

  const inCgroup = (code: string): ReturnType<typeof spawnSync> =>
    spawnSync('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec "${process.execPath}" -e "${code}"`], { encoding: 'utf8' });
  const send = `const s = require('dgram').createSocket('udp4'); let n = 0; for (let i = 0; i < 5; i++) s.send('x', 9, '127.0.0.1', () => { if (++n === 5) s.close(); });`;
  assert.equal(inCgroup(send).status, 0);
  assert.ok(readU64(packets.lookup(u32(0))) >= 5n, 'egress packets of the child were counted');

  const deny = KernelProgram.load({
    type: ProgramType.CGROUP_SOCK,
    expectedAttachType: AttachType.CGROUP_INET_SOCK_CREATE,
    name: 'tsbpf_cg_deny',
    instructions: [mov64Imm(0, 0), exit()],
  });
  t.after(() => deny.close());
  const denyLink = attachCgroup(deny, cgroup, AttachType.CGROUP_INET_SOCK_CREATE);
  t.after(() => denyLink.close());
  // Prints 'bound' when the socket could be created, else the error code (exit 3).
  const createSocket = `require('dgram').createSocket('udp4').bind(0, function () { console.log('bound'); this.close(); }).on('error', (e) => { console.log(e.code); process.exit(3); });`;
  const expectDenied = (why: string): void => {
    const run = inCgroup(createSocket);
    assert.deepEqual([run.status, String(run.stdout).trim()], [3, 'EPERM'], why);
  };
  const expectAllowed = (why: string): void => {
    const run = inCgroup(createSocket);
    assert.deepEqual([run.status, String(run.stdout).trim()], [0, 'bound'], why);
  };
  expectDenied('denied through the link');
  denyLink.close();
  expectAllowed('allowed again after the link is closed');

  // The same through BPF_PROG_ATTACH / BPF_PROG_DETACH.
  const legacy = attachCgroupLegacy(deny, cgroup, AttachType.CGROUP_INET_SOCK_CREATE);
  t.after(() => legacy.close());
  expectDenied('denied through PROG_ATTACH');
  legacy.close();
  expectAllowed('allowed again after PROG_DETACH');
});
