/**
 * The compiler's errors (position and libpcap's wording), the checker's
 * rules, the interpreter's edge cases, the capture API and the CLI.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CbpfCheckError, CbpfProgram, checkCbpf, compileFilter, convertCbpf, filterCapture, FilterClosedError, FilterSyntaxError, formatCbpf, PacketFilter, parseCbpf, type CbpfInstruction } from '../../src/cbpf/index.ts';
import { Alu, Class, Jmp, Mode, RetSrc, Size, Src } from '../../src/cbpf/opcodes.ts';
import { buildPacket, CaptureReader, encodeCapture, ethernet, ipv4, ipv6, tcp, udp, payload, type PacketRecord } from '../../src/net/index.ts';
import { spawnTsbpf } from '../support/cli.ts';
import { buildTraffic } from './traffic.ts';

function refusal(expression: string): FilterSyntaxError {
  try {
    compileFilter(expression);
  } catch (error) {
    assert.ok(error instanceof FilterSyntaxError, `'${expression}' threw ${String(error)}`);
    return error;
  }
  assert.fail(`'${expression}' compiled`);
}

test('errors name the problem as libpcap does and the column where it is', () => {
  const cases: Array<[string, string, number]> = [
    ['tcp and', 'syntax error', 7],
    ['tcp port 80 and and', 'syntax error', 16],
    ['port 99999', 'illegal port number 99999 > 65535', 5],
    ['tcp port 80 or host foo.example', "unknown host 'foo.example'", 20],
    ['udp port ssh', "port 'ssh' is tcp", 9],
    ['port nosuch', "unknown port 'nosuch'", 5],
    ['net 10.0.0.1/8', 'non-network bits set in "10.0.0.1/8"', 4],
    ['ip[2:3] > 1', 'data size must be 1, 2, or 4', 0],
    ['vlan 5000', 'VLAN tag 5000 greater than maximum 4095', 0],
    ['mpls and arp', 'unsupported protocol over mpls', 9],
    ['ip[0] / 0 = 1', 'division by zero', 6],
    ['ip and arp', 'expression rejects all packets', 0],
    ['tcp or 10.0.0.1', 'syntax error in filter expression', 4],
    ['ip6 host 10.0.0.1', "'ip6' modifier applied to ip host", 9],
    ['ip host ::1', "'ip' modifier applied to ip6 host", 8],
    ['host 10.0.0.0/8', 'Mask syntax for networks only', 5],
    ['ip proto \\nosuch', "unknown ip proto 'nosuch'", 9],
    ['tcp $ udp', "illegal character '$'", 4],
  ];
  for (const [expression, problem, column] of cases) {
    const error = refusal(expression);
    assert.equal(error.problem, problem, expression);
    assert.equal(error.position, column, `${expression}: ${error.message}`);
    assert.match(error.message, new RegExp(`at column ${column + 1} of`));
  }
});

test('deep or huge expressions end in a FilterSyntaxError, not a stack overflow or a hang', () => {
  assert.throws(() => compileFilter(`${'('.repeat(100_000)}tcp${')'.repeat(100_000)}`), /nested more than 500 deep/);
  assert.throws(() => compileFilter(`${'not '.repeat(50_000)}tcp`), /nested more than 500 deep/);
  assert.throws(() => compileFilter(`ip[${'-'.repeat(50_000)}1] = 1`), /nested more than 500 deep/);
  const hosts = (n: number): string => Array.from({ length: n }, (_, i) => `host 10.0.${i >> 8}.${i & 255}`).join(' or ');
  assert.throws(() => compileFilter(hosts(3000)), /expression too complex: more than 20000 blocks/);
});

test('the checker applies sk_chk_filter\'s rules', () => {
  const ret = (k = 0): CbpfInstruction => ({ code: Class.RET | RetSrc.K, jt: 0, jf: 0, k });
  const insn = (code: number, k = 0, jt = 0, jf = 0): CbpfInstruction => ({ code, jt, jf, k });
  const refused: Array<[CbpfInstruction[], RegExp]> = [
    [[], /empty/],
    [Array.from({ length: 4097 }, () => ret()), /more than the kernel's 4096/],
    [[insn(Class.LD | Mode.IMM, 1)], /last instruction is not a return/],
    [[insn(Class.JMP | Jmp.JEQ | Src.K, 0, 1, 0), ret()], /past the end/],
    [[insn(Class.JMP | Jmp.JA, 1), ret()], /past the end/],
    [[insn(Class.ALU | Alu.DIV | Src.K, 0), ret()], /division by the constant zero/],
    [[insn(Class.ALU | Alu.MOD | Src.K, 0), ret()], /division by the constant zero/],
    [[insn(Class.ALU | Alu.LSH | Src.K, 32), ret()], /shift by 32/],
    [[insn(Class.ST, 16), ret()], /M\[16\] is out of range/],
    [[insn(Class.LD | Mode.MEM, 3), ret()], /M\[3\] is read before it is stored/],
    [[insn(Class.JMP | Jmp.JEQ | Src.K, 1, 0, 1), insn(Class.ST, 2), insn(Class.LDX | Mode.MEM, 2), ret()], /M\[2\] is read before it is stored on some path/],
    [[insn(0xffff), ret()], /unknown or disallowed opcode 0xffff/],
    [[insn(Class.RET | RetSrc.X)], /unknown or disallowed opcode/],
    [[insn(Class.LD | Mode.ABS | Size.W, 0xfffff000), ret()], /ancillary load/],
  ];
  for (const [program, message] of refused) assert.throws(() => checkCbpf(program), (e: unknown) => e instanceof CbpfCheckError && message.test(e.message), String(message));
  checkCbpf([insn(Class.ST, 2), insn(Class.JMP | Jmp.JEQ | Src.K, 1, 0, 1), insn(Class.LDX | Mode.MEM, 2), ret(1)]);
  // A jump over 4093 indexed loads fits classic BPF but not, once each load is a bounds-checked XDP access, an eBPF jump.
  const long = [insn(Class.JMP | Jmp.JA, 4093), ...Array.from({ length: 4093 }, () => insn(Class.LD | Mode.IND | Size.B, 14)), ret(1), ret(0)];
  assert.equal(convertCbpf(long, 'socket').length, 4101);
  assert.throws(() => convertCbpf(long, 'xdp'), (e: unknown) => e instanceof CbpfCheckError && /more than an eBPF jump can/.test(e.message));
});

test('the interpreter: loads past the captured bytes reject, len is the wire length, division by X = 0 returns 0', () => {
  const frame = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), tcp({ sport: 1, dport: 80 }), payload(20));
  const port80 = new CbpfProgram(compileFilter('tcp dst port 80'));
  assert.equal(port80.run(frame), 262144);
  assert.equal(port80.run(frame.subarray(0, 36)), 0, 'the port is past the captured bytes');
  const big = new CbpfProgram(compileFilter('greater 1000'));
  assert.equal(big.run(frame), 0);
  assert.equal(big.run(frame, 1500), 262144, 'len is the length on the wire');
  const divide: CbpfInstruction[] = [{ code: Class.LDX | Mode.IMM, jt: 0, jf: 0, k: 0 }, { code: Class.LD | Mode.IMM, jt: 0, jf: 0, k: 7 }, { code: Class.ALU | Alu.DIV | Src.X, jt: 0, jf: 0, k: 0 }, { code: Class.RET | RetSrc.A, jt: 0, jf: 0, k: 0 }];
  for (const engine of ['cbpf', 'interpreter', 'jit'] as const) {
    const filter = new PacketFilter(divide, engine);
    assert.equal(filter.run(frame), 0, engine);
    filter.close();
    assert.throws(() => filter.run(frame), FilterClosedError);
  }
});

test('-dd and -ddd listings read back into the same program', () => {
  const program = compileFilter('vlan and (tcp[tcpflags] & tcp-syn != 0 or ip6)');
  assert.deepEqual(parseCbpf(formatCbpf(program, 'dd')), program);
  assert.deepEqual(parseCbpf(formatCbpf(program, 'ddd')), program);
  assert.ok(formatCbpf(program, 'd').startsWith('(000) ldh      [12]\n'));
});

test('DLT_RAW: offsets from the IP header, link-level primitives refused', () => {
  const v4 = buildPacket(ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ sport: 5, dport: 53 }));
  const v6 = buildPacket(ipv6({ src: '::1', dst: '::2' }), udp({ sport: 5, dport: 53 }));
  const dns = new CbpfProgram(compileFilter('udp port 53', { linkType: 101 }));
  assert.equal(dns.run(v4), 262144);
  assert.equal(dns.run(v6), 262144);
  assert.equal(new CbpfProgram(compileFilter('ip6', { linkType: 101 })).run(v4), 0);
  assert.throws(() => compileFilter('ether host 1:2:3:4:5:6', { linkType: 101 }), /ethernet addresses supported only on ethernet/);
  assert.throws(() => compileFilter('vlan', { linkType: 101 }), /no VLAN support for Raw IP/);
  assert.throws(() => compileFilter('ip', { linkType: 105 }), /link type 105 is not supported/);
});

test("libpcap's keywords that tsbpf does not compile are named as unsupported, not a bare syntax error", () => {
  for (const [expression, column] of [['geneve', 1], ['llc', 1], ['ip and vxlan', 8], ['tcp or pppoes', 8]] as const) {
    assert.throws(() => compileFilter(expression), (error: unknown) => error instanceof FilterSyntaxError && /is a libpcap keyword that tsbpf does not support/.test(error.message) && error.message.includes(`at column ${column} `));
  }
  assert.throws(() => compileFilter('tcp and foo'), /syntax error in filter expression/);
});

test('filterCapture streams the packets a filter accepts, on every engine', async () => {
  const traffic = buildTraffic({ seed: 3, count: 200 });
  const capture = encodeCapture(traffic);
  const expected = traffic.filter((p) => new CbpfProgram(compileFilter('tcp or icmp')).run(p.data, p.originalLength ?? p.data.length) !== 0).length;
  assert.ok(expected > 20);
  for (const engine of ['cbpf', 'interpreter', 'jit'] as const) {
    let n = 0;
    for await (const packet of filterCapture(capture, 'tcp or icmp', { engine })) {
      assert.ok(packet.data.length > 0);
      n++;
    }
    assert.equal(n, expected, engine);
  }
  await assert.rejects(async () => {
    for await (const packet of filterCapture(capture, 'tcp or')) assert.ok(packet);
  }, FilterSyntaxError);
});

test('filterCapture through the VM batch path selects what the classic interpreter selects: truncated packets and len, runts, raw IP, pcapng records kept whole', async () => {
  const traffic = buildTraffic({ seed: 11, count: 400 });
  // Runts shorter than an Ethernet header, a frame longer than an XDP page, raw IP packets in a pcapng with comments.
  const extra = [
    { data: new Uint8Array(6).fill(0xff), originalLength: 60, timestamp: 1n },
    { data: buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ sport: 1, dport: 53 }), payload(5000)), timestamp: 2n },
  ];
  const expressions = ['tcp or icmp', 'greater 100', 'len < 80 and ip', 'udp port 53', 'ip[0] & 0xf > 5', 'not ip6'];
  const raw = traffic.filter((p) => p.data[12] === 0x08 && p.data[13] === 0x00).slice(0, 40).map((p, i) => ({ data: p.data.subarray(14), originalLength: (p.originalLength ?? p.data.length) - 14, timestamp: 10_000n + BigInt(i), linkType: 101, comments: [`raw ${i}`] }));
  const captures: Array<[string, Uint8Array, PacketRecord[]]> = [
    ['pcap', encodeCapture([...traffic, ...extra]), [...traffic, ...extra]],
    ['pcapng with raw IP', encodeCapture([...traffic.slice(0, 100), ...raw], { format: 'pcapng' }), [...traffic.slice(0, 100), ...raw]],
  ];
  for (const [kind, capture, records] of captures) {
    for (const expression of expressions) {
      const classic = new Map<number, CbpfProgram>();
      const expected = records.filter((p) => {
        const linkType = p.linkType ?? 1;
        if (!classic.has(linkType)) classic.set(linkType, new CbpfProgram(compileFilter(expression, { linkType })));
        return classic.get(linkType)!.run(p.data, p.originalLength ?? p.data.length) !== 0;
      });
      for (const engine of ['cbpf', 'interpreter', 'jit'] as const) {
        const got = [];
        for await (const packet of filterCapture(capture, expression, { engine })) got.push(packet);
        const label = `${kind}, '${expression}', ${engine}`;
        assert.deepEqual(got.map((p) => p.timestamp), expected.map((p) => p.timestamp ?? 0n), label);
        assert.deepEqual(got.map((p) => p.originalLength), expected.map((p) => p.originalLength ?? p.data.length), label);
        got.forEach((p, n) => assert.deepEqual(p.data, expected[n]!.data, label));
        if (kind !== 'pcap') got.forEach((p, n) => assert.deepEqual(p.comments, expected[n]!.comments, label));
      }
    }
  }
});



test('CLI: tsbpf filter prints -d/-dd/-ddd and eBPF, run --filter writes the accepted packets', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-cbpf-cli-'));
  try {
    const traffic = buildTraffic({ seed: 9, count: 120, runts: false });
    const input = join(dir, 'in.pcap');
    const output = join(dir, 'out.pcap');
    writeFileSync(input, encodeCapture(traffic));
    const expected = traffic.filter((p) => new CbpfProgram(compileFilter('udp')).run(p.data) !== 0).length;
    const [d, dd, ddd, ebpf, xdp, bad, usage, run] = await Promise.all([
      spawnTsbpf(['filter', 'ip6 and udp']),
      spawnTsbpf(['filter', '-dd', 'ip6 and udp']),
      spawnTsbpf(['filter', '-ddd', 'ip6', 'and', 'udp']),
      spawnTsbpf(['filter', 'ip6 and udp', '--ebpf', 'socket']),
      spawnTsbpf(['filter', 'ip6 and udp', '--ebpf', 'xdp']),
      spawnTsbpf(['filter', 'port 99999']),
      spawnTsbpf(['filter', '--linktype', 'fddi', 'ip']),
      spawnTsbpf(['run', '--filter', 'udp', '--pcap', input, '-o', output]),
    ]);
    const program = compileFilter('ip6 and udp');
    assert.equal(d.stdout, formatCbpf(program));
    assert.equal(dd.stdout, formatCbpf(program, 'dd'));
    assert.equal(ddd.stdout, formatCbpf(program, 'ddd'));
    assert.match(ebpf.stdout, /r0 = \*\(u16 \*\)skb\[0xc\]/);
    assert.match(xdp.stdout, /r8 = \*\(u32 \*\)\(r6 \+ 0x0\)/);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, "tsbpf filter: illegal port number 99999 > 65535 at column 6 of 'port 99999'\n");
    assert.equal(usage.code, 2);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^${traffic.length} packets, ${expected} passed`));
    let written = 0;
    for await (const packet of await CaptureReader.open(output)) written += packet.data.length > 0 ? 1 : 0;
    assert.equal(written, expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
