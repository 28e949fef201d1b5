import { redactCredentials } from '@padim-fleet/contracts';
import { CommandSpec, HelpRequested, UsageError } from './args';
import { DEMO_COMMAND, demoCommand } from './commands/demo.command';
import { DOCTOR_COMMAND, doctorCommand } from './commands/doctor.command';
import { EVAL_COMMAND, evalCommand } from './commands/eval.command';
import { EXPORT_COMMAND, exportCommand } from './commands/export.command';
import { IMPORT_COMMAND, importCommand } from './commands/import.command';
import { REMOTE_COMMAND, remoteCommand } from './commands/remote.command';
import { SCORE_COMMAND, scoreCommand } from './commands/score.command';
import { TRAIN_COMMAND, trainCommand } from './commands/train.command';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; spec: CommandSpec }> = {
  train: { run: trainCommand, spec: TRAIN_COMMAND },
  score: { run: scoreCommand, spec: SCORE_COMMAND },
  eval: { run: evalCommand, spec: EVAL_COMMAND },
  export: { run: exportCommand, spec: EXPORT_COMMAND },
  import: { run: importCommand, spec: IMPORT_COMMAND },
  demo: { run: demoCommand, spec: DEMO_COMMAND },
  doctor: { run: doctorCommand, spec: DOCTOR_COMMAND },
  remote: { run: remoteCommand, spec: REMOTE_COMMAND },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.spec.summary}`);
  return (
    `usage: padim <command> [options]   (padim <command> --help lists its options)\n\ncommands:\n${lines.join('\n')}\n\n` +
    `options:\n  -h, --help  print this help and exit\n\nexample:\n  ${TRAIN_COMMAND.example}\n`
  );
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    (name ? process.stdout : process.stderr).write(usage());
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
    if (error instanceof HelpRequested) {
      process.stdout.write(error.text);
      return 0;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(redactCredentials(`padim ${name}: ${message}\n`));
    if (error instanceof UsageError) return 2;
    return 1;
  }
}
