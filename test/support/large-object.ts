/**
 * A generated C fixture imitating a large BPF project: many programs across
 * several sections, a tree of shared subprograms, a tail-call prog array
 * initialised with every program, and a map-in-map. Used by the loader
 * benchmark (bench/loader.ts) and test/object/large.test.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileBpf } from './clang.ts';

export interface LargeFixtureShape {
  programs: number;
  helpers: number;
  /** Unrolled loop iterations per function: the knob for code size. */
  unroll: number;
}

export const DEFAULT_SHAPE: LargeFixtureShape = { programs: 48, helpers: 24, unroll: 12 };

const SECTIONS = ['tc', 'xdp', 'tc/ingress', 'socket'];

export function largeFixtureSource(shape: LargeFixtureShape = DEFAULT_SHAPE): string {
  const out: string[] = [
    '#include <linux/bpf.h>',
    '#include <bpf/bpf_helpers.h>',
    '',
    'struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); };',
  ];
  for (let i = 0; i < 8; i++) out.push(`struct inner inner_${i} SEC(".maps");`);
  out.push(
    'struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 8); __type(key, __u32); __array(values, struct inner); } outer SEC(".maps") = {',
    `\t.values = { ${Array.from({ length: 8 }, (_, i) => `&inner_${i}`).join(', ')} },`,
    '};',
    'struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, __u32); __type(value, __u64); } stats SEC(".maps");',
    'volatile __u64 total_events;',
    'const volatile __u32 config_mask = 0xff;',
  );
  for (let p = 0; p < shape.programs; p++) out.push(`int prog_${p}(void *ctx);`);
  out.push(
    `struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, ${shape.programs}); __uint(key_size, 4); __array(values, int (void *)); } tail_calls SEC(".maps") = {`,
    `\t.values = { ${Array.from({ length: shape.programs }, (_, p) => `(void *)&prog_${p}`).join(', ')} },`,
    '};',
  );
  const body = (seed: number): string[] => [
    `\t__u32 acc = x ^ ${seed};`,
    '#pragma clang loop unroll(full)',
    `\tfor (int j = 0; j < ${shape.unroll}; j++) {`,
    `\t\tacc = acc * ${31 + seed} + (x >> (j & 7));`,
    '\t\tif (acc & config_mask)',
    `\t\t\tacc ^= ${seed * 7 + 1} + j;`,
    '\t}',
  ];
  // Highest first, so each helper's callees are already declared.
  for (let h = shape.helpers - 1; h >= 0; h--) {
    out.push(`static __noinline __u32 helper_${h}(__u32 x)`, '{', ...body(h));
    // Each helper calls the next two down, so programs reach subtrees of different sizes.
    const callees = [h + 1, h + 2].filter((c) => c < shape.helpers);
    out.push(`\treturn acc${callees.map((c) => ` + helper_${c}(acc)`).join('')};`, '}');
  }
  for (let p = 0; p < shape.programs; p++) {
    out.push(
      `SEC("${SECTIONS[p % SECTIONS.length]}")`,
      `int prog_${p}(void *ctx)`,
      '{',
      '\t__u32 x = (__u32)(long)ctx;',
      ...body(p + 100),
      '\t__u32 key = acc & 7;',
      '\tvoid *inner = bpf_map_lookup_elem(&outer, &key);',
      '\tif (inner) {',
      '\t\t__u64 *v = bpf_map_lookup_elem(inner, &key);',
      '\t\tif (v)',
      '\t\t\t*v += 1;',
      '\t}',
      `\tacc += helper_${p % shape.helpers}(acc);`,
      '\tbpf_map_update_elem(&stats, &key, &total_events, BPF_ANY);',
      '\ttotal_events++;',
      `\tbpf_tail_call(ctx, &tail_calls, ${(p + 1) % shape.programs});`,
      '\treturn acc & 1;',
      '}',
    );
  }
  out.push('char LICENSE[] SEC("license") = "GPL";', '');
  return out.join('\n');
}

/** Writes and compiles the generated fixture; returns the object's path. */
export function compileLargeFixture(shape: LargeFixtureShape = DEFAULT_SHAPE): string {
  const dir = join(tmpdir(), 'tsbpf-fixtures', 'generated');
  mkdirSync(dir, { recursive: true });
  const source = join(dir, `large_${shape.programs}_${shape.helpers}_${shape.unroll}.c`);
  writeFileSync(source, largeFixtureSource(shape));
  return compileBpf(source);
}
