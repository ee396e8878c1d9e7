import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/index.ts';
import { HashEntry, HashMap as HashMapClass, MapError, createVmMap, jhash, registerMapHelpers, type HashMap, type RingBufMap } from '../../src/maps/index.ts';
import type { VmMap } from '../../src/maps/base.ts';
import { RingBufferRecordError } from '../../src/maps/ringbuf.ts';
import { MapType, ProgramType, helperId } from '../../src/uapi/index.ts';
import { HelperRegistry, MemoryAccessError, Vm, VmProgram, loadVmCollection, standardHelpers } from '../../src/vm/index.ts';
import { loadJit } from '../../src/vm/jit/index.ts';
import { TsbpfError } from '../../src/errors.ts';
import { BUFFER_SIZE, FUZZ_CPU, Rng, TEST_HELPER_ID, randomMapProgram, randomMapSpecs, withMapHandles } from '../jit/fuzz.ts';
import { buildPacket, ethernet, ipv4, payload, udp } from '../../src/net/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';

// A program can only reach what the kernel would let it reach: map internals
// (ring buffer pages and headers, hash chain links) must not turn into writes
// outside the program's regions, in the interpreter or the JIT.

const engines = [false, true];
const frame = new Uint8Array(64);

test('ring buffer: a record header, the ring pages and unreserved addresses are out of reach', () => {
  for (const jit of engines) {
    const vm = new Vm();
    const ring = createVmMap(vm.memory, { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 }) as RingBufMap;
    assert.equal(vm.memory.regionAt(ring.base, 8), undefined, 'the consumer page is not a program region');
    const reserveThen = (body: string): VmProgram =>
      new VmProgram(ProgramType.XDP, assemble(`r1 = ${ring.handle} ll\nr2 = 8\nr3 = 0\ncall ${helperId('ringbuf_reserve')}\nif r0 == 0 goto out\n${body}\nout:\nr0 = 2\nexit`), { vm, jit });
    // The kernel's reproducer of a length rewrite: the header is not writable, so submit cannot be fooled.
    assert.throws(() => reserveThen('r1 = 16384\n*(u32 *)(r0 - 8) = r1\nr1 = r0\nr2 = 0\ncall ' + helperId('ringbuf_submit')).run({ data: frame }), MemoryAccessError);
    assert.throws(() => reserveThen('*(u64 *)(r0 + 8) = r1').run({ data: frame }), MemoryAccessError, 'past the 8 reserved bytes');
    assert.throws(() => reserveThen(`r6 = r0\nr1 = r0\nr2 = 0\ncall ${helperId('ringbuf_submit')}\nr1 = r6\nr2 = 0\ncall ${helperId('ringbuf_discard')}`).run({ data: frame }), RingBufferRecordError, 'a record committed twice');
    assert.throws(() => reserveThen(`r1 = r0\nr1 += 16\nr2 = 0\ncall ${helperId('ringbuf_submit')}`).run({ data: frame }), RingBufferRecordError, 'an address inside the ring that is no record');
    const ok = reserveThen(`r1 = 7\n*(u64 *)(r0 + 0) = r1\nr1 = r0\nr2 = 0\ncall ${helperId('ringbuf_submit')}`);
    assert.equal(ok.run({ data: frame }).retval, 2);
    assert.ok(ring.producerPos > 0, `${jit ? 'jit' : 'interpreter'}: records are still written`);
    ring.close();
  }
});

test('hash map: a chain link rewritten by a program stops the lookup with EFAULT instead of addressing other memory', () => {
  for (const jit of engines) {
    const vm = new Vm();
    // One bucket, so every lookup walks the entry the program corrupts.
    const map = createVmMap(vm.memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1 }) as HashMap;
    map.update(new Uint8Array([1, 0, 0, 0]), new Uint8Array(8));
    const linkOffset = -map.valueOffset + HashEntry.NEXT;
    const source = `
      r1 = 1
      *(u32 *)(r10 - 4) = r1
      r1 = ${map.handle} ll
      r2 = r10
      r2 += -4
      call ${helperId('map_lookup_elem')}
      if r0 == 0 goto out
      r1 = 1000
      *(u32 *)(r0 ${linkOffset < 0 ? '-' : '+'} ${Math.abs(linkOffset)}) = r1
      r1 = 2
      *(u32 *)(r10 - 4) = r1
      r1 = ${map.handle} ll
      r2 = r10
      r2 += -4
      call ${helperId('map_lookup_elem')}
    out:
      r0 = 2
      exit`;
    const program = new VmProgram(ProgramType.XDP, assemble(source), { vm, jit });
    assert.throws(() => program.run({ data: frame }), (e: unknown) => e instanceof MapError && e.code === 'EFAULT' && /bucket chain is corrupted/.test(e.message), jit ? 'jit' : 'interpreter');
    map.close();
  }
});

