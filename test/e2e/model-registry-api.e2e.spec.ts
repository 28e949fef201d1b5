/**
 * The registry's routes on two API processes of one fleet (radosgw store, shared Redis): a promote sent
 * to one and a delete of the same version sent to the other at the same moment never leave current.json
 * naming a deleted version, round after round.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { ModelRegistry } from '@padim-fleet/storage';
import { FleetApiClient } from '../support/fleet-api';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, freePort } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3, redisTestUrl } from '../support/services';

const API_KEY = 'e2e-registry-key-0123456789abcdef';

describeWithRedis('registry routes on two API processes', () => {
  describeWithS3('with S3', () => {
    let setup: FleetE2e;
    let registry: ModelRegistry;
    const apis: FleetProcess[] = [];
    let promoter: FleetApiClient;
    let deleter: FleetApiClient;

    beforeAll(async () => {
      setup = await setUpFleetE2e({ redisUrl: redisTestUrl(), apiKey: API_KEY, scratchPrefix: 'padim-e2e-registry-', extra: () => ({}) });
      registry = setup.registry;
      const secondPort = await freePort();
      apis.push(await FleetProcess.startApi(setup.env));
      apis.push(await FleetProcess.startApi({ ...setup.env, API_PORT: String(secondPort) }));
      promoter = new FleetApiClient(`http://127.0.0.1:${setup.port}`, API_KEY);
      deleter = new FleetApiClient(`http://127.0.0.1:${secondPort}`, API_KEY);
    }, 120_000);

    afterAll(async () => {
      await tearDownFleetE2e(setup, apis);
    }, 60_000);

    /** A version with one small artifact and its manifest, written straight to the store. */
    async function publish(version: string): Promise<void> {
      const data = Buffer.from(`tensor of ${version}`);
      const m = await registry.writeArtifact('screw', version, 'mean.f32', data);
      await registry.writeManifest('screw', version, { formatVersion: 1, version, tensors: { 'mean.f32': { bytes: m.bytes, sha256: m.sha256 } } });
    }

    it("serves a version's evaluation report files with their types, and says which version has none", async () => {
      await publish('with-report');
      const html = '<!doctype html><img src="roc.png">';
      const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
      await registry.writeArtifact('screw', 'with-report', 'report/report.html', Buffer.from(html));
      await registry.writeArtifact('screw', 'with-report', 'report/roc.png', png);
      const get = (url: string) => fetch(`http://127.0.0.1:${setup.port}${url}`, { headers: { authorization: `Bearer ${API_KEY}` } });

      const page = await get('/v1/models/screw/versions/with-report/report/report.html');
      expect([page.status, page.headers.get('content-type'), await page.text()]).toEqual([200, 'text/html; charset=utf-8', html]);
      const chart = await get('/v1/models/screw/versions/with-report/report/roc.png');
      expect([chart.status, chart.headers.get('content-type'), Buffer.from(await chart.arrayBuffer())]).toEqual([200, 'image/png', png]);

      await publish('without-report');
      const missing = await promoter.request('GET', '/v1/models/screw/versions/without-report/report/report.html');
      expect([missing.status, missing.body.message]).toEqual([
        404,
        expect.stringContaining('screw/without-report has no report.html in its evaluation report'),
      ]);
      const noVersion = await promoter.request('GET', '/v1/models/screw/versions/nope/report/report.html');
      expect([noVersion.status, noVersion.body.message]).toEqual([404, 'no version nope of category screw']);
      const badName = await promoter.request('GET', '/v1/models/screw/versions/with-report/report/manifest.json');
      expect([badName.status, badName.body.message]).toEqual([400, expect.stringMatching(/file.*must be report\.html or a PNG of the report/)]);
      expect((await promoter.request('GET', '/v1/models/screw/versions/with-report/report/roc.png', undefined, { auth: false })).status).toBe(401);
      for (const version of ['with-report', 'without-report'])
        expect((await deleter.request('DELETE', `/v1/models/screw/versions/${version}`)).status).toBe(204);
    }, 60_000);

    it('promote on one API and delete on the other, sent together 30 times: one wins each round and current always exists', async () => {
      await publish('base');
      expect((await promoter.request('POST', '/v1/models/screw/versions/base/promote')).status).toBe(200);
      for (let round = 0; round < 30; round++) {
        const version = `r${round}`;
        await publish(version);
        const [promoted, deleted] = await Promise.all([
          promoter.request('POST', `/v1/models/screw/versions/${version}/promote`),
          deleter.request('DELETE', `/v1/models/screw/versions/${version}`),
        ]);
        const current = await registry.getCurrent('screw');
        expect([round, current, await registry.hasVersion('screw', current!)]).toEqual([round, current, true]);
        if (current === version) {
          // Promoted first: the delete found it current.
          expect([round, promoted.status, deleted.status]).toEqual([round, 200, 409]);
          expect((await promoter.request('POST', '/v1/models/screw/versions/base/promote')).status).toBe(200);
          expect((await deleter.request('DELETE', `/v1/models/screw/versions/${version}`)).status).toBe(204);
        } else {
          // Deleted first: the promote found no such version.
          expect([round, promoted.status, deleted.status]).toEqual([round, 404, 204]);
        }
      }
      expect(await registry.listVersions('screw')).toEqual(['base']);
    }, 180_000);
  });
});
