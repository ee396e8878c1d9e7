import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacket, ethernet, ipv4, udp, payload } from '../../src/net/index.ts';
import { VmRingBufferReader, type RingBufMap, MapError } from '../../src/maps/index.ts';
import { loadCollectionSpec } from '../../src/object/load.ts';
import { loadKernelBtf } from '../../src/btf/index.ts';
import { CollectionLoadError, loadVmCollection, type VmCollection } from '../../src/vm/collection.ts';
import { RunInputError } from '../../src/vm/runtime.ts';
import { VmRuntimeError } from '../../src/vm/errors.ts';
import { buildTracepointRecord, parseTracepointFormat, readTracepointFormat, TracepointFormatError } from '../../src/vm/tracepoint.ts';
import { skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { fixture } from './support.ts';

const frame = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ dport: 53 }), payload('q'));
const le64 = (b: Uint8Array): bigint => Buffer.from(b).readBigInt64LE(0);
const u32 = (n: number): Uint8Array => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);
const u64 = (n: bigint): Uint8Array => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return new Uint8Array(b);
};

function withCollection(name: string, body: (c: VmCollection) => void, options: Parameters<typeof loadVmCollection>[1] = {}): void {
  const c = loadVmCollection(fixture(name), options);
  try {
    body(c);
  } finally {
    c.close();
  }
}

test('bpf_loop: iteration count, early stop returns i + 1, zero loops, flags (-EINVAL), nr_loops > 1 << 23 (-E2BIG)', { skip: skipWithoutClang() }, () => {
  for (const jit of [false, true]) {
    withCollection('callbacks', (c) => {
      const run = (loops: number, stopAt = 0xffffffff, flags = 0n): { ret: bigint; calls: bigint; sum: bigint } => {
        c.writeVariable('nr_loops', loops);
        c.writeVariable('stop_at', stopAt);
        c.writeVariable('loop_flags', flags);
        c.programs.run_loop!.run({ data: frame });
        return { ret: le64(c.readVariable('loop_ret')), calls: le64(c.readVariable('calls')), sum: le64(c.readVariable('index_sum')) };
      };
      assert.deepEqual(run(10), { ret: 10n, calls: 10n, sum: 45n });
      assert.deepEqual(run(10, 3), { ret: 4n, calls: 4n, sum: 6n });
      assert.deepEqual(run(0), { ret: 0n, calls: 0n, sum: 0n });
      assert.deepEqual(run(5, 0xffffffff, 1n), { ret: -22n, calls: 0n, sum: 0n });
      assert.deepEqual(run((1 << 23) + 1), { ret: -7n, calls: 0n, sum: 0n });
    }, { jit, programs: ['run_loop'] });
  }
});

test('bpf_for_each_map_elem: arrays visit every slot, hashes every element; stop, deletion during the walk, flags, unsupported maps', { skip: skipWithoutClang() }, () => {
  withCollection('callbacks', (c) => {
    const arr = c.maps.arr!;
    for (let i = 0; i < 8; i++) arr.update(u32(i), u64(BigInt(i * 10)));
    const each = (program: string): { ret: bigint; calls: bigint; sum: bigint } => {
      c.programs[program]!.run({ data: frame });
      return { ret: le64(c.readVariable('each_ret')), calls: le64(c.readVariable('calls')), sum: le64(c.readVariable('value_sum')) };
    };
    assert.deepEqual(each('each_array'), { ret: 8n, calls: 8n, sum: 280n });
    c.writeVariable('stop_at', 2);
    assert.deepEqual(each('each_array'), { ret: 3n, calls: 3n, sum: 30n });
    c.writeVariable('stop_at', 0xffffffff);

    const table = c.maps.table!;
    for (let i = 1; i <= 6; i++) table.update(u32(i), u64(BigInt(i)));
    assert.deepEqual(each('each_hash'), { ret: 6n, calls: 6n, sum: 21n });
    c.writeVariable('delete_odd', 1);
    assert.deepEqual(each('each_hash'), { ret: 6n, calls: 6n, sum: 21n }, 'deleting the visited element does not disturb the walk');
    assert.deepEqual([...table.keys()].map((k) => Buffer.from(k).readUInt32LE()).sort(), [2, 4, 6]);

    c.writeVariable('loop_flags', 1n);
    assert.equal(each('each_hash').ret, -22n);
    c.writeVariable('loop_flags', 0n);
    c.programs.each_queue!.run({ data: frame });
    assert.equal(le64(c.readVariable('each_ret')), -22n, 'queues have no for_each');
    // each_queue is a program the kernel's verifier refuses; without verifying, the VM's helper answers at run time.
  }, { verify: false });
});

