import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { BpfCommand, attr, bpfCall, scratch } from '../../src/kernel/bpf.ts';
import { parseBtf } from '../../src/btf/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { readElfSections, section } from './elf-sections.ts';

/** BPF_BTF_LOAD of `bytes`; returns the fd or throws with the kernel's BTF log. */
function btfLoad(bytes: Uint8Array): number {
  scratch.reset();
  const data = scratch.put(bytes);
  const log = scratch.take(1 << 16);
  const a = attr(32).u64(0, data).u64(8, log.address).u32(16, bytes.length).u32(20, log.bytes.length).u32(24, 1);
  try {
    return bpfCall(BpfCommand.BTF_LOAD, a, { subject: 'BTF' });
  } catch (err) {
    const text = new TextDecoder().decode(log.bytes.subarray(0, log.bytes.indexOf(0)));
    throw new Error(`${(err as Error).message}\n${text}`);
  }
}

test('encode() produces BTF the kernel loads (BPF_BTF_LOAD), after the loader-style DATASEC fix-up', { skip: skipWithoutKernel() || skipWithoutClang() }, () => {
  const btf = parseBtf(section(readElfSections(compileBpf(fixturePath('btf', 'kinds.c'))), '.BTF'));
  // Clang leaves DATASEC sizes and offsets to the loader (from the ELF symbols); lay the variables out in order.
  for (const t of btf.types) {
    if (t.kind !== 'datasec') continue;
    let offset = 0;
    for (const v of t.vars) {
      offset = Math.ceil(offset / 8) * 8;
      v.offset = offset;
      offset += v.size;
    }
    t.size = offset;
  }
  const fd = btfLoad(btf.encode());
  assert.ok(fd >= 0);
  closeSync(fd);
  // Without the fix-up the kernel refuses the size-0 DATASEC, as it refuses objects libbpf has not fixed.
  const raw = parseBtf(section(readElfSections(compileBpf(fixturePath('btf', 'kinds.c'))), '.BTF'));
  assert.throws(() => btfLoad(raw.encode()), /BTF_LOAD/);
});
