// Services for the node's pods, in place of kube-proxy: each exposed Service's ClusterIP is added to the
// loopback interface (label lo:apicred) and a TCP proxy listens on ClusterIP:port, forwarding to a
// process on the host's loopback (the apiserver, Keycloak). A pod's packet to the ClusterIP leaves
// through the bridge gateway and is delivered locally, as to any address of the host. kube-proxy would
// need nft or iptables, which this machine does not have; this needs only `ip`. TLS passes through.
import { execFileSync } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Marks the addresses this module adds, so that a killed run's can be found and removed. */
export const serviceAddressLabel = 'lo:apicred';

export interface ProxyTarget {
  host: string;
  port: number;
}

/** The IPv4 addresses on lo that carry our label. */
export function labelledLoopbackAddresses(): string[] {
  const out = execFileSync('ip', ['-o', '-4', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes(` ${serviceAddressLabel}`))
    .map((line) => /inet (\S+)/.exec(line)?.[1] ?? '')
    .filter((cidr) => cidr !== '');
}

/** Removes every address with our label: at stop, and at the next start after a killed run. */
export function removeServiceAddresses(): string[] {
  const removed = labelledLoopbackAddresses();
  for (const cidr of removed) execFileSync('ip', ['addr', 'del', cidr, 'dev', 'lo']);
  return removed;
}

export class ServiceProxy {
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();

  /** Serves address:port (a ClusterIP) by forwarding every connection to target. */
  async expose(address: string, port: number, target: ProxyTarget): Promise<void> {
    if (!labelledLoopbackAddresses().includes(`${address}/32`)) {
      execFileSync('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo', 'label', serviceAddressLabel]);
    }
    const server = createServer((client) => {
      this.#pipe(client, target);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#servers.push(server);
  }

  #pipe(client: Socket, target: ProxyTarget): void {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      // A reset on one side ends both; the 'close' above does that.
      socket.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Closes the listeners and every open connection, and removes the addresses. */
  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(
      this.#servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => {
              resolve();
            });
          }),
      ),
    );
    this.#servers.length = 0;
    removeServiceAddresses();
  }
}
