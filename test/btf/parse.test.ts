import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BtfType, BtfError, createBtf, formatRaw, parseBtf, parseBtfExt } from '../../src/btf/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutCommand } from '../support/env.ts';
import { readElfSections, section } from './elf-sections.ts';

const VMLINUX = '/sys/kernel/btf/vmlinux';
const noVmlinux = existsSync(VMLINUX) ? false : 'no /sys/kernel/btf/vmlinux';

const noBpftool = skipWithoutCommand('bpftool', 'apt-get install bpftool');

function member(btf: ReturnType<typeof parseBtf>, t: BtfType, name: string) {
  assert.ok(t.kind === 'struct' || t.kind === 'union', `${t.name} is a ${t.kind}`);
  const m = t.members.find((x) => x.name === name);
  assert.ok(m, `${t.name} has no member ${name}`);
  return { ...m, type: btf.resolve(m.type) };
}

test('parses the running kernel BTF and finds well-known types', { skip: noVmlinux }, () => {
  const bytes = readFileSync(VMLINUX);
  const start = performance.now();
  const btf = parseBtf(bytes);
  const elapsed = performance.now() - start;
  // A hang detector (parsing must stay linear), not a benchmark: bench/btf.ts measures it.
  assert.ok(elapsed < 15_000, `parsing vmlinux took ${elapsed.toFixed(0)} ms`);
  assert.ok(btf.types.length > 10000);

  const [task] = btf.findByName('task_struct', 'struct');
  assert.ok(task && task.kind === 'struct');
  assert.equal(btf.sizeOf(task.id), task.size);
  const pid = member(btf, task, 'pid');
  assert.equal(pid.type.kind, 'int');
  assert.equal(btf.sizeOf(pid.type.id), 4);
  assert.equal(member(btf, task, 'comm').type.kind, 'array');
  assert.equal(member(btf, task, 'real_parent').type.kind, 'ptr');
  const parentTarget = btf.resolve((member(btf, task, 'real_parent').type as { type: number }).type);
  assert.equal(parentTarget.id, task.id);

  const [progType] = btf.findByName('bpf_prog_type', 'enum');
  assert.ok(progType && progType.kind === 'enum');
  assert.equal(progType.values.find((v) => v.name === 'BPF_PROG_TYPE_XDP')?.value, 6n);
  assert.equal(btf.findByName('bpf_func_id', 'enum').length, 1);
  assert.ok(btf.types.some((t) => t.kind === 'enum64'));
  assert.ok(btf.types.some((t) => t.kind === 'datasec'));
  assert.throws(() => btf.typeById(btf.types.length), BtfError);
  assert.throws(() => btf.sizeOf(btf.findByName('bpf_prog_run', 'func')[0]?.id ?? 0), BtfError);
});

