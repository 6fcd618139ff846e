// Reads what the benchmark needs from the operator's Prometheus endpoint: heap, and how many
// reconciles it has finished. A sampler keeps the highest heap seen.

export interface OperatorMetrics {
  heapUsedBytes?: number;
  reconciles: number;
  /** apicred_events_total by result: created, folded, failed, dropped. */
  events: Record<string, number>;
  /** workqueue_depth, summed over the queues: items due and waiting for a worker. */
  queueDepth: number;
  /** Provider calls that waited for their host's bucket, and the seconds they waited, in all. */
  rateLimitWaits: number;
  rateLimitWaitSeconds: number;
}

export function parseOperatorMetrics(text: string): OperatorMetrics {
  let heapUsedBytes: number | undefined;
  let reconciles = 0;
  const events: Record<string, number> = {};
  let queueDepth = 0;
  let rateLimitWaits = 0;
  let rateLimitWaitSeconds = 0;
  const value = (line: string): number => Number(line.slice(line.lastIndexOf(' ') + 1));
  for (const line of text.split('\n')) {
    if (line.startsWith('workqueue_depth{')) queueDepth += value(line);
    else if (line.startsWith('apicred_provider_rate_limit_waits_total{')) rateLimitWaits += value(line);
    else if (line.startsWith('apicred_provider_rate_limit_wait_seconds_total{'))
      rateLimitWaitSeconds += value(line);
    const event = /^apicred_events_total\{result="(\w+)"\} (\d+)/.exec(line);
    if (event?.[1] && event[2]) events[event[1]] = Number(event[2]);
    if (line.startsWith('nodejs_heap_size_used_bytes ')) heapUsedBytes = Number(line.split(' ')[1]);
    else if (line.startsWith('controller_runtime_reconcile_total{') && line.includes('"apicredential"'))
      reconciles += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return {
    reconciles,
    events,
    queueDepth,
    rateLimitWaits,
    rateLimitWaitSeconds,
    ...(heapUsedBytes === undefined ? {} : { heapUsedBytes }),
  };
}

export async function readOperatorMetrics(url: string): Promise<OperatorMetrics | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return response.ok ? parseOperatorMetrics(await response.text()) : undefined;
  } catch {
    return undefined;
  }
}

/** Polls the operator's metrics every `intervalMs` until stopped; `peak()` is the highest `pick` seen. */
function samplePeak(
  url: string,
  intervalMs: number,
  pick: (metrics: OperatorMetrics) => number,
): { peak(): number; stop(): void } {
  let peak = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void readOperatorMetrics(url)
      .then((metrics) => {
        if (metrics) peak = Math.max(peak, pick(metrics));
      })
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(timer);
    },
  };
}

/** The work queue's depth, polled every `intervalMs` until stopped; `peak()` is the deepest seen. */
export function sampleQueueDepth(url: string, intervalMs: number): { peak(): number; stop(): void } {
  return samplePeak(url, intervalMs, (metrics) => metrics.queueDepth);
}

/** The heap, polled every `intervalMs` until stopped; `peak()` is the highest value seen, bytes. */
export function sampleHeap(url: string, intervalMs: number): { peak(): number; stop(): void } {
  return samplePeak(url, intervalMs, (metrics) => metrics.heapUsedBytes ?? 0);
}
