// `npm run bench`: the operator at scale on the real local control plane, against the providers'
// emulators. See docs/benchmarks.md for what is measured and how; `-- --help` for the flags.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureControlPlaneBuilt } from '../test/controlplane/build.ts';
import { repoRoot } from '../test/harness/crds.ts';
import { execFileSync } from 'node:child_process';
import { formatGrowth, formatTable, goals, machine } from '../test/bench/report.ts';
import type { BenchProvider } from '../test/bench/providers.ts';
import { runSize, type SizeOptions, type SizeResult } from '../test/bench/run-size.ts';
import { buildDist, distEntry } from './build.ts';

const HELP = `npm run bench -- [flags]
  --n 1000,5000,10000     credential counts, one fresh control plane each (default all three)
  --json FILE             where to write the results (default bench-results/<timestamp>.json)
  --concurrency 16        operator workers, and the baseline client's requests in flight
  --rounds 3              renewal rounds to observe (0 skips the renewal phase)
  --lifetime SECONDS      token lifetime (default: 60, or 0.03 s per credential if longer)
                          --rounds and --lifetime also take one value per size: --rounds 3,1,0
  --margin SECONDS        the operator's --propagation-margin (default 10)
  --apiserver-arg FLAG    extra kube-apiserver flag (repeatable)
  --operator-arg FLAG     extra operator flag (repeatable)
  --slow-provider P=Q:B   slow one provider's host to Q renewals a second, burst B, with
                          --provider-host-limits (P: oauth2, tapdata or insightsHub), to show that
                          the others' time to Ready does not move; each provider's time to Ready is
                          printed against (N - burst) / qps of its host
  --entry dist|src        run the operator as the image does (dist/main.js, built first; default)
                          or type-stripped from src/main.ts
  --profile DIR           write V8 CPU and heap profiles of the operator into DIR
  --heap-snapshot DIR     write heap snapshots of the operator into DIR once every credential is Ready
                          and at the end (summarise them with test/bench/heap-summary.ts)
  --node-options OPTIONS  extra NODE_OPTIONS for the operator, e.g. --max-old-space-size=256
  --burst COUNT           once the first renewal round has a renewal due, create COUNT more
                          ApiCredentials while the N renew; report their time to Ready and the
                          N's renewal lateness meanwhile (needs --rounds >= 1; one value per size)
  --skip-baseline         skip the two baselines (growth runs: time to Ready, memory, CPU only)`;

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '1000,5000,10000' },
    json: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    lifetime: { type: 'string' },
    margin: { type: 'string', default: '10' },
    'apiserver-arg': { type: 'string', multiple: true, default: [] },
    'operator-arg': { type: 'string', multiple: true, default: [] },
    'slow-provider': { type: 'string' },
    profile: { type: 'string' },
    'heap-snapshot': { type: 'string' },
    'node-options': { type: 'string' },
    entry: { type: 'string', default: 'dist' },
    burst: { type: 'string' },
    'skip-baseline': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    process.stderr.write(`bench: --${flag} must be a positive integer, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return value;
}

const sizes = values.n.split(',').map((text) => positiveInteger('n', text.trim()));
const concurrency = positiveInteger('concurrency', values.concurrency);
/** One value per size, the last repeated: "3,1" for three sizes is 3, 1, 1. */
function perSize(flag: string, text: string | undefined, index: number, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const items = text.split(',');
  const item = (items[Math.min(index, items.length - 1)] ?? '').trim();
  const value = Number(item);
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(
      `bench: --${flag} must be integers >= ${String(min)}, got ${JSON.stringify(text)}\n`,
    );
    process.exit(2);
  }
  return value;
}
const margin = positiveInteger('margin', values.margin);
const slowProvider = parseSlowProvider(values['slow-provider']);

function parseSlowProvider(text: string | undefined): SizeOptions['slowProvider'] {
  if (text === undefined) return undefined;
  const match = /^(oauth2|tapdata|insightsHub)=([0-9.]+):([0-9]+)$/.exec(text);
  const qps = Number(match?.[2]);
  const burst = Number(match?.[3]);
  if (!match || !(qps > 0) || !(burst >= 1)) {
    process.stderr.write(
      `bench: --slow-provider must be oauth2|tapdata|insightsHub=QPS:BURST, got ${JSON.stringify(text)}\n`,
    );
    process.exit(2);
  }
  return { provider: match[1] as BenchProvider, qps, burst };
}
/** The commit measured, with "+dirty" when the work tree has changes. */
function commitOf(): string {
  const git = (...args: string[]): string =>
    execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') === '' ? '' : '+dirty'}`;
  } catch {
    return 'unknown';
  }
}
const commit = commitOf();
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const jsonFile = values.json ?? join(repoRoot, 'bench-results', `${stamp}.json`);
const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
};

if (values.entry !== 'dist' && values.entry !== 'src') {
  process.stderr.write(`bench: --entry must be dist or src, got ${JSON.stringify(values.entry)}\n`);
  process.exit(2);
}
await ensureControlPlaneBuilt();
let entry = join(repoRoot, 'src', 'main.ts');
if (values.entry === 'dist') {
  log('building dist/main.js as the image does (scripts/build.ts, an esbuild bundle)...');
  await buildDist();
  entry = distEntry;
}
const results: SizeResult[] = [];
const write = (): void => {
  mkdirSync(dirname(jsonFile), { recursive: true });
  writeFileSync(
    jsonFile,
    `${JSON.stringify({ startedAt: stamp, commit, machine: machine(), flags: values, goals: goals(results), results }, null, 2)}\n`,
  );
};
for (const [index, n] of sizes.entries()) {
  const lifetime = perSize('lifetime', values.lifetime, index, Math.max(60, Math.ceil(n * 0.03)));
  const rounds = perSize('rounds', values.rounds, index, 3, 0);
  const burst = perSize('burst', values.burst, index, 0, 0);
  if (burst > 0 && rounds === 0) {
    process.stderr.write('bench: --burst needs a renewal round (--rounds >= 1)\n');
    process.exit(2);
  }
  if (values.profile) mkdirSync(values.profile, { recursive: true });
  const heapSnapshotDir = values['heap-snapshot']
    ? join(values['heap-snapshot'], `n${String(n)}`)
    : undefined;
  if (heapSnapshotDir) mkdirSync(heapSnapshotDir, { recursive: true });
  results.push(
    await runSize({
      n,
      concurrency,
      lifetimeSeconds: lifetime,
      rounds,
      propagationMarginSeconds: margin,
      apiserverArgs: values['apiserver-arg'],
      operatorArgs: values['operator-arg'],
      slowProvider,
      entry,
      profileDir: values.profile ? join(values.profile, `n${String(n)}`) : undefined,
      nodeOptions: values['node-options'],
      heapSnapshotDir,
      burst,
      skipBaseline: values['skip-baseline'],
      log,
    }),
  );
  write(); // keep what is done if a later size fails
}
process.stdout.write(
  `\n${formatTable(results)}\n\n${formatGrowth(results, machine(), commit)}\n\nresults: ${jsonFile}\n`,
);
