import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.ts';
import { Vm } from '../../src/vm/index.ts';
import { PacketBuffer, RunEnvironment, XDP_HEADROOM, XDP_TAILROOM, XDP_FRAME_BYTES, formatBpf, lookupRoute, FibResult } from '../../src/vm/helpers/index.ts';
import { buildPacket, ethernet, ipv4, udp, payload, decodePacket, internetChecksum } from '../../src/net/index.ts';

const enc = new TextEncoder();
const cstr = (s: string): Uint8Array => enc.encode(`${s}\0`);

function run(source: string, mem: Uint8Array, env = new RunEnvironment()): { r0: bigint; env: RunEnvironment } {
  const vm = new Vm();
  const { r0 } = vm.load(assemble(source)).run({ mem, context: env });
  return { r0, env };
}

test('formatBpf: the kernel printf subset', () => {
  const vm = new Vm();
  const f = (fmt: string, ...args: bigint[]): string => {
    const r = formatBpf(enc.encode(fmt), args, vm.memory);
    assert.ok(r.ok, fmt);
    return r.text;
  };
  assert.equal(f('%d %i %u', -1n, 0xffffffffn, -1n), '-1 -1 4294967295');
  assert.equal(f('%ld %lld %llu', -1n, -5n, -1n), '-1 -5 18446744073709551615');
  assert.equal(f('%x %X %lx %llx', 255n, 255n, -1n, 0x1234n), 'ff FF ffffffffffffffff 1234');
  assert.equal(f('[%5d|%-5d|%05d|%+d|% d]', 42n, 42n, -42n, 7n, 7n), '[   42|42   |-0042|+7| 7]');
  assert.equal(f('%c%c %% %px', 0x68n, 0x69n, 0xdeadn), 'hi % 000000000000dead');
  const bad = (fmt: string, n: number, why: RegExp): void => {
    const r = formatBpf(enc.encode(fmt), new Array<bigint>(n).fill(0n), vm.memory);
    assert.ok(!r.ok && why.test(r.reason), `${fmt}: ${JSON.stringify(r)}`);
  };
  bad('%d %d', 1, /more conversion specifiers/);
  bad('%f', 1, /unsupported conversion '%f'/);
  bad('%.2d', 1, /unsupported/);
  bad('%pZ', 1, /unsupported pointer format %pZ/);
  bad('a\x01b', 0, /not printable/);
});

test('trace_printk: %s and %pI4 read through pointers; output collected and streamed; bad formats are -EINVAL', () => {
  const lines: string[] = [];
  const env = new RunEnvironment({ onTrace: (l) => lines.push(l), memory: [{ address: 0xffff888000001000n, bytes: cstr('kernel-string') }] });
  const fmt = cstr('pid %d name %s ip %pI4 k=%s');
  // mem: fmt | "comm\0" | 4-byte address
  const mem = new Uint8Array(64);
  mem.set(fmt, 0);
  mem.set(cstr('comm'), 40);
  mem.set([192, 168, 1, 20], 48);
  // trace_vprintk(fmt, size, args, 32) with args on the stack: [1234, mem+40, mem+48, kernel address]
  const source = `
    r6 = r1
    r1 = 1234
    *(u64 *)(r10 - 32) = r1
    r1 = r6
    r1 += 40
    *(u64 *)(r10 - 24) = r1
    r1 = r6
    r1 += 48
    *(u64 *)(r10 - 16) = r1
    r1 = 0xffff888000001000 ll
    *(u64 *)(r10 - 8) = r1
    r1 = r6
    r2 = ${fmt.length}
    r3 = r10
    r3 += -32
    r4 = 32
    call 177
    exit`;
  const { r0 } = run(source, mem, env);
  const expected = 'pid 1234 name comm ip 192.168.1.20 k=kernel-string';
  assert.deepEqual(env.trace, [expected]);
  assert.deepEqual(lines, [expected]);
  assert.equal(r0, BigInt(expected.length));
  // No NUL within fmt_size: -EINVAL and nothing printed.
  const noNul = run('r2 = 4\ncall 6\nexit', enc.encode('abcd'));
  assert.equal(noNul.r0, BigInt.asUintN(64, -22n));
  assert.deepEqual(noNul.env.trace, []);
});

