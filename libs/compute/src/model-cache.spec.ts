import { describe, expect, it } from '@jest/globals';
import { CachedModel, ModelCache } from './model-cache';

function fakeLoader(bytes: Record<string, number>) {
  const released: string[] = [];
  const loader = async (key: string): Promise<CachedModel<string>> => {
    await new Promise((r) => setTimeout(r, 5));
    if (!(key in bytes)) throw new Error(`no model ${key}`);
    return { value: `model ${key}`, bytes: bytes[key], release: async () => void released.push(key) };
  };
  return { loader, released };
}

const flush = () => new Promise((r) => setTimeout(r, 10));

describe('ModelCache', () => {
  it('loads a key once for concurrent requests and serves it from memory afterwards', async () => {
    const { loader } = fakeLoader({ 'screw/v1': 10 });
    const cache = new ModelCache(100, loader);
    const leases = await Promise.all([cache.acquire('screw/v1'), cache.acquire('screw/v1'), cache.acquire('screw/v1')]);
    expect(leases.map((l) => l.value)).toEqual(['model screw/v1', 'model screw/v1', 'model screw/v1']);
    leases.forEach((l) => l.done());
    (await cache.acquire('screw/v1')).done();
    expect(cache.loads).toBe(1);
  });

  it('tells each lookup as a hit or a miss: a miss loads, a request joining a load or served from memory is a hit', async () => {
    const { loader } = fakeLoader({ a: 40, b: 40, c: 40 });
    const lookups: boolean[] = [];
    const cache = new ModelCache(100, loader, (hit) => lookups.push(hit));
    const joined = await Promise.all([cache.acquire('a'), cache.acquire('a')]);
    joined.forEach((l) => l.done());
    (await cache.acquire('a')).done();
    (await cache.acquire('b')).done();
    (await cache.acquire('c')).done(); // evicts a
    await flush();
    (await cache.acquire('a')).done();
    expect(lookups).toEqual([false, true, true, false, false, false]);
    expect(lookups.filter((hit) => !hit).length).toBe(cache.loads);
  });

  it('evicts the least recently used idle model when the budget is exceeded', async () => {
    const { loader, released } = fakeLoader({ a: 40, b: 40, c: 40 });
    const cache = new ModelCache(100, loader);
    (await cache.acquire('a')).done();
    (await cache.acquire('b')).done();
    (await cache.acquire('a')).done(); // a is now more recent than b
    (await cache.acquire('c')).done();
    await flush();
    expect(released).toEqual(['b']);
    expect(cache.keys().sort()).toEqual(['a', 'c']);
    expect(cache.loadedBytes).toBe(80);
  });

  it('never evicts a model in use, even over budget', async () => {
    const { loader, released } = fakeLoader({ a: 80, b: 80 });
    const cache = new ModelCache(100, loader);
    const a = await cache.acquire('a');
    const b = await cache.acquire('b');
    await flush();
    expect(released).toEqual([]);
    a.done();
    await flush();
    expect(released).toEqual(['a']);
    b.done();
    expect(cache.keys()).toEqual(['b']);
  });

  it('forgets a failed load so that the next request tries again', async () => {
    const bytes: Record<string, number> = {};
    const { loader } = fakeLoader(bytes);
    const cache = new ModelCache(100, loader);
    await expect(cache.acquire('x')).rejects.toThrow('no model x');
    bytes.x = 1;
    const lease = await cache.acquire('x');
    expect(lease.value).toBe('model x');
    expect(cache.loads).toBe(2);
  });
});
