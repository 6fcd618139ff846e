// The places a leak scan reads once an operator has run: its /metrics, its whole log, the Events and
// the ApiCredentials of one namespace. The operator is stopped gracefully first, which writes the Events
// still queued, so the scan sees every one of them.
import { GROUP, PLURAL, VERSION, type ApiCredential } from '../../src/api/apicredential.ts';
import type { TestKube } from './kube.ts';
import type { RunningOperator } from './operator.ts';

export interface OperatorOutputs {
  /** Where → text: '/metrics', 'operator log (debug)' and 'Event <name>' for each Event. */
  places: Map<string, string>;
  credentials: ApiCredential[];
  eventCount: number;
}

export async function operatorOutputs(
  kube: TestKube,
  namespace: string,
  operator: RunningOperator,
): Promise<OperatorOutputs> {
  const places = new Map<string, string>();
  places.set('/metrics', await (await fetch(operator.metricsUrl)).text());
  await operator.stop();
  places.set('operator log (debug)', operator.logs());
  const events = await kube.core.listNamespacedEvent({ namespace });
  for (const event of events.items) places.set(`Event ${event.metadata.name ?? ''}`, JSON.stringify(event));
  const list = (await kube.objects.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
  })) as { items: ApiCredential[] };
  return { places, credentials: list.items, eventCount: events.items.length };
}
