export { PcapError } from './errors.ts';
export * from './checksum.ts';
export * from './address.ts';
export * from './linktype.ts';
export { ByteStream, type ByteSource } from './source.ts';
export * from './pcap.ts';
export * from './writer.ts';
export * from './packet.ts';
export type { ScanArea, ScanPlacement } from './pcap-scan.ts';
