// apply: the one place that acts on a plan. Kubernetes writes go through the Writer; metrics, log
// lines and the memory of the written token are recorded here too, in the plan's order.
import type { Logger } from 'pino';
import type { ApiCredential } from '../api/apicredential.ts';
import type { EventTarget } from '../kube/events.ts';
import { keyOf } from '../kube/object-key.ts';
import type { Metrics } from '../observability/metrics.ts';
import { contentDigest } from '../secrets/consumer.ts';
import { crashPoint } from '../testing/crash-points.ts';
import type { TokenMemory } from './context.ts';
import type { Write, Writer } from './writer.ts';

export interface ApplyDeps {
  writer: Writer;
  metrics: Metrics;
  logger: Logger;
  memory: TokenMemory;
}

export function eventTarget(credential: ApiCredential): EventTarget {
  const { namespace, name, uid, resourceVersion } = credential.metadata;
  return { namespace, name, uid, resourceVersion };
}

export async function apply(
  credential: ApiCredential,
  writes: readonly Write[],
  deps: ApplyDeps,
): Promise<void> {
  for (const write of writes) await applyOne(credential, write, deps);
}

async function applyOne(credential: ApiCredential, write: Write, deps: ApplyDeps): Promise<void> {
  const { writer, metrics } = deps;
  switch (write.kind) {
    case 'secret':
      if (write.fresh) crashPoint('controller:before-secret-write');
      await writer.applySecret(write.body);
      if (write.fresh) crashPoint('controller:after-secret-write');
      return;
    case 'remember':
      deps.memory.set(keyOf(credential), { data: write.data, digest: contentDigest(write.data) });
      return;
    case 'status':
      return writer.patchStatus(credential, write.status);
    case 'finalizers':
      return writer.setFinalizers(credential, write.finalizers);
    case 'event':
      writer.emitEvent(eventTarget(credential), write.type, write.reason, write.message);
      return;
    case 'token-metrics': {
      const { namespace, name } = credential.metadata;
      const labels = { namespace, name, provider: write.provider };
      if (write.expiresAt !== undefined) metrics.tokenExpiry.set(labels, write.expiresAt / 1000);
      metrics.credentialReady.set(labels, write.ready ? 1 : 0);
      metrics.consecutiveFailures.set(labels, write.failures);
      metrics.credentialStalled.set(labels, write.stalled ? 1 : 0);
      return;
    }
    case 'renewal-metrics':
      metrics.renewals.inc({ provider: write.provider, result: write.result });
      metrics.renewalDuration.observe({ provider: write.provider, result: write.result }, write.seconds);
      return;
    case 'failure-metric':
      metrics.renewalFailures.inc({ provider: write.provider, reason: write.reason });
      return;
    case 'log':
      deps.logger[write.level](write.fields, write.message);
      return;
  }
}
