// Operator configuration from flags and environment, validated at start with messages that name the
// flag, the variable and what is wrong.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseCidr } from './http/cidr.ts';
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
  providerQps: z.coerce.number().positive().max(10_000).default(20),
  providerBurst: z.coerce.number().int().min(1).max(100_000).default(50),
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