/** Assembly: r0 = bpf_map_lookup_elem(map, &key), the 4-byte key on the stack. */
const lookupAsm = (handle: number, key: number): string => `r1 = ${key}\n*(u32 *)(r10 - 4) = r1\nr1 = ${handle} ll\nr2 = r10\nr2 += -4\ncall ${helperId('map_lookup_elem')}`;

/** A program writing `value` at `offset` from the value of `key` (a 4-byte key) in `map`: headers sit before values, in the same storage. */
function corruptor(map: HashMap, key: number, offset: number, value: number, jit: boolean, vm: Vm): VmProgram {
  const source = `
    ${lookupAsm(map.handle, key)}
    if r0 == 0 goto out
    r1 = ${value}
    *(u32 *)(r0 ${offset < 0 ? '-' : '+'} ${Math.abs(offset)}) = r1
  out:
    r0 = 2
    exit`;
  return new VmProgram(ProgramType.XDP, assemble(source), { vm, jit });
}

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const isEfault = (e: unknown): boolean => e instanceof MapError && e.code === 'EFAULT';

test('hash map: keys(), entries() and lookupBatch() over a chain a program linked to itself end with EFAULT, not a hang', () => {
  for (const jit of engines) {
    for (const corruption of ['self link', 'rewritten key'] as const) {
      const vm = new Vm();
      const map = createVmMap(vm.memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 8 }) as HashMap;
      for (let k = 1; k <= 5; k++) map.update(u32(k), new Uint8Array(8));
      // Entry 0 holds key 1 (the first taken): link 1 points back at itself. A rewritten key hashes to another bucket, so nextKey would lose it and restart.
      const program = corrupt(map, corruption, jit, vm);
      assert.equal(program.run({ data: frame }).retval, 2);
      const label = `${jit ? 'jit' : 'interpreter'}, ${corruption}`;
      assert.throws(() => [...map.keys()], isEfault, label);
      assert.throws(() => [...map.entries()], isEfault, label);
      assert.throws(() => map.lookupBatch(), isEfault, label);
      program.close();
      map.close();
    }
  }
});

function corrupt(map: HashMap, corruption: 'self link' | 'rewritten key', jit: boolean, vm: Vm): VmProgram {
  if (corruption === 'self link') return corruptor(map, 1, -map.valueOffset + HashEntry.NEXT, 1, jit, vm);
  return corruptor(map, 1, -map.valueOffset + HashEntry.HEADER_SIZE, 0x7777, jit, vm);
}

test('LRU hash: eviction through a chain a program linked into a cycle ends with EFAULT, not a hang', () => {
  for (const jit of engines) {
    const vm = new Vm();
    const map = createVmMap(vm.memory, { type: MapType.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: 2, seed: 0 }) as HashMap;
    // Two keys of one bucket: the first (entry 0) is the least recently used, the second (entry 1) heads the chain.
    const bucketOf = (k: number): number => jhash(u32(k), 0, 4, 0) & (map.bucketCount - 1);
    const first = 1;
    let second = 2;
    while (bucketOf(second) !== bucketOf(first)) second++;
    map.update(u32(first), new Uint8Array(8));
    map.update(u32(second), new Uint8Array(8));
    // The head links to itself: unlinking entry 0 on eviction walks the head's chain and never meets it.
    const program = corruptor(map, second, -map.valueOffset + HashEntry.NEXT, 2, jit, vm);
    assert.equal(program.run({ data: frame }).retval, 2);
    assert.throws(() => map.update(u32(second + 1000), new Uint8Array(8)), isEfault, jit ? 'jit' : 'interpreter');
    program.close();
    map.close();
  }
});

