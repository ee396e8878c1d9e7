import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadKernelBtf, parseBtf } from '../../src/btf/index.ts';
import { CallSrc, LdImm64Src, OPCODE_CALL, OPCODE_LDDW } from '../../src/isa/opcodes.ts';
import { KernelBtf, type KernelCollection, loadCollection } from '../../src/kernel/collection.ts';
import { BpfSyscallError } from '../../src/kernel/errors.ts';
import { KsymError, POISON_CALL_KFUNC_BASE, applyKsym, kernelCompatibleBtf, resolveKsyms } from '../../src/kernel/ksyms.ts';
import { loadCollectionSpec } from '../../src/object/load.ts';
import type { CollectionSpec } from '../../src/object/spec.ts';
import { skipWithoutClang, skipWithoutKernel, fixturePath } from '../support/env.ts';
import { compileBpf } from '../support/clang.ts';
import { checkNoKernelLeaks, u32 } from './support.ts';

checkNoKernelLeaks();
const needs = { skip: skipWithoutKernel() || skipWithoutClang() };
const source = fixturePath('..', 'kernel', 'fixtures', 'ksyms.c');
const specOf = (...defines: string[]): CollectionSpec => loadCollectionSpec(compileBpf(source, { args: defines.map((d) => `-D${d}`) }));

/** Every address /proc/kallsyms lists for `name`. */
function kallsymsAddresses(name: string): bigint[] {
  const out: bigint[] = [];
  for (const line of readFileSync('/proc/kallsyms', 'latin1').split('\n')) {
    const [address, , symbol] = line.split(/\s+/);
    if (symbol === name) out.push(BigInt(`0x${address}`));
  }
  return out;
}

/** A global variable of the loaded collection, read back from its data map. */
function global(collection: KernelCollection, name: string): bigint {
  const variable = collection.spec.variables[name];
  assert.ok(variable, `variable ${name}`);
  const value = collection.maps[variable.mapName]!.lookup(u32(0))!;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return variable.size === 8 ? view.getBigUint64(variable.offset, true) : BigInt(view.getInt32(variable.offset, true));
}

const kernelId = (name: string, kind: 'func' | 'var'): number => {
  const id = loadKernelBtf().findByName(name, kind)[0]?.id;
  assert.ok(id !== undefined, `${name} is in vmlinux BTF`);
  return id;
};

test('kfunc calls: bpf_cpumask_create/set_cpu/weight/test_cpu/release run in a SYSCALL program', needs, (t) => {
  const spec = specOf();
  const resolved = resolveKsyms(spec);
  for (const name of ['bpf_cpumask_create', 'bpf_cpumask_set_cpu', 'bpf_cpumask_weight', 'bpf_cpumask_test_cpu', 'bpf_cpumask_release']) {
    assert.deepEqual(resolved.get(name), { kind: 'btf', btfId: kernelId(name, 'func') }, name);
  }
  // The relocated call: src = BPF_PSEUDO_KFUNC_CALL, imm = the FUNC's vmlinux id, off = 0 (vmlinux).
  const program = spec.programs.kfunc_cpumask!;
  const reloc = program.relocations.find((r) => r.kind === 'ksym' && r.externName === 'bpf_cpumask_create')!;
  const instructions = program.instructions.map((i) => ({ ...i }));
  applyKsym(instructions, reloc.insnIndex, resolved.get('bpf_cpumask_create')!, 'test');
  assert.deepEqual(instructions[reloc.insnIndex], { ...program.instructions[reloc.insnIndex], src: CallSrc.KFUNC, imm: kernelId('bpf_cpumask_create', 'func'), offset: 0 });

  const collection = loadCollection(spec, { programs: ['kfunc_cpumask'] });
  t.after(() => collection.close());
  assert.equal(collection.programs.kfunc_cpumask!.run({ ctx: new Uint8Array(8) }).retval, 0);
  assert.equal(global(collection, 'weight'), 1n, 'one CPU set in the new mask');
  assert.equal(global(collection, 'has_cpu0'), 1n);
  assert.equal(global(collection, 'has_cpu1'), 0n);
});

