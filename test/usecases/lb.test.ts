/**
 * The L4 load balancer (examples/lb): Maglev tables (balance, minimal
 * disruption), the configuration file, the program on the VM (every flow
 * on the backend its hash gives, flows staying put when backends change,
 * IP-in-IP and decapsulation), and in the kernel across namespaces: a
 * client's real UDP datagrams to the VIP reach a socket on the chosen
 * backend, decapsulated, from the client's own address.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadCollectionSpec } from '../../src/object/index.ts';
import { loadVmCollection } from '../../src/vm/index.ts';
import { loadCollection } from '../../src/kernel/index.ts';
import { withNetworkNamespace } from '../../src/kernel/netns.ts';
import { buildPacket, ethernet, ipv4, ipv6, payload, tcp, udp } from '../../src/net/index.ts';
import { Balancer, buildMaglevTable, changedSlots, flowSlot, MaglevError, parseLbConfig, resolveBackend, sizeLbSpec, type Backend, type Flow } from '../../src/tools/lb/index.ts';
import { ConfigFileError } from '../../src/tools/usecase-support/index.ts';
import { XdpAction } from '../../src/uapi/index.ts';
import { compileBpf } from '../support/clang.ts';
import { ROOT, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { seededRandom } from '../support/random.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { ifindexOf, ip, macOf, namespace, vethPair } from './netns.ts';

checkNoKernelLeaks();
const object = (): string => compileBpf(join(ROOT, 'examples', 'lb', 'xdp_lb.c'));
const names = (n: number): Array<{ name: string; id: number }> => [...Array(n).keys()].map((id) => ({ name: `backend-${id}`, id }));

test('Maglev: every backend gets M/N slots (±1), and removing or adding one moves about 1/N of the slots', (t) => {
  const size = 65537;
  for (const n of [3, 10, 31]) {
    const table = buildMaglevTable(names(n), size);
    const counts = new Array<number>(n).fill(0);
    for (const id of table) counts[id]!++;
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `slot counts ${counts}`);
    // Removing one: all its slots change, and only a few others.
    const removed = 1;
    const without = buildMaglevTable(names(n).filter((b) => b.id !== removed), size);
    const moved = changedSlots(table, without);
    const ownMoved = moved.filter((s) => table[s] === removed).length;
    assert.equal(ownMoved, counts[removed], 'every slot of the removed backend is reassigned');
    const extra = (moved.length - ownMoved) / size;
    // Adding one: it takes about 1/(N+1) of the table.
    const added = changedSlots(table, buildMaglevTable(names(n + 1), size)).length / size;
    t.diagnostic(`N=${n}: removing one moves ${((moved.length / size) * 100).toFixed(2)}% of slots (1/N = ${((1 / n) * 100).toFixed(2)}%, ${(extra * 100).toFixed(2)}% beyond its own); adding one moves ${(added * 100).toFixed(2)}% (1/(N+1) = ${((1 / (n + 1)) * 100).toFixed(2)}%)`);
    assert.ok(extra < 0.5 / n, `removal moved ${extra} of the table beyond the removed backend's slots`);
    assert.ok(added >= 1 / (n + 1) - 0.001 && added < 1.5 / (n + 1), `adding moved ${added}`);
  }
  // The order backends are listed in does not matter; errors are typed.
  assert.deepEqual(buildMaglevTable(names(5).reverse(), 1009), buildMaglevTable(names(5), 1009));
  assert.throws(() => buildMaglevTable(names(3), 65536), MaglevError);
  assert.throws(() => buildMaglevTable([], 7), /at least one backend/);
  assert.throws(() => buildMaglevTable([{ name: 'a', id: 0 }, { name: 'a', id: 1 }], 7), /appears twice/);
});

test('configuration errors name the file, the line and the key', () => {
  const good = parseLbConfig('table_size: 1009\nvips: [10.250.0.100:8080/udp]\nbackends:\n  - {name: a, address: 10.201.1.2, interface: b1, mac: "02:00:00:00:00:01"}\n', 'lb.yaml');
  assert.equal(good.tableSize, 1009);
  assert.deepEqual(good.vips, [{ address: '10.250.0.100', port: 8080, protocol: 'udp' }]);
  assert.equal(good.backends[0]!.interface, 'b1');
  const cases: Array<[string, RegExp]> = [
    ['table_size: 65536\nvips: [1.2.3.4:80/tcp]\nbackends: []\n', /^f\.yaml:1: table_size: 65536 is not a prime/],
    ['vips: [1.2.3.4:80/sctp]\nbackends: []\n', /^f\.yaml:1: vips\[0\]: '1\.2\.3\.4:80\/sctp' is not ADDRESS:PORT\/tcp or ADDRESS:PORT\/udp$/],
    ['vips: [1.2.3.4:0/tcp]\nbackends: []\n', /^f\.yaml:1: vips\[0\]: port 0 is out of range/],
    ['vips: [1.2.3.4:80/tcp]\nbackends:\n  - name: a\n    adress: 1.2.3.4\n', /^f\.yaml:4: backends\[0\]\.adress: unknown key 'adress'/],
    ['vips: [1.2.3.4:80/tcp]\nbackends:\n  - name: a\n    address: 1.2.3.4\n    mac: 02:00\n', /^f\.yaml:5: backends\[0\]\.mac: '02:00' is not a MAC address/],
    ['vips: [1.2.3.4:80/tcp]\nbackends:\n  - {name: a, address: 1.2.3.4}\n  - {name: a, address: 1.2.3.5}\n', /^f\.yaml:4: backends\[1\]: backend name 'a' is already used on line 3$/],
    ['vips: [1.2.3.4:80/tcp]\n', /^f\.yaml:1: missing key 'backends'$/],
    ['vips: [1.2.3.4:80/tcp]\nbackends:\n  - {name: a, address: 1.2.3.256}\n', /^f\.yaml:3: backends\[0\]\.address: '1\.2\.3\.256' is not an IPv4 address$/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseLbConfig(text, 'f.yaml'), (err: unknown) => err instanceof ConfigFileError && message.test(err.message), text);
  }
  const random = seededRandom(1311);
  const original = 'table_size: 1009\nvips: [10.250.0.100:8080/udp, "10.250.0.100:80/tcp"]\nbackends:\n  - {name: a, address: 10.201.1.2, interface: b1, mac: "02:00:00:00:00:01"}\n  - name: b\n    address: 10.201.2.2\n';
  for (let n = 0; n < 300; n++) {
    const chars = [...original];
    for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) chars.splice(Math.floor(random() * chars.length), random() < 0.5 ? 1 : 0, ':-[]{}/.,\n 0123456789ab'[Math.floor(random() * 21)]!);
    try {
      parseLbConfig(chars.join(''), 'fuzz.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigFileError, `${(err as Error).stack}\n---\n${chars.join('')}`);
    }
  }
});

const VIP = '10.250.0.100';
const backendOn = (i: number): Backend => ({ name: `be${i}`, address: `10.201.${i}.2`, localAddress: `10.201.${i}.1`, ifindex: 100 + i, mac: `02:00:00:00:0${i}:02`, localMac: `02:00:00:00:0${i}:01` });
const flowPacket = (f: Flow): Uint8Array => buildPacket(ethernet(), ipv4({ src: f.src, dst: f.dst }), f.protocol === 6 ? tcp({ sport: f.sport, dport: f.dport }) : udp({ sport: f.sport, dport: f.dport }), payload(16));

test('on the VM: each flow goes IP-in-IP to the backend of its Maglev slot; removing a backend moves only its flows, adding one moves none', { skip: skipWithoutClang() }, (t) => {
  const spec = loadCollectionSpec(object());
  sizeLbSpec(spec, 65537);
  const collection = loadVmCollection(spec);
  try {
    const balancer = new Balancer(collection, 65537);
    balancer.setVips([{ address: VIP, port: 8080, protocol: 'udp' }, { address: VIP, port: 80, protocol: 'tcp' }]);
    balancer.setBackends([1, 2, 3, 4, 5].map(backendOn));
    const program = collection.program('xdp_lb');
    const random = seededRandom(1312);
    const flows: Flow[] = [...Array(1000).keys()].map((n) => ({ src: `10.${n % 7}.${Math.floor(random() * 256)}.${1 + (n % 250)}`, dst: VIP, sport: 1024 + Math.floor(random() * 60000), dport: n % 2 ? 8080 : 80, protocol: n % 2 ? 17 : 6 }));
    /** The backend each flow is sent to, checking the encapsulation and the redirect on the way. */
    const route = (): string[] =>
      flows.map((flow) => {
        const packet = flowPacket(flow);
        const result = program.run({ data: packet });
        assert.equal(result.retval, XdpAction.REDIRECT);
        const out = result.data!;
        assert.equal(out.length, packet.length + 20);
        assert.deepEqual(out.subarray(34), packet.subarray(14), 'the client packet follows the outer header unchanged');
        assert.equal(out[23], 4, 'IP-in-IP');
        const outer = [...out.subarray(30, 34)].join('.');
        const backend = balancer.backends.find((b) => b.address === outer)!;
        assert.equal([...out.subarray(26, 30)].join('.'), backend.localAddress);
        assert.equal(Buffer.from(out.subarray(0, 6)).toString('hex'), backend.mac.replaceAll(':', ''));
        let sum = 0;
        for (let i = 14; i < 34; i += 2) sum += (out[i]! << 8) | out[i + 1]!;
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
        assert.equal(sum, 0xffff, 'outer header checksum');
        return backend.name;
      });
    const predicted = (): string[] => flows.map((f) => balancer.backends.find((b) => balancer.idOf(b.name) === balancer.table![flowSlot(f, 65537)])!.name);

    const first = route();
    assert.deepEqual(first, predicted(), 'the program and src/tools/lb agree on every flow');
    const share = new Set(first).size;
    assert.equal(share, 5, 'flows spread over all five backends');

    // Remove be3: its flows move, every other flow stays (remembered in the LRU flow table).
    const change = balancer.setBackends([1, 2, 4, 5].map(backendOn));
    assert.deepEqual(change.removed, ['be3']);
    const second = route();
    const moved = first.filter((b, i) => b !== second[i]);
    assert.ok(moved.every((b) => b === 'be3'), 'only be3 flows moved');
    assert.equal(moved.length, first.filter((b) => b === 'be3').length, 'every be3 flow moved');
    t.diagnostic(`removing 1 of 5 backends: ${moved.length} of ${flows.length} flows moved (${((moved.length / flows.length) * 100).toFixed(1)}%), ${(change.fractionChanged * 100).toFixed(2)}% of the table`);

    // Add be6: remembered flows all stay on their backends.
    balancer.setBackends([1, 2, 4, 5, 6].map(backendOn));
    assert.deepEqual(route(), second, 'adding a backend moves no existing flow');

    // Without the flow memory, the table alone decides: Maglev keeps most flows where they were.
    for (const key of [...collection.map('flows').keys()]) collection.map('flows').delete(key);
    const fresh = route();
    assert.deepEqual(fresh, predicted());
    const movedByTable = fresh.filter((b, i) => b !== second[i]).length / flows.length;
    t.diagnostic(`after adding a 5th backend, without flow memory ${(movedByTable * 100).toFixed(1)}% of flows move (1/5 = 20%)`);
    assert.ok(movedByTable > 0.1 && movedByTable < 0.3);
    const counters = balancer.counters();
    assert.equal(counters.forwarded, 4 * flows.length);
    assert.equal(counters.new_flows, flows.length + moved.length + flows.length);
  } finally {
    collection.close();
  }
});