test('a map closed from user space stays alive for the loaded programs that use it, as in the kernel', { skip: skipWithoutClang() }, () => {
  for (const jit of engines) {
    const collection = loadVmCollection(compileBpf(fixturePath('runtime', 'counters.c')), { jit });
    const program = collection.program('xdp_count');
    const byProto = collection.maps.by_proto!;
    const frame = buildPacket(ethernet(), ipv4(), udp({ dport: 53 }), payload('x'));
    byProto.close();
    assert.throws(() => byProto.lookup(new Uint8Array(4)), /closed/, 'user space can no longer use it');
    // A new map must not take over the closed map's address while the program still points at it.
    const other = createVmMap(collection.vm.memory, { type: MapType.ARRAY, keySize: 4, valueSize: byProto.valueSize, maxEntries: byProto.maxEntries });
    assert.notEqual(other.handle, byProto.handle);
    program.run({ data: frame });
    assert.ok([...other.entries()].every(([, v]) => v.every((b) => b === 0)), `${jit ? 'jit' : 'interpreter'}: the program wrote to its own map, not the new one`);
    other.close();
    collection.close();
  }
});

test('isolation fuzz: random programs that also corrupt hash entries leave other memory alone, and every map operation afterwards ends (a result or a MapError)', () => {
  const helpers = new HelperRegistry(standardHelpers).register(TEST_HELPER_ID, () => 0, 'test_helper');
  registerMapHelpers(helpers, { cpuOf: () => FUZZ_CPU });
  let corrupted = 0;
  for (let seed = 1; seed <= 60; seed++) {
    for (const jit of engines) {
      const rng = new Rng(seed);
      const vm = new Vm({ helpers, budget: 100_000 });
      // A map no program references, allocated between the program's maps: its bytes must not change.
      const specs = randomMapSpecs(rng);
      const maps = specs.map((spec, k) => createVmMap(vm.memory, { ...spec, name: `fuzz${k}`, seed: k }));
      const bystander = createVmMap(vm.memory, { type: MapType.ARRAY, keySize: 4, valueSize: 64, maxEntries: 4 });
      // Hash maps full, with the small keys programs build (the key's first byte).
      const keyOf = (map: VmMap, k: number): Uint8Array => Uint8Array.from({ length: map.keySize }, (_, i) => (i === 0 ? k : 0));
      for (const map of maps) {
        if (map.type === MapType.ARRAY || map.type === MapType.PERCPU_ARRAY) continue;
        for (let k = 0; k < map.maxEntries; k++) {
          if (map.perCpu) map.updatePerCpu(keyOf(map, k), Array.from({ length: map.cpus }, () => new Uint8Array(map.valueSize).fill(k)));
          else map.update(keyOf(map, k), new Uint8Array(map.valueSize).fill(k));
        }
      }
      for (let k = 0; k < 4; k++) bystander.update(u32(k), new Uint8Array(64).fill(0xa0 + k));
      const generated = randomMapProgram(rng, specs, 30 + rng.below(30));
      const insns = withMapHandles(generated, maps.map((m) => m.handle));
      const program = jit ? loadJit(vm, insns) : vm.load(insns);
      for (let run = 0; run < 3; run++) {
        try {
          program.run({ mem: new Uint8Array(BUFFER_SIZE) });
        } catch (error) {
          assert.ok(error instanceof TsbpfError, `seed ${seed}: ${String(error)}`);
        }
      }
      for (let k = 0; k < 4; k++) assert.deepEqual(bystander.lookup(u32(k)), new Uint8Array(64).fill(0xa0 + k), `seed ${seed}: the bystander map changed`);
      for (const map of maps) {
        const value = new Uint8Array(map.valueSize);
        const attempts = [() => [...map.keys()], () => [...map.entries()], () => map.lookupBatch(), () => map.update(keyOf(map, 0x7f), value), () => map.delete(keyOf(map, 1)), () => map.nextKey(keyOf(map, 2))];
        for (const attempt of attempts) {
          try {
            attempt();
          } catch (error) {
            assert.ok(error instanceof MapError, `seed ${seed}: ${String(error)}`);
            if (error.code === 'EFAULT') corrupted++;
          }
        }
      }
    }
  }
  assert.ok(corrupted > 0, 'some programs corrupted a chain');
});

