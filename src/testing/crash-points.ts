// Named points where the fault suite SIGKILLs the real operator process, to prove that a crash at
// any step of a single-use token exchange loses nothing and replays nothing. Inert unless the
// environment names a point: APICRED_CRASH_AT=<point>[:<nth occurrence>] (for tests only).
const setting = /^(.*?)(?::(\d+))?$/.exec(process.env.APICRED_CRASH_AT ?? '');
const armedPoint = setting?.[1] ?? '';
const armedOccurrence = Number(setting?.[2] ?? '1');
let seen = 0;

export type CrashPoint =
  | 'idempiere:after-intent-write'
  | 'idempiere:after-refresh-response'
  | 'idempiere:after-state-write'
  | 'oauth2-refresh:after-intent-write'
  | 'oauth2-refresh:after-refresh-response'
  | 'oauth2-refresh:after-state-write'
  | 'oauth2-device:after-intent-write'
  | 'oauth2-device:after-refresh-response'
  | 'oauth2-device:after-state-write'
  | 'controller:before-secret-write'
  /** The token (and its pending-restart marker) is written; no workload is restarted yet. */
  | 'controller:after-secret-write'
  /** Every rollout restart is patched; the pending marker is not yet cleared. */
  | 'rollout:before-marker-clear';

export function crashPoint(point: CrashPoint): void {
  if (point !== armedPoint) return;
  seen += 1;
  if (seen === armedOccurrence) process.kill(process.pid, 'SIGKILL');
}
