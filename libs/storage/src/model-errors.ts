/** Errors of the model registry: each names the category, version and (where it applies) the artifact. */

export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
  constructor(
    readonly category: string,
    readonly version: string | undefined,
    readonly artifact: string | undefined,
    location: string,
  ) {
    super(
      artifact !== undefined
        ? `model ${category}/${version ?? '?'}: artifact "${artifact}" not found in ${location}`
        : version !== undefined
          ? `model ${category}/${version} not found in ${location} (no manifest.json)`
          : `model category "${category}" has no current version in ${location}`,
    );
  }
}

export interface ArtifactFingerprint {
  bytes: number;
  sha256: string;
}

export class ModelIntegrityError extends Error {
  override readonly name = 'ModelIntegrityError';
  constructor(
    readonly category: string,
    readonly version: string,
    readonly artifact: string,
    readonly expected: ArtifactFingerprint | string,
    readonly actual: ArtifactFingerprint | string,
    location: string,
  ) {
    super(`model ${category}/${version}: artifact "${artifact}" in ${location} is corrupt: ` + `expected ${describe(expected)}, found ${describe(actual)}`);
  }
}

function describe(value: ArtifactFingerprint | string): string {
  return typeof value === 'string' ? value : `${value.bytes} bytes with SHA-256 ${value.sha256}`;
}

export class ModelConflictError extends Error {
  override readonly name = 'ModelConflictError';
  constructor(
    readonly category: string,
    readonly version: string,
    message: string,
  ) {
    super(`model ${category}/${version}: ${message}`);
  }
}

/** Another writer held the category's lock for longer than a caller waits: retry later. */
export class ModelRegistryBusyError extends Error {
  override readonly name = 'ModelRegistryBusyError';
  constructor(
    readonly category: string,
    waitedMs: number,
  ) {
    super(`model category "${category}" is being changed by another writer (waited ${waitedMs} ms); retry`);
  }
}
