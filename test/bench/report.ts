// The benchmark's table, its verdict against the goals of issue 7, and a description of the machine.
import { cpus, totalmem, release } from 'node:os';
import type { PerProvider, SizeResult } from './run-size.ts';
import type { BenchProvider } from './providers.ts';
import { requestsPerCredential } from './requests-by-kind.ts';

// NaN: a figure not measured (the baselines under --skip-baseline).
const fixed = (value: number | undefined, digits = 2): string =>
  value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
const seconds = (ms: number | undefined): string => fixed(ms === undefined ? undefined : ms / 1000, 1);

function calls(byProvider: Record<BenchProvider, PerProvider>): string {
  return (['oauth2', 'tapdata', 'insightsHub'] as const)
    .map((provider) => fixed(byProvider[provider].perCredential))
    .join(' / ');
}

/** Renewal figures only mean something when the renewal phase ran. */
const renewal =
  (cell: (r: SizeResult) => string) =>
  (r: SizeResult): string =>
    r.renewal.rounds === 0 ? 'skipped' : cell(r);

const ROWS: [string, (r: SizeResult) => string][] = [
  ['baseline: N Secrets written by a plain client (s)', (r) => seconds(r.baseline.secretsWrittenMs)],
  ['minimal baseline: N Secrets created + N statuses patched (s)', (r) => seconds(r.baseline.minimalMs)],
  ['operator: start to all N Ready (s)', (r) => seconds(r.creation.allReadyMs)],
  ['  ratio to baseline', (r) => fixed(r.creation.ratioToBaseline)],
  ['  ratio to minimal baseline (goal <= 1.3)', (r) => fixed(r.creation.ratioToMinimal)],
  ['  of which start to /readyz (s)', (r) => seconds(r.creation.operatorReadyzMs)],
  ['peak RSS, MiB (goal < 200 at 10k)', (r) => fixed(r.memory.peakRssMiB, 0)],
  ['peak heap used, MiB (sampled every 5 s)', (r) => fixed(r.memory.peakHeapUsedMiB, 0)],
  ['provider calls/credential at creation: oauth2 / tapdata / hub', (r) => calls(r.creation.providerCalls)],
  ['apiserver requests/credential at creation', (r) => fixed(r.creation.apiserverPerCredential)],
  ['  by verb and resource (audit log)', (r) => requestsPerCredential(r.creation.apiserverByKind, r.n)],
  [
    'Events created / dropped by then',
    (r) => `${String(r.creation.events.created ?? 0)} / ${String(r.creation.events.dropped ?? 0)}`,
  ],
  [
    'renewals observed (rounds completed?)',
    renewal((r) => `${r.renewal.renewals} (${r.renewal.completed ? 'yes' : 'NO'})`),
  ],
  [
    'provider calls/renewal: oauth2 / tapdata / hub (goal 1 / 1 / 2)',
    renewal((r) => calls(r.renewal.providerCalls)),
  ],
  ['apiserver requests/renewal', renewal((r) => fixed(r.renewal.apiserverPerRenewal))],
  [
    'renewal lateness p50 (s)',
    renewal((r) => fixed(r.renewal.latenessMs && r.renewal.latenessMs.p50 / 1000)),
  ],
  [
    'renewal lateness p99 (s) (goal < 2)',
    renewal((r) => fixed(r.renewal.latenessMs && r.renewal.latenessMs.p99 / 1000)),
  ],
  [
    'renewal lateness max (s)',
    renewal((r) => fixed(r.renewal.latenessMs && r.renewal.latenessMs.max / 1000)),
  ],
  ['CPU s per 1,000 renewals', renewal((r) => fixed(r.renewal.cpuSecondsPer1000Renewals))],
  ['burst: credentials created during the round', (r) => (r.burst ? String(r.burst.credentials) : '-')],
  ['burst: first create to all Ready (s)', (r) => seconds(r.burst?.allReadyMs)],
  [
    'burst: create to Ready p50 / p99 / max (s)',
    (r) =>
      r.burst
        ? [r.burst.createToReadyMs?.p50, r.burst.createToReadyMs?.p99, r.burst.createToReadyMs?.max]
            .map((ms) => fixed(ms === undefined ? undefined : ms / 1000))
            .join(' / ')
        : '-',
  ],
  [
    'burst: renewals due meanwhile, late p50 / p99 / max (s) (goal p99 < 2)',
    (r) =>
      r.burst
        ? `${String(r.burst.renewalsDuring)}: ${[
            r.burst.latenessDuringMs?.p50,
            r.burst.latenessDuringMs?.p99,
            r.burst.latenessDuringMs?.max,
          ]
            .map((ms) => fixed(ms === undefined ? undefined : ms / 1000))
            .join(' / ')}`
        : '-',
  ],
  ['restart: start to /readyz (s)', (r) => seconds(r.restart.readyzMs)],
  ['restart: every credential reconciled (s)', (r) => seconds(r.restart.settledMs)],
  [
    'restart: provider calls (renewals due / premature; goal 0 premature)',
    (r) => `${r.restart.providerCalls} (${r.restart.renewalsDue} / ${r.restart.prematureRenewals})`,
  ],
  ['restart: apiserver requests', (r) => String(r.restart.apiserverRequests)],
];

