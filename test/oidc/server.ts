// A real, certified OpenID Provider (panva/oidc-provider) on loopback for the oauth2 provider's tests
// and the demo: client credentials, RFC 7009 revocation, discovery, private_key_jwt.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type ClientMetadata } from 'oidc-provider';

export interface OidcServerOptions {
  clients: ClientMetadata[];
  /** Lifetime of client-credentials access tokens, seconds (or a function of the client id). */
  accessTokenTtlSeconds?: number | ((clientId: string) => number);
  /** Tokens for this resource indicator are JWTs (RFC 9068) instead of opaque strings. */
  jwtResource?: string;
  /** Scopes clients may request. Default api:read, api:write. */
  scopes?: string[];
  port?: number;
}

export interface OidcServer {
  issuer: string;
  tokenUrl: string;
  revocationUrl: string;
  /** Requests seen per path, e.g. requests('/token'). */
  requests(path: string): number;
  /** Successful revocations of access tokens, by the token's client. */
  revocations(): number;
  stop(): Promise<void>;
}

export async function startOidcServer(options: OidcServerOptions): Promise<OidcServer> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const ttl = options.accessTokenTtlSeconds ?? 300;
  const counts = new Map<string, number>();
  let revocations = 0;

  const provider = new Provider(issuer, {
    clients: options.clients,
    features: {
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      // Device authorization (RFC 8628): codes are issued and polled; no test approves one here.
      deviceFlow: { enabled: true },
      introspection: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: options.jwtResource !== undefined,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== options.jwtResource) throw new Error(`unknown resource ${resource}`);
          return {
            scope: 'api:read api:write',
            accessTokenFormat: 'jwt',
            audience: resource,
            accessTokenTTL: typeof ttl === 'number' ? ttl : 300,
          };
        },
      },
    },
    scopes: options.scopes ?? ['api:read', 'api:write'],
    ttl: {
      ClientCredentials: (_ctx, token) =>
        typeof ttl === 'number' ? ttl : ttl(String((token as { clientId?: string }).clientId)),
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'] },
  });
  provider.proxy = false;
  // Client-credentials tokens are ClientCredentials entities; revocation destroys them.
  provider.on('client_credentials.destroyed', () => {
    revocations += 1;
  });
  provider.use(async (ctx, next) => {
    counts.set(ctx.path, (counts.get(ctx.path) ?? 0) + 1);
    await next();
  });
  const callback = provider.callback();
  server.on('request', (request, response) => {
    void callback(request, response);
  });

  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    revocationUrl: `${issuer}/token/revocation`,
    requests: (path) => counts.get(path) ?? 0,
    revocations: () => revocations,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
