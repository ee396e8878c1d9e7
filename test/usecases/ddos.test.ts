/**
 * XDP DDoS mitigation (examples/ddos): the configuration file and its
 * errors, the guard on the VM over generated attack traffic (every packet's
 * verdict and reason against a reference model, exact counters), the CLI,
 * and the guard attached in the kernel to a veth between two namespaces
 * made by the test, fed real frames and reconfigured while attached.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCollectionSpec } from '../../src/object/index.ts';
import { buildPacket, encodeCapture, ethernet, ipv4, ipv6, payload, tcp, TcpFlag, udp, vlan } from '../../src/net/index.ts';
import { withNetworkNamespace } from '../../src/kernel/netns.ts';
import { loadCollection } from '../../src/kernel/index.ts';
import { applyGuardConfig, loadGuardConfig, loadGuardOnVm, parseGuardConfig, readGuardCounters, RUNT, COUNTER_NAMES } from '../../src/tools/ddos/index.ts';
import { ConfigFileError } from '../../src/tools/usecase-support/index.ts';
import { XdpAction } from '../../src/uapi/index.ts';
import { buildAttackTraffic } from '../../examples/ddos/traffic.ts';
import { compileBpf } from '../support/clang.ts';
import { ROOT, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { seededRandom } from '../support/random.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { GuardModel } from './guard-model.ts';
import { ip, namespace, onOneCpu, quietNamespaces, packetSocket, receiveFrames, sendFrames, vethPair } from './netns.ts';

checkNoKernelLeaks();
const CONFIG = join(ROOT, 'examples', 'ddos', 'guard.yaml');
const object = (): string => compileBpf(join(ROOT, 'examples', 'ddos', 'xdp_guard.c'));
const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'xdp-guard', ...args], { cwd: ROOT, encoding: 'utf8' });

test('the example configuration reads as documented, from YAML and from JSON', () => {
  const config = loadGuardConfig(CONFIG);
  assert.deepEqual(config.source, { perSecond: 100, burst: 200 });
  assert.deepEqual(config.sourceSyn, { perSecond: 10, burst: 20 });
  assert.deepEqual(config.globalSyn, { perSecond: 200, burst: 200 });
  assert.deepEqual(config.allow.map((p) => p.text), ['10.99.0.0/16']);
  assert.deepEqual(config.deny.map((p) => p.text), ['192.0.2.0/24', '2001:db8:bad::/48']);
  const json = parseGuardConfig('{"rate_limit": {"packets_per_second": 5}, "deny": "10.0.0.9/8"}', 'x.json');
  assert.deepEqual(json.source, { perSecond: 5, burst: 5 });
  assert.deepEqual([...json.deny[0]!.address], [10, 0, 0, 0]);
  assert.deepEqual(parseGuardConfig('', 'empty.yaml').allow, []);
});

test('configuration errors name the file, the line and the key', () => {
  const cases: Array<[string, RegExp]> = [
    ['rate_limit:\n  packets_per_second: 10\n  brust: 5\n', /^f\.yaml:3: rate_limit\.brust: unknown key 'brust' \(expected one of packets_per_second, burst\)$/],
    ['deny:\n  - 10.0.0.0/8\n  - 10.0.0.300/8\n', /^f\.yaml:3: deny\[1\]: '10\.0\.0\.300' is not an IPv4 address$/],
    ['allow:\n  - 2001:db8::/129\n', /^f\.yaml:2: allow\[0\]: '\/129' is not a prefix length for IPv6 \(0-128\)$/],
    ['rate_limit:\n  packets_per_second: fast\n', /^f\.yaml:2: rate_limit\.packets_per_second: expected a number, got 'fast'$/],
    ['rate_limit:\n  packets_per_second: 0\n', /^f\.yaml:2: rate_limit\.packets_per_second: must be at least 1, got 0$/],
    ['syn:\n  global_burst: 5\n', /^f\.yaml:2: syn: 'syn\.global_burst' needs a rate beside it$/],
    ['rate_limit: [1, 2]\n', /^f\.yaml:1: rate_limit: expected a mapping/],
    ['deny: [10.0.0.0/8\n', /^f\.yaml:\d: /],
    ['rate_limit:\n  burst: 1\n  burst: 2\n', /^f\.yaml:3: rate_limit\.burst: duplicate key$/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseGuardConfig(text, 'f.yaml'), (err: unknown) => err instanceof ConfigFileError && message.test(err.message), text);
  }
  assert.throws(() => loadGuardConfig('/nonexistent/guard.yaml'), /^ConfigFileError: \/nonexistent\/guard\.yaml:0: cannot read the file \(ENOENT\)$/);
});

test('fuzz: mutated configuration files fail only with ConfigFileError', () => {
  const random = seededRandom(1301);
  const original = 'rate_limit:\n  packets_per_second: 100\n  burst: 200\nsyn: {per_source_per_second: 10, global_per_second: 5}\nallow: [10.99.0.0/16]\ndeny:\n  - 192.0.2.0/24\n  - "2001:db8:bad::/48"\n';
  const alphabet = ':-[]{}"\'/.,#&*!|>\n 0123456789abcdefx';
  for (let n = 0; n < 400; n++) {
    const chars = [...original];
    for (let edits = 1 + Math.floor(random() * 4); edits > 0; edits--) {
      const at = Math.floor(random() * chars.length);
      const kind = random();
      if (kind < 0.4) chars.splice(at, 1);
      else if (kind < 0.8) chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]!);
      else chars[at] = alphabet[Math.floor(random() * alphabet.length)]!;
    }
    try {
      parseGuardConfig(chars.join(''), 'fuzz.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigFileError, `${(err as Error).stack}\n---\n${chars.join('')}`);
    }
  }
});

test('on the VM, the attack capture: every legitimate packet passes, the attack is dropped, each verdict and counter is the model\'s', { skip: skipWithoutClang() }, () => {
  const config = loadGuardConfig(CONFIG);
  const spec = loadCollectionSpec(object());
  const packets = buildAttackTraffic();
  for (const jit of [false, true]) {
    const guard = loadGuardOnVm(spec, { jit });
    try {
      applyGuardConfig(guard.collection, config);
      const model = new GuardModel(config);
      const byLabel = new Map<string, { pass: number; drop: number }>();
      packets.forEach((packet, index) => {
        const reason = model.decide(packet.data, packet.timestamp);
        const action = guard.run(packet.data, packet.timestamp);
        const expected = reason === 'passed' || reason === 'allowlisted' ? XdpAction.PASS : XdpAction.DROP;
        assert.equal(action, expected, `packet ${index} (${packet.label}): model says ${reason}`);
        const tally = byLabel.get(packet.label) ?? { pass: 0, drop: 0 };
        tally[action === XdpAction.PASS ? 'pass' : 'drop']++;
        byLabel.set(packet.label, tally);
      });
      const counters = readGuardCounters(guard.collection);
      for (const name of COUNTER_NAMES) assert.equal(counters[name], BigInt(model.counts[name]), `counter ${name}${jit ? ' (JIT)' : ''}`);
      // What the traffic is: legitimate and allowlisted sources all pass, denied and malformed all drop,
      // the flood gets its burst plus the rate over its one second, spoofed SYNs the global budget.
      assert.deepEqual(byLabel.get('legit'), { pass: 240, drop: 0 });
      assert.deepEqual(byLabel.get('allowlisted'), { pass: 1000, drop: 0 });
      assert.deepEqual(byLabel.get('denylisted'), { pass: 0, drop: 401 });
      assert.deepEqual(byLabel.get('malformed'), { pass: 0, drop: 40 });
      const flood = byLabel.get('flood')!;
      assert.ok(flood.pass >= 200 && flood.pass <= 200 + 100, `flood passed ${flood.pass}: burst 200 + 100/s for 1 s`);
      const synFlood = byLabel.get('syn-flood')!;
      assert.ok(synFlood.pass <= 200 + 200 && synFlood.drop >= 2600, `spoofed SYNs passed ${synFlood.pass}`);
      assert.equal(counters.rate_limited, BigInt(flood.drop));
      assert.equal(counters.syn_flood, BigInt(synFlood.drop));
    } finally {
      guard.close();
    }
  }
});

test('on the VM, random and truncated frames never fault the guard', { skip: skipWithoutClang() }, () => {
  const guard = loadGuardOnVm(loadCollectionSpec(object()));
  const random = seededRandom(1302);
  const templates = [
    buildPacket(ethernet(), ipv4({ src: '10.1.1.1', dst: '10.0.0.1' }), tcp({ flags: TcpFlag.SYN }), payload(20)),
    buildPacket(ethernet(), ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }), tcp({ flags: TcpFlag.ACK }), payload(20)),
    buildPacket(ethernet(), ipv4({ src: '10.1.1.2', dst: '10.0.0.1', options: new Uint8Array(8) }), udp(), payload(10)),
    buildPacket(ethernet(), vlan({ id: 7, tpid: 0x88a8 }), vlan({ id: 8 }), ipv4({ src: '192.0.2.9', dst: '10.0.0.1' }), tcp({ flags: TcpFlag.SYN })),
  ];
  try {
    applyGuardConfig(guard.collection, loadGuardConfig(CONFIG));
    const model = new GuardModel(loadGuardConfig(CONFIG));
    for (let n = 0; n < 600; n++) {
      const frame = templates[n % templates.length]!.slice(0, Math.floor(random() * 90));
      for (let flips = Math.floor(random() * 4); flips > 0; flips--) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256);
      const now = BigInt(n) * 1_000_000n + 1n;
      const action = guard.run(frame, now);
      if (frame.length < 14) {
        assert.equal(action, RUNT);
        continue;
      }
      const reason = model.decide(frame, now);
      assert.equal(action, reason === 'passed' || reason === 'allowlisted' ? XdpAction.PASS : XdpAction.DROP, `frame ${Buffer.from(frame).toString('hex')}: model ${reason}`);
    }
  } finally {
    guard.close();
  }
});

test('on the VM, VLAN tags (802.1Q, 802.1ad outside 802.1Q) are looked through; a third tag is malformed', { skip: skipWithoutClang() }, () => {
  const guard = loadGuardOnVm(loadCollectionSpec(object()));
  try {
    applyGuardConfig(guard.collection, loadGuardConfig(CONFIG));
    const denied = [ipv4({ src: '192.0.2.1', dst: '10.0.0.1' }), udp({ dport: 53 })];
    const cases: Array<[Uint8Array, number, string]> = [
      [buildPacket(ethernet(), vlan({ id: 10 }), ...denied), XdpAction.DROP, 'denied behind 802.1Q'],
      [buildPacket(ethernet(), vlan({ id: 10, tpid: 0x88a8 }), vlan({ id: 20 }), ...denied), XdpAction.DROP, 'denied behind QinQ'],
      [buildPacket(ethernet(), vlan({ id: 10 }), ipv6({ src: '2001:db8:bad::1', dst: '2001:db8::1' }), udp()), XdpAction.DROP, 'IPv6 denied behind 802.1Q'],
      [buildPacket(ethernet(), vlan({ id: 10 }), ipv4({ src: '10.99.0.1', dst: '10.0.0.1' }), udp()), XdpAction.PASS, 'allowlisted behind 802.1Q'],
      [buildPacket(ethernet(), vlan({ id: 1, tpid: 0x88a8 }), vlan({ id: 2, tpid: 0x8100 }), vlan({ id: 3 }), ...denied), XdpAction.DROP, 'three tags'],
      [buildPacket(ethernet(), vlan({ id: 10 }), ipv4({ src: '10.1.0.1', dst: '10.0.0.1' }), tcp({ flags: TcpFlag.SYN | TcpFlag.FIN })), XdpAction.DROP, 'SYN+FIN behind 802.1Q'],
    ];
    cases.forEach(([frame, action, what], n) => assert.equal(guard.run(frame, BigInt(n + 1) * 1000n), action, what));
    const counters = readGuardCounters(guard.collection);
    assert.deepEqual([counters.denylisted, counters.allowlisted, counters.malformed], [3n, 1n, 2n]);
  } finally {
    guard.close();
  }
});

test('tsbpf xdp-guard --pcap reports the counters and the verdicts per label; bad input exits with a message', { skip: skipWithoutClang() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-guard-'));
  try {
    const capture = join(dir, 'attack.pcapng');
    const packets = buildAttackTraffic();
    writeFileSync(capture, encodeCapture(packets.map((p) => ({ data: p.data, timestamp: p.timestamp, comments: [p.label] })), { format: 'pcapng' }));
    const out = cli(['--config', CONFIG, '--pcap', capture, '--object', object(), '--json']);
    assert.equal(out.status, 0, out.stderr);
    const report = JSON.parse(out.stdout);
    assert.equal(report.packets, packets.length);
    assert.deepEqual(report.labels.legit, { pass: 240 });
    assert.deepEqual(report.labels.denylisted, { drop: 401 });
    const model = new GuardModel(loadGuardConfig(CONFIG));
    for (const p of packets) model.decide(p.data, p.timestamp);
    assert.deepEqual(report.counters, model.counts);

    writeFileSync(join(dir, 'bad.yaml'), 'allow:\n  - 10.0.0.0/33\n');
    const bad = cli(['--config', join(dir, 'bad.yaml'), '--pcap', capture, '--object', object()]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /bad\.yaml:2: allow\[0\]: '\/33' is not a prefix length for IPv4 \(0-32\)/);
    const usage = cli(['--config', CONFIG]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /give either --interface IF or --pcap FILE/);
    writeFileSync(join(dir, 'junk.pcap'), 'not a capture at all');
    const junk = cli(['--config', CONFIG, '--pcap', join(dir, 'junk.pcap'), '--object', object()]);
    assert.equal(junk.status, 1);
    assert.match(junk.stderr, /not a pcap or pcapng file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Frames for the kernel test, in sending order, each with the reason the guard must count it under. */
