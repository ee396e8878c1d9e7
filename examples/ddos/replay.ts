/**
 * The library under `tsbpf xdp-guard --pcap`, used directly: loads
 * xdp_guard.c on the VM (JIT) with the attack capture's clock, applies
 * guard.yaml, replays traffic.ts's packets, then reads the maps through
 * BTF-typed views: the per-CPU counters and the sources' token buckets.
 *   node --import tsx examples/ddos/replay.ts [xdp_guard.o]
 */
import { formatIpv4, formatIpv6 } from '../../src/net/index.ts';
import { loadCollectionSpec } from '../../src/object/index.ts';
import { applyGuardConfig, COUNTER_NAMES, loadGuardConfig, loadGuardOnVm } from '../../src/tools/ddos/index.ts';
import { buildBpfObject, exampleSource } from '../../src/tools/usecase-support/index.ts';
import { buildAttackTraffic } from './traffic.ts';

interface SourceKey {
  family: number;
  addr: number[];
}
interface Bucket {
  tokens: bigint;
  last_ns: bigint;
}
interface SourceState {
  packets: Bucket;
  syns: Bucket;
  flags: bigint;
}

const object = process.argv[2] ?? buildBpfObject(exampleSource('ddos/xdp_guard.c'));
const guard = loadGuardOnVm(loadCollectionSpec(object), { jit: true });
try {
  applyGuardConfig(guard.collection, loadGuardConfig(new URL('guard.yaml', import.meta.url).pathname));
  const packets = buildAttackTraffic();
  for (const packet of packets) guard.run(packet.data, packet.timestamp);

  const counters = guard.collection.typedPerCpu<number, bigint>('counters');
  console.log(`${packets.length} packets: ${COUNTER_NAMES.map((name, index) => `${name} ${counters.get(index)!.reduce((a, b) => a + b, 0n)}`).join(', ')}`);

  const sources = guard.collection.typed<SourceKey, SourceState>('sources').lookupBatch();
  const address = (key: SourceKey): string => (key.family === 4 ? formatIpv4(Uint8Array.from(key.addr)) : formatIpv6(Uint8Array.from(key.addr)));
  const verified = sources.filter(([, state]) => state.flags & 1n).map(([key]) => address(key));
  console.log(`${sources.length} sources tracked; completed a handshake: ${verified.sort().join(', ')}`);
  const [flooder, state] = sources.find(([key]) => address(key) === '203.0.113.7')!;
  console.log(`${address(flooder)}: ${Number(state.packets.tokens) / 1e9} tokens left at the end of its flood`);
} finally {
  guard.close();
}