test('bpf_redirect_map: a devmap or cpumap hit is XDP_REDIRECT with the decision recorded; a miss returns the flags\' action; unknown flags abort', { skip: skipWithoutClang() }, () => {
  withCollection('redirect', (c) => {
    c.maps.ports!.update(u32(1), u32(7));
    c.maps.cpus!.update(u32(0), u32(2048));
    c.writeVariable('key', 1);
    const hit = c.programs.to_port!.run({ data: frame });
    assert.equal(hit.retval, 4);
    assert.deepEqual(hit.redirect, { helper: 'redirect_map', target: 1, flags: 2, map: 'ports' });
    c.writeVariable('key', 2);
    const miss = c.programs.to_port!.run({ data: frame });
    assert.equal(miss.retval, 2);
    assert.equal(miss.redirect, undefined);
    c.writeVariable('flags', 1n);
    assert.equal(c.programs.to_port!.run({ data: frame }).retval, 1, 'XDP_DROP as the default action');
    c.writeVariable('key', 0);
    c.writeVariable('flags', 2n);
    assert.equal(c.programs.to_cpu!.run({ data: frame }).retval, 4);
    c.writeVariable('flags', 2n | (1n << 3n)); // BPF_F_BROADCAST is for devmaps only
    assert.equal(c.programs.to_cpu!.run({ data: frame }).retval, 0);
    assert.equal(c.programs.to_port!.run({ data: frame }).retval, 2, 'devmap accepts BPF_F_BROADCAST (key 0 empty: the default action)');
    assert.throws(() => c.maps.ports!.update(u32(4), u32(1)), MapError);
  });
});

const EXEC_FORMAT = `name: sched_process_exec
ID: 365
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:__data_loc char[] filename;	offset:8;	size:4;	signed:0;
	field:pid_t pid;	offset:12;	size:4;	signed:1;
	field:pid_t old_pid;	offset:16;	size:4;	signed:1;

print fmt: "filename=%s pid=%d old_pid=%d", __get_str(filename), REC->pid, REC->old_pid
`;

test('tracepoint formats: parse, build records (data_loc strings, ranges), run a tracepoint program with get_stackid and a ring buffer', { skip: skipWithoutClang() }, () => {
  const format = parseTracepointFormat(EXEC_FORMAT);
  assert.equal(format.id, 365);
  assert.equal(format.size, 20);
  assert.deepEqual(format.fields.map((f) => f.name), ['common_type', 'common_flags', 'common_preempt_count', 'common_pid', 'filename', 'pid', 'old_pid']);
  const record = buildTracepointRecord(format, { filename: '/usr/bin/true', pid: 4242, old_pid: 4242, common_pid: 4242 });
  const view = new DataView(record.buffer);
  assert.equal(view.getUint16(0, true), 365);
  assert.equal(view.getUint32(8, true), (14 << 16) | 20);
  assert.equal(Buffer.from(record.subarray(20)).toString(), '/usr/bin/true\0');
  assert.throws(() => buildTracepointRecord(format, { pid: 2 ** 31 }), /out of range/);
  assert.throws(() => buildTracepointRecord(format, { nope: 1 }), /no field 'nope'/);
  assert.throws(() => parseTracepointFormat('name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\n'), TracepointFormatError);
  assert.throws(() => parseTracepointFormat('ID: 1\n'), /no name/);

  withCollection('exec_trace', (c) => {
    const stack = [0xffffffff81000010n, 0xffffffff81000020n, 0xffffffff81000030n];
    const run = c.programs.on_exec!.run({ ctx: record, event: { kernelStack: stack } });
    assert.equal(run.retval, 0);
    c.programs.on_exec!.run({ ctx: record, event: { kernelStack: stack } });
    assert.equal(le64(c.maps.execs!.lookup(u32(4242))!), 2n);
    const records: Uint8Array[] = [];
    const reader = new VmRingBufferReader(c.maps.events as RingBufMap);
    reader.poll((r) => records.push(r.slice()));
    reader.close();
    assert.equal(records.length, 2);
    const event = Buffer.from(records[0]!);
    assert.equal(event.readInt32LE(0), 4242);
    const stackId = event.readInt32LE(4);
    assert.ok(stackId >= 0, `stack id ${stackId}`);
    assert.equal(Buffer.from(records[1]!).readInt32LE(4), stackId, 'the same stack gets the same id');
    assert.equal(event.subarray(8, 8 + 13).toString(), '/usr/bin/true');
    const stored = c.maps.stacks!.lookup(u32(stackId))!;
    assert.equal(Buffer.from(stored).readBigUInt64LE(8), stack[1]);
    // No stack in the event: -EFAULT as stack id.
    c.programs.on_exec!.run({ ctx: record });
    const third: Uint8Array[] = [];
    const again = new VmRingBufferReader(c.maps.events as RingBufMap);
    again.poll((r) => third.push(r.slice()));
    again.close();
    assert.equal(Buffer.from(third[0]!).readInt32LE(4), -14);
  });
});

