import { z } from 'zod';
import { categoryName, versionName } from '../names';

/** The first entry of a model archive, `padim-model.json`: what it holds and under which name it was published. */
export const modelArchiveHeader = z.object({
  format: z.literal('padim-model'),
  formatVersion: z.literal(1),
  category: categoryName,
  version: versionName,
});
export type ModelArchiveHeader = z.infer<typeof modelArchiveHeader>;

/** POST /v1/models/:category/import: the multipart fields beside `archive`. */
export const modelImportFields = z
  .object({
    /** Make the imported version current; without it `current` does not move. */
    promote: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    /** Publish under this version instead of the archive's. */
    version: versionName.optional(),
  })
  .strict();
export type ModelImportFields = z.infer<typeof modelImportFields>;
