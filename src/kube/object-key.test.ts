import { describe, expect, it } from 'vitest';
import { keyOf, namespaceOf, objectKey, splitKey } from './object-key.ts';

describe('object keys', () => {
  it('joins namespace and name with a slash', () => {
    expect(objectKey('team-a', 'orders')).toBe('team-a/orders');
    expect(keyOf({ metadata: { namespace: 'team-a', name: 'orders' } })).toBe('team-a/orders');
  });

  it.each<[string, { namespace: string; name: string }]>([
    ['team-a/orders', { namespace: 'team-a', name: 'orders' }],
    ['team-a/', { namespace: 'team-a', name: '' }],
    ['no-slash', { namespace: 'no-slash', name: '' }],
    ['', { namespace: '', name: '' }],
  ])('splits %j', (key, parts) => {
    expect(splitKey(key)).toEqual(parts);
    expect(namespaceOf(key)).toBe(parts.namespace);
  });
});