test('each program reaches only the maps it uses: another map\'s storage (an address computed from its own value, or handed to a helper) and a forged map handle are refused', () => {
  for (const jit of engines) {
    const vm = new Vm();
    const own = createVmMap(vm.memory, { type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 2, name: 'own' });
    const other = createVmMap(vm.memory, { type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 2, name: 'other' });
    other.update(u32(0), new Uint8Array(16).fill(0x5a));
    const storage = (map: VmMap): number => vm.memory.listRegions().find((r) => r.owner === map)!.start;
    const distance = storage(other) - storage(own);
    const lookupOwn = `${lookupAsm(own.handle, 0)}
if r0 == 0 goto out`;
    const run = (body: string): number => new VmProgram(ProgramType.XDP, assemble(`${lookupOwn}\n${body}\nout:\nr0 = 2\nexit`), { vm, jit }).run({ data: frame }).retval;
    const label = jit ? 'jit' : 'interpreter';
    const unreachable = (e: unknown): boolean => e instanceof MemoryAccessError && e.unreachable && /map 'other'.* is not a map this program uses/.test(e.message);
    // A store and a load through an address computed from the program's own value.
    assert.throws(() => run(`r0 += ${distance}\nr1 = 7\n*(u8 *)(r0 + 0) = r1`), unreachable, label);
    assert.throws(() => run(`r0 += ${distance}\nr1 = *(u8 *)(r0 + 0)`), unreachable, label);
    // The other map's storage as a helper's key or value.
    assert.throws(() => run(`r3 = r0\nr3 += ${distance}\nr1 = ${own.handle} ll\nr2 = r10\nr2 += -4\nr4 = 0\ncall ${helperId('map_update_elem')}`), unreachable, label);
    // A forged handle (computed, not loaded): the helper refuses it as no map (-EINVAL, as for any non-map).
    const forged = run(`r1 = ${own.handle} ll\nr1 += ${other.handle - own.handle}\nr2 = r10\nr2 += -4\nr3 = r0\nr4 = 0\ncall ${helperId('map_update_elem')}\nr0 = -r0\nexit`);
    assert.equal(forged, 22, `${label}: -EINVAL for a forged handle`);
    assert.deepEqual(other.lookup(u32(0)), new Uint8Array(16).fill(0x5a), `${label}: the other map is unchanged`);
    // Its own map, through the same paths, still works.
    assert.equal(run(`r1 = 9\n*(u8 *)(r0 + 0) = r1\nr0 = 2\nexit`), 2);
    assert.equal(own.lookup(u32(0))![0], 9);
    own.close();
    other.close();
  }
});

test('maps of maps: inner map handles cannot be rewritten or written through, and an inner map taken out is out of reach through a kept handle', () => {
  for (const jit of engines) {
    for (const type of [MapType.HASH_OF_MAPS, MapType.ARRAY_OF_MAPS]) {
      const label = `${jit ? 'jit' : 'interpreter'}, ${type === MapType.HASH_OF_MAPS ? 'hash' : 'array'} of maps`;
      const vm = new Vm();
      const inner = (name: string): VmMap => createVmMap(vm.memory, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, name });
      const template = inner('template');
      const held = inner('held');
      const other = inner('other');
      const outer = createVmMap(vm.memory, { type, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: template, name: 'outer' });
      outer.update(u32(0), u32(held.id));
      const run = (body: string): number => new VmProgram(ProgramType.XDP, assemble(`${lookupAsm(outer.handle, 0)}\n${body}`), { vm, jit }).run({ data: frame }).retval;
      // The handle a lookup returns is a read-only map pointer in the kernel (CONST_PTR_TO_MAP): no store through it.
      assert.throws(() => run('if r0 == 0 goto out\nr1 = 7\n*(u32 *)(r0 + 0) = r1\nout:\nr0 = 2\nexit'), MemoryAccessError, label);
      if (outer instanceof HashMapClass) {
        // The entry holding the handle is not program memory: it cannot be rewritten to name another map.
        const slot = outer.entryArray + outer.valueOffset;
        assert.throws(() => run(`r1 = ${slot} ll\nr2 = ${other.handle} ll\n*(u32 *)(r1 + 0) = r2\nr0 = 2\nexit`), MemoryAccessError, label);
        assert.equal(vm.memory.regionAt(slot, 4), undefined, `${label}: the entries are unmapped`);
      }
      // A handle kept as a number (computed, so not a reference of the program's own) reaches the inner map only while the outer map holds it.
      const forgedLookup = (map: VmMap): string => `r1 = 0\n*(u32 *)(r10 - 4) = r1\nr1 = ${map.handle - 8} ll\nr1 += 8\nr2 = r10\nr2 += -4\ncall ${helperId('map_lookup_elem')}\nif r0 == 0 goto missing\nr0 = 1\nexit\nmissing:\nr0 = 0\nexit`;
      assert.equal(run(forgedLookup(held)), 1, `${label}: an inner map the outer map holds is reached`);
      assert.equal(run(forgedLookup(other)), 0, `${label}: a map of the VM no map of the program holds is not`);
      outer.delete(u32(0));
      assert.equal(run(forgedLookup(held)), 0, `${label}: taken out of the outer map, it is out of reach`);
      for (const map of [outer, held, other, template]) map.close();
    }
  }
});

