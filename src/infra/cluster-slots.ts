import type { Cluster } from 'ioredis';

/** Redis Cluster has 16384 hash slots (CLUSTER KEYSLOT). */
export const SLOTS = 16_384;

/** CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with. */
function crc16(bytes: Buffer): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of a hash tag's content (what Redis hashes for a key holding `{tag}`). */
export function tagSlot(tag: string): number {
  return crc16(Buffer.from(tag, 'utf8')) % SLOTS;
}

/** The slot ranges each master serves, masters in the order of their first slot. */
export type MasterRanges = [from: number, to: number][][];

/** CLUSTER SLOTS, grouped by master (its address). */
export async function masterRanges(cluster: Cluster): Promise<MasterRanges> {
  const slots = (await cluster.cluster('SLOTS')) as unknown as [number, number, [string, number, ...unknown[]], ...unknown[]][];
  const byMaster = new Map<string, [number, number][]>();
  for (const [from, to, [host, port]] of slots) {
    const key = `${host}:${port}`;
    byMaster.set(key, [...(byMaster.get(key) ?? []), [from, to]]);
  }
  return [...byMaster.values()].map((ranges) => ranges.sort((a, b) => a[0] - b[0])).sort((a, b) => a[0]![0] - b[0]![0]);
}

/** A tag for `name` whose slot a given master serves: `name` itself if it lands there, else `name.<n>`. */
export function tagOnMaster(name: string, ranges: readonly [number, number][]): string {
  const served = (slot: number) => ranges.some(([from, to]) => slot >= from && slot <= to);
  if (served(tagSlot(name))) return name;
  // A master with any share of the slots is hit within a few dozen tries; the bound only guards a broken slot map.
  for (let n = 1; n < 100_000; n++) if (served(tagSlot(`${name}.${n}`))) return `${name}.${n}`;
  return name;
}
