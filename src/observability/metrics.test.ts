import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { httpMethod, statusClass } from './labels.ts';
import { createMetrics } from './metrics.ts';
import { SecretRedactor } from './redactor.ts';

/** The sample lines (no HELP/TYPE) of a metric family. */
async function samples(metrics: ReturnType<typeof createMetrics>, name: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('createMetrics', () => {
  it('registers every controller-runtime, workqueue and apicred family on its own registry', async () => {
    const metrics = createMetrics();
    const text = await metrics.registry.metrics();
    const families = [
      'controller_runtime_reconcile_total counter',
      'controller_runtime_reconcile_errors_total counter',
      'controller_runtime_terminal_reconcile_errors_total counter',
      'controller_runtime_reconcile_time_seconds histogram',
      'controller_runtime_active_workers gauge',
      'controller_runtime_max_concurrent_reconciles gauge',
      'workqueue_depth gauge',
      'workqueue_adds_total counter',
      'workqueue_queue_duration_seconds histogram',
      'workqueue_work_duration_seconds histogram',
      'workqueue_retries_total counter',
      'workqueue_unfinished_work_seconds gauge',
      'workqueue_longest_running_processor_seconds gauge',
      'apicred_renewals_total counter',
      'apicred_renewal_failures_total counter',
      'apicred_renewal_duration_seconds histogram',
      'apicred_token_expiry_timestamp_seconds gauge',
      'apicred_credential_ready gauge',
      'apicred_consecutive_failures gauge',
      'apicred_provider_requests_total counter',
      'apicred_informer_restarts_total counter',
      'apicred_leader gauge',
      'process_cpu_user_seconds_total counter',
      'process_resident_memory_bytes gauge',
    ];
    for (const family of families) expect(text).toContain(`# TYPE ${family}\n`);
    expect(await globalRegistry.metrics()).not.toContain('controller_runtime_reconcile_total');
    expect(metrics.registry.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('counts reconciles the way controller-runtime does', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.registerController('apicredential', 4);
    metrics.reconciled('apicredential', 'success', 0.02);
    metrics.reconciled('apicredential', 'requeue_after', 0.03);
    metrics.reconciled('apicredential', 'error', 0.5);
    metrics.reconciled('apicredential', 'terminal_error', 0.01);
    metrics.setActiveWorkers('apicredential', 2);
    expect(await samples(metrics, 'controller_runtime_reconcile_total')).toEqual([
      'controller_runtime_reconcile_total{controller="apicredential",result="success"} 1',
      'controller_runtime_reconcile_total{controller="apicredential",result="error"} 2',
      'controller_runtime_reconcile_total{controller="apicredential",result="requeue"} 0',
      'controller_runtime_reconcile_total{controller="apicredential",result="requeue_after"} 1',
    ]);
    expect(await samples(metrics, 'controller_runtime_reconcile_errors_total')).toEqual([
      'controller_runtime_reconcile_errors_total{controller="apicredential"} 2',
    ]);
    expect(await samples(metrics, 'controller_runtime_terminal_reconcile_errors_total')).toEqual([
      'controller_runtime_terminal_reconcile_errors_total{controller="apicredential"} 1',
    ]);
    expect(await samples(metrics, 'controller_runtime_reconcile_time_seconds_count')).toEqual([
      'controller_runtime_reconcile_time_seconds_count{controller="apicredential"} 4',
    ]);
    expect(await samples(metrics, 'controller_runtime_max_concurrent_reconciles')).toEqual([
      'controller_runtime_max_concurrent_reconciles{controller="apicredential"} 4',
    ]);
    expect(await samples(metrics, 'controller_runtime_active_workers')).toEqual([
      'controller_runtime_active_workers{controller="apicredential"} 2',
    ]);
  });

  it('exposes client-go workqueue metrics per queue', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const queue = metrics.queueHooks('apicredentials');
    queue.added();
    queue.added();
    queue.setDepth(1);
    queue.retried();
    queue.observeQueueDuration(0.004);
    queue.observeWorkDuration(1.5);
    queue.setUnfinishedWorkSeconds(3);
    queue.setLongestRunningProcessorSeconds(2.5);
    expect(await samples(metrics, 'workqueue_adds_total')).toEqual([
      'workqueue_adds_total{name="apicredentials"} 2',
    ]);
    expect(await samples(metrics, 'workqueue_depth')).toEqual(['workqueue_depth{name="apicredentials"} 1']);
    expect(await samples(metrics, 'workqueue_retries_total')).toEqual([
      'workqueue_retries_total{name="apicredentials"} 1',
    ]);
    expect(await samples(metrics, 'workqueue_unfinished_work_seconds')).toEqual([
      'workqueue_unfinished_work_seconds{name="apicredentials"} 3',
    ]);
    expect(await samples(metrics, 'workqueue_longest_running_processor_seconds')).toEqual([
      'workqueue_longest_running_processor_seconds{name="apicredentials"} 2.5',
    ]);
    const buckets = await samples(metrics, 'workqueue_queue_duration_seconds_bucket');
    expect(buckets[0]).toBe('workqueue_queue_duration_seconds_bucket{le="1e-8",name="apicredentials"} 0');
    expect(buckets).toContain('workqueue_queue_duration_seconds_bucket{le="0.01",name="apicredentials"} 1');
    expect(await samples(metrics, 'workqueue_work_duration_seconds_sum')).toEqual([
      'workqueue_work_duration_seconds_sum{name="apicredentials"} 1.5',
    ]);
  });

  it('records renewals, failures, provider requests, informer restarts and leadership', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.renewals.inc({ provider: 'oauth2', result: 'success' });
    metrics.renewalDuration.observe({ provider: 'oauth2', result: 'success' }, 0.3);
    metrics.renewalDuration.observe({ provider: 'idempiere', result: 'failure' }, 1.2);
    metrics.renewals.inc({ provider: 'idempiere', result: 'failure' });
    metrics.renewalFailures.inc({ provider: 'idempiere', reason: 'RefreshTokenReused' });
    metrics.providerRequest('oauth2', 'post', 200);
    metrics.providerRequest('oauth2', 'POST', 503);
    metrics.providerRequest('insightsHub', 'GET', 'error');
    metrics.informerRestarts.inc({ resource: 'secrets' });
    metrics.informerRelists.inc({ resource: 'apicredentials', reason: 'expired' });
    metrics.setLeader(true);
    expect(await samples(metrics, 'apicred_renewals_total')).toEqual([
      'apicred_renewals_total{provider="oauth2",result="success"} 1',
      'apicred_renewals_total{provider="idempiere",result="failure"} 1',
    ]);
    expect(await samples(metrics, 'apicred_renewal_failures_total')).toEqual([
      'apicred_renewal_failures_total{provider="idempiere",reason="RefreshTokenReused"} 1',
    ]);
    expect(await samples(metrics, 'apicred_renewal_duration_seconds_count')).toEqual([
      'apicred_renewal_duration_seconds_count{provider="oauth2",result="success"} 1',
      'apicred_renewal_duration_seconds_count{provider="idempiere",result="failure"} 1',
    ]);
    expect(await samples(metrics, 'apicred_provider_requests_total')).toEqual([
      'apicred_provider_requests_total{provider="oauth2",method="POST",status_class="2xx"} 1',
      'apicred_provider_requests_total{provider="oauth2",method="POST",status_class="5xx"} 1',
      'apicred_provider_requests_total{provider="insightsHub",method="GET",status_class="error"} 1',
    ]);
    expect(await samples(metrics, 'apicred_informer_restarts_total')).toEqual([
      'apicred_informer_restarts_total{resource="secrets"} 1',
    ]);
    expect(await samples(metrics, 'apicred_informer_relists_total')).toEqual([
      'apicred_informer_relists_total{resource="apicredentials",reason="expired"} 1',
    ]);
    expect(await samples(metrics, 'apicred_leader')).toEqual(['apicred_leader 1']);
    metrics.setLeader(false);
    expect(await samples(metrics, 'apicred_leader')).toEqual(['apicred_leader 0']);
  });

  it('keeps per-credential series until the credential is forgotten', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const orders = { namespace: 'team-a', name: 'orders', provider: 'oauth2' } as const;
    const billing = { namespace: 'team-a', name: 'billing', provider: 'tapdata' } as const;
    metrics.tokenExpiry.set(orders, 1_800_000_000);
    metrics.credentialReady.set(orders, 1);
    metrics.consecutiveFailures.set(orders, 0);
    // The provider of "orders" changed once: the series under the old label must go as well.
    metrics.credentialReady.set({ ...orders, provider: 'idmp' }, 0);
    metrics.credentialReady.set(billing, 1);
    expect(await samples(metrics, 'apicred_token_expiry_timestamp_seconds')).toEqual([
      'apicred_token_expiry_timestamp_seconds{namespace="team-a",name="orders",provider="oauth2"} 1800000000',
    ]);
    metrics.forgetCredential('team-a', 'orders');
    expect(await samples(metrics, 'apicred_token_expiry_timestamp_seconds')).toEqual([]);
    expect(await samples(metrics, 'apicred_consecutive_failures')).toEqual([]);
    expect(await samples(metrics, 'apicred_credential_ready')).toEqual([
      'apicred_credential_ready{namespace="team-a",name="billing",provider="tapdata"} 1',
    ]);
    metrics.tokenExpiry.set(billing, 1);
    metrics.tokenExpiry.remove(billing);
    expect(await samples(metrics, 'apicred_token_expiry_timestamp_seconds')).toEqual([]);
  });

  it('replaces label values that are not names or reasons with "invalid"', async () => {
    const redactor = new SecretRedactor();
    redactor.add('lowercase-looking-secret');
    const metrics = createMetrics({ defaultMetrics: false, labelGuard: (v) => redactor.scrub(v) === v });
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    metrics.renewalFailures.inc({ provider: 'oauth2', reason: `got ${jwt}` });
    metrics.renewalFailures.inc({ provider: 'oauth2', reason: jwt });
    metrics.credentialReady.set({ namespace: 'Team_A', name: 'orders', provider: 'oauth2' }, 1);
    metrics.credentialReady.set({ namespace: 'team-a', name: 'Not_A_Name', provider: 'oauth2' }, 1);
    metrics.informerRestarts.inc({ resource: 'lowercase-looking-secret' });
    metrics.informerRestarts.inc({ resource: 'https://api/x?token=abc' });
    metrics.informerRestarts.inc({ resource: 'x'.repeat(300) });
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('eyJ');
    expect(text).not.toContain('Team_A');
    expect(text).not.toContain('Not_A_Name');
    expect(text).not.toContain('lowercase-looking-secret');
    expect(text).not.toContain('token=abc');
    expect(await samples(metrics, 'apicred_renewal_failures_total')).toEqual([
      'apicred_renewal_failures_total{provider="oauth2",reason="invalid"} 2',
    ]);
    expect(await samples(metrics, 'apicred_credential_ready')).toEqual([
      'apicred_credential_ready{namespace="invalid",name="orders",provider="oauth2"} 1',
      'apicred_credential_ready{namespace="team-a",name="invalid",provider="oauth2"} 1',
    ]);
    expect(await samples(metrics, 'apicred_informer_restarts_total')).toEqual([
      'apicred_informer_restarts_total{resource="invalid"} 3',
    ]);
  });

  it('labels credential series with the names from metadata, even when a secret is spelled the same', async () => {
    // A client_id equal to the credential's name was once registered as a secret: every series of
    // that credential became name="invalid", and two such credentials shared one series.
    const redactor = new SecretRedactor();
    redactor.add('orders');
    redactor.add('billing');
    redactor.add('team-a');
    const metrics = createMetrics({ defaultMetrics: false, labelGuard: (v) => redactor.scrub(v) === v });
    metrics.credentialReady.set({ namespace: 'team-a', name: 'orders', provider: 'oauth2' }, 1);
    metrics.credentialReady.set({ namespace: 'team-a', name: 'billing', provider: 'oauth2' }, 0);
    metrics.consecutiveFailures.set({ namespace: 'team-a', name: 'billing', provider: 'oauth2' }, 3);
    metrics.tokenExpiry.set({ namespace: 'team-a', name: 'orders', provider: 'oauth2' }, 1_800_000_000);
    expect(await samples(metrics, 'apicred_credential_ready')).toEqual([
      'apicred_credential_ready{namespace="team-a",name="orders",provider="oauth2"} 1',
      'apicred_credential_ready{namespace="team-a",name="billing",provider="oauth2"} 0',
    ]);
    expect(await samples(metrics, 'apicred_consecutive_failures')).toEqual([
      'apicred_consecutive_failures{namespace="team-a",name="billing",provider="oauth2"} 3',
    ]);
    expect(await samples(metrics, 'apicred_token_expiry_timestamp_seconds')).toEqual([
      'apicred_token_expiry_timestamp_seconds{namespace="team-a",name="orders",provider="oauth2"} 1800000000',
    ]);
    metrics.forgetCredential('team-a', 'orders');
    expect(await samples(metrics, 'apicred_credential_ready')).toEqual([
      'apicred_credential_ready{namespace="team-a",name="billing",provider="oauth2"} 0',
    ]);
  });
});

describe('label helpers', () => {
  it('map statuses to classes and methods to a closed set', () => {
    expect([100, 204, 302, 429, 599, 600, 42.5, 'error' as const].map(statusClass)).toEqual([
      '1xx',
      '2xx',
      '3xx',
      '4xx',
      '5xx',
      'error',
      'error',
      'error',
    ]);
    expect(['get', 'PATCH', 'BREW', '/token?x=y'].map(httpMethod)).toEqual([
      'GET',
      'PATCH',
      'other',
      'other',
    ]);
  });
});