test('tracepoint format from the running kernel\'s tracefs', { skip: skipWithoutKernel() }, () => {
  const format = readTracepointFormat('sched', 'sched_process_exec');
  assert.ok(format.fields.some((f) => f.name === 'filename' && f.dataLoc));
  assert.throws(() => readTracepointFormat('sched', 'no_such_event'), /no tracepoint/);
  assert.throws(() => readTracepointFormat('../etc', 'x'), /invalid tracepoint name/);
});

test('collection loading errors name the problem; nothing stays open', { skip: skipWithoutClang() }, () => {
  const spec = loadCollectionSpec(fixture('counters'));
  assert.throws(() => loadVmCollection(spec, { programs: ['nope'] }), /no program 'nope'/);
  const badMap = structuredClone({ ...spec, btf: undefined });
  badMap.maps.by_proto!.maxEntries = 0;
  assert.throws(() => loadVmCollection(badMap), (e: Error) => e instanceof CollectionLoadError && /map 'by_proto'.*max_entries/.test(e.message));
  const sockmap = structuredClone({ ...spec, btf: undefined });
  sockmap.maps.by_proto!.type = 15; // BPF_MAP_TYPE_SOCKMAP
  assert.throws(() => loadVmCollection(sockmap), /EOPNOTSUPP/);
  const untyped = structuredClone({ ...spec, btf: undefined });
  untyped.programs.xdp_count!.type = 0;
  assert.throws(() => loadVmCollection(untyped), /programTypes\['xdp_count'\]/);
  assert.throws(() => loadVmCollection({ ...spec, byteOrder: 'big' }), /big-endian/);
  withCollection('counters', (c) => {
    assert.throws(() => c.writeVariable('size_buckets', 1), /EPERM/, '.rodata is frozen');
    assert.throws(() => c.readVariable('nope'), /no global variable 'nope'/);
    assert.equal(le64(c.readVariable('loop_sum')), 7n, '.data initial value');
    assert.throws(() => c.program('nope'), /programs: xdp_count/);
  });
});

test('bad run input: short frames, oversized or invalid contexts, CPUs the VM does not have', { skip: skipWithoutClang() }, () => {
  withCollection('xdp_parser', (c) => {
    const xdp = c.programs.xdp_parse!;
    assert.throws(() => xdp.run({ data: frame.subarray(0, 10) }), (e: Error) => e instanceof RunInputError && /shorter than an Ethernet header/.test(e.message));
    const ctx = new Uint8Array(64);
    ctx[40] = 1;
    assert.throws(() => xdp.run({ data: frame, ctx }), /larger than struct xdp_md/);
    assert.throws(() => xdp.run({ data: frame, event: { cpu: 1 } }), /event.cpu 1 is not a CPU/);
    assert.equal(xdp.run({ data: frame, event: { cpu: 0 } }).retval, 2);
  });
  withCollection('tc_classifier', (c) => {
    const short = frame.subarray(0, 14 + 19);
    assert.throws(() => c.programs.tc_classify!.run({ data: short }), /IPv4 frame needs at least 34/);
  });
  withCollection('exec_trace', (c) => {
    assert.throws(() => c.programs.on_exec!.run({ ctx: new Uint8Array(9000) }), /more than the 8192/);
  });
});