test('vmlinux raw dump is identical to bpftool and encode() round-trips byte for byte', { skip: noVmlinux || noBpftool }, () => {
  const bytes = readFileSync(VMLINUX);
  const btf = parseBtf(bytes);
  const ours = formatRaw(btf);
  const theirs = execFileSync('bpftool', ['btf', 'dump', 'file', VMLINUX, 'format', 'raw'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.ok(ours === theirs, 'raw dump differs from bpftool');
  assert.deepEqual(btf.encode(), new Uint8Array(bytes));
});

test('every kind of a compiled fixture dumps like bpftool, in both byte orders', { skip: skipWithoutClang() || noBpftool }, () => {
  const le = compileBpf(fixturePath('btf', 'kinds.c'));
  const be = compileBpf(fixturePath('btf', 'kinds.c'), { bigEndian: true });
  const leBtf = parseBtf(section(readElfSections(le), '.BTF'));
  const beElf = readElfSections(be);
  assert.equal(beElf.littleEndian, false);
  const beBtf = parseBtf(section(beElf, '.BTF'));
  assert.equal(leBtf.endianness, 'little');
  assert.equal(beBtf.endianness, 'big');
  assert.throws(() => parseBtf(section(beElf, '.BTF'), { endianness: 'little' }), BtfError);

  const expected = execFileSync('bpftool', ['btf', 'dump', 'file', le, 'format', 'raw'], { encoding: 'utf8' });
  assert.equal(formatRaw(leBtf), expected);
  assert.equal(formatRaw(beBtf), expected);
  const kinds = new Set(leBtf.types.map((t) => t.kind));
  for (const k of ['int', 'ptr', 'array', 'struct', 'union', 'enum', 'enum64', 'fwd', 'typedef', 'volatile', 'const', 'restrict', 'func', 'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'type_tag']) {
    assert.ok(kinds.has(k as BtfType['kind']), `fixture lacks ${k}`);
  }
  const bits = leBtf.findByName('bits', 'struct')[0]!;
  assert.ok(bits.kind === 'struct');
  assert.deepEqual(
    bits.members.map((m) => [m.name, m.bitOffset, m.bitSize]),
    [['a', 0, 3], ['b', 3, 5], ['c', 8, 40], ['tail', 48, 0]],
  );
  const negWide = leBtf.findByName('neg_wide_enum')[0]!;
  assert.ok(negWide.kind === 'enum64' && negWide.signed);
  assert.equal(negWide.values[0]!.value, -0x100000000n);
  const flex = leBtf.findByName('everything', 'struct')[0]!;
  assert.ok(flex.kind === 'struct');
  assert.equal(leBtf.sizeOf(flex.members.find((m) => m.name === 'matrix')!.type), 48);

  // Encoding round-trips, and re-encoding in the other byte order gives the other compiler output's types.
  const leAgain = parseBtf(leBtf.encode());
  assert.equal(formatRaw(leAgain), expected);
  assert.deepEqual(beBtf.encode({ endianness: 'little' }), leBtf.encode());
  assert.equal(formatRaw(parseBtf(leBtf.encode({ endianness: 'big' }))), expected);
});

test('BTF.ext: func_info, line_info with text, byte offsets as instruction indexes', { skip: skipWithoutClang() }, () => {
  const elf = readElfSections(compileBpf(fixturePath('btf', 'kinds.c')));
  const btf = parseBtf(section(elf, '.BTF'));
  const ext = parseBtfExt(section(elf, '.BTF.ext'), btf);
  const socket = ext.funcInfo.get('socket');
  assert.ok(socket);
  assert.deepEqual(socket.map((f) => [f.insnIndex, btf.nameOf(f.typeId)]), [[0, 'prog']]);
  const text = ext.funcInfo.get('.text')!;
  assert.deepEqual(new Set(text.map((f) => btf.nameOf(f.typeId))), new Set(['global_func', 'helper']));
  assert.equal(text[0]!.insnIndex, 0);
  assert.ok(text[1]!.insnIndex > 0 && text[1]!.insnIndex < section(elf, '.text').length / 8);
  const lines = ext.lineInfo.get('socket')!;
  assert.ok(lines.length > 0);
  assert.ok(lines.every((l) => l.fileName.endsWith('kinds.c')));
  const source = readFileSync(fixturePath('btf', 'kinds.c'), 'utf8').split('\n');
  for (const l of lines) assert.equal(l.lineText, source[l.line - 1], `line ${l.line}`);
  assert.ok(lines.some((l) => l.lineText.includes('bss_value = global_func')));
  assert.equal(ext.funcInfoRecordSize, 8);
  assert.equal(ext.lineInfoRecordSize, 16);
});

test('BTF.ext: records longer than known are read by their known prefix', { skip: skipWithoutClang() }, () => {
  const elf = readElfSections(compileBpf(fixturePath('btf', 'kinds.c')));
  const btf = parseBtf(section(elf, '.BTF'));
  const original = parseBtfExt(section(elf, '.BTF.ext'), btf);
  // Rebuild the func_info block with 12-byte records (4 bytes of unknown tail each).
  const funcs = [...original.funcInfo];
  const secNameOffset = (name: string): number => {
    const strings = btf.encode();
    const view = new DataView(strings.buffer);
    const strOff = 24 + view.getUint32(16, true);
    const idx = Buffer.from(strings.subarray(strOff)).indexOf(Buffer.from(`\0${name}\0`));
    assert.ok(idx >= 0);
    return idx + 1;
  };
  const records: number[] = [12];
  for (const [name, list] of funcs) {
    records.push(secNameOffset(name), list.length);
    for (const f of list) records.push(f.insnIndex * 8, f.typeId, 0xdeadbeef);
  }
  const body = new Uint32Array(records);
  const blob = new Uint8Array(32 + body.byteLength);
  const v = new DataView(blob.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 32, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, body.byteLength, true);
  v.setUint32(16, body.byteLength, true);
  v.setUint32(24, body.byteLength, true);
  blob.set(new Uint8Array(body.buffer), 32);
  const ext = parseBtfExt(blob, btf);
  assert.deepEqual(ext.funcInfo, original.funcInfo);
  assert.equal(ext.funcInfoRecordSize, 12);
  assert.equal(ext.lineInfo.size, 0);
});

test('split BTF on a base: ids and strings continue after the base, bpftool agrees', { skip: skipWithoutClang() || noBpftool }, () => {
  const baseBytes = section(readElfSections(compileBpf(fixturePath('btf', 'kinds.c'))), '.BTF');
  const base = parseBtf(baseBytes);
  const int = base.findByName('int', 'int')[0]!;
  const start = base.types.length;
  const split = createBtf(
    [
      { id: start, kind: 'ptr', name: '', type: int.id },
      { id: start + 1, kind: 'struct', name: 'module_thing', size: 16, bitfieldEncoding: false, members: [
        { name: 'count', type: int.id, bitOffset: 0, bitSize: 0 },
        { name: 'ptr', type: start, bitOffset: 64, bitSize: 0 },
      ] },
      { id: start + 2, kind: 'typedef', name: 'everything_t', type: base.findByName('everything', 'struct')[0]!.id },
    ],
    { base },
  );
  assert.equal(split.startId, start);
  assert.equal(split.types.length, start + 3);
  assert.equal(split.sizeOf(start + 2), 144);
  assert.equal(split.findByName('everything_t')[0]!.id, start + 2);
  assert.equal(split.findByName('int', 'int')[0]!.id, int.id);
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btf-'));
  writeFileSync(join(dir, 'base.btf'), baseBytes);
  writeFileSync(join(dir, 'split.btf'), split.encode());
  const theirs = execFileSync('bpftool', ['-B', join(dir, 'base.btf'), 'btf', 'dump', 'file', join(dir, 'split.btf'), 'format', 'raw'], { encoding: 'utf8' });
  assert.equal(formatRaw(split), theirs);
  // Parsed back without the base, the blob is invalid: its ids and strings point outside it.
  assert.throws(() => parseBtf(split.encode()), BtfError);
});

test('typeless and typed __ksym externs (extern VARs of void and int) parse and dump like bpftool', { skip: skipWithoutClang() || noBpftool }, () => {
  const obj = compileBpf(fixturePath('btf', 'ksym.c'));
  const btf = parseBtf(section(readElfSections(obj), '.BTF'));
  const fops = btf.findByName('bpf_link_fops', 'var')[0];
  assert.ok(fops && fops.kind === 'var' && fops.linkage === 'extern');
  assert.equal(btf.resolve(fops.type).kind, 'void');
  assert.equal(formatRaw(btf), execFileSync('bpftool', ['btf', 'dump', 'file', obj, 'format', 'raw'], { encoding: 'utf8' }));
  // A non-extern VAR of void stays invalid.
  fops.linkage = 'global';
  assert.throws(() => parseBtf(btf.encode()), /variable type .* void/);
});
