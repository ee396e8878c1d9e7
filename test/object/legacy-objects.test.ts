// Objects as kernel-era loaders (iproute2, gobpf, bcc, samples/bpf's
// bpf_load.c, Cilium before BTF maps) wrote and read them: code without
// function symbols, size-0 symbols of pre-clang-8 compilers, `maps/NAME`
// sections, bpf_elf_map with Cilium's fields, relocations against a map
// section's own symbol. Built here by clang-19 from C or assembly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TsbpfError } from '../../src/errors.ts';
import { loadCollectionSpec } from '../../src/object/index.ts';
import { ElfFile, SymbolType } from '../../src/object/elf.ts';
import { MapType, ProgramType } from '../../src/uapi/enums.ts';
import { compileBpf } from '../support/clang.ts';
import { spawnTsbpf } from '../support/cli.ts';
import { fixturePath, skipWithoutClang } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

const skip = skipWithoutClang();
const object = (file: string, bigEndian = false): string => compileBpf(fixturePath('object', file), { bigEndian });

test('code without function symbols: a section is one program named after it; size-0 symbols run to the next one', { skip }, () => {
  for (const bigEndian of [false, true]) {
    const spec = loadCollectionSpec(object('legacy_code.s', bigEndian));
    assert.deepEqual(Object.keys(spec.programs).sort(), ['socket1', 'xdp_main'], 'the static helper after the section start is no program');
    const socket = spec.programs.socket1!;
    assert.deepEqual([socket.section, socket.type, socket.instructions.length], ['socket1', ProgramType.SOCKET_FILTER, 2]);
    const xdp = spec.programs.xdp_main!;
    assert.equal(xdp.type, ProgramType.XDP);
    assert.deepEqual(xdp.functions, [{ name: 'xdp_main', insnIndex: 0 }, { name: 'helper_double', insnIndex: 14 }], 'the LBB branch label is not a function');
    assert.equal(xdp.instructions[1]!.imm, 14 - 1 - 1, 'the call reaches the linked helper');
    assert.deepEqual(xdp.relocations, [{ kind: 'map', insnIndex: 6, mapName: 'counts' }]);
    assert.deepEqual(
      Object.values(spec.maps).map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags, m.legacy?.layout]),
      [
        ['counts', MapType.ARRAY, 4, 8, 1, 0, 'bpf_map_def'],
        ['seen', MapType.HASH, 4, 4, 64, 1, 'bpf_map_def'],
        ['inner', MapType.ARRAY, 4, 4, 1, 0, 'bpf_elf_map'],
        ['outer', MapType.ARRAY_OF_MAPS, 4, 4, 2, 0, 'bpf_load_map_def'],
        ['near', MapType.HASH, 4, 8, 8, 4, 'bpf_load_map_def'],
      ],
      'size-0 map symbols span to the next symbol; 28 bytes is bpf_load.c\'s layout when only it gives the fields a meaning',
    );
    const outer = spec.maps.outer!;
    assert.deepEqual([outer.innerMap?.name, outer.innerMap?.type, outer.innerMap?.valueSize, outer.pinning], ['outer.inner', MapType.ARRAY, 4, 'none'], 'inner_map_idx 2 is the third map');
    assert.deepEqual([spec.maps.near!.numaNode, spec.maps.near!.pinning], [0, 'none']);
  }
});

test('Cilium bpf_elf_map: id, pinning beyond 0-2, inner_id/inner_idx, static maps relocated against the section symbol', { skip }, () => {
  const path = object('cilium_maps.c');
  const elf = new ElfFile(new Uint8Array(readFileSync(path)));
  const mapsSection = elf.sectionByName('maps')!;
  const relocationSymbols = [...elf.relocations.values()].flat().map((r) => [r.symbol.type, r.symbol.sectionIndex]);
  assert.ok(relocationSymbols.length >= 3);
  assert.ok(relocationSymbols.every(([type, section]) => type === SymbolType.SECTION && section === mapsSection.index), 'clang relocates static maps against the maps section symbol');

  const spec = loadCollectionSpec(path);
  const { cilium_calls: calls, cilium_policy: policy, cilium_policies: policies } = spec.maps;
  assert.deepEqual(calls!.legacy, { layout: 'bpf_elf_map', pinning: 16, id: 0, innerId: 0, innerIndex: 0 });
  assert.equal(calls!.pinning, 'none', "Cilium's CILIUM_PIN_REPLACE is that loader's own policy: kept, not applied");
  assert.deepEqual(policy!.legacy, { layout: 'bpf_elf_map', pinning: 3, id: 7, innerId: 0, innerIndex: 1 });
  assert.equal(policy!.flags, 1);
  assert.equal(policies!.pinning, 'by-name', 'PIN_GLOBAL_NS');
  assert.deepEqual(policies!.contents, [{ key: 1, value: { map: 'cilium_policy' } }]);
  assert.deepEqual([policies!.innerMap?.type, policies!.innerMap?.valueSize], [MapType.HASH, 8]);
  // Each relocation's addend (the map's offset in the section) picks the map.
  assert.deepEqual(spec.programs.tail_policy!.relocations.map((r) => r.kind === 'map' && r.mapName), ['cilium_policies']);
  assert.deepEqual(spec.programs.from_container!.relocations.map((r) => r.kind === 'map' && r.mapName), ['cilium_policy', 'cilium_calls']);
  assert.equal(spec.programs.from_container!.type, 0, "'from-container' says no program type: the loader (tc) chose it");
});

