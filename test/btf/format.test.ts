import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Btf, formatC, generateVmlinuxH, loadKernelBtf, parseBtf } from '../../src/btf/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutCommand } from '../support/env.ts';
import { readElfSections, section } from './elf-sections.ts';

const noVmlinux = existsSync('/sys/kernel/btf/vmlinux') ? false : 'no /sys/kernel/btf/vmlinux';
const bpftool = skipWithoutCommand('bpftool', 'apt-get install bpftool');

/** Newer libbpf marks 1-byte enums with mode(byte); the installed bpftool may predate that. */
const normalize = (c: string): string => c.replaceAll(' __attribute__((mode(byte)))', '');

/** Names a C dump declares: tagged types (definitions and forward declarations) and typedefs. */
function declaredNames(c: string): Set<string> {
  const names = new Set<string>();
  for (const line of c.split('\n')) {
    const tagged = /^(struct|union|enum) (\w+)(?: \{|;)/.exec(line);
    if (tagged) names.add(`${tagged[1]} ${tagged[2]}`);
    const typedef = /^typedef .*?\(\*(\w+)\)|^typedef [^{]*?(\w+)(?:\[\d+\])*;$|^\}.*? (\w+);$/.exec(line);
    if (typedef) names.add(`typedef ${typedef[1] ?? typedef[2] ?? typedef[3]}`);
  }
  return names;
}

/** Struct layouts as [name, size, [member, bit offset]...] for comparing BTF before and after a trip through C. */
function layouts(btf: Btf, names?: Set<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of btf.types) {
    if ((t.kind !== 'struct' && t.kind !== 'union') || t.name === '' || (names && !names.has(t.name))) continue;
    out.set(`${t.kind} ${t.name}`, `${t.size}: ${t.members.map((m) => `${m.name}@${m.bitOffset}/${m.bitSize || btf.sizeOf(m.type) * 8}`).join(' ')}`);
  }
  return out;
}

test('fixture BTF dumps to the same C as bpftool, and that C compiles back to the same layouts', { skip: skipWithoutClang() || bpftool }, () => {
  const obj = compileBpf(fixturePath('btf', 'kinds.c'));
  const btf = parseBtf(section(readElfSections(obj), '.BTF'));
  const ours = formatC(btf);
  const theirs = execFileSync('bpftool', ['btf', 'dump', 'file', obj, 'format', 'c'], { encoding: 'utf8' });
  assert.equal(normalize(ours), normalize(theirs));
  assert.match(ours, /struct bits \{\n\tunsigned int a: 3;\n\tint b: 5;\n\tlong long unsigned int c: 40|unsigned long long c: 40/);
  assert.match(ours, /int \(\*fnptr\)\(int, char \*, \.\.\.\);/);
  assert.match(ours, /int __attribute__\(\(btf_type_tag\("user"\)\)\) \*tagged;/);
  assert.match(ours, /NW_MIN = -4294967296LL,/);

  // Round trip: use every struct of the dump so clang emits them, and compare layouts.
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-formatc-'));
  writeFileSync(join(dir, 'dumped.h'), ours);
  const structs = [...layouts(btf).keys()];
  writeFileSync(join(dir, 'use.c'), `#include "dumped.h"\n${structs.map((s, i) => `${s} *use_${i};`).join('\n')}\n`);
  const back = compileBpf(join(dir, 'use.c'));
  const again = parseBtf(section(readElfSections(back), '.BTF'));
  assert.deepEqual(layouts(again), layouts(btf));
});

test('vmlinux.h: same declarations as bpftool, compiles with clang, layouts match the kernel', { skip: noVmlinux || skipWithoutClang() || bpftool }, () => {
  const kernel = loadKernelBtf();
  const header = generateVmlinuxH(kernel);
  const theirs = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const ourNames = declaredNames(header);
  const theirNames = declaredNames(theirs);
  assert.ok(ourNames.size > 5000);
  assert.deepEqual([...ourNames].filter((n) => !theirNames.has(n)), []);
  assert.deepEqual([...theirNames].filter((n) => !ourNames.has(n)), []);
  assert.ok(normalize(header) === theirs, 'vmlinux.h differs from bpftool beyond mode(byte)');
  assert.match(header, /#pragma clang attribute push \(__attribute__\(\(preserve_access_index\)\), apply_to = record\)/);

  // A program using the header, with static checks of sizes and offsets against the kernel's BTF.
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-vmlinux-'));
  writeFileSync(join(dir, 'vmlinux.h'), header);
  const checks: string[] = [];
  const named = kernel.types.filter((t) => t.kind === 'struct' && t.name !== '' && kernel.findByName(t.name, 'struct').length === 1);
  const sample = named.filter((_, i) => i % 25 === 0).concat(named.filter((t) => ['task_struct', 'sk_buff', 'bpf_prog', 'file', 'inode'].includes(t.name)));
  for (const t of sample) {
    if (t.kind !== 'struct') continue;
    checks.push(`_Static_assert(sizeof(struct ${t.name}) == ${t.size}, "size of ${t.name}");`);
    for (const m of t.members) {
      if (m.name === '' || m.bitSize !== 0 || m.bitOffset % 8 !== 0) continue;
      checks.push(`_Static_assert(__builtin_offsetof(struct ${t.name}, ${m.name}) == ${m.bitOffset / 8}, "${t.name}.${m.name}");`);
    }
  }
  writeFileSync(
    join(dir, 'prog.c'),
    `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
${checks.join('\n')}
SEC("socket")
int prog(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	return BPF_CORE_READ(task, real_parent, tgid) + bpf_core_enum_value(enum bpf_prog_type, BPF_PROG_TYPE_XDP);
}
char LICENSE[] SEC("license") = "GPL";
`,
  );
  assert.ok(checks.length > 1000, `${checks.length} layout checks`);
  compileBpf(join(dir, 'prog.c'));
});

test('formatC of selected types declares just what they need', { skip: skipWithoutClang() }, () => {
  const btf = parseBtf(section(readElfSections(compileBpf(fixturePath('btf', 'kinds.c'))), '.BTF'));
  const bits = btf.findByName('bits', 'struct')[0]!;
  const c = formatC(btf, { typeIds: [bits.id], wrapper: false });
  assert.equal(c, 'struct bits {\n\tunsigned int a: 3;\n\tint b: 5;\n\tunsigned long long c: 40;\n\tchar tail;\n};\n\n');
  const everything = formatC(btf, { typeIds: [btf.findByName('everything', 'struct')[0]!.id], wrapper: false });
  assert.ok(everything.indexOf('struct fwd_only;') < everything.indexOf('struct everything {'));
  assert.ok(everything.indexOf('typedef unsigned long long u64_t;') < everything.indexOf('struct everything {'));
  assert.ok(everything.includes('\tunion {\n\t\t\tshort lo;') || everything.includes('\tstruct {\n\t\tshort lo;'));
});