function kernelTraffic(mac: string): Array<{ frame: Uint8Array; label: string }> {
  const out: Array<{ frame: Uint8Array; label: string }> = [];
  const eth = () => ethernet({ dst: mac, src: '02:00:00:00:00:01' });
  const add = (label: string, count: number, make: (n: number) => Uint8Array) => {
    for (let n = 0; n < count; n++) out.push({ frame: make(n), label });
  };
  const clients = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '2001:db8:1::1'];
  const ip = (src: string) => (src.includes(':') ? ipv6({ src, dst: '2001:db8::80' }) : ipv4({ src, dst: '10.0.0.80' }));
  // Handshakes: a SYN, then ACKed data (which marks the source as verified) and a UDP query.
  for (const c of clients) {
    add('legit', 1, () => buildPacket(eth(), ip(c), tcp({ sport: 40000, dport: 443, flags: TcpFlag.SYN })));
    add('legit', 5, () => buildPacket(eth(), ip(c), tcp({ sport: 40000, dport: 443, flags: TcpFlag.ACK }), payload(50)));
    add('legit', 1, () => buildPacket(eth(), ip(c), udp({ sport: 40000, dport: 53 }), payload(30)));
  }
  add('allowlisted', 100, () => buildPacket(eth(), ipv4({ src: '10.99.0.1', dst: '10.0.0.80' }), udp({ sport: 9100, dport: 9100 }), payload(10)));
  add('flood', 300, () => buildPacket(eth(), ipv4({ src: '203.0.113.7', dst: '10.0.0.80' }), udp({ sport: 53, dport: 53 }), payload(64)));
  add('denylisted', 50, (n) => buildPacket(eth(), ipv4({ src: `192.0.2.${n + 1}`, dst: '10.0.0.80' }), tcp({ dport: 80 })));
  add('denylisted', 20, (n) => buildPacket(eth(), ipv6({ src: `2001:db8:bad::${n + 1}`, dst: '2001:db8::80' }), udp({ dport: 53 })));
  add('syn-flood', 100, (n) => buildPacket(eth(), ipv4({ src: `198.18.${n >> 8}.${(n & 255) + 1}`, dst: '10.0.0.80' }), tcp({ sport: 1000 + n, dport: 443, flags: TcpFlag.SYN })));
  // During the SYN flood, verified clients still connect.
  for (const c of clients) add('legit', 1, () => buildPacket(eth(), ip(c), tcp({ sport: 40001, dport: 443, flags: TcpFlag.SYN })));
  const truncated = buildPacket(eth(), ipv4({ src: '10.2.0.1', dst: '10.0.0.80' }), tcp({ dport: 80 }));
  add('malformed', 1, () => truncated.slice(0, 14 + 12));
  add('malformed', 1, () => truncated.slice(0, 14 + 20 + 8));
  add('malformed', 1, () => buildPacket(eth(), ipv4({ src: '10.2.0.2', dst: '10.0.0.80' }), tcp({ flags: TcpFlag.SYN | TcpFlag.FIN })));
  add('malformed', 1, () => buildPacket(eth(), ipv6({ src: '2001:db8:2::1', dst: '2001:db8::80' }), tcp({ flags: TcpFlag.SYN | TcpFlag.RST })));
  return out;
}

