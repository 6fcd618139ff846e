import { describe, expect, it } from 'vitest';
import { withoutManagedFields } from './cache-transform.ts';

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
