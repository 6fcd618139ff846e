// Reads what the benchmark needs from the operator's Prometheus endpoint: heap, and how many
// reconciles it has finished. A sampler keeps the highest heap seen.

export interface OperatorMetrics {
  heapUsedBytes?: number;
  reconciles: number;
  /** apicred_events_total by result: created, folded, failed, dropped. */
  events: Record<string, number>;
}

export function parseOperatorMetrics(text: string): OperatorMetrics {
  let heapUsedBytes: number | undefined;
  let reconciles = 0;
  const events: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const event = /^apicred_events_total\{result="(\w+)"\} (\d+)/.exec(line);
    if (event?.[1] && event[2]) events[event[1]] = Number(event[2]);
    if (line.startsWith('nodejs_heap_size_used_bytes ')) heapUsedBytes = Number(line.split(' ')[1]);
    else if (line.startsWith('controller_runtime_reconcile_total{') && line.includes('"apicredential"'))
      reconciles += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { reconciles, events, ...(heapUsedBytes === undefined ? {} : { heapUsedBytes }) };
}

export async function readOperatorMetrics(url: string): Promise<OperatorMetrics | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return response.ok ? parseOperatorMetrics(await response.text()) : undefined;
  } catch {
    return undefined;
  }
}

/** Polls the heap every `intervalMs` until stopped; `peak()` is the highest value seen, bytes. */
export function sampleHeap(url: string, intervalMs: number): { peak(): number; stop(): void } {
  let peak = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void readOperatorMetrics(url)
      .then((metrics) => {
        peak = Math.max(peak, metrics?.heapUsedBytes ?? 0);
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
