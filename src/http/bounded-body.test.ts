import { describe, expect, it } from 'vitest';
import { BoundedBody } from './bounded-body.ts';

describe('BoundedBody', () => {
  it('keeps chunks up to the limit and decodes UTF-8 across chunk boundaries', () => {
    const body = new BoundedBody(16);
    const euro = Buffer.from('€'); // three bytes, split over two chunks
    expect(body.push(Buffer.concat([Buffer.from('price '), euro.subarray(0, 1)]))).toBe(true);
    expect(body.push(Buffer.concat([euro.subarray(1), Buffer.from('5')]))).toBe(true);
    expect(body.text()).toBe('price €5');
    expect(body.kept).toBe(10);
  });

  it('accepts exactly the limit', () => {
    const body = new BoundedBody(4);
    expect(body.push(Buffer.from('abcd'))).toBe(true);
    expect(body.text()).toBe('abcd');
  });

  it('refuses the chunk that would pass the limit and keeps nothing of it', () => {
    const body = new BoundedBody(1024);
    const chunk = Buffer.alloc(400, 0x61);
    expect(body.push(chunk)).toBe(true);
    expect(body.push(chunk)).toBe(true);
    expect(body.push(chunk)).toBe(false);
    expect(body.kept).toBe(800);
    expect(body.received).toBe(1200);
    expect(body.text()).toHaveLength(800);
  });
});