export function formatTable(results: readonly SizeResult[]): string {
  const header = ['N', ...results.map((r) => String(r.n))];
  const rows = ROWS.map(([label, cell]) => [label, ...results.map(cell)]);
  const widths = header.map((_, column) =>
    Math.max(...[header, ...rows].map((row) => (row[column] ?? '').length)),
  );
  const line = (row: string[]): string =>
    `| ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

export interface GoalVerdict {
  goal: string;
  n: number;
  value: string;
  met: boolean;
}

export function goals(results: readonly SizeResult[]): GoalVerdict[] {
  const verdicts: GoalVerdict[] = [];
  for (const r of results) {
    const add = (goal: string, value: string, met: boolean): void => {
      verdicts.push({ goal, n: r.n, value, met });
    };
    if (!Number.isNaN(r.creation.ratioToMinimal))
      add(
        'time to Ready within 1.3x the minimal baseline (Secret create + status patch)',
        fixed(r.creation.ratioToMinimal),
        r.creation.ratioToMinimal <= 1.3,
      );
    if (r.burst) {
      const p99 = r.burst.latenessDuringMs?.p99;
      add(
        `p99 renewal lateness under 2 s while ${String(r.burst.credentials)} new credentials go in`,
        p99 === undefined ? '-' : `${fixed(p99 / 1000)} s`,
        r.burst.latenessGoalMet,
      );
    }
    if (r.n >= 10_000)
      add('under 200 MiB RSS at 10,000', `${fixed(r.memory.peakRssMiB, 0)} MiB`, r.memory.peakRssMiB < 200);
    add(
      'zero provider calls on restart (beyond renewals due)',
      String(r.restart.prematureRenewals),
      r.restart.prematureRenewals === 0,
    );
    if (r.renewal.rounds === 0) continue;
    const p99 = r.renewal.latenessMs?.p99;
    add(
      'p99 renewal lateness under 2 s',
      p99 === undefined ? '-' : `${fixed(p99 / 1000)} s`,
      p99 !== undefined && p99 < 2000,
    );
    const perRenewal = Object.values(r.renewal.providerCalls);
    add(
      'one provider call per credential per lifetime (hub: per batch)',
      calls(r.renewal.providerCalls),
      perRenewal.every((p) => p.perCredential !== undefined && p.perCredential <= p.expected * 1.01),
    );
  }
  return verdicts;
}

/**
 * One row per size in the form Flux publishes its scale results: objects, duration (start to all
 * Ready), max memory (peak RSS), machine, commit.
 */
export function formatGrowth(
  results: readonly { n: number; creation: { allReadyMs: number }; memory: { peakRssMiB: number } }[],
  host: { cpus: number; memoryGiB: number },
  commit: string,
): string {
  const where = `${String(host.cpus)} cores, ${String(host.memoryGiB)} GiB`;
  return [
    '| objects | duration | max memory | machine | commit |',
    '|---:|---:|---:|---|---|',
    ...results.map(
      (r) =>
        `| ${r.n.toLocaleString('en-US')} | ${(r.creation.allReadyMs / 1000).toFixed(1)} s | ${fixed(r.memory.peakRssMiB, 0)} MiB | ${where} | ${commit} |`,
    ),
  ].join('\n');
}

export function machine(): { cpus: number; model: string; memoryGiB: number; kernel: string; node: string } {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
  };
}
