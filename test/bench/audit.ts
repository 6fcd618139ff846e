// Counts the operator's requests to kube-apiserver from the apiserver's own audit log: one line per
// request the apiserver served, whatever the client did (retries, watches, pages), filtered by user.
import { createReadStream, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Apiserver flags that log every request of `username` (metadata only: no Secret data) to `logFile`. */
export function auditFlags(policyFile: string, logFile: string, username: string): string[] {
  writeFileSync(
    policyFile,
    JSON.stringify({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      // One event per request, when it completes (long watches: when they end).
      omitStages: ['RequestReceived', 'ResponseStarted'],
      rules: [{ level: 'Metadata', users: [username] }, { level: 'None' }],
    }),
  );
  return [
    `--audit-policy-file=${policyFile}`,
    `--audit-log-path=${logFile}`,
    '--audit-log-format=json',
    // Asynchronous, so that auditing does not sit in the operator's request latency.
    '--audit-log-mode=batch',
    '--audit-log-maxsize=0',
  ];
}

export interface AuditWindow {
  name: string;
  from: number;
  to: number;
}

/** Requests per window, by "verb resource[/subresource]". */
export type AuditCounts = Record<string, { total: number; byKind: Record<string, number> }>;

interface AuditLine {
  verb?: string;
  requestReceivedTimestamp?: string;
  objectRef?: { resource?: string; subresource?: string };
  user?: { username?: string };
}

export async function countAudit(
  logFile: string,
  username: string,
  windows: readonly AuditWindow[],
): Promise<AuditCounts> {
  const counts: AuditCounts = Object.fromEntries(windows.map((w) => [w.name, { total: 0, byKind: {} }]));
  const lines = createInterface({ input: createReadStream(logFile), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    const event = JSON.parse(line) as AuditLine;
    if (event.user?.username !== username) continue;
    const at = Date.parse(event.requestReceivedTimestamp ?? '');
    const resource = event.objectRef?.resource ?? 'nonresource';
    const sub = event.objectRef?.subresource;
    const kind = `${event.verb ?? '?'} ${resource}${sub ? `/${sub}` : ''}`;
    for (const window of windows) {
      if (at < window.from || at >= window.to) continue;
      const bucket = counts[window.name];
      if (!bucket) continue;
      bucket.total += 1;
      bucket.byKind[kind] = (bucket.byKind[kind] ?? 0) + 1;
    }
  }
  return counts;
}
