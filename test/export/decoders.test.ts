import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DecoderSet, LabelDecodeError, SKIP_LABEL_SET, bucketIndexes, parseExporterConfig, toPromHistogram, type DecoderEnvironment, type HistogramConfig, type LabelConfig } from '../../src/export/index.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

/** A fake system: kallsyms, cgroup tree, partitions, interfaces and pci.ids in a temporary directory. */
function fakeSystem(t: { after: (fn: () => void) => void }): DecoderEnvironment {
  const root = mkdtempSync(join(tmpdir(), 'tsbpf-decoders-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'kallsyms'), 'ffffffff81000000 T _stext\nffffffff81001000 T do_sys_open\nffffffff81002000 t vfs_read\n');
  mkdirSync(join(root, 'cgroup', 'system.slice', 'nginx.service'), { recursive: true });
  writeFileSync(join(root, 'partitions'), 'major minor  #blocks  name\n\n 259        0  500107608 nvme0n1\n 259        1    1048576 nvme0n1p1\n   8       16  1000 sdb\n');
  mkdirSync(join(root, 'net', 'lo'), { recursive: true });
  writeFileSync(join(root, 'net', 'lo', 'ifindex'), '1\n');
  mkdirSync(join(root, 'net', 'eth0'), { recursive: true });
  writeFileSync(join(root, 'net', 'eth0', 'ifindex'), '2\n');
  writeFileSync(join(root, 'pci.ids'), '# pci.ids\n8086  Intel Corporation\n\t1533  I210 Gigabit Network Connection\n\t\t8086 0001  subsystem\n10de  NVIDIA Corporation\nC 02  Network controller\n\t00  Ethernet controller\n\t80  Network controller\n');
  return { kallsyms: join(root, 'kallsyms'), cgroupRoot: join(root, 'cgroup'), cgroup2Only: false, partitions: join(root, 'partitions'), netClass: join(root, 'net'), pciIds: [join(root, 'missing.ids'), join(root, 'pci.ids')], arch: 'x64' };
}

/** Labels from a YAML snippet, through the config parser (so tests use what users write). */
function labels(yaml: string): LabelConfig[] {
  return parseExporterConfig(`metrics:\n  counters:\n    - name: c\n      help: c\n      labels:\n${yaml}`, '/t.yaml').programs[0]!.counters[0]!.labels;
}

const le = (...parts: Array<[number, 1 | 2 | 4 | 8]>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((s, [, n]) => s + n, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [value, size] of parts) {
    if (size === 8) view.setBigUint64(at, BigInt(value), true);
    else if (size === 4) view.setUint32(at, value, true);
    else if (size === 2) view.setUint16(at, value, true);
    else view.setUint8(at, value);
    at += size;
  }
  return out;
};

test('decoders chain as in ebpf_exporter: uint, syscall, errno, static_map, string, hex, inet_ip, dname', (t) => {
  const decoders = new DecoderSet(fakeSystem(t));
  const set = labels(`        - { name: syscall, size: 8, decoders: [{ name: uint }, { name: syscall }] }
        - { name: errno, size: 4, decoders: [{ name: uint }, { name: errno }] }
        - { name: op, size: 1, padding: 3, decoders: [{ name: uint }, { name: static_map, static_map: { 1: read, 2: write } }] }
        - { name: comm, size: 8, decoders: [{ name: string }] }
        - { name: raw, size: 2, decoders: [{ name: hex }] }
        - { name: v4, size: 4, decoders: [{ name: inet_ip }] }
        - { name: v6, size: 16, decoders: [{ name: inet_ip }] }
        - { name: dns, size: 12, decoders: [{ name: dname }] }
`);
  const comm = new TextEncoder().encode('nginx\0\0\0');
  const dns = new Uint8Array([7, ...new TextEncoder().encode('example'), 3, ...new TextEncoder().encode('com')]);
  const v6 = new Uint8Array(16);
  v6.set([0x20, 0x01, 0x0d, 0xb8], 0);
  v6[15] = 1;
  const key = new Uint8Array([...le([39, 8], [2, 4], [2, 1]), 0, 0, 0, ...comm, 0xbe, 0xef, 10, 0, 0, 1, ...v6, ...dns]);
  assert.deepEqual(decoders.decodeLabels(key, set), ['getpid', 'ENOENT', 'write', 'nginx', 'beef', '10.0.0.1', '2001:db8::1', 'example.com']);

  const unknown = labels(`        - { name: s, size: 4, decoders: [{ name: uint }, { name: syscall }] }
        - { name: m, size: 4, decoders: [{ name: uint }, { name: static_map, static_map: { 1: one } }] }
        - { name: a, size: 4, decoders: [{ name: uint }, { name: static_map, static_map: { 1: one }, allow_unknown: true }] }
`);
  assert.deepEqual(decoders.decodeLabels(le([99999, 4], [7, 4], [7, 4]), unknown), ['unknown_syscall:99999', 'unknown:7', '7']);
});

test('system lookups: ksym, kstack, cgroup, majorminor, ifname, pci', (t) => {
  const system = fakeSystem(t);
  const decoders = new DecoderSet(system);
  const set = labels(`        - { name: fn, size: 8, decoders: [{ name: ksym }] }
        - { name: stack, size: 24, decoders: [{ name: kstack }] }
        - { name: cgroup, size: 8, decoders: [{ name: uint }, { name: cgroup }] }
        - { name: dev, size: 4, decoders: [{ name: majorminor }] }
        - { name: iface, size: 4, decoders: [{ name: ifname }] }
        - { name: vendor, size: 2, decoders: [{ name: uint }, { name: pci_vendor }] }
        - { name: device, size: 2, decoders: [{ name: uint }, { name: pci_device }] }
        - { name: class, size: 1, decoders: [{ name: uint }, { name: pci_class }] }
        - { name: subclass, size: 2, decoders: [{ name: uint }, { name: pci_subclass }] }
`);
  const cgroupId = Number(statSync(join(system.cgroupRoot, 'system.slice', 'nginx.service')).ino);
  const key = new Uint8Array([
    ...le([0x81001010, 4], [0xffffffff, 4]),
    ...le([0x81002004, 4], [0xffffffff, 4], [0x81000001, 4], [0xffffffff, 4], [0, 8]),
    ...le([cgroupId, 8]),
    ...le([(259 << 8) | 1, 4], [2, 4], [0x8086, 2], [0x1533, 2], [0x02, 1], [0x0280, 2]),
  ]);
  assert.deepEqual(decoders.decodeLabels(key, set), [
    'do_sys_open',
    'vfs_read\n_stext',
    join(system.cgroupRoot, 'system.slice', 'nginx.service'),
    'nvme0n1p1',
    'eth0',
    'Intel Corporation',
    'I210 Gigabit Network Connection',
    'Network controller',
    'Network controller',
  ]);
  const missing = new Uint8Array([...le([0x1000, 8]), ...le([0, 8], [0, 8], [0, 8]), ...le([123456789, 8]), ...le([(8 << 8) | 99, 4], [77, 4], [0x1234, 2], [0x9999, 2], [0x0f, 1], [0x0277, 2])]);
  assert.deepEqual(decoders.decodeLabels(missing, set), [
    'unknown_addr:0x1000',
    '',
    'unknown_cgroup_id:123456789',
    'unknown:8:99',
    'unknown:77',
    'unknown pci vendor: 0x1234',
    'unknown pci device: 0x9999',
    'unknown pci class: 0x0f',
    'unknown pci subclass: 0x77 (class 0x02)',
  ]);
  const noPci = new DecoderSet({ ...system, pciIds: ['/nonexistent/pci.ids'] });
  assert.deepEqual(noPci.decodeLabels(le([0x8086, 2]), labels('        - { name: v, size: 2, decoders: [{ name: uint }, { name: pci_vendor }] }\n')), ['missing pci.ids db']);
});

test('regexp keeps the first group or the whole match, and skips the label set when nothing matches', (t) => {
  const decoders = new DecoderSet(fakeSystem(t));
  const set = labels(`        - { name: comm, size: 16, decoders: [{ name: string }, { name: regexp, regexps: ['^kworker/(\\d+)', '^nginx$'] }] }\n`);
  const encode = (text: string) => {
    const out = new Uint8Array(16);
    out.set(new TextEncoder().encode(text));
    return out;
  };
  assert.deepEqual(decoders.decodeLabels(encode('kworker/3'), set), ['3']);
  assert.deepEqual(decoders.decodeLabels(encode('nginx'), set), ['nginx']);
  assert.equal(decoders.decodeLabels(encode('bash'), set), SKIP_LABEL_SET);
});

test('keys that do not match the labels, and decoders fed the wrong input, are LabelDecodeErrors', (t) => {
  const decoders = new DecoderSet(fakeSystem(t));
  const set = labels('        - { name: a, size: 4, padding: 4, decoders: [{ name: uint }] }\n');
  assert.throws(() => decoders.decodeLabels(new Uint8Array(4), set), (e: unknown) => e instanceof LabelDecodeError && /cover 8 bytes, the key has 4/.test(e.message));
  const chained = labels('        - { name: a, size: 4, decoders: [{ name: string }, { name: syscall }] }\n');
  assert.throws(() => decoders.decodeLabels(new TextEncoder().encode('abcd'), chained), (e: unknown) => e instanceof LabelDecodeError && /syscall needs a decimal number/.test(e.message));
});

test('fuzz: random keys through every decoder give labels, a skip or a LabelDecodeError', (t) => {
  const decoders = new DecoderSet(fakeSystem(t));
  const random = seededRandom(fuzzSeed(1516));
  const chains = [
    ['uint'],
    ['uint', 'syscall'],
    ['uint', 'errno'],
    ['uint', 'cgroup'],
    ['string'],
    ['string', 'syscall'],
    ['hex', 'pci_vendor'],
    ['dname'],
    ['string', 'regexp'],
    ['uint', 'static_map'],
    ['kstack'],
    ['string', 'pci_subclass'],
  ];
  for (let i = 0; i < 300; i++) {
    const chain = chains[i % chains.length]!;
    const size = chain[0] === 'uint' ? [1, 2, 4, 8][Math.floor(random() * 4)]! : chain[0] === 'kstack' ? 8 * (1 + Math.floor(random() * 3)) : 1 + Math.floor(random() * 40);
    const decoderYaml = chain.map((name) => (name === 'regexp' ? `{ name: regexp, regexps: ['(a+)b'] }` : name === 'static_map' ? `{ name: static_map, static_map: { 0: zero } }` : `{ name: ${name} }`)).join(', ');
    const set = labels(`        - { name: x, size: ${size}, decoders: [${decoderYaml}] }\n`);
    // Every other round a ring-buffer record: labels cover its start, and it may be shorter or longer than them.
    const record = i % 2 === 1;
    const key = Uint8Array.from({ length: record ? Math.floor(random() * (size + 16)) : size }, () => Math.floor(random() * 256));
    try {
      const result = decoders.decodeLabels(key, set, record);
      assert.ok(result === SKIP_LABEL_SET || (Array.isArray(result) && typeof result[0] === 'string'));
    } catch (error) {
      assert.ok(error instanceof LabelDecodeError, `${chain.join('>')} on ${key.join(',')}: ${String(error)}`);
    }
  }
});

test('histogram buckets: exp2, exp2zero, linear and fixed become cumulative Prometheus buckets with the sum slot', () => {
  const base: HistogramConfig = { name: 'h', help: 'h', bucketType: 'exp2', bucketMultiplier: 1, bucketMin: 0, bucketMax: 3, bucketKeys: [], labels: [], keyPath: '' };
  const counts = new Map([
    [0, 2],
    [2, 5],
    [3, 1],
    [4, 40],
  ]);
  assert.deepEqual(toPromHistogram(base, counts), {
    buckets: [
      [1, 2],
      [2, 2],
      [4, 7],
      [8, 8],
    ],
    count: 8,
    sum: 40,
  });
  assert.deepEqual(toPromHistogram({ ...base, bucketType: 'exp2zero' }, counts).buckets.map((b) => b[0]), [0, 1, 2, 4]);
  assert.deepEqual(toPromHistogram({ ...base, bucketType: 'linear', bucketMultiplier: 0.5, bucketMin: 1 }, counts), {
    buckets: [
      [0.5, 0],
      [1, 5],
      [1.5, 6],
    ],
    count: 6,
    sum: 20,
  });
  const fixed = { ...base, bucketType: 'fixed' as const, bucketKeys: [1, 10, 100], bucketMultiplier: 0.001 };
  assert.deepEqual(bucketIndexes(fixed), [1, 10, 100]);
  assert.deepEqual(
    toPromHistogram(
      fixed,
      new Map([
        [10, 3],
        [100, 4],
        [101, 999],
      ]),
    ),
    {
      buckets: [
        [0.001, 0],
        [0.01, 3],
        [0.1, 7],
      ],
      count: 7,
      sum: 0.999,
    },
  );
});
