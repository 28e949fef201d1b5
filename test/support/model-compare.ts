export * from '../../apps/cli/src/fleet/model-compare';
