import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutKernel } from '../support/env.ts';
import { VmlinuxBtf } from './vmlinux-btf.ts';
import { MapFlag, MAP_TYPE_RULES, RingbufConst, StackFlag, UpdateFlag, mapHelperCompatible, mapTypeRule, mapFlagNames } from '../../src/uapi/maps.ts';
import { CONTEXT_LAYOUTS, PROGRAM_TYPES, XdpAction, contextFieldAt, programTypeSpec } from '../../src/uapi/program-types.ts';
import { MapType, ProgramType } from '../../src/uapi/enums.ts';

let btf: VmlinuxBtf | undefined;
const kernelBtf = (): VmlinuxBtf => (btf ??= new VmlinuxBtf());

test('map flag constants match the kernel', { skip: skipWithoutKernel() }, () => {
  const b = kernelBtf();
  const create = b.enumValues(undefined, 'BPF_F_NO_PREALLOC');
  for (const [name, value] of Object.entries(MapFlag)) assert.equal(create.get(`BPF_F_${name}`), BigInt(value), name);
  const update = b.enumValues(undefined, 'BPF_NOEXIST');
  for (const [name, value] of Object.entries(UpdateFlag)) assert.equal(update.get(name === 'F_LOCK' ? 'BPF_F_LOCK' : `BPF_${name}`), BigInt(value), name);
  const stack = b.enumValues(undefined, 'BPF_F_REUSE_STACKID');
  for (const [name, value] of Object.entries(StackFlag)) assert.equal(stack.get(`BPF_F_${name}`), BigInt(value), name);
  const ring = b.enumValues(undefined, 'BPF_RINGBUF_BUSY_BIT');
  assert.equal(ring.get('BPF_RINGBUF_BUSY_BIT'), BigInt(RingbufConst.BUSY_BIT));
  assert.equal(ring.get('BPF_RINGBUF_DISCARD_BIT'), BigInt(RingbufConst.DISCARD_BIT));
  assert.equal(ring.get('BPF_RINGBUF_HDR_SZ'), BigInt(RingbufConst.HEADER_SIZE));
  const xdp = b.enumValues('xdp_action');
  for (const [name, value] of Object.entries(XdpAction)) assert.equal(xdp.get(`XDP_${name}`), BigInt(value), name);
});

test('every map type has exactly one rule', () => {
  assert.deepEqual(MAP_TYPE_RULES.map((r) => r.type).sort((a, b) => a - b), Object.values(MapType).sort((a, b) => a - b));
  assert.equal(mapTypeRule(MapType.ARRAY)!.key.exact, 4);
  assert.equal(mapTypeRule(MapType.LPM_TRIE)!.requiredFlags, MapFlag.NO_PREALLOC);
  assert.equal(mapTypeRule(MapType.RINGBUF)!.maxEntries, 'power-of-2-pages');
  assert.equal(mapFlagNames(MapFlag.NO_PREALLOC | MapFlag.RDONLY_PROG | (1 << 30)), 'BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG | 0x40000000');
});

test('map/helper compatibility follows check_map_func_compatibility', () => {
  assert.equal(mapHelperCompatible(MapType.HASH, 'map_lookup_elem'), true);
  assert.equal(mapHelperCompatible(MapType.PROG_ARRAY, 'map_lookup_elem'), false);
  assert.equal(mapHelperCompatible(MapType.HASH, 'tail_call'), false);
  assert.equal(mapHelperCompatible(MapType.QUEUE, 'map_push_elem'), true);
  assert.equal(mapHelperCompatible(MapType.HASH, 'map_push_elem'), false);
  assert.equal(mapHelperCompatible(MapType.BLOOM_FILTER, 'map_pop_elem'), false);
  assert.equal(mapHelperCompatible(MapType.RINGBUF, 'ringbuf_reserve'), true);
  assert.equal(mapHelperCompatible(MapType.ARRAY, 'ringbuf_reserve'), false);
});

test('context layouts match the kernel BTF member offsets', { skip: skipWithoutKernel() }, () => {
  const b = kernelBtf();
  for (const [key, ours] of Object.entries(CONTEXT_LAYOUTS)) {
    const kernel = b.struct(ours.struct);
    assert.equal(ours.size, kernel.size, `sizeof(struct ${key})`);
    assert.deepEqual(ours.fields.map((f) => [f.name, f.offset, f.size]), kernel.members.map((m) => [m.name, m.offset, m.size]), `struct ${key}`);
  }
});

test('context access rules', () => {
  const tc = programTypeSpec(ProgramType.SCHED_CLS)!.access!;
  const filter = programTypeSpec(ProgramType.SOCKET_FILTER)!.access!;
  assert.ok(tc.write.includes('mark'));
  assert.ok(!filter.write.includes('mark'));
  assert.ok(filter.read.includes('mark'));
  assert.ok(!filter.read.includes('data'));
  assert.equal(tc.pointers.data, 'packet');
  assert.equal(tc.pointers.data_meta, 'packet_meta');
  assert.equal(programTypeSpec(ProgramType.XDP)!.access!.pointers.data_end, 'packet_end');
  assert.equal(programTypeSpec(ProgramType.XDP)!.actions, XdpAction);
  assert.deepEqual(programTypeSpec(ProgramType.CGROUP_SOCK)!.returnRange, [0, 1]);
  assert.equal(contextFieldAt(CONTEXT_LAYOUTS.__sk_buff, 50)!.name, 'cb');
  for (const spec of PROGRAM_TYPES) {
    const layout = spec.context in CONTEXT_LAYOUTS ? CONTEXT_LAYOUTS[spec.context as keyof typeof CONTEXT_LAYOUTS] : undefined;
    if (!spec.access || !layout) continue;
    const fields = new Set(layout.fields.map((f) => f.name));
    for (const name of [...spec.access.read, ...spec.access.write, ...Object.keys(spec.access.pointers)]) {
      assert.ok(fields.has(name), `${spec.name}: ${name} is not a field of ${layout.struct}`);
    }
    for (const name of spec.access.write) assert.ok(spec.access.read.includes(name), `${spec.name}: ${name} writable but not readable`);
  }
});
