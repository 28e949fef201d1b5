/** Injection tokens for the plain (non-Nest) objects the API is built from. */
export const FLEET_CONFIG = Symbol('FLEET_CONFIG');
export const BLOB_STORE = Symbol('BLOB_STORE');
export const REDIS = Symbol('REDIS');
