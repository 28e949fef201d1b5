/** An archive refused as unsafe, unsupported or damaged; `reason` is fit to show to the person who uploaded it. */
export class ArchiveRejectedError extends Error {
  override readonly name = 'ArchiveRejectedError';

  constructor(
    readonly archive: string,
    readonly reason: string,
  ) {
    super(`${archive}: ${reason}`);
  }
}