test('snprintf, strtol, strtoul, strncmp', () => {
  // snprintf(out=mem+32, 8, fmt=mem, args=stack, 8): truncates, NUL-terminates, returns full length + 1
  const mem = new Uint8Array(48);
  mem.set(cstr('value=%d!'), 0);
  const sn = run(`
    r6 = r1
    r1 = 123456
    *(u64 *)(r10 - 8) = r1
    r1 = r6
    r1 += 32
    r2 = 8
    r3 = r6
    r4 = r10
    r4 += -8
    r5 = 8
    call 165
    exit`, mem);
  assert.equal(sn.r0, 14n);
  assert.deepEqual(mem.subarray(32, 40), cstr('value=1'));

  const strtol = (text: string, flags: number, fn = 105): [bigint, bigint] => {
    const m = new Uint8Array(text.length + 8);
    m.set(enc.encode(text), 8);
    const { r0 } = run(`
      r4 = r1
      r1 += 8
      r2 = ${text.length}
      r3 = ${flags}
      call ${fn}
      exit`, m);
    return [BigInt.asIntN(64, r0), new DataView(m.buffer).getBigInt64(0, true)];
  };
  assert.deepEqual(strtol('  -42xyz', 0), [5n, -42n]);
  assert.deepEqual(strtol('0x1F', 0), [4n, 31n]);
  assert.deepEqual(strtol('0x1F', 16), [4n, 31n]);
  assert.deepEqual(strtol('017', 0), [3n, 15n]);
  assert.deepEqual(strtol('9223372036854775808', 10), [-34n, 0n]);
  assert.deepEqual(strtol('-9223372036854775808', 10), [20n, -(1n << 63n)]);
  assert.equal(strtol('abc', 10)[0], -22n);
  assert.equal(strtol('12', 7)[0], -22n);
  assert.equal(strtol('-5', 10, 106)[0], -22n);
  assert.deepEqual(strtol('18446744073709551615', 10, 106), [20n, -1n]);
  assert.equal(strtol('18446744073709551616', 10, 106)[0], -34n);

  const strncmp = (a: string, n: number, b: string): bigint => {
    const m = new Uint8Array(64);
    m.set(enc.encode(a), 0);
    m.set(cstr(b), 32);
    return BigInt.asIntN(64, run(`r3 = r1\nr3 += 32\nr2 = ${n}\ncall 182\nexit`, m).r0);
  };
  assert.equal(strncmp('abc', 3, 'abc'), 0n);
  assert.equal(strncmp('abd', 3, 'abc'), 1n);
  assert.equal(strncmp('abb', 3, 'abc'), -1n);
  assert.equal(strncmp('abcdef', 3, 'abcxyz'), 0n);
});

test('current task, probe reads and stacks come from the event the user supplies', () => {
  const env = new RunEnvironment({
    process: { pid: 100, tgid: 99, uid: 1000, gid: 1001, comm: 'a-very-long-command-name' },
    memory: [{ address: 0x7ffd0000n, bytes: Uint8Array.of(1, 2, 3, 4, 0x41, 0x42, 0) }],
    kernelStack: [0xffffffff81000010n, 0xffffffff81000020n, 0xffffffff81000030n],
    cpu: 3,
  });
  assert.equal(run('call 14\nexit', new Uint8Array(0), env).r0, (99n << 32n) | 100n);
  assert.equal(run('call 15\nexit', new Uint8Array(0), env).r0, (1001n << 32n) | 1000n);
  assert.equal(run('call 8\nexit', new Uint8Array(0), env).r0, 3n);
  const comm = new Uint8Array(16).fill(0xee);
  run('r2 = 16\ncall 16\nexit', comm, env);
  assert.deepEqual(comm, cstr('a-very-long-com'));

  const buf = new Uint8Array(8).fill(0xee);
  const ok = run('r2 = 4\nr3 = 0x7ffd0001 ll\ncall 112\nexit', buf, env);
  assert.equal(ok.r0, 0n);
  assert.deepEqual(buf.subarray(0, 4), Uint8Array.of(2, 3, 4, 0x41));
  const fault = run('r2 = 8\nr3 = 0x7ffd0004 ll\ncall 113\nexit', buf, env);
  assert.equal(fault.r0, BigInt.asUintN(64, -14n));
  assert.deepEqual(buf, new Uint8Array(8), 'a failed probe read zeroes the destination');
  const str = run('r2 = 8\nr3 = 0x7ffd0004 ll\ncall 115\nexit', buf, env);
  assert.equal(str.r0, 3n);
  assert.deepEqual(buf.subarray(0, 3), cstr('AB'));

  const stack = new Uint8Array(24);
  const s = run('r6 = r1\nr2 = r6\nr3 = 24\nr4 = 1\ncall 67\nexit', stack, env);
  assert.equal(s.r0, 16n);
  const view = new DataView(stack.buffer);
  assert.deepEqual([view.getBigUint64(0, true), view.getBigUint64(8, true), view.getBigUint64(16, true)], [0xffffffff81000020n, 0xffffffff81000030n, 0n]);
  assert.equal(run('r2 = r1\nr3 = 24\nr4 = 0x100\ncall 67\nexit', stack, env).r0, BigInt.asUintN(64, -14n), 'no user stack supplied: -EFAULT');
});