test('function pointers are opaque: a program calling bpf_loop with a plain number faults with a clear error', { skip: skipWithoutClang() }, () => {
  const spec = loadCollectionSpec(fixture('callbacks'));
  const program = spec.programs.run_loop!;
  // Replace the callback's lddw (src = BPF_PSEUDO_FUNC) by a plain constant.
  const index = program.instructions.findIndex((i) => i.opcode === 0x18 && i.src === 4);
  program.instructions[index] = { ...program.instructions[index]!, src: 0, imm: 0x1234 };
  // Deliberately broken, so the verifier would refuse it: this checks the run-time check behind it.
  const c = loadVmCollection(spec, { programs: ['run_loop'], verify: false });
  try {
    c.writeVariable('nr_loops', 1);
    assert.throws(() => c.programs.run_loop!.run({ data: frame }), (e: Error) => e instanceof VmRuntimeError && /0x1234 is not a function pointer/.test(e.message));
  } finally {
    c.close();
  }
});

test('.kconfig externs of every kind are filled (given values, weak default) and CO-RE is applied against the given target BTF', { skip: skipWithoutClang() }, () => {
  const path = fixture('kconfig_core');
  const kconfig = { CONFIG_HZ: '250', CONFIG_BPF_SYSCALL: 'y', CONFIG_TSBPF_MODULE: 'm', CONFIG_TSBPF_CHAR: 'y', CONFIG_TSBPF_NAME: '"tsbpf"' };
  const spec = loadCollectionSpec(path);
  const c = loadVmCollection(spec, { kconfig, coreTarget: spec.btf });
  try {
    c.programs.read_config!.run({ data: frame });
    const seen = c.readVariable('seen');
    const values = Array.from({ length: 8 }, (_, i) => Buffer.from(seen).readBigUInt64LE(i * 8));
    assert.ok(values[0]! >= 0x050000n, 'LINUX_KERNEL_VERSION from uname');
    assert.deepEqual(values.slice(1), [250n, 1n, 2n, 121n, 0n, 4n, 1n]);
    assert.equal(Buffer.from(c.readVariable('name')).toString(), 'tsbpf\0\0\0');
    assert.deepEqual(Object.keys(c.coreReports), ['read_config']);
  } finally {
    c.close();
  }
  assert.throws(() => loadVmCollection(spec, { kconfig: { ...kconfig, CONFIG_BPF_SYSCALL: 'm' } }), /'m' \(module\) cannot be a bool/);
  assert.throws(() => loadVmCollection(spec, { kconfig: { ...kconfig, CONFIG_HZ: undefined as unknown as string } }), /kconfig extern 'CONFIG_HZ' has no value/);
  assert.throws(() => loadVmCollection(spec, { kconfig: { ...kconfig, CONFIG_TSBPF_NAME: '"much too long"' } }), /does not fit 8 bytes/);
});

test('CO-RE against the running kernel\'s BTF by default', { skip: skipWithoutClang() || skipWithoutKernel() }, () => {
  const c = loadVmCollection(fixture('kconfig_core'), { kconfig: { CONFIG_HZ: '100', CONFIG_BPF_SYSCALL: 'y', CONFIG_TSBPF_MODULE: 'n', CONFIG_TSBPF_CHAR: 'n', CONFIG_TSBPF_NAME: '"x"' } });
  try {
    c.programs.read_config!.run({ data: frame });
    const tgidOffset = Buffer.from(c.readVariable('seen')).readBigUInt64LE(6 * 8);
    const task = loadKernelBtf().findByName('task_struct', 'struct')[0]!;
    const member = task.kind === 'struct' ? task.members.find((m) => m.name === 'tgid') : undefined;
    assert.equal(tgidOffset, BigInt(member!.bitOffset / 8));
  } finally {
    c.close();
  }
});

test('collections loaded side by side keep their own maps (each VM has its own address space)', { skip: skipWithoutClang() }, () => {
  const spec = loadCollectionSpec(fixture('counters'));
  for (const jit of [false, true]) {
    const first = loadVmCollection(spec, { jit });
    const second = loadVmCollection(spec, { jit });
    try {
      const frame = buildPacket(ethernet(), ipv4({ src: '10.1.2.3' }), udp({ dport: 53 }), payload('x'));
      first.program('xdp_count').run({ data: frame });
      assert.equal([...first.maps.by_source!.keys()].length, 1, 'the first collection counted the packet');
      assert.equal([...second.maps.by_source!.keys()].length, 0, 'the second collection did not');
    } finally {
      first.close();
      second.close();
    }
  }
});
