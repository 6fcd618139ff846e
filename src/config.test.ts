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
      providerQps: 20,
      providerBurst: 50,
      providerHostLimits: [],
    });
  });

  it('reads per-host provider limits, keyed by origin, burst optional', () => {
    const config = loadConfig(
      ['--provider-host-limits= https://Slow.Example.com:443/oauth/token=2:5, http://idmp:6042=0.5'],
      {},
    );
    expect(config.providerHostLimits).toEqual([
      { host: 'https://slow.example.com', ratePerSecond: 2, burst: 5 },
      { host: 'http://idmp:6042', ratePerSecond: 0.5 },
    ]);
    expect(
      loadConfig([], { APICRED_PROVIDER_HOST_LIMITS: 'https://a.example.com=3' }).providerHostLimits,
    ).toEqual([{ host: 'https://a.example.com', ratePerSecond: 3 }]);
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
    [
      ['--provider-host-limits=slow.example.com=2'],
      '--provider-host-limits (or APICRED_PROVIDER_HOST_LIMITS): entry "slow.example.com=2" is not URL=qps',
    ],
    [['--provider-host-limits=https://a.example.com=0'], 'has a qps that is not above 0'],
    [['--provider-host-limits=https://a.example.com=20000'], 'has a qps that is not above 0'],
    [['--provider-host-limits=https://a.example.com=2:0'], 'has a burst that is not an integer'],
    [['--provider-host-limits=https://a.example.com=2:1.5'], 'is not URL=qps'],
    [['--provider-host-limits=http://[x=2'], 'has a URL that does not parse'],
    [
      ['--provider-host-limits=https://a.example.com=2,https://A.example.com:443/x=3'],
      'names https://a.example.com a second time',
    ],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => loadConfig(argv, {})).toThrow(ConfigError);
    expect(() => loadConfig(argv, {})).toThrow(message);
  });
});