test('on the VM: other traffic passes, malformed packets to a VIP are dropped, random frames never fault; xdp_decap restores the client packet', { skip: skipWithoutClang() }, () => {
  const spec = loadCollectionSpec(object());
  sizeLbSpec(spec, 1009);
  const collection = loadVmCollection(spec);
  try {
    const balancer = new Balancer(collection, 1009);
    balancer.setVips([{ address: VIP, port: 8080, protocol: 'udp' }]);
    const program = collection.program('xdp_lb');
    const toVip = flowPacket({ src: '10.0.0.1', dst: VIP, sport: 5000, dport: 8080, protocol: 17 });
    assert.equal(program.run({ data: toVip }).retval, XdpAction.DROP, 'no backend yet');
    assert.equal(balancer.counters().no_backend, 1);
    balancer.setBackends([backendOn(1)]);
    assert.equal(program.run({ data: flowPacket({ src: '10.0.0.1', dst: VIP, sport: 5000, dport: 9090, protocol: 17 }) }).retval, XdpAction.PASS, 'another port');
    assert.equal(program.run({ data: buildPacket(ethernet(), ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }), udp({ dport: 8080 })) }).retval, XdpAction.PASS);
    const fragment = buildPacket(ethernet(), ipv4({ src: '10.0.0.1', dst: VIP, flags: 1 }), udp({ dport: 8080 }));
    assert.equal(program.run({ data: fragment }).retval, XdpAction.DROP);
    const truncated = toVip.slice(0, 14 + 20 + 2);
    assert.equal(program.run({ data: truncated }).retval, XdpAction.DROP);
    assert.equal(balancer.counters().malformed, 2);

    const encapsulated = program.run({ data: toVip }).data!;
    const decap = collection.program('xdp_decap').run({ data: encapsulated });
    assert.equal(decap.retval, XdpAction.PASS);
    assert.deepEqual(decap.data!.subarray(14), toVip.subarray(14), 'the client packet, as sent');
    assert.deepEqual(decap.data!.subarray(0, 12), encapsulated.subarray(0, 12), 'the Ethernet addresses of the hop to the backend');

    const random = seededRandom(1313);
    for (let n = 0; n < 500; n++) {
      const frame = (n % 2 ? toVip : encapsulated).slice(0, 14 + Math.floor(random() * 40));
      for (let flips = Math.floor(random() * 3); flips > 0; flips--) frame[14 + Math.floor(random() * (frame.length - 14))] = Math.floor(random() * 256);
      for (const name of ['xdp_lb', 'xdp_decap']) {
        const verdict = collection.program(name).run({ data: frame }).retval;
        assert.ok([XdpAction.PASS, XdpAction.DROP, XdpAction.REDIRECT].includes(verdict as 1 | 2 | 4), `${name}: ${verdict}`);
      }
    }
  } finally {
    collection.close();
  }
});

