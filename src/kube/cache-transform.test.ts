import { describe, expect, it } from 'vitest';
import { forCache, LAST_APPLIED, withoutManagedFields } from './cache-transform.ts';

describe('withoutManagedFields', () => {
  it('drops managedFields and keeps everything else', () => {
    const object = {
      metadata: { name: 'a', uid: 'u', managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }] },
      spec: { x: 1 },
      status: { y: 2 },
    };
    const cached = withoutManagedFields(object);
    expect(cached).toEqual({ metadata: { name: 'a', uid: 'u' }, spec: { x: 1 }, status: { y: 2 } });
    expect(object.metadata.managedFields).toHaveLength(1); // the input is not modified
  });

  it('returns an object without managedFields as it is', () => {
    const object = { metadata: { name: 'a' } };
    expect(withoutManagedFields(object)).toBe(object);
  });
});

describe('forCache', () => {
  it("drops managedFields and kubectl's last-applied copy and keeps the other annotations", () => {
    const object = {
      metadata: {
        name: 'a',
        managedFields: [{ manager: 'kubectl' }],
        annotations: { [LAST_APPLIED]: '{"spec":{"x":1}}', 'apicred.dev/refresh-requested-at': 'now' },
      },
      spec: { x: 1 },
    };
    expect(forCache(object)).toEqual({
      metadata: { name: 'a', annotations: { 'apicred.dev/refresh-requested-at': 'now' } },
      spec: { x: 1 },
    });
    expect(object.metadata.annotations[LAST_APPLIED]).toBeDefined(); // the input is not modified
  });

  it('returns an object with nothing to drop as it is', () => {
    const object = { metadata: { name: 'a', annotations: { b: 'c' } } };
    expect(forCache(object)).toBe(object);
  });
});
