import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { loadCollectionSpec, type CollectionSpec } from '../../src/object/index.ts';
import { BpfSyscallError, loadCollection } from '../../src/kernel/index.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from './support.ts';

// Every C fixture of the object loader (test/fixtures/object) loaded into the
// running kernel: what this kernel accepts loads, and every refusal is the
// exact one expected here, explained.

checkNoKernelLeaks();
const needs = { skip: skipWithoutKernel() || skipWithoutClang() };
const PIN_DIR = `/sys/fs/bpf/tsbpf-object-fixtures-${process.pid}`;
const specOf = (name: string): CollectionSpec => loadCollectionSpec(compileBpf(fixturePath('object', `${name}.c`)));

/** Loads the programs named (default all) with by-name pins under PIN_DIR, closes everything, removes the pins. */
function load(spec: CollectionSpec, programs?: string[]): void {
  mkdirSync(PIN_DIR, { recursive: true });
  try {
    loadCollection(spec, { pinPath: PIN_DIR, ...(programs ? { programs } : {}) }).close();
  } finally {
    rmSync(PIN_DIR, { recursive: true, force: true });
  }
}

/** Refusals this kernel makes on purpose: fentry/fexit/LSM are not permitted here. */
const refusedByPolicy = (e: unknown): boolean => e instanceof BpfSyscallError && e.code === 'EPERM' && /although this process is root/.test(e.message);

test('every object fixture is covered here', needs, () => {
  const fixtures = readdirSync(fixturePath('object')).filter((f) => f.endsWith('.c')).map((f) => f.slice(0, -2)).sort();
  assert.deepEqual(fixtures, ['btf_maps', 'cilium_maps', 'core', 'externs', 'globals', 'gobpf_maps', 'iproute2_maps', 'ksym_typeless', 'legacy_maps', 'sections', 'subprogs']);
});

test('kernel-era objects load with their maps: Cilium bpf_elf_map (as tc types them), gobpf maps/NAME, symbol-less code', needs, () => {
  const cilium = specOf('cilium_maps');
  for (const program of Object.values(cilium.programs)) program.type = ProgramType.SCHED_CLS;
  load(cilium);
  load(specOf('gobpf_maps'));
  load(loadCollectionSpec(compileBpf(fixturePath('object', 'legacy_code.s'))));
});

for (const name of ['btf_maps', 'globals', 'iproute2_maps', 'ksym_typeless', 'legacy_maps', 'subprogs']) {
  test(`${name}: every program and map loads into the kernel`, needs, () => load(specOf(name)));
}

test('core: the poisoned CO-RE access is refused with the relocation that poisoned it', needs, () => {
  assert.throws(() => load(specOf('core')), /core_prog.*poisoned: no struct named 'task_like' in the target BTF.*reachable/);
});

test('externs: loads, or the kernel cannot place the typed ksym (no CONFIG_KALLSYMS_ALL)', needs, () => {
  try {
    load(specOf('externs'));
  } catch (error) {
    assert.ok(error instanceof BpfSyscallError && error.code === 'ENOENT' && /failed to find the address for kernel symbol/.test(error.log ?? ''), String(error));
  }
});

test('sections: each program loads with its section-derived type, attach type and attach BTF id', needs, () => {
  const spec = specOf('sections');
  for (const program of Object.values(spec.programs)) {
    const attempt = (): void => load(spec, [program.name]);
    if (program.section === 'custom_name') {
      assert.throws(attempt, /does not give a program type; set programTypes/);
    } else if (program.section.startsWith('struct_ops')) {
      assert.throws(attempt, /struct_ops programs load with their struct_ops map/);
    } else if (/^(fentry|fexit|lsm)/.test(program.section)) {
      try {
        attempt();
      } catch (error) {
        assert.ok(refusedByPolicy(error), `${program.section}: ${String(error)}`);
      }
    } else {
      attempt();
    }
  }
});

const failing = (define: string): CollectionSpec => loadCollectionSpec(compileBpf(fixturePath('..', 'kernel', 'fixtures', 'load_failures.c'), { args: [`-D${define}`] }));

test('an object without a license is loaded as such: GPL-only helpers are refused, as with libbpf', needs, () => {
  const spec = failing('NO_LICENSE');
  assert.equal(spec.license, '');
  assert.throws(() => loadCollection(spec).close(), (e: unknown) => e instanceof BpfSyscallError && /GPL/.test(e.log ?? ''));
});

test('a failed load removes the pins it created', needs, () => {
  mkdirSync(PIN_DIR, { recursive: true });
  try {
    assert.throws(() => loadCollection(failing('PIN_THEN_FAIL'), { pinPath: PIN_DIR }).close(), BpfSyscallError);
    assert.deepEqual(readdirSync(PIN_DIR), []);
  } finally {
    rmSync(PIN_DIR, { recursive: true, force: true });
  }
});
