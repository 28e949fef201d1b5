/**
 * A model moves between two fleets (two API processes, each with its own radosgw bucket): downloaded from one
 * as a tar, uploaded to the other, checked on the way in; conflicts, corruption and promotion as the API says.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { readArchiveEntries } from '@padim-fleet/archives';
import { loadRegistryModel, publishModel } from '@padim-fleet/fleet';
import { FleetApiClient } from '../support/fleet-api';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3, redisTestUrl } from '../support/services';
import { tinyModel } from '../support/tiny-model';

const API_KEY = 'e2e-archive-key-0123456789abcdefXYZ';

/** The archive's entries, read by libs/archives (the same checks as an import). */
async function tarEntries(archive: Buffer, scratch: string): Promise<{ name: string; data: Buffer }[]> {
  const file = path.join(scratch, `download-${Date.now()}.tar`);
  await fs.writeFile(file, archive);
  const entries: { name: string; data: Buffer }[] = [];
  for await (const e of readArchiveEntries(file)) entries.push({ name: e.path, data: e.data });
  return entries;
}

async function tarOf(entries: { name: string; data: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name }, e.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describeWithRedis('model archives between two fleets', () => {
  describeWithS3('with S3', () => {
    let from: FleetE2e;
    let to: FleetE2e;
    const apis: FleetProcess[] = [];
    let source: FleetApiClient;
    let target: FleetApiClient;

    beforeAll(async () => {
      from = await setUpFleetE2e({ redisUrl: redisTestUrl(), apiKey: API_KEY, scratchPrefix: 'padim-e2e-archive-from-', extra: () => ({}) });
      to = await setUpFleetE2e({ redisUrl: redisTestUrl(), apiKey: API_KEY, scratchPrefix: 'padim-e2e-archive-to-', extra: () => ({}) });
      apis.push(await FleetProcess.startApi(from.env), await FleetProcess.startApi(to.env));
      source = new FleetApiClient(`http://127.0.0.1:${from.port}`, API_KEY);
      target = new FleetApiClient(`http://127.0.0.1:${to.port}`, API_KEY);
      await publishModel(from.registry, 'screw', 'v7', tinyModel());
    }, 120_000);

    afterAll(async () => {
      await tearDownFleetE2e(from, apis.slice(0, 1));
      await tearDownFleetE2e(to, apis.slice(1));
    }, 60_000);

    async function upload(category: string, archive: Buffer, fields: Record<string, string> = {}): Promise<{ status: number; body: any }> {
      // Fields first, as the README advises: they are checked before the archive is stored.
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      form.append('archive', new Blob([archive]), 'screw-v7.tar');
      const res = await fetch(`http://127.0.0.1:${to.port}/v1/models/${category}/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}` },
        body: form,
      });
      return { status: res.status, body: await res.json() };
    }

    async function uploadsLeft(): Promise<string[]> {
      const keys: string[] = [];
      for await (const blob of to.store.list('uploads/')) keys.push(blob.key);
      return keys;
    }

    it('downloads a version as a tar and imports it into the other fleet, verified, without moving current unless asked', async () => {
      const res = await fetch(`http://127.0.0.1:${from.port}/v1/models/screw/versions/v7/archive`, { headers: { authorization: `Bearer ${API_KEY}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-tar');
      expect(res.headers.get('content-disposition')).toBe('attachment; filename="screw-v7.tar"');
      const archive = Buffer.from(await res.arrayBuffer());
      expect((await tarEntries(archive, to.scratch)).map((e) => e.name)).toEqual(['padim-model.json', 'manifest.json', 'mean.f32', 'inv_cholesky.f32']);

      expect(await upload('screw', archive)).toEqual({ status: 201, body: { category: 'screw', version: 'v7', current: null } });
      expect((await loadRegistryModel(to.registry, 'screw', 'v7')).tensors).toEqual((await loadRegistryModel(from.registry, 'screw', 'v7')).tensors);
      expect((await target.request('GET', '/v1/models/screw')).body).toMatchObject({ current: null, versions: [{ version: 'v7' }] });

      const again = await upload('screw', archive);
      expect(again.status).toBe(409);
      expect(again.body.message).toMatch(/screw\/v7: already exists/);

      expect(await upload('screw', archive, { version: 'v8', promote: 'true' })).toEqual({
        status: 201,
        body: { category: 'screw', version: 'v8', current: 'v8' },
      });
      expect(await uploadsLeft()).toEqual([]);
    }, 60_000);

    it('refuses a corrupted tensor with a 400 naming it, and publishes nothing', async () => {
      const res = await fetch(`http://127.0.0.1:${from.port}/v1/models/screw/versions/v7/archive`, { headers: { authorization: `Bearer ${API_KEY}` } });
      const entries = await tarEntries(Buffer.from(await res.arrayBuffer()), to.scratch);
      entries[3].data[5] ^= 1;
      const refused = await upload('bolt', await tarOf(entries));
      expect(refused.status).toBe(400);
      expect(refused.body.message).toMatch(/archive screw-v7\.tar: inv_cholesky\.f32: SHA-256 .* does not match the manifest's/);
      expect(await to.registry.listVersions('bolt')).toEqual([]);
      expect(await uploadsLeft()).toEqual([]);
    }, 60_000);

    it('answers 404 for a missing version, 400 without an archive or with a bad field', async () => {
      expect((await source.request('GET', '/v1/models/screw/versions/nope/archive')).status).toBe(404);
      const noFile = await fetch(`http://127.0.0.1:${to.port}/v1/models/screw/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}` },
        body: new FormData(),
      });
      expect(noFile.status).toBe(400);
      expect(((await noFile.json()) as { message: string }).message).toMatch(/archive: upload an archive/);
      const badField = await upload('screw', Buffer.from('x'), { promote: 'yes' });
      expect(badField.status).toBe(400);
      expect(JSON.stringify(badField.body)).toMatch(/promote/);
      expect(await uploadsLeft()).toEqual([]);
    }, 60_000);
  });
});
