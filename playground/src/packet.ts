/** The packet form: Ethernet, IPv4 or IPv6, TCP or UDP fields to frame bytes (tsbpf/net builds and checksums them). */
import { buildPacket, ethernet, ipv4, ipv6, payload, tcp, udp } from 'tsbpf/net';
import type { PacketForm } from './examples.ts';
import { PlaygroundError } from './engine.ts';

const port = (value: number, field: string): number => {
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new PlaygroundError(`${field}: ${value} is not a port (0..65535)`);
  return value;
};

export function buildFormPacket(form: PacketForm): Uint8Array {
  if (!Number.isInteger(form.ttl) || form.ttl < 0 || form.ttl > 255) throw new PlaygroundError(`TTL / hop limit: ${form.ttl} is not 0..255`);
  if (!Number.isInteger(form.tcpFlags) || form.tcpFlags < 0 || form.tcpFlags > 255) throw new PlaygroundError(`TCP flags: ${form.tcpFlags} is not 0..255`);
  const l4 = form.l4 === 'tcp' ? tcp({ sport: port(form.sport, 'source port'), dport: port(form.dport, 'destination port'), flags: form.tcpFlags }) : udp({ sport: port(form.sport, 'source port'), dport: port(form.dport, 'destination port') });
  const l3 = form.l3 === 'ipv6' ? ipv6({ src: form.src, dst: form.dst, hopLimit: form.ttl }) : ipv4({ src: form.src, dst: form.dst, ttl: form.ttl });
  try {
    return buildPacket(ethernet({ src: form.srcMac, dst: form.dstMac }), l3, l4, payload(form.payload));
  } catch (error) {
    throw new PlaygroundError(`the packet form: ${error instanceof Error ? error.message : String(error)}`);
  }
}
