import { ConsoleLogger, LogLevel } from '@nestjs/common';
import { FleetConfig, configSecrets, redactCredentials } from '@padim-fleet/contracts';

/** Nest's console logger with credentials (URL passwords, the configured secrets) taken out of every line and stack. */
export class RedactingLogger extends ConsoleLogger {
  private readonly secrets: string[];

  constructor(config: Partial<FleetConfig>, logLevels: LogLevel[]) {
    super({ logLevels });
    this.secrets = configSecrets(config);
  }

  protected override formatMessage(
    logLevel: LogLevel,
    message: unknown,
    pidMessage: string,
    formattedLogLevel: string,
    contextMessage: string,
    timestampDiff: string,
  ): string {
    return redactCredentials(super.formatMessage(logLevel, message, pidMessage, formattedLogLevel, contextMessage, timestampDiff), this.secrets);
  }

  protected override printStackTrace(stack: string | undefined): void {
    // Nest calls this with no stack for errors logged without one.
    if (stack) super.printStackTrace(redactCredentials(stack, this.secrets));
  }
}
