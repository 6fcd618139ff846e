// `node test/keycloak/cli.ts` installs the test Keycloak into the project cache (once; later runs return
// at once). With --serve it also starts one with a demo realm and keeps it running until Ctrl-C.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cacheRoot } from '../controlplane/paths.ts';
import {
  ensureKeycloakInstalled,
  startKeycloak,
  type RealmRepresentation,
  type RealmSpec,
} from './keycloak.ts';

const usage = `usage: node test/keycloak/cli.ts [--serve [--realm-file realm.json] [--log-dir dir]]

Installs Keycloak into \${APICRED_CACHE_DIR:-~/.cache/apicred-operator}/keycloak.
  --serve             start it on a free loopback port and run until Ctrl-C
  --realm-file FILE   realm to import (a Keycloak realm export); default: a demo realm "apicred"
                      with the client_credentials client "apicred-demo" and the optional scope "apicred.read"
  --log-dir DIR       keep Keycloak's log in DIR`;

async function serve(realmFile: string | undefined, logDir: string | undefined): Promise<void> {
  const demoSecret = randomBytes(18).toString('base64url');
  const realm: RealmSpec | RealmRepresentation = realmFile
    ? (JSON.parse(readFileSync(realmFile, 'utf8')) as RealmRepresentation)
    : {
        name: 'apicred',
        secretClients: [{ clientId: 'apicred-demo', secret: demoSecret }],
        optionalScopes: ['apicred.read'],
      };
  const keycloak = await startKeycloak({ realm, ...(logDir ? { logDir } : {}) });
  const realmName = 'realm' in realm ? realm.realm : realm.name;
  // Secrets go to a file only the user can read, never to the terminal.
  const secretsFile = join(cacheRoot, 'keycloak', `serve-${process.pid}.json`);
  mkdirSync(join(cacheRoot, 'keycloak'), { recursive: true });
  writeFileSync(
    secretsFile,
    `${JSON.stringify({ admin: keycloak.admin, ...(realmFile ? {} : { 'apicred-demo': demoSecret }) }, null, 2)}\n`,
    { mode: 0o600 },
  );
  const lines = [
    `Keycloak ${keycloak.version} (Java ${keycloak.javaVersion}) ready in ${keycloak.startedInMs} ms`,
    `  URL:            ${keycloak.baseUrl}  (admin console: ${keycloak.baseUrl}/admin/)`,
    `  issuer:         ${keycloak.issuer(realmName)}`,
    `  token endpoint: ${keycloak.tokenUrl(realmName)}`,
    ...(realmFile ? [] : ['  client:         apicred-demo (client_secret_post/basic), scope apicred.read']),
    `  credentials:    ${secretsFile} (admin user ${keycloak.admin.username}${realmFile ? '' : ', client secret'})`,
    `  memory:         ${keycloak.rssMiB()} MiB RSS`,
    'Press Ctrl-C to stop.',
  ];
  console.log(lines.join('\n'));
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('stopping Keycloak');
    void keycloak.stop().finally(() => {
      rmSync(secretsFile, { force: true });
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

try {
  const { values } = parseArgs({
    options: {
      serve: { type: 'boolean', default: false },
      'realm-file': { type: 'string' },
      'log-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
  } else if (values.serve) {
    await serve(values['realm-file'], values['log-dir']);
  } else {
    const installation = await ensureKeycloakInstalled();
    console.log(
      `Keycloak ${installation.version} installed in ${installation.home} ` +
        `(Java ${installation.javaVersion} at ${installation.javaHome}` +
        `${installation.aotCache ? ', with a JVM AOT cache' : ''})`,
    );
  }
} catch (error) {
  console.error(`[keycloak] ${error instanceof Error ? error.message : String(error)}`);
  if (error instanceof TypeError && 'code' in error) console.error(usage);
  process.exit(1);
}
