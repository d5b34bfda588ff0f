import { BlockList, isIP } from 'node:net';

/**
 * Addresses a callback may not reach unless its host is trusted explicitly (issue 17, SSRF): loopback, private,
 * link-local (cloud metadata lives at 169.254.169.254), shared/CGNAT, multicast, reserved and documentation ranges
 * (IANA special-purpose registries for IPv4 and IPv6). Node's BlockList also matches IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) against the IPv4 ranges.
 */
const NOT_PUBLIC: readonly [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['192.88.99.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'], // NAT64: would reach any IPv4 address, private ones included
  ['64:ff9b:1::', 48, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001::', 23, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['2002::', 16, 'ipv6'], // 6to4: embeds an IPv4 address
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['fec0::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

const notPublic = new BlockList();
for (const [network, prefix, family] of NOT_PUBLIC) notPublic.addSubnet(network, prefix, family);

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** `[::1]` (a URL's hostname) → `::1`. */
export function bareAddress(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function family(address: string): 'ipv4' | 'ipv6' | undefined {
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : undefined;
}

/** A routable unicast address on the public internet; false for anything that is not an IP address. */
export function isPublicAddress(address: string): boolean {
  const bare = bareAddress(address);
  const kind = family(bare);
  return kind !== undefined && !notPublic.check(bare, kind);
}

export function isLoopbackAddress(address: string): boolean {
  const bare = bareAddress(address);
  const kind = family(bare);
  return kind !== undefined && loopback.check(bare, kind);
}

export function isIpLiteral(host: string): boolean {
  return family(bareAddress(host)) !== undefined;
}