test('a run started inside another run (from a helper) cannot reach the outer run\'s stack, context or packet; the outer run goes on with them', () => {
  for (const jit of engines) {
    const label = jit ? 'jit' : 'interpreter';
    const outcomes: string[] = [];
    const helpers = new HelperRegistry(standardHelpers).register(
      TEST_HELPER_ID,
      (call) => {
        // The caller's own stack is its to hand to helpers.
        assert.equal(call.memory.u8[call.pointer(1, 8, false)], 0x55, label);
        for (const address of [call.arg(1), call.arg(2), call.arg(3)]) {
          const inner = new VmProgram(ProgramType.XDP, assemble(`r1 = ${address} ll\nr0 = *(u8 *)(r1 + 0)\nexit`), { vm, jit });
          try {
            inner.run({ data: frame });
            outcomes.push('reached');
          } catch (error) {
            outcomes.push(error instanceof MemoryAccessError && error.unreachable && /belongs to another run/.test(error.message) ? 'refused' : String(error));
          } finally {
            inner.close();
          }
        }
        return 0;
      },
      'test_helper',
    );
    const vm = new Vm({ helpers });
    const outer = new VmProgram(
      ProgramType.XDP,
      assemble(`
        r6 = r1
        r7 = *(u32 *)(r1 + 0)
        r1 = 0x55
        *(u64 *)(r10 - 8) = r1
        r1 = r10
        r1 += -8
        r2 = r6
        r3 = r7
        call ${TEST_HELPER_ID}
        r0 = *(u64 *)(r10 - 8)
        r1 = *(u8 *)(r7 + 0)
        r0 += r1
        exit`),
      { vm, jit },
    );
    const packet = new Uint8Array(64).fill(1);
    assert.equal(outer.run({ data: packet }).retval, 0x56, `${label}: the outer run still reads its stack and packet`);
    assert.deepEqual(outcomes, ['refused', 'refused', 'refused'], `${label}: stack, context and packet of the outer run`);
    outer.close();
  }
});

