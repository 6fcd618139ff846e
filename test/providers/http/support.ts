// Real servers and certificates for the HTTP client tests. Certificates come from the openssl CLI,
// because node:crypto can make keys but not X.509 certificates.
import { execFileSync } from 'node:child_process';
import type { LookupAddress } from 'node:dns';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { LookupFunction, Server as NetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

const open: { server: HttpServer | NetServer; sockets: Set<Socket> }[] = [];

/** Listens on 127.0.0.1 with an ephemeral port; closeAll() ends it and its connections. */
export async function listen(server: HttpServer | NetServer): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  open.push({ server, sockets });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

export async function closeAll(): Promise<void> {
  await Promise.all(
    open.splice(0).map(
      ({ server, sockets }) =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
          for (const socket of sockets) socket.destroy();
        }),
    ),
  );
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Name resolution from a table, so tests can point any name at any address. */
export function staticLookup(table: Record<string, string[]>): LookupFunction {
  return (hostname, options, callback) => {
    const addresses = table[hostname];
    if (!addresses) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    const entries: LookupAddress[] = addresses.map((address) => ({
      address,
      family: address.includes(':') ? 6 : 4,
    }));
    if (options.all) callback(null, entries);
    else callback(null, entries[0]?.address ?? '', entries[0]?.family ?? 4);
  };
}

export interface TestPki {
  caPem: string;
  /** A second CA that signed nothing we serve. */
  otherCaPem: string;
  key: string;
  /** Leaf for 127.0.0.1, localhost and provider.test, signed by caPem. */
  cert: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'apicred-http-pki-'));
  try {
    const ca = (name: string): void => {
      openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
      openssl(dir, [
        'req',
        '-x509',
        '-new',
        '-key',
        `${name}.key`,
        '-sha256',
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-out',
        `${name}.crt`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]);
    };
    ca('test-ca');
    ca('other-ca');
    openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf.key']);
    openssl(dir, ['req', '-new', '-key', 'leaf.key', '-subj', '/CN=provider.test', '-out', 'leaf.csr']);
    writeFileSync(
      join(dir, 'leaf.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:provider.test\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
    );
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'test-ca.crt',
      '-CAkey',
      'test-ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-sha256',
      '-extfile',
      'leaf.ext',
      '-out',
      'leaf.crt',
    ]);
    const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
    return {
      caPem: read('test-ca.crt'),
      otherCaPem: read('other-ca.crt'),
      key: read('leaf.key'),
      cert: read('leaf.crt'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
