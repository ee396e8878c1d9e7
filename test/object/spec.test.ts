// What the loader makes of each fixture: maps, global data, externs, CO-RE,
// section classification; big-endian objects load identically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AttachType, MapType, ProgramType } from '../../src/uapi/enums.ts';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_F_XDP_HAS_FRAGS, classifySection, loadCollectionSpec } from '../../src/object/index.ts';
import type { CollectionSpec } from '../../src/object/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { FIXTURES } from './fixtures.ts';

const skip = skipWithoutClang();
const load = (name: string, bigEndian = false): CollectionSpec => loadCollectionSpec(compileBpf(fixturePath('object', `${name}.c`), { bigEndian }));

test('BTF maps: attributes, map-in-map with values, prog array with values', { skip }, () => {
  const spec = load('btf_maps');
  const { outer, inner_a, flows, bloom, events, jumps } = spec.maps;
  assert.deepEqual(
    { type: inner_a!.type, keySize: inner_a!.keySize, valueSize: inner_a!.valueSize, maxEntries: inner_a!.maxEntries },
    { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2 },
  );
  assert.equal(outer!.type, MapType.ARRAY_OF_MAPS);
  assert.equal(outer!.valueSize, 4);
  assert.deepEqual(outer!.contents, [
    { key: 0, value: { map: 'inner_a' } },
    { key: 3, value: { map: 'inner_b' } },
  ]);
  assert.deepEqual({ ...outer!.innerMap!, btfKeyTypeId: undefined, btfValueTypeId: undefined }, {
    name: 'outer.inner', type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0, pinning: 'none',
    contents: [], readOnly: false, frozen: false, section: '.maps', btfKeyTypeId: undefined, btfValueTypeId: undefined,
  });
  assert.equal(flows!.type, MapType.HASH);
  assert.equal(flows!.flags, 1, 'BPF_F_NO_PREALLOC');
  assert.equal(flows!.numaNode, 0);
  assert.equal(flows!.pinning, 'by-name');
  assert.equal(flows!.keySize, 8);
  assert.equal(flows!.valueSize, 8, 'struct {u32; u16} is padded to 8');
  assert.equal(spec.btf!.resolve(flows!.btfValueTypeId!).kind, 'struct');
  assert.equal(bloom!.mapExtra, 3n);
  assert.equal(bloom!.valueSize, 8);
  assert.equal(bloom!.keySize, 0);
  assert.equal(events!.type, MapType.RINGBUF);
  assert.equal(events!.maxEntries, 4096);
  assert.equal(jumps!.type, MapType.PROG_ARRAY);
  assert.deepEqual(jumps!.contents, [
    { key: 1, value: { program: 'tail_a' } },
    { key: 5, value: { program: 'tail_b' } },
  ]);
  assert.deepEqual(spec.programs.entry!.relocations.map((r) => r.kind === 'map' && r.mapName), ['outer', 'flows', 'bloom', 'events', 'jumps']);
});

test('legacy bpf_map_def maps, samples/bpf section name, version section', { skip }, () => {
  const spec = load('legacy_maps');
  assert.deepEqual(
    Object.values(spec.maps).map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags]),
    [
      ['counts', MapType.ARRAY, 4, 8, 256, 0],
      ['seen', MapType.HASH, 4, 4, 64, 1],
    ],
  );
  assert.equal(spec.programs.count_packets!.type, ProgramType.SOCKET_FILTER, "'socket1' is a legacy socket section");
  assert.equal(spec.kernelVersion, 0x060c00);
  assert.equal(spec.programs.count_packets!.kernelVersion, 0x060c00);
});

test('iproute2 bpf_elf_map: pinning and id/inner_id/inner_idx map-in-map', { skip }, () => {
  const spec = load('iproute2_maps');
  const outer = spec.maps.map_outer!;
  assert.equal(outer.pinning, 'by-name');
  assert.equal(outer.innerMap?.type, MapType.ARRAY);
  assert.equal(outer.innerMap?.valueSize, 4);
  assert.deepEqual(outer.contents, [{ key: 2, value: { map: 'map_inner' } }]);
  assert.equal(spec.maps.map_inner!.pinning, 'none');
  assert.equal(spec.programs.cls_main!.type, ProgramType.SCHED_CLS);
  assert.equal(spec.programs.act_main!.type, ProgramType.SCHED_ACT);
});

