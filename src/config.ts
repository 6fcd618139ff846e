// Operator configuration from flags and environment, validated at start with messages that name the
// flag, the variable and what is wrong.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseCidr } from './http/cidr.ts';
import { rateLimitKeyOf } from './http/url.ts';
import { parseDuration } from './policy/duration.ts';

const durationText = z.string().refine((value) => {
  try {
    parseDuration(value);
    return true;
  } catch {
    return false;
  }
}, 'must be a duration such as 90s, 5m or 1h');

const address = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:]+\]|[0-9.]*|[a-zA-Z0-9.-]*):\d{1,5}$/,
    'must be host:port, for example :8080 or 127.0.0.1:8080',
  );

/** "a, b,,c" → ["a", "b", "c"]; unset → []. */
const commaList = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );

/** One --provider-host-limits entry: "URL=qps" or "URL=qps:burst". */
const HOST_LIMIT = /^(?<url>https?:\/\/.+)=(?<qps>[0-9.]+)(?::(?<burst>[0-9]+))?$/;
const MAX_QPS = 10_000;
const MAX_BURST = 100_000;

export interface HostLimit {
  /** rateLimitKeyOf(url): scheme://host[:port]. */
  host: string;
  ratePerSecond: number;
  /** Unset: --provider-burst. */
  burst?: number;
}

/** "https://slow.example.com=2:5, http://idmp:6042=50" → host limits, each host at most once. */
const hostLimits = commaList.transform((items, context): HostLimit[] => {
  const limits: HostLimit[] = [];
  for (const item of items) {
    const match = HOST_LIMIT.exec(item);
    const url = match?.groups?.url ?? '';
    const host = rateLimitKeyOf(url);
    const ratePerSecond = Number(match?.groups?.qps);
    const burst = match?.groups?.burst === undefined ? undefined : Number(match.groups.burst);
    const problem = !match
      ? 'is not URL=qps or URL=qps:burst'
      : host === 'invalid-url'
        ? 'has a URL that does not parse'
        : !(ratePerSecond > 0 && ratePerSecond <= MAX_QPS)
          ? `has a qps that is not above 0 and at most ${String(MAX_QPS)}`
          : burst !== undefined && !(Number.isInteger(burst) && burst >= 1 && burst <= MAX_BURST)
            ? `has a burst that is not an integer from 1 to ${String(MAX_BURST)}`
            : limits.some((limit) => limit.host === host)
              ? `names ${host} a second time`
              : undefined;
    if (problem) {
      context.addIssue({
        code: 'custom',
        message: `entry ${JSON.stringify(item)} ${problem}; expected entries such as https://slow.example.com=2:5 (qps 2, burst 5), comma-separated`,
      });
      return z.NEVER;
    }
    limits.push({ host, ratePerSecond, ...(burst !== undefined && { burst }) });
  }
  return limits;
});

const configSchema = z.object({
  kubeconfig: z.string().optional(),
  namespaces: commaList.pipe(
    z.array(
      z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be Kubernetes namespace names, comma-separated'),
    ),
  ),
  labelSelector: z.string().optional(),
  concurrency: z.coerce.number().int().min(1).max(256).default(4),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  metricsAddress: address.default(':8080'),
  healthAddress: address.default(':8081'),
  /** The default per-host limit: each provider host has a bucket of its own. */
  providerQps: z.coerce.number().positive().max(MAX_QPS).default(20),
  providerBurst: z.coerce.number().int().min(1).max(MAX_BURST).default(50),
  /** Hosts whose limit is not the default. */
  providerHostLimits: hostLimits,
  propagationMargin: durationText.default('2m'),
  providerTimeout: durationText.default('30s'),
  allowedCidrs: commaList.pipe(
    z.array(
      z.string().refine((cidr) => {
        try {
          parseCidr(cidr);
          return true;
        } catch {
          return false;
        }
      }, 'must be CIDR ranges or addresses, comma-separated, such as 10.0.0.0/8,fd00::/8'),
    ),
  ),
  leaderElect: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  leaseNamespace: z.string().optional(),
  leaseName: z.string().default('apicred-operator'),
  /** Least time between two rollout restarts of one workload; changes within it wait, never drop. */
  rolloutRestartMinInterval: z
    .string()
    .refine((value) => {
      try {
        return parseDuration(value) <= 24 * 3_600_000;
      } catch {
        return false;
      }
    }, 'must be a duration from 0s to 24h, such as 30s, 1m or 10m')
    .default('1m'),
});

export type OperatorConfig = z.output<typeof configSchema>;

/** flag name → environment variable. */
const OPTIONS = {
  kubeconfig: 'KUBECONFIG',
  namespaces: 'WATCH_NAMESPACES',
  'label-selector': 'LABEL_SELECTOR',
  concurrency: 'CONCURRENCY',
  'log-level': 'LOG_LEVEL',
  'metrics-address': 'METRICS_ADDRESS',
  'health-address': 'HEALTH_ADDRESS',
  'provider-qps': 'PROVIDER_QPS',
  'provider-burst': 'PROVIDER_BURST',
  'provider-host-limits': 'PROVIDER_HOST_LIMITS',
  'propagation-margin': 'PROPAGATION_MARGIN',
  'provider-timeout': 'PROVIDER_TIMEOUT',
  'allowed-cidrs': 'ALLOWED_CIDRS',
  'leader-elect': 'LEADER_ELECT',
  'lease-namespace': 'LEASE_NAMESPACE',
  'lease-name': 'LEASE_NAME',
  'rollout-restart-min-interval': 'ROLLOUT_RESTART_MIN_INTERVAL',
} as const;

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

export class ConfigError extends Error {}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.keys(OPTIONS).map((flag) => [flag, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new ConfigError(
      `${error instanceof Error ? error.message : String(error)}. Known flags: ${Object.keys(OPTIONS)
        .map((f) => `--${f}`)
        .join(', ')}.`,
    );
  }
  const raw: Record<string, string | undefined> = {};
  for (const [flag, variable] of Object.entries(OPTIONS)) {
    const fromFlag = values[flag];
    raw[camel(flag)] =
      typeof fromFlag === 'string'
        ? fromFlag
        : (env[`APICRED_${variable}`] ?? (variable === 'KUBECONFIG' ? env.KUBECONFIG : undefined));
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const flag = Object.keys(OPTIONS).find((f) => camel(f) === key) ?? key;
      const variable = OPTIONS[flag as keyof typeof OPTIONS];
      return `--${flag} (or APICRED_${variable}): ${issue.message} (got ${JSON.stringify(raw[key])})`;
    });
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}
