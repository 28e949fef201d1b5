export * from '../../libs/fleet/src/testing/model-compare';