test('checksum helpers give the kernel bytes: csum_diff + l3/l4_csum_replace keep checksums valid', () => {
  const vm = new Vm();
  const frame = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ sport: 1, dport: 2 }), payload('data'));
  const env = new RunEnvironment();
  const packet = new PacketBuffer(vm.memory, frame, 'skb', 66, 0);
  env.packet = packet;
  // Rewrite the source address to 172.16.0.9 as a NAT would: store, then fix the IP and UDP checksums.
  const newIp = 0x090010ac; // 172.16.0.9 as the program holds it (a little-endian load of the bytes)
  const oldIp = 0x0100000a;
  const program = vm.load(assemble(`
    r6 = r1
    r1 = ${newIp}
    *(u32 *)(r10 - 4) = r1
    r1 = r6
    r2 = 26
    r3 = r10
    r3 += -4
    r4 = 4
    r5 = 0
    call 9
    r1 = r6
    r2 = 24
    r3 = ${oldIp}
    r4 = ${newIp}
    r5 = 4
    call 10
    r1 = r6
    r2 = 40
    r3 = ${oldIp}
    r4 = ${newIp}
    r5 = 0x34
    call 11
    exit`));
  assert.equal(program.run({ r1: 0x10000, context: env }).r0, 0n);
  const out = packet.read(false);
  const decoded = decodePacket(out);
  assert.equal(decoded.ip!.src, '172.16.0.9');
  assert.equal(decoded.ip!.checksumValid, true);
  assert.equal(decoded.transport!.checksumValid, true);
  assert.equal(internetChecksum(out, 14, 34), 0);
  // csum_diff of 4 bytes against 4 bytes: the kernel's 32-bit value (x86 csum_partial), computed by hand here.
  const mem = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  const d = vm.load(assemble('r6 = r1\nr2 = 4\nr3 = r6\nr3 += 4\nr4 = 4\nr5 = 0\ncall 28\nexit')).run({ mem }).r0;
  // csum_sub(0x08070605, 0x04030201) = 0x08070605 + ~0x04030201 with end-around carry
  const expected = (0x08070605 + (~0x04030201 >>> 0)) % 0xffffffff;
  assert.equal(d, BigInt(expected));
  assert.equal(vm.load(assemble('r2 = 3\nr3 = r1\nr4 = 4\nr5 = 0\ncall 28\nexit')).run({ mem }).r0, BigInt.asUintN(64, -22n));
});

test('xdp_adjust_head/meta/tail move the packet within the frame as the kernel allows', () => {
  const vm = new Vm();
  const frame = buildPacket(ethernet(), ipv4(), udp(), payload(20));
  const packet = new PacketBuffer(vm.memory, frame, 'xdp', XDP_HEADROOM, XDP_TAILROOM, XDP_FRAME_BYTES);
  const env = new RunEnvironment();
  env.packet = packet;
  const call = (id: number, delta: number): bigint => BigInt.asIntN(64, vm.load(assemble(`r2 = ${delta}\ncall ${id}\nexit`)).run({ r1: 0x10000, context: env }).r0);
  assert.equal(call(44, -14), 0n);
  assert.equal(packet.length, frame.length + 14);
  assert.equal(call(44, -(XDP_HEADROOM - 14 - 40) - 1), -22n, 'cannot reach into struct xdp_frame');
  assert.equal(call(44, frame.length + 14 - 13), -22n, 'must keep an Ethernet header');
  assert.equal(call(44, 14), 0n);
  assert.equal(call(54, -8), 0n);
  assert.equal(packet.metaLength, 8);
  assert.equal(call(54, -2), -13n, 'metadata length must be a multiple of 4');
  assert.equal(call(44, -4), 0n, 'adjust_head moves the metadata along');
  assert.equal(packet.metaLength, 8);
  assert.equal(call(44, 4), 0n);
  assert.equal(call(65, -20), 0n);
  assert.deepEqual(packet.read(false), frame.subarray(0, frame.length - 20));
  assert.equal(call(65, 10), 0n);
  assert.deepEqual(packet.read(false).subarray(frame.length - 20), new Uint8Array(10), 'grown tail is zeroed');
  assert.equal(call(65, XDP_FRAME_BYTES), -22n);
  // Accesses are bounded by data_end: the region is exactly [data_meta, data_end).
  assert.throws(() => vm.load(assemble('r0 = *(u8 *)(r1 + 0)\nexit')).run({ r1: packet.dataEnd }), /outside every memory region/);
});

