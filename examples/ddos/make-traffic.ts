/**
 * Writes attack.pcapng (or OUT): traffic.ts's attack mixed with normal
 * traffic, each packet's label in its pcapng comment.
 *   node --import tsx examples/ddos/make-traffic.ts [OUT.pcapng]
 */
import { writeFileSync } from 'node:fs';
import { encodeCapture } from '../../src/net/index.ts';
import { buildAttackTraffic } from './traffic.ts';

const out = process.argv[2] ?? 'attack.pcapng';
const packets = buildAttackTraffic();
writeFileSync(out, encodeCapture(packets.map((p) => ({ data: p.data, timestamp: p.timestamp, comments: [p.label] })), { format: 'pcapng' }));
const counts = new Map<string, number>();
for (const p of packets) counts.set(p.label, (counts.get(p.label) ?? 0) + 1);
console.log(`wrote ${out}: ${packets.length} packets (${[...counts].map(([label, n]) => `${label} ${n}`).join(', ')})`);
