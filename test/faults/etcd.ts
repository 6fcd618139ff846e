// etcd's JSON gRPC gateway, for the fault suite: the current revision, and a compaction up to it.
import { fetch } from 'undici';

async function call(etcdUrl: string, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`${etcdUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`etcd ${path} answered ${String(response.status)}: ${text}`);
  return JSON.parse(text) as unknown;
}

export async function currentRevision(etcdUrl: string): Promise<number> {
  // Any range answers with the store's revision in its header; "\0" matches no key.
  const answer = (await call(etcdUrl, '/v3/kv/range', { key: Buffer.from('\0').toString('base64') })) as {
    header?: { revision?: string };
  };
  const revision = Number(answer.header?.revision);
  if (!Number.isInteger(revision) || revision <= 0)
    throw new Error(`etcd returned no revision: ${JSON.stringify(answer)}`);
  return revision;
}

/** Compacts etcd's history up to `revision`: watches from an older resourceVersion then get 410 Gone. */
export async function compact(etcdUrl: string, revision: number): Promise<void> {
  await call(etcdUrl, '/v3/kv/compaction', { revision: String(revision), physical: true });
}
