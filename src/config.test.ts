import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('applies defaults', () => {
    expect(loadConfig([], {})).toMatchObject({
      namespaces: [],
      concurrency: 4,
      logLevel: 'info',
      leaderElect: true,
      propagationMargin: '2m',
      allowedCidrs: [],
      rolloutRestartMinInterval: '1m',
    });
  });

  it('reads flags before APICRED_* variables', () => {
    const config = loadConfig(['--namespaces=a, b', '--concurrency=8'], {
      APICRED_CONCURRENCY: '2',
      APICRED_LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({ namespaces: ['a', 'b'], concurrency: 8, logLevel: 'debug' });
  });

  it.each([
    [['--concurrency=0'], '--concurrency (or APICRED_CONCURRENCY)'],
    [
      ['--propagation-margin=2 minutes'],
      '--propagation-margin (or APICRED_PROPAGATION_MARGIN): must be a duration',
    ],
    [
      ['--allowed-cidrs=10.0.0.0/8,not-a-range'],
      '--allowed-cidrs (or APICRED_ALLOWED_CIDRS): must be CIDR ranges',
    ],
    [['--namespaces=Bad_Name'], '--namespaces (or APICRED_WATCH_NAMESPACES)'],
    [['--metrics-address=8080'], 'must be host:port'],
    [['--no-such-flag=1'], 'Known flags:'],
    [
      ['--rollout-restart-min-interval=1 minute'],
      '--rollout-restart-min-interval (or APICRED_ROLLOUT_RESTART_MIN_INTERVAL): must be a duration',
    ],
    [['--rollout-restart-min-interval=25h'], 'from 0s to 24h'],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => loadConfig(argv, {})).toThrow(ConfigError);
    expect(() => loadConfig(argv, {})).toThrow(message);
  });
});