test('typeless ksym = /proc/kallsyms address; weak ksyms the kernel lacks read 0; bpf_ksym_exists on weak kfuncs', needs, (t) => {
  const spec = specOf();
  const [address, ...others] = kallsymsAddresses('__start_BTF');
  assert.ok(address !== undefined && address !== 0n && others.length === 0, '__start_BTF has one visible address');
  assert.deepEqual(resolveKsyms(spec).get('__start_BTF'), { kind: 'address', address });

  const collection = loadCollection(spec, { programs: ['typeless_and_weak'] });
  t.after(() => collection.close());
  assert.equal(collection.programs.typeless_and_weak!.run({ ctx: new Uint8Array(8) }).retval, 0);
  assert.equal(global(collection, 'start_btf'), address, 'the program saw the kallsyms address');
  assert.equal(global(collection, 'missing_symbol'), 0n, 'missing weak typeless ksym');
  assert.equal(global(collection, 'missing_var'), 0n, 'missing weak typed ksym');
  assert.equal(global(collection, 'create_exists'), 1n, 'bpf_ksym_exists(bpf_cpumask_empty): lddw of the kfunc by BTF id');
  assert.equal(global(collection, 'missing_kfunc_exists'), 0n, 'bpf_ksym_exists(tsbpf_missing_kfunc)');
});

test('missing weak kfunc: its call is poisoned as libbpf does, the lddw loads 0', needs, () => {
  const spec = specOf();
  const resolved = resolveKsyms(spec);
  const index = Object.keys(spec.externs).indexOf('tsbpf_missing_kfunc');
  assert.deepEqual(resolved.get('tsbpf_missing_kfunc'), { kind: 'missing', index });
  const program = spec.programs.typeless_and_weak!;
  const instructions = program.instructions.map((i) => ({ ...i }));
  const uses = program.relocations.filter((r) => r.kind === 'ksym' && r.externName === 'tsbpf_missing_kfunc');
  for (const r of uses) applyKsym(instructions, r.insnIndex, resolved.get('tsbpf_missing_kfunc')!, 'test');
  const call = uses.find((r) => program.instructions[r.insnIndex]!.opcode === OPCODE_CALL)!;
  assert.deepEqual(instructions[call.insnIndex], { opcode: OPCODE_CALL, dst: 0, src: CallSrc.HELPER, offset: 0, imm: POISON_CALL_KFUNC_BASE + index });
  const load = uses.find((r) => program.instructions[r.insnIndex]!.opcode === OPCODE_LDDW)!;
  assert.equal(instructions[load.insnIndex]!.src, LdImm64Src.IMM64);
  assert.equal(instructions[load.insnIndex]!.imm, 0);
  assert.equal(instructions[load.insnIndex + 1]!.imm, 0);
});

test('a reachable call to a missing weak kfunc: the verifier refusal names the extern', needs, () => {
  const spec = specOf('UNGUARDED_WEAK_KFUNC');
  const index = Object.keys(spec.externs).indexOf('tsbpf_missing_kfunc');
  assert.throws(
    () => loadCollection(spec, { programs: ['typeless_and_weak'] }),
    (e: unknown) =>
      e instanceof KsymError &&
      /program 'typeless_and_weak' calls __weak kfunc 'tsbpf_missing_kfunc'.*bpf_ksym_exists\(tsbpf_missing_kfunc\)/.test(e.message) &&
      e.cause instanceof BpfSyscallError &&
      (e.cause.log ?? '').includes(`invalid func unknown#${POISON_CALL_KFUNC_BASE + index}`),
  );
});