/** A process in namespace `ns` running `script` with node, its stdout lines collected. */
function nodeIn(ns: string, script: string, args: string[] = []): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, lines, exited };
}

const RECEIVER = `
import dgram from 'node:dgram';
const socket = dgram.createSocket('udp4');
socket.on('message', (message, from) => console.log(JSON.stringify({ flow: message.toString(), from: from.address + ':' + from.port })));
socket.bind(8080, process.argv[1], () => console.log('ready'));
`;

const SENDER = `
import dgram from 'node:dgram';
const [vip, first, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
for (let port = first; port < first + count; port++) {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(port, '10.200.0.1', resolve));
  await new Promise((resolve, reject) => socket.send(String(port), 8080, vip, (err) => (err ? reject(err) : resolve())));
  socket.close();
}
console.log('sent');
`;

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const start = Date.now(); !condition(); ) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('in the kernel across namespaces: datagrams to the VIP reach the chosen backend decapsulated, and a removed backend\'s flows move while the others stay', { skip: skipWithoutClang() || skipWithoutKernel(), timeout: 120_000 }, async (t) => {
  const id = process.pid;
  const client = namespace(t, `tsbpf_lbc${id}`);
  const lb = namespace(t, `tsbpf_lb${id}`);
  const backends = [1, 2, 3].map((i) => namespace(t, `tsbpf_lbb${i}_${id}`));
  vethPair(client, 'c0', lb, 'l0');
  ip('-n', client, 'addr', 'add', '10.200.0.1/24', 'dev', 'c0');
  ip('-n', lb, 'addr', 'add', '10.200.0.2/24', 'dev', 'l0');
  ip('-n', client, 'route', 'add', `${VIP}/32`, 'via', '10.200.0.2');
  const resolved: Backend[] = [];
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const child of children) child.kill();
  });
  const receivers = backends.map((ns, index) => {
    const i = index + 1;
    vethPair(lb, `b${i}`, ns, 'e0');
    ip('-n', lb, 'addr', 'add', `10.201.${i}.1/24`, 'dev', `b${i}`);
    ip('-n', ns, 'addr', 'add', `10.201.${i}.2/24`, 'dev', 'e0');
    ip('-n', ns, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.e0.rp_filter=0']);
    // What the balancer's configuration leaves out is read from the lb namespace: address, MAC and index of b<i>.
    const backend = withNetworkNamespace(lb, () => resolveBackend({ name: `be${i}`, address: `10.201.${i}.2`, interface: `b${i}`, mac: macOf(ns, 'e0'), line: i }, 'lb.yaml', 'l0'));
    assert.deepEqual(backend, { name: `be${i}`, address: `10.201.${i}.2`, localAddress: `10.201.${i}.1`, ifindex: ifindexOf(lb, `b${i}`), mac: macOf(ns, 'e0'), localMac: macOf(lb, `b${i}`) });
    assert.throws(() => withNetworkNamespace(lb, () => resolveBackend({ name: 'x', address: `10.201.${i}.2`, interface: `b${i}`, line: 7 }, 'lb.yaml', 'l0')), /^ConfigFileError: lb\.yaml:7: backends 'x': no ARP entry for 10\.201\.\d\.2 on b\d/);
    resolved.push(backend);
    const receiver = nodeIn(ns, RECEIVER, [VIP]);
    children.push(receiver.child);
    return receiver;
  });

  const spec = loadCollectionSpec(object());
  sizeLbSpec(spec, 65537);
  const collection = loadCollection(spec);
  t.after(() => collection.close());
  const links = [withNetworkNamespace(lb, () => collection.attach({ programs: ['xdp_lb'], interface: 'l0', xdpMode: 'generic' }))];
  for (const ns of backends) links.push(withNetworkNamespace(ns, () => collection.attach({ programs: ['xdp_decap'], interface: 'e0', xdpMode: 'generic' })));
  t.after(() => {
    for (const link of links) link.close();
  });
  const balancer = new Balancer(collection, 65537);
  balancer.setVips([{ address: VIP, port: 8080, protocol: 'udp' }]);
  balancer.setBackends(resolved);
  await until(() => receivers.every((r) => r.lines.includes('ready')), 'the receivers');

  const FLOWS = 60;
  const flowOf = (port: number): Flow => ({ src: '10.200.0.1', dst: VIP, sport: port, dport: 8080, protocol: 17 });
  const send = async (): Promise<Map<number, string>> => {
    for (const r of receivers) r.lines.length = 0;
    const sender = nodeIn(client, SENDER, [VIP, '30000', String(FLOWS)]);
    children.push(sender.child);
    assert.equal(await sender.exited, 0);
    await until(() => receivers.reduce((n, r) => n + r.lines.length, 0) >= FLOWS, `${FLOWS} datagrams at the backends`);
    const where = new Map<number, string>();
    receivers.forEach((r, index) => {
      for (const line of r.lines) {
        const { flow, from } = JSON.parse(line) as { flow: string; from: string };
        assert.equal(from, `10.200.0.1:${flow}`, 'the backend sees the client, not the balancer');
        assert.ok(!where.has(Number(flow)), `flow ${flow} arrived twice`);
        where.set(Number(flow), `be${index + 1}`);
      }
    });
    return where;
  };
  const predicted = (): Map<number, string> => new Map([...Array(FLOWS).keys()].map((n) => [30000 + n, balancer.backends.find((b) => balancer.idOf(b.name) === balancer.table![flowSlot(flowOf(30000 + n), 65537)])!.name]));

  const before = await send();
  assert.deepEqual(before, predicted(), 'each datagram reached the backend its Maglev slot names');
  assert.equal(new Set(before.values()).size, 3, 'all three backends got flows');
  balancer.setBackends(resolved.filter((b) => b.name !== 'be2'));
  const after = await send();
  let moved = 0;
  for (const [flow, backend] of before) {
    if (backend === 'be2') {
      assert.notEqual(after.get(flow), 'be2');
      moved++;
    } else assert.equal(after.get(flow), backend, `flow ${flow} stays on ${backend}`);
  }
  t.diagnostic(`${FLOWS} flows over 3 backends: ${moved} were on be2 and moved; the other ${FLOWS - moved} stayed; counters ${JSON.stringify(balancer.counters())}`);
  assert.equal(balancer.counters().forwarded, 2 * FLOWS);
});

test('examples/lb/demo-netns.sh: tsbpf lb and tsbpf lb --decap in five namespaces; removing be2 from the file moves its flows only', { skip: skipWithoutClang() || skipWithoutKernel(), timeout: 120_000 }, () => {
  // The CLI in the demo compiles the programs itself: into a cache of the tests.
  const out = execFileSync('bash', [join(ROOT, 'examples', 'lb', 'demo-netns.sh')], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TSBPF_CACHE_DIR: join(tmpdir(), 'tsbpf-usecases-test') } });
  const before = /flows per backend before: (.*)/.exec(out)![1]!;
  const onBe2 = Number(/(\d+) be2/.exec(before)![1]);
  const moved = [...out.matchAll(/flow \d+: (be\d) -> (be\d)/g)];
  assert.equal(moved.length, onBe2, out);
  assert.ok(moved.every((m) => m[1] === 'be2' && m[2] !== 'be2'), out);
  assert.match(out, new RegExp(`flows that stayed: ${30 - onBe2}\\n`));
  assert.match(out, /removed be2; \d+ of 65537 slots changed/);
  assert.match(out, /got flow \d+ from 10\.200\.0\.1:\d+/);
});
