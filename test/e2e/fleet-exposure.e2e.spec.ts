import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateSyntheticDataset, listImagesRecursive } from '@padim-fleet/inference';
import type { TrainingPlan } from '@padim-fleet/contracts';
import { createRedis } from '@padim-fleet/fleet';
import { S3BlobStore, runPlanKey } from '@padim-fleet/storage';
import { FleetApiClient } from '../support/fleet-api';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, freePort } from '../support/fleet-processes';
import { createTestBucket, describeWithRedis, describeWithS3, redisTestUrl, removeTestBucket, s3TestSettings } from '../support/services';

const API_KEY = 'e2e-exposure-Kq7vR2mX9tLw4ZcB8nYd';
const REDIS_PASSWORD = 'redis-password-Hv3Jx8Qk';

/**
 * What the API exposes and accepts: documentation behind the keys, body limits, which S3 buckets and
 * server folders a request may name, and what the processes print. Only the API plans runs, so no
 * worker is needed but the one whose log lines are checked.
 */
describeWithRedis('fleet exposure: inputs, limits, documentation and logs', () => {
  describeWithS3('with S3', () => {
    let setup: FleetE2e;
    let store: S3BlobStore;
    let otherBucket: string;
    let api: FleetProcess;
    let client: FleetApiClient;
    let data: string;
    const processes: FleetProcess[] = [];

    beforeAll(async () => {
      otherBucket = await createTestBucket();
      setup = await setUpFleetE2e({
        // Redis without a password accepts any for the default user: the URL carries one to check that no line shows it.
        redisUrl: redisTestUrl().replace('redis://', `redis://default:${REDIS_PASSWORD}@`),
        apiKey: API_KEY,
        scratchPrefix: 'padim-e2e-exposure-',
        extra: (scratch) => ({
          // As in the README: a root and datasets spelled with '..' that stay inside it.
          PADIM_DATASET_ROOTS: `${scratch}/sub/../data`,
          PADIM_S3_INPUT_BUCKETS: `${otherBucket}`,
          WORKER_ROLES: 'score',
        }),
      });
      ({ store } = setup);
      data = path.join(setup.scratch, 'data');
      await generateSyntheticDataset(path.join(data, 'weave'), { size: 64, train: 6, testGood: 1, testPerDefect: 1 });
      const other = new S3BlobStore({ ...s3TestSettings(), bucket: otherBucket });
      for (const file of await listImagesRecursive(path.join(data, 'weave', 'train', 'good')))
        await other.put(`weave/${path.basename(file)}`, await fs.readFile(file));
      for (const file of await listImagesRecursive(path.join(data, 'weave', 'train', 'good')))
        await store.put(`datasets/weave/${path.basename(file)}`, await fs.readFile(file));
      await other.close?.();
      api = await FleetProcess.startApi(setup.env);
      processes.push(api);
      client = new FleetApiClient(`http://127.0.0.1:${setup.port}`, API_KEY);
    }, 120_000);

    afterAll(async () => {
      await tearDownFleetE2e(setup, processes);
      // The runs planned here were never meant to run (no extract worker): their jobs go with the suite's queue prefix.
      const redis = createRedis(redisTestUrl(), 'padim-e2e-cleanup');
      for await (const keys of redis.scanStream({ match: `${setup.env.PADIM_QUEUE_PREFIX}:*`, count: 500 }))
        if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
      await redis.quit();
      if (otherBucket) await removeTestBucket(otherBucket);
    }, 60_000);

    const train = (body: Record<string, unknown>) => client.request('POST', '/v1/trainings', { category: 'weave', size: 64, ...body });
    const plan = async (runId: string) => JSON.parse((await store.get(runPlanKey(runId))).toString('utf8')) as TrainingPlan;

    describe('documentation', () => {
      it('serves every documentation route only with a key', async () => {
        for (const route of [
          '/docs',
          '/docs/',
          '/docs/openapi.json',
          '/docs/openapi.yaml',
          '/docs-yaml',
          '/docs-json',
          '/DOCS-yaml',
          '/docs/swagger-ui-init.js',
        ]) {
          const anonymous = await client.request('GET', route, undefined, { auth: false });
          expect([route, anonymous.status]).toEqual([route, 401]);
        }
        // Other spellings of the same routes are never served without a key either.
        for (const route of ['/%64ocs/openapi.json', '//docs/openapi.json', '/docs/openapi.json/', '/Docs/OpenAPI.json', '/docs%2Fopenapi.json']) {
          const anonymous = await client.request('GET', route, undefined, { auth: false });
          expect([route, anonymous.status === 401 || anonymous.status === 404]).toEqual([route, true]);
        }
        const json = await client.request('GET', '/docs/openapi.json');
        expect(json.status).toBe(200);
        expect(json.body.paths['/v1/trainings']).toBeDefined();
        const yaml = await client.request('GET', '/docs/openapi.yaml');
        expect(yaml.status).toBe(200);
        expect(String(yaml.body)).toMatch(/\/v1\/trainings:/);
      });
    });

    describe('bodies', () => {
      it('answers a JSON body over the limit with 413, and a malformed one with 400', async () => {
        const huge = await client.request('POST', '/v1/trainings', { category: 'weave', dataset: `/${'a'.repeat(1100 * 1024)}` });
        expect(huge.status).toBe(413);
        expect(huge.body.message).toMatch(/body: larger than 1048576 bytes/);
        // 200 KB is within the limit: the request is read and refused for what it says.
        const large = await client.request('POST', '/v1/trainings', { category: 'weave', dataset: `/${'a'.repeat(200 * 1024)}` });
        expect(large.status).toBe(400);
        const res = await fetch(`${client.baseUrl}/v1/trainings`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: '{"category":',
        });
        expect(res.status).toBe(400);
        expect(((await res.json()) as { message: string }).message).toMatch(/body: not valid JSON/);
      });
    });

    describe('S3 inputs', () => {
      it('reads a listed bucket, and refuses others and malformed bucket names with a 400', async () => {
        const ok = await train({ dataset: `s3://${otherBucket}/weave/`, holdout: 0 });
        expect([ok.status, ok.body.message]).toEqual([202, undefined]);
        expect((await plan(ok.body.runId)).source).toEqual({ kind: 's3', bucket: otherBucket, prefix: 'weave/' });
        const cases: [string, RegExp][] = [
          ['s3://', /body\.dataset: .*bucket/],
          ['s3:///weave/', /body\.dataset: .*bucket/],
          ['s3://Upper-Case/weave/', /body\.dataset: .*S3 bucket names/],
          ['s3://ab/weave/', /body\.dataset: .*S3 bucket names/],
          ['s3://192.168.1.10/weave/', /body\.dataset: .*S3 bucket names/],
          ['s3://a..b/weave/', /body\.dataset: .*S3 bucket names/],
          ['s3://not-listed-bucket/weave/', /body\.dataset: bucket not-listed-bucket is not in PADIM_S3_INPUT_BUCKETS/],
        ];
        for (const [dataset, reason] of cases) {
          const res = await train({ dataset });
          expect([dataset, res.status]).toEqual([dataset, 400]);
          expect(res.body.message).toMatch(reason);
        }
        const scoring = await client.request('POST', '/v1/scorings', { category: 'weave', input: 's3://not-listed-bucket/x.zip' });
        expect([scoring.status, scoring.body.message]).toEqual([
          400,
          expect.stringMatching(/body\.input: bucket not-listed-bucket is not in PADIM_S3_INPUT_BUCKETS/),
        ]);
      });

      it("keeps inputs out of the store's own prefixes however they are spelled, in the store's bucket too", async () => {
        const port = await freePort();
        processes.push(
          await FleetProcess.startApi({
            ...setup.env,
            API_PORT: String(port),
            PADIM_STORE: `s3://${setup.bucket}/fleet`,
            PADIM_S3_INPUT_BUCKETS: `${setup.bucket},${otherBucket}`,
          }),
        );
        const storeClient = new FleetApiClient(`http://127.0.0.1:${port}`, API_KEY);
        const b = setup.bucket;
        const spellings = [
          `s3://${b}/fleet/uploads/`,
          `s3://${b}/fleet/models/weave/`,
          `s3://${b}/fleet//runs/`,
          `s3://${b}//fleet/scorings/x/`,
          `s3://${b}/fleet/./scores/`,
          `s3://${b}/fleet/%75ploads/`,
          `s3://${b}/fleet/Uploads/`,
          `s3://${b}/fleet/`,
          `s3://${b}/fleet`,
          `s3://${b}/`,
          `s3://${b}`,
          `s3://${b.toUpperCase()}/fleet/uploads/`,
          'store:uploads/',
          'store:./models',
          'store:/runs/x/',
          'store:%6Dodels/',
          'store:scores//x/',
        ];
        for (const dataset of spellings) {
          const res = await storeClient.request('POST', '/v1/trainings', { category: 'weave', size: 64, dataset });
          expect([dataset, res.status]).toEqual([dataset, 400]);
          expect([dataset, res.body.message]).toEqual([
            dataset,
            expect.stringMatching(/body\.dataset: (must not name the fleet's own prefixes|.*S3 bucket names)/),
          ]);
          // As a scoring input: the same location as a prefix to list.
          const input = dataset.endsWith('/') ? dataset : `${dataset}/`;
          const scoring = await storeClient.request('POST', '/v1/scorings', { category: 'weave', input });
          expect([input, scoring.status]).toEqual([input, 400]);
        }
        for (const input of [`s3://${b}/fleet/uploads/x/a.zip`, `s3://${b}/fleet/models`, 'store:uploads/x/a.zip', 'store:models']) {
          const scoring = await storeClient.request('POST', '/v1/scorings', { category: 'weave', input });
          expect([input, scoring.status]).toEqual([input, 400]);
        }
        // Outside the store's prefix, in the same bucket, is allowed once the bucket is listed.
        const ok = await storeClient.request('POST', '/v1/trainings', { category: 'weave', size: 64, holdout: 0, dataset: `s3://${b}/datasets/weave/` });
        expect([ok.status, ok.body.message]).toEqual([202, undefined]);
      }, 60_000);

      it('refuses every s3:// input until PADIM_S3_INPUT_BUCKETS names buckets', async () => {
        const env = { ...setup.env, API_PORT: String(await freePort()) };
        delete (env as Record<string, string | undefined>).PADIM_S3_INPUT_BUCKETS;
        const closed = await FleetProcess.startApi(env);
        processes.push(closed);
        const closedClient = new FleetApiClient(`http://127.0.0.1:${env.API_PORT}`, API_KEY);
        const res = await closedClient.request('POST', '/v1/trainings', { category: 'weave', dataset: `s3://${otherBucket}/weave/` });
        expect([res.status, res.body.message]).toEqual([400, expect.stringMatching(/body\.dataset: s3:\/\/ inputs are disabled: .*PADIM_S3_INPUT_BUCKETS/)]);
        const scoring = await closedClient.request('POST', '/v1/scorings', { category: 'weave', input: `s3://${setup.bucket}/inputs/a.zip` });
        expect([scoring.status, scoring.body.message]).toEqual([400, expect.stringMatching(/body\.input: s3:\/\/ inputs are disabled/)]);
      }, 60_000);
    });

    describe('server folders', () => {
      it('normalises a path with ".." that stays inside a root, and plans the real path', async () => {
        const raw = `${setup.scratch}/sub/../data/weave/train/../train/good`;
        const res = await train({ dataset: raw, holdout: 0 });
        expect([res.status, res.body.message]).toEqual([202, undefined]);
        expect((await plan(res.body.runId)).source).toEqual({ kind: 'folder', root: await fs.realpath(path.join(data, 'weave', 'train', 'good')) });
      });

      it('refuses a ".." that leaves the root, and answers the same for paths that exist and paths that do not', async () => {
        const leaving = await train({ dataset: `${data}/../../etc` });
        expect([leaving.status, leaving.body.message]).toEqual([400, expect.stringMatching(/is not under an allowed dataset root/)]);
        const messages: string[] = [];
        for (const dataset of ['/etc/shadow', '/root/nonexistent', '/etc', '/no/such/folder']) {
          const res = await train({ dataset });
          expect([dataset, res.status]).toEqual([dataset, 400]);
          messages.push(String(res.body.message).replace(dataset, '<dataset>'));
        }
        expect(new Set(messages)).toEqual(new Set(['dataset: <dataset> is not under an allowed dataset root (PADIM_DATASET_ROOTS)']));
      });

      it('refuses a validation set whose test/ (or a mask folder) links out of the roots, and plans the real path of a good one', async () => {
        const outside = path.join(setup.scratch, 'outside');
        await generateSyntheticDataset(outside, { size: 64, train: 2, testGood: 1, testPerDefect: 1 });
        const linked = path.join(data, 'linked');
        await fs.mkdir(linked, { recursive: true });
        await fs.symlink(path.join(outside, 'test'), path.join(linked, 'test'));
        const dataset = path.join(data, 'weave', 'train', 'good');
        const res = await train({ dataset, validation: linked });
        expect([res.status, res.body.message]).toEqual([400, expect.stringMatching(/validation: .*test is not under an allowed dataset root/)]);

        const masks = path.join(data, 'masks-linked');
        await fs.mkdir(masks, { recursive: true });
        await fs.cp(path.join(data, 'weave', 'test'), path.join(masks, 'test'), { recursive: true });
        await fs.symlink(path.join(outside, 'ground_truth'), path.join(masks, 'ground_truth'));
        const maskRes = await train({ dataset, validation: masks });
        expect([maskRes.status, maskRes.body.message]).toEqual([
          400,
          expect.stringMatching(/validation: .*ground_truth.* is not under an allowed dataset root/),
        ]);

        const good = await train({ dataset, validation: `${data}/weave/test/..` });
        expect([good.status, good.body.message]).toEqual([202, undefined]);
        expect((await plan(good.body.runId)).request.validation).toBe(await fs.realpath(path.join(data, 'weave')));
      });
    });

    describe('logs', () => {
      it('shows no password or secret in the lines of the API and of a worker', async () => {
        const worker = await FleetProcess.startWorker('score-1', setup.env);
        processes.push(worker);
        const lines = [...api.output, ...worker.output];
        expect(worker.output.join('\n')).toMatch(/worker: roles score on redis:\/\/default:\*\*\*@127\.0\.0\.1:6379/);
        for (const secret of [REDIS_PASSWORD, setup.env.S3_SECRET_ACCESS_KEY, API_KEY]) expect(lines.filter((l) => l.includes(secret))).toEqual([]);
      });
    });
  });
});