test('isolation fuzz: random programs on maps of maps (writes through inner handles, forged and rewritten handles, stray addresses) and runs nested from a helper leave everything they do not own alone', () => {
  let nestedRefused = 0;
  let nestedTried = 0;
  for (let seed = 1; seed <= 40; seed++) {
    for (const jit of engines) {
      const rng = new Rng(seed * 7919);
      const helpers = new HelperRegistry(standardHelpers).register(
        TEST_HELPER_ID,
        (call) => {
          // A run started from this helper aims at the calling run's stack (r2 is its r10) or at an address the program chose.
          const atStack = rng.chance(0.5);
          const target = atStack ? call.arg(2) - 8 : call.arg(1);
          const inner = new VmProgram(ProgramType.XDP, assemble(`r1 = ${target} ll\nr2 = *(u64 *)(r1 + 0)\n*(u64 *)(r1 + 0) = r2\nr0 = 2\nexit`), { vm, jit });
          if (atStack) nestedTried++;
          try {
            inner.run({ data: frame });
          } catch (error) {
            assert.ok(error instanceof TsbpfError, `seed ${seed}: ${String(error)}`);
            if (atStack && error instanceof MemoryAccessError && error.unreachable) nestedRefused++;
          } finally {
            inner.close();
          }
          return 0;
        },
        'test_helper',
      );
      const vm = new Vm({ helpers, budget: 100_000 });
      const inner = (name: string): VmMap => createVmMap(vm.memory, { type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 2, name });
      const template = inner('template');
      const held = inner('held');
      const bystander = inner('bystander');
      bystander.update(u32(1), new Uint8Array(16).fill(0xb7));
      const outers = [MapType.HASH_OF_MAPS, MapType.ARRAY_OF_MAPS].map((type) => createVmMap(vm.memory, { type, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: template, name: `outer${type}` }));
      for (const outer of outers) outer.update(u32(0), u32(held.id));
      // Stray numbers are plain immediates (not ld_imm64): the program does not reference what they point at.
      const stray = (): number =>
        rng.pick([bystander.handle, held.handle, held.handle + 4, (outers[0] as HashMap).entryArray + (outers[0] as HashMap).valueOffset, vm.memory.listRegions().find((r) => r.owner === bystander)!.start + 16, 0x10000 + rng.below(0x40000)]);
      const lines: string[] = ['r9 = r10', 'r1 = 0', '*(u64 *)(r10 - 8) = r1'];
      for (let op = 0; op < 12; op++) {
        const outer = rng.pick(outers);
        const label = `skip${op}`;
        switch (rng.below(5)) {
          case 0: // Through the handle a lookup returns: a store, a load, or the handle as a map argument with an offset.
            lines.push(`r1 = 0\n*(u32 *)(r10 - 4) = r1\nr1 = ${outer.handle} ll\nr2 = r10\nr2 += -4\ncall ${helperId('map_lookup_elem')}\nif r0 == 0 goto ${label}`);
            if (rng.chance(0.5)) lines.push(`r1 = ${rng.next() & 0xff}\n*(u${rng.pick([8, 16, 32, 64])} *)(r0 ${rng.chance(0.5) ? '+' : '-'} ${rng.below(32)}) = r1`);
            else lines.push(`r1 = r0\nr1 += ${rng.pick([0, 0, 4, 8, -8, 64])}\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -8\nr4 = 0\ncall ${helperId('map_update_elem')}`);
            break;
          case 1: // A stray address: read and written.
            lines.push(`r1 = ${stray()}\nr2 = *(u32 *)(r1 + 0)\nr2 += 1\n*(u32 *)(r1 + 0) = r2`);
            break;
          case 2: // A stray number as a map.
            lines.push(`r1 = ${stray()}\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -8\nr4 = 0\ncall ${helperId(rng.pick(['map_update_elem', 'map_lookup_elem', 'map_delete_elem']))}`);
            break;
          case 3: // The outer map itself: programs cannot update or delete in maps of maps.
            lines.push(`r1 = ${outer.handle} ll\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -8\nr4 = 0\ncall ${helperId(rng.pick(['map_update_elem', 'map_delete_elem']))}`);
            break;
          default: // A run nested in this one, from the helper.
            lines.push(`r1 = ${stray()}\nr2 = r10\ncall ${TEST_HELPER_ID}`);
        }
        lines.push(`${label}:`);
      }
      lines.push('r0 = 2', 'exit');
      const program = new VmProgram(ProgramType.XDP, assemble(lines.join('\n')), { vm, jit });
      for (let run = 0; run < 2; run++) {
        try {
          program.run({ data: frame });
        } catch (error) {
          assert.ok(error instanceof TsbpfError, `seed ${seed}: ${String(error)}`);
        }
      }
      program.close();
      const label = `seed ${seed}, ${jit ? 'jit' : 'interpreter'}`;
      assert.deepEqual(bystander.lookup(u32(1)), new Uint8Array(16).fill(0xb7), `${label}: the bystander map changed`);
      for (const outer of outers) assert.deepEqual(outer.lookup(u32(0)), u32(held.id), `${label}: the outer map's inner map changed`);
      for (const map of [...outers, held, bystander, template]) map.close();
    }
  }
  assert.ok(nestedTried > 20, `only ${nestedTried} nested runs`);
  assert.equal(nestedRefused, nestedTried, "every nested run aiming at the outer run's stack is refused as out of its reach");
});
