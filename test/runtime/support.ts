/**
 * Differential harness: the same compiled fixture loaded into the VM
 * (src/vm/collection.ts) and into the kernel (src/kernel/collection.ts),
 * run over the same inputs, compared on return values, output packets and
 * map contents.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { possibleCpus } from '../../src/kernel/map.ts';
import type { BpfMap } from '../../src/backend/index.ts';
import { loadCollection, type KernelCollection } from '../../src/kernel/collection.ts';
import { loadVmCollection, type VmCollection } from '../../src/vm/collection.ts';
import { MapType } from '../../src/uapi/enums.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath } from '../support/env.ts';

/** The shared header's hash goes into the compile options, so editing it recompiles the cached fixtures. */
const HEADER_HASH = createHash('sha256').update(readFileSync(fixturePath('runtime', 'packet.h'))).digest('hex').slice(0, 12);

export const fixture = (name: string): string => compileBpf(fixturePath('runtime', `${name}.c`), { args: [`-DRUNTIME_FIXTURE_HEADER=${HEADER_HASH}`] });

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Map contents as key hex → value hex; per-CPU values summed over CPUs (as little-endian integers). */
export function contents(map: BpfMap): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of map.entries()) {
    if (!map.perCpu) {
      out.set(hex(key), hex(value));
      continue;
    }
    const stride = Math.ceil(map.valueSize / 8) * 8;
    let sum = 0n;
    for (let at = 0; at < value.length; at += stride) {
      let v = 0n;
      for (let i = map.valueSize - 1; i >= 0; i--) v = (v << 8n) | BigInt(value[at + i]!);
      sum += v;
    }
    out.set(hex(key), sum.toString());
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Maps whose contents are not comparable bytes: references (ids vs fds) and ring buffers. */
const NOT_COMPARABLE = new Set<number>([MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.RINGBUF, MapType.PERF_EVENT_ARRAY]);

export function assertSameMaps(vm: VmCollection, kernel: KernelCollection, only?: string[]): void {
  for (const [name, kmap] of Object.entries(kernel.maps)) {
    if (NOT_COMPARABLE.has(kmap.type) || (only && !only.includes(name))) continue;
    assert.deepEqual(contents(vm.maps[name]!), contents(kmap), `map ${name}`);
  }
}

/**
 * Loads `name` in both backends (VM with as many CPUs as the kernel has, so
 * per-CPU buffers have the same shape) and hands both to `body`, once for
 * each VM engine: the interpreter and the JIT (or only the one `vmOptions`
 * names). Each round starts from freshly loaded collections; kernel objects
 * are closed even when the body fails.
 */
export function withBoth(name: string, body: (vm: VmCollection, kernel: KernelCollection) => void, vmOptions: { jit?: boolean } = {}): void {
  const path = fixture(name);
  for (const jit of vmOptions.jit === undefined ? [false, true] : [vmOptions.jit]) {
    const vm = loadVmCollection(path, { cpus: possibleCpus(), jit });
    try {
      const kernel = loadCollection(path);
      try {
        body(vm, kernel);
      } catch (err) {
        if (err instanceof Error) err.message = `[${jit ? 'jit' : 'interpreter'}] ${err.message}`;
        throw err;
      } finally {
        kernel.close();
      }
    } finally {
      vm.close();
    }
  }
}