test('global data: .data/.rodata/.bss and custom sections become maps with variables', { skip }, () => {
  const spec = load('globals');
  const m = spec.maps;
  assert.deepEqual(Object.keys(m).sort(), ['.bss', '.bss.scratch', '.data', '.data.stats', '.rodata', '.rodata.cfg']);
  assert.equal(m['.rodata']!.readOnly, true);
  assert.equal(m['.rodata']!.frozen, true);
  assert.equal(m['.rodata']!.flags, BPF_F_RDONLY_PROG | BPF_F_MMAPABLE);
  assert.equal(m['.rodata.cfg']!.readOnly, true);
  assert.equal(m['.data']!.readOnly, false);
  assert.equal(m['.data']!.flags, BPF_F_MMAPABLE);
  assert.deepEqual([...m['.data']!.initialData!], [7, 0, 0, 0]);
  assert.deepEqual([...m['.data.stats']!.initialData!], [3, 0, 0, 0]);
  assert.deepEqual([...m['.bss.scratch']!.initialData!], new Array(64).fill(0));
  const v = spec.variables;
  const threshold = v.threshold!;
  assert.deepEqual([threshold.mapName, threshold.size], ['.rodata', 4]);
  assert.equal(new DataView(m['.rodata']!.initialData!.buffer).getUint32(threshold.offset, true), 100);
  const banner = v.banner!;
  assert.equal(new TextDecoder().decode(m['.rodata']!.initialData!.subarray(banner.offset, banner.offset + 5)), 'tsbpf');
  assert.equal(v.local_hits!.isStatic, true);
  assert.equal(v.dropped!.isStatic, false);
  assert.equal(spec.btf!.resolve(v.custom_limit!.typeId!).name, 'int');
  // The DATASEC the kernel sees has the section's size and the symbols' offsets.
  const datasec = spec.btf!.typeById(m['.rodata']!.btfValueTypeId!);
  assert.ok(datasec.kind === 'datasec');
  assert.equal(datasec.size, m['.rodata']!.valueSize);
  assert.deepEqual(datasec.vars.map((x) => x.offset), [threshold.offset, banner.offset].sort((a, b) => a - b));
  assert.equal(spec.license, 'Dual BSD/GPL');
  // The spec is plain data apart from BTF.
  const copy = structuredClone({ ...spec, btf: undefined, programs: Object.fromEntries(Object.entries(spec.programs).map(([k, p]) => [k, { ...p, btf: undefined }])) });
  assert.deepEqual(copy.maps, spec.maps);
});

