import { describe, expect, it } from 'vitest';
import { parseOperatorMetrics } from '../bench/operator-metrics.ts';

describe('parseOperatorMetrics', () => {
  it('sums the work queue depth and the provider rate-limit waits over their labels', () => {
    const text = [
      '# HELP workqueue_depth Current depth of workqueue',
      'workqueue_depth{name="apicredential"} 412',
      'workqueue_depth{name="other"} 3',
      'apicred_provider_rate_limit_waits_total{host="default"} 90',
      'apicred_provider_rate_limit_waits_total{host="http://idmp:6042"} 10',
      'apicred_provider_rate_limit_wait_seconds_total{host="default"} 12.5',
      'controller_runtime_reconcile_total{controller="apicredential",result="success"} 7',
      'nodejs_heap_size_used_bytes 1048576',
    ].join('\n');
    expect(parseOperatorMetrics(text)).toEqual({
      reconciles: 7,
      events: {},
      queueDepth: 415,
      rateLimitWaits: 100,
      rateLimitWaitSeconds: 12.5,
      heapUsedBytes: 1_048_576,
    });
  });

  it('reads zero when the operator has not waited or queued anything yet', () => {
    const parsed = parseOperatorMetrics('nodejs_heap_size_used_bytes 5\n');
    expect([parsed.queueDepth, parsed.rateLimitWaits, parsed.rateLimitWaitSeconds]).toEqual([0, 0, 0]);
  });
});
