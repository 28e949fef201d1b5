import { BadRequestException, PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { describeIssues } from '@padim-fleet/contracts';

/** Parses a request part with its contract schema; a 400 lists every bad field by its path. */
export class ZodValidationPipe<S extends z.ZodType> implements PipeTransform<unknown, z.infer<S>> {
  constructor(
    private readonly schema: S,
    private readonly root: string,
  ) {}

  transform(value: unknown): z.infer<S> {
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    const issues = describeIssues(result.error, this.root);
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
      issues,
    });
  }
}
