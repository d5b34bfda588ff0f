import { spawn, spawnSync } from 'node:child_process';
import { freePort, redisServerAvailable, startRedisServer, type ThrowawayRedis } from '../../src/infra/redis-server.js';

/**
 * A real local Redis Cluster: three masters, no replicas, each a `redis-server --cluster-enabled yes` child on a free
 * loopback port with its own directory, joined with `redis-cli --cluster create`. README "Redis Cluster" shows the same
 * steps by hand.
 */
export interface LocalCluster {
  nodes: ThrowawayRedis[];
  /** `redis://127.0.0.1:<port of the first node>`: the seed node given as REDIS_URL with REDIS_CLUSTER=true. */
  url: string;
  stop(): Promise<void>;
}

export function redisClusterAvailable(): boolean {
  return redisServerAvailable() && spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
}

function redisCli(args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`redis-cli ${args.join(' ')} exited with ${code}: ${out}`));
    });
  });
}

/**
 * `durable` (the default) gives each node an fsync-always AOF so a test can kill a node and see what survived; the
 * benchmark turns it off to measure the product, not the disk.
 */
export async function startRedisCluster(masters = 3, { durable = true }: { durable?: boolean } = {}): Promise<LocalCluster> {
  const nodes: ThrowawayRedis[] = [];
  const stop = async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      // The bus port defaults to port + 10000, which may be taken or past 65535: pick a free one too, anew whenever
      // startRedisServer retries on a taken port. nodes.conf and the AOF land in the node's own --dir (removed by
      // stop()), so a node killed and started again keeps its data.
      const args = async () => [
        ...['--cluster-enabled', 'yes', '--cluster-port', String(await freePort()), '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
        ...(durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : []),
      ];
      nodes.push(await startRedisServer(args));
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await redisCli(['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    // Every node must agree before a client may rely on the slot map.
    const deadline = Date.now() + 20_000;
    for (const node of nodes) {
      for (;;) {
        const info = await redisCli(['-p', String(node.port), 'cluster', 'info']);
        if (/cluster_state:ok/.test(info) && /cluster_known_nodes:(\d+)/.exec(info)?.[1] === String(masters)) break;
        if (Date.now() > deadline) throw new Error(`cluster not ok within 20 s: ${info}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, url: `redis://127.0.0.1:${nodes[0]!.port}`, stop };
}
