#!/usr/bin/env node
import { redactCredentials } from '@padim-fleet/contracts';
import { UsageError } from './args';
import { DEMO_USAGE, demoCommand } from './commands/demo.command';
import { EVAL_USAGE, evalCommand } from './commands/eval.command';
import { SCORE_USAGE, scoreCommand } from './commands/score.command';
import { TRAIN_USAGE, trainCommand } from './commands/train.command';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; usage: string }> = {
  train: { run: trainCommand, usage: TRAIN_USAGE },
  score: { run: scoreCommand, usage: SCORE_USAGE },
  eval: { run: evalCommand, usage: EVAL_USAGE },
  demo: { run: demoCommand, usage: DEMO_USAGE },
};

function usage(): string {
  return `usage:\n${Object.values(COMMANDS).map((c) => `  ${c.usage.replace(/\n/g, '\n  ')}`).join('\n\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`padim: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  try {
    await command.run(rest);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(redactCredentials(`padim ${name}: ${message}\n`));
    if (error instanceof UsageError) return 2;
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
