export * from '../../libs/fleet/src/testing/fleet-process';
