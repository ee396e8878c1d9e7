import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacket, ethernet, vlan, ipv4, ipv6, udp, tcp, icmp, payload } from '../../src/net/index.ts';
import { RingBufferReader } from '../../src/kernel/ringbuf.ts';
import type { KernelMap } from '../../src/kernel/map.ts';
import { VmRingBufferReader, type RingBufMap } from '../../src/maps/index.ts';
import { RunInputError } from '../../src/vm/runtime.ts';
import { skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { assertSameMaps, fixture, hex, withBoth } from './support.ts';
import { loadVmCollection } from '../../src/vm/collection.ts';
import { loadCollection } from '../../src/kernel/collection.ts';
import { possibleCpus } from '../../src/kernel/map.ts';

const both = (): string | false => skipWithoutClang() || skipWithoutKernel();

/** A varied set of frames: protocols, addresses, ports, a VLAN tag, a non-IP frame, a truncated IPv4 header. */
function packets(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const sources = ['10.0.0.1', '10.0.0.2', '192.168.1.7', '10.1.2.3', '172.16.0.9'];
  sources.forEach((src, i) => {
    out.push(buildPacket(ethernet(), ipv4({ src, dst: '10.1.2.3' }), udp({ sport: 1000 + i, dport: 53 }), payload('dns?')));
    out.push(buildPacket(ethernet(), ipv4({ src, dst: `10.${i}.0.1` }), tcp({ sport: 40000 + i, dport: 80 + i, flags: 0x02 }), payload('x'.repeat(i * 40))));
  });
  out.push(buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '8.8.8.8' }), udp({ dport: 9 }), payload('discard')));
  out.push(buildPacket(ethernet(), ipv4({ src: '10.0.0.2', dst: '10.0.0.1' }), tcp({ dport: 23 }), payload('telnet')));
  out.push(buildPacket(ethernet(), ipv4({ src: '10.9.9.9', dst: '10.0.0.1' }), icmp({ type: 8, code: 0 }), payload('ping')));
  out.push(buildPacket(ethernet(), ipv4({ src: '10.9.9.9', dst: '10.0.0.1' }), icmp({ type: 0, code: 0 }), payload('pong')));
  out.push(buildPacket(ethernet(), ipv6({ src: 'fe80::1', dst: 'ff02::1' }), udp({ sport: 546, dport: 547 }), payload('dhcp6')));
  out.push(buildPacket(ethernet(), ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }), tcp({ dport: 443 }), payload('tls')));
  out.push(buildPacket(ethernet(), vlan({ id: 42 }), ipv4({ src: '10.0.0.5', dst: '10.0.0.6' }), udp({ dport: 5000 }), payload('tagged')));
  out.push(buildPacket(ethernet({ type: 0x0806 }), payload(new Uint8Array(28))));
  out.push(buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ dport: 53 })).subarray(0, 14 + 12));
  out.push(buildPacket(ethernet({ dst: 'ff:ff:ff:ff:ff:ff' }), ipv4({ src: '10.0.0.3', dst: '10.255.255.255' }), udp({ dport: 137 }), payload('nb')));
  return out;
}

/** Runs `program` in both backends over the packets; return values and output frames must match. */
function runAll(vm: import('../../src/vm/collection.ts').VmCollection, kernel: import('../../src/kernel/collection.ts').KernelCollection, program: string): number[] {
  const verdicts: number[] = [];
  packets().forEach((data, i) => {
    let k;
    try {
      k = kernel.programs[program]!.run({ data });
    } catch (error) {
      // The kernel refuses some inputs (a truncated IPv4 header for skb programs): so must the VM.
      assert.match((error as Error).message, /EINVAL/);
      assert.throws(() => vm.programs[program]!.run({ data }), RunInputError, `packet ${i}: the kernel refused it`);
      return;
    }
    const v = vm.programs[program]!.run({ data });
    assert.equal(v.retval, k.retval, `packet ${i}: return value`);
    assert.equal(hex(v.data!), hex(k.data!), `packet ${i}: output data`);
    verdicts.push(v.retval);
  });
  return verdicts;
}

test('XDP parser: same verdicts, output frames (ICMP reply, VLAN pop) and per-CPU stats as the kernel', { skip: both() }, () => {
  withBoth('xdp_parser', (vm, kernel) => {
    const verdicts = runAll(vm, kernel, 'xdp_parse');
    assert.ok(verdicts.includes(1) && verdicts.includes(2) && verdicts.includes(3), `drop, pass and TX all exercised: ${verdicts}`);
    assertSameMaps(vm, kernel);
  });
});

test('XDP parser on the JIT matches the kernel too', { skip: both() }, () => {
  withBoth('xdp_parser', (vm, kernel) => {
    assert.equal(vm.programs.xdp_parse!.engine, 'jit');
    runAll(vm, kernel, 'xdp_parse');
    assertSameMaps(vm, kernel);
  }, { jit: true });
});

test('tc classifier: verdicts, rewritten TTL/checksum, marks in ctx_out and the per-port hash match', { skip: both() }, () => {
  withBoth('tc_classifier', (vm, kernel) => {
    const verdicts = runAll(vm, kernel, 'tc_classify');
    assert.ok(verdicts.includes(0) && verdicts.includes(2), `TC_ACT_OK and TC_ACT_SHOT exercised: ${verdicts}`);
    const data = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ dport: 53 }), payload('q'));
    const ctx = new Uint8Array(192);
    const v = vm.programs.tc_classify!.run({ data, ctx });
    const k = kernel.programs.tc_classify!.run({ data, ctx });
    assert.equal(hex(v.ctx!), hex(k.ctx!));
    assertSameMaps(vm, kernel);
  });
});

