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