test('in the kernel, on a veth between two namespaces: real frames are passed and dropped per reason, and a reload while attached takes effect', { skip: skipWithoutClang() || skipWithoutKernel(), timeout: 60_000 }, async (t) => {
  const sender = namespace(t, `tsbpf_guard_a${process.pid}`);
  const receiver = namespace(t, `tsbpf_guard_b${process.pid}`);
  quietNamespaces(sender, receiver);
  vethPair(sender, 'va', receiver, 'vb');
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-guard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'guard.yaml');
  // Rates of one per second: what a burst allows is exact as long as sending takes under a second.
  writeFileSync(configFile, 'rate_limit: {packets_per_second: 1, burst: 30}\nsyn: {per_source_per_second: 1, per_source_burst: 5, global_per_second: 1, global_burst: 10}\nallow: [10.99.0.0/16]\ndeny: [192.0.2.0/24, "2001:db8:bad::/48"]\n');
  const config = loadGuardConfig(configFile);

  const collection = loadCollection(loadCollectionSpec(object()));
  t.after(() => collection.close());
  const links = withNetworkNamespace(receiver, () => collection.attach({ interface: 'vb', xdpMode: 'generic' }));
  t.after(() => links.close());
  const inbound = withNetworkNamespace(receiver, () => packetSocket('vb'));
  t.after(() => inbound.close());
  const outbound = withNetworkNamespace(sender, () => packetSocket('va'));
  t.after(() => outbound.close());
  applyGuardConfig(collection, config);

  const traffic = kernelTraffic('02:00:00:00:00:02');
  const started = performance.now();
  onOneCpu(() => sendFrames(outbound, traffic.map((p) => p.frame)));
  const elapsed = performance.now() - started;
  const model = new GuardModel(config);
  const expectedByLabel = new Map<string, Record<string, number>>();
  for (const p of traffic) {
    const reason = model.decide(p.frame, 1_000_000_000n);
    const tally = expectedByLabel.get(p.label) ?? {};
    tally[reason] = (tally[reason] ?? 0) + 1;
    expectedByLabel.set(p.label, tally);
  }
  // The model at one instant: the real run took `elapsed`, so the per-second buckets may have gained one token.
  assert.ok(elapsed < 1000, `sending took ${elapsed} ms; the exact counts below assume under a second`);
  const passing = model.counts.passed + model.counts.allowlisted;
  const received = await receiveFrames(inbound, passing);
  const counters = readGuardCounters(collection);
  assert.deepEqual(Object.fromEntries(COUNTER_NAMES.map((n) => [n, Number(counters[n])])), model.counts);
  assert.equal(received.length, passing, 'frames that XDP passed reach a packet socket on vb');
  assert.deepEqual(expectedByLabel.get('legit'), { passed: 32 });
  assert.deepEqual(expectedByLabel.get('flood'), { passed: 30, rate_limited: 270 });
  assert.deepEqual(expectedByLabel.get('syn-flood'), { passed: 6, syn_flood: 94 });
  t.diagnostic(`kernel counters after ${traffic.length} frames in ${elapsed.toFixed(0)} ms: ${JSON.stringify(model.counts)}`);

  // Reload while attached: 10.1.0.1 is now denied and the allow list is gone; the program is not reloaded.
  writeFileSync(configFile, 'rate_limit: {packets_per_second: 1, burst: 30}\ndeny: [10.1.0.1/32, 192.0.2.0/24]\n');
  const { prefixesChanged } = applyGuardConfig(collection, loadGuardConfig(configFile));
  assert.equal(prefixesChanged, 3, 'allow 10.99.0.0/16 and deny 2001:db8:bad::/48 removed, deny 10.1.0.1/32 added');
  const again = [
    buildPacket(ethernet({ dst: '02:00:00:00:00:02' }), ipv4({ src: '10.1.0.1', dst: '10.0.0.80' }), udp({ dport: 53 })),
    buildPacket(ethernet({ dst: '02:00:00:00:00:02' }), ipv4({ src: '10.99.0.1', dst: '10.0.0.80' }), udp({ dport: 9100 })),
  ];
  onOneCpu(() => sendFrames(outbound, again));
  await receiveFrames(inbound, 1);
  const after = readGuardCounters(collection);
  assert.equal(after.denylisted - counters.denylisted, 1n, '10.1.0.1 denied after the reload');
  assert.equal(after.allowlisted, counters.allowlisted, '10.99.0.1 no longer allowlisted');
  assert.equal(after.passed - counters.passed, 1n, '10.99.0.1 now passes through its own bucket');
});

