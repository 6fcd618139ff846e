// Child of fresh-cache.test.ts: starts Keycloak from this process's cache root (APICRED_CACHE_DIR) and
// gets a client-credentials token from it; prints what it saw as one JSON line, never the token.
import { randomBytes } from 'node:crypto';
import { ensureKeycloakInstalled, startKeycloak } from '../../keycloak/keycloak.ts';

const client = { clientId: 'fresh-cache', secret: randomBytes(16).toString('hex') };
const install = await ensureKeycloakInstalled();
const keycloak = await startKeycloak({ realm: { name: 'fresh', secretClients: [client] } });
try {
  const response = await fetch(keycloak.tokenUrl('fresh'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.secret,
    }),
  });
  const body = (await response.json()) as { access_token?: string; token_type?: string };
  process.stdout.write(
    `${JSON.stringify({
      home: install.home,
      version: keycloak.version,
      status: response.status,
      tokenType: body.token_type,
      hasAccessToken: typeof body.access_token === 'string' && body.access_token.length > 0,
    })}\n`,
  );
} finally {
  await keycloak.stop();
}
