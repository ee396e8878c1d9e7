/**
 * Writes examples/traffic.pcap, the capture the README's examples run over:
 * a few hundred packets of mixed UDP (some to the discard port 9), TCP,
 * ICMP and IPv6 traffic. Run: node --import tsx examples/make-traffic.ts
 */
import { writeFileSync } from 'node:fs';
import { buildPacket, encodeCapture, ethernet, icmp, ipv4, ipv6, payload, tcp, udp, type PacketRecord } from '../src/net/index.ts';

const packets: PacketRecord[] = [];
for (let n = 0; n < 400; n++) {
  const host = `10.0.0.${1 + (n % 20)}`;
  const kind = n % 8;
  const layers =
    kind < 2
      ? [ipv4({ src: host, dst: '10.0.1.1' }), udp({ sport: 40000 + n, dport: 9 }), payload(32)]
      : kind < 4
        ? [ipv4({ src: host, dst: '10.0.1.53' }), udp({ sport: 40000 + n, dport: 53 }), payload(40)]
        : kind < 6
          ? [ipv4({ src: host, dst: '10.0.1.80' }), tcp({ sport: 50000 + n, dport: 80 }), payload(64)]
          : kind === 6
            ? [ipv4({ src: host, dst: '10.0.1.1' }), icmp({ type: 8, code: 0 }), payload(16)]
            : [ipv6({ src: 'fd00::1', dst: 'fd00::2' }), udp({ sport: 40000 + n, dport: 9 }), payload(24)];
  packets.push({ data: buildPacket(ethernet(), ...layers), timestamp: 1_700_000_000_000_000_000n + BigInt(n) * 1_000_000n });
}
writeFileSync(new URL('traffic.pcap', import.meta.url), encodeCapture(packets));
console.log(`wrote examples/traffic.pcap: ${packets.length} packets`);