test('maps/NAME sections: one map per section, gobpf layout with pinning and namespace', { skip }, () => {
  for (const bigEndian of [false, true]) {
    const spec = loadCollectionSpec(object('gobpf_maps.c', bigEndian));
    const { conn_counts: counts, events } = spec.maps;
    assert.deepEqual([counts!.section, counts!.type, counts!.keySize, counts!.valueSize, counts!.maxEntries], ['maps/conn_counts', MapType.HASH, 4, 8, 1024]);
    assert.deepEqual(counts!.legacy, { layout: 'gobpf', pinning: 3, namespace: 'tracer' });
    assert.deepEqual([events!.type, events!.keySize, events!.valueSize, events!.legacy?.layout], [MapType.PERF_EVENT_ARRAY, 4, 4, 'bpf_map_def'], 'fd sizes filled as libbpf does');
    assert.deepEqual(spec.programs.count_conn!.relocations.map((r) => r.kind === 'map' && r.mapName), ['conn_counts', 'events'], "the static 'events_def' is found through its section");
  }
});

test('tsbpf object lists the legacy objects', { skip }, async () => {
  const code = await spawnTsbpf(['object', object('legacy_code.s')]);
  assert.equal(code.code, 0, code.stderr);
  assert.match(code.stdout, /socket1 +'socket1' +SOCKET_FILTER +2 insns/);
  assert.match(code.stdout, /functions: xdp_main@0, helper_double@14/);
  const cilium = await spawnTsbpf(['object', object('cilium_maps.c')]);
  assert.equal(cilium.code, 0, cilium.stderr);
  assert.match(cilium.stdout, /cilium_calls +PROG_ARRAY .* bpf_elf_map\(pin-value=16 \(not pinned\)\)/);
  assert.match(cilium.stdout, /cilium_policies +ARRAY_OF_MAPS .*pinning=by-name bpf_elf_map inner=HASH\(key 4, value 8, max 16\) contents=\[1:cilium_policy\]/);
  const gobpf = await spawnTsbpf(['object', object('gobpf_maps.c')]);
  assert.equal(gobpf.code, 0, gobpf.stderr);
  assert.match(gobpf.stdout, /conn_counts +HASH .* maps\/conn_counts +gobpf\(pin-value=3 \(not pinned\) namespace=tracer\)/);
});

test('malformed legacy definitions and code are typed errors', { skip }, () => {
  const bytes = new Uint8Array(readFileSync(object('legacy_code.s')));
  const elf = new ElfFile(bytes);
  // Move the xdp_main symbol off an instruction boundary.
  const symbol = elf.symbols.find((s) => s.name === 'xdp_main')!;
  const symtab = elf.sections.find((s) => s.name === '.symtab')!;
  const broken = bytes.slice();
  new DataView(broken.buffer).setBigUint64(symtab.offset + symbol.index * 24 + 8, 3n, true);
  assert.throws(() => loadCollectionSpec(broken), /'xdp_prog'.*function 'xdp_main' at byte 3 is misaligned/);
  // Point the map-in-map's inner_map_idx past the section's maps.
  const outer = elf.symbols.find((s) => s.name === 'outer')!;
  const badIndex = bytes.slice();
  new DataView(badIndex.buffer).setUint32(elf.sections[outer.sectionIndex]!.offset + outer.value + 20, 9, true);
  assert.throws(() => loadCollectionSpec(badIndex), /map 'outer': inner_map_idx 9 names no other map of the section \(it has 5\)/);
  const seed = fuzzSeed(0x1e6ac7);
  const rand = seededRandom(seed);
  for (let i = 0; i < 300; i++) {
    const mutated = bytes.slice();
    for (let flips = 1 + Math.floor(rand() * 4); flips > 0; flips--) mutated[Math.floor(rand() * mutated.length)] = Math.floor(rand() * 256);
    try {
      loadCollectionSpec(mutated);
    } catch (err) {
      if (!(err instanceof TsbpfError)) throw new Error(`case ${i} (seed ${seed}): ${(err as Error).stack}`);
    }
  }
});