test('socket filter: accept lengths (truncation to 64) and counters match', { skip: both() }, () => {
  withBoth('socket_filter', (vm, kernel) => {
    const verdicts = runAll(vm, kernel, 'sock_filter');
    assert.ok(verdicts.includes(0) && verdicts.includes(64), `${verdicts}`);
    assertSameMaps(vm, kernel);
  });
});

test('map-heavy counters: hash, array, per-CPU array and hash, globals, bpf_loop, for_each_map_elem', { skip: both() }, () => {
  withBoth('counters', (vm, kernel) => {
    runAll(vm, kernel, 'xdp_count');
    assertSameMaps(vm, kernel);
    // for_each stopped after 3 sources, visiting them in the kernel's bucket order.
    const summary = vm.maps.summary!;
    const key = (k: number): Uint8Array => Uint8Array.of(k, 0, 0, 0);
    assert.equal(Buffer.from(summary.lookup(key(0))!).readBigUInt64LE(), 3n);
    assert.equal(Buffer.from(summary.lookup(key(2))!).readBigUInt64LE(), 3n);
  });
});

test('ring buffer: the same records (submitted, not discarded, output) in the same order', { skip: both() }, () => {
  withBoth('ringbuf', (vm, kernel) => {
    runAll(vm, kernel, 'xdp_events');
    const vmRecords: string[] = [];
    const kernelRecords: string[] = [];
    const vmReader = new VmRingBufferReader(vm.maps.events as RingBufMap);
    const kernelReader = new RingBufferReader(kernel.maps.events as KernelMap);
    try {
      vmReader.poll((r) => vmRecords.push(hex(r)));
      kernelReader.poll((r) => kernelRecords.push(hex(r)));
    } finally {
      vmReader.close();
      kernelReader.close();
    }
    assert.ok(vmRecords.length > 5);
    assert.deepEqual(vmRecords, kernelRecords);
    assertSameMaps(vm, kernel);
  });
});

test('tail calls through a prog array: dispatch, the 33-call limit, fall-through on an empty slot', { skip: both() }, () => {
  withBoth('tailcall', (vm, kernel) => {
    const tcpFrame = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), tcp({ dport: 80 }));
    const v = vm.programs.dispatch!.run({ data: tcpFrame });
    const k = kernel.programs.dispatch!.run({ data: tcpFrame });
    assert.equal(v.retval, 3);
    assert.equal(v.retval, k.retval);
    const depth = (c: { maps: Record<string, { lookup(k: Uint8Array): Uint8Array | undefined }> }): number => Buffer.from(c.maps['.bss']!.lookup(new Uint8Array(4))!).readUInt32LE(0);
    assert.equal(depth(vm), 33);
    assert.equal(depth(vm), depth(kernel));
    runAll(vm, kernel, 'dispatch');
    assertSameMaps(vm, kernel);
  });
});

test('LPM routing: longest-prefix verdicts and per-route hits', { skip: both() }, () => {
  withBoth('lpm', (vm, kernel) => {
    const route = (prefix: number, addr: string, action: number): [Uint8Array, Uint8Array] => {
      const key = new Uint8Array(8);
      new DataView(key.buffer).setUint32(0, prefix, true);
      key.set(addr.split('.').map(Number), 4);
      const value = new Uint8Array(8);
      new DataView(value.buffer).setUint32(0, action, true);
      return [key, value];
    };
    for (const [key, value] of [route(8, '10.0.0.0', 2), route(16, '10.1.0.0', 3), route(32, '10.1.2.3', 1), route(0, '0.0.0.0', 2), route(24, '10.0.0.0', 3)]) {
      vm.maps.routes!.update(key, value);
      kernel.maps.routes!.update(key, value);
    }
    const verdicts = runAll(vm, kernel, 'xdp_route');
    assert.ok(new Set(verdicts).size >= 3, `${verdicts}`);
    assertSameMaps(vm, kernel);
    assert.deepEqual([...vm.maps.routes!.keys()].map(hex), [...kernel.maps.routes!.keys()].map(hex), 'iteration order');
  });
});

test('LRU flow table below capacity: same entries and new-flow count', { skip: both() }, () => {
  withBoth('lru', (vm, kernel) => {
    runAll(vm, kernel, 'tc_lru');
    runAll(vm, kernel, 'tc_lru');
    assertSameMaps(vm, kernel);
  });
});

test('.kconfig externs are written alike by both backends, as libbpf writes them (char y = 121, tristate m = 2)', { skip: both() }, () => {
  const kconfig = { CONFIG_HZ: '250', CONFIG_BPF_SYSCALL: 'y', CONFIG_TSBPF_MODULE: 'm', CONFIG_TSBPF_CHAR: 'y', CONFIG_TSBPF_NAME: '"tsbpf"' };
  const vm = loadVmCollection(fixture('kconfig_core'), { kconfig, cpus: possibleCpus() });
  try {
    const kernel = loadCollection(fixture('kconfig_core'), { kconfig });
    try {
      const frame = buildPacket(ethernet(), ipv4(), udp(), payload('k'));
      vm.programs.read_config!.run({ data: frame });
      kernel.programs.read_config!.run({ data: frame });
      assertSameMaps(vm, kernel);
      const seen = vm.readVariable('seen');
      assert.deepEqual([1, 2, 3, 4].map((i) => Buffer.from(seen).readBigUInt64LE(i * 8)), [250n, 1n, 2n, 121n]);
    } finally {
      kernel.close();
    }
  } finally {
    vm.close();
  }
});