test('externs: kconfig laid out in a read-only .kconfig map, ksyms typed/typeless, kfuncs', { skip }, () => {
  const spec = load('externs');
  const e = spec.externs;
  assert.deepEqual(
    Object.values(e).map((x) => [x.name, x.kind, x.weak, x.offset, x.size, x.isFunction]).sort(),
    [
      ['CONFIG_BPF_SYSCALL', 'kconfig', false, 8, 1, undefined],
      ['CONFIG_HZ', 'kconfig', true, 0, 4, undefined],
      ['LINUX_KERNEL_VERSION', 'kconfig', false, 4, 4, undefined],
      ['tsbpf_no_such_symbol', 'ksym', true, undefined, undefined, false],
      ['bpf_prog_active', 'ksym', false, undefined, undefined, false],
      ['bpf_rcu_read_lock', 'ksym', false, undefined, undefined, true],
      ['bpf_rcu_read_unlock', 'ksym', false, undefined, undefined, true],
    ].sort(),
  );
  const kconfig = spec.maps['.kconfig']!;
  assert.equal(kconfig.valueSize, 16);
  assert.equal(kconfig.readOnly && kconfig.frozen, true);
  const program = spec.programs.with_externs!;
  const relocs = program.relocations;
  const kfunc = relocs.find((r) => r.kind === 'ksym' && r.externName === 'bpf_rcu_read_lock')!;
  assert.equal(program.instructions[kfunc.insnIndex]!.src, 2, 'BPF_PSEUDO_KFUNC_CALL');
  const typed = relocs.find((r) => r.kind === 'ksym' && r.externName === 'bpf_prog_active')!;
  assert.equal(program.instructions[typed.insnIndex]!.src, 3, 'BPF_PSEUDO_BTF_ID');
  const weak = relocs.find((r) => r.kind === 'ksym' && r.externName === 'tsbpf_no_such_symbol')!;
  assert.equal(program.instructions[weak.insnIndex]!.src, 3, 'BPF_PSEUDO_BTF_ID');
  const helper = program.functions.find((f) => f.name === 'weak_ksym_addr');
  assert.ok(helper && weak.insnIndex > helper.insnIndex, 'relocation inside a subprogram carried along');
  const hz = relocs.find((r) => r.kind === 'kconfig' && r.externName === 'CONFIG_HZ')!;
  assert.ok(hz.kind === 'kconfig');
  assert.equal(program.instructions[hz.insnIndex]!.src, 2, 'BPF_PSEUDO_MAP_VALUE');
  assert.equal(program.instructions[hz.insnIndex + 1]!.imm, e.CONFIG_HZ!.offset);
});

test('typeless ksym: lddw of the kallsyms address', { skip }, () => {
  const spec = load('ksym_typeless');
  const program = spec.programs.typeless_ksym!;
  const reloc = program.relocations.find((r) => r.kind === 'ksym' && r.externName === 'bpf_link_fops');
  assert.ok(reloc);
  assert.equal(program.instructions[reloc.insnIndex]!.src, 0, 'typeless ksym: plain lddw, the backend fills the address');
  assert.equal(spec.externs.bpf_link_fops!.weak, true);
});

test('CO-RE field and enum relocations are indexed to the linked program', { skip }, () => {
  const spec = load('core');
  const program = spec.programs.core_prog!;
  assert.deepEqual(
    program.coreRelocations.map((r) => [r.kind, r.accessString, spec.btf!.describe(r.typeId)]),
    [
      ['field_byte_offset', '0:0', 'struct task_like'],
      ['field_exists', '0:2', 'struct task_like'],
      ['field_byte_size', '0:3', 'struct task_like'],
      ['enum_value_exists', '1', 'enum state_like'],
      ['enum_value', '1', 'enum state_like'],
    ],
  );
  for (const r of program.coreRelocations) assert.ok(r.insnIndex < program.instructions.length);
  assert.equal(program.type, ProgramType.RAW_TRACEPOINT);
  assert.equal(program.attachTo, 'sched_switch');
});

