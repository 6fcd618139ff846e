// The journey's token consumer: a few lines of node in the operator image that read the mounted token
// every second and ask Keycloak's introspection endpoint whether it is active. It prints one line per
// read with a SHA-256 prefix of the token, never the token itself.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const consumerScript = String.raw`
const fs = require('node:fs');
const crypto = require('node:crypto');
const auth = 'Basic ' + Buffer.from(process.env.CHECKER_ID + ':' + process.env.CHECKER_SECRET).toString('base64');
setInterval(async () => {
  const at = Date.now();
  let token;
  try {
    token = fs.readFileSync(process.env.TOKEN_FILE, 'utf8');
  } catch (error) {
    console.log('read ' + at + ' - unreadable:' + error.code);
    return;
  }
  const print = crypto.createHash('sha256').update(token).digest('hex').slice(0, 12);
  try {
    const response = await fetch(process.env.INTROSPECT_URL, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    const body = await response.json();
    const verdict = response.status === 200 && body.active === true ? 'accepted' : 'rejected:' + response.status;
    console.log('read ' + at + ' ' + print + ' ' + verdict);
  } catch (error) {
    console.log('read ' + at + ' ' + print + ' error:' + error.message);
  }
}, 1000);
`;

/** The print the consumer logs for a token. */
export function tokenPrint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

export interface Read {
  atMs: number;
  print: string;
  verdict: string;
}

/** Parses the consumer's lines out of a CRI container log (`<time> stdout F <line>`). */
export function parseReads(log: string): Read[] {
  const reads: Read[] = [];
  for (const line of log.split('\n')) {
    const match = / stdout F read (\d+) (\S+) (\S+)$/.exec(line);
    if (match?.[1] && match[2] && match[3]) {
      reads.push({ atMs: Number(match[1]), print: match[2], verdict: match[3] });
    }
  }
  return reads;
}

/** Every log of a pod's container, oldest first, from the kubelet's pod log directory. */
export function containerLog(podLogsDir: string, namespace: string, pod: string, container: string): string {
  const podDir = readdirSync(podLogsDir).find((entry) => entry.startsWith(`${namespace}_${pod}_`));
  if (!podDir) return '';
  const dir = join(podLogsDir, podDir, container);
  return readdirSync(dir)
    .filter((entry) => entry.endsWith('.log'))
    .sort()
    .map((file) => readFileSync(join(dir, file), 'utf8'))
    .join('');
}

/** The first time the pod read each print. */
export function firstSeen(reads: Read[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const read of reads) if (!seen.has(read.print)) seen.set(read.print, read.atMs);
  return seen;
}

/** p50 (nearest rank) and max of a non-empty list. */
export function p50AndMax(values: number[]): { p50: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const p50 = sorted[Math.ceil(sorted.length / 2) - 1];
  const max = sorted[sorted.length - 1];
  if (p50 === undefined || max === undefined) throw new Error('p50AndMax of an empty list');
  return { p50, max };
}