test('tsbpf xdp-guard --interface: counters per interval, reloads on file change and SIGHUP without detaching, keeps the old configuration on a bad edit, detaches on Ctrl-C', { skip: skipWithoutClang() || skipWithoutKernel(), timeout: 60_000 }, async (t) => {
  const sender = namespace(t, `tsbpf_gcli_a${process.pid}`);
  const receiver = namespace(t, `tsbpf_gcli_b${process.pid}`);
  quietNamespaces(sender, receiver);
  vethPair(sender, 'va', receiver, 'vb');
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-guard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'guard.yaml');
  writeFileSync(configFile, 'deny: [192.0.2.0/24]\n');
  const tool = spawn('ip', ['netns', 'exec', receiver, process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'xdp-guard', '--config', configFile, '--interface', 'vb', '--mode', 'generic', '--interval', '0.2', '--json', '--object', object()], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => tool.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  tool.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  tool.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => tool.on('exit', resolve));
  const events = (): Array<Record<string, unknown>> => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
    for (const start = Date.now(); !ok(); ) {
      assert.ok(Date.now() - start < 30_000 && tool.exitCode === null, `waiting for ${what}:\n${stdout}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const latest = (): Record<string, number> => (events().filter((e) => e.counters).at(-1)?.counters ?? {}) as Record<string, number>;
  await waitFor('attachment', () => events().some((e) => e.event === 'attached'));
  const outbound = withNetworkNamespace(sender, () => packetSocket('va'));
  t.after(() => outbound.close());
  const frames = (src: string) => Array.from({ length: 5 }, () => buildPacket(ethernet(), ipv4({ src, dst: '10.0.0.80' }), udp({ dport: 53 })));

  sendFrames(outbound, frames('10.1.0.1'));
  await waitFor('5 passed', () => latest().passed === 5);
  writeFileSync(configFile, 'deny: [192.0.2.0/24, 10.1.0.0/16]\n');
  await waitFor('the reload on file change', () => events().some((e) => e.event === 'reloaded' && e.reason === 'file changed'));
  sendFrames(outbound, frames('10.1.0.1'));
  await waitFor('5 denied', () => latest().denylisted === 5);
  writeFileSync(configFile, 'deny: [10.1.0.0/99]\n');
  await waitFor('the refusal of a bad edit', () => /not reloaded \(file changed\): .*guard\.yaml:1: deny\[0\]: '\/99' is not a prefix length/.test(stderr));
  sendFrames(outbound, frames('10.1.0.1'));
  await waitFor('10 denied: the old configuration holds', () => latest().denylisted === 10);
  tool.kill('SIGHUP');
  await waitFor('the SIGHUP reload attempt', () => (stderr.match(/not reloaded \(SIGHUP\)/g) ?? []).length === 1);
  writeFileSync(configFile, 'allow: [10.1.0.0/16]\n');
  await waitFor('the reload to an allow list', () => events().filter((e) => e.event === 'reloaded').length === 2);
  sendFrames(outbound, frames('10.1.0.1'));
  await waitFor('5 allowlisted', () => latest().allowlisted === 5);
  tool.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  assert.deepEqual(events().at(-1), { event: 'detached', counters: { passed: 5, allowlisted: 5, denylisted: 10, rate_limited: 0, syn_flood: 0, malformed: 0 } });
  assert.doesNotMatch(ip('-n', receiver, 'link', 'show', 'vb'), /xdp/, 'nothing left attached');
});

test('examples/ddos/replay.ts reads the counters and the sources through typed maps', { skip: skipWithoutClang() }, () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/ddos/replay.ts', object()], { cwd: ROOT, encoding: 'utf8' });
  const model = new GuardModel(loadGuardConfig(CONFIG));
  const packets = buildAttackTraffic();
  for (const p of packets) model.decide(p.data, p.timestamp);
  assert.equal(out.split('\n')[0], `${packets.length} packets: ${COUNTER_NAMES.map((n) => `${n} ${model.counts[n]}`).join(', ')}`);
  assert.match(out, /completed a handshake: 10\.1\.0\.1, 10\.1\.0\.2, 10\.1\.0\.3, 10\.1\.0\.4, 2001:db8:1::1, 2001:db8:1::2\n/);
});