test('section names: program type, attach type, target, sleepable, flags', { skip }, () => {
  const spec = load('sections');
  const p = (name: string) => spec.programs[name]!;
  assert.equal(p('p_xdp_frags').programFlags, BPF_F_XDP_HAS_FRAGS);
  assert.equal(p('p_xdp_devmap').expectedAttachType, AttachType.XDP_DEVMAP);
  assert.equal(p('p_tcx_ingress').expectedAttachType, AttachType.TCX_INGRESS);
  assert.deepEqual([p('p_kprobe').type, p('p_kprobe').attachTo], [ProgramType.KPROBE, 'do_sys_open']);
  assert.equal(p('p_uprobe').attachTo, '/usr/bin/bash:readline');
  assert.equal(p('p_uprobe_s').sleepable, true);
  assert.equal(p('p_uprobe').sleepable, false);
  assert.equal(p('p_tp').attachTo, 'syscalls/sys_enter_write');
  assert.equal(p('p_raw_tp_w').type, ProgramType.RAW_TRACEPOINT_WRITABLE);
  assert.deepEqual([p('p_fentry').type, p('p_fentry').expectedAttachType, p('p_fentry').attachTo], [ProgramType.TRACING, AttachType.TRACE_FENTRY, 'do_unlinkat']);
  assert.deepEqual([p('p_fexit_s').sleepable, p('p_fexit_s').expectedAttachType], [true, AttachType.TRACE_FEXIT]);
  assert.deepEqual([p('p_lsm_s').type, p('p_lsm_s').sleepable], [ProgramType.LSM, true]);
  assert.deepEqual([p('p_iter').expectedAttachType, p('p_iter').attachTo], [AttachType.TRACE_ITER, 'task']);
  assert.equal(p('p_sysctl').expectedAttachType, AttachType.CGROUP_SYSCTL);
  assert.equal(p('p_getsockopt').type, ProgramType.CGROUP_SOCKOPT);
  assert.equal(p('p_cgroup_skb').expectedAttachType, AttachType.CGROUP_INET_EGRESS);
  assert.equal(p('p_sk_skb').expectedAttachType, AttachType.SK_SKB_STREAM_PARSER);
  assert.deepEqual([p('p_struct_ops').type, p('p_struct_ops').attachTo], [ProgramType.STRUCT_OPS, 'init']);
  assert.deepEqual([p('p_syscall').type, p('p_syscall').sleepable], [ProgramType.SYSCALL, true]);
  assert.equal(p('p_netfilter').expectedAttachType, AttachType.NETFILTER);
  assert.equal(p('p_perf_event').type, ProgramType.PERF_EVENT);
  assert.equal(p('p_unknown').type, 0, 'unknown sections are left unspecified');
});

test('classifySection follows libbpf matching rules', () => {
  assert.deepEqual([classifySection('xdp/foo')?.programType, classifySection('xdp/foo')?.attachTo], [ProgramType.XDP, undefined], 'legacy prefix match');
  assert.equal(classifySection('kprobe')?.attachTo, undefined);
  assert.equal(classifySection('kprobex'), undefined, "'kprobe+' needs '/' or the end after the prefix");
  assert.equal(classifySection('tp_btf/x')?.def?.attachBtf, true);
  assert.equal(classifySection('kretprobe.multi/vfs_*')?.expectedAttachType, AttachType.TRACE_KPROBE_MULTI);
  assert.equal(classifySection('kretprobe.multi/vfs_*')?.def?.returnProbe, true);
  assert.equal(classifySection('socket42')?.programType, ProgramType.SOCKET_FILTER);
  assert.equal(classifySection('xdp_redirect')?.programType, ProgramType.XDP);
  assert.equal(classifySection('classifier_ingress')?.programType, ProgramType.SCHED_CLS);
  assert.equal(classifySection('sk_reuseport/migrate')?.expectedAttachType, AttachType.SK_REUSEPORT_SELECT_OR_MIGRATE);
  assert.equal(classifySection('cgroup/connect_unix')?.expectedAttachType, AttachType.CGROUP_UNIX_CONNECT);
});

for (const name of FIXTURES) {
  test(`${name}: a big-endian build loads identically`, { skip }, () => {
    const little = load(name);
    const big = load(name, true);
    assert.equal(big.byteOrder, 'big');
    assert.equal(big.btf?.endianness, 'big');
    const normalise = (spec: CollectionSpec) => ({
      programs: Object.fromEntries(Object.entries(spec.programs).map(([k, p]) => [k, { ...p, btf: undefined }])),
      // Global data is in the object's byte order; compare everything else.
      maps: Object.fromEntries(Object.entries(spec.maps).map(([k, { initialData, ...m }]) => [k, { ...m, dataLength: initialData?.length }])),
      variables: spec.variables,
      externs: spec.externs,
      license: spec.license,
      kernelVersion: spec.kernelVersion,
    });
    assert.deepEqual(normalise(big), normalise(little));
  });
}

test('loadCollectionSpec reads a path and bytes alike', { skip }, () => {
  const path = compileBpf(fixturePath('object', 'subprogs.c'));
  const a = loadCollectionSpec(path);
  const b = loadCollectionSpec(new Uint8Array(readFileSync(path)));
  assert.deepEqual(Object.keys(a.programs), Object.keys(b.programs));
  assert.deepEqual(a.programs.first!.instructions, b.programs.first!.instructions);
});