test('fib_lookup: longest-prefix match on the user route table fills struct bpf_fib_lookup', () => {
  const routes = [
    { prefix: '0.0.0.0/0', ifindex: 1, gateway: '192.168.0.1', dmac: '02:00:00:00:00:fe', smac: '02:00:00:00:00:01' },
    { prefix: '10.0.0.0/8', ifindex: 2, dmac: '02:00:00:00:00:0a' },
    { prefix: '10.1.0.0/16', ifindex: 3 },
    { prefix: '10.2.0.0/16', ifindex: 4, type: 'blackhole' as const },
    { prefix: '2001:db8::/32', ifindex: 5, dmac: '02:00:00:00:00:06', mtu: 1280 },
  ];
  assert.equal(lookupRoute(routes, Uint8Array.of(10, 1, 2, 3))!.ifindex, 3);
  const env = new RunEnvironment({ routes });
  const lookup = (family: number, dst: number[], totLen = 0, flags = 0): [bigint, DataView, Uint8Array] => {
    const params = new Uint8Array(64);
    params[0] = family;
    params.set(dst, 32);
    new DataView(params.buffer).setUint16(6, totLen, true);
    const r0 = new Vm().load(assemble(`r2 = r1\nr1 = 0\nr3 = 64\nr4 = ${flags}\ncall 69\nexit`)).run({ mem: params, context: env }).r0;
    return [r0, new DataView(params.buffer), params];
  };
  let [r0, view, params] = lookup(2, [10, 9, 9, 9]);
  assert.equal(r0, BigInt(FibResult.SUCCESS));
  assert.equal(view.getUint32(8, true), 2);
  assert.deepEqual([...params.subarray(32, 36)], [10, 9, 9, 9]);
  assert.deepEqual([...params.subarray(58, 64)], [2, 0, 0, 0, 0, 0x0a]);
  [r0, , params] = lookup(2, [8, 8, 8, 8]);
  assert.equal(r0, 0n);
  assert.deepEqual([...params.subarray(32, 36)], [192, 168, 0, 1], 'destination becomes the gateway');
  assert.equal(lookup(2, [10, 1, 0, 1])[0], BigInt(FibResult.NO_NEIGH));
  assert.equal(lookup(2, [10, 1, 0, 1], 0, 4)[0], 0n, 'BPF_FIB_LOOKUP_SKIP_NEIGH');
  assert.equal(lookup(2, [10, 2, 0, 1])[0], BigInt(FibResult.BLACKHOLE));
  [r0, view] = lookup(10, [0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)], 1400);
  assert.equal(r0, BigInt(FibResult.FRAG_NEEDED));
  assert.equal(view.getUint16(6, true), 1280);
  assert.equal(lookup(3, [1, 2, 3, 4])[0], BigInt.asUintN(64, -97n));
});

test('spin locks: double lock and unlocking a free lock are errors', () => {
  const mem = new Uint8Array(4);
  const env = new RunEnvironment();
  assert.equal(run('r6 = r1\ncall 93\nr1 = r6\ncall 94\nr0 = *(u32 *)(r6 + 0)\nexit', mem, env).r0, 0n);
  assert.throws(() => run('r6 = r1\ncall 93\nr1 = r6\ncall 93\nexit', mem, new RunEnvironment()), /already held/);
  assert.throws(() => run('call 94\nexit', new Uint8Array(4), new RunEnvironment()), /not held/);
});