test('typed ksym (runqueues): lddw BPF_PSEUDO_BTF_ID of the vmlinux VAR; runs where the kernel has its address', needs, (t) => {
  const spec = specOf();
  const id = kernelId('runqueues', 'var');
  assert.deepEqual(resolveKsyms(spec).get('runqueues'), { kind: 'btf', btfId: id });
  const program = spec.programs.typed_ksyms!;
  const reloc = program.relocations.find((r) => r.kind === 'ksym' && r.externName === 'runqueues')!;
  const instructions = program.instructions.map((i) => ({ ...i }));
  applyKsym(instructions, reloc.insnIndex, { kind: 'btf', btfId: id }, 'test');
  assert.equal(instructions[reloc.insnIndex]!.src, LdImm64Src.BTF_ID);
  assert.equal(instructions[reloc.insnIndex]!.imm, id);
  assert.equal(instructions[reloc.insnIndex + 1]!.imm, 0, 'BTF object fd 0: vmlinux');

  if (kallsymsAddresses('runqueues').length === 0) {
    // Without CONFIG_KALLSYMS_ALL the verifier cannot find a data symbol's
    // address (check_pseudo_btf_id → kallsyms_lookup_name). That it names
    // 'runqueues' shows it read our BTF id as the right VAR.
    assert.throws(
      () => loadCollection(spec, { programs: ['typed_ksyms'] }),
      (e: unknown) => e instanceof BpfSyscallError && e.code === 'ENOENT' && /failed to find the address for kernel symbol 'runqueues'/.test(e.log ?? ''),
    );
    return;
  }
  const collection = loadCollection(spec, { programs: ['typed_ksyms'] });
  t.after(() => collection.close());
  collection.programs.typed_ksyms!.run({ ctx: new Uint8Array(8) });
  assert.equal(global(collection, 'rq0_cpu'), 0n, 'bpf_per_cpu_ptr(&runqueues, 0)->cpu');
  assert.equal(global(collection, 'this_rq_cpu'), global(collection, 'this_cpu'), 'bpf_this_cpu_ptr(&runqueues)->cpu is the running CPU');
});

test('missing or incompatible non-weak ksyms fail before anything is created, naming the extern', needs, () => {
  const cases: [string, RegExp][] = [
    ['MISSING_STRONG_VAR', /ksym extern 'tsbpf_no_such_var' is not a variable in vmlinux BTF/],
    ['MISSING_STRONG_KFUNC', /kfunc extern 'tsbpf_no_such_kfunc' is not in vmlinux BTF/],
    ['INCOMPATIBLE_KFUNC', /kfunc extern 'bpf_cpumask_weight': the object's prototype __u32 \(const struct cpumask \*, int\) is incompatible with the kernel's u32 \(const struct cpumask \*\)/],
    ['INCOMPATIBLE_VAR', /ksym extern 'runqueues': the object declares it as const int, incompatible with the kernel's struct rq/],
  ];
  for (const [define, message] of cases) {
    assert.throws(() => loadCollection(specOf(define)), (e: unknown) => e instanceof KsymError && message.test(e.message), define);
  }
});

test('object BTF is rewritten for BTF_LOAD as libbpf does: the kernel refuses it as compiled', needs, () => {
  const spec = specOf();
  const btf = spec.btf!;
  assert.throws(() => KernelBtf.load(btf.encode()), (e: unknown) => e instanceof BpfSyscallError && /Invalid func linkage/.test(e.log ?? ''));
  const rewritten = parseBtf(kernelCompatibleBtf(btf));
  const ksyms = rewritten.findByName('.ksyms', 'datasec')[0]!;
  assert.ok(ksyms.kind === 'datasec');
  assert.equal(ksyms.size, 4 * ksyms.vars.length);
  const dummy = rewritten.findByName('dummy_ksym', 'var')[0]!;
  ksyms.vars.forEach((v, i) => {
    assert.deepEqual([v.offset, v.size], [4 * i, 4]);
    const entry = rewritten.typeById(v.type);
    assert.ok(entry.kind === 'var' && entry.linkage === 'global' && rewritten.resolve(entry.type).kind === 'int');
  });
  assert.ok(ksyms.vars.filter((v) => v.type === dummy.id).length === 7, 'the 7 kfunc entries point at dummy_ksym');
  const create = rewritten.findByName('bpf_cpumask_create', 'func')[0]!;
  assert.ok(create.kind === 'func' && create.linkage === 'global');
  assert.ok(rewritten.types.every((x) => !('linkage' in x) || x.linkage !== 'extern'));
  // The spec's own BTF is untouched.
  assert.ok(btf.findByName('bpf_cpumask_create', 'func')[0]!.kind === 'func' && (btf.findByName('bpf_cpumask_create', 'func')[0] as { linkage: string }).linkage === 'extern');
  KernelBtf.load(kernelCompatibleBtf(btf)).close();
});
