export * from '../../apps/cli/src/fleet/fleet-process';
