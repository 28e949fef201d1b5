import { describe, expect, it, jest } from '@jest/globals';
import { UsageError, parseCommand } from '../args';
import { main } from '../cli';
import { REMOTE_TRAIN, resultFileFor, trainingBodyFrom } from './remote.command';

/** Runs the CLI in process, without PADIM_API_URL / PADIM_API_KEY unless given, and returns its exit code and output. */
async function padim(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const saved = { url: process.env.PADIM_API_URL, key: process.env.PADIM_API_KEY };
  delete process.env.PADIM_API_URL;
  delete process.env.PADIM_API_KEY;
  Object.assign(process.env, env);
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    for (const [name, value] of [
      ['PADIM_API_URL', saved.url],
      ['PADIM_API_KEY', saved.key],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

const train = (...args: string[]) => trainingBodyFrom(parseCommand(args, REMOTE_TRAIN).values);

describe('padim remote train arguments', () => {
  it('sends only what is given, with numbers and booleans as the API takes them', () => {
    expect(train('--category', 'screw', '--dataset', 's3://b/screw/')).toEqual({ category: 'screw', dataset: 's3://b/screw/' });
    expect(
      train(
        ...['--category', 'screw', '--dataset', '/data/screw', '--backbone', 'resnet50', '--d', '200', '--shards', '4', '--holdout', '0.2'],
        ...['--promote', 'false', '--threshold-fpr', '0.01', '--base-version', 'v1', '--size', '128', '--crop', '112', '--seed', '0'],
      ),
    ).toEqual({
      category: 'screw',
      dataset: '/data/screw',
      backbone: 'resnet50',
      d: 200,
      shards: 4,
      holdout: 0.2,
      promote: false,
      thresholdRule: { kind: 'fpr', fpr: 0.01 },
      baseVersion: 'v1',
      size: 128,
      crop: 112,
      seed: 0,
    });
  });

  it('names the bad or missing flag', () => {
    expect(() => train('--dataset', '/d')).toThrow(new UsageError('--category and --dataset are required (padim remote train --help lists the options)'));
    expect(() => train('--category', 's', '--dataset', '/d', '--shards', 'four')).toThrow('--shards must be an integer >= 1, got "four"');
    expect(() => train('--category', 's', '--dataset', '/d', '--backbone', 'vgg')).toThrow('--backbone must be one of resnet18, resnet50, got "vgg"');
    expect(() => train('--category', 's', '--dataset', '/d', '--promote', 'yes')).toThrow('--promote must be one of true, false, got "yes"');
    expect(() => train('--category', 's', '--dataset', '/d', '--colour', 'red')).toThrow(/Unknown option '--colour'/);
  });
});

describe('padim remote', () => {
  it('lists its subcommands on --help, and each has its own --help with an example', async () => {
    const help = await padim(['remote', '--help']);
    expect(help.code).toBe(0);
    for (const sub of ['train', 'runs', 'models', 'promote', 'score', 'score-batch', 'scorings', 'download'])
      expect(help.stdout).toMatch(new RegExp(`\\n  ${sub} `));
    const trainHelp = await padim(['remote', 'train', '--help']);
    expect(trainHelp.code).toBe(0);
    expect(trainHelp.stdout).toMatch(/^usage: padim remote train --category <name> --dataset <location>/);
    expect(trainHelp.stdout).toMatch(/--api-url <url> .*PADIM_API_URL/);
    expect(trainHelp.stdout).toMatch(/example:\n  padim remote train /);
    expect((await padim(['--help'])).stdout).toMatch(/\n  remote +drive a fleet/);
  });

  it('is a usage error without a subcommand or with an unknown one', async () => {
    expect(await padim(['remote'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^padim remote: a subcommand is required/) });
    expect(await padim(['remote', 'retrain'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^padim remote: unknown subcommand "retrain"/) });
  });

  it('names the missing setting before it sends anything', async () => {
    expect(await padim(['remote', 'models'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/no API URL: set PADIM_API_URL \(or --api-url\)/) });
    expect(await padim(['remote', 'models'], { PADIM_API_URL: 'http://127.0.0.1:9' })).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/no API key: set PADIM_API_KEY \(or --api-key\)/),
    });
  });

  it('checks positionals: promote needs a category and a version, --results needs --id', async () => {
    const env = { PADIM_API_URL: 'http://127.0.0.1:9', PADIM_API_KEY: 'k' };
    expect(await padim(['remote', 'promote', 'screw'], env)).toMatchObject({ code: 2, stderr: expect.stringMatching(/give a category and a version/) });
    expect(await padim(['remote', 'scorings', '--results', 'r.csv'], env)).toMatchObject({ code: 2, stderr: expect.stringMatching(/--results needs --id/) });
    expect(await padim(['remote', 'score', 'screw'], env)).toMatchObject({ code: 2, stderr: expect.stringMatching(/at least one image/) });
  });

  it('picks the result file by the extension', () => {
    expect(['a.csv', 'b.jsonl', 'summary.json'].map(resultFileFor)).toEqual(['results.csv', 'results.jsonl', 'summary.json']);
    expect(() => resultFileFor('out.txt')).toThrow(/--results must end in .csv/);
  });
});
