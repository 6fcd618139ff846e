import { describe, expect, it } from 'vitest';
import { requestsPerCredential } from '../bench/requests-by-kind.ts';

describe('requestsPerCredential', () => {
  it('divides each verb and resource by the credentials, largest first, ties by name', () => {
    expect(
      requestsPerCredential(
        { 'patch apicredentials': 500, 'get secrets': 1000, 'patch secrets': 1000, 'create events': 1000 },
        1000,
      ),
    ).toBe('create events 1.00, get secrets 1.00, patch secrets 1.00, patch apicredentials 0.50');
  });

  it('leaves out kinds below the minimum (a few lists and watches)', () => {
    expect(requestsPerCredential({ 'watch secrets': 3, 'patch secrets': 1000 }, 1000)).toBe(
      'patch secrets 1.00',
    );
  });

  it('says "-" when there is nothing to divide', () => {
    expect(requestsPerCredential({}, 1000)).toBe('-');
    expect(requestsPerCredential({ 'get secrets': 1 }, 0)).toBe('-');
  });
});
