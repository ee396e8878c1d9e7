import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutKernel } from '../support/env.ts';
import { VmlinuxBtf } from './vmlinux-btf.ts';
import {
  ArgType,
  HELPERS,
  HELPER_AVAILABILITY,
  ReturnType,
  TypeFlag,
  argTypeName,
  baseType,
  helperAllowed,
  helperById,
  helperByName,
  helperId,
  returnTypeName,
  UnknownHelperNameError,
} from '../../src/uapi/helpers.ts';
import { AttachType, ProgramType } from '../../src/uapi/enums.ts';

let btf: VmlinuxBtf | undefined;
const kernelBtf = (): VmlinuxBtf => (btf ??= new VmlinuxBtf());

test('helper ids and names match the kernel enum bpf_func_id', { skip: skipWithoutKernel() }, () => {
  const kernel = kernelBtf().enumValues('bpf_func_id');
  const ours = new Map(HELPERS.map((h) => [`BPF_FUNC_${h.name}`, BigInt(h.id)]));
  for (const [name, id] of kernel) {
    if (name === 'BPF_FUNC_unspec' || name === '__BPF_FUNC_MAX_ID') continue;
    assert.equal(ours.get(name), id, name);
  }
  assert.equal(HELPERS.length, Number(kernel.get('__BPF_FUNC_MAX_ID')) - 1);
});

test('argument, return and flag constants match the kernel enums', { skip: skipWithoutKernel() }, () => {
  const b = kernelBtf();
  const checks: [string, Readonly<Record<string, number>>, string][] = [
    ['bpf_arg_type', ArgType, 'ARG_'],
    ['bpf_return_type', ReturnType, 'RET_'],
    ['bpf_type_flag', TypeFlag, ''],
  ];
  for (const [enumName, ours, prefix] of checks) {
    const kernel = b.enumValues(enumName);
    for (const [name, value] of Object.entries(ours)) {
      assert.equal(kernel.get(prefix + name), BigInt(value), `${enumName} ${prefix}${name}`);
    }
  }
});

test('every helper has a prototype with at most 5 arguments of known types', () => {
  assert.equal(HELPERS.length, 211);
  const argBases = new Set<number>(Object.values(ArgType).map(baseType));
  const retBases = new Set<number>(Object.values(ReturnType).map(baseType));
  for (const h of HELPERS) {
    assert.ok(h.args.length <= 5, h.name);
    assert.ok(retBases.has(baseType(h.ret)), `${h.name} return ${h.ret}`);
    for (const a of h.args) {
      assert.ok(argBases.has(baseType(a.type)) && baseType(a.type) !== ArgType.DONTCARE, `${h.name}: ${argTypeName(a.type)}`);
      if (baseType(a.type) === ArgType.PTR_TO_MEM && a.type & TypeFlag.MEM_FIXED_SIZE) assert.ok(a.size! > 0, `${h.name} fixed-size arg`);
    }
    // A size argument always follows the memory it sizes.
    h.args.forEach((a, i) => {
      if (a.type === ArgType.CONST_SIZE || a.type === ArgType.CONST_SIZE_OR_ZERO) {
        const prev = h.args[i - 1];
        assert.ok(prev && [ArgType.PTR_TO_MEM, ArgType.PTR_TO_MAP_VALUE].includes(baseType(prev.type) as 4), `${h.name} arg ${i + 1}`);
      }
    });
  }
});

test('prototypes of well-known helpers', () => {
  const lookup = helperByName('bpf_map_lookup_elem')!;
  assert.equal(lookup.ret, ReturnType.PTR_TO_MAP_VALUE_OR_NULL);
  assert.deepEqual(lookup.args.map((a) => a.type), [ArgType.CONST_MAP_PTR, ArgType.PTR_TO_MAP_KEY]);
  assert.equal(returnTypeName(helperByName('ringbuf_reserve')!.ret), 'RET_PTR_TO_RINGBUF_MEM_OR_NULL');
  assert.equal(argTypeName(helperByName('ringbuf_reserve')!.args[1]!.type), 'ARG_CONST_ALLOC_SIZE_OR_ZERO');
  assert.equal(argTypeName(helperByName('probe_read_kernel')!.args[0]!.type), 'ARG_PTR_TO_UNINIT_MEM');
  assert.equal(argTypeName(helperByName('trace_printk')!.args[0]!.type), 'ARG_PTR_TO_MEM | MEM_RDONLY');
  assert.equal(helperByName('trace_printk')!.gplOnly, true);
  assert.equal(helperByName('tail_call')!.ret, ReturnType.VOID);
  assert.equal(helperByName('loop')!.args[0]!.type, ArgType.ANYTHING);
  assert.equal(helperByName('strtol')!.args[3]!.size, 8);
  assert.equal(helperByName('sk_lookup_tcp')!.ret, ReturnType.PTR_TO_SOCKET_OR_NULL);
  assert.equal(helperByName('get_current_task_btf')!.retBtfType, 'task_struct');
  assert.equal(helperById(1), lookup);
  assert.equal(helperByName('no_such_helper'), undefined);
});

test('availability per program type', () => {
  assert.equal(helperAllowed(ProgramType.SOCKET_FILTER, helperByName('skb_store_bytes')!.id), false);
  assert.equal(helperAllowed(ProgramType.SCHED_CLS, helperByName('skb_store_bytes')!.id), true);
  assert.equal(helperAllowed(ProgramType.XDP, helperByName('xdp_adjust_head')!.id), true);
  assert.equal(helperAllowed(ProgramType.KPROBE, helperByName('xdp_adjust_head')!.id), false);
  assert.equal(helperAllowed(ProgramType.KPROBE, helperByName('probe_read_kernel')!.id), true);
  assert.equal(helperAllowed(ProgramType.TRACING, helperByName('get_func_arg')!.id), true);
  assert.equal(helperAllowed(ProgramType.CGROUP_SOCK_ADDR, helperByName('bind')!.id, AttachType.CGROUP_INET4_CONNECT), true);
  assert.equal(helperAllowed(ProgramType.CGROUP_SOCK_ADDR, helperByName('bind')!.id, AttachType.CGROUP_INET4_BIND), false);
  assert.equal(helperAllowed(ProgramType.EXT, 1), undefined);
  for (const [type, ids] of Object.entries(HELPER_AVAILABILITY)) {
    for (const id of ids) assert.ok(helperById(id), `program type ${type} lists unknown helper ${id}`);
  }
});

test('helperId names the helper it cannot find with a typed error', () => {
  assert.equal(helperId('map_lookup_elem'), 1);
  assert.equal(helperId('bpf_tail_call'), 12);
  assert.throws(() => helperId('no_such_helper'), (e: unknown) => e instanceof UnknownHelperNameError && e.helper === 'no_such_helper' && /bpf_no_such_helper/.test(e.message));
});
