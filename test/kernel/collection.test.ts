import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { release } from 'node:os';
import { test } from 'node:test';
import { loadCollectionSpec } from '../../src/object/load.ts';
import { loadCollection, KernelBtf } from '../../src/kernel/collection.ts';
import { ensureBpffs } from '../../src/kernel/map.ts';
import { btfInfo } from '../../src/kernel/info.ts';
import { BpfSyscallError } from '../../src/kernel/errors.ts';
import { skipWithoutClang, skipWithoutKernel, fixturePath } from '../support/env.ts';
import { compileBpf } from '../support/clang.ts';
import { checkNoKernelLeaks, readU64, u32 } from './support.ts';

checkNoKernelLeaks();
const needs = { skip: skipWithoutKernel() || skipWithoutClang() };
const source = fixturePath('..', 'kernel', 'fixtures', 'collection.c');

test('a clang-built collection loads: BTF, pinned map, prog array, map-in-map, globals, kconfig', needs, (t) => {
  const spec = loadCollectionSpec(compileBpf(source));
  const pinPath = `${ensureBpffs()}`;
  const pinned = `${pinPath}/tsbpf_pinned`;
  rmSync(pinned, { force: true });
  t.after(() => rmSync(pinned, { force: true }));
  // .rodata is editable before loading: make the entry drop.
  const rodata = spec.maps['.rodata']!;
  const verdictVar = spec.variables.verdict!;
  new DataView(rodata.initialData!.buffer, rodata.initialData!.byteOffset).setUint32(verdictVar.offset, 1 /* XDP_DROP */, true);

  const collection = loadCollection(spec, { pinPath });
  t.after(() => collection.close());
  assert.ok(collection.btf && btfInfo(collection.btf.fd).size > 0);
  assert.ok(existsSync(pinned), 'the by-name map is pinned');
  const entry = collection.programs.entry!;
  assert.equal(entry.run({ data: new Uint8Array(64) }).retval, 1, 'frozen .rodata verdict');
  assert.equal(entry.run({ data: new Uint8Array(99) }).retval, 3, 'tail call into the prog array entry returns XDP_TX');
  assert.equal(readU64(collection.maps.tsbpf_pinned!.lookup(u32(0))), 2n);
  const bss = collection.maps['.bss']!.lookup(u32(0))!;
  assert.equal(new DataView(bss.buffer).getBigUint64(spec.variables.calls!.offset, true), 2n);
  const data = collection.maps['.data']!.lookup(u32(0))!;
  const [major = 0, minor = 0, patch = 0] = release().split(/[.-]/).map(Number);
  assert.equal(new DataView(data.buffer).getBigUint64(spec.variables.seen_version!.offset, true), BigInt((major << 16) + (minor << 8) + Math.min(patch, 255)));
  assert.throws(() => collection.maps['.rodata']!.update(u32(0), new Uint8Array(rodata.valueSize)), (e: unknown) => e instanceof BpfSyscallError && e.code === 'EPERM');
  collection.close();

  // Loading again reuses the pinned map with its contents.
  const again = loadCollection(loadCollectionSpec(compileBpf(source)), { pinPath });
  try {
    assert.equal(readU64(again.maps.tsbpf_pinned!.lookup(u32(0))), 2n);
  } finally {
    again.close();
  }
});

test('BTF_LOAD rejects malformed BTF with the kernel BTF log', { skip: skipWithoutKernel() }, () => {
  const header = new Uint8Array(24);
  const v = new DataView(header.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(16, 0, true);
  v.setUint32(20, 5, true); // strings claimed beyond the buffer
  assert.throws(() => KernelBtf.load(header), (e: unknown) => e instanceof BpfSyscallError && e.command === 'BTF_LOAD' && (e.log ?? '').length > 0);
});
